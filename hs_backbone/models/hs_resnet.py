"""HS-ResNet backbone for MMDetection, MMSegmentation and MMPretrain."""
import os.path as osp
import warnings
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule, build_conv_layer, build_norm_layer
from mmengine.model import BaseModule
from torch.nn.modules.batchnorm import _BatchNorm

from .hs_res_layer import HSResLayer


class HSResNet(BaseModule):
    """HS-ResNet backbone: ResNet with Hierarchical-Split bottlenecks (arXiv 2010.07621).

    Every bottleneck's 3x3 conv is replaced by an :class:`HSBlock` of ``scales`` groups of
    ``width`` channels, with ``width = base_width * 2**i`` in stage ``i``. The defaults build
    the paper's HS-ResNet50 with the ResNet-D stem and shortcuts (``deep_stem``, ``avg_down``):
    24.83 M parameters and 4.68 GMACs at 224x224.

    Arguments follow mmdet's and mmseg's ``ResNet``.

    Args:
        depth (int): Depth: 50, 101 or 152. Default: 50.
        base_width (int): Channels per split group in the first stage, ``w``; doubles every
            stage. Default: 16.
        scales (int): Number of split groups ``s`` of every HS block (at least 2). Default: 6.
        in_channels (int): Input image channels. Default: 3.
        stem_channels (int, optional): Output channels of the stem. Default: None
            (``base_channels``).
        base_channels (int): Base channels (``planes``) of the first stage; stage ``i`` has
            ``base_channels * 2**i`` and outputs four times that. Default: 64.
        num_stages (int): Number of stages, 1 to 4. Default: 4.
        strides (Sequence[int]): Stride of the first block of each stage.
            Default: ``(1, 2, 2, 2)``.
        dilations (Sequence[int]): Dilation of each stage. ``strides=(1, 2, 1, 1)`` with
            ``dilations=(1, 1, 2, 4)`` gives output stride 8 (DeepLab). Default: ``(1, 1, 1, 1)``.
        out_indices (Sequence[int]): Stages whose outputs are returned, in stage order
            whatever the order given. Default: ``(0, 1, 2, 3)``.
        deep_stem (bool): Stem of three 3x3 convs instead of one 7x7 conv. Default: True.
        avg_down (bool): Average-pool then 1x1 conv in downsampling shortcuts instead of a
            strided 1x1 conv. Default: True.
        frozen_stages (int): Stages to freeze (no gradients, norm layers in eval mode); ``0``
            freezes the stem only, ``-1`` nothing. Default: -1.
        conv_cfg (dict, optional): Config of the conv layers. Default: None.
        norm_cfg (dict): Config of the norm layers (``BN``, ``SyncBN``, ``GN``, ...).
            Default: ``dict(type='BN', requires_grad=True)``.
        norm_eval (bool): Keep norm layers in eval mode while training (frozen statistics).
            Default: False.
        with_cp (bool): Gradient checkpointing in every block. Default: False.
        contract_dilation (bool): Halve the dilation of the first block of dilated stages.
            Default: False.
        multi_grid (Sequence[int], optional): Dilation of each block of the last stage, as in
            mmseg. Default: None.
        zero_init_residual (bool): Initialize the last norm layer of every block to zero, so that
            each block starts as the identity. Default: True.
        init_cfg (dict or list[dict], optional): Initialization config, e.g.
            ``dict(type='Pretrained', checkpoint='hs-r50.pth')`` or, for a checkpoint of a whole
            detector, ``dict(type='Pretrained', checkpoint='det.pth', prefix='backbone.')``.
            Default: None (Kaiming init for convs, constant 1 for norms).
        pretrained (str, optional): Deprecated, as in mmdet/mmseg: a checkpoint path, turned
            into ``init_cfg=dict(type='Pretrained', checkpoint=pretrained)``. mmseg's segmentors
            pass their ``model.pretrained`` here, so the ResNet model-zoo links of their base
            configs (``open-mmlab://...``, ``torchvision://...``) are refused with advice
            rather than loaded into the wrong architecture. Default: None.

    Example:
        >>> import torch
        >>> from hs_backbone import HSResNet
        >>> model = HSResNet(depth=50).eval()
        >>> for out in model(torch.rand(1, 3, 224, 224)):
        ...     print(tuple(out.shape))
        (1, 256, 56, 56)
        (1, 512, 28, 28)
        (1, 1024, 14, 14)
        (1, 2048, 7, 7)
    """

    arch_settings = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}

    def __init__(self,
                 depth: int = 50,
                 base_width: int = 16,
                 scales: int = 6,
                 in_channels: int = 3,
                 stem_channels: Optional[int] = None,
                 base_channels: int = 64,
                 num_stages: int = 4,
                 strides: Sequence[int] = (1, 2, 2, 2),
                 dilations: Sequence[int] = (1, 1, 1, 1),
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 deep_stem: bool = True,
                 avg_down: bool = True,
                 frozen_stages: int = -1,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 contract_dilation: bool = False,
                 multi_grid: Optional[Sequence[int]] = None,
                 zero_init_residual: bool = True,
                 init_cfg=None,
                 pretrained: Optional[str] = None):
        if pretrained is not None:
            init_cfg = _pretrained_to_init_cfg(pretrained, init_cfg)
        if init_cfg is None:
            init_cfg = [
                dict(type='Kaiming', layer='Conv2d'),
                dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])
            ]
        super().__init__(init_cfg=init_cfg)
        stem_channels = base_channels if stem_channels is None else stem_channels
        self._check_args(depth, base_width, scales, in_channels, stem_channels, base_channels,
                         num_stages, strides, dilations, out_indices, frozen_stages, norm_cfg,
                         multi_grid)
        self.depth = depth
        self.base_width = base_width
        self.scales = scales
        self.in_channels = in_channels
        self.num_stages = num_stages
        # forward returns the stages in order; out_channels and callers index by this tuple
        self.out_indices = tuple(sorted(set(out_indices)))
        self.deep_stem = deep_stem
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        stage_blocks = self.arch_settings[depth][:num_stages]

        self._make_stem(in_channels, stem_channels, conv_cfg, norm_cfg)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

        block_init_cfg = None
        if zero_init_residual:
            block_init_cfg = dict(type='Constant', val=0, override=dict(name='norm3'))
        self.res_layers = []
        layer_in = stem_channels
        for i, num_blocks in enumerate(stage_blocks):
            planes = base_channels * 2**i
            layer = HSResLayer(
                layer_in,
                planes,
                num_blocks,
                width=base_width * 2**i,
                scales=scales,
                stride=strides[i],
                dilation=dilations[i],
                avg_down=avg_down,
                contract_dilation=contract_dilation,
                multi_grid=multi_grid if i == num_stages - 1 else None,
                with_cp=with_cp,
                conv_cfg=conv_cfg,
                norm_cfg=norm_cfg,
                block_init_cfg=block_init_cfg)
            layer_name = f'layer{i + 1}'
            self.add_module(layer_name, layer)
            self.res_layers.append(layer_name)
            layer_in = planes * 4
        self.out_channels = tuple(base_channels * 2**i * 4 for i in self.out_indices)
        self._freeze_stages()

    def _check_args(self, depth, base_width, scales, in_channels, stem_channels, base_channels,
                    num_stages, strides, dilations, out_indices, frozen_stages, norm_cfg,
                    multi_grid):
        if depth not in self.arch_settings:
            raise ValueError(
                f'depth must be one of {tuple(self.arch_settings)}, got {depth!r}')
        for name, value in (('base_width', base_width), ('in_channels', in_channels),
                            ('stem_channels', stem_channels), ('base_channels', base_channels)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f'{name} must be a positive int, got {value!r}')
        if not isinstance(scales, int) or scales < 2:
            raise ValueError(f'scales must be an int >= 2, got {scales!r}')
        if num_stages not in (1, 2, 3, 4):
            raise ValueError(f'num_stages must be 1, 2, 3 or 4, got {num_stages!r}')
        for name, value in (('strides', strides), ('dilations', dilations)):
            if len(value) != num_stages or any(v < 1 for v in value):
                raise ValueError(f'{name} must hold num_stages={num_stages} positive ints, '
                                 f'got {value!r}')
        if len(out_indices) == 0 or any(i not in range(num_stages) for i in out_indices):
            raise ValueError(f'out_indices must be a non-empty subset of '
                             f'{tuple(range(num_stages))} (num_stages={num_stages}), '
                             f'got {out_indices!r}')
        if frozen_stages not in range(-1, num_stages + 1):
            raise ValueError(f'frozen_stages must be in [-1, {num_stages}] '
                             f'(num_stages={num_stages}), got {frozen_stages!r}')
        if not isinstance(norm_cfg, dict) or 'type' not in norm_cfg:
            raise TypeError(f"norm_cfg must be a dict with a 'type' key, got {norm_cfg!r}")
        last_blocks = self.arch_settings[depth][num_stages - 1]
        if multi_grid is not None and len(multi_grid) != last_blocks:
            raise ValueError(f'multi_grid must give one dilation per block of the last stage '
                             f'({last_blocks} blocks), got {multi_grid!r}')

    def _make_stem(self, in_channels, stem_channels, conv_cfg, norm_cfg):
        if self.deep_stem:
            mid = stem_channels // 2
            self.stem = nn.Sequential(*[
                ConvModule(
                    c_in, c_out, 3, stride=stride, padding=1, bias=False, conv_cfg=conv_cfg,
                    norm_cfg=norm_cfg)
                for c_in, c_out, stride in ((in_channels, mid, 2), (mid, mid, 1),
                                            (mid, stem_channels, 1))
            ])
        else:
            self.conv1 = build_conv_layer(
                conv_cfg, in_channels, stem_channels, kernel_size=7, stride=2, padding=3,
                bias=False)
            self.norm1 = build_norm_layer(norm_cfg, stem_channels)[1]
            self.relu = nn.ReLU(inplace=True)

    def _stem_modules(self):
        return [self.stem] if self.deep_stem else [self.conv1, self.norm1]

    def _freeze_stages(self):
        if self.frozen_stages < 0:
            return
        frozen = self._stem_modules() + [
            getattr(self, name) for name in self.res_layers[:self.frozen_stages]
        ]
        for module in frozen:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def init_weights(self):
        # No public HS-ResNet weights exist, so a missing checkpoint is the usual first error:
        # say what to do instead of mmengine's bare "can not be found" deep in the Runner.
        init_cfgs = self.init_cfg if isinstance(self.init_cfg, list) else [self.init_cfg]
        for cfg in init_cfgs:
            if not cfg or cfg.get('type') != 'Pretrained':
                continue
            checkpoint = cfg.get('checkpoint')
            if (isinstance(checkpoint, str) and '://' not in checkpoint
                    and not osp.isfile(osp.expanduser(checkpoint))):
                raise FileNotFoundError(
                    f'HSResNet init_cfg checkpoint {checkpoint!r} does not exist. HS-ResNet has '
                    'no public weights: train or convert one (README, "Pretrained weights") and '
                    'set it with --cfg-options model.backbone.init_cfg.checkpoint=PATH, or train '
                    'from scratch with --cfg-options model.backbone.init_cfg=None.')
        super().init_weights()

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        # A traced graph must not hold this check (it would warn and freeze the shape in).
        if not torch.jit.is_tracing() and (x.dim() != 4 or x.shape[1] != self.in_channels):
            raise ValueError(f'HSResNet expects input of shape (N, {self.in_channels}, H, W) '
                             f'(in_channels={self.in_channels}), got {tuple(x.shape)}')
        if self.deep_stem:
            x = self.stem(x)
        else:
            x = self.relu(self.norm1(self.conv1(x)))
        x = self.maxpool(x)
        outs = []
        for i, name in enumerate(self.res_layers):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def train(self, mode: bool = True):
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self


# Model-zoo prefixes of mmengine's ResNet weights, which have no HS blocks to load into.
_RESNET_ZOO_PREFIXES = ('open-mmlab://', 'torchvision://', 'mmcls://', 'mmpretrain://')


def _pretrained_to_init_cfg(pretrained, init_cfg):
    if not isinstance(pretrained, str):
        raise TypeError(f'pretrained must be a checkpoint path (str) or None, got {pretrained!r}')
    if init_cfg is not None:
        raise ValueError('HSResNet got both init_cfg and the deprecated pretrained='
                         f'{pretrained!r}: set only init_cfg')
    if pretrained.startswith(_RESNET_ZOO_PREFIXES):
        raise ValueError(
            f'HSResNet got pretrained={pretrained!r}, a ResNet model-zoo checkpoint that does '
            'not fit HS-ResNet (often inherited from a ResNet base config as model.pretrained). '
            'Set model.pretrained=None and give an HS-ResNet checkpoint with '
            "model.backbone.init_cfg=dict(type='Pretrained', checkpoint=PATH), or none to "
            'train from scratch.')
    warnings.warn('HSResNet: pretrained is deprecated, use '
                  "init_cfg=dict(type='Pretrained', checkpoint=...)", DeprecationWarning,
                  stacklevel=3)
    return dict(type='Pretrained', checkpoint=pretrained)
