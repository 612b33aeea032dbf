"""Load mmengine's own checkpoints safely under torch >= 2.6.

torch >= 2.6 loads with ``weights_only=True``, whose allow-list lacks what mmengine's Runner
pickles into every checkpoint: ``HistoryBuffer`` (the message hub), numpy arrays and scalars,
and ``getattr(HistoryBuffer, 'mean')``-style references to its statistics methods. With
mmengine 0.10.7 that breaks ``--resume``, ``load_from`` and every ``tools/test.py``.

Turning the safety off (``weights_only=False``) would run any code a checkpoint carries.
Instead, :func:`safe_load` unpickles with an allow-list of exactly what mmengine, torch and
numpy put into a Runner checkpoint; ``getattr`` is allowed only on ``HistoryBuffer`` and only
for its statistics methods. Anything else is refused with ``pickle.UnpicklingError`` naming
the global.

:func:`install` registers :func:`safe_load` as mmengine's loader for local files; importing
``hs_backbone`` calls it, so configs with ``custom_imports=dict(imports=['hs_backbone'])``
get it in mmdet's and mmseg's own tools too.
"""
import _compat_pickle
import os.path as osp
import pickle
import types

import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

# module -> names that may be looked up while unpickling a checkpoint.
ALLOWED_GLOBALS = {
    'collections': {'OrderedDict', 'defaultdict'},
    'builtins': {'set', 'frozenset', 'slice', 'complex', 'bytearray'},
    'torch': {'Size', 'device', 'dtype'} | {
        name for name in dir(torch) if isinstance(getattr(torch, name, None), torch.dtype)
    },
    'torch._utils': {'_rebuild_tensor_v2', '_rebuild_parameter', '_rebuild_parameter_with_state',
                     '_rebuild_device_tensor_from_numpy', '_rebuild_qtensor'},
    'torch._tensor': {'_rebuild_from_type_v2'},
    'torch.nn.parameter': {'Parameter'},
    'mmengine.logging.history_buffer': {'HistoryBuffer'},
    'numpy': {'ndarray', 'dtype'},
    'numpy.core.multiarray': {'_reconstruct', 'scalar'},
    'numpy._core.multiarray': {'_reconstruct', 'scalar'},
    '_codecs': {'encode'},
}
# numpy dtype classes (numpy.dtypes.Float64DType, ...) are pickled by numpy >= 1.25.
ALLOWED_MODULE_PREFIXES = ('numpy.dtypes', )
HISTORY_BUFFER_STATISTICS = frozenset({'min', 'max', 'mean', 'current'})


def _history_buffer_getattr(obj, name):
    if obj is HistoryBuffer and name in HISTORY_BUFFER_STATISTICS:
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'checkpoint asks for getattr({obj!r}, {name!r}); only getattr(HistoryBuffer, '
        f'{sorted(HISTORY_BUFFER_STATISTICS)}) is allowed')


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals of :data:`ALLOWED_GLOBALS`."""

    def find_class(self, module, name):
        # torch.save writes protocol 2, which names Python 2 modules (__builtin__.getattr);
        # pickle's own find_class maps them, so the allow-list must see the mapped names too.
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if module == 'builtins' and name == 'getattr':
            return _history_buffer_getattr
        if name in ALLOWED_GLOBALS.get(module, ()) or module.startswith(ALLOWED_MODULE_PREFIXES):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f'refusing to load global {module}.{name} from a checkpoint: it is not something '
            'mmengine, torch or numpy write into one. If you trust this file, load it with '
            'torch.load(..., weights_only=False) yourself.')


# torch.load takes a module-like object offering ``Unpickler`` and ``load``.
restricted_pickle = types.SimpleNamespace(
    Unpickler=RestrictedUnpickler,
    load=lambda f, **kw: RestrictedUnpickler(f, **kw).load(),
    __name__='hs_backbone.checkpoint.restricted_pickle')


def safe_load(filename, map_location=None):
    """Load a local checkpoint written by torch or mmengine, refusing foreign globals.

    Args:
        filename (str): Path of the checkpoint.
        map_location (str or torch.device, optional): As for ``torch.load``.

    Returns:
        dict: The checkpoint.

    Example:
        >>> from hs_backbone.checkpoint import safe_load
        >>> ckpt = safe_load('work_dirs/demo/epoch_1.pth', map_location='cpu')  # doctest: +SKIP
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} can not be found.')
    return torch.load(
        filename, map_location=map_location, weights_only=False, pickle_module=restricted_pickle)


def install():
    """Make :func:`safe_load` mmengine's loader for local checkpoint paths."""
    CheckpointLoader.register_scheme(prefixes='', loader=safe_load, force=True)
