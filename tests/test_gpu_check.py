"""The GPU check's CPU-side parts: the bundle's manifest and requirement checks
(tools/gpu_bundle.py) and tools/gpu_check.sh failing fast, with a message, when what it needs is
not there. (Its steps themselves are rehearsed with ``tools/gpu_check.sh --dry-run``, which needs
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
    return subprocess.run(['bash', 'tools/gpu_check.sh', *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env=dict(os.environ, **env))


def python312():
    """A Python 3.12 that runs (pyenv's shim names one it may refuse to start), or None."""
    candidates = sorted(Path('/root/.pyenv/versions').glob('3.12*/bin/python3.12'))
    for candidate in [*map(str, candidates), 'python3.12']:
        try:
            if subprocess.run([candidate, '-c', ''], capture_output=True).returncode == 0:
                return candidate
        except OSError:
            continue
    return None


def test_gpu_check_fails_fast_with_a_reason(tmp_path):
    usage = gpu_check()
    assert usage.returncode == 2 and 'OUT_DIR' in usage.stderr
    out = tmp_path / 'out'
    wrong_python = gpu_check(str(out), PYTHON=sys.executable)
    assert wrong_python.returncode == 1
    summary = (out / 'summary.txt').read_text()
    assert "the bundle's wheels are cp312" in summary and 'result: FAILED' in summary
    py312 = python312()
    if py312 is None:
        pytest.skip('no Python 3.12 here for the missing-bundle case')
    no_bundle = gpu_check(str(out), PYTHON=py312, HS_GPU_BUNDLE=str(tmp_path / 'nothing'))
    assert no_bundle.returncode == 1
    summary = (out / 'summary.txt').read_text()
    assert 'missing or incomplete' in summary and 'prepare_gpu_bundle.sh' in summary
    assert sorted(p.name for p in out.iterdir()) == ['install.log', 'summary.txt']
