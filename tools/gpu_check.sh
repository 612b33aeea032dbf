#!/usr/bin/env bash
# The prepared GPU check: on a GPU machine with CUDA torch preinstalled and no network, in at most
# 9 minutes, install what the repository carries (.gpu_bundle/, made by
# tools/prepare_gpu_bundle.sh), run the CUDA test tier and the GPU benchmark, and write the logs,
# the test summary and the benchmark JSON into OUT_DIR.
#
# Usage: tools/gpu_check.sh [--dry-run] [--only tier|bench] OUT_DIR
#
#   OUT_DIR gets at most 8 files, none in subfolders: summary.txt (what ran, how long, the
#   verdict), env.txt (GPU, driver, versions), install.log, tests.log, junit.xml (the CUDA
#   tier), bench.log (its tables), bench.json, bench.png.
#   --dry-run rehearses on a CPU machine every step a CPU can: the bundle installs into a
#   temporary target with a clean Python 3.12 (mmcv's sdist built without ops), the CUDA tier is
#   collected and reported as not run, and the benchmark's GPU preset runs shrunk on the CPU.
#   --only tier / --only bench runs one of the two (when mmcv must be built there, both may not
#   fit in 9 minutes: see summary.txt's times).
#
# Environment: PYTHON (default python3: the GPU machine's Python 3.12 with torch),
#   HS_GPU_BUNDLE (default .gpu_bundle), HS_GPU_CHECK_SECONDS (default 540: steps that would
#   start too late are skipped and say so), CUDA_HOME (else found from nvcc), PY312 and
#   TEST_PYTHON (--dry-run: a clean Python 3.12, and the project's venv Python).
# Exit status: 0 when every step ran and every test passed; 1 otherwise (summary.txt says why).
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DRY=0
ONLY=
while [ $# -gt 1 ]; do
    case $1 in
        --dry-run) DRY=1; shift ;;
        --only) [ "${2:-}" = tier ] || [ "${2:-}" = bench ] || break; ONLY=$2; shift 2 ;;
        *) break ;;
    esac
done
if [ $# -ne 1 ] || [[ "$1" == -* ]]; then
    sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
mkdir -p "$1" || { echo "gpu_check: cannot create $1" >&2; exit 1; }
OUT=$(cd "$1" && pwd)
BUNDLE=${HS_GPU_BUNDLE:-$ROOT/.gpu_bundle}
BUDGET=${HS_GPU_CHECK_SECONDS:-540}
SUMMARY=$OUT/summary.txt
WORK=$(mktemp -d "${TMPDIR:-/tmp}/hs_gpu_check.XXXXXX")
SITE=$WORK/site
rm -f "$OUT"/{summary.txt,env.txt,install.log,tests.log,junit.xml,bench.log,bench.json,bench.png}
: > "$SUMMARY"
FAILED=0
cd "$ROOT" || exit 1
trap 'rm -rf "$WORK"' EXIT

note() { printf '[gpu_check] %s\n' "$*" | tee -a "$SUMMARY"; }
step_line() { printf '%-18s %-30s %4d s\n' "$1" "$2" "$3" | tee -a "$SUMMARY"; }
finish() {
    note "total: $SECONDS s of the $BUDGET s budget"
    if [ "$FAILED" = 0 ]; then note "result: PASSED"; else note "result: FAILED"; fi
    exit "$FAILED"
}
die() { note "FAILED: $*"; FAILED=1; finish; }
left() { echo $((BUDGET - SECONDS)); }

if [ "$DRY" = 1 ]; then
    note "dry run on $(hostname): every step a CPU can run; nothing here measures a GPU"
    if [ -z "${PY312:-}" ]; then  # pyenv's shim may name a python3.12 that does not run
        for candidate in /root/.pyenv/versions/3.12*/bin/python3.12 "$(command -v python3.12)"; do
            "$candidate" -c '' 2>/dev/null && PY312=$candidate && break
        done
    fi
    TEST_PYTHON=${TEST_PYTHON:-$ROOT/.venv/bin/python}
    [ -n "$PY312" ] && [ -x "$PY312" ] || die "--dry-run needs a clean Python 3.12 (set PY312)"
    [ -x "$TEST_PYTHON" ] || die "--dry-run needs the project's venv ($TEST_PYTHON: make env)"
    INSTALL_PYTHON=$PY312
else
    PYTHON=${PYTHON:-python3}
    command -v "$PYTHON" >/dev/null || die "no $PYTHON here (set PYTHON)"
    INSTALL_PYTHON=$PYTHON
    TEST_PYTHON=$PYTHON
fi

# --- 1. preflight: fail fast, before any minute is spent ---------------------------------------
t0=$SECONDS
pyver=$("$INSTALL_PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) \
    || die "$INSTALL_PYTHON does not run (set PYTHON)"
[ "$pyver" = 3.12 ] || die "$INSTALL_PYTHON is Python $pyver: the bundle's wheels are cp312 (set PYTHON)"
"$INSTALL_PYTHON" tools/gpu_bundle.py verify "$BUNDLE" >> "$OUT/install.log" 2>&1 \
    || die "bundle $BUNDLE missing or incomplete ($(tail -n 1 "$OUT/install.log")): run tools/prepare_gpu_bundle.sh where there is network and carry .gpu_bundle"
{
    echo "# $(date -u '+%F %T UTC') on $(hostname), $(nproc) cores"
    command -v nvidia-smi >/dev/null && nvidia-smi 2>&1 || echo "nvidia-smi: not available"
    "$TEST_PYTHON" - <<'EOF'
import platform, sys
import torch
print(f'python {platform.python_version()} ({sys.executable}), torch {torch.__version__}, '
      f'CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}')
if torch.cuda.is_available():
    print(f'GPU: {torch.cuda.get_device_name()}, capability '
          f'{".".join(map(str, torch.cuda.get_device_capability()))}, '
          f'{torch.cuda.get_device_properties(0).total_memory / 2**30:.1f} GiB')
else:
    print('GPU: none visible to torch')
EOF
} > "$OUT/env.txt" 2>&1
if [ "$DRY" = 0 ]; then
    "$PYTHON" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' \
        || die "no CUDA device visible to torch ($(tail -n 2 "$OUT/env.txt" | tr '\n' ' '))"
    # torch's extension builder runs ninja in parallel only when it is on PATH
    command -v ninja >/dev/null || PATH="$(dirname "$("$PYTHON" -c 'import sys; print(sys.executable)')"):$PATH"
fi
step_line preflight ok $((SECONDS - t0))

# --- 2. install the bundle -------------------------------------------------------------------
t0=$SECONDS
# setuptools (for pkg_resources: mmengine's `mmdet::` bases, mmcv's setup.py) and wheel only
# where this Python lacks them: shadowing the image's own setuptools is avoided where it can be
wheels=()
for wheel in "$BUNDLE"/wheels/*.whl; do
    case $(basename "$wheel") in
        setuptools-*) "$INSTALL_PYTHON" -c 'import pkg_resources' 2>/dev/null || wheels+=("$wheel") ;;
        wheel-*) "$INSTALL_PYTHON" -c 'import wheel' 2>/dev/null || wheels+=("$wheel") ;;
        *) wheels+=("$wheel") ;;
    esac
done
"$INSTALL_PYTHON" -m pip install -q --no-index --no-deps --no-compile --disable-pip-version-check \
    --target "$SITE" "${wheels[@]}" >> "$OUT/install.log" 2>&1 \
    || die "pip install of the bundle's wheels failed (install.log)"
step_line install-wheels "ok (${#wheels[@]} wheels)" $((SECONDS - t0))

build_mmcv() {  # $1: 1 = with ops (CUDA), 0 = Python part only (dry run)
    local ops=$1 src=$WORK/mmcv-src cap=$(( $(left) - 180 ))
    local version
    version=$(ls "$BUNDLE"/mmcv/mmcv-*.tar.gz | sed 's/.*mmcv-\(.*\)\.tar\.gz/\1/')
    mkdir -p "$src"
    tar -xzf "$BUNDLE/mmcv/mmcv-$version.tar.gz" -C "$src" || return 1
    # torch's headers need C++20; mmcv 2.1.0 asks for C++17 (as tools/setup_env.sh does)
    sed -i 's/-std=c++17/-std=c++20/g' "$src/mmcv-$version/setup.py"
    local build_env=(MMCV_WITH_OPS="$ops" MAX_JOBS="$(nproc)" PYTHONPATH="$SITE${IMAGE_SITE:+:$IMAGE_SITE}")
    if [ "$ops" = 1 ]; then
        local plan
        if [ -z "${CUDA_HOME:-}" ]; then
            for candidate in /usr/local/cuda "$(dirname "$(dirname "$(readlink -f "$(command -v nvcc || echo /x/x/x)")")")"; do
                [ -x "$candidate/bin/nvcc" ] && CUDA_HOME=$candidate && break
            done
        fi
        [ -x "${CUDA_HOME:-/none}/bin/nvcc" ] || { echo "no nvcc: set CUDA_HOME"; return 1; }
        # the decisions tools/setup_env.sh makes: the visible GPU's arch (or TORCH_CUDA_ARCH_LIST),
        # and a toolkit whose major version is torch's; sets MMCV_ARCH_LIST and MMCV_CUDA_HOME
        plan=$(CUDA_HOME=$CUDA_HOME "$PYTHON" "$ROOT/tools/mmcv_build.py" plan 2>&1) \
            || { echo "$plan"; return 1; }
        eval "$plan"
        command -v ninja >/dev/null || echo "warning: no ninja on PATH: the build runs serially"
        echo "building mmcv $version: CUDA ops for $MMCV_ARCH_LIST, $(nproc) jobs, CUDA_HOME=$MMCV_CUDA_HOME (at most $cap s)"
        build_env+=(FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST="$MMCV_ARCH_LIST" CUDA_HOME="$MMCV_CUDA_HOME")
    else
        echo "building mmcv $version without ops (dry run: the real check builds its CUDA ops here)"
    fi
    [ "$cap" -gt 60 ] || { echo "no time left to build mmcv ($cap s)"; return 1; }
    env "${build_env[@]}" timeout -k 10 "$cap" "$INSTALL_PYTHON" -m pip wheel -q --no-index \
        --no-build-isolation --no-deps -w "$WORK/dist" "$src/mmcv-$version" \
        > "$WORK/mmcv-build.log" 2>&1
    local rc=$?
    tail -n 5 "$WORK/mmcv-build.log"
    if [ $rc != 0 ]; then
        echo "mmcv build failed (exit $rc$([ $rc = 124 ] && echo ': out of time')); its log ends:"
        tail -n 60 "$WORK/mmcv-build.log"
        return 1
    fi
    # without ops, mmcv's setup.py names the package mmcv-lite
    "$INSTALL_PYTHON" -m pip install -q --no-index --no-deps --no-compile \
        --disable-pip-version-check --target "$SITE" "$WORK"/dist/mmcv*.whl
}

IMAGE_SITE=
if [ "$DRY" = 1 ]; then
    # A clean Python 3.12 lacks what the GPU image has and the bundle therefore leaves out: the
    # rehearsal fetches stand-ins (numpy, packaging) for itself alone, when the network allows.
    t0=$SECONDS
    IMAGE_SITE=$WORK/image-site
    if "$PY312" -m pip download -q --no-deps --only-binary=:all: -d "$WORK/image" numpy packaging \
            >> "$OUT/install.log" 2>&1 \
        && "$PY312" -m pip install -q --no-index --no-deps --no-compile --target "$IMAGE_SITE" \
            "$WORK"/image/*.whl >> "$OUT/install.log" 2>&1; then
        step_line image-stand-ins "ok ($(ls "$WORK"/image | sed 's/-py3.*\|-cp3.*//' | tr '\n' ' '))" $((SECONDS - t0))
    else
        step_line image-stand-ins "none: no network?" $((SECONDS - t0))
    fi
fi

t0=$SECONDS
prebuilt=""
if [ "$DRY" = 0 ]; then
    prebuilt=$(PYTHONPATH="$SITE" "$PYTHON" tools/gpu_bundle.py mmcv-wheel "$BUNDLE" 2>> "$OUT/install.log")
fi
if [ -n "$prebuilt" ]; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --disable-pip-version-check \
        --target "$SITE" "$prebuilt" >> "$OUT/install.log" 2>&1 \
        || die "pip install of $prebuilt failed (install.log)"
    step_line mmcv "ok (prebuilt $(basename "$prebuilt"))" $((SECONDS - t0))
else
    [ "$DRY" = 0 ] && [ -f "$BUNDLE/mmcv/BUILD.json" ] \
        && note "the bundle's prebuilt mmcv does not fit this torch/Python: building from the sdist"
    build_mmcv $((1 - DRY)) >> "$OUT/install.log" 2>&1 || die "mmcv build failed (install.log)"
    step_line mmcv "ok (built here)" $((SECONDS - t0))
fi

# --- 3. what the check runs with ---------------------------------------------------------------
t0=$SECONDS
if [ "$DRY" = 0 ]; then
    export PYTHONPATH="$SITE:$ROOT${PYTHONPATH:+:$PYTHONPATH}"
    "$PYTHON" tools/gpu_bundle.py requirements "$BUNDLE" --installed >> "$OUT/install.log" 2>&1 \
        || note "warning: requirements not all met (install.log); going on"
    "$PYTHON" - >> "$OUT/env.txt" 2>&1 <<'EOF' || die "the installed stack does not work (env.txt)"
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
EOF
else
    "$PY312" tools/gpu_bundle.py requirements "$BUNDLE" >> "$OUT/install.log" 2>&1 \
        || die "the bundle's requirements are not met (install.log)"
    # the compiled cp312 wheels load under a real CPython 3.12 (with the stand-in numpy)
    PYTHONPATH="$SITE:$IMAGE_SITE" "$PY312" - >> "$OUT/env.txt" 2>&1 <<'EOF' \
        || die "the installed cp312 packages do not import (env.txt)"
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
EOF
fi
step_line stack ok $((SECONDS - t0))

# --- 4. the CUDA tier --------------------------------------------------------------------------
t0=$SECONDS
tier_cap=$(( $(left) - 150 ))  # leave the benchmark at least 2.5 minutes
[ "$ONLY" = tier ] && tier_cap=$(( $(left) - 15 ))
[ "$tier_cap" -gt 330 ] && tier_cap=330
pytest_args=(tests/test_cuda.py -m cuda -p no:cacheprovider -o console_output_style=classic
             --junitxml="$OUT/junit.xml" --basetemp="$WORK/pytest")
if [ "$DRY" = 1 ]; then
    "$TEST_PYTHON" -m pytest --collect-only -q "${pytest_args[@]}" > "$OUT/tests.log" 2>&1
    pytest_args+=(-rs)
else
    pytest_args+=(-rA -v)  # -v: each result is in tests.log as it comes, even if cut off
    # one hung test (a collective that never returns) fails alone instead of the whole tier
    "$PYTHON" -c 'import pytest_timeout' 2>/dev/null && pytest_args+=(--timeout 200)
fi
if [ "$ONLY" = bench ]; then
    step_line cuda-tier "not run (--only bench)" 0
elif [ "$tier_cap" -lt 60 ]; then
    step_line cuda-tier "skipped: $(left) s left" 0
    FAILED=1
else
    timeout -k 10 "$tier_cap" "$TEST_PYTHON" -m pytest "${pytest_args[@]}" >> "$OUT/tests.log" 2>&1
    rc=$?
    counts=$("$TEST_PYTHON" - "$OUT/junit.xml" "$OUT/tests.log" <<'EOF'
import re, sys, xml.etree.ElementTree as ET
try:
    suite = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError):  # cut off: count the -v lines written so far
    log = open(sys.argv[2], errors='replace').read()
    n = {k: len(re.findall(rf'::\S+ {k}', log)) for k in ('PASSED', 'FAILED', 'ERROR')}
    print(f"no junit.xml; so far {n['PASSED']} passed, {n['FAILED'] + n['ERROR']} failed")
    sys.exit()
suite = suite if suite.tag == 'testsuite' else suite.find('testsuite')
n = {k: int(suite.get(k, 0)) for k in ('tests', 'failures', 'errors', 'skipped')}
print(f"{n['tests'] - n['failures'] - n['errors'] - n['skipped']} passed, "
      f"{n['failures'] + n['errors']} failed, {n['skipped']} skipped")
EOF
)
    if [ "$DRY" = 1 ]; then
        # without a GPU every test must be reported as not run, none as passed or failed
        if [ $rc = 0 ] && [[ "$counts" == "0 passed, 0 failed, "* ]] \
            && grep -q "not run: no CUDA device" "$OUT/tests.log"; then
            step_line cuda-tier "ok: $counts (no GPU)" $((SECONDS - t0))
        else
            step_line cuda-tier "FAILED: $counts" $((SECONDS - t0)); FAILED=1
        fi
    elif [ $rc = 0 ] && [[ "$counts" == *" 0 failed, 0 skipped" ]]; then
        step_line cuda-tier "ok: $counts" $((SECONDS - t0))
    else
        [ $rc = 124 ] && counts="timed out after $tier_cap s; $counts"
        step_line cuda-tier "FAILED: $counts" $((SECONDS - t0)); FAILED=1
    fi
fi

# --- 5. the GPU benchmark ----------------------------------------------------------------------
t0=$SECONDS
bench_cap=$(( $(left) - 15 ))
bench_args=(--preset gpu --out "$OUT/bench.json" --plot "$OUT/bench.png")
if [ "$DRY" = 1 ]; then
    bench_args+=(--smoke --device cpu --settings paper fp16 train_amp)
fi
if [ "$ONLY" = tier ]; then
    step_line benchmark "not run (--only tier)" 0
elif [ "$bench_cap" -lt 60 ]; then
    step_line benchmark "skipped: $(left) s left" 0
    FAILED=1
else
    # settings that would start in the last minute are skipped; a running one is cut off by
    # timeout, and the JSON written after each setting keeps the finished ones
    timeout -k 10 "$bench_cap" "$TEST_PYTHON" tools/benchmark.py "${bench_args[@]}" \
        --time-budget $((bench_cap - 60)) > "$OUT/bench.log" 2>&1
    rc=$?
    status=$("$TEST_PYTHON" - "$OUT/bench.json" <<'EOF'
import json, sys
try:
    report = json.load(open(sys.argv[1]))
except (OSError, ValueError):
    print('no bench.json'); sys.exit()
done = [s['name'] for s in report['settings'] if s['status'] == 'done']
skipped = [s['name'] for s in report['settings'] if s['status'] != 'done']
print(f"done: {' '.join(done) or 'none'}" + (f"; skipped: {' '.join(skipped)}" if skipped else '')
      + ('' if report['complete'] else '; the next one cut off'))
EOF
)
    if [ $rc = 0 ]; then
        step_line benchmark "ok: $status" $((SECONDS - t0))
    elif [ $rc = 124 ] && [[ "$status" == "done: paper"* ]]; then
        # out of time in a late setting (torch.compile): what finished is in bench.json
        step_line benchmark "partial: $status" $((SECONDS - t0))
    else
        step_line benchmark "FAILED (exit $rc): $status" $((SECONDS - t0)); FAILED=1
    fi
fi
finish
