# `make demo`, semantic segmentation: the real DeepLabv3+ HS-ResNet50 config trained from scratch
# on the Cityscapes-layout scenes of tools/make_demo_data.py (256x256) on a CPU. What differs
# from ../hs_resnet/deeplabv3plus_hs-r50-d8_4xb2-80k_cityscapes-512x1024.py: the data, the
# crop size, the schedule, BN instead of SyncBN (one CPU process) and the backbone trained
# from scratch (no ImageNet weights exist).
_base_ = '../hs_resnet/deeplabv3plus_hs-r50-d8_4xb2-80k_cityscapes-512x1024.py'

data_root = 'data/demo/cityscapes/'
crop_size = (128, 128)
max_iters = 100
norm_cfg = dict(type='BN', requires_grad=True)

model = dict(
    # whole 256x256 scenes at test time; training sees 128x128 crops of them (CPU time)
    data_preprocessor=dict(size=None, size_divisor=32),
    backbone=dict(norm_cfg=norm_cfg, init_cfg=None),
    decode_head=dict(norm_cfg=norm_cfg),
    auxiliary_head=dict(norm_cfg=norm_cfg))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(256, 256), ratio_range=(0.75, 1.25), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.9),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=20),
    dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=max_iters, by_epoch=False)
]
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(by_epoch=False, interval=100, max_keep_ckpts=2))
# torch's random state in checkpoints: --resume continues exactly (hs_backbone/rng_state_hook.py)
custom_hooks = [dict(type='RNGStateHook')]
# a fixed seed: reruns start from the same random numbers
randomness = dict(seed=0)
