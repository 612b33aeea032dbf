#!/usr/bin/env bash
# Prepare the bundle tools/gpu_check.py installs on a GPU machine that has no network: the cp312
# wheels of the OpenMMLab stack (tools/gpu_bundle.py PINS) and mmcv's sdist, in an ignored folder
# the device run carries along (it must fit in 64 MiB with the repository).
#
# Usage: tools/prepare_gpu_bundle.sh [--build-mmcv] [BUNDLE_DIR]    (default: .gpu_bundle)
#
# Then, from the repository root on this machine:
#   python3 tools/gpu_check.py --dry-run /tmp/gpu_check      # rehearse every step a CPU can
# and on the GPU machine (carry: .gpu_bundle):
#   python3 tools/gpu_check.py OUT_DIR
#
# --build-mmcv also builds mmcv's CUDA ops here, ahead, for the GPU machine (torch 2.11.0+cu130,
# Python 3.12, sm_90), so that the check does not spend 4-6 of its minutes compiling them there.
# It downloads torch 2.11.0 for Python 3.12 (several GB, with its CUDA libraries) into a
# temporary venv and compiles for about 35 minutes on 2 cores with CUDA 13.0's nvcc
# ($CUDA_HOME, default /usr/local/cuda-13.0). Not rehearsed: see the README.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_MMCV=0
if [ "${1:-}" = "--build-mmcv" ]; then BUILD_MMCV=1; shift; fi
BUNDLE=${1:-$ROOT/.gpu_bundle}
# Downloads need a Python with pip; the sdist's metadata step runs mmcv's setup.py, which wants
# torch and setuptools<70 (the project's venv has both).
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
if [ -z "${PY312:-}" ]; then  # pyenv's shim may name a python3.12 that does not run
    for candidate in /root/.pyenv/versions/3.12*/bin/python3.12 "$(command -v python3.12)"; do
        "$candidate" -c '' 2>/dev/null && PY312=$candidate && break
    done
fi
TORCH_FOR_GPU=${TORCH_FOR_GPU:-2.11.0}
LIMIT_MIB=64

say() { printf '\033[1m[bundle]\033[0m %s\n' "$*"; }
die() { say "error: $*" >&2; exit 1; }

[ -x "$PYTHON" ] || die "$PYTHON not found (make env first, or set PYTHON)"
MMCV_VERSION=$("$PYTHON" -c 'import sys; sys.path.insert(0, sys.argv[1]); import gpu_bundle
print(gpu_bundle.MMCV_VERSION)' "$ROOT/tools")
mkdir -p "$BUNDLE/wheels" "$BUNDLE/mmcv"
rm -f "$BUNDLE/MANIFEST.json"
start=$SECONDS

PLATFORMS=()
for tag in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 \
    manylinux1_x86_64; do
    PLATFORMS+=(--platform "$tag")
done
mapfile -t PINS < <("$PYTHON" "$ROOT/tools/gpu_bundle.py" pins)
say "downloading ${#PINS[@]} cp312 wheels into $BUNDLE/wheels"
# stale versions from an earlier run would make two versions of one package
rm -f "$BUNDLE"/wheels/*.whl
"$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --abi cp312 --abi abi3 --abi none "${PLATFORMS[@]}" \
    -d "$BUNDLE/wheels" "${PINS[@]}"

if [ ! -f "$BUNDLE/mmcv/mmcv-$MMCV_VERSION.tar.gz" ]; then
    say "downloading mmcv $MMCV_VERSION's sdist"
    "$PYTHON" -m pip download -q --no-deps --no-binary :all: --no-build-isolation \
        "mmcv==$MMCV_VERSION" -d "$BUNDLE/mmcv"
fi

if [ "$BUILD_MMCV" = 1 ]; then
    # Not rehearsed in the session that wrote it (the build takes 35 minutes on 2 cores).
    [ -n "${PY312:-}" ] || die "--build-mmcv needs Python 3.12 (set PY312)"
    CUDA_HOME=${CUDA_HOME:-/usr/local/cuda-13.0}
    [ -x "$CUDA_HOME/bin/nvcc" ] || die "--build-mmcv: no nvcc in CUDA_HOME=$CUDA_HOME (CUDA 13.0)"
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    say "building mmcv $MMCV_VERSION with CUDA ops for torch $TORCH_FOR_GPU / Python 3.12 / sm_90"
    "$PY312" -m venv "$work/venv"
    "$work/venv/bin/python" -m pip install -q "torch==$TORCH_FOR_GPU" numpy \
        "$BUNDLE"/wheels/setuptools-*.whl "$BUNDLE"/wheels/wheel-*.whl ninja
    tar -xzf "$BUNDLE/mmcv/mmcv-$MMCV_VERSION.tar.gz" -C "$work"
    sed -i 's/-std=c++17/-std=c++20/g' "$work/mmcv-$MMCV_VERSION/setup.py"
    CUDA_HOME=$CUDA_HOME MAX_JOBS=${MAX_JOBS:-$(nproc)} \
        MMCV_WITH_OPS=1 FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST=9.0 PATH="$work/venv/bin:$PATH" \
        "$work/venv/bin/python" -m pip wheel -q --no-build-isolation --no-deps -w "$work/dist" \
        "$work/mmcv-$MMCV_VERSION" > "$work/build.log" 2>&1 \
        || { tail -n 40 "$work/build.log"; die "mmcv build failed (log above)"; }
    wheel=$(basename "$(ls "$work"/dist/mmcv-*.whl)")
    # mmcv compiles with -g: without the debug symbols the wheel is much smaller
    mkdir "$work/unpacked"
    "$work/venv/bin/python" -m wheel unpack -d "$work/unpacked" "$work/dist/$wheel"
    find "$work/unpacked" -name '*.so' -exec strip --strip-debug {} +
    rm -f "$BUNDLE"/mmcv/mmcv-*.whl
    "$work/venv/bin/python" -m wheel pack -d "$BUNDLE/mmcv" "$work"/unpacked/mmcv-*
    torch_version=$("$work/venv/bin/python" -c 'import torch; print(torch.__version__)')
    printf '{"wheel": "%s", "torch": "%s", "python": "3.12", "arch": "9.0"}\n' \
        "$(basename "$(ls "$BUNDLE"/mmcv/mmcv-*.whl)")" "$torch_version" > "$BUNDLE/mmcv/BUILD.json"
fi

"$PYTHON" "$ROOT/tools/gpu_bundle.py" manifest "$BUNDLE"
"$PYTHON" "$ROOT/tools/gpu_bundle.py" verify "$BUNDLE"
say "requirements of the wheels, against the bundle and the GPU image's package list:"
"$PYTHON" "$ROOT/tools/gpu_bundle.py" requirements "$BUNDLE"

# What travels: the repository's files (tracked or not ignored) plus the bundle.
repo_kib=$(cd "$ROOT" && git ls-files -co --exclude-standard -z | xargs -0 du -ck 2>/dev/null \
    | tail -n 1 | cut -f1)
bundle_kib=$(du -sk "$BUNDLE" | cut -f1)
total_mib=$(( (repo_kib + bundle_kib) / 1024 ))
say "bundle $((bundle_kib / 1024)) MiB + repository $((repo_kib / 1024)) MiB = $total_mib MiB" \
    "of the $LIMIT_MIB MiB a device run carries ($((SECONDS - start)) s)"
[ "$total_mib" -lt "$LIMIT_MIB" ] || die "too large to carry: $total_mib MiB"
