"""Latency of HS-ResNet beside mmdet's ResNet family, measured side by side in one process.

Every round times each model once, in turn ("interleaved"), so that machine noise (other jobs,
frequency changes) hits all models alike; the first rounds are warm-up and are not counted.
Reported per model: parameters and multiply-adds (mmengine's analysis, as tools/complexity.py),
inference latency at each size (median and interquartile range over rounds), a training step
(forward + backward, batch 2) with and without ``with_cp``, the ratios to ResNet-50, and on CUDA
the peak memory of the training step. Threads, device and versions are recorded.

Writes ``--out`` (JSON), prints a Markdown table, and with ``--plot`` draws latency against
multiply-adds (bubble area = parameters), the axes of the paper's Figure 1 that can be measured
without ImageNet.

Example:
    python tools/benchmark.py --out work_dirs/benchmark.json --plot work_dirs/benchmark.png
    python tools/benchmark.py --device cuda --dtype fp16 --batch 8 --sizes 224 800x1333
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

DEFAULT_MODELS = ('HS-ResNet50 (16w_6s)', 'HS-ResNet50 (28w_6s)', 'HS-ResNet101 (16w_6s)',
                  'ResNet-50', 'ResNet-50-D', 'Res2Net-50 (26w_4s)', 'ResNeSt-50')
DTYPES = {'fp32': torch.float32, 'fp16': torch.float16, 'bf16': torch.bfloat16}


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
    parser.add_argument('--fuse-bn', action='store_true',
                        help="fold BN into the convs for inference (mmcv's fuse_conv_bn)")
    parser.add_argument('--sizes', nargs='+', type=parse_size,
                        default=[(224, 224), (800, 1216), (512, 1024)],
                        help='inference input sizes, S or HxW')
    parser.add_argument('--repeats', type=int, default=15,
                        help='timed rounds at sizes up to 224x224')
    parser.add_argument('--large-repeats', type=int, default=5, help='timed rounds above 224')
    parser.add_argument('--warmup', type=int, default=2, help='untimed rounds first')
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
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope

    import hs_backbone  # noqa: F401  (registers HSResNet)
    init_default_scope('mmdet')
    model = MODELS.build(dict(BACKBONES[name], with_cp=with_cp))
    return model.to(device)


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


def inference(models, args):
    results = {}
    dtype = DTYPES[args.dtype]
    for size in args.sizes:
        x = torch.rand(args.batch, 3, *size, device=args.device)
        rounds = args.repeats if max(size) <= 224 else args.large_repeats

        @torch.inference_mode()
        def step(model, x=x):
            with torch.autocast(args.device, dtype=dtype, enabled=dtype != torch.float32):
                model(x)

        label = f'inference {size[0]}x{size[1]}'
        results[f'{size[0]}x{size[1]}'] = time_interleaved(models, step, rounds, args.warmup,
                                                          args.device, label)
    return results


def training(names, args):
    results = {}
    x = torch.rand(args.train_batch, 3, *args.train_size, device=args.device)
    for with_cp in (False, True):
        models = {}
        for name in names:
            model = build(name, args.device, with_cp=with_cp)
            model.train()  # mmdet's ResNet.train() returns None: no chaining
            models[name] = model
        peaks = {}

        def step(model):
            model.zero_grad(set_to_none=True)
            loss = sum(out.float().mean() for out in model(x))
            loss.backward()

        for name, model in models.items():
            if args.device == 'cuda':
                torch.cuda.reset_peak_memory_stats()
                step(model)
                peaks[name] = torch.cuda.max_memory_allocated() / 2**20
        timed = time_interleaved(models, step, args.train_repeats, 1, args.device,
                                 f'training step with_cp={with_cp}')
        for name in names:
            timed[name]['peak_memory_mib'] = peaks.get(name)
        results['with_cp' if with_cp else 'plain'] = timed
    return results


def environment(args):
    info = dict(device=args.device, dtype=args.dtype, fuse_bn=args.fuse_bn, torch=torch.__version__,
                threads=torch.get_num_threads(), python=platform.python_version(),
                platform=platform.platform())
    if args.device == 'cuda':
        info['gpu'] = torch.cuda.get_device_name()
    else:
        from demo import cpu_model
        info['cpu'] = cpu_model()
    return info


def print_table(report):
    names = list(report['complexity'])
    ref = 'ResNet-50' if 'ResNet-50' in names else names[0]
    sizes = list(report['inference'])
    header = ['backbone', 'params (M)', 'GMACs 224'] + [f'{s} ms (x {ref})' for s in sizes]
    if 'training' in report:
        header += ['train step ms (x)', 'with_cp ms']
    print('| ' + ' | '.join(header) + ' |')
    print('|' + '---|' * len(header))
    for name in names:
        c = report['complexity'][name]
        row = [name, f'{c["params"] / 1e6:.2f}', f'{c["macs"] / 1e9:.2f}']
        for size in sizes:
            t = report['inference'][size][name]['median_ms']
            row.append(f'{t:.1f} ({t / report["inference"][size][ref]["median_ms"]:.2f}x)')
        if 'training' in report:
            plain = report['training']['plain'][name]['median_ms']
            ref_plain = report['training']['plain'][ref]['median_ms']
            row += [f'{plain:.0f} ({plain / ref_plain:.2f}x)',
                    f'{report["training"]["with_cp"][name]["median_ms"]:.0f}']
        print('| ' + ' | '.join(row) + ' |')


def plot(report, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    size = next(iter(report['inference']))
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, c in report['complexity'].items():
        t = report['inference'][size][name]['median_ms']
        ax.scatter(c['macs'] / 1e9, t, s=c['params'] / 1e5, alpha=0.5)
        ax.annotate(name, (c['macs'] / 1e9, t), fontsize=7, ha='center', va='bottom')
    env = report['environment']
    device = env.get('gpu') or env.get('cpu') or env['device']
    ax.set_xlabel('GMACs at 224x224')
    ax.set_ylabel(f'latency at {size}, batch {report["batch"]} (ms)')
    ax.set_title(f'{device}, {env["dtype"]}, {env["threads"]} threads', fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None):
    args = parse_args(argv)
    names = list(dict.fromkeys(args.models))
    complexity = {r['model']: r for r in measure((224, 224), names)}
    models = {}
    for name in names:
        model = build(name, args.device)
        model.eval()
        if args.fuse_bn:
            from mmcv.cnn import fuse_conv_bn
            model = fuse_conv_bn(model)
        models[name] = model
    report = dict(environment=environment(args), batch=args.batch,
                  complexity={n: dict(params=complexity[n]['params'], macs=complexity[n]['macs'],
                                      conv_macs=complexity[n]['conv_macs']) for n in names},
                  inference=inference(models, args))
    del models
    if not args.no_train:
        report['training'] = training(names, args)
        report['training_setup'] = dict(batch=args.train_batch, size=args.train_size)
    print_table(report)
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(report, f, indent=2)
    if args.plot:
        plot(report, args.plot)


if __name__ == '__main__':
    main()
