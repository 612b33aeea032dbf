# Baseline of deeplabv3plus_hs-r50-d8_demo for tools/compare.py: mmdet's Res2Net-50 26w_4s (deep
# stem and average-pool shortcuts, as mmdet always builds it), output stride 8, from scratch.
# mmdet's Res2Net has no contract_dilation: the first block of a dilated stage uses the stage's
# full dilation. Only the backbone differs.
_base_ = './deeplabv3plus_hs-r50-d8_demo.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmdet.Res2Net',
        depth=50,
        scales=4,
        base_width=26,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        strides=(1, 2, 1, 1),
        dilations=(1, 1, 2, 4),
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        style='pytorch',
        # mmdet builds Res2Net and ResNeSt without the zero-init of the residual branches that its
        # ResNet and HSResNet get (zero_init_residual is accepted and ignored): the same start
        # for all, from hs_backbone's ZeroResidualNorm (docs/compare.md)
        init_cfg=[
            dict(type='Kaiming', layer='Conv2d'),
            dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm']),
            dict(type='ZeroResidualNorm')
        ]))
