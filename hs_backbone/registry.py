"""Register the backbone in every installed OpenMMLab codebase that builds backbones.

``custom_imports=dict(imports=['hs_backbone'])`` imports this package, after which
``type='HSResNet'`` resolves under mmdet's, mmseg's and mmpretrain's default scopes alike.
Codebases that are not installed are skipped, so detection-only or segmentation-only
environments work.
"""
import importlib

from .models import HSResNet

CODEBASES = ('mmdet', 'mmseg', 'mmpretrain')


def register_backbones():
    """Register :class:`HSResNet` in the ``MODELS`` registry of each installed codebase.

    Returns:
        list[str]: The codebases it was registered in.
    """
    registered = []
    for codebase in CODEBASES:
        try:
            registry = importlib.import_module(f'{codebase}.registry')
        except ImportError:
            continue
        registry.MODELS.register_module(module=HSResNet, force=True)
        registered.append(codebase)
    return registered


REGISTERED_IN = register_backbones()
