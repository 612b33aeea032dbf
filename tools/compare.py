"""Train and evaluate configs over several seeds and compare them honestly.

For each (config, seed) pair, in ``<work-dir>/<config name>/seed_<seed>/``:
``tools/train.py CONFIG --resume auto --cfg-options randomness.seed=SEED ...`` (with ``--gpus N``,
N > 1: ``tools/dist_train.sh``), then ``tools/test.py`` on the final checkpoint
(``tools/dist_test.sh``), which writes ``metrics.json``. Validation inside training is switched
off: the final checkpoint is what is compared, and it is evaluated once.

Then, per config: each metric's mean, standard deviation (over seeds, n - 1) and per-seed
values, the difference of the means to the first config with its standard error, the
backbone's parameters and conv GMACs (``tools/complexity.py``'s counts, of the backbone as the
config and ``--cfg-options`` build it, at ``--shape``) and the train and test times, into
``compare.json`` and ``compare.md``, and each metric against conv GMACs with error bars into
``compare.png``.

Started again with the same arguments, it skips the pairs already evaluated, evaluates the
trained ones and resumes the others from their newest checkpoint; a pair whose directory was
made with other options is refused rather than mixed in. Comparisons with the same work dir
and options share the pairs they have in common (``--report`` names each one's files).

Example:
    # HS-ResNet50 against ResNet-50, both from scratch on COCO, 3 seeds, 8 GPUs per run
    python tools/compare.py configs/hs_resnet/mask-rcnn_hs-r50-scratch_fpn_gn-all_6x_coco.py \\
        configs/baselines/mask-rcnn_r50-scratch_fpn_gn-all_6x_coco.py --seeds 0 1 2 --gpus 8
    # on the embedded demo data (made if needed, as tools/demo.py makes it)
    python tools/compare.py configs/demo/deeplabv3plus_hs-r50-d8_demo.py \\
        configs/demo/deeplabv3plus_r50-d8_demo.py --seeds 0 1 2 --demo
"""
import argparse
import hashlib
import json
import os
import os.path as osp
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'tools'))

from compare_report import HEADLINE_METRICS, build_report, markdown, plot  # noqa: E402
from demo import data_options, machine, run_logged  # noqa: E402

TASK_OF_SCOPE = {'mmdet': 'det', 'mmseg': 'seg'}
# each run is evaluated once, by tools/test.py, on its final checkpoint
NO_VALIDATION = ['val_cfg=None', 'val_dataloader=None', 'val_evaluator=None']


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('configs', nargs='+', help='configs to compare, the first one is the '
                        'reference of the differences (e.g. the HS config, then its baselines)')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2],
                        help='randomness.seed of the runs (default: 0 1 2)')
    parser.add_argument('--work-dir', default='work_dirs/compare',
                        help='runs and results go here (default: work_dirs/compare)')
    parser.add_argument('--report', default='compare',
                        help='name of the result files in the work dir (default: compare '
                        '-> compare.json, .md, .png); comparisons that share a work dir share '
                        'the runs they have in common')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='overrides for every config, in training and testing')
    parser.add_argument('--metrics', nargs='+',
                        help='metrics of the table and plot (default: those of '
                        f'{", ".join(HEADLINE_METRICS)} that the runs report, else all)')
    parser.add_argument('--gpus', type=int, default=1,
                        help='processes per run; N > 1 runs tools/dist_train.sh and '
                        'dist_test.sh (torchrun; gloo processes on a machine without CUDA)')
    parser.add_argument('--shape', type=int, nargs=2, default=[224, 224], metavar=('H', 'W'),
                        help='input size of the parameter and GMAC counts (default: 224 224)')
    parser.add_argument('--demo', action='store_true',
                        help='make the embedded demo data if needed and point the configs at '
                        'it (tools/demo.py does the same)')
    parser.add_argument('--data-dir', default='data/demo',
                        help='demo data folder, with --demo (default: data/demo)')
    parser.add_argument('--num-train', type=int, default=96,
                        help='demo training scenes, with --demo (default: 96, as the demo)')
    parser.add_argument('--num-val', type=int, default=24,
                        help='demo val scenes, with --demo (default: 24, as the demo)')
    args = parser.parse_args(argv)

    args.configs = [osp.relpath(osp.abspath(c), ROOT) for c in args.configs]
    for config in args.configs:
        if not osp.isfile(osp.join(ROOT, config)):
            parser.error(f'config {config} does not exist')
    names = [config_name(c) for c in args.configs]
    if len(set(names)) != len(names):
        parser.error(f'two configs share a name, and would share run directories: {names}')
    if len(set(args.seeds)) != len(args.seeds):
        parser.error(f'--seeds repeats a seed: {args.seeds}')
    if any(o.startswith('randomness.seed=') for o in args.cfg_options):
        parser.error('the seeds come from --seeds, not from --cfg-options randomness.seed')
    if not args.report or osp.basename(args.report) != args.report:
        parser.error(f'--report must be a file name without a folder, got {args.report!r}')
    if args.gpus < 1:
        parser.error(f'--gpus must be at least 1, got {args.gpus}')
    # the tools run with the repository as working directory
    args.work_dir, args.data_dir = osp.abspath(args.work_dir), osp.abspath(args.data_dir)
    return args


def say(msg):
    print(f'\033[1m[compare]\033[0m {msg}', flush=True)


def config_name(config):
    return osp.splitext(osp.basename(config))[0]


def load_config(config, options):
    """The config as tools/train.py sees it with ``options`` (KEY=VALUE strings)."""
    from mmengine.config import Config, DictAction
    parser = argparse.ArgumentParser()
    parser.add_argument('--o', nargs='+', action=DictAction, default={})
    cfg = Config.fromfile(osp.join(ROOT, config))
    cfg.merge_from_dict(parser.parse_args(['--o', *options]).o if options else {})
    return cfg


def task_options(args, scope, data):
    """--cfg-options every run of a config gets: demo data, then the user's overrides."""
    options = []
    if args.demo:
        if scope not in TASK_OF_SCOPE:
            raise SystemExit(f'--demo has data for mmdet and mmseg configs, not {scope}')
        options += data_options(TASK_OF_SCOPE[scope], data)
    return options + list(args.cfg_options)


def config_digest(config, options):
    """sha256 of the config as training resolves it (bases and ``options`` merged).

    A pair's directory keeps the digest it was trained with, so that results of a config edited
    since are not mixed into a new comparison.
    """
    def stable(value):  # types and functions in a config: by name, not by address
        name = getattr(value, '__qualname__', None)
        return f'{getattr(value, "__module__", "")}.{name}' if name else repr(value)
    resolved = json.dumps(load_config(config, options).to_dict(), sort_keys=True, default=stable)
    return hashlib.sha256(resolved.encode()).hexdigest()


def read_json(path):
    with open(path) as f:
        return json.load(f)


def write_json(path, obj):
    # a kill mid-write must not leave a file that later runs cannot read
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(obj, f, indent=2)
    os.replace(tmp, path)


def run_state(run_dir, config, seed, train_options):
    """``run.json`` of a pair: what it was started with, its training attempts and result."""
    path = osp.join(run_dir, 'run.json')
    identity = dict(config=config, config_sha256=config_digest(config, train_options), seed=seed,
                    train_options=train_options)
    if not osp.isfile(path):
        os.makedirs(run_dir, exist_ok=True)
        state = dict(identity, attempts=[], checkpoint=None)
        write_json(path, state)
        return state
    state = read_json(path)
    before = {k: state.get(k) for k in identity}
    same_arguments = all(before[k] == identity[k] for k in identity if k != 'config_sha256')
    if same_arguments and before['config_sha256'] != identity['config_sha256']:
        raise SystemExit(f'{run_dir} was trained from another version of {config} (edited '
                         'since, or its bases): delete it or choose another --work-dir')
    if before != identity:
        raise SystemExit(f'{run_dir} was started with other arguments ({before}, now '
                         f'{identity}): delete it or choose another --work-dir')
    return state


def newest_checkpoint(run_dir):
    """The checkpoint mmengine saved last in ``run_dir`` (its ``last_checkpoint`` file)."""
    marker = osp.join(run_dir, 'last_checkpoint')
    if not osp.isfile(marker):
        return None
    with open(marker) as f:
        path = f.read().strip()
    return path if osp.isfile(path) else None


def close_interrupted_attempts(state, run_dir):
    """Credit an attempt that did not finish (killed, failed) with its time to its last checkpoint.

    The work after that checkpoint was lost and is done again, so it is not train time.
    """
    checkpoint = newest_checkpoint(run_dir)
    saved_at = osp.getmtime(checkpoint) if checkpoint else 0
    for attempt in state['attempts']:
        if attempt['seconds'] is None:
            attempt['seconds'] = round(max(0.0, saved_at - attempt['started']), 1)
            attempt['interrupted'] = True


def launch(args, tool, *positional):
    """The command line of ``tools/<tool>.py`` with ``positional``, or of its dist_ form."""
    if args.gpus > 1:
        return ['bash', f'tools/dist_{tool}.sh', *positional, str(args.gpus)]
    return [sys.executable, f'tools/{tool}.py', *positional]


def train(args, state, run_dir, label):
    path = osp.join(run_dir, 'run.json')
    close_interrupted_attempts(state, run_dir)
    resume_from = newest_checkpoint(run_dir)
    log = osp.join(run_dir, 'train.log')
    if resume_from:
        say(f'{label}: resuming from {osp.basename(resume_from)} (log: {log})')
    else:
        say(f'{label}: training (log: {log})')
    attempt = dict(started=time.time(), seconds=None,
                   resumed_from=resume_from and osp.basename(resume_from))
    state['attempts'].append(attempt)
    write_json(path, state)
    cmd = launch(args, 'train', state['config']) + [
        '--work-dir', run_dir, '--resume', 'auto', '--cfg-options', *state['train_options']]
    run_logged(cmd, log)
    attempt['seconds'] = round(time.time() - attempt['started'], 1)
    state['checkpoint'] = newest_checkpoint(run_dir)
    if state['checkpoint'] is None:
        raise SystemExit(f'{label}: training saved no checkpoint in {run_dir} '
                         '(does the config have a CheckpointHook?)')
    state['train_seconds'] = round(sum(a['seconds'] for a in state['attempts']), 1)
    write_json(path, state)


def evaluate(args, state, run_dir, label, test_options):
    metrics_file = osp.join(run_dir, 'metrics.json')
    say(f'{label}: evaluating {osp.basename(state["checkpoint"])}')
    start = time.time()
    cmd = launch(args, 'test', state['config'], state['checkpoint']) + [
        '--work-dir', run_dir, '--metrics-out', metrics_file, '--cfg-options', *test_options]
    run_logged(cmd, osp.join(run_dir, 'test.log'))
    state['test_seconds'] = round(time.time() - start, 1)
    write_json(osp.join(run_dir, 'run.json'), state)


def run_pair(args, config, seed, options, label):
    """Train and evaluate one (config, seed) pair unless done; its record for the report."""
    run_dir = osp.join(args.work_dir, config_name(config), f'seed_{seed}')
    train_options = options + [f'randomness.seed={seed}'] + NO_VALIDATION
    state = run_state(run_dir, config, seed, train_options)
    metrics_file = osp.join(run_dir, 'metrics.json')
    if osp.isfile(metrics_file):
        say(f'{label}: evaluated already ({metrics_file}), skipping')
    else:
        if state['checkpoint'] is None:
            train(args, state, run_dir, label)
        else:
            say(f'{label}: trained already')
        evaluate(args, state, run_dir, label, options)
    return dict(config=config, seed=seed, run_dir=run_dir,
                metrics=read_json(metrics_file)['metrics'],
                train_seconds=state.get('train_seconds'),
                test_seconds=state.get('test_seconds'),
                attempts=len(state['attempts']), checkpoint=state['checkpoint'])


def backbone_size(config, options, shape):
    """Parameters and multiply-adds of the backbone that ``config`` with ``options`` builds."""
    import importlib

    from complexity import count
    from mmengine.registry import init_default_scope
    cfg = load_config(config, options)
    init_default_scope(cfg.default_scope)
    models = importlib.import_module(f'{cfg.default_scope}.registry').MODELS
    backbone = models.build(cfg.model.backbone)
    return dict(backbone=cfg.model.backbone.type, **count(backbone, shape))


def main(argv=None):
    args = parse_args(argv)
    total = time.time()
    data = None
    if args.demo:
        from make_demo_data import make_demo_data
        say(f'demo data in {args.data_dir}')
        data = make_demo_data(args.data_dir, num_train=args.num_train, num_val=args.num_val)
    options = {}
    for config in args.configs:
        options[config] = task_options(args, load_config(config, []).default_scope, data)
    pairs = [(c, s) for c in args.configs for s in args.seeds]
    say(f'{len(args.configs)} configs x {len(args.seeds)} seeds = {len(pairs)} runs '
        f'in {args.work_dir}')
    runs = [run_pair(args, config, seed, options[config],
                     f'({i}/{len(pairs)}) {config_name(config)} seed {seed}')
            for i, (config, seed) in enumerate(pairs, 1)]

    say(f'counting parameters and conv GMACs of {len(args.configs)} backbones at '
        f'{args.shape[0]}x{args.shape[1]}')
    sizes = {c: backbone_size(c, options[c], args.shape) for c in args.configs}
    try:
        report = build_report(runs, sizes, args.configs, args.seeds, args.shape,
                              metrics=args.metrics)
    except ValueError as error:  # --metrics names one the runs do not report
        raise SystemExit(str(error)) from None
    report.update(cfg_options=args.cfg_options, demo=args.demo, gpus=args.gpus,
                  machine=machine())
    paths = {ext: osp.join(args.work_dir, f'{args.report}.{ext}') for ext in ('json', 'md', 'png')}
    write_json(paths['json'], report)
    table = markdown(report)
    with open(paths['md'], 'w') as f:
        f.write(table)
    plot(report, paths['png'])
    print()
    print(table)
    say(f'total {time.time() - total:.0f} s; results: {", ".join(paths.values())}')


if __name__ == '__main__':
    main()
