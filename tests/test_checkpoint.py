"""Runner checkpoints load under torch's safe defaults once ``hs_backbone`` is imported."""
import os
import pickle
from collections import OrderedDict

import pytest
import torch
import torch.nn as nn
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner import CheckpointLoader, Runner

import hs_backbone  # noqa: F401  (installs the loader)
from hs_backbone.checkpoint import safe_load


class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, labels=None, mode='tensor'):
        out = self.linear(inputs)
        if mode == 'loss':
            return dict(loss=((out.squeeze(1) - labels)**2).mean())
        return out


def toy_runner(work_dir, max_iters, **kwargs):
    data = [dict(inputs=torch.rand(2), labels=torch.rand(())) for _ in range(8)]
    return Runner(
        model=ToyModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(dataset=data, sampler=dict(type='DefaultSampler', shuffle=False),
                              batch_size=2, collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False),
                           logger=dict(type='LoggerHook', interval=1)),
        experiment_name=f'toy_{max_iters}_{os.getpid()}',
        **kwargs)


@pytest.fixture(scope='module')
def runner_checkpoint(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('toy')
    toy_runner(work_dir, max_iters=2).train()
    return work_dir, work_dir / 'iter_2.pth'


def test_plain_torch_load_refuses_runner_checkpoint(runner_checkpoint):
    # the problem this module exists for: torch >= 2.6 defaults to weights_only=True
    with pytest.raises(pickle.UnpicklingError, match='Weights only load failed'):
        torch.load(runner_checkpoint[1])


def test_runner_checkpoint_loads_through_mmengine(runner_checkpoint):
    checkpoint = CheckpointLoader.load_checkpoint(str(runner_checkpoint[1]), map_location='cpu')
    assert set(checkpoint) >= {'meta', 'state_dict', 'message_hub', 'optimizer'}
    assert checkpoint['meta']['iter'] == 2
    assert 'linear.weight' in checkpoint['state_dict']


def test_resume_continues_a_stopped_run(runner_checkpoint):
    work_dir, _ = runner_checkpoint
    runner = toy_runner(work_dir, max_iters=4, resume=True)
    runner.train()
    assert runner.iter == 4
    assert (work_dir / 'iter_4.pth').is_file()


class _Exploit:

    def __reduce__(self):
        return os.system, ('echo pwned',)


def test_foreign_globals_are_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save(dict(state_dict={}, payload=_Exploit()), path)
    with pytest.raises(pickle.UnpicklingError, match=r'refusing to load global (posix|os)\.system'):
        safe_load(str(path))
    with pytest.raises(pickle.UnpicklingError, match='refusing to load global'):
        CheckpointLoader.load_checkpoint(str(path))


class _Getattr:

    def __init__(self, owner, name):
        self.owner, self.name = owner, name

    def __reduce__(self):
        return getattr, (self.owner, self.name)


@pytest.mark.parametrize('owner,name', [(OrderedDict, 'fromkeys'), (HistoryBuffer, '__init__')])
def test_getattr_only_on_history_buffer_statistics(tmp_path, owner, name):
    path = tmp_path / 'getattr.pth'
    torch.save(dict(payload=_Getattr(owner, name)), path)
    with pytest.raises(pickle.UnpicklingError, match=r'only getattr\(HistoryBuffer'):
        safe_load(str(path))


def test_missing_checkpoint_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match='nothing.pth'):
        safe_load(str(tmp_path / 'nothing.pth'))
