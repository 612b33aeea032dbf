"""Helpers shared by the backbone tests, in the spirit of mmdet's test utils."""
import json

import torch
from torch.nn import GroupNorm, LayerNorm
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

from hs_backbone.checkpoint import safe_load
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


def logged_losses(work_dir):
    """Losses (iteration -> total loss) logged by each start of a run in ``work_dir``, oldest
    first (mmengine's ``<timestamp>/vis_data/scalars.json``)."""
    out = []
    for path in sorted(work_dir.glob('*/vis_data/scalars.json')):
        records = [json.loads(line) for line in path.read_text().splitlines()]
        out.append({r['iter']: r['loss'] for r in records if 'loss' in r})
    return out


def assert_same_weights(a, b):
    """The checkpoints ``a`` and ``b`` hold bit-identical model weights."""
    state_a, state_b = safe_load(str(a))['state_dict'], safe_load(str(b))['state_dict']
    assert state_a.keys() == state_b.keys()
    different = [k for k in state_a if not torch.equal(state_a[k], state_b[k])]
    assert not different, different[:5]
