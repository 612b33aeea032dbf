#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment with the pinned OpenMMLab stack.
#
# Usage: tools/setup_env.sh [VENV_DIR]    (default: .venv)
#
# The slow part is mmcv 2.1.0: PyPI has no wheel for torch 2.14, so it is built from its sdist
# once into a wheel cache outside the repository ($HS_BACKBONE_CACHE, default
# ~/.cache/hs_backbone), keyed by what the wheel holds (torch, Python, CPU or CUDA version,
# archs); later environments with the same key install it in seconds.
#   CPU ops: no GPU visible (about 950 core-seconds: 8 minutes on 2 cores).
#   CUDA ops: a GPU visible, or FORCE_CUDA=1 with TORCH_CUDA_ARCH_LIST on a node without one
#   (about 2,800 core-seconds for one arch). The toolkit is $CUDA_HOME when its major version
#   matches torch's CUDA, else the registry's cuda-toolkit at the version torch requires.
set -euo pipefail

VENV=${1:-.venv}
PYTHON=${PYTHON:-python3}
CACHE=${HS_BACKBONE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hs_backbone}
MMCV_VERSION=2.1.0
ROOT=$(cd "$(dirname "$0")/.." && pwd)

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV with $($PYTHON --version)"
    "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)

say "installing torch 2.14.1 + torchvision 0.29.1"
"${PIP[@]}" install -q torch==2.14.1 torchvision==0.29.1
# mmcv's setup.py and `pip download` of its sdist import pkg_resources, gone in setuptools>=70;
# installing torch pulls a newer setuptools back in, so pin it right here.
pin_setuptools() {
    # pip's resolver complains that torch's metadata wants setuptools>=77: expected, kept in a log.
    "${PIP[@]}" install -q 'setuptools<70' "$@" > "$VENV/setuptools-pin.log" 2>&1 \
        || { cat "$VENV/setuptools-pin.log"; exit 1; }
}
pin_setuptools wheel ninja

# MMCV_OPS, MMCV_CACHE_KEY, MMCV_ARCH_LIST, MMCV_CUDA_HOME, MMCV_TOOLKIT, MMCV_MINUTES.
# Assigned first, so that a refusal (e.g. FORCE_CUDA=1 without archs) stops the script.
plan=$("$VENV/bin/python" "$ROOT/tools/mmcv_build.py" plan)
eval "$plan"
WHEELS="$CACHE/wheels/$MMCV_CACHE_KEY"

build_mmcv() {
    local start force_cuda=0
    if [ -n "$MMCV_TOOLKIT" ]; then
        say "installing $MMCV_TOOLKIT into $VENV (nvcc and headers matching torch's CUDA)"
        "${PIP[@]}" install -q "$MMCV_TOOLKIT"
        # the registry toolkit ships only libcudart.so.N, and the link step asks for libcudart.so
        ln -sf "$(cd "$MMCV_CUDA_HOME/lib" && ls libcudart.so.* | head -n 1)" \
            "$MMCV_CUDA_HOME/lib/libcudart.so"
    fi
    # Given to `pip download` too: it runs setup.py, which looks for CUDA on a GPU host.
    local build_env=()
    if [ "$MMCV_OPS" = cuda ]; then
        force_cuda=1
        build_env=(CUDA_HOME="$MMCV_CUDA_HOME" TORCH_CUDA_ARCH_LIST="$MMCV_ARCH_LIST")
    fi
    # src and ticker are global: the EXIT trap reads them after this function has returned.
    src=$(mktemp -d)
    # `|| true`: the ticker may be gone already, and under set -e a failed kill in the trap
    # would become the exit status of a script that succeeded.
    trap 'kill "${ticker:-}" 2>/dev/null || true; rm -rf "$src"' EXIT
    env "${build_env[@]}" "${PIP[@]}" download -q --no-deps --no-binary :all: \
        --no-build-isolation "mmcv==$MMCV_VERSION" -d "$src"
    tar -xzf "$src"/mmcv-"$MMCV_VERSION".tar.gz -C "$src"
    # torch 2.14's headers need C++20; mmcv 2.1.0 asks the compiler for C++17.
    sed -i 's/-std=c++17/-std=c++20/g' "$src/mmcv-$MMCV_VERSION/setup.py"
    start=$SECONDS
    # The compiler is silent for minutes at a time: say every minute that it is still going.
    (while sleep 60; do say "  still compiling mmcv $MMCV_OPS ops... $((SECONDS - start)) s"; done) &
    ticker=$!
    env "${build_env[@]}" MAX_JOBS="${MAX_JOBS:-$(nproc)}" MMCV_WITH_OPS=1 FORCE_CUDA=$force_cuda \
        "${PIP[@]}" wheel -q --no-build-isolation --no-deps -w "$src/dist" \
        "$src/mmcv-$MMCV_VERSION" > "$src/build.log" 2>&1 \
        || { tail -n 40 "$src/build.log"; say "mmcv build failed (log above)"; exit 1; }
    kill "$ticker" 2>/dev/null || true
    # Moved in only when complete, so an interrupted build never leaves a broken cached wheel.
    mkdir -p "$WHEELS"
    mv "$src"/dist/mmcv-*.whl "$WHEELS"/
    say "mmcv built in $((SECONDS - start)) s"
}

if ! ls "$WHEELS"/mmcv-"$MMCV_VERSION"-*.whl >/dev/null 2>&1; then
    if [ "$MMCV_OPS" = cuda ]; then
        say "building mmcv $MMCV_VERSION with CUDA ops for ${MMCV_ARCH_LIST//;/, } from source:"
    else
        say "building mmcv $MMCV_VERSION with CPU ops from source (no GPU visible):"
    fi
    say "once, about $MMCV_MINUTES minutes on ${MAX_JOBS:-$(nproc)} cores; cached in $WHEELS"
    build_mmcv
fi

# The venv records which wheel it holds: a plan with another key replaces mmcv, since pip
# would otherwise keep any installed mmcv==2.1.0, whatever its ops.
if [ "$(cat "$VENV/mmcv-cache-key" 2>/dev/null)" != "$MMCV_CACHE_KEY" ]; then
    say "installing mmcv $MMCV_VERSION ($MMCV_CACHE_KEY)"
    "${PIP[@]}" install -q --no-deps --force-reinstall "$WHEELS"/mmcv-"$MMCV_VERSION"-*.whl
    echo "$MMCV_CACHE_KEY" > "$VENV/mmcv-cache-key"
fi

say "installing the OpenMMLab stack and test tools"
"${PIP[@]}" install -q -r "$ROOT/requirements.txt" -r "$ROOT/requirements-dev.txt"
"${PIP[@]}" install -q --no-deps --no-build-isolation -e "$ROOT"
# Last, because the lines above let torch's metadata raise setuptools to >=77: mmengine needs
# pkg_resources (setuptools<70) to resolve `_base_ = 'mmdet::...'`. torch runs fine with it.
pin_setuptools
# Assigned first: a failed check must stop the script, and say's status would hide it.
held=$("$VENV/bin/python" "$ROOT/tools/mmcv_build.py" check)
say "$held"
say "environment ready: $VENV"
