"""Installing hs_backbone into an environment that already has torch, mmcv, mmdet and mmseg."""
import json
import os
import subprocess
import sys
import zipfile

import pytest

from .conftest import ROOT

STACK = ('torch', 'torchvision', 'mmengine', 'mmcv', 'mmdet', 'mmsegmentation', 'mmpretrain')

# A user's config, outside the repository: mmdet's own Faster R-CNN with the backbone swapped.
USER_CONFIG = '''\
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['hs_backbone'], allow_failed_imports=False)
model = dict(backbone=dict(_delete_=True, type='HSResNet', depth=50, init_cfg=None))
'''
REPO_BASE_CONFIG = '''\
_base_ = '{root}/configs/hs_resnet/faster-rcnn_hs-r50_fpn_1x_coco.py'
model = dict(backbone=dict(init_cfg=None))
'''
BUILD = '''\
import sys, torch
from mmengine.config import Config
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
import hs_backbone
register_all_modules()
cfg = Config.fromfile(sys.argv[1])
detector = MODELS.build(cfg.model).eval()
features = detector.extract_feat(torch.rand(1, 3, 64, 64))
print(type(detector.backbone).__name__, hs_backbone.__file__)
print([tuple(f.shape) for f in features])
'''


@pytest.fixture(scope='module')
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp('dist')
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps',
                    '--no-build-isolation', '-w', str(out), ROOT], check=True, cwd=ROOT)
    (path,) = out.glob('hs_backbone-*.whl')
    return path


def test_wheel_holds_the_package_only(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert 'hs_backbone/models/hs_resnet.py' in names
    assert not [n for n in names if n.startswith(('tests/', 'tools/', 'configs/'))]


@pytest.mark.parametrize('source', ['wheel', 'clone'])
def test_install_changes_none_of_the_stack(wheel, source, tmp_path):
    # pip's plan in this environment, which has the whole stack, with dependencies resolved
    # against the configured index
    target = str(wheel) if source == 'wheel' else ROOT
    report = tmp_path / 'report.json'
    subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--dry-run',
                    '--no-build-isolation', '--report', str(report), target],
                   check=True, cwd=ROOT)
    to_install = {item['metadata']['name'].lower().replace('_', '-')
                  for item in json.loads(report.read_text())['install']}
    assert 'hs-backbone' in to_install
    # setuptools may be listed: this venv pins it below what torch's own metadata asks for
    assert not to_install & set(STACK), to_install


@pytest.mark.parametrize('base', ['mmdet', 'repo'])
def test_custom_imports_from_a_config_outside_the_repository(wheel, base, tmp_path):
    site = tmp_path / 'site'
    subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--no-deps', '--no-index',
                    '--target', str(site), str(wheel)], check=True)
    config = tmp_path / 'user' / 'faster-rcnn_hs-r50_fpn_mine.py'
    config.parent.mkdir()
    # mmengine's `pkg::` bases know only OpenMMLab's packages: the repo's configs are
    # inherited by path
    config.write_text(USER_CONFIG if base == 'mmdet' else REPO_BASE_CONFIG.format(root=ROOT))
    # run from the user's folder with the installed wheel first on the path, so that neither
    # the clone nor its editable install can be what gets imported
    env = dict(os.environ, PYTHONPATH=str(site))
    out = subprocess.run([sys.executable, '-c', BUILD, str(config)], cwd=config.parent, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    name, path = out.stdout.splitlines()[0].split()
    assert name == 'HSResNet' and path.startswith(str(site))
    assert out.stdout.splitlines()[1] == '[(1, 256, 16, 16), (1, 256, 8, 8), (1, 256, 4, 4), ' \
        '(1, 256, 2, 2), (1, 256, 1, 1)]'
