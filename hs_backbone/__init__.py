"""HS-ResNet (Hierarchical-Split ResNet) backbone for OpenMMLab codebases."""
from . import checkpoint, residual_init, rng_state_hook  # noqa: F401  (registers the hook, the init)
from .models import HSBlock, HSBottleneck, HSResLayer, HSResNet
from .registry import REGISTERED_IN

checkpoint.install()

__version__ = '0.1.0'
__all__ = ['HSBlock', 'HSBottleneck', 'HSResLayer', 'HSResNet', 'REGISTERED_IN']
