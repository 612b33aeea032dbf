"""Helpers shared by the backbone tests, in the spirit of mmdet's test utils."""
from torch.nn import GroupNorm, LayerNorm
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

from hs_backbone.models import HSBottleneck


def is_block(module):
    return isinstance(module, HSBottleneck)


def is_norm(module):
    return isinstance(module, (GroupNorm, LayerNorm, _BatchNorm, _InstanceNorm))


def check_norm_state(modules, train_state):
    """True if every BN layer among ``modules`` is in train mode ``train_state``."""
    return all(m.training == train_state for m in modules if isinstance(m, _BatchNorm))


def all_zeros(module):
    return all((p == 0).all() for p in module.parameters())
