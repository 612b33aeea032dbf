from .hs_block import HSBlock, hs_split_channels
from .hs_bottleneck import HSBottleneck
from .hs_res_layer import HSResLayer
from .hs_resnet import HSResNet

__all__ = ['HSBlock', 'HSBottleneck', 'HSResLayer', 'HSResNet', 'hs_split_channels']
