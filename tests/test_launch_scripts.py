"""The launch scripts' command lines and exit paths, with stand-ins for python and srun.
(tests/test_distributed.py runs them for real.)"""
import os
import subprocess

import pytest

from .conftest import ROOT

USAGE = {
    'dist_train.sh': ('CONFIG NUM_PROCS', 2),
    'dist_test.sh': ('CONFIG CHECKPOINT NUM_PROCS', 3),
    'slurm_train.sh': ('PARTITION JOB_NAME CONFIG WORK_DIR', 4),
    'slurm_test.sh': ('PARTITION JOB_NAME CONFIG CHECKPOINT', 4),
}
# records its arguments, one a line, and fails as a crashed training would
RECORDER = '#!/usr/bin/env bash\nprintf "%s\\n" "$@" > "$RECORD"\nexit 3\n'


def run_script(name, args, **env):
    return subprocess.run(['bash', f'tools/{name}', *args], cwd=ROOT, capture_output=True,
                          text=True, env=dict(os.environ, **env), timeout=60)


@pytest.fixture
def recorder(tmp_path):
    """A program that records its arguments in ``tmp_path/record`` and exits with 3."""
    for name in ('recorder', 'srun'):
        (tmp_path / name).write_text(RECORDER)
        (tmp_path / name).chmod(0o755)
    record = tmp_path / 'record'
    return dict(PYTHON=str(tmp_path / 'recorder'), RECORD=str(record),
                PATH=f'{tmp_path}:{os.environ["PATH"]}'), record


@pytest.mark.parametrize('name', sorted(USAGE))
def test_too_few_arguments_print_the_usage(name):
    words, count = USAGE[name]
    tool = 'train' if 'train' in name else 'test'
    for args in ([], ['a'] * (count - 1)):
        result = run_script(name, args)
        assert result.returncode == 2
        assert result.stderr == f'usage: tools/{name} {words} [{tool}.py args...]\n'
        assert result.stdout == ''


NODE_LAYOUT = dict(NNODES='2', NODE_RANK='1', MASTER_ADDR='10.0.0.1', PORT='1234')
TORCHRUN_DEFAULTS = ['--nnodes=1', '--node_rank=0', '--master_addr=127.0.0.1']


@pytest.mark.parametrize('layout', [{}, NODE_LAYOUT], ids=['one node', 'second of two nodes'])
def test_dist_train_passes_the_node_layout_to_torchrun(recorder, layout):
    env, record = recorder
    result = run_script('dist_train.sh', ['cfg.py', '8', '--resume', 'auto'], **layout, **env,
                        **({'MAX_RESTARTS': '3'} if layout else {}))
    # the launcher's exit status is the script's
    assert result.returncode == 3
    nodes = ['--nnodes=2', '--node_rank=1', '--master_addr=10.0.0.1'] if layout else \
        TORCHRUN_DEFAULTS
    assert record.read_text().splitlines() == [
        '-m', 'torch.distributed.run', *nodes, '--nproc_per_node=8',
        f'--master_port={1234 if layout else 29500}', f'--max_restarts={3 if layout else 0}',
        'tools/train.py', 'cfg.py', '--launcher', 'pytorch', '--resume', 'auto']


@pytest.mark.parametrize('layout', [{}, NODE_LAYOUT], ids=['one node', 'second of two nodes'])
def test_dist_test_passes_the_node_layout_to_torchrun(recorder, layout):
    env, record = recorder
    result = run_script('dist_test.sh', ['cfg.py', 'model.pth', '4', '--allow-partial'],
                        **layout, **env)
    assert result.returncode == 3
    nodes = ['--nnodes=2', '--node_rank=1', '--master_addr=10.0.0.1'] if layout else \
        TORCHRUN_DEFAULTS
    assert record.read_text().splitlines() == [
        '-m', 'torch.distributed.run', *nodes, '--nproc_per_node=4',
        f'--master_port={1234 if layout else 29500}', 'tools/test.py', 'cfg.py', 'model.pth',
        '--launcher', 'pytorch', '--allow-partial']


@pytest.mark.parametrize('name, script', [('train', 'slurm_train.sh'), ('test', 'slurm_test.sh')])
def test_slurm_scripts_default_to_mmdets_layout(recorder, name, script):
    env, record = recorder
    env.pop('PYTHON')
    result = run_script(script, ['gpu', 'job', 'cfg.py', 'x', '--extra'], **env)
    assert result.returncode == 3
    second = '--work-dir=x' if name == 'train' else 'x'
    python = os.path.join('tools', '..', '.venv', 'bin', 'python')
    if not os.access(os.path.join(ROOT, python), os.X_OK):
        python = 'python'
    assert record.read_text().splitlines() == [
        '-p', 'gpu', '--job-name=job', '--gres=gpu:8', '--ntasks=8', '--ntasks-per-node=8',
        '--cpus-per-task=5', '--kill-on-bad-exit=1', python, '-u', f'tools/{name}.py', 'cfg.py',
        second, '--launcher=slurm', '--extra']
