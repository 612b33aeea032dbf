"""The pretraining chain offline: pretrain on demo crops -> convert -> a detector starts from it."""
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from hs_backbone import HSResNet
from hs_backbone.checkpoint import safe_load

from .conftest import ROOT, load_tool, run_checked

PRETRAIN_CONFIG = 'configs/demo/hs-resnet50_pretrain_demo.py'
DET_CONFIG = 'configs/demo/mask-rcnn_hs-r50_fpn_demo.py'


@pytest.fixture(scope='module')
def crops(tiny_demo_data, tmp_path_factory):
    make = load_tool('make_demo_classification').make_demo_classification
    return make(tiny_demo_data['out_dir'], str(tmp_path_factory.mktemp('imagenet')))


def test_crops_in_imagenet_layout(crops, tiny_demo_data):
    from mmpretrain.datasets import CustomDataset
    for split in ('train', 'val'):
        assert sum(crops['counts'][split].values()) == \
            sum(tiny_demo_data['counts'][split]['per_class'].values())
        dataset = CustomDataset(data_root=crops['root'], data_prefix=split,
                                classes=('box', 'disc', 'triangle'))
        assert len(dataset) == sum(crops['counts'][split].values())
        assert {dataset.get_cat_ids(i)[0] for i in range(len(dataset))} <= {0, 1, 2}


@pytest.fixture(scope='module')
def pretrained(crops, tmp_path_factory):
    """A classifier checkpoint from two epochs of the demo pretraining config."""
    work_dir = tmp_path_factory.mktemp('pretrain')
    cmd = [sys.executable, 'tools/train.py', PRETRAIN_CONFIG, '--work-dir', str(work_dir),
           '--cfg-options', f'train_dataloader.dataset.data_root={crops["root"]}',
           f'val_dataloader.dataset.data_root={crops["root"]}',
           f'test_dataloader.dataset.data_root={crops["root"]}']
    assert 'accuracy/top1' in run_checked(cmd)
    return work_dir / 'epoch_2.pth'


def classifier_from(checkpoint):
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(f'{ROOT}/{PRETRAIN_CONFIG}')
    init_default_scope('mmpretrain')
    model = MODELS.build(cfg.model)
    model.load_state_dict(safe_load(str(checkpoint))['state_dict'])
    return model.eval()


def test_converted_backbone_matches_the_classifier(pretrained, tmp_path):
    converter = load_tool('convert_checkpoint')
    out = tmp_path / 'hs-resnet50_demo.pth'
    converter.main([str(pretrained), str(out)])
    converted = safe_load(str(out))
    assert converted['meta']['architecture'] == dict(type='HSResNet', depth=50, base_width=16,
                                                      scales=6)
    assert converted['meta']['source_epoch'] == 2
    assert not any(k.startswith(('backbone.', 'head.', 'neck.')) for k in converted['state_dict'])

    backbone = HSResNet(out_indices=(3, ))
    # strict: no missing and no unexpected keys
    backbone.load_state_dict(converted['state_dict'], strict=True)
    backbone.eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(backbone(x), classifier_from(pretrained).backbone(x),
                                   rtol=0, atol=0)


def test_converter_refuses_another_architecture(pretrained, tmp_path):
    converter = load_tool('convert_checkpoint')
    with pytest.raises(ValueError, match=r'does not fit HSResNet\(depth=101.*missing'):
        converter.main([str(pretrained), str(tmp_path / 'x.pth'), '--arch', 'depth=101'])
    with pytest.raises(ValueError, match='no weights with prefix'):
        converter.main([str(pretrained), str(tmp_path / 'x.pth'), '--prefix', 'encoder.'])
    with pytest.raises(ValueError, match='--arch accepts'):
        converter.main([str(pretrained), str(tmp_path / 'x.pth'), '--arch', 'widht=16'])


def test_detector_starts_from_the_converted_backbone(pretrained, tmp_path):
    from mmdet.registry import MODELS
    out = tmp_path / 'hs-resnet50_demo.pth'
    load_tool('convert_checkpoint').convert(str(pretrained), str(out))
    cfg = Config.fromfile(f'{ROOT}/{DET_CONFIG}')
    cfg.model.backbone.init_cfg = dict(type='Pretrained', checkpoint=str(out))
    init_default_scope('mmdet')
    detector = MODELS.build(cfg.model)
    detector.init_weights()
    weights = safe_load(str(out))['state_dict']
    loaded = detector.backbone.state_dict()
    assert loaded.keys() == weights.keys()
    assert all(torch.equal(loaded[k], weights[k]) for k in weights)
