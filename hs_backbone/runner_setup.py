"""What tools/train.py and tools/test.py share: loading a config the way mmdet/mmseg do."""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction

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
    """Build the Runner named by ``runner_type`` (mmdet's convention) or mmengine's Runner."""
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)
