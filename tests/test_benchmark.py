"""tools/benchmark.py runs end to end and writes the figures it promises (no timing asserted)."""
import json

import pytest

from .conftest import load_tool


def test_benchmark_writes_json_table_and_plot(tmp_path, capsys):
    out, picture = tmp_path / 'bench.json', tmp_path / 'bench.png'
    load_tool('benchmark').main([
        '--models', 'HS-ResNet50 (16w_6s)', 'ResNet-50', '--sizes', '64', '256x64',
        '--repeats', '2', '--large-repeats', '1', '--warmup', '0', '--train-size', '64',
        '--train-repeats', '1', '--fuse-bn', '--out', str(out), '--plot', str(picture)])
    report = json.loads(out.read_text())
    assert set(report['inference']) == {'64x64', '256x64'}
    # --repeats for sizes up to 224, --large-repeats above
    for size, runs in (('64x64', 2), ('256x64', 1)):
        for name in ('HS-ResNet50 (16w_6s)', 'ResNet-50'):
            figures = report['inference'][size][name]
            assert figures['runs'] == runs
            assert 0 < figures['q1_ms'] <= figures['median_ms'] <= figures['q3_ms']
    assert set(report['training']) == {'plain', 'with_cp'}
    assert report['complexity']['HS-ResNet50 (16w_6s)']['params'] == pytest.approx(24.83e6,
                                                                                   rel=1e-3)
    assert report['environment']['device'] == 'cpu' and report['environment']['threads'] >= 1
    assert report['environment']['fuse_bn'] is True
    assert picture.stat().st_size > 0
    table = capsys.readouterr().out
    assert '| HS-ResNet50 (16w_6s) |' in table and '(1.00x)' in table


def test_benchmark_rejects_bad_arguments():
    benchmark = load_tool('benchmark')
    with pytest.raises(SystemExit):
        benchmark.parse_args(['--sizes', '16'])
    with pytest.raises(SystemExit):
        benchmark.parse_args(['--models', 'VGG-16'])
    with pytest.raises(SystemExit):
        benchmark.parse_args(['--dtype', 'fp16'])
