"""Latency of HS-ResNet beside mmdet's ResNet family, measured side by side in one process.

Every round times each model once, in turn ("interleaved"), so that machine noise (other jobs,
frequency changes) hits all models alike; the first rounds are warm-up and are not counted.
Reported per model: parameters and multiply-adds (mmengine's analysis, as tools/complexity.py),
inference latency at each size (median and interquartile range over rounds) for each variant,
a training step (forward + backward, batch 2) with and without ``with_cp`` and its peak memory,
and the ratios to ResNet-50. Threads, device and versions are recorded.

Inference variants, all timed in the same rounds so that their figures compare:
``eager`` (the model as trained: NCHW, BN layers), ``fused`` (BN folded into the convs by
mmcv's ``fuse_conv_bn``), ``channels_last`` (NHWC weights and input), ``deploy`` (both), and
``compile`` (``torch.compile`` of ``deploy``; compilation, a minute or more per model on a small
CPU, happens before the warm-up and is reported apart). The default is ``deploy``, the graph an
inference engine runs; ``--variants eager deploy`` adds the model as trained (on 2 CPU cores the
default run takes about 7 minutes, with ``eager`` about 10).

Peak training memory: ``torch.cuda.max_memory_allocated`` on CUDA; on CPU, where PyTorch keeps no
allocator statistics, PyTorch's ``MemTracker`` (``torch.distributed._tools``), which follows
every tensor the step creates (parameters, gradients, activations, temporaries). It is measured
in the warm-up step, so its bookkeeping does not slow the timed steps.

``--profile`` records, per model and variant, the operators that take the time at the first size
(``torch.profiler``), the figures that explain a latency gap.

Writes ``--out`` (JSON), prints a Markdown table, and with ``--plot`` draws latency against
multiply-adds (bubble area = parameters), the axes of the paper's Figure 1 that can be measured
without ImageNet.

Example:
    python tools/benchmark.py --out work_dirs/benchmark.json --plot work_dirs/benchmark.png
    python tools/benchmark.py --device cuda --dtype fp16 --batch 8 --sizes 224 800x1333
    python tools/benchmark.py --models 'HS-ResNet50 (16w_6s)' ResNet-50 --variants eager \
        fused channels_last deploy --profile --no-train
"""
import argparse
import json
import os.path as osp
import platform
import statistics
import sys
import time

import torch

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from complexity import BACKBONES, measure  # noqa: E402
from complexity import build as build_backbone  # noqa: E402

DEFAULT_MODELS = ('HS-ResNet50 (16w_6s)', 'HS-ResNet50 (28w_6s)', 'HS-ResNet101 (16w_6s)',
                  'ResNet-50', 'ResNet-50-D', 'Res2Net-50 (26w_4s)', 'ResNeSt-50')
DTYPES = {'fp32': torch.float32, 'fp16': torch.float16, 'bf16': torch.bfloat16}
VARIANTS = {
    'eager': 'as trained (NCHW, BN layers)',
    'fused': 'BN folded into the convs',
    'channels_last': 'NHWC weights and input',
    'deploy': 'BN folded + channels_last',
    'compile': 'torch.compile of deploy',
}


def parse_size(text):
    parts = [int(p) for p in text.lower().split('x')]
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or min(parts) < 32:
        raise argparse.ArgumentTypeError(f'size must be S or HxW with sides >= 32, got {text!r}')
    return tuple(parts)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--models', nargs='+', default=list(DEFAULT_MODELS),
                        choices=list(BACKBONES), metavar='NAME',
                        help=f'backbones to compare (default: {", ".join(DEFAULT_MODELS)})')
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--dtype', default='fp32', choices=list(DTYPES),
                        help='inference precision (autocast for fp16/bf16)')
    parser.add_argument('--batch', type=int, default=1, help='inference batch size')
    parser.add_argument('--variants', nargs='+', default=['deploy'],
                        choices=list(VARIANTS), metavar='VARIANT',
                        help='inference variants, timed side by side: ' +
                        '; '.join(f'{k}: {v}' for k, v in VARIANTS.items()) +
                        ' (default: deploy; "eager deploy" doubles the inference time)')
    parser.add_argument('--profile', action='store_true',
                        help='record the slowest operators per model and variant')
    parser.add_argument('--sizes', nargs='+', type=parse_size,
                        default=[(224, 224), (800, 1216), (512, 1024)],
                        help='inference input sizes, S or HxW')
    parser.add_argument('--repeats', type=int, default=15,
                        help='timed rounds at sizes up to 224x224')
    parser.add_argument('--large-repeats', type=int, default=5, help='timed rounds above 224')
    parser.add_argument('--warmup', type=int, default=1, help='untimed rounds first')
    parser.add_argument('--train-size', type=parse_size, default=(512, 512))
    parser.add_argument('--train-batch', type=int, default=2)
    parser.add_argument('--train-repeats', type=int, default=3)
    parser.add_argument('--no-train', action='store_true', help='skip the training step')
    parser.add_argument('--out', help='JSON file for all figures')
    parser.add_argument('--plot', help='PNG: latency vs multiply-adds, bubble area = params')
    args = parser.parse_args(argv)
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: CUDA is not available here')
    if args.dtype == 'fp16' and args.device == 'cpu':
        parser.error('--dtype fp16 needs --device cuda (use bf16 on CPU)')
    for name in ('batch', 'repeats', 'large_repeats', 'train_batch', 'train_repeats'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1')
    return args


def build(name, device, with_cp=False):
    """Backbone ``name`` of tools/complexity.py on ``device``."""
    return build_backbone(name, with_cp=with_cp).to(device)


def sync(device):
    if device == 'cuda':
        torch.cuda.synchronize()


def summarize(times):
    ms = sorted(t * 1000 for t in times)
    q = statistics.quantiles(ms, n=4) if len(ms) > 1 else [ms[0]] * 3
    return dict(median_ms=statistics.median(ms), q1_ms=q[0], q3_ms=q[2], runs=len(ms))


def time_interleaved(models, step, rounds, warmup, device, label):
    """Run ``step(model)`` round-robin over ``models``; seconds per model, warm-up excluded."""
    times = {name: [] for name in models}
    for r in range(warmup + rounds):
        for name, model in models.items():
            sync(device)
            start = time.perf_counter()
            step(model)
            sync(device)
            if r >= warmup:
                times[name].append(time.perf_counter() - start)
        print(f'  {label}: round {r + 1}/{warmup + rounds}', file=sys.stderr, flush=True)
    return {name: summarize(t) for name, t in times.items()}


def prepare(name, variant, device):
    """An eval-mode model ready for ``variant``, and whether it wants NHWC input."""
    model = build(name, device)
    model.eval()
    if variant in ('fused', 'deploy', 'compile'):
        from mmcv.cnn import fuse_conv_bn
        model = fuse_conv_bn(model)
    channels_last = variant in ('channels_last', 'deploy', 'compile')
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if variant == 'compile':
        # Static shapes, compiled once per size; mmdet's ResNet family shares one forward, so the
        # default limit of recompilations would silently send later sizes back to eager.
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
        model = torch.compile(model, dynamic=False)
    return model, channels_last


def inference(names, args):
    """Latency per variant and size: {variant: {size: {name: figures}}}."""
    dtype = DTYPES[args.dtype]
    models = {(name, variant): prepare(name, variant, args.device)
              for variant in args.variants for name in names}
    results = {variant: {} for variant in args.variants}
    compile_s = {}
    for size in args.sizes:
        key = f'{size[0]}x{size[1]}'
        x = torch.rand(args.batch, 3, *size, device=args.device)
        x_nhwc = x.contiguous(memory_format=torch.channels_last)
        rounds = args.repeats if max(size) <= 224 else args.large_repeats

        @torch.inference_mode()
        def step(entry, x=x, x_nhwc=x_nhwc):
            model, channels_last = entry
            with torch.autocast(args.device, dtype=dtype, enabled=dtype != torch.float32):
                model(x_nhwc if channels_last else x)

        # every new input size compiles again: keep that out of the timed rounds
        for (name, variant), entry in models.items():
            if variant == 'compile':
                start = time.perf_counter()
                step(entry)
                compile_s.setdefault(name, {})[key] = time.perf_counter() - start
        timed = time_interleaved(models, step, rounds, args.warmup, args.device,
                                 f'inference {key}')
        for (name, variant), figures in timed.items():
            results[variant].setdefault(key, {})[name] = figures
    if args.profile:
        size = args.sizes[0]
        x = torch.rand(args.batch, 3, *size, device=args.device)
        for (name, variant), entry in models.items():
            results[variant][f'{size[0]}x{size[1]}'][name]['profile'] = profile_ops(
                entry, x, args.device, dtype)
    return results, compile_s


def profile_ops(entry, x, device, dtype=torch.float32, steps=3, top=12):
    """The operators taking the most time in one forward (ms per forward, self time)."""
    from torch.profiler import ProfilerActivity, profile
    model, channels_last = entry
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == 'cuda' else [])
    with torch.inference_mode(), torch.autocast(device, dtype=dtype,
                                                enabled=dtype != torch.float32):
        model(x)
        with profile(activities=activities) as prof:
            for _ in range(steps):
                model(x)
            sync(device)
    attr = 'self_device_time_total' if device == 'cuda' else 'self_cpu_time_total'
    ops = sorted(prof.key_averages(), key=lambda e: getattr(e, attr), reverse=True)[:top]
    return [dict(op=e.key, self_ms=getattr(e, attr) / 1000 / steps, calls=e.count // steps)
            for e in ops]


def peak_memory_mib(model, step, device):
    """Peak memory of one ``step(model)`` in MiB: its parameters, gradients, activations and
    temporaries, not those of other models alive at the same time."""
    if device == 'cuda':
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        step(model)
        params = sum(p.numel() * p.element_size() for p in model.parameters())
        peak = torch.cuda.max_memory_allocated() - before + params
        model.zero_grad(set_to_none=True)  # the next model's baseline holds no gradients
        return peak / 2**20
    try:
        from torch.distributed._tools.mem_tracker import MemTracker
    except ImportError:  # a torch without it: time the step, leave the memory unknown
        step(model)
        return None
    tracker = MemTracker()
    tracker.track_external(model)
    with tracker:
        step(model)
    return tracker.get_tracker_snapshot('peak')[torch.device('cpu')]['Total'] / 2**20


def training(names, args):
    results = {}
    x = torch.rand(args.train_batch, 3, *args.train_size, device=args.device)
    for with_cp in (False, True):
        models = {}
        for name in names:
            model = build(name, args.device, with_cp=with_cp)
            model.train()  # mmdet's ResNet.train() returns None: no chaining
            models[name] = model

        def step(model):
            model.zero_grad(set_to_none=True)
            loss = sum(out.float().mean() for out in model(x))
            loss.backward()

        # the memory step doubles as the warm-up
        peaks = {name: peak_memory_mib(model, step, args.device) for name, model in models.items()}
        timed = time_interleaved(models, step, args.train_repeats, 0, args.device,
                                 f'training step with_cp={with_cp}')
        for name in names:
            timed[name]['peak_memory_mib'] = peaks.get(name)
        results['with_cp' if with_cp else 'plain'] = timed
    return results


def environment(args):
    info = dict(device=args.device, dtype=args.dtype, torch=torch.__version__,
                threads=torch.get_num_threads(), python=platform.python_version(),
                platform=platform.platform())
    if args.device == 'cuda':
        info['gpu'] = torch.cuda.get_device_name()
    else:
        from demo import cpu_model
        info['cpu'] = cpu_model()
    return info


def reference(names):
    return 'ResNet-50' if 'ResNet-50' in names else names[0]


def print_table(report):
    """Markdown tables: inference per variant, then the training step."""
    names = list(report['complexity'])
    ref = reference(names)
    conv_macs = {n: c['conv_macs'] for n, c in report['complexity'].items()}
    for variant, by_size in report['inference'].items():
        sizes = list(by_size)
        print(f'\nInference, {variant} ({VARIANTS[variant]}): ms, ratio to {ref}, '
              f'multiply-adds per second relative to {ref}')
        header = ['backbone', 'params (M)', 'conv GMACs 224'] + sizes
        print('| ' + ' | '.join(header) + ' |')
        print('|' + '---|' * len(header))
        for name in names:
            c = report['complexity'][name]
            row = [name, f'{c["params"] / 1e6:.2f}', f'{c["conv_macs"] / 1e9:.2f}']
            for size in sizes:
                t = by_size[size][name]['median_ms']
                ratio = t / by_size[size][ref]['median_ms']
                efficiency = conv_macs[name] / conv_macs[ref] / ratio
                row.append(f'{t:.1f} ({ratio:.2f}x, {efficiency:.0%})')
            print('| ' + ' | '.join(row) + ' |')
    if 'training' not in report:
        return
    train = report['training']
    setup = report['training_setup']
    print(f'\nTraining step (forward + backward), batch {setup["batch"]}, '
          f'{setup["size"][0]}x{setup["size"][1]}: ms and peak memory')
    header = ['backbone', f'step ms (x {ref})', 'with_cp ms (x plain)', 'peak MiB',
              'with_cp peak MiB (% of plain)']
    print('| ' + ' | '.join(header) + ' |')
    print('|' + '---|' * len(header))
    for name in names:
        plain, cp = train['plain'][name], train['with_cp'][name]
        ref_ms = train['plain'][ref]['median_ms']
        row = [name, f'{plain["median_ms"]:.0f} ({plain["median_ms"] / ref_ms:.2f}x)',
               f'{cp["median_ms"]:.0f} ({cp["median_ms"] / plain["median_ms"]:.2f}x)']
        if plain['peak_memory_mib'] and cp['peak_memory_mib']:
            row += [f'{plain["peak_memory_mib"]:.0f}',
                    f'{cp["peak_memory_mib"]:.0f} '
                    f'({cp["peak_memory_mib"] / plain["peak_memory_mib"]:.0%})']
        else:
            row += ['n/a', 'n/a']
        print('| ' + ' | '.join(row) + ' |')


def print_profiles(report):
    for variant, by_size in report['inference'].items():
        for size, by_name in by_size.items():
            for name, figures in by_name.items():
                if 'profile' not in figures:
                    continue
                print(f'\nProfile, {name}, {variant}, {size} (ms per forward, self time):')
                for op in figures['profile']:
                    print(f'  {op["op"]:<40} {op["self_ms"]:9.2f} ms  {op["calls"]:5d} calls')


def plot(report, path):
    """Latency at the first size vs multiply-adds: colour = model, marker = variant."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    fig, ax = plt.subplots(figsize=(7, 4.5))
    markers = dict(zip(VARIANTS, 'os^Dv', strict=True))
    colours = {name: plt.get_cmap('tab10')(i % 10) for i, name in enumerate(report['complexity'])}
    size = next(iter(next(iter(report['inference'].values()))))
    for variant, by_size in report['inference'].items():
        for name, c in report['complexity'].items():
            ax.scatter(c['conv_macs'] / 1e9, by_size[size][name]['median_ms'],
                       s=c['params'] / 1e5, alpha=0.6, color=colours[name],
                       marker=markers[variant], edgecolors='black', linewidths=0.5)
    handles = [Line2D([], [], marker='o', ls='', color=colour, label=name)
               for name, colour in colours.items()]
    handles += [Line2D([], [], marker=markers[v], ls='', color='grey', label=v)
                for v in report['inference']]
    ax.legend(handles=handles, fontsize=7, loc='upper left', bbox_to_anchor=(1.01, 1))
    env = report['environment']
    device = env.get('gpu') or env.get('cpu') or env['device']
    ax.set_xlabel('conv GMACs at 224x224 (bubble area: parameters)')
    ax.set_ylabel(f'latency at {size}, batch {report["batch"]} (ms)')
    ax.set_title(f'{device}, {env["dtype"]}, {env["threads"]} threads, torch {env["torch"]}',
                 fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None):
    args = parse_args(argv)
    names = list(dict.fromkeys(args.models))
    start = time.perf_counter()
    complexity = {r['model']: r for r in measure((224, 224), names)}
    report = dict(environment=environment(args), batch=args.batch,
                  complexity={n: dict(params=complexity[n]['params'], macs=complexity[n]['macs'],
                                      conv_macs=complexity[n]['conv_macs']) for n in names},
                  variants={v: VARIANTS[v] for v in args.variants})
    report['inference'], compile_s = inference(names, args)
    if compile_s:
        report['compile_seconds'] = compile_s
    inference_done = time.perf_counter()
    if not args.no_train:
        report['training'] = training(names, args)
        report['training_setup'] = dict(batch=args.train_batch, size=args.train_size)
    report['wall_seconds'] = time.perf_counter() - start
    report['phase_seconds'] = dict(complexity_and_inference=inference_done - start,
                                   training=time.perf_counter() - inference_done)
    print_table(report)
    if args.profile:
        print_profiles(report)
    print(f'\n{report["environment"].get("gpu") or report["environment"].get("cpu")}, '
          f'{report["environment"]["threads"]} threads; {report["wall_seconds"]:.0f} s in all')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(report, f, indent=2)
    if args.plot:
        plot(report, args.plot)
    return report


if __name__ == '__main__':
    main()
