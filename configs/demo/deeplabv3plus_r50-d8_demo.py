# Baseline of deeplabv3plus_hs-r50-d8_demo for tools/compare.py: mmdet's ResNet-50 (the class of
# the detection baselines and of tools/complexity.py), output stride 8, from scratch. mmdet's
# ResNet has no contract_dilation: the first block of a dilated stage uses the stage's full
# dilation. Only the backbone differs.
_base_ = './deeplabv3plus_hs-r50-d8_demo.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmdet.ResNet',
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        strides=(1, 2, 1, 1),
        dilations=(1, 1, 2, 4),
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        style='pytorch',
        init_cfg=None))
