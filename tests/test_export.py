"""tools/export.py: ONNX (opset 17) and TorchScript backbones that match eager PyTorch."""
import onnx
import pytest
import torch

from hs_backbone import HSResNet

from .conftest import load_tool


@pytest.fixture(scope='module')
def trained_checkpoint(tmp_path_factory):
    """A Runner-style checkpoint whose BN statistics moved away from their initial values."""
    torch.manual_seed(0)
    model = HSResNet(zero_init_residual=False)
    model.init_weights()
    with torch.no_grad():
        for _ in range(3):
            model(torch.rand(2, 3, 64, 64) * 2)
    path = tmp_path_factory.mktemp('export') / 'iter_10.pth'
    state = {f'backbone.{k}': v for k, v in model.state_dict().items()}
    state['neck.conv.weight'] = torch.zeros(1)  # a detector's other weights are skipped
    torch.save(dict(state_dict=state, meta=dict(iter=10)), path)
    return str(path), model.eval()


@pytest.mark.parametrize('fmt', ['onnx', 'torchscript'])
@pytest.mark.parametrize('fuse_bn', [False, True])
def test_export_matches_eager(tmp_path, trained_checkpoint, fmt, fuse_bn):
    export = load_tool('export')
    checkpoint, model = trained_checkpoint
    out = tmp_path / f'hs.{fmt}'
    argv = ['--format', fmt, '--out', str(out), '--checkpoint', checkpoint, '--shape', '96', '64']
    diffs = export.main(argv + (['--fuse-bn'] if fuse_bn else []))
    assert set(diffs) == {'stage1', 'stage2', 'stage3', 'stage4'}
    assert max(diffs.values()) < 1e-4
    if fmt == 'onnx':
        assert onnx.load(str(out)).opset_import[0].version == 17
    # the file holds the checkpoint's weights, not the random ones of a fresh model
    run = export.load_exported(fmt, str(out))
    x = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        for a, b in zip(model(x), run(x), strict=True):
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4)


def test_export_from_config_with_arch_override(tmp_path):
    export = load_tool('export')
    config = 'configs/hs_resnet/faster-rcnn_hs-r50_fpn_1x_coco.py'
    model = export.build_backbone(config, dict(depth=101))
    assert len(model.layer3) == 23 and not model.training
    # SyncBN of the segmentation configs is exported as plain BN
    seg = export.build_backbone('configs/hs_resnet/deeplabv3plus_hs-r50-d8_4xb2-80k_'
                                'cityscapes-512x1024.py')
    assert not any(isinstance(m, torch.nn.SyncBatchNorm) for m in seg.modules())


def test_export_rejects_checkpoint_of_other_arch(tmp_path, trained_checkpoint):
    export = load_tool('export')
    with pytest.raises(ValueError, match='does not fit HSResNet'):
        export.build_backbone(arch=dict(depth=101), checkpoint=trained_checkpoint[0])


def test_export_rejects_bad_arguments():
    export = load_tool('export')
    for argv in (['--format', 'tflite', '--out', 'x'], ['--format', 'onnx', '--out', 'x',
                 '--shape', '16', '16'], ['--format', 'onnx', '--out', 'x', '--opset', '9']):
        with pytest.raises(SystemExit):
            export.parse_args(argv)


def test_export_refuses_config_of_other_backbone():
    export = load_tool('export')
    with pytest.raises(ValueError, match="must be HSResNet, got 'ResNet'"):
        export.build_backbone('configs/baselines/faster-rcnn_r50_fpn_1x_coco.py')


def test_export_names_outputs_by_stage(tmp_path):
    """Outputs are named after the stage they hold, whatever order out_indices was given in."""
    export = load_tool('export')
    out = tmp_path / 'hs.onnx'
    export.main(['--format', 'onnx', '--out', str(out), '--shape', '64', '64', '--arch',
                 'depth=50', 'out_indices=(3,1)'])
    graph = onnx.load(str(out)).graph
    assert [o.name for o in graph.output] == ['stage2', 'stage4']
    run = export.load_exported('onnx', str(out))
    assert [o.shape[1] for o in run(torch.rand(1, 3, 64, 64))] == [512, 2048]
