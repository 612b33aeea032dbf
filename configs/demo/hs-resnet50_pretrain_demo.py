# The pretraining step of the chain on embedded data: the real ImageNet recipe
# (../pretrain/hs-resnet50_8xb32-300e_in1k.py) on object crops of the demo scenes
# (tools/make_demo_classification.py: 3 classes in the ImageNet folder layout), 64x64, a few epochs.
# Then tools/convert_checkpoint.py turns its checkpoint into a backbone checkpoint for the
# detection and segmentation configs. What differs from the real config: the data, the image
# size, the schedule and the number of classes.
_base_ = '../pretrain/hs-resnet50_8xb32-300e_in1k.py'

data_root = 'data/demo/imagenet'
classes = ('box', 'disc', 'triangle')
image_size = 64
max_epochs = 2

model = dict(head=dict(num_classes=len(classes), topk=(1, )))
data_preprocessor = dict(num_classes=len(classes))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=image_size, crop_ratio_range=(0.5, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(image_size, image_size)),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(_delete_=True, type='CustomDataset', data_root=data_root, data_prefix='train',
                 classes=classes, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(_delete_=True, type='CustomDataset', data_root=data_root, data_prefix='val',
                 classes=classes, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator

param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=max_epochs, by_epoch=True, begin=0, end=max_epochs)
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=1, save_best=None))
auto_scale_lr = dict(enable=False)
# a fixed seed: reruns start from the same random numbers
randomness = dict(seed=0)
