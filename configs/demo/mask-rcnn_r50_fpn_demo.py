# Baseline of mask-rcnn_hs-r50_fpn_demo for tools/compare.py: mmdet's ResNet-50 (the class of
# ../baselines/mask-rcnn_r50_fpn_2x_coco.py), trained from scratch like the HS demo. Only the
# backbone differs.
_base_ = './mask-rcnn_hs-r50_fpn_demo.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        style='pytorch',
        init_cfg=None))
