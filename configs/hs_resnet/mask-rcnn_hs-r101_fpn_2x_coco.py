_base_ = './mask-rcnn_hs-r50_fpn_2x_coco.py'

model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/hs-resnet101_in1k.pth')))
