import copy

import pytest
import torch
import torch.nn as nn
from mmengine.analysis import FlopAnalyzer, get_model_complexity_info
from torch.nn.modules.batchnorm import _BatchNorm

from hs_backbone import HSResNet
from hs_backbone.models import HSBottleneck

from .utils import all_zeros, check_norm_state, is_block, is_norm


def small_input(size=64, batch=1):
    return torch.rand(batch, 3, size, size)


def test_hs_resnet50_default_size():
    model = HSResNet()
    params = sum(p.numel() for p in model.parameters())
    # the spec's figure for the default HS-ResNet50 without a classifier
    assert params == pytest.approx(24.83e6, rel=1e-3)
    # the spec's 4.68 GMACs counts the convolutions; mmengine's total adds the norm layers
    analyzer = FlopAnalyzer(model.eval(), torch.rand(1, 3, 224, 224))
    assert analyzer.by_operator()['conv'] == pytest.approx(4.68e9, rel=1e-3)
    info = get_model_complexity_info(model, input_shape=(3, 224, 224), show_table=False,
                                     show_arch=False)
    assert info['flops'] == analyzer.total()
    assert info['params'] == params


def test_hs_resnet50_stage_structure():
    model = HSResNet()
    assert model.res_layers == ['layer1', 'layer2', 'layer3', 'layer4']
    for i, (name, num_blocks) in enumerate(zip(model.res_layers, (3, 4, 6, 3), strict=True)):
        layer = getattr(model, name)
        assert len(layer) == num_blocks
        assert all(is_block(m) for m in layer)
        assert layer[0].hs.stage_type == 'stage'
        assert all(block.hs.stage_type == 'normal' for block in list(layer)[1:])
        assert all(block.hs.width == 16 * 2**i and block.hs.scales == 6 for block in layer)
        assert layer[0].norm3.num_features == 256 * 2**i
    # ResNet-D: deep stem and average-pool shortcuts
    assert [m.conv.out_channels for m in model.stem] == [32, 32, 64]
    assert isinstance(model.layer2[0].downsample[0], nn.AvgPool2d)
    assert model.layer2[0].downsample[1].stride == (1, 1)
    # stride-1 stage block passes its first group, stride-2 ones pool it
    assert model.layer1[0].hs.pool is None
    assert model.layer2[0].hs.pool.stride == 2


@pytest.mark.parametrize('depth,blocks', [(101, (3, 4, 23, 3)), (152, (3, 8, 36, 3))])
def test_hs_resnet_deeper(depth, blocks):
    model = HSResNet(depth=depth)
    assert tuple(len(getattr(model, name)) for name in model.res_layers) == blocks
    model.eval()
    outs = model(small_input(32))
    assert [o.shape[1] for o in outs] == [256, 512, 1024, 2048]


@pytest.mark.parametrize('out_indices', [(0, ), (1, ), (2, ), (3, ), (0, 2), (1, 3), (0, 1, 2, 3)])
def test_hs_resnet_out_indices(out_indices):
    model = HSResNet(out_indices=out_indices).eval()
    outs = model(small_input(64))
    expected = [(1, 256 * 2**i, 16 // 2**i, 16 // 2**i) for i in out_indices]
    assert [tuple(o.shape) for o in outs] == expected
    assert model.out_channels == tuple(256 * 2**i for i in out_indices)


def test_hs_resnet_out_indices_in_stage_order():
    # forward returns stages in order, so out_channels must describe them in that order too
    model = HSResNet(out_indices=(3, 1)).eval()
    assert model.out_indices == (1, 3)
    outs = model(small_input(64))
    assert [o.shape[1] for o in outs] == list(model.out_channels) == [512, 2048]


def test_hs_resnet_fewer_stages():
    model = HSResNet(num_stages=2, strides=(1, 2), dilations=(1, 1), out_indices=(0, 1)).eval()
    assert model.res_layers == ['layer1', 'layer2']
    assert [tuple(o.shape) for o in model(small_input(64))] == [(1, 256, 16, 16),
                                                                  (1, 512, 8, 8)]


def test_hs_resnet_output_stride_8():
    model = HSResNet(
        strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4), contract_dilation=True).eval()
    outs = model(small_input(64))
    assert [tuple(o.shape) for o in outs] == [(1, 256, 16, 16), (1, 512, 8, 8),
                                              (1, 1024, 8, 8), (1, 2048, 8, 8)]

    def dilations(layer):
        return [block.hs.convs[0].conv.dilation[0] for block in layer]

    assert dilations(model.layer3) == [1, 2, 2, 2, 2, 2]
    assert dilations(model.layer4) == [2, 4, 4]
    # every 3x3 of a dilated block uses the block's dilation
    assert all(conv.conv.dilation == (4, 4) for conv in model.layer4[1].hs.convs)

    model = HSResNet(strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4), multi_grid=(4, 8, 16))
    assert dilations(model.layer4) == [4, 8, 16]


def test_hs_resnet_plain_stem():
    model = HSResNet(deep_stem=False, avg_down=False).eval()
    assert not hasattr(model, 'stem')
    assert model.conv1.kernel_size == (7, 7) and model.conv1.out_channels == 64
    downsample = model.layer2[0].downsample
    assert len(downsample) == 2 and downsample[0].stride == (2, 2)
    assert len(model(small_input(64))) == 4


@pytest.mark.parametrize('deep_stem', [True, False])
@pytest.mark.parametrize('frozen_stages', [0, 1, 4])
def test_hs_resnet_frozen_stages(deep_stem, frozen_stages):
    model = HSResNet(deep_stem=deep_stem, avg_down=deep_stem, frozen_stages=frozen_stages)
    model.init_weights()
    model.train()
    stem = [model.stem] if deep_stem else [model.conv1, model.norm1]
    for module in stem:
        assert all(not p.requires_grad for p in module.parameters())
        assert check_norm_state(module.modules(), False)
    for i, name in enumerate(model.res_layers):
        layer = getattr(model, name)
        frozen = i < frozen_stages
        assert all(p.requires_grad != frozen for p in layer.parameters())
        assert check_norm_state(layer.modules(), not frozen)


def test_hs_resnet_norm_eval_keeps_statistics():
    model = HSResNet(norm_eval=True)
    model.init_weights()
    model.train()
    assert check_norm_state(model.modules(), False)
    before = {k: v.clone() for k, v in model.state_dict().items() if 'running' in k}
    model(small_input(64, batch=2))
    after = model.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in before.items())
    # parameters still train
    assert all(p.requires_grad for p in model.parameters())


def test_hs_resnet_with_cp_matches_plain():
    torch.manual_seed(0)
    plain = HSResNet(depth=50)
    plain.init_weights()
    checkpointed = HSResNet(depth=50, with_cp=True)
    checkpointed.load_state_dict(plain.state_dict())
    assert all(block.with_cp for block in checkpointed.modules() if is_block(block))
    grads = []
    for model in (plain, checkpointed):
        model.train()
        torch.manual_seed(1)
        x = small_input(64, batch=2).requires_grad_()
        outs = model(x)
        sum((o * o).mean() for o in outs).backward()
        grads.append(([o.detach() for o in outs], x.grad,
                      [p.grad for p in model.parameters()]))
    (outs_a, x_grad_a, p_grads_a), (outs_b, x_grad_b, p_grads_b) = grads
    for a, b in zip(outs_a, outs_b, strict=True):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(x_grad_a, x_grad_b)
    for a, b in zip(p_grads_a, p_grads_b, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize('zero_init_residual', [True, False])
def test_hs_resnet_zero_init_residual(zero_init_residual):
    model = HSResNet(zero_init_residual=zero_init_residual)
    model.init_weights()
    blocks = [m for m in model.modules() if is_block(m)]
    assert len(blocks) == 16
    for block in blocks:
        assert all_zeros(block.norm3) == zero_init_residual
    # the other norms start at one either way
    assert all((block.norm1.weight == 1).all() for block in blocks)


def test_hs_resnet_norm_types():
    for norm_cfg in (dict(type='GN', num_groups=32, requires_grad=True), dict(type='BN')):
        model = HSResNet(norm_cfg=norm_cfg).eval()
        assert [o.shape[1] for o in model(small_input(64))] == [256, 512, 1024, 2048]
    model = HSResNet(norm_cfg=dict(type='SyncBN', requires_grad=True))
    norms = [m for m in model.modules() if is_norm(m)]
    assert norms and all(isinstance(m, nn.SyncBatchNorm) for m in norms)


def test_hs_resnet_loads_checkpoint_through_init_cfg(tmp_path):
    source = HSResNet()
    source.init_weights()
    with torch.no_grad():
        for p in source.parameters():
            p.add_(torch.randn_like(p))
    torch.save(source.state_dict(), tmp_path / 'backbone.pth')
    detector_state = {f'backbone.{k}': v for k, v in source.state_dict().items()}
    detector_state['neck.lateral_convs.0.conv.weight'] = torch.zeros(1)
    torch.save({'state_dict': detector_state, 'meta': {}}, tmp_path / 'detector.pth')

    for init_cfg in (dict(type='Pretrained', checkpoint=str(tmp_path / 'backbone.pth')),
                     dict(type='Pretrained', checkpoint=str(tmp_path / 'detector.pth'),
                          prefix='backbone.')):
        target = HSResNet(init_cfg=init_cfg)
        target.init_weights()
        loaded = target.state_dict()
        for name, value in source.state_dict().items():
            assert torch.equal(value, loaded[name]), name


def test_hs_resnet_rejects_bad_input_channels():
    model = HSResNet(in_channels=4).eval()
    assert len(model(torch.rand(1, 4, 32, 32))) == 4
    with pytest.raises(ValueError, match=r'in_channels=4.*got \(1, 3, 32, 32\)'):
        model(torch.rand(1, 3, 32, 32))
    with pytest.raises(ValueError, match='expects input of shape'):
        model(torch.rand(3, 32, 32))


@pytest.mark.parametrize('kwargs,match', [
    (dict(depth=34), r'depth must be one of \(50, 101, 152\), got 34'),
    (dict(scales=1), 'scales must be an int >= 2, got 1'),
    (dict(base_width=0), 'base_width must be a positive int, got 0'),
    (dict(out_indices=(4, )), r'out_indices must be a non-empty subset of \(0, 1, 2, 3\)'),
    (dict(out_indices=()), 'out_indices must be a non-empty subset'),
    (dict(num_stages=3, strides=(1, 2, 2), dilations=(1, 1, 1), out_indices=(3, )),
     r'subset of \(0, 1, 2\) \(num_stages=3\)'),
    (dict(frozen_stages=5), r'frozen_stages must be in \[-1, 4\]'),
    (dict(frozen_stages=-2), r'frozen_stages must be in \[-1, 4\]'),
    (dict(strides=(1, 2, 2)), 'strides must hold num_stages=4 positive ints'),
    (dict(dilations=(1, 1, 2, 4, 8)), 'dilations must hold num_stages=4 positive ints'),
    (dict(num_stages=5), 'num_stages must be 1, 2, 3 or 4, got 5'),
    (dict(in_channels=0), 'in_channels must be a positive int'),
    (dict(multi_grid=(1, 2)), r'multi_grid must give one dilation per block of the last stage'),
    (dict(norm_cfg='BN'), "norm_cfg must be a dict with a 'type' key"),
])
def test_hs_resnet_invalid_arguments(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        HSResNet(**kwargs)


def test_hs_resnet_unknown_config_key():
    from mmdet.registry import MODELS
    with pytest.raises(TypeError, match='base_widht'):
        MODELS.build(dict(type='HSResNet', base_widht=16))


def test_bottleneck_standalone():
    block = HSBottleneck(64, planes=64, width=16, scales=6, stage_type='stage',
                         downsample=nn.Sequential(nn.Conv2d(64, 256, 1, bias=False),
                                                  nn.BatchNorm2d(256)))
    assert block(torch.rand(1, 64, 8, 8)).shape == (1, 256, 8, 8)
    assert isinstance(block.norm3, _BatchNorm)


def test_hs_resnet_deprecated_pretrained(tmp_path):
    checkpoint = tmp_path / 'hs-r50.pth'
    torch.save(HSResNet().state_dict(), checkpoint)
    with pytest.warns(DeprecationWarning, match='pretrained is deprecated'):
        model = HSResNet(pretrained=str(checkpoint))
    assert model.init_cfg == dict(type='Pretrained', checkpoint=str(checkpoint))
    # the ResNet links that mmseg base configs pass as model.pretrained
    with pytest.raises(ValueError, match=r'open-mmlab://resnet50_v1c.*model.pretrained=None'):
        HSResNet(pretrained='open-mmlab://resnet50_v1c')
    with pytest.raises(ValueError, match='both init_cfg and the deprecated pretrained'):
        HSResNet(pretrained=str(checkpoint), init_cfg=dict(type='Pretrained', checkpoint='x'))


@pytest.mark.parametrize('deep_stem', [True, False])
def test_hs_resnet_conv_bn_fusion_keeps_outputs(deep_stem):
    """mmcv's fuse_conv_bn folds every norm of the backbone into its conv for inference."""
    from mmcv.cnn import fuse_conv_bn
    model = HSResNet(deep_stem=deep_stem, avg_down=deep_stem, zero_init_residual=False)
    model.init_weights()
    with torch.no_grad():
        # running statistics away from their initial values, as after training
        for _ in range(3):
            model(torch.rand(2, 3, 64, 64) * 2)
    model.eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)
        fused = fuse_conv_bn(copy.deepcopy(model))
        assert not any(isinstance(m, _BatchNorm) for m in fused.modules())
        for a, b in zip(expected, fused(x), strict=True):
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4)


def test_hs_resnet_channels_last():
    model = HSResNet().eval()
    x = small_input(64, batch=2)
    with torch.no_grad():
        expected = model(x)
        outs = model.to(memory_format=torch.channels_last)(
            x.contiguous(memory_format=torch.channels_last))
    for out, ref in zip(outs, expected, strict=True):
        assert out.is_contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('with_cp', [False, True])
def test_hs_resnet_compiles_as_one_graph(with_cp):
    """torch.compile sees the whole backbone, training mode and checkpointing included."""
    import torch._dynamo
    torch._dynamo.reset()
    model = HSResNet(with_cp=with_cp)
    model.train()
    x = small_input(64, batch=2).requires_grad_(with_cp)
    explanation = torch._dynamo.explain(model)(x)
    assert explanation.graph_break_count == 0, explanation.break_reasons
