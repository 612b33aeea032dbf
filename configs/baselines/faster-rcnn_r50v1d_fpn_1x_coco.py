# Baseline of faster-rcnn_hs-r50_fpn_1x_coco: ResNet-50-D (deep stem, average-pool shortcuts,
# the paper's strongest ResNet), with OpenMMLab's ImageNet weights. Only the backbone differs.
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['hs_backbone'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='ResNetV1d',
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint='mmcls://resnet50_v1d')))
