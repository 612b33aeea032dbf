"""Every config in configs/ loads, builds the backbone it names and trains one step on CPU."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

CONFIG_DIR = Path(__file__).resolve().parents[1] / 'configs'
CONFIGS = sorted(p.relative_to(CONFIG_DIR).as_posix() for p in CONFIG_DIR.rglob('*.py'))
HS_CONFIGS = [c for c in CONFIGS if c.startswith('hs_resnet/')]
BASELINES = [c for c in CONFIGS if c.startswith('baselines/')]


def load(name):
    return Config.fromfile(str(CONFIG_DIR / name))


def expected_scope(name):
    if 'pretrain' in name:
        return 'mmpretrain'
    return 'mmseg' if 'deeplab' in name else 'mmdet'


def expected_backbone(name):
    """Backbone type and depth that a config's file name promises."""
    depth = 101 if ('-r101' in name or 'resnet101' in name) else 50
    if name.startswith(('hs_resnet/', 'demo/', 'pretrain/')):
        return 'HSResNet', depth
    if 'res2net' in name:
        return 'Res2Net', depth
    if 'r50v1d' in name:
        return 'ResNetV1d', depth
    # mmseg's "r50-d8" configs use ResNetV1c, mmdet's "r50" torchvision's ResNet
    return ('ResNetV1c' if name.startswith('baselines/deeplabv3plus') else 'ResNet'), depth


def hs_counterpart(baseline):
    """The HS config a baseline is compared with (same task, schedule and data)."""
    task = Path(baseline).name.split('_')[0]
    matches = [c for c in HS_CONFIGS if Path(c).name.startswith(task + '_hs-r50')]
    assert len(matches) == 1, (baseline, matches)
    return matches[0]


def to_cpu_norm(cfg):
    """SyncBN needs a process group and a GPU: use BN in the unit tests."""
    if isinstance(cfg, dict):
        if cfg.get('type') == 'SyncBN':
            cfg['type'] = 'BN'
        for value in cfg.values():
            to_cpu_norm(value)
    elif isinstance(cfg, (list, tuple)):
        for value in cfg:
            to_cpu_norm(value)
    return cfg


def registry_of(scope):
    init_default_scope(scope)
    if scope == 'mmdet':
        from mmdet.registry import MODELS
    elif scope == 'mmseg':
        from mmseg.registry import MODELS
    else:
        from mmpretrain.registry import MODELS
    return MODELS


def test_every_family_is_present():
    tasks = ('faster-rcnn', 'mask-rcnn', 'deeplabv3plus')
    for task in tasks:
        assert any(Path(c).name.startswith(task + '_hs-r50') for c in HS_CONFIGS), task
        assert any(Path(c).name.startswith(task + '_hs-r101') for c in HS_CONFIGS), task
        assert sum(Path(c).name.startswith(task) for c in BASELINES) >= 2, task
    assert 'baselines/mask-rcnn_res2net-50_fpn_2x_coco.py' in BASELINES
    assert {'pretrain/hs-resnet50_8xb32-300e_in1k.py',
            'pretrain/hs-resnet101_8xb32-300e_in1k.py'} <= set(CONFIGS)


@pytest.mark.parametrize('name', CONFIGS)
def test_config_loads_with_the_right_backbone(name):
    cfg = load(name)
    assert cfg.default_scope == expected_scope(name)
    # custom_imports alone makes the packaged mmdet/mmseg tools work with these configs
    assert 'hs_backbone' in cfg.custom_imports.imports
    backbone_type, depth = expected_backbone(name)
    assert cfg.model.backbone.type == backbone_type
    assert cfg.model.backbone.depth == depth
    if cfg.default_scope == 'mmseg':
        # mmseg passes model.pretrained to the backbone; the base's ResNet URL must not leak
        assert cfg.model.pretrained is None


@pytest.mark.parametrize('name', HS_CONFIGS)
def test_hs_config_points_at_a_local_checkpoint(name):
    init_cfg = load(name).model.backbone.init_cfg
    assert init_cfg.type == 'Pretrained'
    # no HS-ResNet weights are published anywhere: never a URL
    assert init_cfg.checkpoint.startswith('checkpoints/hs-resnet')


@pytest.mark.parametrize('baseline', BASELINES)
def test_baseline_differs_from_its_hs_config_only_in_the_backbone(baseline):
    base = load(baseline).to_dict()
    hs = load(hs_counterpart(baseline)).to_dict()
    base['model'].pop('backbone')
    hs['model'].pop('backbone')
    assert base == hs


def demo_det_batch(model, with_mask):
    from mmdet.testing import demo_mm_inputs
    num_classes = model.roi_head.bbox_head.num_classes
    batch = demo_mm_inputs(batch_size=1, image_shapes=[(3, 96, 128)], num_items=[3],
                           num_classes=num_classes, with_mask=with_mask)
    return model.data_preprocessor(batch, True)


def demo_cls_batch(model):
    from mmpretrain.structures import DataSample
    num_classes = model.head.num_classes
    samples = [DataSample().set_gt_label(i % num_classes) for i in range(2)]
    inputs = [torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8) for _ in samples]
    return model.data_preprocessor(dict(inputs=inputs, data_samples=samples), True)


def demo_seg_batch(model):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    # two images: the ASPP image-pooling branch has a BN over 1x1 maps
    samples = []
    for _ in range(2):
        sample = SegDataSample(metainfo=dict(img_shape=(96, 128), ori_shape=(96, 128),
                                             pad_shape=(96, 128)))
        sample.gt_sem_seg = PixelData(data=torch.randint(0, 19, (1, 96, 128)))
        samples.append(sample)
    inputs = [torch.randint(0, 256, (3, 96, 128), dtype=torch.uint8) for _ in samples]
    return model.data_preprocessor(dict(inputs=inputs, data_samples=samples), True)


@pytest.mark.parametrize('name', CONFIGS)
def test_config_trains_one_step_on_cpu(name):
    cfg = load(name)
    to_cpu_norm(cfg.model)
    if cfg.default_scope == 'mmseg':
        # the Cityscapes configs pad every input to the 512x1024 crop
        cfg.model.data_preprocessor.size = None
        cfg.model.data_preprocessor.size_divisor = 32
    if 'data_preprocessor' in cfg:
        # what the Runner does with a top-level data_preprocessor (mmpretrain's configs)
        cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = registry_of(cfg.default_scope).build(cfg.model)
    model.train()
    torch.manual_seed(0)
    if cfg.default_scope == 'mmdet':
        batch = demo_det_batch(model, with_mask='mask' in name)
    elif cfg.default_scope == 'mmseg':
        batch = demo_seg_batch(model)
    else:
        batch = demo_cls_batch(model)
    losses = model(**batch, mode='loss')
    loss, _ = model.parse_losses(losses)
    assert torch.isfinite(loss)
    loss.backward()
    trainable = [p for p in model.backbone.parameters() if p.requires_grad]
    assert trainable and all(p.grad is not None for p in trainable[-10:])
    if 'mask' in name:
        assert 'loss_mask' in losses


def test_unknown_backbone_key_names_it():
    cfg = load(HS_CONFIGS[0])
    cfg.model.backbone.out_indice = (0, 1)
    with pytest.raises(TypeError, match="unexpected keyword argument 'out_indice'"):
        registry_of(cfg.default_scope).build(to_cpu_norm(cfg.model))


@pytest.mark.parametrize('name', HS_CONFIGS)
def test_missing_checkpoint_says_what_to_do(name):
    cfg = load(name)
    model = registry_of(cfg.default_scope).build(to_cpu_norm(cfg.model))
    with pytest.raises(FileNotFoundError,
                       match=r"checkpoints/hs-resnet.*does not exist.*model\.backbone\.init_cfg"):
        model.init_weights()
