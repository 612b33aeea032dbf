"""tools/benchmark.py runs end to end and writes the figures it promises (no timing asserted)."""
import json

import pytest
import torch

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


def test_gpu_preset_smoke_runs_on_cpu(tmp_path, capsys):
    """--preset gpu shrunk by --smoke runs on a CPU: its path is checked here, its figures on a
    GPU (tools/gpu_check.py); what needs CUDA is left out and noted."""
    out = tmp_path / 'bench.json'
    load_tool('benchmark').main(['--preset', 'gpu', '--smoke', '--device', 'cpu', '--settings',
                                 'paper', 'fp16', 'train_amp', '--out', str(out)])
    report = json.loads(out.read_text())
    assert report['preset'] == 'gpu' and report['smoke'] and report['complete']
    settings = {s['name']: s for s in report['settings']}
    assert list(settings) == ['paper', 'fp16', 'train_amp']
    assert all(s['status'] == 'done' for s in settings.values())
    paper = settings['paper']
    assert (paper['batch'], paper['dtype'], paper['sizes']) == (1, 'fp32', ['224x224'])
    assert paper['models'] == ['HS-ResNet50 (16w_6s)', 'ResNet-50']
    # cuda_graph needs CUDA: left out, and the JSON says so
    assert list(paper['inference']) == ['eager', 'channels_last', 'deploy']
    assert any('cuda_graph' in note for note in paper['notes'])
    fp16 = settings['fp16']
    assert fp16['dtype'] == 'bf16' and any('run as bf16' in note for note in fp16['notes'])
    assert fp16['batch'] == 2 and fp16['sizes'] == ['64x64', '64x96']
    train = settings['train_amp']['training']
    assert set(train) == {'plain', 'with_cp'}
    assert train['plain']['ResNet-50']['peak_memory_mib'] > 85
    # the Figure 1 comparison: the paper's T4 figures beside this run's, ratios to ResNet-50
    figure1 = report['figure1']
    assert figure1['HS-ResNet50 (16w_6s)']['paper'] == dict(ms=5.34, ratio=5.34 / 3.47)
    assert figure1['ResNet-50']['paper/deploy']['ratio'] == 1.0
    assert 'ResNeSt-50' in figure1 and 'paper/deploy' not in figure1['ResNeSt-50']
    table = capsys.readouterr().out
    assert '| HS-ResNet50 (16w_6s) | 5.34 (1.54x) |' in table
    assert '[paper] Inference, deploy' in table and '[train_amp] Training step' in table


def test_gpu_preset_time_budget_skips_and_says_so(tmp_path):
    out = tmp_path / 'bench.json'
    load_tool('benchmark').main(['--preset', 'gpu', '--smoke', '--device', 'cpu',
                                 '--time-budget', '0', '--out', str(out)])
    report = json.loads(out.read_text())
    assert report['complete']
    assert [s['name'] for s in report['settings']] == [
        'paper', 'fp16', 'bf16', 'train_amp', 'compile', 'compile_max_autotune']
    for setting in report['settings']:
        assert setting['status'] == 'skipped' and '--time-budget 0 s' in setting['reason']


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
    # CUDA-only choices say so on a CPU
    with pytest.raises(SystemExit):
        benchmark.parse_args(['--variants', 'cuda_graph'])
    with pytest.raises(SystemExit):
        benchmark.parse_args(['--train-dtype', 'fp16'])
    # the preset sets the settings: a second source is refused, not silently ignored
    with pytest.raises(SystemExit):
        benchmark.parse_args(['--preset', 'gpu', '--device', 'cpu', '--dtype', 'bf16'])
    with pytest.raises(SystemExit):
        benchmark.parse_args(['--preset', 'gpu', '--device', 'cpu', '--settings', 'tensorrt'])
    with pytest.raises(SystemExit):
        benchmark.parse_args(['--smoke'])
    with pytest.raises(SystemExit):
        benchmark.parse_args(['--preset', 'gpu', '--device', 'cpu', '--time-budget', '-1'])


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the message where CUDA is missing')
def test_gpu_preset_without_cuda_says_how_to_rehearse(capsys):
    with pytest.raises(SystemExit):
        load_tool('benchmark').parse_args(['--preset', 'gpu'])
    assert '--preset gpu --smoke --device cpu' in capsys.readouterr().err
