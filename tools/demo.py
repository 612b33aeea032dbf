"""The main job on embedded data: train and evaluate HS-ResNet50 detection and segmentation.

Offline and on a CPU: makes the generated scenes (tools/make_demo_data.py), trains Mask R-CNN
(bbox + segm) and DeepLabv3+ from scratch with ``tools/train.py``, evaluates each on the val
split with ``tools/test.py`` (the COCO and Cityscapes evaluators of the real configs), prints a
table, writes ``<work-dir>/summary.json`` and draws predictions on val scenes into
``<work-dir>/predictions.png``.

The scenes are simple and the training is minutes long: the numbers show that the whole
pipeline learns, they are not the paper's COCO/Cityscapes results.

A killed run resumes from its last checkpoint when started again; a finished task is not
retrained (delete its folder under the work dir to retrain).

Example:
    python tools/demo.py                               # what `make demo` runs
    python tools/demo.py --det-iters 20 --seg-iters 10 --work-dir work_dirs/quick
"""
import argparse
import json
import os
import os.path as osp
import platform
import re
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'tools'))

from make_demo_data import make_demo_data  # noqa: E402

TASKS = {
    'det': dict(
        title='instance segmentation',
        config='configs/demo/mask-rcnn_hs-r50_fpn_demo.py',
        metrics=('coco/bbox_mAP', 'coco/segm_mAP'),
        aims={'coco/bbox_mAP': 0.25}),
    'seg': dict(
        title='semantic segmentation',
        config='configs/demo/deeplabv3plus_hs-r50-d8_demo.py',
        metrics=('mIoU', ),
        aims={'mIoU': 50.0}),
}
# Lines of the training/testing logs worth showing live; the rest goes to the log file.
PROGRESS = re.compile(r'Iter\((train|val|test)\)|Error|Traceback|Exception')
LOG_PREFIX = re.compile(r'^.* - mmengine - INFO - ')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--work-dir', default='work_dirs/demo', help='outputs go here')
    parser.add_argument('--data-dir', default='data/demo', help='generated dataset folder')
    parser.add_argument('--num-train', type=int, default=96, help='training scenes')
    parser.add_argument('--num-val', type=int, default=24, help='validation scenes')
    parser.add_argument('--det-iters', type=int, help='Mask R-CNN iterations (default: config)')
    parser.add_argument('--seg-iters', type=int, help='DeepLabv3+ iterations (default: config)')
    parser.add_argument('--tasks', nargs='+', choices=list(TASKS), default=list(TASKS),
                        help='which tasks to run')
    parser.add_argument('--num-pictures', type=int, default=4,
                        help='val scenes drawn into predictions.png (0: no picture)')
    args = parser.parse_args(argv)
    # the tools run with the repository as working directory
    args.work_dir, args.data_dir = osp.abspath(args.work_dir), osp.abspath(args.data_dir)
    for name in ('num_train', 'num_val', 'det_iters', 'seg_iters'):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise SystemExit(f'--{name.replace("_", "-")} must be a positive int, got {value}')
    return args


def say(msg):
    print(f'\033[1m[demo]\033[0m {msg}', flush=True)


def run_logged(cmd, log_file):
    """Run ``cmd``, show its progress lines, keep the whole output in ``log_file``."""
    with open(log_file, 'w') as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, bufsize=1)
        lines = []
        for line in proc.stdout:
            log.write(line)
            lines.append(line)
            if PROGRESS.search(line):
                print('    ' + LOG_PREFIX.sub('', line.rstrip())[:200], flush=True)
        proc.wait()
    if proc.returncode != 0:
        sys.stdout.write(''.join(lines[-40:]))
        raise SystemExit(f'{" ".join(cmd[1:3])} failed (exit {proc.returncode}); '
                         f'full log: {log_file}')
    return ''.join(lines)


def data_options(task, data):
    """--cfg-options that point a demo config at ``data`` (make_demo_data's result)."""
    layout = 'coco' if task == 'det' else 'cityscapes'
    options = [f'{split}_dataloader.dataset.data_root={data[layout]["root"]}/'
               for split in ('train', 'val', 'test')]
    if task == 'det':
        ann = data['coco']['val_ann']
        options += [f'val_evaluator.ann_file={ann}', f'test_evaluator.ann_file={ann}']
    return options


def max_iters_of(config, override):
    if override is not None:
        return override
    from mmengine.config import Config
    return Config.fromfile(osp.join(ROOT, config)).train_cfg.max_iters


def run_task(task, args, data):
    spec = TASKS[task]
    work_dir = osp.abspath(osp.join(args.work_dir, task))
    os.makedirs(work_dir, exist_ok=True)
    iters = max_iters_of(spec['config'], getattr(args, f'{task}_iters'))
    checkpoint = osp.join(work_dir, f'iter_{iters}.pth')
    options = data_options(task, data) + [
        f'train_cfg.max_iters={iters}',
        # evaluation is tools/test.py's job below, not the training loop's
        'val_cfg=None', 'val_dataloader=None', 'val_evaluator=None']
    if task == 'det':
        options.append(f'param_scheduler.1.T_max={iters}')
    options.append(f'param_scheduler.1.end={iters}')

    record = dict(task=spec['title'], config=spec['config'], train_iters=iters,
                  work_dir=work_dir)
    start = time.time()
    if osp.isfile(checkpoint):
        say(f'{spec["title"]}: {checkpoint} exists, not retraining')
        record['train_seconds'] = None
    else:
        say(f'{spec["title"]}: training {spec["config"]} for {iters} iterations '
            f'(log: {work_dir}/train.log)')
        run_logged([sys.executable, 'tools/train.py', spec['config'], '--work-dir', work_dir,
                    '--resume', '--cfg-options', *options], osp.join(work_dir, 'train.log'))
        record['train_seconds'] = round(time.time() - start, 1)

    say(f'{spec["title"]}: evaluating {osp.basename(checkpoint)} on {args.num_val} val scenes')
    start = time.time()
    metrics_file = osp.join(work_dir, 'metrics.json')
    run_logged([sys.executable, 'tools/test.py', spec['config'], checkpoint, '--work-dir',
                work_dir, '--metrics-out', metrics_file, '--cfg-options',
                *data_options(task, data)], osp.join(work_dir, 'test.log'))
    record['test_seconds'] = round(time.time() - start, 1)
    with open(metrics_file) as f:
        metrics = json.load(f)['metrics']
    record['metrics'] = {k: metrics[k] for k in spec['metrics']}
    record['aims'] = {k: dict(aim=v, met=metrics[k] >= v) for k, v in spec['aims'].items()}
    record['checkpoint'] = checkpoint
    return record


def print_table(records):
    rows = [('task', 'metric', 'value', 'train s', 'test s')]
    for r in records:
        for name, value in r['metrics'].items():
            train = '-' if r['train_seconds'] is None else f"{r['train_seconds']:.0f}"
            rows.append((r['task'], name, f'{value:.3f}', train, f"{r['test_seconds']:.0f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for i, row in enumerate(rows):
        print('  '.join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
        if i == 0:
            print('  '.join('-' * w for w in widths))


def cpu_model():
    try:
        with open('/proc/cpuinfo') as f:
            names = [line.split(':', 1)[1].strip() for line in f if line.startswith('model name')]
    except OSError:
        names = []
    return names[0] if names else (platform.processor() or None)


def machine():
    import torch
    return dict(platform=platform.platform(), processor=cpu_model(),
                cpu_count=os.cpu_count(), torch_threads=torch.get_num_threads(),
                python=platform.python_version(), torch=torch.__version__,
                device='cuda' if torch.cuda.is_available() else 'cpu')


def main(argv=None):
    args = parse_args(argv)
    total = time.time()
    say(f'making the demo data in {args.data_dir}')
    data = make_demo_data(args.data_dir, num_train=args.num_train, num_val=args.num_val)
    records = [run_task(task, args, data) for task in args.tasks]

    summary = dict(
        note='Generated scenes (3 shape classes on real photographs), trained from scratch for '
        'minutes on this machine: shows that the pipeline learns; not a COCO/Cityscapes result.',
        machine=machine(), data=dict(dir=osp.abspath(args.data_dir), counts=data['counts']),
        tasks=records)
    if args.num_pictures > 0:
        from demo_picture import draw_predictions
        picture = osp.join(args.work_dir, 'predictions.png')
        say(f'drawing predictions on {args.num_pictures} val scenes into {picture}')
        draw_predictions(records, data, picture, args.num_pictures)
        summary['picture'] = osp.abspath(picture)
    summary['total_seconds'] = round(time.time() - total, 1)
    path = osp.join(args.work_dir, 'summary.json')
    with open(path, 'w') as f:
        json.dump(summary, f, indent=2)

    print()
    print_table(records)
    for r in records:
        for name, aim in r['aims'].items():
            verdict = 'met' if aim['met'] else 'NOT met'
            say(f'aim {name} >= {aim["aim"]}: {verdict}')
    say(f'total {summary["total_seconds"]:.0f} s; summary: {path}')


if __name__ == '__main__':
    main()
