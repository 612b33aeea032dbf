"""How well a checkpoint's weights fit a model: what loads, what is missing, unexpected or
of another shape.

mmengine loads ``load_from`` checkpoints non-strictly: whatever does not fit is logged as one
warning line per key (dozens for a backbone of another shape) and skipped, and the run goes
on. That is what fine-tuning needs, and it is how a wrong checkpoint gets evaluated without
an error. :class:`StateDictFit` puts the outcome into one line, and tells whether it is a
complete fit.
"""
import re
from typing import NamedTuple

# What mmengine's Runner.load_checkpoint strips from checkpoint keys by default.
REVISE_KEYS = ((r'^module\.', ''), )


class StateDictFit(NamedTuple):
    """Keys of a checkpoint compared with those of a model (each list sorted)."""

    loaded: list
    missing: list
    unexpected: list
    wrong_shape: list

    @property
    def complete(self) -> bool:
        """True when every tensor of the model loads and nothing is left over."""
        return not (self.missing or self.unexpected or self.wrong_shape)

    def summary(self, first: int = 3) -> str:
        """One line: counts, and the first ``first`` names of each kind of misfit.

        Example:
            >>> StateDictFit(['a', 'b'], ['c'], [], []).summary()
            '2 of 3 tensors loaded; missing 1 (c), unexpected 0, wrong shape 0'
        """
        total = len(self.loaded) + len(self.missing) + len(self.wrong_shape)
        return (f'{len(self.loaded)} of {total} tensors loaded; missing '
                f'{name_some(self.missing, first)}, unexpected '
                f'{name_some(self.unexpected, first)}, wrong shape '
                f'{name_some(self.wrong_shape, first)}')


def name_some(keys, first=3):
    """``'5 (a, b, c, ...)'``: how many, and the first few names."""
    if not keys:
        return '0'
    more = ', ...' if len(keys) > first else ''
    return f'{len(keys)} ({", ".join(keys[:first])}{more})'


def compare_state_dicts(expected: dict, given: dict) -> StateDictFit:
    """Compare names and shapes of ``given`` tensors with those ``expected`` by a model.

    Args:
        expected (dict): The model's ``state_dict()``.
        given (dict): The tensors that would be loaded into it.

    Returns:
        StateDictFit: The comparison.
    """
    shared = set(expected) & set(given)
    wrong_shape = {k for k in shared if tuple(expected[k].shape) != tuple(given[k].shape)}
    return StateDictFit(
        loaded=sorted(shared - wrong_shape),
        missing=sorted(set(expected) - set(given)),
        unexpected=sorted(set(given) - set(expected)),
        wrong_shape=sorted(wrong_shape))


def checkpoint_fit(model, filename: str) -> StateDictFit:
    """Compare the checkpoint at ``filename`` with ``model`` as mmengine would load it.

    The checkpoint is read with mmengine's loader (hs_backbone's safe loader for local files;
    URLs and ``torchvision://`` names work too), its ``state_dict`` taken and its keys revised
    as ``Runner.load_checkpoint`` does; a wrapped (DDP) model is compared by its module.

    Args:
        model (torch.nn.Module): The model, wrapped or not.
        filename (str): Anything ``load_from`` accepts.

    Returns:
        StateDictFit: The comparison.
    """
    from mmengine.model import is_model_wrapper
    from mmengine.runner.checkpoint import CheckpointLoader
    if is_model_wrapper(model):
        model = model.module
    checkpoint = CheckpointLoader.load_checkpoint(filename, map_location='cpu')
    state_dict = checkpoint.get('state_dict', checkpoint)
    for pattern, replacement in REVISE_KEYS:
        state_dict = {re.sub(pattern, replacement, k): v for k, v in state_dict.items()}
    return compare_state_dicts(model.state_dict(), state_dict)
