"""Evaluate a checkpoint (mmdet/mmseg command line); prints the metrics and saves them as JSON.

Example:
    python tools/test.py configs/hs_resnet/faster-rcnn_hs-r50_fpn_1x_coco.py \\
        work_dirs/faster-rcnn_hs-r50_fpn_1x_coco/epoch_12.pth
    # -> COCO bbox mAP in work_dirs/faster-rcnn_hs-r50_fpn_1x_coco/metrics.json

A checkpoint whose weights do not all fit the config's model (names and shapes) is refused
before anything is evaluated, unless ``--allow-partial`` is given.
"""
import argparse
import json
import logging
import os
import os.path as osp

from mmengine.dist import is_main_process
from mmengine.logging import print_log

import hs_backbone  # noqa: F401  (registers HSResNet, safe checkpoint loading)
from hs_backbone.runner_setup import add_common_args, build_runner, load_config
from hs_backbone.state_dict_fit import checkpoint_fit


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test a model with an HS-ResNet backbone')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--out',
        help='mmdet: dump the raw predictions to this .pkl file; mmseg: save the predicted '
        'label maps into this directory')
    parser.add_argument(
        '--metrics-out', help='JSON file for the metrics (default: <work-dir>/metrics.json)')
    parser.add_argument('--show', action='store_true', help='show predictions in a window')
    parser.add_argument('--show-dir', help='save drawn predictions into this directory')
    parser.add_argument('--wait-time', type=float, default=2, help='seconds per shown image')
    parser.add_argument(
        '--allow-partial',
        action='store_true',
        help='evaluate even if the checkpoint does not fit the model (missing, unexpected or '
        'wrong-shape weights; the model keeps its initial values for those)')
    add_common_args(parser)
    return parser.parse_args(argv)


def enable_visualization(cfg, args):
    hook = cfg.default_hooks.get('visualization')
    if hook is None:
        raise ValueError('--show/--show-dir need default_hooks.visualization in the config')
    hook.draw = True
    if args.show:
        hook.show = True
        hook.wait_time = args.wait_time
    if args.show_dir:
        if cfg.default_scope == 'mmdet':
            # mmdet's hook saves under <work_dir>/<timestamp>/<test_out_dir>
            hook.test_out_dir = args.show_dir
        else:
            cfg.visualizer.save_dir = args.show_dir
            hook.interval = 1


def add_prediction_dump(cfg, out):
    if cfg.default_scope == 'mmdet':
        if not out.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--out must be a .pkl or .pickle file for mmdet, got {out}')
        evaluators = cfg.test_evaluator
        if isinstance(evaluators, dict):
            evaluators = [evaluators]
        cfg.test_evaluator = list(evaluators) + [dict(type='DumpDetResults', out_file_path=out)]
    else:
        cfg.test_evaluator.output_dir = out
        cfg.test_evaluator.keep_results = True


def check_fit(model, args):
    """Refuse a checkpoint that does not fit the model, unless ``--allow-partial``.

    mmengine would load what fits, log a line per key that does not, and evaluate: a wrong
    checkpoint (or config) would give a plausible, wrong number.

    Returns:
        StateDictFit: The comparison of the checkpoint with the model.
    """
    fit = checkpoint_fit(model, args.checkpoint)
    if fit.complete:
        return fit
    if not args.allow_partial:
        raise ValueError(f'checkpoint {args.checkpoint} does not fit the model of {args.config}: '
                         f'{fit.summary()}. Check the config and its --cfg-options, or pass '
                         '--allow-partial to evaluate it anyway.')
    print_log(f'--allow-partial: checkpoint {args.checkpoint}: {fit.summary()}',
              logger='current', level=logging.WARNING)
    return fit


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint {args.checkpoint} does not exist')
    cfg.load_from = args.checkpoint
    if args.show or args.show_dir:
        enable_visualization(cfg, args)
    if args.out:
        add_prediction_dump(cfg, args.out)

    runner = build_runner(cfg)
    fit = check_fit(runner.model, args)
    metrics = runner.test()

    if is_main_process():
        path = args.metrics_out or osp.join(cfg.work_dir, 'metrics.json')
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
        record = dict(config=args.config, checkpoint=args.checkpoint,
                      metrics={k: float(v) for k, v in metrics.items()})
        if not fit.complete:
            # a number from a partly loaded model must not pass for the checkpoint's
            record['partial_load'] = fit.summary()
        with open(path, 'w') as f:
            json.dump(record, f, indent=2)
        print(json.dumps(record['metrics']))
        print(f'metrics saved to {path}')


if __name__ == '__main__':
    main()
