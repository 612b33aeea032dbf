"""tools/setup_env.sh, run for real on a first start, with a stand-in for mmcv's sdist.

The real mmcv build takes 17 minutes on 2 cores. Here pip is offline and finds, instead of
PyPI's sdist, a small `mmcv-2.1.0.tar.gz` whose setup.py builds in a second and records the
build variables it was given. The venv the script sets up sees the project's packages through a
.pth file, so its torch and requirements steps find everything installed and only the mmcv
branch, the cache and the post-install check do work: the paths a new machine takes.
"""
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile

import pytest

from .conftest import ROOT

SETUP_PY = '''\
import json, os, sys
from setuptools import setup

FLAGS = ['-std=c++17']  # tools/setup_env.sh must turn this into C++20, as for the real sdist
if 'bdist_wheel' in sys.argv:
    if {fail!r}:
        sys.exit('error: stand-in compiler failure')
    names = ('FORCE_CUDA', 'MMCV_WITH_OPS', 'TORCH_CUDA_ARCH_LIST', 'CUDA_HOME')
    record = dict(flags=FLAGS, **{{n: os.environ.get(n) for n in names}})
    with open('mmcv/build_env.json', 'w') as f:
        json.dump(record, f)
setup(name='mmcv', version='2.1.0', packages=['mmcv', 'mmcv.ops'],
      package_data={{'mmcv': ['build_env.json']}})
'''
OPS_INIT = '''\
def get_compiling_cuda_version():
    return 'not available'  # what mmcv's CPU-only build says
'''


@pytest.fixture(scope='module')
def setuptools_wheels(tmp_path_factory):
    """The two setuptools the script moves between, for an offline pip: torch's metadata asks
    for >=77 (fetched once from the configured index), the pin for <70 (Python's own copy)."""
    import ensurepip
    folder = tmp_path_factory.mktemp('setuptools')
    subprocess.run([sys.executable, '-m', 'pip', 'download', '-q', '--no-deps',
                    '--only-binary', ':all:', 'setuptools>=77', '-d', str(folder)], check=True)
    bundled = os.path.join(os.path.dirname(ensurepip.__file__), '_bundled')
    for name in os.listdir(bundled):
        if name.startswith('setuptools-'):
            shutil.copy(os.path.join(bundled, name), folder)
    return folder


@pytest.fixture
def make_index(tmp_path, setuptools_wheels):
    """Makes an offline package index: setuptools and the stand-in ``mmcv-2.1.0.tar.gz``."""
    return lambda fail=False: make_sdist(tmp_path, setuptools_wheels, fail)


def make_sdist(folder, setuptools_wheels, fail):
    """The stand-in sdist in an index folder, failing to build when ``fail``."""
    source = folder / 'src' / 'mmcv-2.1.0'
    (source / 'mmcv' / 'ops').mkdir(parents=True)
    (source / 'setup.py').write_text(SETUP_PY.format(fail=fail))
    (source / 'mmcv' / '__init__.py').write_text("__version__ = '2.1.0'\n")
    (source / 'mmcv' / 'ops' / '__init__.py').write_text(OPS_INIT)
    index = folder / 'index'
    shutil.copytree(setuptools_wheels, index)
    with tarfile.open(index / 'mmcv-2.1.0.tar.gz', 'w:gz') as tar:
        tar.add(source, arcname='mmcv-2.1.0')
    return index


@pytest.fixture
def fresh_venv(tmp_path):
    """A new venv that sees the project venv's packages (torch, mmdet, ...) through a .pth."""
    venv = tmp_path / 'venv'
    subprocess.run([sys.executable, '-m', 'venv', str(venv)], check=True)
    site = subprocess.run([str(venv / 'bin' / 'python'), '-c',
                           'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                          capture_output=True, text=True, check=True).stdout.strip()
    with open(os.path.join(site, 'project_packages.pth'), 'w') as f:
        f.write(sysconfig.get_paths()['purelib'] + '\n')
    return venv


def run_setup(venv, index, cache, **env):
    base = {k: v for k, v in os.environ.items()
            if k not in ('FORCE_CUDA', 'TORCH_CUDA_ARCH_LIST', 'CUDA_HOME', 'CUDA_PATH')}
    env = dict(base, PIP_NO_INDEX='1', PIP_FIND_LINKS=str(index),
               HS_BACKBONE_CACHE=str(cache), **env)
    return subprocess.run(['bash', 'tools/setup_env.sh', str(venv)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def installed_build_env(venv):
    out = subprocess.run([str(venv / 'bin' / 'python'), '-c',
                          'import mmcv, os; print(open(os.path.join('
                          'os.path.dirname(mmcv.__file__), "build_env.json")).read())'],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def cached_wheels(cache):
    return sorted(p.relative_to(cache).as_posix() for p in cache.rglob('*.whl'))


def test_first_run_builds_caches_exits_0_and_reuses_the_cache(fresh_venv, tmp_path, make_index):
    index, cache = make_index(), tmp_path / 'cache'
    key = 'torch2.14.1+cu130-cp311-cpu'
    first = run_setup(fresh_venv, index, cache)
    # the regression: "environment ready" was printed, and the EXIT trap then made it exit 1
    assert first.returncode == 0, first.stdout + first.stderr
    assert 'building mmcv 2.1.0 with CPU ops' in first.stdout
    assert 'mmcv built in' in first.stdout
    assert 'mmcv 2.1.0 with CPU ops' in first.stdout
    assert first.stdout.rstrip().endswith(f'environment ready: {fresh_venv}')
    assert cached_wheels(cache) == [f'wheels/{key}/mmcv-2.1.0-py3-none-any.whl']
    assert (fresh_venv / 'mmcv-cache-key').read_text().strip() == key
    built = installed_build_env(fresh_venv)
    assert built['flags'] == ['-std=c++20']
    assert (built['FORCE_CUDA'], built['MMCV_WITH_OPS']) == ('0', '1')
    assert built['TORCH_CUDA_ARCH_LIST'] is None

    again = run_setup(fresh_venv, index, cache)
    assert again.returncode == 0, again.stdout + again.stderr
    assert 'building mmcv' not in again.stdout and 'installing mmcv' not in again.stdout


def test_failed_build_exits_1_with_the_log_and_caches_nothing(fresh_venv, tmp_path, make_index):
    cache = tmp_path / 'cache'
    result = run_setup(fresh_venv, make_index(fail=True), cache)
    assert result.returncode == 1
    assert 'stand-in compiler failure' in result.stdout
    assert 'mmcv build failed' in result.stdout
    assert cached_wheels(cache) == []
    assert 'environment ready' not in result.stdout


def test_force_cuda_without_archs_stops_before_building(fresh_venv, tmp_path, make_index):
    result = run_setup(fresh_venv, make_index(), tmp_path / 'cache', FORCE_CUDA='1')
    assert result.returncode == 1
    assert 'TORCH_CUDA_ARCH_LIST' in result.stderr
    assert 'building mmcv' not in result.stdout


@pytest.mark.skipif(not os.path.isdir('/usr/local/cuda-13.0'), reason='needs a CUDA 13 toolkit')
def test_cuda_build_gets_its_variables_key_and_a_loud_check(fresh_venv, tmp_path, make_index):
    # a node without GPU asking for CUDA ops; the stand-in sdist compiles no CUDA code, so the
    # post-install check must refuse the result
    cache = tmp_path / 'cache'
    result = run_setup(fresh_venv, make_index(), cache, FORCE_CUDA='1',
                       TORCH_CUDA_ARCH_LIST='9.0', CUDA_HOME='/usr/local/cuda-13.0')
    assert result.returncode == 1, result.stdout + result.stderr
    assert 'with CUDA ops for 9.0' in result.stdout and 'minutes on' in result.stdout
    assert cached_wheels(cache) == [
        'wheels/torch2.14.1+cu130-cp311-cuda13.0-sm90/mmcv-2.1.0-py3-none-any.whl']
    built = installed_build_env(fresh_venv)
    assert (built['FORCE_CUDA'], built['TORCH_CUDA_ARCH_LIST'], built['CUDA_HOME']) == (
        '1', '9.0', '/usr/local/cuda-13.0')
    assert 'CUDA ops are wanted here' in result.stderr and 'nms_impl' in result.stderr
    assert 'environment ready' not in result.stdout
