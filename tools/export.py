"""Export an HS-ResNet backbone to ONNX or TorchScript and check it against eager PyTorch.

The backbone comes from a config's ``model.backbone`` (mmdet, mmseg or mmpretrain) or, without
``--config``, from ``--arch`` (default: HS-ResNet50). ``--checkpoint`` loads its weights, either
a Runner checkpoint of the whole model (keys under ``backbone.``) or a backbone checkpoint from
``tools/convert_checkpoint.py``; the weights must fit exactly. ``--fuse-bn`` folds every BN into
its conv first (mmcv's ``fuse_conv_bn``), the usual inference graph.

The exported file is then run (onnxruntime, or ``torch.jit.load``) at the export shape and at a
second shape (other batch and size: batch, height and width are dynamic) and every output is
compared with the eager model's. The tool exits with an error when any element differs by more
than ``--tolerance``.

ONNX uses the TorchScript-based exporter for opsets below 18: in torch 2.14.1 the dynamo
exporter writes opset 18 and its conversion down to 17 produced a ``Split`` node that
onnxruntime 1.30 rejects (measured). Detectors and segmentors are exported with mmdeploy; this
tool covers the backbone.

Example:
    python tools/export.py --format onnx --out work_dirs/hs-resnet50.onnx --fuse-bn
    python tools/export.py --config configs/hs_resnet/faster-rcnn_hs-r50_fpn_1x_coco.py \\
        --checkpoint work_dirs/faster-rcnn/epoch_12.pth --format torchscript --out hs.pt
"""
import argparse
import copy
import os
import os.path as osp
import sys
import warnings

import torch
from mmengine.config import Config, DictAction
from mmengine.model import revert_sync_batchnorm

import hs_backbone
from hs_backbone.checkpoint import safe_load

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from convert_checkpoint import backbone_weights, check_fits  # noqa: E402

FORMATS = ('onnx', 'torchscript')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--format', required=True, choices=FORMATS)
    parser.add_argument('--out', required=True, help='file to write (.onnx or .pt)')
    parser.add_argument('--config', help='config whose model.backbone is HSResNet')
    parser.add_argument('--arch', nargs='+', action=DictAction, default={},
                        help='HSResNet arguments without --config (or overriding it), '
                        'e.g. depth=101 base_width=28')
    parser.add_argument('--checkpoint', help='Runner or backbone checkpoint (default: random '
                        'weights, enough to check the export itself)')
    parser.add_argument('--shape', type=int, nargs=2, default=[224, 224], metavar=('H', 'W'))
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--opset', type=int, default=17, help='ONNX opset (default: 17)')
    parser.add_argument('--fuse-bn', action='store_true', help='fold BN into the convs first')
    parser.add_argument('--tolerance', type=float, default=1e-4,
                        help='largest allowed absolute difference to eager (default: 1e-4)')
    args = parser.parse_args(argv)
    if min(args.shape) < 32 or args.batch < 1:
        parser.error(f'--shape sides must be >= 32 and --batch >= 1, got {args.shape} and '
                     f'{args.batch}')
    if args.opset < 11:
        parser.error(f'--opset must be >= 11, got {args.opset}')
    return args


def build_backbone(config=None, arch=None, checkpoint=None, fuse_bn=False):
    """An eval-mode HSResNet from ``config``/``arch``, with ``checkpoint``'s weights.

    Args:
        config (str, optional): Config file whose ``model.backbone`` is HSResNet.
        arch (dict, optional): HSResNet arguments, overriding the config's.
        checkpoint (str, optional): Runner checkpoint (``backbone.`` keys) or backbone
            checkpoint; loaded strictly.
        fuse_bn (bool): Fold BN into the convs. Default: False.

    Returns:
        HSResNet: The backbone in eval mode.
    """
    cfg = {}
    if config:
        backbone = Config.fromfile(config).get('model', {}).get('backbone') or {}
        cfg = backbone.to_dict() if hasattr(backbone, 'to_dict') else dict(backbone)
        kind = cfg.pop('type', None)
        if kind != 'HSResNet':
            raise ValueError(f'{config}: model.backbone must be HSResNet, got {kind!r}')
    cfg.update(arch or {})
    # the export carries the weights; a Pretrained init_cfg would only be loaded and replaced
    cfg.pop('init_cfg', None)
    cfg.pop('pretrained', None)
    if checkpoint:
        state_dict = safe_load(checkpoint, map_location='cpu')
        state_dict = state_dict.get('state_dict', state_dict)
        prefix = 'backbone.' if any(k.startswith('backbone.') for k in state_dict) else ''
        model = check_fits(backbone_weights(state_dict, prefix), cfg)
    else:
        model = hs_backbone.HSResNet(**cfg)
    # SyncBN needs a process group, the exported graph needs none: same inference arithmetic
    model = revert_sync_batchnorm(model).eval()
    if fuse_bn:
        from mmcv.cnn import fuse_conv_bn
        model = fuse_conv_bn(model)
    return model


def output_names(model):
    """``stage1``..``stage4``, one per returned stage, in the order forward returns them."""
    return [f'stage{i + 1}' for i in model.out_indices]


def export(model, fmt, out, example, opset=17):
    """Write ``model`` traced on ``example`` to ``out`` with dynamic batch/height/width."""
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    if fmt == 'torchscript':
        with torch.no_grad():
            traced = torch.jit.trace(model, example)
        traced.save(out)
        return
    names = output_names(model)
    dynamic = {name: {0: 'batch', 2: 'height', 3: 'width'} for name in ['input'] + names}
    with torch.no_grad(), warnings.catch_warnings():
        # the legacy exporter is chosen on purpose below opset 18 (module docstring)
        warnings.filterwarnings('ignore', 'You are using the legacy TorchScript-based ONNX',
                                DeprecationWarning)
        torch.onnx.export(model, (example, ), out, opset_version=opset, dynamo=opset >= 18,
                          input_names=['input'], output_names=names, dynamic_axes=dynamic)


def load_exported(fmt, path):
    """A callable running the exported file on a tensor, returning a list of tensors."""
    if fmt == 'torchscript':
        module = torch.jit.load(path)

        def run(x):
            with torch.no_grad():
                return list(module(x))
        return run
    import onnxruntime
    session = onnxruntime.InferenceSession(path, providers=['CPUExecutionProvider'])
    return lambda x: [torch.from_numpy(o) for o in session.run(None, {'input': x.numpy()})]


def compare(model, run, inputs):
    """Largest absolute difference between eager and exported outputs, per output name."""
    diffs = {}
    with torch.no_grad():
        for x in inputs:
            expected = model(x)
            got = run(x)
            for name, a, b in zip(output_names(model), expected, got, strict=True):
                if a.shape != b.shape:
                    raise AssertionError(f'{name}: exported shape {tuple(b.shape)} != eager '
                                         f'{tuple(a.shape)} for input {tuple(x.shape)}')
                diff = float((a - b).abs().max())
                diffs[name] = max(diffs.get(name, 0.0), diff)
    return diffs


def main(argv=None):
    args = parse_args(argv)
    reference = build_backbone(args.config, args.arch, args.checkpoint)
    model = reference
    if args.fuse_bn:
        from mmcv.cnn import fuse_conv_bn
        model = fuse_conv_bn(copy.deepcopy(reference))
    height, width = args.shape
    example = torch.rand(args.batch, model.in_channels, height, width)
    export(model, args.format, args.out, example, args.opset)
    # A second shape proves the batch and spatial sizes are not baked into the graph. The
    # reference is the unfused model, so the tolerance covers the BN folding as well.
    other = torch.rand(args.batch + 1, model.in_channels, height + 32, width + 64)
    diffs = compare(reference, load_exported(args.format, args.out), [example, other])
    # the dynamo exporter (opset >= 18) writes the weights to a file beside the graph
    size_mib = sum(os.path.getsize(f) for f in (args.out, args.out + '.data')
                   if os.path.exists(f)) / 2**20
    print(f'wrote {args.out} ({args.format}, {size_mib:.1f} MiB); largest difference to eager '
          f'at {tuple(example.shape)} and {tuple(other.shape)}: ' +
          ', '.join(f'{k} {v:.1e}' for k, v in diffs.items()))
    worst = max(diffs.values())
    if worst > args.tolerance:
        raise SystemExit(f'export differs from eager by {worst:.2e} > --tolerance '
                         f'{args.tolerance:g}')
    return diffs


if __name__ == '__main__':
    main()
