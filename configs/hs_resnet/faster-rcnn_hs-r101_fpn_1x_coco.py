_base_ = './faster-rcnn_hs-r50_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/hs-resnet101_in1k.pth')))
