"""The Hierarchical-Split block: the part of an HS bottleneck that replaces the 3x3 conv."""
import math
from typing import List, Optional

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule

STAGE_TYPES = ('normal', 'stage')


def hs_split_channels(width: int, scales: int) -> List[int]:
    """Input channels of the 3x3 convs of a hierarchical (``'normal'``) HS block.

    Conv ``i`` (``i = 2..s``) sees its own group of ``width`` channels plus the half of the
    previous conv's output that was carried over: ``c_2 = w``, ``c_i = w + floor(c_{i-1} / 2)``.
    For ``w`` a multiple of ``2 ** (s - 2)`` this is the paper's ``w * (2^i - 1) / 2^(i-1)``
    sequence (w, 1.5w, 1.75w, ...).

    Args:
        width (int): Channels per split group, ``w``.
        scales (int): Number of split groups, ``s``.

    Returns:
        list[int]: ``s - 1`` channel counts, one per 3x3 conv.
    """
    channels = [width]
    for _ in range(scales - 2):
        channels.append(width + channels[-1] // 2)
    return channels


class HSBlock(BaseModule):
    """Hierarchical-Split block of HS-ResNet (arXiv 2010.07621).

    The input of ``scales * width`` channels is split into ``scales`` groups of ``width``.

    ``'normal'`` blocks are hierarchical: group 1 goes straight to the output; group ``i``
    (``i >= 2``), concatenated with the carried half of the previous conv's output, goes through
    a 3x3 conv-norm-ReLU that keeps its channel count. The first ``ceil(c/2)`` channels of that
    output go to the output and the remaining ``floor(c/2)`` are carried to the next group; the
    last conv's output goes to the output whole. The output has exactly ``scales * width``
    channels for any ``width``.

    ``'stage'`` blocks (the first block of every stage, where the stride or the width changes)
    have no hierarchy: group 1 is average-pooled when ``stride > 1`` and passed otherwise, every
    other group gets its own 3x3 conv (``width -> width``) with the block's stride.

    Args:
        width (int): Channels per split group, ``w``.
        scales (int): Number of split groups, ``s`` (at least 2).
        stride (int): Stride of the 3x3 convs. Default: 1.
        dilation (int): Dilation (and padding) of the 3x3 convs. Default: 1.
        stage_type (str): ``'normal'`` (hierarchical) or ``'stage'``. Default: ``'normal'``.
        conv_cfg (dict, optional): Config of the conv layers. Default: None (``nn.Conv2d``).
        norm_cfg (dict): Config of the norm layers. Default: ``dict(type='BN')``.
        init_cfg (dict or list[dict], optional): Initialization config. Default: None.

    Example:
        >>> import torch
        >>> from hs_backbone.models import HSBlock
        >>> block = HSBlock(width=16, scales=6)
        >>> block.split_channels
        [16, 24, 28, 30, 31]
        >>> tuple(block(torch.rand(1, 96, 32, 32)).shape)
        (1, 96, 32, 32)
    """

    def __init__(self,
                 width: int,
                 scales: int,
                 stride: int = 1,
                 dilation: int = 1,
                 stage_type: str = 'normal',
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if not isinstance(width, int) or width < 1:
            raise ValueError(f'width must be a positive int, got {width!r}')
        if not isinstance(scales, int) or scales < 2:
            raise ValueError(f'scales must be an int >= 2, got {scales!r}')
        if stage_type not in STAGE_TYPES:
            raise ValueError(f'stage_type must be one of {STAGE_TYPES}, got {stage_type!r}')
        self.width = width
        self.scales = scales
        self.stage_type = stage_type
        self.channels = width * scales

        if stage_type == 'stage':
            self.split_channels = [width] * (scales - 1)
            self.halves = []
        else:
            self.split_channels = hs_split_channels(width, scales)
            # (to output, carried) for every conv but the last, whose output is kept whole.
            self.halves = [((c + 1) // 2, c // 2) for c in self.split_channels[:-1]]
            kept = width + sum(h[0] for h in self.halves) + self.split_channels[-1]
            assert kept == self.channels, (kept, self.channels)

        self.convs = nn.ModuleList(
            ConvModule(
                c,
                c,
                kernel_size=3,
                stride=stride,
                padding=dilation,
                dilation=dilation,
                bias=False,
                conv_cfg=conv_cfg,
                norm_cfg=_fit_norm_cfg(norm_cfg, c)) for c in self.split_channels)
        if stage_type == 'stage' and stride > 1:
            self.pool = nn.AvgPool2d(kernel_size=3, stride=stride, padding=1)
        else:
            self.pool = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        groups = torch.split(x, self.width, dim=1)
        if self.stage_type == 'stage':
            first = groups[0] if self.pool is None else self.pool(groups[0])
            outs = [first] + [conv(g) for conv, g in zip(self.convs, groups[1:], strict=True)]
            return torch.cat(outs, dim=1)

        outs = [groups[0]]
        carried = None
        last = len(self.convs) - 1
        for i, conv in enumerate(self.convs):
            group = groups[i + 1]
            y = conv(group if carried is None else torch.cat((group, carried), dim=1))
            if i == last:
                outs.append(y)
            else:
                kept, carried = torch.split(y, self.halves[i], dim=1)
                outs.append(kept)
        return torch.cat(outs, dim=1)


def _fit_norm_cfg(norm_cfg: dict, channels: int) -> dict:
    """GroupNorm groups that divide ``channels``.

    The hierarchical widths are often odd (``w=16, s=6`` gives a 31-channel conv), which no
    usual ``num_groups`` divides. Rather than refusing GN, such convs use the largest divisor of
    the requested ``num_groups`` that divides their channel count.
    """
    if norm_cfg is None or norm_cfg.get('type') != 'GN':
        return norm_cfg
    groups = norm_cfg.get('num_groups')
    if groups is None or channels % groups == 0:
        return norm_cfg
    return dict(norm_cfg, num_groups=math.gcd(groups, channels))
