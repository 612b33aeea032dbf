"""The HS bottleneck: 1x1 conv, Hierarchical-Split block, 1x1 conv, residual."""
from typing import Optional

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmengine.model import BaseModule

from .hs_block import HSBlock


class HSBottleneck(BaseModule):
    """Bottleneck block of HS-ResNet.

    ``1x1 conv (in_channels -> scales*width) -> HSBlock -> 1x1 conv (scales*width ->
    planes*4)``, each conv followed by a norm layer, plus the (optionally downsampled) identity
    and a final ReLU. The 3x3 convs live in :class:`HSBlock` and carry the block's stride and
    dilation.

    Args:
        in_channels (int): Input channels.
        planes (int): Base channels of the block; the output has ``planes * 4``.
        width (int): Channels per split group of the HS block, ``w``.
        scales (int): Number of split groups, ``s``.
        stride (int): Stride of the block. Default: 1.
        dilation (int): Dilation of the 3x3 convs. Default: 1.
        downsample (nn.Module, optional): Shortcut branch applied to the input when its shape
            differs from the output's. Default: None.
        stage_type (str): ``'stage'`` for the first block of a stage, ``'normal'`` (hierarchical)
            otherwise. See :class:`HSBlock`. Default: ``'normal'``.
        with_cp (bool): Use gradient checkpointing for the block: saves memory, costs a second
            forward in backward. Default: False.
        conv_cfg (dict, optional): Config of the conv layers. Default: None.
        norm_cfg (dict): Config of the norm layers. Default: ``dict(type='BN')``.
        init_cfg (dict or list[dict], optional): Initialization config. Default: None.

    Example:
        >>> import torch
        >>> from hs_backbone.models import HSBottleneck
        >>> block = HSBottleneck(256, planes=64, width=16, scales=6)
        >>> tuple(block(torch.rand(1, 256, 56, 56)).shape)
        (1, 256, 56, 56)
    """

    expansion = 4

    def __init__(self,
                 in_channels: int,
                 planes: int,
                 width: int,
                 scales: int,
                 stride: int = 1,
                 dilation: int = 1,
                 downsample: Optional[nn.Module] = None,
                 stage_type: str = 'normal',
                 with_cp: bool = False,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        hs_channels = width * scales
        out_channels = planes * self.expansion
        self.with_cp = with_cp

        self.conv1 = build_conv_layer(
            conv_cfg, in_channels, hs_channels, kernel_size=1, bias=False)
        self.norm1 = build_norm_layer(norm_cfg, hs_channels)[1]
        self.hs = HSBlock(
            width,
            scales,
            stride=stride,
            dilation=dilation,
            stage_type=stage_type,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg)
        self.conv3 = build_conv_layer(
            conv_cfg, hs_channels, out_channels, kernel_size=1, bias=False)
        self.norm3 = build_norm_layer(norm_cfg, out_channels)[1]
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:

        def residual_forward(x):
            out = self.relu(self.norm1(self.conv1(x)))
            out = self.hs(out)
            out = self.norm3(self.conv3(out))
            identity = x if self.downsample is None else self.downsample(x)
            # In place, as mmdet's Bottleneck: a fresh output buffer per block cost 3x the add
            # itself at 800x1216 (page faults on new memory), and norm3's backward does not need
            # its output. A forward hook on norm3 therefore sees the sum, not the normed tensor.
            out += identity
            return out

        if self.with_cp and x.requires_grad:
            out = cp.checkpoint(residual_forward, x, use_reentrant=False)
        else:
            out = residual_forward(x)
        return self.relu(out)
