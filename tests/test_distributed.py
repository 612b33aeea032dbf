"""tools/dist_train.sh: two processes (gloo, CPU) train like one with the same total batch."""
import os
import socket
import sys

from hs_backbone.checkpoint import safe_load

from .conftest import load_tool, run_checked

SEG_CONFIG = 'configs/demo/deeplabv3plus_hs-r50-d8_demo.py'
ITERS = 2
TOTAL_BATCH = 4


def options(data, batch_per_process):
    # Everything that could make one image's gradient depend on its batch-mates or on the
    # process is switched off, so that DDP's averaged gradient must equal the single-process
    # one: GroupNorm instead of BN (per-sample statistics), no dropout, no random resize,
    # crop or flip. What is left to differ is float summation order.
    norm = []
    for part in ('backbone', 'decode_head', 'auxiliary_head'):
        norm += [f'model.{part}.norm_cfg.type=GN', f'model.{part}.norm_cfg.num_groups=8']
    return load_tool('demo').data_options('seg', data) + norm + [
        f'train_cfg.max_iters={ITERS}', f'default_hooks.checkpoint.interval={ITERS}',
        f'train_dataloader.batch_size={batch_per_process}', 'randomness.seed=0',
        'train_dataloader.dataset.pipeline.2.scale=(128,128)',
        'train_dataloader.dataset.pipeline.2.ratio_range=(1.0,1.0)',
        'train_dataloader.dataset.pipeline.4.prob=0.0',
        # full learning rate from the first step, so that the weights move measurably
        'param_scheduler.0.start_factor=1.0',
        'model.decode_head.dropout_ratio=0.0', 'model.auxiliary_head.dropout_ratio=0.0',
        'val_cfg=None', 'val_dataloader=None', 'val_evaluator=None']


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_two_processes_match_one_with_the_same_total_batch(tiny_demo_data, tmp_path):
    single, double = tmp_path / 'single', tmp_path / 'double'
    run_checked([sys.executable, 'tools/train.py', SEG_CONFIG, '--work-dir', str(single),
         '--cfg-options', *options(tiny_demo_data, TOTAL_BATCH)])
    env = dict(os.environ, PORT=str(free_port()), PYTHON=sys.executable)
    log = run_checked(['bash', 'tools/dist_train.sh', SEG_CONFIG, '2', '--work-dir', str(double),
               '--cfg-options', *options(tiny_demo_data, TOTAL_BATCH // 2)], env=env)
    assert 'Distributed training: True' in log

    a = safe_load(str(single / f'iter_{ITERS}.pth'))
    b = safe_load(str(double / f'iter_{ITERS}.pth'))
    # measured here: 4e-9 for the weights and 5e-6 for the gradients (float summation order)
    assert relative_difference(a['state_dict'], b['state_dict']) < 1e-6
    # SGD's momentum buffers hold the accumulated gradients: DDP's averaged gradients equal the
    # single process's, and they are not zero (both runs really trained)
    buffers_a, buffers_b = momentum_buffers(a), momentum_buffers(b)
    assert len(buffers_a) == len(buffers_b) > 0
    assert all(v.abs().max() > 0 for v in buffers_a.values())
    assert relative_difference(buffers_a, buffers_b) < 1e-4


def momentum_buffers(checkpoint):
    state = checkpoint['optimizer']['state']
    return {k: v['momentum_buffer'] for k, v in state.items() if 'momentum_buffer' in v}


def relative_difference(a, b):
    """||a - b|| / ||a|| over all float tensors of two same-keyed dicts."""
    assert a.keys() == b.keys()
    diff = total = 0.0
    for key, value in a.items():
        if value.is_floating_point():
            diff += (value.double() - b[key].double()).pow(2).sum().item()
            total += value.double().pow(2).sum().item()
    return (diff / total)**0.5
