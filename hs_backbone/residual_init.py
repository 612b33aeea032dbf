"""Zero-init of every residual block's last norm layer, as an ``init_cfg`` for any backbone.

mmdet's ``ResNet`` (and ``HSResNet``) start each residual branch at zero when built without
weights (``zero_init_residual=True``, their default), which helps training from scratch. mmdet
3.3's ``Res2Net`` and ``ResNeSt`` accept the same argument but never apply it: ``ResNet`` only
zeroes blocks whose class *is* its own ``Bottleneck``, and theirs are subclasses. A comparison of
backbones from scratch is then a comparison of initialisations too. This initializer gives such
backbones the same start, from the config::

    backbone=dict(
        type='mmdet.Res2Net', depth=50, ...,
        init_cfg=[dict(type='Kaiming', layer='Conv2d'),
                  dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm']),
                  dict(type='ZeroResidualNorm')])  # after the Constant: it must come last
"""
from mmengine.model.weight_init import BaseInit, constant_init, update_init_info
from mmengine.registry import WEIGHT_INITIALIZERS
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.normalization import GroupNorm, LayerNorm

NORMS = (_BatchNorm, GroupNorm, LayerNorm)


@WEIGHT_INITIALIZERS.register_module(name='ZeroResidualNorm')
class ZeroResidualNormInit(BaseInit):
    """Set the weight and bias of each residual block's last norm layer to zero.

    A block is any submodule with an attribute in ``names`` that is a norm layer (mmdet's and
    mmpretrain's bottlenecks expose ``norm3``, their basic blocks ``norm2``).

    Args:
        names (str | list[str]): Attribute names of the blocks' last norm layers.
            Default: ``('norm3',)``.

    Raises:
        ValueError: When the module has no such norm layer: an initializer that silently does
            nothing is how backbones came to differ in the first place.

    Example:
        >>> from mmdet.models.backbones import Res2Net
        >>> import hs_backbone  # noqa: F401  (registers the initializer)
        >>> net = Res2Net(depth=50, init_cfg=[dict(type='Kaiming', layer='Conv2d'),
        ...                                   dict(type='ZeroResidualNorm')])
        >>> net.init_weights()
        >>> float(net.layer1[0].norm3.weight.abs().sum())
        0.0
    """

    def __init__(self, names=('norm3',), **kwargs):
        super().__init__(**kwargs)
        self.names = [names] if isinstance(names, str) else list(names)

    def __call__(self, module):
        zeroed = 0
        for block in module.modules():
            for name in self.names:
                norm = getattr(block, name, None)
                if isinstance(norm, NORMS):
                    constant_init(norm, 0, bias=0)
                    zeroed += 1
        if zeroed == 0:
            raise ValueError(f'init_cfg ZeroResidualNorm: {type(module).__name__} has no '
                             f'submodule with a norm layer named {" or ".join(self.names)}; '
                             "set names=[...] to its blocks' last norm layer")
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=self._get_init_info())

    def _get_init_info(self):
        return f'{self.__class__.__name__}: the norm layers named {", ".join(self.names)} set to 0'
