"""tools/benchmark.py runs end to end and writes the figures it promises (no timing asserted)."""
import json

import pytest

from .conftest import load_tool


def test_benchmark_writes_json_table_and_plot(tmp_path, capsys):
    out, picture = tmp_path / 'bench.json', tmp_path / 'bench.png'
    load_tool('benchmark').main([
        '--models', 'HS-ResNet50 (16w_6s)', 'ResNet-50', '--sizes', '64', '256x64',
        '--repeats', '2', '--large-repeats', '1', '--warmup', '0', '--train-size', '64',
        '--train-repeats', '1', '--variants', 'eager', 'fused', 'deploy', '--profile',
        '--out', str(out), '--plot', str(picture)])
    report = json.loads(out.read_text())
    assert list(report['inference']) == ['eager', 'fused', 'deploy']
    for by_size in report['inference'].values():
        assert set(by_size) == {'64x64', '256x64'}
        # --repeats for sizes up to 224, --large-repeats above
        for size, runs in (('64x64', 2), ('256x64', 1)):
            for name in ('HS-ResNet50 (16w_6s)', 'ResNet-50'):
                figures = by_size[size][name]
                assert figures['runs'] == runs
                assert 0 < figures['q1_ms'] <= figures['median_ms'] <= figures['q3_ms']
        # --profile: the operators of the first size, convolutions among them
        ops = [op['op'] for op in by_size['64x64']['HS-ResNet50 (16w_6s)']['profile']]
        assert any('conv' in op for op in ops)
        assert 'profile' not in by_size['256x64']['ResNet-50']
    # folded BN: the batch_norm that takes time in eager is gone
    def profiled(variant):
        return [op['op'] for op in report['inference'][variant]['64x64']['ResNet-50']['profile']]
    assert any('batch_norm' in op for op in profiled('eager'))
    assert not any('batch_norm' in op for op in profiled('fused'))
    assert set(report['training']) == {'plain', 'with_cp'}
    for mode in ('plain', 'with_cp'):
        # parameters alone take 90 MiB; CPU peaks come from PyTorch's MemTracker
        assert report['training'][mode]['ResNet-50']['peak_memory_mib'] > 85
    assert report['complexity']['HS-ResNet50 (16w_6s)']['params'] == pytest.approx(24.83e6,
                                                                                   rel=1e-3)
    assert report['environment']['device'] == 'cpu' and report['environment']['threads'] >= 1
    assert report['variants']['deploy'] == 'BN folded + channels_last'
    assert picture.stat().st_size > 0
    table = capsys.readouterr().out
    assert '| HS-ResNet50 (16w_6s) |' in table and '(1.00x, 100%)' in table
    assert 'Profile, HS-ResNet50 (16w_6s), deploy, 64x64' in table


def test_benchmark_rejects_bad_arguments():
    benchmark = load_tool('benchmark')
    with pytest.raises(SystemExit):
        benchmark.parse_args(['--sizes', '16'])
    with pytest.raises(SystemExit):
        benchmark.parse_args(['--models', 'VGG-16'])
    with pytest.raises(SystemExit):
        benchmark.parse_args(['--dtype', 'fp16'])
    with pytest.raises(SystemExit):
        benchmark.parse_args(['--variants', 'tensorrt'])
