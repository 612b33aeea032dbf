"""How mmcv's compiled ops are built for this machine, and whether the installed ones fit.

tools/setup_env.sh runs this with the venv's Python once torch is installed:

* ``plan``: decides CPU or CUDA ops, the CUDA toolkit and archs, and the wheel cache key, and
  prints them as shell assignments. CUDA ops are built when a GPU is visible (mmcv's setup.py
  does so then whatever ``FORCE_CUDA`` says) or when ``FORCE_CUDA=1`` asks for them on a machine
  without one (a cluster login node), for ``TORCH_CUDA_ARCH_LIST`` or else the visible GPUs'
  archs. The toolkit's major version must match torch's CUDA: the user's ``CUDA_HOME`` when it
  does, else the registry's ``cuda-toolkit`` at the version torch itself requires.
* ``check``: after install, fails with the fix when CUDA ops are wanted and mmcv has none, or
  lacks one of the wanted archs.
* ``archs SO``: the GPU archs compiled into a shared library (its ``.nv_fatbin`` section), for
  machines without ``cuobjdump``.

Example:
    $ FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST="8.0;9.0" python tools/mmcv_build.py plan
    MMCV_OPS=cuda
    MMCV_CACHE_KEY=torch2.14.1+cu130-cp311-cuda13.0-sm80.sm90
    ...
"""
import argparse
import glob
import importlib.metadata
import os
import os.path as osp
import re
import shlex
import struct
import subprocess
import sys
import sysconfig
from dataclasses import dataclass

# Measured on the 2-core project machine (user + sys time of the whole build): CPU ops about
# 950 core-seconds, CUDA ops for one arch about 2,800 (sm_90, 2026-11-26). Each further arch:
# about 600 more, an estimate.
CPU_BUILD_CORE_SECONDS = 950
CUDA_BUILD_CORE_SECONDS = 2800
CUDA_EXTRA_ARCH_CORE_SECONDS = 600


class PlanError(RuntimeError):
    """The machine or the variables given cannot yield a working mmcv; the message says why."""


@dataclass
class BuildPlan:
    """What tools/setup_env.sh builds and where it caches it.

    Attributes:
        ops (str): ``'cpu'`` or ``'cuda'``.
        cache_key (str): Names what the wheel holds: torch, Python, CPU or CUDA version, archs.
        arch_list (str): ``TORCH_CUDA_ARCH_LIST`` for the build; empty for CPU ops.
        cuda_home (str): The toolkit to build with (``CUDA_HOME``); empty for CPU ops.
        toolkit_requirement (str): pip requirement of the registry toolkit to install into the
            venv first (it lands in ``cuda_home``), or empty for the user's own toolkit.
        minutes (int): Estimated build time on this machine's cores.
    """
    ops: str
    cache_key: str
    arch_list: str = ''
    cuda_home: str = ''
    toolkit_requirement: str = ''
    minutes: int = 0

    def as_shell(self) -> str:
        values = dict(MMCV_OPS=self.ops, MMCV_CACHE_KEY=self.cache_key,
                      MMCV_ARCH_LIST=self.arch_list, MMCV_CUDA_HOME=self.cuda_home,
                      MMCV_TOOLKIT=self.toolkit_requirement, MMCV_MINUTES=self.minutes)
        return ''.join(f'{k}={shlex.quote(str(v))}\n' for k, v in values.items())


def cuda_wanted(env, gpu_visible):
    """mmcv's setup.py builds CUDA ops when a GPU is visible or ``FORCE_CUDA=1``."""
    return gpu_visible or env.get('FORCE_CUDA') == '1'


def parse_arch_list(arch_list):
    """``'8.0;9.0+PTX'`` or ``'8.0 9.0'`` -> ``['8.0', '9.0+PTX']``.

    Raises:
        PlanError: If an entry is not ``MAJOR.MINOR`` with an optional ``+PTX``.
    """
    archs = [a for a in re.split(r'[;\s]+', arch_list.strip()) if a]
    for arch in archs:
        if not re.fullmatch(r'\d+\.\d+a?(\+PTX)?', arch):
            raise PlanError(f'TORCH_CUDA_ARCH_LIST entry {arch!r} is not an arch like 8.0, 9.0 '
                            f'or 9.0+PTX (got TORCH_CUDA_ARCH_LIST={arch_list!r})')
    return archs


def choose_archs(env, capabilities):
    """``TORCH_CUDA_ARCH_LIST`` when set, else the visible GPUs' compute capabilities.

    Args:
        env (Mapping): The environment variables.
        capabilities (list[tuple[int, int]]): Compute capabilities of the visible GPUs.

    Returns:
        list[str]: Archs such as ``['8.0', '9.0']``.
    """
    if env.get('TORCH_CUDA_ARCH_LIST', '').strip():
        return parse_arch_list(env['TORCH_CUDA_ARCH_LIST'])
    if not capabilities:
        # torch's build helper fails with an IndexError here; say what to do instead
        raise PlanError('FORCE_CUDA=1 on a machine without a visible GPU needs the archs to '
                        'build for, e.g. TORCH_CUDA_ARCH_LIST="8.0;9.0" (A100 and H100)')
    return [f'{major}.{minor}' for major, minor in sorted(set(capabilities))]


def nvcc_version(cuda_home):
    """``(major, minor)`` of ``cuda_home/bin/nvcc``, or None when there is no usable nvcc."""
    nvcc = osp.join(cuda_home, 'bin', 'nvcc')
    if not os.access(nvcc, os.X_OK):
        return None
    try:
        out = subprocess.run([nvcc, '--version'], capture_output=True, text=True,
                             timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r'release (\d+)\.(\d+)', out)
    return (int(match.group(1)), int(match.group(2))) if match else None


def toolkit_requirement(torch_requires, torch_cuda):
    """The registry toolkit (nvcc + headers) at the version torch itself requires.

    Args:
        torch_requires (list[str]): torch's ``Requires-Dist`` lines.
        torch_cuda (str): ``torch.version.cuda``, e.g. ``'13.0'``.
    """
    for requirement in torch_requires:
        match = re.match(r'cuda-toolkit\[[^\]]*\]\s*==\s*([\d.]+)', requirement)
        if match:
            return f'cuda-toolkit[nvcc,cccl]=={match.group(1)}'
    # a torch without that pin: the newest patch release of its CUDA minor version
    return f'cuda-toolkit[nvcc,cccl]=={torch_cuda}.*'


def choose_toolkit(env, torch_cuda, torch_requires, site_packages):
    """``(cuda_home, requirement)``: the user's toolkit when its major version matches torch's
    CUDA and nothing to install, else the registry toolkit, which installs into
    ``site_packages/nvidia/cuMAJOR``.

    Raises:
        PlanError: If ``CUDA_HOME``/``CUDA_PATH`` names a toolkit that cannot build for torch.
    """
    user_home = env.get('CUDA_HOME') or env.get('CUDA_PATH')
    if user_home:
        version = nvcc_version(user_home)
        if version is None:
            raise PlanError(f'CUDA_HOME={user_home} has no working bin/nvcc. Point it at a CUDA '
                            f'{torch_cuda} toolkit, or unset it to install the matching one '
                            'from the package registry into the venv.')
        if str(version[0]) != torch_cuda.split('.')[0]:
            raise PlanError(f'CUDA_HOME={user_home} holds CUDA {version[0]}.{version[1]}, but '
                            f'torch was built with CUDA {torch_cuda} and mmcv\'s ops must match '
                            'its major version. Point CUDA_HOME at a CUDA '
                            f'{torch_cuda.split(".")[0]} toolkit, or unset it to install '
                            f'{toolkit_requirement(torch_requires, torch_cuda)} into the venv.')
        return user_home, ''
    return (osp.join(site_packages, 'nvidia', 'cu' + torch_cuda.split('.')[0]),
            toolkit_requirement(torch_requires, torch_cuda))


def cache_key(torch_version, python_tag, torch_cuda=None, archs=()):
    """Name of the wheel cache folder: what the wheel was built against and what it holds."""
    base = f'torch{torch_version}-{python_tag}'
    if torch_cuda is None:
        return f'{base}-cpu'
    sms = '.'.join('sm' + a.replace('.', '').replace('+PTX', '-ptx') for a in archs)
    return f'{base}-cuda{torch_cuda}-{sms}'


def estimated_minutes(ops, num_archs, cores):
    core_seconds = CPU_BUILD_CORE_SECONDS if ops == 'cpu' else (
        CUDA_BUILD_CORE_SECONDS + CUDA_EXTRA_ARCH_CORE_SECONDS * (num_archs - 1))
    return max(1, round(core_seconds / max(1, cores) / 60))


def make_plan(env, gpu_visible, capabilities, torch_version, torch_cuda, torch_requires,
              python_tag, cores, site_packages):
    """Decide the build from the machine's facts (all passed in, so any machine can be posed).

    Args:
        env (Mapping): Environment variables (``FORCE_CUDA``, ``TORCH_CUDA_ARCH_LIST``,
            ``CUDA_HOME``).
        gpu_visible (bool): Whether torch sees a GPU.
        capabilities (list[tuple[int, int]]): The visible GPUs' compute capabilities.
        torch_version (str): ``torch.__version__``.
        torch_cuda (str | None): ``torch.version.cuda``; None for a CPU-only torch.
        torch_requires (list[str]): torch's ``Requires-Dist`` lines.
        python_tag (str): e.g. ``'cp311'``.
        cores (int): Cores the build may use.
        site_packages (str): The venv's site-packages, where a registry toolkit would go.

    Returns:
        BuildPlan: What to build.
    """
    if not cuda_wanted(env, gpu_visible):
        return BuildPlan('cpu', cache_key(torch_version, python_tag),
                         minutes=estimated_minutes('cpu', 0, cores))
    if torch_cuda is None:
        raise PlanError(f'CUDA ops were asked for (FORCE_CUDA=1 or a visible GPU), but torch '
                        f'{torch_version} is a CPU-only build: install a CUDA build of torch')
    archs = choose_archs(env, capabilities)
    cuda_home, requirement = choose_toolkit(env, torch_cuda, torch_requires, site_packages)
    return BuildPlan('cuda', cache_key(torch_version, python_tag, torch_cuda, archs),
                     arch_list=';'.join(archs), cuda_home=cuda_home,
                     toolkit_requirement=requirement,
                     minutes=estimated_minutes('cuda', len(archs), cores))


def plan_for_this_machine(env=os.environ):
    import torch
    gpu_visible = torch.cuda.is_available()
    capabilities = [torch.cuda.get_device_capability(i)
                    for i in range(torch.cuda.device_count())] if gpu_visible else []
    cores = int(env.get('MAX_JOBS') or os.cpu_count() or 1)
    return make_plan(env, gpu_visible, capabilities, torch.__version__, torch.version.cuda,
                     importlib.metadata.requires('torch') or [],
                     f'cp{sys.version_info.major}{sys.version_info.minor}', cores,
                     sysconfig.get_paths()['purelib'])


def fatbin_archs(path):
    """GPU archs (``'sm_90'``, ``'compute_90'`` for PTX) in a shared library's ``.nv_fatbin``.

    Reads the ELF section table and walks the fatbin containers in that section: each starts
    with magic 0xBA55ED50 and holds entries whose header gives the kind (1 PTX, 2 ELF) and the
    SM number. Returns an empty set for a library without GPU code.
    """
    with open(path, 'rb') as f:
        data = f.read()
    if data[:4] != b'\x7fELF' or data[4] != 2:
        raise ValueError(f'{path} is not a 64-bit ELF shared library')
    shoff, = struct.unpack_from('<Q', data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from('<HHH', data, 0x3A)

    def section(index):
        base = shoff + index * shentsize
        name, = struct.unpack_from('<I', data, base)
        offset, size = struct.unpack_from('<QQ', data, base + 24)
        return name, offset, size

    _, names_offset, _ = section(shstrndx)
    archs = set()
    for index in range(shnum):
        name, offset, size = section(index)
        if data[names_offset + name:].split(b'\0', 1)[0] != b'.nv_fatbin':
            continue
        position, end = offset, offset + size
        while position + 16 <= end:
            magic, _, header_size, fat_size = struct.unpack_from('<IHHQ', data, position)
            if magic != 0xBA55ED50:
                position += 8  # containers are 8-byte aligned, with padding between them
                continue
            entry, container_end = position + header_size, position + header_size + fat_size
            while entry < container_end:
                kind, _, entry_header, entry_size = struct.unpack_from('<HHIQ', data, entry)
                arch, = struct.unpack_from('<I', data, entry + 28)
                archs.add(('compute_' if kind == 1 else 'sm_') + str(arch))
                entry += entry_header + entry_size
            position = container_end
    return archs


def wanted_sms(arch_list):
    return {'sm_' + a.split('+')[0].replace('.', '') for a in parse_arch_list(arch_list)}


def check_installed(plan):
    """Fail loudly when the installed mmcv lacks the ops the plan wants.

    Returns:
        str: One line saying what the installed mmcv holds.

    Raises:
        PlanError: With the fix, when CUDA ops are wanted and missing or of the wrong archs.
    """
    import mmcv
    from mmcv.ops import get_compiling_cuda_version
    compiled = get_compiling_cuda_version()
    ext = glob.glob(osp.join(osp.dirname(mmcv.__file__), '_ext*.so'))
    archs = fatbin_archs(ext[0]) if ext else set()
    held = (f'mmcv {mmcv.__version__} with CPU ops' if compiled == 'not available' else
            f'mmcv {mmcv.__version__} with CUDA {compiled} ops for '
            f'{", ".join(sorted(archs)) or "no arch found"}')
    if plan.ops == 'cpu':
        return held
    fix = ('Remove that mmcv (pip uninstall mmcv) and any mmcv wheel you pointed pip at, then '
           'run `make env` again on this machine; on a node without a GPU set FORCE_CUDA=1 and '
           'TORCH_CUDA_ARCH_LIST.')
    if compiled == 'not available':
        raise PlanError(f'{held}, but CUDA ops are wanted here (a GPU is visible or '
                        'FORCE_CUDA=1): Faster/Mask R-CNN would stop with "nms_impl: '
                        f'implementation for device cuda:0 not found". {fix}')
    missing = wanted_sms(plan.arch_list) - archs
    if missing:
        raise PlanError(f'{held}, but {", ".join(sorted(missing))} was asked for. {fix}')
    return held


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)
    sub.add_parser('plan', help='print the build decisions as shell assignments')
    sub.add_parser('check', help='check the installed mmcv against the plan')
    archs = sub.add_parser('archs', help='print the GPU archs compiled into a shared library')
    archs.add_argument('library')
    args = parser.parse_args(argv)
    try:
        if args.command == 'archs':
            print(' '.join(sorted(fatbin_archs(args.library))) or 'no GPU code')
        elif args.command == 'plan':
            print(plan_for_this_machine().as_shell(), end='')
        else:
            print(check_installed(plan_for_this_machine()))
    except PlanError as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
