"""Save torch's random state in checkpoints so that a resumed run continues exactly."""
import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

STATE_KEY = 'hs_backbone_rng'


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Make ``--resume`` continue with the random numbers the stopped run would have drawn.

    mmengine's resume restores weights, optimizer, schedulers and the seed, and replays the
    data sampler, so data order and data augmentation (numpy, re-seeded and replayed while the
    loop skips the batches already trained) repeat. What it does not restore is torch's global
    generator, which the model itself draws from after the seed: mmdet's RoI and anchor
    samplers, dropout in mmseg's heads. Without it a resumed run drifts from the uninterrupted
    one. This hook stores that state (CPU, and CUDA when present) in every checkpoint and puts
    it back when training starts after a resume (after mmengine has re-seeded, before the
    first iteration).

    Example:
        >>> custom_hooks = [dict(type='RNGStateHook')]  # in a config
    """

    priority = 'VERY_LOW'

    def __init__(self):
        self._resumed_state = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        state = dict(cpu=torch.get_rng_state())
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state['cuda'] = torch.cuda.get_rng_state_all()
        checkpoint[STATE_KEY] = state

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # Applied in before_train: mmengine may re-seed after this hook during resume.
        self._resumed_state = checkpoint.get(STATE_KEY)

    def before_train(self, runner) -> None:
        state, self._resumed_state = self._resumed_state, None
        # after_load_checkpoint also runs for load_from (fine-tuning): only a resumed run,
        # which starts past iteration 0, continues the stopped run's random stream.
        if state is None or (runner.iter == 0 and runner.epoch == 0):
            return
        torch.set_rng_state(state['cpu'])
        if 'cuda' in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state['cuda'])
