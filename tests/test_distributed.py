"""Distributed training on CPU (gloo): two processes on one node, two nodes of one process
each, and Slurm's launcher all train like one process with the same total batch; a worker
killed under ``torchrun --max-restarts`` is restarted and resumes to the uninterrupted result.
"""
import json
import os
import subprocess
import sys

import pytest

from hs_backbone.checkpoint import safe_load

from .conftest import ROOT, free_port, load_tool, run_checked
from .utils import assert_same_weights, logged_losses

SEG_CONFIG = 'configs/demo/deeplabv3plus_hs-r50-d8_demo.py'
ITERS = 2
TOTAL_BATCH = 4
# srun's stand-in: records its arguments, then runs the command as --ntasks local tasks with
# the variables srun gives each task.
SRUN_STUB = r'''#!/usr/bin/env bash
set -euo pipefail
printf '%s\n' "$@" > "$SRUN_RECORD"
ntasks=1
while [ $# -gt 0 ]; do
    case $1 in
        -p) shift 2 ;;
        --ntasks=*) ntasks=${1#--ntasks=}; shift ;;
        --cpus-per-task=*) export SLURM_CPUS_PER_TASK=${1#--cpus-per-task=}; shift ;;
        -*) shift ;;
        *) break ;;
    esac
done
pids=()
for ((i = 0; i < ntasks; i++)); do
    SLURM_PROCID=$i SLURM_LOCALID=$i SLURM_NTASKS=$ntasks SLURM_NODELIST=localhost "$@" &
    pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
exit $status
'''


def model_options(data):
    # GroupNorm instead of BN: per-sample statistics (see options)
    norm = []
    for part in ('backbone', 'decode_head', 'auxiliary_head'):
        norm += [f'model.{part}.norm_cfg.type=GN', f'model.{part}.norm_cfg.num_groups=8']
    return load_tool('demo').data_options('seg', data) + norm


def options(data, batch_per_process, iters=ITERS):
    # Everything that could make one image's gradient depend on its batch-mates or on the
    # process is switched off, so that DDP's averaged gradient must equal the single-process
    # one: GroupNorm instead of BN (per-sample statistics), no dropout, no random resize,
    # crop or flip. What is left to differ is float summation order.
    return model_options(data) + [
        f'train_cfg.max_iters={iters}', f'default_hooks.checkpoint.interval={ITERS}',
        'default_hooks.logger.interval=1',
        f'train_dataloader.batch_size={batch_per_process}', 'randomness.seed=0',
        'train_dataloader.dataset.pipeline.2.scale=(128,128)',
        'train_dataloader.dataset.pipeline.2.ratio_range=(1.0,1.0)',
        'train_dataloader.dataset.pipeline.4.prob=0.0',
        # full learning rate from the first step, so that the weights move measurably
        'param_scheduler.0.start_factor=1.0',
        'model.decode_head.dropout_ratio=0.0', 'model.auxiliary_head.dropout_ratio=0.0',
        'val_cfg=None', 'val_dataloader=None', 'val_evaluator=None']


def launcher_env(**variables):
    return dict(os.environ, PYTHON=sys.executable, **{k: str(v) for k, v in variables.items()})


@pytest.fixture(scope='module')
def single(tiny_demo_data, tmp_path_factory):
    """Work dir of one process training on the whole batch for ITERS iterations."""
    work_dir = tmp_path_factory.mktemp('single')
    run_checked([sys.executable, 'tools/train.py', SEG_CONFIG, '--work-dir', str(work_dir),
                 '--cfg-options', *options(tiny_demo_data, TOTAL_BATCH)])
    return work_dir


@pytest.fixture(scope='module')
def double(tiny_demo_data, tmp_path_factory):
    """Work dir of two processes on one node, for 2 * ITERS iterations (checkpoint every
    ITERS), and their output."""
    work_dir = tmp_path_factory.mktemp('double')
    log = run_checked(
        ['bash', 'tools/dist_train.sh', SEG_CONFIG, '2', '--work-dir', str(work_dir),
         '--cfg-options', *options(tiny_demo_data, TOTAL_BATCH // 2, 2 * ITERS)],
        env=launcher_env(PORT=free_port()))
    return work_dir, log


def test_two_processes_match_one_with_the_same_total_batch(single, double):
    work_dir, log = double
    assert 'Distributed training: True' in log
    assert_trained_alike(single, work_dir)


def test_two_nodes_match_one_process(single, tiny_demo_data, tmp_path):
    # two launchers on loopback, as on two machines: node 0 hosts the rendezvous
    port = free_port()
    cmd = ['bash', 'tools/dist_train.sh', SEG_CONFIG, '1', '--work-dir', str(tmp_path),
           '--cfg-options', *options(tiny_demo_data, TOTAL_BATCH // 2)]
    # one core per "node" here (torchrun leaves a single process per node all the cores)
    nodes = [subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, env=launcher_env(NNODES=2, NODE_RANK=rank, PORT=port,
                                                          MASTER_ADDR='127.0.0.1',
                                                          OMP_NUM_THREADS=1))
             for rank in (0, 1)]
    logs = [node.communicate(timeout=900)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], logs[0][-3000:] + logs[1][-3000:]
    # mmengine's "GPU number" is the world size
    assert 'Distributed training: True' in logs[0] and 'GPU number: 2' in logs[0]
    assert_trained_alike(single, tmp_path)


def test_slurm_scripts_run_what_a_cluster_would(single, tiny_demo_data, tmp_path):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    (bin_dir / 'srun').write_text(SRUN_STUB)
    (bin_dir / 'srun').chmod(0o755)
    record = tmp_path / 'srun_args'
    work_dir = tmp_path / 'work'
    env = launcher_env(PATH=f'{bin_dir}:{os.environ["PATH"]}', SRUN_RECORD=record,
                       GPUS=2, GPUS_PER_NODE=1, CPUS_PER_TASK=1, SRUN_ARGS='--time=10 --qos=x',
                       MASTER_ADDR='127.0.0.1', MASTER_PORT=free_port())
    train_args = ['--resume', 'auto', '--cfg-options',
                  *options(tiny_demo_data, TOTAL_BATCH // 2)]
    log = run_checked(['bash', 'tools/slurm_train.sh', 'gpu', 'hs-seg', SEG_CONFIG,
                       str(work_dir), *train_args], env=env)
    assert record.read_text().splitlines() == [
        '-p', 'gpu', '--job-name=hs-seg', '--gres=gpu:1', '--ntasks=2', '--ntasks-per-node=1',
        '--cpus-per-task=1', '--kill-on-bad-exit=1', '--time=10', '--qos=x',
        sys.executable, '-u', 'tools/train.py', SEG_CONFIG, f'--work-dir={work_dir}',
        '--launcher=slurm', *train_args]
    assert 'Distributed launcher: slurm' in log and 'GPU number: 2' in log
    assert 'starting from scratch' in log  # --resume auto on a first start
    assert_trained_alike(single, work_dir)

    # evaluated by one task (CPU time: each start of a task costs about 12 s here)
    checkpoint = work_dir / f'iter_{ITERS}.pth'
    test_args = ['--work-dir', str(work_dir), '--cfg-options', *model_options(tiny_demo_data)]
    run_checked(['bash', 'tools/slurm_test.sh', 'gpu', 'hs-seg-test', SEG_CONFIG,
                 str(checkpoint), *test_args], env=dict(env, GPUS='1'))
    assert record.read_text().splitlines() == [
        '-p', 'gpu', '--job-name=hs-seg-test', '--gres=gpu:1', '--ntasks=1',
        '--ntasks-per-node=1', '--cpus-per-task=1', '--kill-on-bad-exit=1', '--time=10',
        '--qos=x', sys.executable, '-u', 'tools/test.py', SEG_CONFIG, str(checkpoint),
        '--launcher=slurm', *test_args]
    assert 'mIoU' in json.loads((work_dir / 'metrics.json').read_text())['metrics']


def test_killed_worker_is_restarted_and_resumes_to_the_uninterrupted_result(
        double, tiny_demo_data, tmp_path):
    straight, _ = double
    # the demo config plus a hook that SIGKILLs rank 1 after iteration ITERS + 1 on torchrun's
    # first attempt: rank 0 has then saved iter_ITERS (it took part in iteration ITERS + 1);
    # after the restart, rank 1 comes up late (tests/worker_faults.py)
    config = tmp_path / 'kill_once.py'
    config.write_text(
        f"_base_ = {os.path.join(ROOT, SEG_CONFIG)!r}\n"
        "custom_imports = dict(imports=['hs_backbone', 'tests.worker_faults'],\n"
        "                      allow_failed_imports=False)\n"
        "custom_hooks = [dict(type='RNGStateHook'),\n"
        f"                dict(type='SigkillOnceHook', at_iter={ITERS + 1}, rank=1)]\n")
    work_dir = tmp_path / 'work'
    # the one command line for the first start and every restart
    log = run_checked(
        ['bash', 'tools/dist_train.sh', str(config), '2', '--resume', 'auto', '--work-dir',
         str(work_dir), '--cfg-options', *options(tiny_demo_data, TOTAL_BATCH // 2, 2 * ITERS)],
        # a restart that hangs (torch 2.14 without hs_backbone's per-attempt store) fails here
        env=launcher_env(PORT=free_port(), MAX_RESTARTS=1), timeout=480)
    assert 'starting from scratch' in log
    # torchrun's report of the killed worker, before it restarts the group
    assert 'failed (exitcode: -9) local_rank: 1' in log
    assert f'resumed epoch: 0, iter: {ITERS}' in log

    # same seed, deterministic: the same losses before the kill and after the restart
    reference = losses(straight)
    assert sorted(reference) == list(range(1, 2 * ITERS + 1))
    first, restarted = logged_losses(work_dir)
    assert set(first) >= set(range(1, ITERS + 1))
    assert sorted(restarted) == list(range(ITERS + 1, 2 * ITERS + 1))
    for run in (first, restarted):
        assert run == {k: reference[k] for k in run}
    assert_same_weights(straight / f'iter_{2 * ITERS}.pth', work_dir / f'iter_{2 * ITERS}.pth')


def losses(work_dir):
    (only, ) = logged_losses(work_dir)
    return only


def assert_trained_alike(single, work_dir):
    a = safe_load(str(single / f'iter_{ITERS}.pth'))
    b = safe_load(str(work_dir / f'iter_{ITERS}.pth'))
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
