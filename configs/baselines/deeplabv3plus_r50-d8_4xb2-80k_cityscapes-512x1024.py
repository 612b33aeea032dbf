# Baseline of deeplabv3plus_hs-r50-d8_4xb2-80k_cityscapes-512x1024: mmseg's own ResNet-50
# (ResNetV1c: deep stem, strided 1x1 shortcuts), mmseg's model zoo: 80.09 mIoU.
# Only the backbone differs from the HS config.
_base_ = 'mmseg::deeplabv3plus/deeplabv3plus_r50-d8_4xb2-80k_cityscapes-512x1024.py'
custom_imports = dict(imports=['hs_backbone'], allow_failed_imports=False)

norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='ResNetV1c',
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        strides=(1, 2, 1, 1),
        dilations=(1, 1, 2, 4),
        contract_dilation=True,
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://resnet50_v1c')))
