import pytest
import torch
import torch.nn.functional as F

from hs_backbone.models import HSBlock, hs_split_channels


def reference_hs_forward(block, x):
    """The paper's data flow written plainly, using ``block``'s convs."""
    w, s = block.width, block.scales
    groups = [x[:, i * w:(i + 1) * w] for i in range(s)]
    out = groups[0]
    carried = None
    for i in range(1, s):
        inp = groups[i] if carried is None else torch.cat([groups[i], carried], dim=1)
        y = block.convs[i - 1](inp)
        if i == s - 1:
            out = torch.cat([out, y], dim=1)
        else:
            keep = (y.shape[1] + 1) // 2
            out = torch.cat([out, y[:, :keep]], dim=1)
            carried = y[:, keep:]
    return out


@pytest.mark.parametrize('width,scales', [(16, 6), (26, 4), (4, 4), (8, 5), (1, 2), (7, 5),
                                          (13, 8), (3, 3)])
def test_hs_block_channel_arithmetic(width, scales):
    block = HSBlock(width, scales)
    assert block.split_channels == hs_split_channels(width, scales)
    assert len(block.convs) == scales - 1
    for conv, c in zip(block.convs, block.split_channels, strict=True):
        # every 3x3 keeps its channel count
        assert conv.conv.in_channels == c
        assert conv.conv.out_channels == c
        assert conv.conv.kernel_size == (3, 3)
    if width % 2**(scales - 2) == 0:
        # the paper's closed form c_i = w (2^i - 1) / 2^(i-1), i = 2..s
        expected = [width * (2**i - 1) // 2**(i - 1) for i in range(1, scales)]
        assert block.split_channels == expected
    x = torch.rand(2, width * scales, 9, 9)
    block.eval()
    out = block(x)
    assert out.shape == (2, width * scales, 9, 9)
    assert torch.equal(out, reference_hs_forward(block, x))


def test_hs_split_channels_paper_example():
    assert hs_split_channels(16, 6) == [16, 24, 28, 30, 31]
    assert hs_split_channels(64, 4) == [64, 96, 112]


def test_hs_block_first_group_passes_and_hierarchy_is_causal():
    block = HSBlock(8, 4).eval()
    x = torch.rand(1, 32, 8, 8)
    out = block(x)
    assert torch.equal(out[:, :8], x[:, :8])
    # Changing group 3 must leave group 1 and the kept half of conv 2 untouched, and change
    # the rest (the kept half of conv 3 and the last conv).
    x2 = x.clone()
    x2[:, 16:24] += 1
    out2 = block(x2)
    kept_2 = 8 + (8 + 1) // 2
    assert torch.equal(out[:, :kept_2], out2[:, :kept_2])
    assert not torch.allclose(out[:, kept_2:], out2[:, kept_2:])


@pytest.mark.parametrize('stride', [1, 2])
def test_hs_block_stage_type(stride):
    block = HSBlock(8, 4, stride=stride, stage_type='stage').eval()
    assert block.split_channels == [8, 8, 8]
    x = torch.rand(1, 32, 16, 16)
    out = block(x)
    assert out.shape == (1, 32, 16 // stride, 16 // stride)
    expected_first = x[:, :8] if stride == 1 else F.avg_pool2d(x[:, :8], 3, stride, 1)
    assert torch.equal(out[:, :8], expected_first)
    # no hierarchy: group 2's conv output depends only on group 2
    x2 = x.clone()
    x2[:, 16:] = 0
    assert torch.equal(block(x2)[:, 8:16], out[:, 8:16])


@pytest.mark.parametrize('stage_type', ['normal', 'stage'])
def test_hs_block_dilation_keeps_spatial_size(stage_type):
    block = HSBlock(8, 4, dilation=2, stage_type=stage_type)
    for conv in block.convs:
        assert conv.conv.dilation == (2, 2)
        assert conv.conv.padding == (2, 2)
    assert block(torch.rand(1, 32, 17, 17)).shape == (1, 32, 17, 17)


def test_hs_block_group_norm_fits_odd_widths():
    block = HSBlock(16, 6, norm_cfg=dict(type='GN', num_groups=32))
    groups = [conv.gn.num_groups for conv in block.convs]
    # channels 16, 24, 28, 30, 31
    assert groups == [16, 8, 4, 2, 1]
    assert block(torch.rand(2, 96, 8, 8)).shape == (2, 96, 8, 8)


def test_hs_block_invalid_arguments():
    with pytest.raises(ValueError, match='scales must be an int >= 2'):
        HSBlock(16, 1)
    with pytest.raises(ValueError, match='width must be a positive int'):
        HSBlock(0, 4)
    with pytest.raises(ValueError, match="stage_type must be one of \\('normal', 'stage'\\)"):
        HSBlock(16, 4, stage_type='first')


@pytest.mark.parametrize('stage_type,stride', [('normal', 1), ('stage', 1), ('stage', 2)])
def test_hs_block_channels_last(stage_type, stride):
    block = HSBlock(width=8, scales=4, stride=stride, stage_type=stage_type).eval()
    x = torch.rand(2, 32, 16, 16)
    with torch.no_grad():
        expected = block(x)
        out = block.to(memory_format=torch.channels_last)(
            x.contiguous(memory_format=torch.channels_last))
    # the layout survives the block, so the next conv needs no reorder
    assert out.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('stage_type,stride', [('normal', 1), ('stage', 2)])
def test_hs_block_compiles_without_graph_breaks(stage_type, stride):
    import torch._dynamo
    torch._dynamo.reset()
    block = HSBlock(width=8, scales=5, stride=stride, stage_type=stage_type)
    explanation = torch._dynamo.explain(block)(torch.rand(2, 40, 16, 16))
    assert explanation.graph_break_count == 0, explanation.break_reasons
    assert explanation.graph_count == 1


def test_hs_block_compiled_matches_eager():
    """torch.compile's default backend (inductor, C++ on CPU) computes what eager does."""
    torch.manual_seed(0)
    block = HSBlock(width=8, scales=5).eval()
    x = torch.rand(2, 40, 16, 16)
    compiled = torch.compile(block, fullgraph=True)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), block(x), rtol=1e-4, atol=1e-4)
