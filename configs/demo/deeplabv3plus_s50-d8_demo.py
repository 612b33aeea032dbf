# Baseline of deeplabv3plus_hs-r50-d8_demo for tools/compare.py: mmdet's ResNeSt-50 (split
# attention, radix 2, deep stem of 64 channels, as in mmdet's ResNeSt-50 configs and
# tools/complexity.py), output stride 8, from scratch. mmdet's ResNeSt has no contract_dilation:
# the first block of a dilated stage uses the stage's full dilation. Only the backbone differs.
_base_ = './deeplabv3plus_hs-r50-d8_demo.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmdet.ResNeSt',
        depth=50,
        stem_channels=64,
        radix=2,
        reduction_factor=4,
        avg_down_stride=True,
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
