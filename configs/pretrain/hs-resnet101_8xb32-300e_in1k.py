# ImageNet-1k pretraining of HS-ResNet101: the HS-ResNet50 recipe with depth 101.
# Then: python tools/convert_checkpoint.py work_dirs/hs-resnet101_8xb32-300e_in1k/epoch_300.pth \
#           checkpoints/hs-resnet101_in1k.pth
_base_ = './hs-resnet50_8xb32-300e_in1k.py'

model = dict(backbone=dict(depth=101))
