_base_ = './deeplabv3plus_hs-r50-d8_4xb2-80k_cityscapes-512x1024.py'

model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/hs-resnet101_in1k.pth')))
