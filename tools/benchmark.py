"""Latency of HS-ResNet beside mmdet's ResNet family, measured side by side in one process.

Every round times each model once, in turn ("interleaved"), so that machine noise (other jobs,
frequency changes) hits all models alike; the first rounds are warm-up and are not counted.
Reported per model: parameters and multiply-adds (mmengine's analysis, as tools/complexity.py),
inference latency at each size (median and interquartile range over rounds) for each variant,
a training step (forward + backward, batch 2) with and without ``with_cp`` and its peak memory,
and the ratios to ResNet-50. Threads, device and versions are recorded.

Inference variants, all timed in the same rounds so that their figures compare:
``eager`` (the model as trained: NCHW, BN layers), ``fused`` (BN folded into the convs by
mmcv's ``fuse_conv_bn``), ``channels_last`` (NHWC weights and input), ``deploy`` (both),
``compile`` (``torch.compile`` of ``deploy``; compilation, a minute or more per model on a small
CPU, happens before the warm-up and is reported apart, as ``first_call_seconds``),
``compile_max_autotune`` (the same with ``mode='max-autotune'``: autotuned kernels and, on a GPU,
CUDA graphs; minutes per model) and, on CUDA only, ``cuda_graph`` (``deploy`` captured once per
input size into a CUDA graph and replayed: one launch per forward instead of one per operator,
no compiler). The default is ``deploy``, the graph an inference engine runs; ``--variants eager
deploy`` adds the model as trained (on 2 CPU cores the default run takes about 7 minutes, with
``eager`` about 10).

On CUDA, time is measured with CUDA events around ``--steps-per-round`` forwards (a batch-1
forward takes milliseconds: one per round would measure the timer), ``cudnn.benchmark`` is on
and ``--no-tf32`` makes FP32 convolutions and matmuls strict FP32 (PyTorch's default lets cuDNN
use TF32 on Ampere and later).

``--preset gpu`` runs, in one process, the GPU settings one command should cover (see
``PRESETS``): the paper's Figure 1 setting (batch 1, FP32 without TF32, 224x224; the paper
reports NVIDIA T4 + TensorRT: HS-ResNet50 5.34 ms, 1.54x ResNet-50's 3.47 ms, ResNeSt-50
6.16 ms), batch 8 in FP16 and BF16 at 224x224 and 800x1333, the AMP (FP16) training step at
batch 2, 800x1333 with peak memory, then ``torch.compile`` (default and max-autotune) in the
Figure 1 setting. Each setting is timed on its own, its models interleaved; the JSON is written
after every setting, ``--time-budget`` skips the settings that would start after it, and
``--settings`` picks some. ``--smoke`` shrinks every setting (two models, batch 2 at most, one
round, inputs of 64-96 pixels except batch 1 at 224x224) to check the whole path quickly,
on a CPU too (``--device cpu``: ``cuda_graph`` is left out and FP16 runs as BF16, both noted in
the JSON).

Peak training memory: ``torch.cuda.max_memory_allocated`` on CUDA (after one untimed step, so
that cuDNN's algorithm search is not counted); on CPU, where PyTorch keeps no allocator
statistics, PyTorch's ``MemTracker`` (``torch.distributed._tools``), which follows every tensor
the step creates (parameters, gradients, activations, temporaries). It is measured in the
warm-up step, so its bookkeeping does not slow the timed steps.

``--profile`` records, per model and variant, the operators that take the time at the first size
(``torch.profiler``), the figures that explain a latency gap.

Writes ``--out`` (JSON), prints a Markdown table, and with ``--plot`` draws latency against
multiply-adds (bubble area = parameters), the axes of the paper's Figure 1 that can be measured
without ImageNet.

Example:
    python tools/benchmark.py --out work_dirs/benchmark.json --plot work_dirs/benchmark.png
    python tools/benchmark.py --models 'HS-ResNet50 (16w_6s)' ResNet-50 --variants eager \
        fused channels_last deploy --profile --no-train
    python tools/benchmark.py --preset gpu --out bench.json --plot bench.png  # on a GPU
    python tools/benchmark.py --preset gpu --smoke --device cpu               # rehearsal
"""
import argparse
import copy
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
    'compile_max_autotune': 'torch.compile of deploy, mode max-autotune',
    'cuda_graph': 'deploy replayed from a CUDA graph',
}
CUDA_ONLY_VARIANTS = ('cuda_graph', )
# variants whose first call per input size compiles or captures: done before the timed rounds
FIRST_CALL_VARIANTS = ('compile', 'compile_max_autotune', 'cuda_graph')

FIGURE1_MODELS = ('HS-ResNet50 (16w_6s)', 'ResNet-50', 'ResNeSt-50')
PAPER_FIGURE1 = dict(
    source='HS-ResNet paper, Figure 1',
    setting='NVIDIA T4, TensorRT, FP32, batch 1, 224x224',
    ms={'HS-ResNet50 (16w_6s)': 5.34, 'ResNet-50': 3.47, 'ResNeSt-50': 6.16})
GPU_INFERENCE_VARIANTS = ['eager', 'channels_last', 'deploy', 'cuda_graph']
# Settings of --preset, run in this order (the most wanted first: --time-budget drops the tail).
# repeats/steps: timed rounds and forwards per round at sizes up to 224; large_*: above 224.
PRESETS = {
    'gpu': dict(
        device='cuda',
        settings=[
            dict(name='paper', kind='inference', dtype='fp32', tf32=False, batch=1,
                 sizes=[(224, 224)], variants=GPU_INFERENCE_VARIANTS,
                 repeats=20, large_repeats=5, steps=10, large_steps=2, warmup=2,
                 title='Figure 1 setting: batch 1, FP32 (no TF32), 224x224'),
            dict(name='fp16', kind='inference', dtype='fp16', tf32=None, batch=8,
                 sizes=[(224, 224), (800, 1333)], variants=GPU_INFERENCE_VARIANTS,
                 repeats=10, large_repeats=5, steps=5, large_steps=2, warmup=1,
                 title='batch 8, FP16 autocast, 224x224 and 800x1333'),
            dict(name='bf16', kind='inference', dtype='bf16', tf32=None, batch=8,
                 sizes=[(224, 224), (800, 1333)], variants=GPU_INFERENCE_VARIANTS,
                 repeats=10, large_repeats=5, steps=5, large_steps=2, warmup=1,
                 title='batch 8, BF16 autocast, 224x224 and 800x1333'),
            dict(name='train_amp', kind='train', dtype='fp16', tf32=None, batch=2,
                 size=(800, 1333), repeats=5, with_cp=(False, True),
                 title='training step, AMP (FP16 autocast + loss scaling), batch 2, 800x1333'),
            dict(name='compile', kind='inference', dtype='fp32', tf32=False, batch=1,
                 sizes=[(224, 224)], variants=['deploy', 'cuda_graph', 'compile'],
                 models=FIGURE1_MODELS, repeats=20, large_repeats=5, steps=10, large_steps=2,
                 warmup=2, title='Figure 1 setting, torch.compile (default mode)'),
            dict(name='compile_max_autotune', kind='inference', dtype='fp32', tf32=False,
                 batch=1, sizes=[(224, 224)], variants=['deploy', 'compile_max_autotune'],
                 models=FIGURE1_MODELS[:2], repeats=20, large_repeats=5, steps=10,
                 large_steps=2, warmup=2,
                 title='Figure 1 setting, torch.compile max-autotune (closest to TensorRT)'),
        ]),
}
SMOKE_MODELS = ('HS-ResNet50 (16w_6s)', 'ResNet-50')
# What a run without --preset uses; with --preset these come from the preset.
CLI_DEFAULTS = dict(dtype='fp32', batch=1, variants=['deploy'],
                    sizes=[(224, 224), (800, 1216), (512, 1024)], repeats=15, large_repeats=5,
                    warmup=1, steps_per_round=1, train_size=(512, 512), train_batch=2,
                    train_repeats=3, train_dtype='fp32')


def parse_size(text):
    parts = [int(p) for p in text.lower().split('x')]
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or min(parts) < 32:
        raise argparse.ArgumentTypeError(f'size must be S or HxW with sides >= 32, got {text!r}')
    return tuple(parts)


def size_key(size):
    return f'{size[0]}x{size[1]}'


def parse_args(argv=None):
    d = CLI_DEFAULTS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--models', nargs='+', default=list(DEFAULT_MODELS),
                        choices=list(BACKBONES), metavar='NAME',
                        help=f'backbones to compare (default: {", ".join(DEFAULT_MODELS)}); '
                        'with --preset, restricts the preset\'s models')
    parser.add_argument('--preset', choices=list(PRESETS),
                        help='run the preset\'s settings one after the other (gpu: the paper '
                        'setting, FP16/BF16 batch 8, the AMP training step, torch.compile); it '
                        'sets dtype, batch, sizes, variants, rounds and the training step')
    parser.add_argument('--settings', nargs='+', metavar='NAME',
                        help='with --preset: only these of its settings (gpu: ' +
                        ', '.join(s['name'] for s in PRESETS['gpu']['settings']) + ')')
    parser.add_argument('--smoke', action='store_true',
                        help='with --preset: two models, small inputs, one round, to check the '
                        'whole path quickly (on a CPU with --device cpu)')
    parser.add_argument('--time-budget', type=float, metavar='SECONDS',
                        help='start no setting after this many seconds (it is skipped and '
                        'recorded as such); the JSON is written after every setting')
    parser.add_argument('--device', choices=['cpu', 'cuda'],
                        help='default: cpu, or the preset\'s device')
    parser.add_argument('--dtype', choices=list(DTYPES),
                        help=f'inference precision (autocast for fp16/bf16; default {d["dtype"]})')
    parser.add_argument('--tf32', action=argparse.BooleanOptionalAction,
                        help='CUDA: let FP32 convolutions and matmuls use TF32 (--no-tf32: '
                        'strict FP32); default: PyTorch\'s own setting')
    parser.add_argument('--batch', type=int, help=f'inference batch size (default {d["batch"]})')
    parser.add_argument('--variants', nargs='+', choices=list(VARIANTS), metavar='VARIANT',
                        help='inference variants, timed side by side: ' +
                        '; '.join(f'{k}: {v}' for k, v in VARIANTS.items()) +
                        ' (default: deploy; "eager deploy" doubles the inference time)')
    parser.add_argument('--profile', action='store_true',
                        help='record the slowest operators per model and variant')
    parser.add_argument('--sizes', nargs='+', type=parse_size,
                        help='inference input sizes, S or HxW (default: 224 800x1216 512x1024)')
    parser.add_argument('--repeats', type=int,
                        help=f'timed rounds at sizes up to 224x224 (default {d["repeats"]})')
    parser.add_argument('--large-repeats', type=int,
                        help=f'timed rounds above 224 (default {d["large_repeats"]})')
    parser.add_argument('--warmup', type=int, help=f'untimed rounds first (default {d["warmup"]})')
    parser.add_argument('--steps-per-round', type=int,
                        help='forwards timed together per round, the time reported per forward '
                        f'(default {d["steps_per_round"]})')
    parser.add_argument('--train-size', type=parse_size, help='default: 512')
    parser.add_argument('--train-batch', type=int, help=f'default {d["train_batch"]}')
    parser.add_argument('--train-repeats', type=int, help=f'default {d["train_repeats"]}')
    parser.add_argument('--train-dtype', choices=list(DTYPES),
                        help='training step precision: fp16/bf16 autocast, with loss scaling '
                        f'for fp16, as mmengine\'s AmpOptimWrapper (default {d["train_dtype"]})')
    parser.add_argument('--no-train', action='store_true', help='skip the training step')
    parser.add_argument('--out', help='JSON file for all figures')
    parser.add_argument('--plot', help='PNG: latency vs multiply-adds, bubble area = params')
    args = parser.parse_args(argv)

    given = [k for k in CLI_DEFAULTS if getattr(args, k) is not None]
    if args.preset:
        if given:
            parser.error(f'--preset {args.preset} sets ' +
                         ', '.join('--' + k.replace('_', '-') for k in given) +
                         ': leave them out (--settings, --models, --smoke choose what runs)')
        known = [s['name'] for s in PRESETS[args.preset]['settings']]
        unknown = [s for s in args.settings or () if s not in known]
        if unknown:
            parser.error(f'--settings: {", ".join(unknown)} not in preset {args.preset} '
                         f'({", ".join(known)})')
        if args.device is None:
            args.device = PRESETS[args.preset]['device']
    else:
        if args.settings or args.smoke:
            parser.error('--settings and --smoke go with --preset')
        for key, value in CLI_DEFAULTS.items():
            if getattr(args, key) is None:
                setattr(args, key, copy.deepcopy(value))
        args.device = args.device or 'cpu'
    if args.device == 'cuda' and not torch.cuda.is_available():
        hint = ' (rehearse on a CPU: --preset gpu --smoke --device cpu)' if args.preset else ''
        parser.error(f'--device cuda: CUDA is not available here{hint}')
    if not args.preset:
        if args.device == 'cpu':
            if args.dtype == 'fp16' or args.train_dtype == 'fp16':
                parser.error('fp16 needs --device cuda (use bf16 on CPU)')
            cuda_only = [v for v in args.variants if v in CUDA_ONLY_VARIANTS]
            if cuda_only:
                parser.error(f'--variants {" ".join(cuda_only)} needs --device cuda')
        for name in ('batch', 'repeats', 'large_repeats', 'train_batch', 'train_repeats',
                     'steps_per_round'):
            if getattr(args, name) < 1:
                parser.error(f'--{name.replace("_", "-")} must be >= 1')
        if args.warmup < 0:
            parser.error('--warmup must be >= 0')
    if args.time_budget is not None and args.time_budget < 0:
        parser.error('--time-budget must be >= 0')
    return args


def cli_settings(args):
    """The settings of a run without --preset: one inference setting, one training step."""
    settings = [dict(name='inference', kind='inference', dtype=args.dtype, tf32=args.tf32,
                     batch=args.batch, sizes=args.sizes, variants=args.variants,
                     repeats=args.repeats, large_repeats=args.large_repeats,
                     steps=args.steps_per_round, large_steps=args.steps_per_round,
                     warmup=args.warmup, models=list(args.models))]
    if not args.no_train:
        settings.append(dict(name='train', kind='train', dtype=args.train_dtype, tf32=args.tf32,
                             batch=args.train_batch, size=args.train_size,
                             repeats=args.train_repeats, with_cp=(False, True),
                             models=list(args.models)))
    return settings


def preset_settings(args):
    """The preset's settings as this run will use them: chosen, shrunk, fitted to the device."""
    settings = []
    for preset in PRESETS[args.preset]['settings']:
        if args.settings and preset['name'] not in args.settings:
            continue
        if args.no_train and preset['kind'] == 'train':
            continue
        s = copy.deepcopy(preset)
        s['models'] = [m for m in s.get('models') or DEFAULT_MODELS if m in args.models]
        s['notes'] = []
        if args.smoke:
            s['models'] = [m for m in s['models'] if m in SMOKE_MODELS] or s['models'][:2]
            if s['kind'] == 'inference':
                # batch 1 keeps 224x224 (the Figure 1 comparison is made there), all else shrinks
                s['sizes'] = list(dict.fromkeys(
                    size if max(size) <= 224 and s['batch'] == 1
                    else (64, 64) if max(size) <= 224 else (64, 96) for size in s['sizes']))
                s.update(batch=min(s['batch'], 2), repeats=1, large_repeats=1, steps=1,
                         large_steps=1, warmup=0)
            else:
                s.update(size=(64, 64), batch=2, repeats=1)
            s['notes'].append('--smoke: shrunk to check the path, not a measurement')
            s['title'] = s.get('title', s['name']) + ' [shrunk by --smoke]'
        if args.device == 'cpu':
            if s['kind'] == 'inference' and set(s['variants']) & set(CUDA_ONLY_VARIANTS):
                s['variants'] = [v for v in s['variants'] if v not in CUDA_ONLY_VARIANTS]
                s['notes'].append(f'{", ".join(CUDA_ONLY_VARIANTS)}: needs CUDA, left out')
            if s['dtype'] == 'fp16':
                s['dtype'] = 'bf16'
                s['notes'].append('fp16 needs CUDA here: run as bf16')
            s['tf32'] = None
        settings.append(s)
    if args.profile:
        for s in settings:
            s['profile'] = s['kind'] == 'inference'
    return settings


def build(name, device, with_cp=False):
    """Backbone ``name`` of tools/complexity.py on ``device``."""
    return build_backbone(name, with_cp=with_cp).to(device)


def sync(device):
    if device == 'cuda':
        torch.cuda.synchronize()


def set_tf32(enabled):
    """Let FP32 convolutions and matmuls on CUDA use TF32 (True), or not (False); None leaves
    the current setting. Returns the setting in force, for the record."""
    if not hasattr(torch.backends.cudnn, 'conv'):  # torch < 2.9: the older switches
        if enabled is not None:
            torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = enabled
        return dict(conv='tf32' if torch.backends.cudnn.allow_tf32 else 'ieee',
                    matmul='tf32' if torch.backends.cuda.matmul.allow_tf32 else 'ieee')
    conv, matmul = torch.backends.cudnn.conv, torch.backends.cuda.matmul
    if enabled is not None:
        conv.fp32_precision = matmul.fp32_precision = 'tf32' if enabled else 'ieee'
    return dict(conv=conv.fp32_precision, matmul=matmul.fp32_precision)


def summarize(times):
    ms = sorted(t * 1000 for t in times)
    # 'inclusive': quartiles within the data ('exclusive', the default, extrapolates from few
    # runs, below zero when one of two runs is an outlier)
    q = statistics.quantiles(ms, n=4, method='inclusive') if len(ms) > 1 else [ms[0]] * 3
    return dict(median_ms=statistics.median(ms), q1_ms=q[0], q3_ms=q[2], runs=len(ms))


def time_interleaved(models, step, rounds, warmup, device, label, steps=1):
    """Run ``step(model)`` round-robin over ``models``, ``steps`` times each per round; seconds
    per step and model, warm-up rounds excluded. CUDA: timed with events."""
    times = {name: [] for name in models}
    if device == 'cuda':
        start_event = torch.cuda.Event(enable_timing=True)
        end_event = torch.cuda.Event(enable_timing=True)
    for r in range(warmup + rounds):
        for name, model in models.items():
            sync(device)
            if device == 'cuda':
                start_event.record()
                for _ in range(steps):
                    step(model)
                end_event.record()
                end_event.synchronize()
                seconds = start_event.elapsed_time(end_event) / 1000
            else:
                start = time.perf_counter()
                for _ in range(steps):
                    step(model)
                seconds = time.perf_counter() - start
            if r >= warmup:
                times[name].append(seconds / steps)
        print(f'  {label}: round {r + 1}/{warmup + rounds}', file=sys.stderr, flush=True)
    return {name: summarize(t) for name, t in times.items()}


class CudaGraphed:
    """Replays ``model`` from a CUDA graph, one per input shape, captured at its first call.

    Inference only: the outputs are the graph's own buffers, overwritten by the next call.
    Autocast's weight cache must be off around the calls (``cache_enabled=False``), or the
    graph would keep reading cast weights that autocast frees.
    """

    def __init__(self, model, warmup=3):
        self.model, self.warmup, self.graphs = model, warmup, {}

    def __call__(self, x):
        key = (tuple(x.shape), x.stride(), x.dtype, torch.is_autocast_enabled('cuda'),
               torch.get_autocast_dtype('cuda'))
        if key not in self.graphs:
            self.graphs[key] = self.capture(x)
        graph, static_input, static_output = self.graphs[key]
        static_input.copy_(x)
        graph.replay()
        return static_output

    def capture(self, x):
        static_input = x.clone()  # keeps x's memory format
        # warm-up on a side stream (cuDNN's algorithm search, lazy initializations), then record
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(self.warmup):
                self.model(static_input)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_output = self.model(static_input)
        return graph, static_input, static_output

    def release(self):
        """Free the captured graphs and their memory pools."""
        self.graphs.clear()


def prepare(name, variant, device):
    """An eval-mode model ready for ``variant``, and whether it wants NHWC input."""
    model = build(name, device)
    model.eval()
    if variant in ('fused', 'deploy') + FIRST_CALL_VARIANTS:
        from mmcv.cnn import fuse_conv_bn
        model = fuse_conv_bn(model)
    channels_last = variant in ('channels_last', 'deploy') + FIRST_CALL_VARIANTS
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if variant in ('compile', 'compile_max_autotune'):
        # Static shapes, compiled once per size; mmdet's ResNet family shares one forward, so the
        # default limit of recompilations would silently send later sizes back to eager.
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
        mode = 'max-autotune' if variant == 'compile_max_autotune' else None
        model = torch.compile(model, dynamic=False, mode=mode)
    elif variant == 'cuda_graph':
        model = CudaGraphed(model)
    return model, channels_last


def inference(setting, device):
    """Latency per variant and size ({variant: {size: {name: figures}}}) and the seconds of
    each first call that compiles or captures ({variant: {name: {size: seconds}}})."""
    dtype = DTYPES[setting['dtype']]
    models = {(name, variant): prepare(name, variant, device)
              for variant in setting['variants'] for name in setting['models']}
    results = {variant: {} for variant in setting['variants']}
    first_call = {}
    for size in setting['sizes']:
        key = size_key(size)
        x = torch.rand(setting['batch'], 3, *size, device=device)
        x_nhwc = x.contiguous(memory_format=torch.channels_last)
        large = max(size) > 224
        rounds = setting['large_repeats'] if large else setting['repeats']
        steps = setting['large_steps'] if large else setting['steps']

        @torch.inference_mode()
        def step(entry, x=x, x_nhwc=x_nhwc):
            model, channels_last = entry
            # no autocast weight cache: a CUDA graph must not keep cast weights autocast frees
            with torch.autocast(device, dtype=dtype, enabled=dtype != torch.float32,
                                cache_enabled=False):
                model(x_nhwc if channels_last else x)

        # every new input size compiles (or captures) again: keep that out of the timed rounds
        for (name, variant), entry in models.items():
            if variant in FIRST_CALL_VARIANTS:
                sync(device)
                start = time.perf_counter()
                step(entry)
                sync(device)
                first_call.setdefault(variant, {}).setdefault(name, {})[key] = (
                    time.perf_counter() - start)
        timed = time_interleaved(models, step, rounds, setting['warmup'], device,
                                 f'{setting["name"]} {key}', steps)
        for (name, variant), figures in timed.items():
            results[variant].setdefault(key, {})[name] = figures
        for model, _ in models.values():
            if isinstance(model, CudaGraphed):
                model.release()
    if setting.get('profile'):
        size = setting['sizes'][0]
        x = torch.rand(setting['batch'], 3, *size, device=device)
        for (name, variant), entry in models.items():
            results[variant][size_key(size)][name]['profile'] = profile_ops(
                entry, x, device, dtype)
    return results, first_call


def profile_ops(entry, x, device, dtype=torch.float32, steps=3, top=12):
    """The operators taking the most time in one forward (ms per forward, self time)."""
    from torch.profiler import ProfilerActivity, profile
    model, channels_last = entry
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == 'cuda' else [])
    with torch.inference_mode(), torch.autocast(device, dtype=dtype,
                                                enabled=dtype != torch.float32,
                                                cache_enabled=False):
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
        step(model)  # cuDNN's algorithm search allocates workspaces a later step does not need
        model.zero_grad(set_to_none=True)
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


def training(setting, device):
    """Forward + backward of each model, with and without ``with_cp``: time and peak memory."""
    dtype = DTYPES[setting['dtype']]
    # fp16 needs loss scaling (mmengine's AmpOptimWrapper, --amp); bf16 and fp32 do not
    scaler = torch.amp.GradScaler(device) if dtype == torch.float16 else None
    x = torch.rand(setting['batch'], 3, *setting['size'], device=device)
    results = {}
    for with_cp in setting['with_cp']:
        models = {}
        for name in setting['models']:
            model = build(name, device, with_cp=with_cp)
            model.train()  # mmdet's ResNet.train() returns None: no chaining
            models[name] = model

        def step(model):
            model.zero_grad(set_to_none=True)
            with torch.autocast(device, dtype=dtype, enabled=dtype != torch.float32):
                loss = sum(out.float().mean() for out in model(x))
            (scaler.scale(loss) if scaler is not None else loss).backward()

        # the memory step doubles as the warm-up
        peaks = {name: peak_memory_mib(model, step, device) for name, model in models.items()}
        timed = time_interleaved(models, step, setting['repeats'], 0, device,
                                 f'{setting["name"]} with_cp={with_cp}')
        for name in setting['models']:
            timed[name]['peak_memory_mib'] = peaks.get(name)
        results['with_cp' if with_cp else 'plain'] = timed
        del models
        if device == 'cuda':
            torch.cuda.empty_cache()
    return results


def environment(device):
    info = dict(device=device, torch=torch.__version__, threads=torch.get_num_threads(),
                python=platform.python_version(), platform=platform.platform())
    if device == 'cuda':
        props = torch.cuda.get_device_properties(0)
        info.update(gpu=torch.cuda.get_device_name(),
                    capability='.'.join(map(str, torch.cuda.get_device_capability())),
                    gpu_memory_gib=round(props.total_memory / 2**30, 1),
                    cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(),
                    cudnn_benchmark=torch.backends.cudnn.benchmark)
    else:
        from demo import cpu_model
        info['cpu'] = cpu_model()
    return info


def reference(names):
    return 'ResNet-50' if 'ResNet-50' in names else names[0]


def print_inference(complexity, by_variant, heading=''):
    """Markdown tables of one inference setting, one per variant."""
    for variant, by_size in by_variant.items():
        sizes = list(by_size)
        if not sizes:
            continue
        names = [n for n in complexity if n in by_size[sizes[0]]]
        ref = reference(names)
        print(f'\n{heading}Inference, {variant} ({VARIANTS[variant]}): ms, ratio to {ref}, '
              f'multiply-adds per second relative to {ref}')
        header = ['backbone', 'params (M)', 'conv GMACs 224'] + sizes
        print('| ' + ' | '.join(header) + ' |')
        print('|' + '---|' * len(header))
        for name in names:
            c = complexity[name]
            row = [name, f'{c["params"] / 1e6:.2f}', f'{c["conv_macs"] / 1e9:.2f}']
            for size in sizes:
                t = by_size[size][name]['median_ms']
                ratio = t / by_size[size][ref]['median_ms']
                efficiency = c['conv_macs'] / complexity[ref]['conv_macs'] / ratio
                row.append(f'{t:.1f} ({ratio:.2f}x, {efficiency:.0%})')
            print('| ' + ' | '.join(row) + ' |')


def print_training(train, setup, heading=''):
    names = list(train['plain'] if 'plain' in train else train['with_cp'])
    ref = reference(names)
    dtype = setup.get('dtype', 'fp32')
    amp = f', AMP {dtype}' if dtype != 'fp32' else ''
    print(f'\n{heading}Training step (forward + backward{amp}), batch {setup["batch"]}, '
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


def print_table(report):
    """Markdown tables of a run without --preset: inference per variant, then training."""
    print_inference(report['complexity'], report['inference'])
    if 'training' in report:
        print_training(report['training'], report['training_setup'])


def figure1(report):
    """The paper's Figure 1 figures beside ours: {model: {column: {ms, ratio}}}, columns
    'paper' then '<setting>/<variant>' for the variants of the finished batch-1 FP32 224x224
    settings (ratios to ResNet-50 timed in the same rounds)."""
    rows = {name: dict(paper=dict(ms=ms, ratio=ms / PAPER_FIGURE1['ms']['ResNet-50']))
            for name, ms in PAPER_FIGURE1['ms'].items()}
    shown = set()  # a variant timed in several settings is shown from the first
    for s in report.get('settings', []):
        if (s['kind'] != 'inference' or s.get('status') != 'done' or s['batch'] != 1
                or s['dtype'] != 'fp32' or '224x224' not in s['sizes']):
            continue
        for variant, by_size in s['inference'].items():
            if variant in shown:
                continue
            shown.add(variant)
            figures = by_size['224x224']
            ref = figures.get('ResNet-50')
            for name in rows:
                if name in figures:
                    ms = figures[name]['median_ms']
                    rows[name][f'{s["name"]}/{variant}'] = dict(
                        ms=ms, ratio=ms / ref['median_ms'] if ref else None)
    return rows


def print_figure1(rows):
    columns = list(dict.fromkeys(c for row in rows.values() for c in row))
    if len(columns) < 2:
        return
    print(f'\nFigure 1 comparison, batch 1, FP32, 224x224: ms (x ResNet-50); paper: '
          f'{PAPER_FIGURE1["setting"]}')
    print('| backbone | ' + ' | '.join(columns) + ' |')
    print('|' + '---|' * (len(columns) + 1))
    for name, row in rows.items():
        cells = []
        for column in columns:
            cell = row.get(column)
            if cell is None:
                cells.append('-')
            else:
                ratio = '' if cell['ratio'] is None else f' ({cell["ratio"]:.2f}x)'
                cells.append(f'{cell["ms"]:.2f}{ratio}')
        print(f'| {name} | ' + ' | '.join(cells) + ' |')


def print_profiles(by_variant):
    for variant, by_size in by_variant.items():
        for size, by_name in by_size.items():
            for name, figures in by_name.items():
                if 'profile' not in figures:
                    continue
                print(f'\nProfile, {name}, {variant}, {size} (ms per forward, self time):')
                for op in figures['profile']:
                    print(f'  {op["op"]:<40} {op["self_ms"]:9.2f} ms  {op["calls"]:5d} calls')


def plot(complexity, by_variant, batch, dtype, env, path):
    """Latency at the first size vs multiply-adds: colour = model, marker = variant."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    fig, ax = plt.subplots(figsize=(7, 4.5))
    markers = dict(zip(VARIANTS, 'os^Dv<>', strict=True))
    colours = {name: plt.get_cmap('tab10')(i % 10) for i, name in enumerate(complexity)}
    size = next(iter(next(iter(by_variant.values()))))
    for variant, by_size in by_variant.items():
        for name, figures in by_size[size].items():
            c = complexity[name]
            ax.scatter(c['conv_macs'] / 1e9, figures['median_ms'],
                       s=c['params'] / 1e5, alpha=0.6, color=colours[name],
                       marker=markers[variant], edgecolors='black', linewidths=0.5)
    handles = [Line2D([], [], marker='o', ls='', color=colour, label=name)
               for name, colour in colours.items()]
    handles += [Line2D([], [], marker=markers[v], ls='', color='grey', label=v)
                for v in by_variant]
    ax.legend(handles=handles, fontsize=7, loc='upper left', bbox_to_anchor=(1.01, 1))
    device = env.get('gpu') or env.get('cpu') or env['device']
    ax.set_xlabel('conv GMACs at 224x224 (bubble area: parameters)')
    ax.set_ylabel(f'latency at {size}, batch {batch} (ms)')
    ax.set_title(f'{device}, {dtype}, {env["threads"]} threads, torch {env["torch"]}',
                 fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def write_json(report, path):
    if path:
        with open(path, 'w') as f:
            json.dump(report, f, indent=2)


def run_setting(setting, device):
    """Run one setting; its figures, in the layout of the report's 'settings' entries."""
    tf32 = set_tf32(setting.get('tf32')) if device == 'cuda' else None
    record = {k: v for k, v in setting.items() if k != 'profile'}
    if device == 'cuda':
        record['tf32'] = tf32
    start = time.perf_counter()
    if setting['kind'] == 'inference':
        record['sizes'] = [size_key(s) for s in setting['sizes']]
        record['inference'], first_call = inference(setting, device)
        if first_call:
            record['first_call_seconds'] = first_call
    else:
        record['training'] = training(setting, device)
    record['seconds'] = time.perf_counter() - start
    if device == 'cuda':
        torch.cuda.empty_cache()
    return record


def main(argv=None):
    args = parse_args(argv)
    start = time.perf_counter()
    device = args.device
    if device == 'cuda':
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest kernels
    settings = preset_settings(args) if args.preset else cli_settings(args)
    if not args.preset and args.profile:
        settings[0]['profile'] = True
    names = list(dict.fromkeys(m for s in settings for m in s['models']))
    complexity = {r['model']: r for r in measure((224, 224), names)}
    complexity = {n: dict(params=complexity[n]['params'], macs=complexity[n]['macs'],
                          conv_macs=complexity[n]['conv_macs']) for n in names}
    env = environment(device)
    if not args.preset:
        return run_cli(args, settings, env, complexity, start)

    report = dict(environment=env, preset=args.preset, smoke=args.smoke, complexity=complexity,
                  variants={v: VARIANTS[v] for s in settings for v in s.get('variants', ())},
                  paper_reference=PAPER_FIGURE1, settings=[], complete=False)
    for setting in settings:
        elapsed = time.perf_counter() - start
        if args.time_budget is not None and elapsed > args.time_budget:
            record = {k: v for k, v in setting.items() if k != 'profile'}
            record.update(status='skipped', reason=f'--time-budget {args.time_budget:.0f} s '
                          f'spent ({elapsed:.0f} s) before it started')
            if 'sizes' in record:
                record['sizes'] = [size_key(s) for s in record['sizes']]
            print(f'\n[{setting["name"]}] skipped: {record["reason"]}', flush=True)
        else:
            print(f'\n[{setting["name"]}] {setting.get("title", "")}', file=sys.stderr,
                  flush=True)
            record = run_setting(setting, device)
            record['status'] = 'done'
            heading = f'[{setting["name"]}] '
            if setting['kind'] == 'inference':
                print_inference(complexity, record['inference'], heading)
                if setting.get('profile'):
                    print_profiles(record['inference'])
            else:
                print_training(record['training'], record, heading)
            for note in record.get('notes', ()):
                print(f'{heading}note: {note}')
        report['settings'].append(record)
        report['wall_seconds'] = time.perf_counter() - start
        write_json(report, args.out)
    report['figure1'] = figure1(report)
    report['complete'] = True
    report['wall_seconds'] = time.perf_counter() - start
    print_figure1(report['figure1'])
    print(f'\n{env.get("gpu") or env.get("cpu")}, {env["threads"]} threads; '
          f'{report["wall_seconds"]:.0f} s in all')
    write_json(report, args.out)
    if args.plot:
        first = next((s for s in report['settings']
                      if s['kind'] == 'inference' and s['status'] == 'done'), None)
        if first is not None:
            plot(complexity, first['inference'], first['batch'], first['dtype'], env, args.plot)
    return report


def run_cli(args, settings, env, complexity, start):
    """A run without --preset: the report layout of the earlier versions of this tool."""
    env['dtype'] = args.dtype
    report = dict(environment=env, batch=args.batch, complexity=complexity,
                  variants={v: VARIANTS[v] for v in args.variants})
    inference_record = run_setting(settings[0], args.device)
    report['inference'] = inference_record['inference']
    if 'first_call_seconds' in inference_record:
        report['first_call_seconds'] = inference_record['first_call_seconds']
    if 'tf32' in inference_record:
        report['tf32'] = inference_record['tf32']
    inference_done = time.perf_counter()
    if len(settings) > 1:
        report['training'] = run_setting(settings[1], args.device)['training']
        report['training_setup'] = dict(batch=args.train_batch, size=args.train_size,
                                        dtype=args.train_dtype)
    report['wall_seconds'] = time.perf_counter() - start
    report['phase_seconds'] = dict(complexity_and_inference=inference_done - start,
                                   training=time.perf_counter() - inference_done)
    print_table(report)
    if args.profile:
        print_profiles(report['inference'])
    print(f'\n{env.get("gpu") or env.get("cpu")}, {env["threads"]} threads; '
          f'{report["wall_seconds"]:.0f} s in all')
    write_json(report, args.out)
    if args.plot:
        plot(complexity, report['inference'], args.batch, args.dtype, env, args.plot)
    return report


if __name__ == '__main__':
    main()
