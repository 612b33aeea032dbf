# ImageNet-1k pretraining of HS-ResNet50 with MMPretrain, the start of the paper's detection and
# segmentation experiments (the paper: 81.28 % top-1 "after 300 epochs with augmentation").
#
# Recipe. The paper: 300 epochs, with augmentation (which, it does not say). Ours, from
# MMPretrain's ResNet recipes: batch 256 (8 GPUs x 32), SGD momentum 0.9, lr 0.1, weight decay
# 1e-4, 5 warm-up epochs then cosine decay, label smoothing 0.1, Mixup (alpha 0.2) and CutMix
# (alpha 1.0) on RandomResizedCrop 224 + flip. The authors' own recipe was never published.
#
# Then: python tools/convert_checkpoint.py work_dirs/hs-resnet50_8xb32-300e_in1k/epoch_300.pth \
#           checkpoints/hs-resnet50_in1k.pth   (the path the configs in configs/hs_resnet use)
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32.py',
    'mmpretrain::_base_/schedules/imagenet_bs256_coslr.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['hs_backbone'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(type='HSResNet', depth=50, base_width=16, scales=6, out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=2048,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        topk=(1, 5)),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.2), dict(type='CutMix', alpha=1.0)]))

max_epochs = 300
warmup_epochs = 5
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs, by_epoch=True,
         begin=warmup_epochs, end=max_epochs)
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=10)
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3, save_best='auto'))
# torch's random state in checkpoints: --resume continues exactly (hs_backbone/rng_state_hook.py)
custom_hooks = [dict(type='RNGStateHook')]
