"""Train a detector or segmenter with mmengine's Runner (mmdet/mmseg command line).

The codebase is chosen by the config's ``default_scope`` (``mmdet`` or ``mmseg``).

Example:
    python tools/train.py configs/hs_resnet/faster-rcnn_hs-r50_fpn_1x_coco.py --amp
    python tools/train.py CONFIG --resume                  # latest checkpoint in the work dir
    python tools/train.py CONFIG --resume work_dirs/x/iter_4000.pth
"""
import argparse
import os.path as osp

from mmengine.logging import print_log

import hs_backbone  # noqa: F401  (registers HSResNet, safe checkpoint loading)
from hs_backbone.runner_setup import (
    add_common_args,
    build_runner,
    find_resumable_checkpoint,
    load_config,
    unreadable_reason,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a model with an HS-ResNet backbone')
    parser.add_argument('config', help='train config file path')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from this checkpoint, or without a path from the latest checkpoint '
        'in the work dir')
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

    if args.resume == 'auto':
        checkpoint = find_resumable_checkpoint(cfg.work_dir)
        if checkpoint is None:
            print_log(f'--resume: no checkpoint in {cfg.work_dir} yet, starting from scratch',
                      logger='current')
        else:
            cfg.resume = True
            cfg.load_from = checkpoint
    elif args.resume is not None:
        if not osp.isfile(args.resume):
            raise FileNotFoundError(f'--resume checkpoint {args.resume} does not exist')
        reason = unreadable_reason(args.resume)
        if reason is not None:
            raise RuntimeError(f'--resume checkpoint {args.resume} cannot be loaded ({reason})')
        cfg.resume = True
        cfg.load_from = args.resume

    runner = build_runner(cfg)
    runner.train()


if __name__ == '__main__':
    main()
