"""Turn an MMPretrain HS-ResNet classifier checkpoint into the backbone checkpoint that the
detection and segmentation configs load through ``init_cfg``.

Keeps the ``backbone.`` weights without their prefix, drops the neck, head and optimizer
state, and records where they came from and the architecture they fit. The weights are checked
by loading them, strictly, into an ``HSResNet`` of that architecture: a checkpoint of another
architecture is refused with the keys that do not fit.

The architecture is read from the config stored in the checkpoint (every mmengine Runner
checkpoint carries it); ``--arch`` overrides or supplies it. If the run used mmengine's
``EMAHook``, the checkpoint's ``state_dict`` already holds the averaged weights (mmengine swaps
them in when saving), and those are what is converted.

Example:
    python tools/convert_checkpoint.py \\
        work_dirs/hs-resnet50_8xb32-300e_in1k/epoch_300.pth checkpoints/hs-resnet50_in1k.pth
    python tools/convert_checkpoint.py cls.pth out.pth --arch depth=101 base_width=16 scales=6
"""
import argparse
import os
import os.path as osp

import torch
from mmengine.config import Config, DictAction

import hs_backbone
from hs_backbone.checkpoint import safe_load
from hs_backbone.state_dict_fit import compare_state_dicts

# HSResNet arguments that change which weights exist or their shapes.
ARCH_KEYS = ('depth', 'base_width', 'scales', 'in_channels', 'stem_channels', 'base_channels',
             'num_stages', 'deep_stem', 'avg_down')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='classifier checkpoint (mmpretrain ImageClassifier)')
    parser.add_argument('dst', help='backbone checkpoint to write')
    parser.add_argument('--prefix', default='backbone.',
                        help='prefix of the backbone weights in src (default: backbone.)')
    parser.add_argument('--arch', nargs='+', action=DictAction, default={},
                        help=f'HSResNet architecture arguments, e.g. depth=101 (any of '
                        f'{", ".join(ARCH_KEYS)}); default: from the config stored in src')
    return parser.parse_args(argv)


def architecture_of(checkpoint, overrides):
    """HSResNet arguments of the checkpoint's backbone, from its stored config."""
    arch = {}
    cfg_text = checkpoint.get('meta', {}).get('cfg')
    if cfg_text:
        backbone = Config.fromstring(cfg_text, '.py').model.get('backbone', {})
        if backbone.get('type') not in (None, 'HSResNet'):
            raise ValueError(f'checkpoint backbone is {backbone["type"]!r}, not HSResNet')
        arch = {k: backbone[k] for k in ARCH_KEYS if k in backbone}
    unknown = set(overrides) - set(ARCH_KEYS)
    if unknown:
        raise ValueError(f'--arch accepts {ARCH_KEYS}, got {sorted(unknown)}')
    arch.update(overrides)
    return arch


def backbone_weights(state_dict, prefix):
    weights = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
    if not weights:
        found = sorted({k.split('.')[0] + '.' for k in state_dict})
        raise ValueError(f'no weights with prefix {prefix!r} in the checkpoint; its top-level '
                         f'prefixes are {found}: pass --prefix')
    return weights


def check_fits(weights, arch):
    """Load ``weights`` strictly into ``HSResNet(**arch)``; explain any mismatch.

    Returns:
        HSResNet: The model holding ``weights``.
    """
    model = hs_backbone.HSResNet(**arch)
    fit = compare_state_dicts(model.state_dict(), weights)
    if not fit.complete:
        signature = ', '.join(f'{k}={v}' for k, v in arch.items())
        raise ValueError(
            f'the checkpoint does not fit HSResNet({signature}): {fit.summary()}. Give the '
            'architecture it was trained with via --arch.')
    model.load_state_dict(weights, strict=True)
    return model


def convert(src, dst, prefix='backbone.', arch=None):
    """Convert ``src`` into a backbone checkpoint at ``dst``.

    Args:
        src (str): Classifier checkpoint.
        dst (str): Output path.
        prefix (str): Prefix of the backbone weights in ``src``. Default: ``'backbone.'``.
        arch (dict, optional): HSResNet arguments overriding those of the stored config.

    Returns:
        dict: The ``meta`` written with the weights.
    """
    checkpoint = safe_load(src, map_location='cpu')
    state_dict = checkpoint.get('state_dict', checkpoint)
    weights = backbone_weights(state_dict, prefix)
    arch = architecture_of(checkpoint, arch or {})
    check_fits(weights, arch)
    source_meta = checkpoint.get('meta', {})
    meta = dict(
        source=osp.abspath(src),
        architecture=dict(type='HSResNet', **arch),
        ema='ema_state_dict' in checkpoint,
        source_epoch=source_meta.get('epoch'),
        source_iter=source_meta.get('iter'),
        hs_backbone_version=hs_backbone.__version__)
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    torch.save(dict(state_dict=weights, meta=meta), dst)
    return meta


def main(argv=None):
    args = parse_args(argv)
    meta = convert(args.src, args.dst, args.prefix, args.arch)
    print(f'wrote {args.dst}: {meta["architecture"]}, EMA weights: {meta["ema"]}')


if __name__ == '__main__':
    main()
