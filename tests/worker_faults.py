"""Test-only faults of a torchrun worker group: one worker dies as on a failed node (SIGKILL,
no clean-up), and after the restart another one comes up late, as on a slow node.

Imported through a config's ``custom_imports``, i.e. before the process group starts.
"""
import os
import signal
import time

from mmengine.hooks import Hook
from mmengine.registry import HOOKS

LATE_START_S = 8

# On a restart, rank 1 joins late: the restarted rank 0 then looks for rank 1 before rank 1
# has published its new address, which is when a store kept from the killed attempt misleads
# it (hs_backbone.distributed.torchrun_attempt_store).
if os.environ.get('TORCHELASTIC_RESTART_COUNT', '0') != '0' and os.environ.get('RANK') == '1':
    time.sleep(LATE_START_S)


@HOOKS.register_module()
class SigkillOnceHook(Hook):
    """SIGKILL rank ``rank`` after iteration ``at_iter``, on torchrun's first attempt only.

    Args:
        at_iter (int): 1-based iteration after which to die.
        rank (int): The rank that dies.
    """

    # after CheckpointHook (VERY_LOW): a checkpoint due at this iteration is saved first
    priority = 'LOWEST'

    def __init__(self, at_iter, rank):
        self.at_iter = at_iter
        self.rank = rank

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        first_attempt = os.environ.get('TORCHELASTIC_RESTART_COUNT', '0') == '0'
        if first_attempt and runner.rank == self.rank and runner.iter + 1 == self.at_iter:
            os.kill(os.getpid(), signal.SIGKILL)
