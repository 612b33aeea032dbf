"""What tools/train.py and tools/test.py share: loading a config the way mmdet/mmseg do."""
import argparse
import glob
import logging
import os
import os.path as osp
import re

from mmengine.config import Config, DictAction

from .distributed import init_distributed

CODEBASES = ('mmdet', 'mmseg', 'mmpretrain')


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """Arguments that mmdet's and mmseg's train and test tools both take."""
    parser.add_argument('--work-dir', help='directory for logs, checkpoints and metrics')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config keys, e.g. model.backbone.depth=101 or '
        'train_dataloader.batch_size=4 (lists as key="[a,b]")')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK instead.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def load_config(args) -> Config:
    """Read ``args.config``, apply ``--cfg-options``, the launcher and the work dir.

    Args:
        args (argparse.Namespace): Parsed arguments of :func:`add_common_args` plus ``config``.

    Returns:
        Config: The config, with ``default_scope`` checked to be one of :data:`CODEBASES`.
    """
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'config file {args.config} does not exist')
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    scope = cfg.get('default_scope')
    if scope not in CODEBASES:
        raise ValueError(f'{args.config}: default_scope must be one of {CODEBASES} (inherit an '
                         f"mmdet::, mmseg:: or mmpretrain:: base config), got {scope!r}")
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    return cfg


def build_runner(cfg: Config):
    """Build the Runner named by ``runner_type`` (mmdet's convention) or mmengine's Runner.

    The process group is started first (:func:`~hs_backbone.distributed.init_distributed`;
    nothing happens if it exists). Without CUDA, distributed runs get gloo and a DDP wrapper with
    ``device_ids=None``, which is what DDP needs for CPU modules (the Runner's default passes
    ``[LOCAL_RANK]``).
    """
    import torch
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    init_distributed(cfg)
    if cfg.launcher != 'none' and not torch.cuda.is_available():
        cfg.setdefault('model_wrapper_cfg', dict(
            type='MMDistributedDataParallel',
            device_ids=None,
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False)))
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


def _checkpoint_number(path):
    match = re.fullmatch(r'(?:iter|epoch)_(\d+)\.pth', osp.basename(path))
    return int(match.group(1)) if match else -1


def unreadable_reason(path):
    """Why the checkpoint at ``path`` cannot be loaded, or None when it loads."""
    from .checkpoint import safe_load
    try:
        safe_load(path, map_location='cpu')
    except Exception as error:  # any failure to load means: do not resume from it
        return f'{type(error).__name__}: {str(error).splitlines()[0][:200]}'
    return None


def find_resumable_checkpoint(work_dir):
    """The newest checkpoint in ``work_dir`` that loads, skipping broken ones with a warning.

    A run killed while saving leaves a truncated ``iter_N.pth`` (mmengine writes checkpoints in
    place). Resuming from it would crash, and starting over would silently discard the work:
    this falls back to the newest checkpoint that loads.

    Args:
        work_dir (str): The run's work dir.

    Returns:
        str or None: The checkpoint to resume from; None when the work dir has no checkpoint.

    Raises:
        RuntimeError: If checkpoints exist but none of them loads.
    """
    from mmengine.logging import print_log
    candidates = sorted(glob.glob(osp.join(work_dir, '*.pth')), key=_checkpoint_number,
                        reverse=True)
    candidates = [c for c in candidates if _checkpoint_number(c) >= 0]
    broken = []
    for path in candidates:
        reason = unreadable_reason(path)
        if reason is None:
            if broken:
                print_log(f'resuming from {path}, the newest checkpoint that loads', 'current',
                          logging.WARNING)
            return path
        broken.append(path)
        print_log(f'checkpoint {path} cannot be loaded ({reason}); trying an older one',
                  'current', logging.WARNING)
    if broken:
        raise RuntimeError(
            f'--resume: no checkpoint in {work_dir} loads ({", ".join(broken)}). Refusing to '
            'start over silently: move them away to train from scratch, or pass --resume PATH.')
    return None


def checkpoint_to_resume(resume, work_dir):
    """The checkpoint ``--resume`` asks for, the same on every rank; None to start fresh.

    ``'auto'`` (what a bare ``--resume`` gives) is the newest loadable checkpoint in
    ``work_dir``, or None when there is none yet: one command line serves a first start and
    every restart (``torchrun --max-restarts``, a requeued Slurm job). Rank 0 alone looks
    and tells the others: ranks that looked on their own could disagree (a file system that
    shows them different states, a checkpoint that loads for one and not for another) and
    resume from different iterations. Call it after
    :func:`~hs_backbone.distributed.init_distributed`.

    Args:
        resume (str or None): None (no resume), ``'auto'``, or a checkpoint path (a file
            named ``auto`` is ``./auto``).
        work_dir (str): The run's work dir.

    Returns:
        str or None: The checkpoint to resume from.

    Raises:
        FileNotFoundError: If the path given does not exist.
        RuntimeError: If the path given, or every checkpoint in the work dir, does not load.
    """
    from mmengine.dist import broadcast_object_list, get_rank
    from mmengine.logging import print_log
    if resume is None:
        return None
    if resume != 'auto':
        if not osp.isfile(resume):
            raise FileNotFoundError(f'--resume checkpoint {resume} does not exist')
        reason = unreadable_reason(resume)
        if reason is not None:
            raise RuntimeError(f'--resume checkpoint {resume} cannot be loaded ({reason})')
        return resume

    decision = [None]
    if get_rank() == 0:
        try:
            decision = [('resume', find_resumable_checkpoint(work_dir))]
        except Exception as error:
            # the other ranks wait for the answer: give them the error to raise
            broadcast_object_list([('error', f'rank 0: {type(error).__name__}: {error}')])
            raise
    broadcast_object_list(decision)
    kind, value = decision[0]
    if kind == 'error':
        raise RuntimeError(value)
    if value is None:
        print_log(f'--resume auto: no checkpoint in {work_dir} yet, starting from scratch',
                  logger='current')
    return value
