# Baseline of mask-rcnn_hs-r50_fpn_2x_coco: Res2Net-50 (26w x 4s, deep stem and average-pool
# shortcuts as mmdet's Res2Net always builds it). Only the backbone differs from the HS config.
# OpenMMLab hosts ImageNet weights for Res2Net-101 26w_4s and Res2Net-50 26w_8s, not for the
# 26w_4s Res2Net-50 the paper compares with: train one with mmpretrain or convert the authors'
# weights, put it at this path or pass --cfg-options model.backbone.init_cfg.checkpoint=PATH.
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_2x_coco.py'
custom_imports = dict(imports=['hs_backbone'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='Res2Net',
        depth=50,
        scales=4,
        base_width=26,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/res2net50_26w_4s_in1k.pth')))
