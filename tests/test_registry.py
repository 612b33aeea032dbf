"""HSResNet is reachable from mmdet and mmseg configs through ``custom_imports`` alone.

Each check runs in a fresh interpreter, so nothing imported by the other tests helps it.
"""
import json
import subprocess
import sys
import textwrap

import pytest

BUILD_AND_RUN = textwrap.dedent("""
    import json, sys
    import torch
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    cfg = Config.fromfile(sys.argv[1])
    init_default_scope(cfg.default_scope)
    registry = __import__(cfg.default_scope + '.registry', fromlist=['MODELS']).MODELS
    model = registry.build(cfg.model).eval()
    with torch.no_grad():
        feats = model.backbone(torch.rand(1, 3, 64, 64))
    print(json.dumps(dict(backbone=type(model.backbone).__name__,
                          module=type(model.backbone).__module__,
                          shapes=[list(f.shape) for f in feats])))
""")

CONFIGS = {
    'mmdet': """
        _base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
        custom_imports = dict(imports=['hs_backbone'], allow_failed_imports=False)
        model = dict(backbone=dict(_delete_=True, type='HSResNet', depth=50))
    """,
    'mmseg': """
        _base_ = 'mmseg::deeplabv3plus/deeplabv3plus_r50-d8_4xb2-80k_cityscapes-512x1024.py'
        custom_imports = dict(imports=['hs_backbone'], allow_failed_imports=False)
        norm_cfg = dict(type='BN', requires_grad=True)
        model = dict(
            pretrained=None,
            data_preprocessor=dict(size=(64, 64)),
            backbone=dict(_delete_=True, type='HSResNet', depth=50, strides=(1, 2, 1, 1),
                          dilations=(1, 1, 2, 4), contract_dilation=True, norm_cfg=norm_cfg),
            decode_head=dict(norm_cfg=norm_cfg),
            auxiliary_head=dict(norm_cfg=norm_cfg))
    """,
}

EXPECTED_SHAPES = {
    'mmdet': [[1, 256, 16, 16], [1, 512, 8, 8], [1, 1024, 4, 4], [1, 2048, 2, 2]],
    'mmseg': [[1, 256, 16, 16], [1, 512, 8, 8], [1, 1024, 8, 8], [1, 2048, 8, 8]],
}


@pytest.mark.parametrize('codebase', ['mmdet', 'mmseg'])
def test_build_from_config_with_custom_imports(codebase, tmp_path):
    config = tmp_path / f'{codebase}_hs.py'
    config.write_text(textwrap.dedent(CONFIGS[codebase]))
    script = tmp_path / 'build.py'
    script.write_text(BUILD_AND_RUN)
    result = subprocess.run([sys.executable, str(script), str(config)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report['backbone'] == 'HSResNet'
    assert report['module'].startswith('hs_backbone.')
    assert report['shapes'] == EXPECTED_SHAPES[codebase]


def test_same_class_in_every_installed_registry():
    from mmdet.registry import MODELS as DET_MODELS
    from mmseg.registry import MODELS as SEG_MODELS

    import hs_backbone
    assert {'mmdet', 'mmseg'} <= set(hs_backbone.REGISTERED_IN)
    assert DET_MODELS.get('HSResNet') is SEG_MODELS.get('HSResNet') is hs_backbone.HSResNet


@pytest.mark.parametrize('missing', ['mmseg', 'mmdet'])
def test_import_without_one_codebase(missing):
    # Simulate an environment where one codebase is not installed.
    code = textwrap.dedent(f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == {missing!r} or name.startswith({missing!r} + '.'):
                    raise ImportError('blocked ' + name)
        sys.meta_path.insert(0, Block())
        import hs_backbone
        print(','.join(hs_backbone.REGISTERED_IN))
    """)
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    registered = result.stdout.strip().splitlines()[-1].split(',')
    assert missing not in registered
    assert {'mmdet', 'mmseg'} - {missing} <= set(registered)
