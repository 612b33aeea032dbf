"""Every config in configs/ loads, builds the backbone it names and trains one step on CPU."""
import re
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from .utils import is_norm

CONFIG_DIR = Path(__file__).resolve().parents[1] / 'configs'
CONFIGS = sorted(p.relative_to(CONFIG_DIR).as_posix() for p in CONFIG_DIR.rglob('*.py'))
HS_CONFIGS = [c for c in CONFIGS if c.startswith('hs_resnet/')]
# the paper's recipe, from ImageNet weights; the -scratch configs train everything from scratch
PRETRAINED_HS = [c for c in HS_CONFIGS if '-scratch' not in c]
SCRATCH = [c for c in CONFIGS if '-scratch' in c]
BASELINES = [c for c in CONFIGS if c.startswith('baselines/')]
# the demo configs of other backbones, for tools/compare.py
DEMO_BASELINES = [c for c in CONFIGS if c.startswith('demo/') and 'hs-r' not in c]


def load(name):
    return Config.fromfile(str(CONFIG_DIR / name))


def expected_scope(name):
    if 'pretrain' in name:
        return 'mmpretrain'
    return 'mmseg' if 'deeplab' in name else 'mmdet'


# the backbone field of a config name ({algorithm}_{backbone}_...), before its -d8/-scratch
BASELINE_BACKBONES = (('r50v1d', 'ResNetV1d'), ('res2net-50', 'Res2Net'), ('s50', 'ResNeSt'),
                      ('r50', 'ResNet'))


def expected_backbone(name):
    """Backbone type and depth that a config's file name promises."""
    depth = 101 if ('-r101' in name or 'resnet101' in name) else 50
    if name.startswith(('hs_resnet/', 'pretrain/')) or 'hs-r' in name:
        return 'HSResNet', depth
    field = Path(name).name.split('_')[1]
    backbone = next(t for prefix, t in BASELINE_BACKBONES if field.startswith(prefix))
    if 'deeplabv3plus' in name:
        # the demo compares mmdet's classes in mmseg configs too; mmseg's "r50-d8" is ResNetV1c
        if name.startswith('demo/'):
            return 'mmdet.' + backbone, depth
        if backbone == 'ResNet':
            return 'ResNetV1c', depth
    return backbone, depth


def hs_counterpart(baseline):
    """The HS config a baseline is compared with: its name with the HS-ResNet50 backbone."""
    folder, name = baseline.split('/')
    parts = name.split('_')
    parts[1] = re.sub('^(' + '|'.join(p for p, _ in BASELINE_BACKBONES) + ')', 'hs-r50',
                      parts[1])
    counterpart = ('demo/' if folder == 'demo' else 'hs_resnet/') + '_'.join(parts)
    assert counterpart in CONFIGS, (baseline, counterpart)
    return counterpart


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
    for task in ('faster-rcnn', 'mask-rcnn'):
        for backbone in ('hs-r50', 'hs-r101', 'r50'):
            folder = 'baselines' if backbone == 'r50' else 'hs_resnet'
            assert f'{folder}/{task}_{backbone}-scratch_fpn_gn-all_6x_coco.py' in SCRATCH
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


@pytest.mark.parametrize('name', PRETRAINED_HS)
def test_hs_config_points_at_a_local_checkpoint(name):
    init_cfg = load(name).model.backbone.init_cfg
    assert init_cfg.type == 'Pretrained'
    # no HS-ResNet weights are published anywhere: never a URL
    assert init_cfg.checkpoint.startswith('checkpoints/hs-resnet')


@pytest.mark.parametrize('baseline', BASELINES + DEMO_BASELINES)
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
    if cfg.default_scope == 'mmdet':
        # 64 sampled RoIs instead of 512: the same code, an eighth of the box head's work
        # (the 4-conv box head of the scratch configs made it most of the step's time)
        cfg.model.train_cfg.rcnn.sampler.num = 64
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


@pytest.mark.parametrize('name', PRETRAINED_HS)
def test_missing_checkpoint_says_what_to_do(name):
    cfg = load(name)
    model = registry_of(cfg.default_scope).build(to_cpu_norm(cfg.model))
    with pytest.raises(FileNotFoundError,
                       match=r"checkpoints/hs-resnet.*does not exist.*model\.backbone\.init_cfg"):
        model.init_weights()


@pytest.mark.parametrize('name', SCRATCH)
def test_scratch_config_has_group_norm_everywhere_and_no_weights_to_load(name):
    cfg = load(name)
    assert cfg.model.backbone.init_cfg is None and cfg.model.backbone.frozen_stages == -1
    model = registry_of(cfg.default_scope).build(cfg.model)
    norms = [m for m in model.modules() if is_norm(m)]
    # "gn-all": backbone, neck and heads
    assert norms and all(isinstance(m, torch.nn.GroupNorm) for m in norms)
    assert {'backbone', 'neck', 'roi_head'} <= {
        path.split('.')[0] for path, m in model.named_modules() if is_norm(m)}
    if 'hs-r' in name:
        # the hierarchy's odd widths (31 = 16 + 30/2 channels for w=16, s=6): 32 groups do
        # not divide them, so they get the largest divisor of 32 that does (docs/design.md)
        widths = {(m.num_channels, m.num_groups) for m in model.backbone.modules()
                  if isinstance(m, torch.nn.GroupNorm)}
        assert (31, 1) in widths and (30, 2) in widths and (28, 4) in widths
        assert (64, 32) in widths
