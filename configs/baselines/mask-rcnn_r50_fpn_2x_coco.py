# Baseline of mask-rcnn_hs-r50_fpn_2x_coco: mmdet's ResNet-50 (torchvision ImageNet weights),
# mmdet's model zoo: 39.2 bbox / 35.4 segm mAP. Only the backbone differs from the HS config.
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_2x_coco.py'
# hs_backbone also makes Runner checkpoints loadable under torch >= 2.6 (docs/reliability.md).
custom_imports = dict(imports=['hs_backbone'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')))
