"""A training run killed with SIGKILL resumes to exactly the uninterrupted result; broken
checkpoints are skipped, never silently trained over; ``--resume auto`` starts fresh when there
is nothing to resume, and all ranks resume from the checkpoint rank 0 chose. (The restart under
torchrun is in tests/test_distributed.py.)"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

from hs_backbone.runner_setup import checkpoint_to_resume, find_resumable_checkpoint

from .conftest import ROOT, free_port, load_tool, run_checked
from .utils import assert_same_weights, logged_losses

DET_CONFIG = 'configs/demo/mask-rcnn_hs-r50_fpn_demo.py'
MAX_ITERS = 6


def train_cmd(data, work_dir, *extra):
    options = load_tool('demo').data_options('det', data) + [
        f'train_cfg.max_iters={MAX_ITERS}', 'default_hooks.checkpoint.interval=2',
        'default_hooks.checkpoint.max_keep_ckpts=5', 'default_hooks.logger.interval=1',
        'train_dataloader.batch_size=2', 'randomness.seed=0', 'randomness.deterministic=True',
        'val_cfg=None', 'val_dataloader=None', 'val_evaluator=None']
    return [sys.executable, 'tools/train.py', DET_CONFIG, '--work-dir', str(work_dir),
            *extra, '--cfg-options', *options]


def losses(work_dir):
    """iteration -> total loss over every start of the run; a later start's value wins."""
    return {i: loss for run in logged_losses(work_dir) for i, loss in run.items()}


def kill_after_checkpoint(cmd, work_dir, name):
    """Start ``cmd`` and SIGKILL it as soon as ``name`` is completely saved."""
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    marker = work_dir / 'last_checkpoint'
    deadline = time.time() + 600
    # mmengine writes last_checkpoint after the checkpoint file itself
    while not (marker.is_file() and marker.read_text().strip().endswith(name)):
        assert proc.poll() is None, 'training ended before it could be killed'
        assert time.time() < deadline
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL


def test_killed_run_resumes_to_the_uninterrupted_result(tiny_demo_data, tmp_path):
    straight, killed = tmp_path / 'straight', tmp_path / 'killed'
    run_checked(train_cmd(tiny_demo_data, straight))

    kill_after_checkpoint(train_cmd(tiny_demo_data, killed), killed, 'iter_4.pth')
    assert not (killed / f'iter_{MAX_ITERS}.pth').exists()
    without_hook = tmp_path / 'without_hook'
    shutil.copytree(killed, without_hook)

    log = run_checked(train_cmd(tiny_demo_data, killed, '--resume'))
    assert 'resumed epoch: 0, iter: 4' in log
    # same seed, deterministic: identical losses before the kill, and after the resume
    assert losses(killed) == losses(straight)
    assert sorted(losses(straight)) == list(range(1, MAX_ITERS + 1))
    assert_same_weights(straight / f'iter_{MAX_ITERS}.pth', killed / f'iter_{MAX_ITERS}.pth')

    # the RNG hook is what makes it exact: mmdet's RoI sampler draws from torch's generator
    run_checked(train_cmd(tiny_demo_data, without_hook, '--resume') + ['custom_hooks=[]'])
    assert losses(without_hook)[MAX_ITERS] != losses(straight)[MAX_ITERS]


def write_checkpoints(work_dir, iters):
    work_dir.mkdir(exist_ok=True)
    for i in iters:
        torch.save(dict(meta=dict(iter=i), state_dict={'w': torch.full((4, ), float(i))}),
                   work_dir / f'iter_{i}.pth')


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def test_truncated_checkpoint_falls_back_to_the_last_good_one(tmp_path):
    write_checkpoints(tmp_path, (2, 4, 10))
    truncate(tmp_path / 'iter_10.pth')
    # the numerically newest, not the lexically newest (iter_4 > iter_10 as text)
    assert find_resumable_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_4.pth')
    truncate(tmp_path / 'iter_4.pth')
    assert find_resumable_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_2.pth')


def test_no_readable_checkpoint_stops_instead_of_starting_over(tmp_path):
    assert find_resumable_checkpoint(str(tmp_path)) is None
    write_checkpoints(tmp_path, (2, ))
    truncate(tmp_path / 'iter_2.pth')
    with pytest.raises(RuntimeError, match='no checkpoint in .* loads.*Refusing to start over'):
        find_resumable_checkpoint(str(tmp_path))
    train = load_tool('train')
    with pytest.raises(RuntimeError, match='iter_2.pth cannot be loaded'):
        train.main([os.path.join(ROOT, DET_CONFIG), '--work-dir', str(tmp_path), '--resume',
                    str(tmp_path / 'iter_2.pth')])


def test_resume_auto_starts_fresh_or_resumes_and_is_not_a_path(tmp_path, monkeypatch):
    # a file named like the keyword does not turn it into a path
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'auto').write_bytes(b'')
    work_dir = tmp_path / 'work'
    assert checkpoint_to_resume('auto', str(work_dir)) is None  # a first start
    write_checkpoints(work_dir, (2, 4))
    assert checkpoint_to_resume('auto', str(work_dir)) == str(work_dir / 'iter_4.pth')
    assert checkpoint_to_resume(str(work_dir / 'iter_2.pth'), 'elsewhere') == \
        str(work_dir / 'iter_2.pth')
    assert checkpoint_to_resume(None, str(work_dir)) is None
    with pytest.raises(RuntimeError, match='cannot be loaded'):
        checkpoint_to_resume('./auto', str(work_dir))


def _choose_on_rank(rank, port, scenarios, out_dir):
    import torch.distributed as dist
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=2)
    answers = []
    for work_dirs in scenarios:
        try:
            answers.append(['resume', checkpoint_to_resume('auto', work_dirs[rank])])
        except RuntimeError as error:
            answers.append(['error', str(error)])
    with open(os.path.join(out_dir, f'rank{rank}.json'), 'w') as f:
        json.dump(answers, f)
    dist.destroy_process_group()


def test_every_rank_resumes_from_the_checkpoint_rank_0_chose(tmp_path):
    import torch.multiprocessing as mp
    # what each rank sees differs here on purpose (on a cluster: file system caches, a
    # checkpoint being written): the ranks still agree, on rank 0's choice or its error
    good, empty, broken = tmp_path / 'good', tmp_path / 'empty', tmp_path / 'broken'
    write_checkpoints(good, (2, 4))
    empty.mkdir()
    write_checkpoints(broken, (2, ))
    truncate(broken / 'iter_2.pth')
    scenarios = [(str(good), str(empty)), (str(empty), str(good)), (str(broken), str(good))]
    # fork: the ranks only read files and talk over gloo, and need no second import of torch
    mp.start_processes(_choose_on_rank, args=(free_port(), scenarios, str(tmp_path)), nprocs=2,
                       start_method='fork')

    ranks = [json.loads((tmp_path / f'rank{r}.json').read_text()) for r in (0, 1)]
    assert ranks[0][:2] == ranks[1][:2] == [['resume', str(good / 'iter_4.pth')],
                                             ['resume', None]]
    (kind0, error0), (kind1, error1) = ranks[0][2], ranks[1][2]
    assert kind0 == kind1 == 'error'
    assert re.match(r'--resume: no checkpoint in .*broken loads', error0)
    assert error1 == f'rank 0: RuntimeError: {error0}'
