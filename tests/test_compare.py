"""tools/compare.py on the demo: each (config, seed) pair trained and evaluated through
tools/train.py and tools/test.py, a killed pair resumed, finished pairs skipped; the table, JSON
and plot it writes."""
import json
import os
import signal
import statistics
import subprocess
import sys
import time

import cv2
import pytest

from .conftest import ROOT, load_tool, run_checked

CONFIGS = ['configs/demo/deeplabv3plus_hs-r50-d8_demo.py',
           'configs/demo/deeplabv3plus_r50-d8_demo.py']
NAMES = ['deeplabv3plus_hs-r50-d8_demo', 'deeplabv3plus_r50-d8_demo']
SEEDS = [0, 1]


def compare_cmd(data, work_dir, *options):
    # 2 iterations with a checkpoint after each: the first run can be killed between them
    return [sys.executable, 'tools/compare.py', *CONFIGS, '--seeds', *map(str, SEEDS),
            '--work-dir', str(work_dir), '--demo', '--data-dir', data['out_dir'],
            '--num-train', '8', '--num-val', '4', '--shape', '64', '64', '--cfg-options',
            'train_cfg.max_iters=2', 'default_hooks.checkpoint.interval=1',
            'default_hooks.checkpoint.max_keep_ckpts=1', 'default_hooks.logger.interval=1',
            'train_dataloader.batch_size=2', *options]


def kill_after_first_checkpoint(cmd, run_dir):
    """Start ``cmd`` and SIGKILL it and its training process once ``run_dir`` has a checkpoint.

    Returns the name of the checkpoint that was saved last before the kill.
    """
    # a session of its own: killing its process group takes tools/train.py down too, as
    # a lost machine or a cancelled job would
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    marker = run_dir / 'last_checkpoint'
    deadline = time.time() + 600
    # mmengine writes last_checkpoint after the checkpoint file itself
    while not marker.is_file():
        assert proc.poll() is None, 'compare.py ended before it could be killed'
        assert time.time() < deadline
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return os.path.basename(marker.read_text().strip())


def test_compare_resumes_skips_and_reports(tiny_demo_data, tmp_path, capsys):
    work_dir = tmp_path / 'compare'
    cmd = compare_cmd(tiny_demo_data, work_dir)
    first = work_dir / NAMES[0] / 'seed_0'
    saved = kill_after_first_checkpoint(cmd, first)
    assert not (first / 'metrics.json').exists()
    assert not (work_dir / 'compare.json').exists()

    output = run_checked(cmd)
    # the killed pair continues from its checkpoint (mmengine's resume), the others start
    assert output.count('resuming from') == 1 and f'seed 0: resuming from {saved}' in output
    iteration = int(saved.split('_')[1].split('.')[0])
    assert f'resumed epoch: 0, iter: {iteration}' in (first / 'train.log').read_text()
    assert output.count(': training (log') == 3
    # progress lines as the demo shows them
    assert 'Iter(train) [2/2]' in output and 'Iter(test)' in output

    report = json.loads((work_dir / 'compare.json').read_text())
    assert report['seeds'] == SEEDS and report['metrics'] == ['mIoU']
    assert [c['name'] for c in report['configs']] == NAMES
    assert report['reference'] == NAMES[0]
    for entry in report['configs']:
        per_seed = entry['metrics']['mIoU']['per_seed']
        # the values are tools/test.py's, read from each run's metrics.json
        for seed in SEEDS:
            metrics = json.loads((work_dir / entry['name'] / f'seed_{seed}' /
                                  'metrics.json').read_text())
            assert per_seed[str(seed)] == metrics['metrics']['mIoU']
            assert metrics['checkpoint'].endswith('iter_2.pth')
        values = list(per_seed.values())
        assert entry['metrics']['mIoU']['mean'] == pytest.approx(statistics.fmean(values))
        assert entry['metrics']['mIoU']['std'] == pytest.approx(statistics.stdev(values))
        assert set(entry['metrics']) >= {'mIoU', 'aAcc', 'mAcc'}
        assert entry['conv_macs'] > 0
        assert all(r['train_seconds'] > 0 and r['test_seconds'] > 0 for r in entry['runs'])
    hs, resnet = report['configs']
    # the backbones the configs build: README's 24.83 M and mmdet's ResNet-50's 23.51 M
    assert (hs['backbone'], resnet['backbone']) == ('HSResNet', 'mmdet.ResNet')
    assert hs['params'] == pytest.approx(24.83e6, rel=1e-3)
    assert resnet['params'] == pytest.approx(23.51e6, rel=1e-3)
    vs = resnet['vs_reference']['mIoU']
    assert vs['diff'] == pytest.approx(resnet['metrics']['mIoU']['mean'] -
                                       hs['metrics']['mIoU']['mean'])
    # two attempts for the killed pair: the first one is marked and counts up to its checkpoint
    attempts = {r['seed']: r['attempts'] for r in hs['runs']}
    assert attempts == {0: 2, 1: 1}
    state = json.loads((first / 'run.json').read_text())
    assert state['attempts'][0]['interrupted'] and state['attempts'][1]['resumed_from'] == saved
    assert state['train_seconds'] == pytest.approx(sum(a['seconds'] for a in state['attempts']))

    table = (work_dir / 'compare.md').read_text()
    assert f'| {NAMES[0]} | HSResNet | 24.83 |' in table
    assert f'| {NAMES[1]} | mmdet.ResNet | 23.51 |' in table
    assert table in output
    picture = cv2.imread(str(work_dir / 'compare.png'))
    assert picture is not None and picture.shape[0] > 100

    # everything is done: nothing is trained or evaluated again (in this process: the same
    # code without another start of torch and the codebases)
    compare = load_tool('compare')
    capsys.readouterr()
    compare.main(cmd[2:])
    again = capsys.readouterr().out
    assert again.count('skipping') == len(CONFIGS) * len(SEEDS)
    assert ': training' not in again and ': resuming' not in again
    assert ': evaluating' not in again
    assert json.loads((work_dir / 'compare.json').read_text())['configs'] == report['configs']

    # a run directory is never reused for other options
    with pytest.raises(SystemExit, match='started with other arguments'):
        compare.main(compare_cmd(tiny_demo_data, work_dir, 'train_cfg.max_iters=3')[2:])


def test_a_pair_from_an_edited_config_is_not_reused(tmp_path):
    compare = load_tool('compare')
    (tmp_path / 'base.py').write_text("model = dict(type='Toy', depth=50)\n")
    config = tmp_path / 'child.py'
    config.write_text("_base_ = './base.py'\nmodel = dict(width=16)\n")
    run_dir = str(tmp_path / 'runs' / 'seed_0')
    options = ['randomness.seed=0']
    state = compare.run_state(run_dir, str(config), 0, options)
    assert compare.run_state(run_dir, str(config), 0, options) == state
    # the digest is of the config as training sees it: another seed is another config
    assert state['config_sha256'] != compare.config_digest(str(config), ['randomness.seed=1'])
    (tmp_path / 'base.py').write_text("model = dict(type='Toy', depth=101)\n")
    with pytest.raises(SystemExit, match=r'trained from another version of .*child.py'):
        compare.run_state(run_dir, str(config), 0, options)
    (tmp_path / 'base.py').write_text("model = dict(type='Toy', depth=50)\n")
    assert compare.run_state(run_dir, str(config), 0, options) == state


def test_report_with_a_single_seed_has_no_spread():
    report_tools = load_tool('compare_report')
    runs = [dict(config=f'configs/{name}.py', seed=0, metrics={'coco/bbox_mAP': value},
                 train_seconds=60.0, test_seconds=5.0)
            for name, value in (('a', 0.5), ('b', 0.25))]
    sizes = {r['config']: dict(backbone='X', params=2e6, macs=3e9, conv_macs=2.5e9)
             for r in runs}
    report = report_tools.build_report(runs, sizes, [r['config'] for r in runs], [0],
                                       [224, 224])
    b = report['configs'][1]
    assert b['metrics']['coco/bbox_mAP'] == dict(mean=0.25, std=None, per_seed={'0': 0.25})
    # one seed says nothing about noise: the difference comes without an error or p-value
    assert b['vs_reference']['coco/bbox_mAP'] == dict(diff=-0.25, se=None, p=None)
    table = report_tools.markdown(report)
    assert '| b | X | 2.00 | 2.50 | 0.250 [0.250] | -0.250 | 1.0 |' in table
    with pytest.raises(ValueError, match='not reported by every run'):
        report_tools.build_report(runs, sizes, [r['config'] for r in runs], [0], [224, 224],
                                  metrics=['mIoU'])
