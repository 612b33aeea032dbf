"""Train a detector or segmenter with mmengine's Runner (mmdet/mmseg command line).

The codebase is chosen by the config's ``default_scope`` (``mmdet`` or ``mmseg``).

Example:
    python tools/train.py configs/hs_resnet/faster-rcnn_hs-r50_fpn_1x_coco.py --amp
    python tools/train.py CONFIG --resume auto   # newest loadable checkpoint, if any
    python tools/train.py CONFIG --resume work_dirs/x/iter_4000.pth
"""
import argparse
import logging

from mmengine.dist import is_main_process
from mmengine.logging import print_log

import hs_backbone  # noqa: F401  (registers HSResNet, safe checkpoint loading)
from hs_backbone.distributed import init_distributed
from hs_backbone.runner_setup import (
    add_common_args,
    build_runner,
    checkpoint_to_resume,
    load_config,
)
from hs_backbone.state_dict_fit import checkpoint_fit


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a model with an HS-ResNet backbone')
    parser.add_argument('config', help='train config file path')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help="resume from this checkpoint; 'auto' (or no value): from the newest loadable "
        'checkpoint in the work dir, or start from scratch when there is none, so that the '
        'same command serves the first start and every restart')
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision training')
    parser.add_argument(
        '--auto-scale-lr', action='store_true', help='scale the learning rate by the batch size')
    add_common_args(parser)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args)

    if args.amp:
        optim_wrapper = cfg.optim_wrapper.type
        if optim_wrapper == 'AmpOptimWrapper':
            print_log('AMP training is already enabled in the config.', logger='current')
        else:
            if optim_wrapper != 'OptimWrapper':
                raise ValueError('--amp needs optim_wrapper.type OptimWrapper, '
                                 f'got {optim_wrapper}')
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'

    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise ValueError('--auto-scale-lr needs auto_scale_lr.base_batch_size in the config')
        cfg.auto_scale_lr.enable = True

    # before the Runner, so that every rank resumes from the checkpoint rank 0 chose
    init_distributed(cfg)
    checkpoint = checkpoint_to_resume(args.resume, cfg.work_dir)
    if checkpoint is not None:
        cfg.resume = True
        cfg.load_from = checkpoint

    runner = build_runner(cfg)
    if cfg.get('load_from') and not cfg.get('resume') and is_main_process():
        log_fit(runner.model, cfg.load_from)
    runner.train()


def log_fit(model, load_from):
    """One line on what of ``load_from`` fits the model.

    mmengine loads it non-strictly, as fine-tuning needs, and logs one line per key that does
    not fit; this line says whether the weights arrived at all.
    """
    fit = checkpoint_fit(model, load_from)
    level = logging.INFO if fit.complete else logging.WARNING
    print_log(f'load_from {load_from}: {fit.summary()}', logger='current', level=level)


if __name__ == '__main__':
    main()
