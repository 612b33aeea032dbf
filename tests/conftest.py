import os.path as osp
import socket
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOLS = osp.join(ROOT, 'tools')
if TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)


def pytest_configure(config):
    # registered here rather than in pyproject.toml, whose changes rebuild the environment
    config.addinivalue_line(
        'markers', 'cuda: needs a CUDA device (tests/test_cuda.py); without one each test is '
        'skipped, "not run: no CUDA device"')


@pytest.fixture(scope='session')
def tiny_demo_data(tmp_path_factory):
    """A small copy of the embedded demo data, shared by the end-to-end tests."""
    from make_demo_data import make_demo_data
    out = tmp_path_factory.mktemp('demo_data')
    return make_demo_data(str(out), num_train=8, num_val=4, size=256, verbose=False)


def run_checked(cmd, env=None, timeout=900):
    """Run ``cmd`` in the repository root; fail with the tail of its output if it fails."""
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                            env=env)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return result.stdout + result.stderr


def load_tool(name):
    """Import ``tools/<name>.py`` by path (``test`` would otherwise find the stdlib package)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(f'hs_tools_{name}', osp.join(TOOLS, f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port():
    """A TCP port on the loopback that nothing listens on now."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]
