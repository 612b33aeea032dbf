# DeepLabv3+ (output stride 8), 80k iterations at batch 4x2, Cityscapes 512x1024: the paper
# reports 79.8 mIoU for HS-ResNet50, 1.8 above ResNet-50-D. Everything but the backbone is
# mmseg's deeplabv3plus_r50-d8_4xb2-80k_cityscapes-512x1024.
_base_ = 'mmseg::deeplabv3plus/deeplabv3plus_r50-d8_4xb2-80k_cityscapes-512x1024.py'
custom_imports = dict(imports=['hs_backbone'], allow_failed_imports=False)

norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    # the base's open-mmlab://resnet50_v1c URL is for ResNetV1c, not this backbone
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='HSResNet',
        depth=50,
        base_width=16,
        scales=6,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        strides=(1, 2, 1, 1),
        dilations=(1, 1, 2, 4),
        contract_dilation=True,
        norm_cfg=norm_cfg,
        norm_eval=False,
        # HS-ResNet has no public weights: pretrain on ImageNet and convert (README,
        # "Pretrained weights"), or override this path with --cfg-options.
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/hs-resnet50_in1k.pth')))
