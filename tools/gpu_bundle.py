"""The bundle that tools/gpu_check.py installs on a GPU machine without network.

``tools/prepare_gpu_bundle.sh`` fills an ignored folder (default ``.gpu_bundle/``) on a machine
with network; the device run carries it along (64 MiB with the repository). Layout::

    wheels/*.whl                    cp312 / pure-Python wheels of :data:`PINS`, installed with
                                    ``pip install --no-index --no-deps --target``
    mmcv/mmcv-2.1.0.tar.gz          mmcv's sdist, built on the GPU machine (CUDA ops, its arch)
    mmcv/mmcv-2.1.0-cp312-*.whl     optional: a CUDA wheel built ahead for that machine's
    mmcv/BUILD.json                 torch, Python and arch (``prepare_gpu_bundle.sh --build-mmcv``)
    MANIFEST.json                   every file with its size and sha256

Commands (standard library only, so they run before anything is installed)::

    python tools/gpu_bundle.py pins                      # the pinned requirements, one a line
    python tools/gpu_bundle.py manifest BUNDLE           # write BUNDLE/MANIFEST.json
    python tools/gpu_bundle.py verify BUNDLE             # exit 1 naming what is missing or changed
    python tools/gpu_bundle.py requirements BUNDLE       # every wheel's needs met by the bundle or
                                                         # the GPU image (--installed: by what this
                                                         # Python imports, versions checked)
    python tools/gpu_bundle.py mmcv-wheel BUNDLE         # the prebuilt mmcv wheel that fits this
                                                         # Python's torch, or nothing
"""
import argparse
import hashlib
import json
import os
import os.path as osp
import re
import sys
import zipfile

# Wheels the GPU machine lacks: the OpenMMLab stack this repository is tested with
# (requirements.txt) and what those packages need beyond the GPU image. Versions as in the
# project's environment where a cp312 wheel exists.
PINS = (
    'mmengine==0.10.7',
    'mmdet==3.3.0',
    'mmsegmentation==1.2.2',
    'pycocotools==2.0.11',
    'shapely==2.2.0',
    'terminaltables==3.1.10',
    'addict==2.4.0',
    'yapf==0.43.0',
    'platformdirs==4.14.8',
    'termcolor==3.3.0',
    'prettytable==3.18.0',
    'wcwidth==0.9.4',
    'ftfy==6.3.1',
    # mmengine resolves `_base_ = 'mmdet::...'` with pkg_resources; building mmcv's sdist needs
    # setuptools and wheel too. Put first on PYTHONPATH, they shadow the image's newer setuptools.
    'setuptools==69.5.1',
    'wheel==0.48.0',
)
MMCV_VERSION = '2.1.0'
TARGET_PYTHON = '3.12'

# Python packages of the GPU machines' image ('cuda'), as the device documentation lists them
# (read on 2026-11-17). Versions are unknown here: `requirements --installed` checks them there.
GPU_IMAGE = set("""
absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch
build certifi charset-normalizer chex click cloudpickle cmake colorama contourpy coverage
cuda-bindings cuda-core cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn
einops equinox etils execnet filelock flatbuffers flax fonttools formulaic frozenlist fsspec
gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize hypothesis idna imageio
iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin jaxlib jaxtyping jinja2 joblib
kiwisolver lazy-loader lightning lightning-utilities linear-operator lineax llvmlite lxml markdown
markdown-it-py markupsafe matplotlib mdurl meson ml-dtypes mpi4py mpmath msgpack multidict
multipledispatch mypy-extensions nanobind narwhals networkx ninja numba numba-cuda numpy numpyro
nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc nvidia-cuda-runtime nvidia-cudnn-cu13
nvidia-cufft nvidia-cufile nvidia-curand nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13
nvidia-ml-py nvidia-nccl-cu13 nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx onnx onnx-ir
onnxruntime onnxscript opencv-python-headless optax opt-einsum opt-einsum-fx optimistix
orbax-checkpoint packaging pandas pathspec patsy peft pillow pip pluggy portalocker
prometheus-client propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments pyparsing
pyproject-hooks pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout
pytest-xdist python-dateutil pytorch-lightning pyyaml regex requests rich sacrebleu safetensors
scikit-build-core scikit-image scikit-learn scipy seaborn sentencepiece sentence-transformers
setuptools shellingham simplejson six sortedcontainers statsmodels sympy tabulate tensorboard
tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm tokenizers toolz torch
torchaudio torchdiffeq torch-geometric torchmetrics torchvision tqdm transformers treescope triton
typer typing-extensions typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray
xxhash yarl zipp
""".split())
# A requirement met by another distribution that provides the same module (cv2).
ALIASES = {'opencv-python': 'opencv-python-headless'}
# The marker environment of the GPU machine's Python (Linux x86-64, CPython 3.12).
TARGET_MARKERS = dict(python_version=TARGET_PYTHON, python_full_version=TARGET_PYTHON + '.3',
                      sys_platform='linux', platform_system='Linux', os_name='posix',
                      platform_machine='x86_64', implementation_name='cpython',
                      platform_python_implementation='CPython', extra='')


def normalize(name):
    return re.sub(r'[-_.]+', '-', name).lower()


def sha256(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def bundle_files(bundle):
    """Paths of the bundle's files, relative to it, MANIFEST.json left out."""
    files = []
    for folder, _, names in os.walk(bundle):
        for name in names:
            rel = osp.relpath(osp.join(folder, name), bundle)
            if rel != 'MANIFEST.json':
                files.append(rel)
    return sorted(files)


def write_manifest(bundle):
    files = {}
    for rel in bundle_files(bundle):
        path = osp.join(bundle, rel)
        files[rel] = dict(bytes=osp.getsize(path), sha256=sha256(path))
    manifest = dict(pins=list(PINS), mmcv=MMCV_VERSION, python=TARGET_PYTHON,
                    total_bytes=sum(f['bytes'] for f in files.values()), files=files)
    with open(osp.join(bundle, 'MANIFEST.json'), 'w') as f:
        json.dump(manifest, f, indent=2)
    return manifest


def verify(bundle):
    """Problems with the bundle (an empty list when it is complete and unchanged)."""
    path = osp.join(bundle, 'MANIFEST.json')
    if not osp.isfile(path):
        return [f'{path} is missing: run tools/prepare_gpu_bundle.sh (on a machine with network) '
                'and carry the folder along']
    with open(path) as f:
        manifest = json.load(f)
    problems = []
    for rel, meta in manifest['files'].items():
        full = osp.join(bundle, rel)
        if not osp.isfile(full):
            problems.append(f'{rel}: missing')
        elif osp.getsize(full) != meta['bytes'] or sha256(full) != meta['sha256']:
            problems.append(f'{rel}: changed since the manifest was written')
    extra = set(bundle_files(bundle)) - set(manifest['files'])
    problems += [f'{rel}: not in the manifest' for rel in sorted(extra)]
    wheels = [rel for rel in manifest['files'] if rel.startswith('wheels/')]
    have = {normalize(wheel_name(rel)) for rel in wheels}
    for pin in manifest['pins']:
        if normalize(pin.split('==')[0]) not in have:
            problems.append(f'wheels/: no wheel for {pin}')
    if f'mmcv/mmcv-{manifest["mmcv"]}.tar.gz' not in manifest['files']:
        problems.append(f'mmcv/mmcv-{manifest["mmcv"]}.tar.gz: missing')
    return problems


def wheel_name(path):
    return osp.basename(path).split('-')[0]


def wheel_requirements(path):
    """The Requires-Dist lines of a wheel's METADATA."""
    with zipfile.ZipFile(path) as zf:
        meta = next(n for n in zf.namelist() if n.endswith('.dist-info/METADATA'))
        text = zf.read(meta).decode('utf-8', 'replace')
    return [line.split(':', 1)[1].strip() for line in text.splitlines()
            if line.startswith('Requires-Dist:')]


def sdist_requirements(path):
    """The unconditional requirements of a setuptools sdist (its egg-info's requires.txt)."""
    import tarfile
    with tarfile.open(path) as tf:
        member = next((m for m in tf.getmembers() if m.name.endswith('.egg-info/requires.txt')),
                      None)
        if member is None:
            return []
        text = tf.extractfile(member).read().decode('utf-8', 'replace')
    lines = []
    for line in text.splitlines():
        if line.startswith('['):  # extras and markers sections follow the plain requirements
            break
        if line.strip():
            lines.append(line.strip())
    return lines


def _requirement_class():
    try:
        from packaging.requirements import Requirement
    except ImportError:  # pip vendors packaging: there wherever pip is
        from pip._vendor.packaging.requirements import Requirement
    return Requirement


def _installed_version(name):
    from importlib import metadata
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def check_requirements(bundle, installed=False):
    """(problems, notes) for the requirements of every wheel in ``bundle/wheels`` and of
    mmcv's sdist.

    A requirement is met by a wheel of the bundle (version checked), or, without ``installed``,
    by the name of a package of the GPU image (version unknown: noted); with ``installed``, by
    the distribution this Python finds (version checked).
    """
    Requirement = _requirement_class()
    folder = osp.join(bundle, 'wheels')
    wheels = {}
    for name in sorted(os.listdir(folder)):
        if name.endswith('.whl'):
            wheels[normalize(wheel_name(name))] = (name, name.split('-')[1])
    owners = [(owner, wheel_requirements(osp.join(folder, filename)))
              for owner, (filename, _) in wheels.items()]
    sdist = osp.join(bundle, 'mmcv', f'mmcv-{MMCV_VERSION}.tar.gz')
    if osp.isfile(sdist):
        owners.append(('mmcv', sdist_requirements(sdist)))
        wheels.setdefault('mmcv', (None, MMCV_VERSION))
    problems, notes = [], []
    for owner, lines in owners:
        for line in lines:
            req = Requirement(line)
            if req.marker is not None and not req.marker.evaluate(TARGET_MARKERS):
                continue
            name = normalize(req.name)
            candidates = [name] + ([ALIASES[name]] if name in ALIASES else [])
            if name in wheels:
                version = wheels[name][1]
                if not req.specifier.contains(version, prereleases=True):
                    problems.append(f'{owner} needs {line}; the bundle has {version}')
                continue
            if installed:
                found = [(c, _installed_version(c)) for c in candidates]
                found = [(c, v) for c, v in found if v is not None]
                if not found:
                    problems.append(f'{owner} needs {line}: not installed')
                elif not req.specifier.contains(found[0][1], prereleases=True):
                    problems.append(f'{owner} needs {line}; installed: {found[0][0]} '
                                    f'{found[0][1]}')
            elif any(c in GPU_IMAGE for c in candidates):
                notes.append(f'{owner} needs {line}: from the GPU image (version not checked '
                             'here)')
            else:
                problems.append(f'{owner} needs {line}: neither in the bundle nor in the GPU '
                                'image')
    return problems, notes


def mmcv_wheel(bundle, torch_version, python_version):
    """The prebuilt mmcv wheel of the bundle that fits this torch and Python, or None."""
    info_path = osp.join(bundle, 'mmcv', 'BUILD.json')
    if not osp.isfile(info_path):
        return None
    with open(info_path) as f:
        info = json.load(f)
    wheel = osp.join(bundle, 'mmcv', info['wheel'])
    # the extension is built against one torch's C++ ABI: major.minor and CUDA build must match
    same_torch = info['torch'].split('.')[:2] == torch_version.split('.')[:2] and \
        info['torch'].partition('+')[2] == torch_version.partition('+')[2]
    if osp.isfile(wheel) and same_torch and info['python'] == python_version:
        return wheel
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('command', choices=['pins', 'manifest', 'verify', 'requirements',
                                            'mmcv-wheel'])
    parser.add_argument('bundle', nargs='?', default='.gpu_bundle')
    parser.add_argument('--installed', action='store_true',
                        help='requirements: check against what this Python finds')
    args = parser.parse_args(argv)
    if args.command == 'pins':
        print('\n'.join(PINS))
        return 0
    if not osp.isdir(args.bundle):
        print(f'gpu_bundle: {args.bundle} does not exist: run tools/prepare_gpu_bundle.sh (on a '
              'machine with network) and carry the folder along', file=sys.stderr)
        return 1
    if args.command == 'manifest':
        manifest = write_manifest(args.bundle)
        print(f'{len(manifest["files"])} files, {manifest["total_bytes"] / 2**20:.1f} MiB')
        return 0
    if args.command == 'verify':
        problems = verify(args.bundle)
        for problem in problems:
            print(f'gpu_bundle: {problem}', file=sys.stderr)
        if not problems:
            print(f'{args.bundle}: complete')
        return 1 if problems else 0
    if args.command == 'requirements':
        problems, notes = check_requirements(args.bundle, installed=args.installed)
        for note in notes:
            print(f'  {note}')
        for problem in problems:
            print(f'gpu_bundle: {problem}', file=sys.stderr)
        if not problems:
            print('every requirement of the bundle\'s wheels is met')
        return 1 if problems else 0
    import torch
    python = '.'.join(map(str, sys.version_info[:2]))
    wheel = mmcv_wheel(args.bundle, torch.__version__, python)
    if wheel:
        print(wheel)
    return 0


if __name__ == '__main__':
    sys.exit(main())
