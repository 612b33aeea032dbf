"""Parameters and multiply-adds of HS-ResNet beside mmdet's ResNet family.

Counts come from mmengine's analysis tools on the backbone alone, in eval mode, without a
classifier: ``parameter_count`` and ``FlopAnalyzer.total()`` (the figures
``get_model_complexity_info`` reports; mmengine calls multiply-adds "flops" and the total
includes the norm layers), and ``FlopAnalyzer.by_operator()`` for the multiply-adds of the
convolutions alone, the figure papers usually quote.

Usage:
    python tools/complexity.py [--shape 224 224] [--out complexity.json]
"""
import argparse
import json

import torch
from mmengine.analysis import FlopAnalyzer, parameter_count
from mmengine.registry import init_default_scope

import hs_backbone  # noqa: F401  (registers HSResNet)

BACKBONES = {
    'HS-ResNet50 (16w_6s)': dict(type='HSResNet', depth=50),
    'HS-ResNet50 (28w_6s)': dict(type='HSResNet', depth=50, base_width=28),
    'HS-ResNet101 (16w_6s)': dict(type='HSResNet', depth=101),
    'HS-ResNet152 (16w_6s)': dict(type='HSResNet', depth=152),
    'ResNet-50': dict(type='ResNet', depth=50),
    'ResNet-50-D': dict(type='ResNetV1d', depth=50),
    'Res2Net-50 (26w_4s)': dict(type='Res2Net', depth=50, scales=4, base_width=26),
    'ResNeSt-50': dict(type='ResNeSt', depth=50, radix=2, reduction_factor=4,
                       stem_channels=64),
}


def build(name, **overrides):
    """Backbone ``name`` of :data:`BACKBONES`, built by mmdet's registry with ``overrides``."""
    from mmdet.registry import MODELS
    init_default_scope('mmdet')
    return MODELS.build(dict(BACKBONES[name], **overrides))


def count(model, shape):
    """``params``, ``macs`` and ``conv_macs`` of ``model`` (eval mode) on one (H, W) image."""
    model.eval()  # mmdet's ResNet.train() returns None, so no chaining
    # one trace gives both figures: get_model_complexity_info's total is this analyzer's
    analyzer = FlopAnalyzer(model, torch.rand(1, 3, *shape))
    return dict(params=parameter_count(model)[''], macs=analyzer.total(),
                conv_macs=analyzer.by_operator()['conv'])


def measure(shape, names=None):
    """Parameters and multiply-adds of ``names`` (default: all of :data:`BACKBONES`)."""
    return [dict(model=name, config=BACKBONES[name], **count(build(name), shape))
            for name in names or BACKBONES]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--shape', type=int, nargs=2, default=[224, 224], metavar=('H', 'W'))
    parser.add_argument('--out', help='write the rows as JSON to this file')
    args = parser.parse_args()
    rows = measure(args.shape)
    ref = next(r for r in rows if r['model'] == 'ResNet-50')
    size = f'{args.shape[0]}x{args.shape[1]}'
    print(f'| backbone | params (M) | GMACs at {size}, convs | GMACs at {size}, total | '
          'vs ResNet-50 (params / total MACs) |')
    print('|---|---:|---:|---:|---:|')
    for r in rows:
        print(f"| {r['model']} | {r['params'] / 1e6:.2f} | {r['conv_macs'] / 1e9:.2f} | "
              f"{r['macs'] / 1e9:.2f} | "
              f"{r['params'] / ref['params']:.2f}x / {r['macs'] / ref['macs']:.2f}x |")
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(shape=args.shape, rows=rows), f, indent=2)


if __name__ == '__main__':
    main()
