"""The GPU check's CPU-side parts: the bundle's manifest and requirement checks
(tools/gpu_bundle.py) and tools/gpu_check.py failing fast, with a message, when what it needs is
not there. (Its steps themselves are rehearsed with ``tools/gpu_check.py --dry-run``, which needs
the bundle that tools/prepare_gpu_bundle.sh downloads.)"""
import io
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from .conftest import ROOT, load_tool


def fake_wheel(folder, name, version, requires=()):
    path = folder / f'{name}-{version}-py3-none-any.whl'
    with zipfile.ZipFile(path, 'w') as zf:
        meta = f'Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n'
        meta += ''.join(f'Requires-Dist: {r}\n' for r in requires)
        zf.writestr(f'{name}-{version}.dist-info/METADATA', meta)
    return path


def fake_sdist(path, requires):
    with tarfile.open(path, 'w:gz') as tf:
        data = ('\n'.join(requires) + '\n\n[tests]\npytest-never-there\n').encode()
        info = tarfile.TarInfo('mmcv-2.1.0/mmcv.egg-info/requires.txt')
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))


@pytest.fixture
def bundle(tmp_path):
    """A bundle of empty wheels named as the pins, with mmcv's sdist, and a manifest."""
    gpu_bundle = load_tool('gpu_bundle')
    root = tmp_path / 'bundle'
    (root / 'wheels').mkdir(parents=True)
    (root / 'mmcv').mkdir()
    for pin in gpu_bundle.PINS:
        name, version = pin.split('==')
        requires = {'mmdet': ['shapely>=2', 'numpy', 'tomli; python_version < "3.11"'],
                    'mmengine': ['opencv-python>=3', 'addict']}.get(name, [])
        fake_wheel(root / 'wheels', name.replace('-', '_'), version, requires)
    fake_sdist(root / 'mmcv' / 'mmcv-2.1.0.tar.gz', ['addict', 'mmengine>=0.3.0', 'Pillow'])
    gpu_bundle.write_manifest(str(root))
    return root


def test_manifest_verifies_and_names_what_is_wrong(bundle):
    gpu_bundle = load_tool('gpu_bundle')
    assert gpu_bundle.verify(str(bundle)) == []
    wheel = next((bundle / 'wheels').glob('mmdet-*.whl'))
    wheel.write_bytes(wheel.read_bytes() + b'\0')
    (bundle / 'mmcv' / 'mmcv-2.1.0.tar.gz').unlink()
    (bundle / 'wheels' / 'stray-1.0-py3-none-any.whl').write_bytes(b'')
    problems = gpu_bundle.verify(str(bundle))
    assert f'wheels/{wheel.name}: changed since the manifest was written' in problems
    assert 'mmcv/mmcv-2.1.0.tar.gz: missing' in problems
    assert 'wheels/stray-1.0-py3-none-any.whl: not in the manifest' in problems
    (bundle / 'MANIFEST.json').unlink()
    assert 'prepare_gpu_bundle.sh' in gpu_bundle.verify(str(bundle))[0]


def test_requirements_met_by_the_bundle_or_the_gpu_image(bundle):
    gpu_bundle = load_tool('gpu_bundle')
    problems, notes = gpu_bundle.check_requirements(str(bundle))
    assert problems == []
    # opencv-python is met by the image's opencv-python-headless (same cv2); markers for other
    # Pythons are left out; mmcv's sdist counts too, its extras do not
    assert 'mmengine needs opencv-python>=3: from the GPU image (version not checked here)' in notes
    assert not any('tomli' in n or 'pytest-never-there' in n for n in notes + problems)
    assert any(n.startswith('mmcv needs Pillow') for n in notes)
    fake_wheel(bundle / 'wheels', 'extra_tool', '1.0', ['not-anywhere>=1', 'shapely>=3'])
    problems, _ = gpu_bundle.check_requirements(str(bundle))
    assert problems == [
        'extra-tool needs not-anywhere>=1: neither in the bundle nor in the GPU image',
        'extra-tool needs shapely>=3; the bundle has 2.2.0']


def test_pins_follow_the_project_requirements():
    """The bundle carries the stack requirements.txt pins, at the same versions."""
    gpu_bundle = load_tool('gpu_bundle')
    pinned = dict(re.findall(r'^([A-Za-z0-9_.-]+)==(\S+)', Path(ROOT, 'requirements.txt')
                             .read_text(), re.M))
    bundled = dict(pin.split('==') for pin in gpu_bundle.PINS)
    for name in ('mmengine', 'mmdet', 'mmsegmentation'):
        assert bundled[name] == pinned[name], name
    assert gpu_bundle.MMCV_VERSION == pinned['mmcv']


def test_prebuilt_mmcv_wheel_only_for_its_torch_and_python(tmp_path):
    gpu_bundle = load_tool('gpu_bundle')
    (tmp_path / 'mmcv').mkdir()
    assert gpu_bundle.mmcv_wheel(str(tmp_path), '2.11.0+cu130', '3.12') is None
    wheel = 'mmcv-2.1.0-cp312-cp312-linux_x86_64.whl'
    (tmp_path / 'mmcv' / wheel).write_bytes(b'')
    (tmp_path / 'mmcv' / 'BUILD.json').write_text(
        f'{{"wheel": "{wheel}", "torch": "2.11.0+cu130", "python": "3.12", "arch": "9.0"}}')
    assert gpu_bundle.mmcv_wheel(str(tmp_path), '2.11.1+cu130', '3.12').endswith(wheel)
    assert gpu_bundle.mmcv_wheel(str(tmp_path), '2.12.0+cu130', '3.12') is None
    assert gpu_bundle.mmcv_wheel(str(tmp_path), '2.11.0+cu128', '3.12') is None
    assert gpu_bundle.mmcv_wheel(str(tmp_path), '2.11.0+cu130', '3.11') is None


def gpu_check(*args, **env):
    return subprocess.run([sys.executable, 'tools/gpu_check.py', *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, **env))


def python312():
    """A Python 3.12 that runs (pyenv's shim names one it may refuse to start), or None."""
    return load_tool('gpu_check').find_python312()


def summary_of(out):
    return (out / 'summary.txt').read_text()


def test_gpu_check_fails_fast_with_a_reason(tmp_path):
    usage = gpu_check()
    assert usage.returncode == 2 and 'OUT_DIR' in usage.stderr
    assert gpu_check('--only', 'everything', str(tmp_path)).returncode == 2
    (tmp_path / 'a_file').write_text('')
    not_a_folder = gpu_check(str(tmp_path / 'a_file' / 'out'))
    assert not_a_folder.returncode == 1 and 'cannot create OUT_DIR' in not_a_folder.stderr
    out = tmp_path / 'out'
    wrong_python = gpu_check(str(out), PYTHON=sys.executable)
    assert wrong_python.returncode == 1
    assert "the bundle's wheels are cp312" in summary_of(out)
    assert 'result: FAILED' in summary_of(out)
    no_python = gpu_check(str(out), '--python', 'no-such-python3')
    assert no_python.returncode == 1 and 'no no-such-python3 here' in summary_of(out)


@pytest.mark.skipif(python312() is None, reason='no Python 3.12 here to pass the preflight')
def test_gpu_check_stops_at_the_step_that_fails(tmp_path, bundle):
    py312 = python312()
    out = tmp_path / 'out'
    no_bundle = gpu_check(str(out), '--bundle', str(tmp_path / 'nothing'), PYTHON=py312)
    assert no_bundle.returncode == 1
    assert 'missing or incomplete' in summary_of(out)
    assert 'prepare_gpu_bundle.sh' in summary_of(out)
    assert sorted(p.name for p in out.iterdir()) == ['install.log', 'summary.txt']
    # a complete bundle, on a machine where torch sees no GPU (this Python 3.12 has no torch)
    no_gpu = gpu_check(str(out), '--bundle', str(bundle), PYTHON=py312)
    assert no_gpu.returncode == 1
    assert 'FAILED: no CUDA device visible to torch' in summary_of(out)
    assert (out / 'env.txt').read_text().startswith('# ')
    # the rehearsal gets past the GPU and stops at the install: these wheels are only names
    dry = gpu_check('--dry-run', str(out), '--bundle', str(bundle), PY312=py312)
    assert dry.returncode == 1, dry.stdout
    lines = summary_of(out).splitlines()
    assert lines[0].startswith('[gpu_check] dry run on ')
    assert lines[1].split()[:2] == ['preflight', 'ok']
    assert "[gpu_check] FAILED: pip install of the bundle's wheels failed (install.log)" in lines
    assert lines[-1] == '[gpu_check] result: FAILED'


def make_check(tmp_path, **options):
    gpu_check = load_tool('gpu_check')
    args = gpu_check.parse_args([str(tmp_path / 'out'), *options.pop('argv', [])])
    os.makedirs(args.out_dir)
    for name, value in options.items():
        setattr(args, name, value)
    return gpu_check.GPUCheck(args)


def test_steps_that_would_start_too_late_are_skipped_and_fail(tmp_path):
    check = make_check(tmp_path, budget=70)
    check.test_python = sys.executable
    check.cuda_tier()
    check.benchmark()
    lines = summary_of(tmp_path / 'out').splitlines()
    assert lines[0].split()[:2] == ['cuda-tier', 'skipped:']
    assert lines[1].split()[:2] == ['benchmark', 'skipped:']
    assert check.failed
    only = make_check(tmp_path / 'only', argv=['--only', 'tier'], budget=100)
    only.benchmark()
    assert 'not run (--only tier)' in summary_of(tmp_path / 'only' / 'out')
    assert not only.failed


def test_tier_counts_from_junit_or_from_a_cut_off_log(tmp_path):
    gpu_check = load_tool('gpu_check')
    junit = tmp_path / 'junit.xml'
    junit.write_text('<testsuites><testsuite tests="13" failures="1" errors="1" skipped="2">'
                     '</testsuite></testsuites>')
    assert gpu_check.tier_counts(str(junit), '') == '9 passed, 2 failed, 2 skipped'
    log = tmp_path / 'tests.log'
    log.write_text('tests/test_cuda.py::test_a PASSED\ntests/test_cuda.py::test_b FAILED\n'
                   'tests/test_cuda.py::test_c PASSED\n')
    counts = gpu_check.tier_counts(str(tmp_path / 'none.xml'), str(log))
    assert counts == 'no junit.xml; so far 2 passed, 1 failed'


def test_bench_status_names_what_finished(tmp_path):
    gpu_check = load_tool('gpu_check')
    report = tmp_path / 'bench.json'
    assert gpu_check.bench_status(str(report)) == 'no bench.json'
    report.write_text('{"complete": false, "settings": [{"name": "paper", "status": "done"}, '
                      '{"name": "compile", "status": "skipped: out of time"}]}')
    assert gpu_check.bench_status(str(report)) == ('done: paper; skipped: compile; '
                                                   'the next one cut off')
