"""Start the process group before the Runner, on CPU too, and safely across torchrun restarts.

mmengine's Runner calls ``init_dist`` only when no process group exists, so starting it here
changes nothing for the Runner, and lets the tools do collective work before it is built
(all ranks resuming from the checkpoint rank 0 chose).
"""
import os
import subprocess


def init_distributed(cfg) -> None:
    """Start the process group of ``cfg.launcher`` (``'none'``: nothing to do).

    With CUDA this is mmengine's ``init_dist`` with the config's ``env_cfg.dist_cfg``, as the
    Runner would call it. Without CUDA it is gloo, for ``pytorch`` (torchrun) and ``slurm``:
    mmengine 0.10.7's ``init_dist`` calls ``torch.cuda.set_device`` for every launcher.

    Args:
        cfg (mmengine.Config): The run's config, with ``launcher`` set.
    """
    import torch
    import torch.distributed as dist
    if cfg.launcher == 'none' or dist.is_initialized():
        return
    if torch.cuda.is_available():
        from mmengine.dist import init_dist
        dist_cfg = dict(cfg.get('env_cfg', {}).get('dist_cfg', {}))
        if cfg.launcher == 'pytorch':
            dist_cfg.update(torchrun_attempt_store())
        init_dist(cfg.launcher, **dist_cfg)
        return
    if cfg.launcher == 'slurm':
        _torch_env_from_slurm()
    elif cfg.launcher != 'pytorch':
        raise ValueError(f'without CUDA, distributed runs need --launcher pytorch (torchrun, '
                         f'tools/dist_train.sh) or slurm, got --launcher {cfg.launcher}')
    dist.init_process_group(backend='gloo', **torchrun_attempt_store())


def torchrun_attempt_store() -> dict:
    """``init_process_group`` arguments that keep a torchrun restart apart from its
    predecessors; empty outside torchrun.

    torch 2.14's workers share the store of torchrun's agent without separating restart
    attempts, and with the default (static) rendezvous the agent keeps one store for all of
    them: a restarted rank can read the address that a killed rank published and fail with
    "Connection refused" (seen here whenever a restarted rank started later than another).
    Older torch prefixed the keys with the attempt; this does the same.
    """
    import torch.distributed as dist
    if os.environ.get('TORCHELASTIC_USE_AGENT_STORE') != 'True':
        return {}
    world_size = int(os.environ['WORLD_SIZE'])
    store = dist.TCPStore(os.environ['MASTER_ADDR'], int(os.environ['MASTER_PORT']), world_size,
                          is_master=False)
    attempt = os.environ['TORCHELASTIC_RESTART_COUNT']
    return dict(store=dist.PrefixStore(f'hs_backbone/attempt_{attempt}', store),
                rank=int(os.environ['RANK']), world_size=world_size)


def _torch_env_from_slurm():
    # What mmengine's slurm set-up derives from srun's variables, with the node-local rank
    # from Slurm instead of a GPU count. MASTER_ADDR and MASTER_PORT win when set.
    import torch
    if 'OMP_NUM_THREADS' not in os.environ:
        # each task would use every core of the node, and tasks sharing cores run many times
        # slower; torchrun sets OMP_NUM_THREADS=1 for the same reason, mmengine sets it too
        # late (torch has read it by then)
        torch.set_num_threads(int(os.environ.get('SLURM_CPUS_PER_TASK', 1)))
    os.environ['RANK'] = os.environ['SLURM_PROCID']
    os.environ['WORLD_SIZE'] = os.environ['SLURM_NTASKS']
    os.environ['LOCAL_RANK'] = os.environ['SLURM_LOCALID']
    os.environ.setdefault('MASTER_PORT', '29500')
    if 'MASTER_ADDR' not in os.environ:
        hosts = subprocess.run(['scontrol', 'show', 'hostnames', os.environ['SLURM_NODELIST']],
                               capture_output=True, text=True, check=True).stdout
        os.environ['MASTER_ADDR'] = hosts.split()[0]
