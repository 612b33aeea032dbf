"""The prepared GPU check, in at most 9 minutes on a GPU machine that has CUDA torch and no network.

It installs what the repository carries (``.gpu_bundle/``, made by
``tools/prepare_gpu_bundle.sh``), runs the CUDA test tier and the GPU benchmark, and writes at most
8 flat files into OUT_DIR: ``summary.txt`` (each step, its time, the verdict), ``env.txt`` (GPU,
driver, versions), ``install.log``, ``tests.log``, ``junit.xml`` (the CUDA tier), ``bench.log``,
``bench.json`` and ``bench.png``. Standard library only: it runs before anything is installed.

Steps that would start too late for the budget are skipped and say so; a failing step stops the
check with its reason in ``summary.txt``. ``--dry-run`` rehearses on a CPU machine every step a CPU
can: the bundle installs into a temporary target with a clean Python 3.12 (mmcv's sdist built
without ops), the CUDA tier is collected and must be reported as not run, and the benchmark's GPU
preset runs shrunk on the CPU. ``--only tier|bench`` runs one of the two (when mmcv must be built
there, both may not fit: see the times in ``summary.txt``).

Example::

    python3 tools/gpu_check.py --dry-run /tmp/gpu_check   # here, to rehearse
    python3 tools/gpu_check.py OUT_DIR                     # on the GPU machine

Exit status: 0 when every step ran and every test passed, 1 otherwise, 2 for a wrong command line.
"""
import argparse
import glob
import json
import os
import os.path as osp
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import xml.etree.ElementTree as ET

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'tools'))
import gpu_bundle  # noqa: E402

# bundle wheels left out where the Python already imports what they provide
PROVIDED_BY_IMAGE = {'setuptools-': 'pkg_resources', 'wheel-': 'wheel'}
OUTPUTS = ('summary.txt', 'env.txt', 'install.log', 'tests.log', 'junit.xml', 'bench.log',
           'bench.json', 'bench.png')
PYTORCH_ENV = """
import platform, sys
import torch
print(f'python {platform.python_version()} ({sys.executable}), torch {torch.__version__}, '
      f'CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}')
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print(f'GPU: {p.name}, capability {p.major}.{p.minor}, {p.total_memory / 2**30:.1f} GiB')
else:
    print('GPU: none visible to torch')
"""
# mmdet and mmseg import, and mmcv's ops are CUDA ops that run on this GPU
STACK_CHECK = """
import torch
import mmcv, mmdet, mmengine, mmseg
from mmcv.ops import get_compiling_cuda_version, nms
import hs_backbone, mmdet.models, mmseg.models  # noqa: F401
assert get_compiling_cuda_version() != 'not available', 'mmcv has no CUDA ops'
boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.]], device='cuda')
keep = nms(boxes, torch.tensor([0.9, 0.8], device='cuda'), 0.5)[1]
assert keep.tolist() == [0], keep
print(f'mmengine {mmengine.__version__}, mmcv {mmcv.__version__} (CUDA ops '
      f'{get_compiling_cuda_version()}: nms ran on the GPU), mmdet {mmdet.__version__}, '
      f'mmseg {mmseg.__version__}')
"""
# the dry run: the compiled cp312 wheels load under a real CPython 3.12 (torch is not there)
DRY_IMPORT_CHECK = """
import importlib, importlib.metadata as md, sys
names = ['addict', 'yapf', 'termcolor', 'terminaltables', 'prettytable', 'ftfy', 'platformdirs',
         'wcwidth', 'pkg_resources', 'setuptools', 'wheel']
try:
    import numpy  # noqa: F401
    names += ['shapely', 'pycocotools.coco', 'pycocotools._mask']
except ImportError:
    print('numpy for Python 3.12 not available here: shapely and pycocotools not imported')
for name in names:
    importlib.import_module(name)
dists = ['mmengine', 'mmcv-lite', 'mmdet', 'mmsegmentation']  # mmcv-lite: built without ops
print(f'Python {sys.version.split()[0]}: imported {", ".join(names)}; installed '
      + ', '.join(f'{d} {md.version(d)}' for d in dists) + ' (they import torch: not here)')
"""


class CheckFailed(Exception):
    """A step that cannot go on; its message goes into summary.txt."""


def run(cmd, log, env=None, timeout=None):
    """Run ``cmd`` in the repository, appending its output to ``log``; 124 when out of time.

    It runs in its own session so that a timeout stops what it started too (torchrun workers,
    compile processes), as ``timeout`` does in a shell.
    """
    with open(log, 'a') as f:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return 124
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def output(cmd, env=None):
    """stdout of ``cmd``, or None when it fails or cannot start."""
    try:
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def last_line(path, n=1):
    try:
        with open(path, errors='replace') as f:
            return ' '.join(line.strip() for line in f.readlines()[-n:])
    except OSError:
        return ''


def find_python312():
    """A Python 3.12 that runs (pyenv's shim may name one it refuses to start), or None."""
    for candidate in [*sorted(glob.glob('/root/.pyenv/versions/3.12*/bin/python3.12')),
                      shutil.which('python3.12')]:
        if candidate and output([candidate, '-c', '']) is not None:
            return candidate
    return None


def tier_counts(junit, log):
    """'P passed, F failed, S skipped' from junit.xml, or from the -v lines of a cut-off run."""
    try:
        suite = ET.parse(junit).getroot()
    except (OSError, ET.ParseError):
        text = open(log, errors='replace').read() if osp.exists(log) else ''
        n = {k: len(re.findall(rf'::\S+ {k}', text)) for k in ('PASSED', 'FAILED', 'ERROR')}
        return f"no junit.xml; so far {n['PASSED']} passed, {n['FAILED'] + n['ERROR']} failed"
    suite = suite if suite.tag == 'testsuite' else suite.find('testsuite')
    n = {k: int(suite.get(k, 0)) for k in ('tests', 'failures', 'errors', 'skipped')}
    return (f"{n['tests'] - n['failures'] - n['errors'] - n['skipped']} passed, "
            f"{n['failures'] + n['errors']} failed, {n['skipped']} skipped")


def bench_status(path):
    """Which benchmark settings finished, from the JSON written after each one."""
    try:
        with open(path) as f:
            report = json.load(f)
    except (OSError, ValueError):
        return 'no bench.json'
    done = [s['name'] for s in report['settings'] if s['status'] == 'done']
    skipped = [s['name'] for s in report['settings'] if s['status'] != 'done']
    return (f"done: {' '.join(done) or 'none'}"
            + (f"; skipped: {' '.join(skipped)}" if skipped else '')
            + ('' if report['complete'] else '; the next one cut off'))


class GPUCheck:
    """The steps, in order; each writes one line of summary.txt with its time."""

    def __init__(self, args):
        self.args = args
        self.dry = args.dry_run
        self.out = osp.abspath(args.out_dir)
        self.bundle = osp.abspath(args.bundle)
        self.budget = args.budget
        self.start = time.monotonic()
        self.failed = False
        self.work = self.site = None  # a temporary folder for the run, and the install target
        self.image_site = None  # the dry run's stand-ins for what the GPU image has
        self.env = dict(os.environ)
        for name in OUTPUTS:
            if osp.exists(self.path(name)):
                os.remove(self.path(name))
        open(self.path('summary.txt'), 'w').close()

    def path(self, name):
        return osp.join(self.out, name)

    def left(self):
        return int(self.budget - (time.monotonic() - self.start))

    def summary(self, line):
        print(line, flush=True)
        with open(self.path('summary.txt'), 'a') as f:
            f.write(line + '\n')

    def note(self, message):
        self.summary(f'[gpu_check] {message}')

    def step(self, name, result, started):
        self.summary(f'{name:<18} {result:<30} {int(time.monotonic() - started):4d} s')

    def with_path(self, *folders):
        """This check's environment with PYTHONPATH starting with ``folders``."""
        paths = [p for p in (*folders, self.env.get('PYTHONPATH')) if p]
        return dict(self.env, PYTHONPATH=os.pathsep.join(paths))

    def pip_install(self, wheels, target=None):
        """Install wheels, without their dependencies, into ``target`` (default: the site)."""
        return run([self.install_python, '-m', 'pip', 'install', '-q', '--no-index',
                    '--no-deps', '--no-compile', '--disable-pip-version-check',
                    '--target', target or self.site, *wheels], self.path('install.log'),
                   env=self.env)

    # --- the pythons ---------------------------------------------------------------------
    def choose_pythons(self):
        if self.dry:
            self.note(f'dry run on {socket.gethostname()}: every step a CPU can run; '
                      'nothing here measures a GPU')
            py312 = os.environ.get('PY312') or find_python312()
            self.test_python = os.environ.get('TEST_PYTHON', osp.join(ROOT, '.venv/bin/python'))
            if not py312 or not os.access(py312, os.X_OK):
                raise CheckFailed('--dry-run needs a clean Python 3.12 (set PY312)')
            if not os.access(self.test_python, os.X_OK):
                raise CheckFailed(f"--dry-run needs the project's venv ({self.test_python}: "
                                  'make env)')
            self.install_python = py312
        else:
            python = shutil.which(self.args.python)
            if python is None:
                raise CheckFailed(f'no {self.args.python} here (set PYTHON or --python)')
            self.install_python = self.test_python = python

    # --- 1. preflight: fail fast, before any minute is spent ------------------------------
    def preflight(self):
        t0 = time.monotonic()
        version = output([self.install_python, '-c',
                          'import sys; print("%d.%d" % sys.version_info[:2])'])
        if version is None:
            raise CheckFailed(f'{self.install_python} does not run (set PYTHON)')
        if version != gpu_bundle.TARGET_PYTHON:
            raise CheckFailed(f"{self.install_python} is Python {version}: the bundle's wheels "
                              f'are cp{gpu_bundle.TARGET_PYTHON.replace(".", "")} (set PYTHON)')
        problems = gpu_bundle.verify(self.bundle) if osp.isdir(self.bundle) else [
            f'{self.bundle} does not exist']
        with open(self.path('install.log'), 'a') as f:
            f.write(''.join(f'gpu_bundle: {p}\n' for p in problems) or 'bundle complete\n')
        if problems:
            raise CheckFailed(f'bundle {self.bundle} missing or incomplete ({problems[-1]}): run '
                              'tools/prepare_gpu_bundle.sh where there is network and carry '
                              '.gpu_bundle')
        env_txt = self.path('env.txt')
        with open(env_txt, 'w') as f:
            f.write(f'# {time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())} on '
                    f'{socket.gethostname()}, {os.cpu_count()} cores\n')
        if shutil.which('nvidia-smi'):
            run(['nvidia-smi'], env_txt)
        else:
            with open(env_txt, 'a') as f:
                f.write('nvidia-smi: not available\n')
        run([self.test_python, '-c', PYTORCH_ENV], env_txt, env=self.env)
        if not self.dry:
            if output([self.test_python, '-c', 'import sys, torch; '
                       'sys.exit(0 if torch.cuda.is_available() else 1)']) is None:
                raise CheckFailed('no CUDA device visible to torch '
                                  f'({last_line(env_txt, 2)})')
            # torch's extension builder compiles in parallel only when ninja is on PATH
            if not shutil.which('ninja'):
                self.env['PATH'] = osp.dirname(self.test_python) + os.pathsep + self.env['PATH']
        self.step('preflight', 'ok', t0)

    # --- 2. install the bundle -----------------------------------------------------------
    def install(self):
        t0 = time.monotonic()
        wheels = []
        # setuptools (pkg_resources: mmengine's `mmdet::` bases, mmcv's setup.py) and wheel only
        # where this Python lacks them: the image's own setuptools is not shadowed if it can be
        for wheel in sorted(glob.glob(osp.join(self.bundle, 'wheels', '*.whl'))):
            module = next((m for prefix, m in PROVIDED_BY_IMAGE.items()
                           if osp.basename(wheel).startswith(prefix)), None)
            if module and output([self.install_python, '-c', f'import {module}']) is not None:
                continue
            wheels.append(wheel)
        if self.pip_install(wheels) != 0:
            raise CheckFailed("pip install of the bundle's wheels failed (install.log)")
        self.step('install-wheels', f'ok ({len(wheels)} wheels)', t0)
        if self.dry:
            self.image_stand_ins()
        self.install_mmcv()

    def image_stand_ins(self):
        # A clean Python 3.12 lacks what the GPU image has and the bundle therefore leaves out:
        # the rehearsal fetches stand-ins (numpy, packaging) for itself alone, if the network lets
        t0 = time.monotonic()
        download = osp.join(self.work, 'image')
        self.image_site = osp.join(self.work, 'image-site')
        log = self.path('install.log')
        fetched = run([self.install_python, '-m', 'pip', 'download', '-q', '--no-deps',
                       '--only-binary=:all:', '-d', download, 'numpy', 'packaging'], log) == 0
        if fetched and self.pip_install(glob.glob(osp.join(download, '*.whl')),
                                        target=self.image_site) == 0:
            names = ' '.join(sorted(n.split('-')[0] for n in os.listdir(download)))
            self.step('image-stand-ins', f'ok ({names})', t0)
        else:
            self.step('image-stand-ins', 'none: no network?', t0)

    def install_mmcv(self):
        t0 = time.monotonic()
        prebuilt = None
        if not self.dry:
            prebuilt = output([self.install_python, 'tools/gpu_bundle.py', 'mmcv-wheel',
                               self.bundle], env=self.with_path(self.site))
        if prebuilt:
            if self.pip_install([prebuilt]) != 0:
                raise CheckFailed(f'pip install of {prebuilt} failed (install.log)')
            self.step('mmcv', f'ok (prebuilt {osp.basename(prebuilt)})', t0)
            return
        if not self.dry and osp.exists(osp.join(self.bundle, 'mmcv', 'BUILD.json')):
            self.note("the bundle's prebuilt mmcv does not fit this torch/Python: "
                      'building from the sdist')
        self.build_mmcv(with_ops=not self.dry)
        self.step('mmcv', 'ok (built here)', t0)

    def mmcv_cuda_env(self, log):
        """FORCE_CUDA, the archs and CUDA_HOME, decided by tools/mmcv_build.py as set-up does."""
        cuda_home = self.env.get('CUDA_HOME')
        if not cuda_home:
            nvcc = shutil.which('nvcc')
            for candidate in ('/usr/local/cuda', nvcc and osp.dirname(osp.dirname(
                    osp.realpath(nvcc)))):
                if candidate and os.access(osp.join(candidate, 'bin', 'nvcc'), os.X_OK):
                    cuda_home = candidate
                    break
        if not cuda_home or not os.access(osp.join(cuda_home, 'bin', 'nvcc'), os.X_OK):
            raise CheckFailed('mmcv build: no nvcc here (set CUDA_HOME)')
        done = subprocess.run([self.test_python, 'tools/mmcv_build.py', 'plan'], cwd=ROOT,
                              env=dict(self.env, CUDA_HOME=cuda_home, FORCE_CUDA='1'),
                              capture_output=True, text=True)
        with open(log, 'a') as f:
            f.write(done.stdout + done.stderr)
        if done.returncode != 0:
            raise CheckFailed(f'mmcv build: {last_line(log)} (install.log)')
        plan = dict(shlex.split(line)[0].split('=', 1) for line in done.stdout.splitlines()
                    if '=' in line)
        if plan.get('MMCV_TOOLKIT'):  # a toolkit from the registry: none reachable here
            raise CheckFailed(f'mmcv build: {cuda_home} does not match torch\'s CUDA and '
                              f'{plan["MMCV_TOOLKIT"]} cannot be downloaded here (set CUDA_HOME)')
        return dict(FORCE_CUDA='1', TORCH_CUDA_ARCH_LIST=plan['MMCV_ARCH_LIST'],
                    CUDA_HOME=plan['MMCV_CUDA_HOME'])

    def build_mmcv(self, with_ops):
        log = self.path('install.log')
        cap = self.left() - 180
        sdist, = glob.glob(osp.join(self.bundle, 'mmcv', 'mmcv-*.tar.gz'))
        version = osp.basename(sdist)[len('mmcv-'):-len('.tar.gz')]
        src = osp.join(self.work, 'mmcv-src')
        with tarfile.open(sdist) as tf:  # the data filter where this Python has it (3.12+)
            tf.extractall(src, **({'filter': 'data'} if hasattr(tarfile, 'data_filter') else {}))
        src = osp.join(src, f'mmcv-{version}')
        # torch's headers need C++20; mmcv 2.1.0 asks for C++17 (as tools/setup_env.sh does)
        setup_py = osp.join(src, 'setup.py')
        with open(setup_py) as f:
            text = f.read()
        with open(setup_py, 'w') as f:
            f.write(text.replace('-std=c++17', '-std=c++20'))
        env = dict(self.with_path(self.site, self.image_site), MMCV_WITH_OPS=str(int(with_ops)),
                   MAX_JOBS=str(os.cpu_count()))
        if with_ops:
            env.update(self.mmcv_cuda_env(log))
            message = (f'building mmcv {version}: CUDA ops for {env["TORCH_CUDA_ARCH_LIST"]}, '
                       f'{os.cpu_count()} jobs, CUDA_HOME={env["CUDA_HOME"]} (at most {cap} s)\n')
            if not shutil.which('ninja', path=env['PATH']):
                message = 'warning: no ninja on PATH: the build runs serially\n' + message
        else:
            message = (f'building mmcv {version} without ops (dry run: the real check builds its '
                       'CUDA ops here)\n')
        with open(log, 'a') as f:
            f.write(message)
        if cap < 60:
            raise CheckFailed(f'no time left to build mmcv ({cap} s)')
        dist = osp.join(self.work, 'dist')
        rc = run([self.install_python, '-m', 'pip', 'wheel', '-q', '--no-index',
                  '--no-build-isolation', '--no-deps', '-w', dist, src], log, env=env,
                 timeout=cap)
        if rc != 0:
            raise CheckFailed(f'mmcv build failed (exit {rc}'
                              + (': out of time' if rc == 124 else '') + '; install.log)')
        # without ops, mmcv's setup.py names the package mmcv-lite
        if self.pip_install(glob.glob(osp.join(dist, 'mmcv*.whl'))) != 0:
            raise CheckFailed('pip install of the built mmcv failed (install.log)')

    # --- 3. what the check runs with ---------------------------------------------------------
    def check_stack(self):
        t0 = time.monotonic()
        log, env_txt = self.path('install.log'), self.path('env.txt')
        if self.dry:
            if run([self.install_python, 'tools/gpu_bundle.py', 'requirements', self.bundle],
                   log) != 0:
                raise CheckFailed("the bundle's requirements are not met (install.log)")
            if run([self.install_python, '-c', DRY_IMPORT_CHECK], env_txt,
                   env=self.with_path(self.site, self.image_site)) != 0:
                raise CheckFailed('the installed cp312 packages do not import (env.txt)')
        else:
            self.env = self.with_path(self.site, ROOT)  # every later step runs with the bundle
            if run([self.test_python, 'tools/gpu_bundle.py', 'requirements', self.bundle,
                    '--installed'], log, env=self.env) != 0:
                self.note('warning: requirements not all met (install.log); going on')
            if run([self.test_python, '-c', STACK_CHECK], env_txt, env=self.env) != 0:
                raise CheckFailed('the installed stack does not work (env.txt)')
        self.step('stack', 'ok', t0)

    # --- 4. the CUDA tier ----------------------------------------------------------------
    def cuda_tier(self):
        t0 = time.monotonic()
        if self.args.only == 'bench':
            return self.step('cuda-tier', 'not run (--only bench)', t0)
        # leave the benchmark at least 2.5 minutes, and the tier no more than 5.5
        cap = min(self.left() - (15 if self.args.only == 'tier' else 150), 330)
        if cap < 60:
            self.failed = True
            return self.step('cuda-tier', f'skipped: {self.left()} s left', t0)
        log, junit = self.path('tests.log'), self.path('junit.xml')
        pytest = [self.test_python, '-m', 'pytest', 'tests/test_cuda.py', '-m', 'cuda',
                  '-p', 'no:cacheprovider', '-o', 'console_output_style=classic',
                  f'--junitxml={junit}', f'--basetemp={osp.join(self.work, "pytest")}']
        if self.dry:
            run([*pytest, '--collect-only', '-q'], log, env=self.env)
            pytest.append('-rs')
        else:
            pytest += ['-rA', '-v']  # -v: each result is in tests.log as it comes
            # one hung test (a collective that never returns) fails alone, not the whole tier
            if output([self.test_python, '-c', 'import pytest_timeout'], env=self.env) is not None:
                pytest += ['--timeout', '200']
        rc = run(pytest, log, env=self.env, timeout=cap)
        counts = tier_counts(junit, log)
        if self.dry:
            # without a GPU every test must be reported as not run, none as passed or failed
            with open(log, errors='replace') as f:
                reported = 'not run: no CUDA device' in f.read()
            ok = rc == 0 and counts.startswith('0 passed, 0 failed, ') and reported
            result = f'ok: {counts} (no GPU)' if ok else f'FAILED: {counts}'
        else:
            ok = rc == 0 and counts.endswith(' 0 failed, 0 skipped')
            if rc == 124:
                counts = f'timed out after {cap} s; {counts}'
            result = f'ok: {counts}' if ok else f'FAILED: {counts}'
        self.failed |= not ok
        self.step('cuda-tier', result, t0)

    # --- 5. the GPU benchmark ------------------------------------------------------------
    def benchmark(self):
        t0 = time.monotonic()
        if self.args.only == 'tier':
            return self.step('benchmark', 'not run (--only tier)', t0)
        cap = self.left() - 15
        if cap < 60:
            self.failed = True
            return self.step('benchmark', f'skipped: {self.left()} s left', t0)
        cmd = [self.test_python, 'tools/benchmark.py', '--preset', 'gpu',
               '--out', self.path('bench.json'), '--plot', self.path('bench.png'),
               '--time-budget', str(cap - 60)]
        if self.dry:
            cmd += ['--smoke', '--device', 'cpu', '--settings', 'paper', 'fp16', 'train_amp']
        # settings that would start in the last minute are skipped; a running one is cut off,
        # and the JSON written after each setting keeps the finished ones
        rc = run(cmd, self.path('bench.log'), env=self.env, timeout=cap)
        status = bench_status(self.path('bench.json'))
        if rc == 0:
            self.step('benchmark', f'ok: {status}', t0)
        elif rc == 124 and status.startswith('done: paper'):
            # out of time in a late setting (torch.compile): what finished is in bench.json
            self.step('benchmark', f'partial: {status}', t0)
        else:
            self.failed = True
            self.step('benchmark', f'FAILED (exit {rc}): {status}', t0)

    def run(self):
        self.work = tempfile.mkdtemp(prefix='hs_gpu_check.')
        self.site = osp.join(self.work, 'site')
        try:
            self.choose_pythons()
            self.preflight()
            self.install()
            self.check_stack()
            self.cuda_tier()
            self.benchmark()
        except CheckFailed as e:
            self.note(f'FAILED: {e}')
            self.failed = True
        finally:
            shutil.rmtree(self.work, ignore_errors=True)
        self.note(f'total: {int(time.monotonic() - self.start)} s of the {self.budget} s budget')
        self.note(f'result: {"FAILED" if self.failed else "PASSED"}')
        return int(self.failed)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='Environment: PY312 and TEST_PYTHON (--dry-run: a clean Python 3.12 and the '
               "project's venv Python), CUDA_HOME (else found from nvcc).")
    parser.add_argument('out_dir', metavar='OUT_DIR', help='where the 8 result files go')
    parser.add_argument('--dry-run', action='store_true',
                        help='rehearse on a CPU machine every step a CPU can')
    parser.add_argument('--only', choices=['tier', 'bench'],
                        help='run the CUDA tier or the benchmark, not both')
    parser.add_argument('--python', default=os.environ.get('PYTHON', 'python3'),
                        help="the GPU machine's Python 3.12 with CUDA torch (default: $PYTHON, "
                             'else python3)')
    parser.add_argument('--bundle', default=os.environ.get('HS_GPU_BUNDLE',
                                                           osp.join(ROOT, '.gpu_bundle')),
                        help='what tools/prepare_gpu_bundle.sh made (default: $HS_GPU_BUNDLE, '
                             'else .gpu_bundle)')
    parser.add_argument('--budget', type=int,
                        default=int(os.environ.get('HS_GPU_CHECK_SECONDS', 540)),
                        help='seconds for the whole check; steps that would start too late are '
                             'skipped (default: $HS_GPU_CHECK_SECONDS, else 540)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        os.makedirs(args.out_dir, exist_ok=True)
    except OSError as e:
        sys.exit(f'gpu_check: cannot create OUT_DIR {args.out_dir}: {e.strerror}')
    return GPUCheck(args).run()


if __name__ == '__main__':
    sys.exit(main())
