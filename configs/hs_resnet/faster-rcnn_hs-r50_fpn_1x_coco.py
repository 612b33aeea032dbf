# Faster R-CNN + FPN, 1x schedule, COCO: the paper's 37.2 (ResNet-50) -> 41.6 (HS-ResNet50).
# Everything but the backbone is mmdet's own faster-rcnn_r50_fpn_1x_coco.
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['hs_backbone'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='HSResNet',
        depth=50,
        base_width=16,
        scales=6,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        # HS-ResNet has no public weights: pretrain on ImageNet and convert (README,
        # "Pretrained weights"), or override this path with --cfg-options.
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/hs-resnet50_in1k.pth')))
