# Baseline of mask-rcnn_hs-r50_fpn_gn-all_demo: mmdet's ResNet-50 with GroupNorm, as in
# ../baselines/mask-rcnn_r50-scratch_fpn_gn-all_6x_coco.py. Against its BN twin
# (mask-rcnn_r50_fpn_demo.py) it shows what GN does to a backbone whose widths all divide by 32.
# Only the backbone differs.
_base_ = './mask-rcnn_hs-r50_fpn_gn-all_demo.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        zero_init_residual=False,
        norm_cfg=dict(type='GN', num_groups=32, requires_grad=True),
        norm_eval=False,
        style='pytorch',
        init_cfg=None))
