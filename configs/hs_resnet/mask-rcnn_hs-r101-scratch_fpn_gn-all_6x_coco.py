_base_ = './mask-rcnn_hs-r50-scratch_fpn_gn-all_6x_coco.py'

model = dict(backbone=dict(depth=101))
