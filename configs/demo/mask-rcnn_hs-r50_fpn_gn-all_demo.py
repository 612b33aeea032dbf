# The demo Mask R-CNN with the GroupNorm of mmdet's from-scratch recipe
# (../hs_resnet/mask-rcnn_hs-r50-scratch_fpn_gn-all_6x_coco.py): GN in backbone, neck and heads,
# the box head with 4 convs, no weight decay on norms. Same data and schedule as the BN demo, so
# that tools/compare.py can measure GN against BN, in particular GN on the hierarchy's odd widths.
_base_ = './mask-rcnn_hs-r50_fpn_demo.py'

norm_cfg = dict(type='GN', num_groups=32, requires_grad=True)
model = dict(
    backbone=dict(zero_init_residual=False, norm_cfg=norm_cfg),
    neck=dict(norm_cfg=norm_cfg),
    roi_head=dict(
        bbox_head=dict(type='Shared4Conv1FCBBoxHead', conv_out_channels=256, norm_cfg=norm_cfg),
        mask_head=dict(norm_cfg=norm_cfg)))
optim_wrapper = dict(paramwise_cfg=dict(norm_decay_mult=0.))
