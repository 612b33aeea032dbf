"""One stage of HS-ResNet: a 'stage'-type first block followed by hierarchical blocks."""
from typing import Optional, Sequence

import torch.nn as nn
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmengine.model import Sequential

from .hs_bottleneck import HSBottleneck


# mmengine's Sequential (a BaseModule) so that the blocks' init_cfg (zero_init_residual) runs.
class HSResLayer(Sequential):
    """A stage of :class:`HSBottleneck` blocks.

    The first block has the stage's stride, changes the channel count and is of ``'stage'`` type
    (no hierarchy); the others are hierarchical (``'normal'``).

    Args:
        in_channels (int): Input channels of the stage.
        planes (int): Base channels; every block outputs ``planes * 4``.
        num_blocks (int): Number of blocks.
        width (int): Channels per split group of the HS blocks.
        scales (int): Number of split groups.
        stride (int): Stride of the first block. Default: 1.
        dilation (int): Dilation of the 3x3 convs. Default: 1.
        avg_down (bool): Downsample the shortcut with an average pool followed by a stride-1
            1x1 conv (ResNet-D) instead of a strided 1x1 conv. Default: False.
        contract_dilation (bool): Halve the dilation of the first block when ``dilation > 1``,
            as mmseg's ResNet does. Default: False.
        multi_grid (Sequence[int], optional): Dilation of every block of the stage, overriding
            ``dilation`` and ``contract_dilation`` (mmseg's ``multi_grid``). Default: None.
        with_cp (bool): Gradient checkpointing in every block. Default: False.
        conv_cfg (dict, optional): Config of the conv layers. Default: None.
        norm_cfg (dict): Config of the norm layers. Default: ``dict(type='BN')``.
        block_init_cfg (dict, optional): ``init_cfg`` of every block. Default: None.
    """

    def __init__(self,
                 in_channels: int,
                 planes: int,
                 num_blocks: int,
                 width: int,
                 scales: int,
                 stride: int = 1,
                 dilation: int = 1,
                 avg_down: bool = False,
                 contract_dilation: bool = False,
                 multi_grid: Optional[Sequence[int]] = None,
                 with_cp: bool = False,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 block_init_cfg: Optional[dict] = None):
        out_channels = planes * HSBottleneck.expansion
        downsample = None
        if stride != 1 or in_channels != out_channels:
            downsample = self._make_downsample(in_channels, out_channels, stride, avg_down,
                                               conv_cfg, norm_cfg)
        if multi_grid is not None:
            dilations = list(multi_grid)
        else:
            first = dilation // 2 if contract_dilation and dilation > 1 else dilation
            dilations = [first] + [dilation] * (num_blocks - 1)

        blocks = []
        for i, block_dilation in enumerate(dilations):
            blocks.append(
                HSBottleneck(
                    in_channels if i == 0 else out_channels,
                    planes,
                    width,
                    scales,
                    stride=stride if i == 0 else 1,
                    dilation=block_dilation,
                    downsample=downsample if i == 0 else None,
                    stage_type='stage' if i == 0 else 'normal',
                    with_cp=with_cp,
                    conv_cfg=conv_cfg,
                    norm_cfg=norm_cfg,
                    init_cfg=block_init_cfg))
        super().__init__(*blocks)

    @staticmethod
    def _make_downsample(in_channels, out_channels, stride, avg_down, conv_cfg, norm_cfg):
        layers = []
        conv_stride = stride
        if avg_down and stride != 1:
            conv_stride = 1
            layers.append(
                nn.AvgPool2d(
                    kernel_size=stride, stride=stride, ceil_mode=True, count_include_pad=False))
        layers += [
            build_conv_layer(
                conv_cfg, in_channels, out_channels, kernel_size=1, stride=conv_stride,
                bias=False),
            build_norm_layer(norm_cfg, out_channels)[1],
        ]
        return nn.Sequential(*layers)
