# Mask R-CNN + FPN, 2x schedule, COCO: the paper reports 43.1 bbox / 38.0 segm mAP for
# HS-ResNet50, above ResNet-50-D and Res2Net-50. Everything but the backbone is mmdet's
# mask-rcnn_r50_fpn_2x_coco.
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_2x_coco.py'
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
