# Baseline of faster-rcnn_hs-r50-scratch_fpn_gn-all_6x_coco: mmdet's config unchanged (ResNet-50
# from scratch, GroupNorm everywhere, 6x), mmdet's model zoo: 40.7 bbox mAP.
_base_ = 'mmdet::scratch/faster-rcnn_r50-scratch_fpn_gn-all_6x_coco.py'
# hs_backbone also makes Runner checkpoints loadable under torch >= 2.6 (docs/reliability.md).
custom_imports = dict(imports=['hs_backbone'], allow_failed_imports=False)
