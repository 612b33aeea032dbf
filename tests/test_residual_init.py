"""The ZeroResidualNorm initializer: the zero-init of residual branches that mmdet's ResNet and
HSResNet get by default, for the backbones that ignore ``zero_init_residual``."""
import pytest
import torch
from mmdet.models.backbones import Res2Net, ResNeSt, ResNet
from mmengine.config import Config

import hs_backbone  # noqa: F401  (registers ZeroResidualNorm)
from hs_backbone.models import HSResNet

from .conftest import ROOT

SCRATCH_INIT = [dict(type='Kaiming', layer='Conv2d'),
                dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])]


def zeroed_norms(backbone):
    """Names of the norm weights that are all zero after init_weights()."""
    backbone.init_weights()
    return {name for name, p in backbone.named_parameters()
            if name.endswith('.weight') and p.dim() == 1 and not p.detach().any()}


def block_norm3(backbone):
    return {f'layer{i}.{j}.{block.norm3_name}.weight'
            for i in range(1, 5) for j, block in enumerate(getattr(backbone, f'layer{i}'))}


@pytest.mark.parametrize('backbone', [
    lambda **kw: Res2Net(depth=50, scales=4, base_width=26, **kw),
    lambda **kw: ResNeSt(depth=50, stem_channels=64, radix=2, **kw)], ids=['Res2Net', 'ResNeSt'])
def test_backbones_that_ignore_zero_init_residual_get_it(backbone):
    # mmdet 3.3 accepts zero_init_residual=True (the default) and leaves the branches at one
    assert zeroed_norms(backbone(zero_init_residual=True)) == set()
    net = backbone(init_cfg=SCRATCH_INIT + [dict(type='ZeroResidualNorm')])
    assert zeroed_norms(net) == block_norm3(net)
    assert not net.layer4[2].norm3.bias.any()
    assert torch.equal(net.layer1[0].norm1.weight, torch.ones_like(net.layer1[0].norm1.weight))


def test_the_same_norms_as_resnet_and_hsresnet_zero_themselves():
    default = ResNet(depth=50)
    assert zeroed_norms(default) == block_norm3(default)
    explicit = ResNet(depth=50, zero_init_residual=False,
                      init_cfg=SCRATCH_INIT + [dict(type='ZeroResidualNorm')])
    assert zeroed_norms(explicit) == zeroed_norms(ResNet(depth=50))
    hs = zeroed_norms(HSResNet(depth=50))
    assert len(hs) == 16  # one per block
    assert hs == zeroed_norms(HSResNet(depth=50, zero_init_residual=False,
                                       init_cfg=SCRATCH_INIT + [dict(type='ZeroResidualNorm')]))


def test_no_matching_norm_is_an_error_that_names_the_fix():
    basic = ResNet(depth=18, init_cfg=SCRATCH_INIT + [dict(type='ZeroResidualNorm')])
    with pytest.raises(ValueError, match=r'ResNet has no submodule with a norm layer named '
                                         r'norm3.*names='):
        basic.init_weights()
    basic = ResNet(depth=18, zero_init_residual=False,
                   init_cfg=SCRATCH_INIT + [dict(type='ZeroResidualNorm', names='norm2')])
    assert zeroed_norms(basic) == zeroed_norms(ResNet(depth=18))


@pytest.mark.parametrize('config', ['deeplabv3plus_res2net-50-d8_demo.py',
                                    'deeplabv3plus_s50-d8_demo.py'])
def test_demo_baselines_start_like_the_hs_and_resnet_demos(config):
    """The DeepLabv3+ demo baselines compared in docs/compare.md zero their residual branches."""
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=False)  # leave the default scope to other tests
    cfg = Config.fromfile(f'{ROOT}/configs/demo/{config}')
    backbone = MODELS.build(cfg.model.backbone)
    assert zeroed_norms(backbone) == block_norm3(backbone)
