#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment with the pinned OpenMMLab stack.
#
# Usage: tools/setup_env.sh [VENV_DIR]    (default: .venv)
#
# The slow part is mmcv 2.1.0: PyPI has no wheel for torch 2.14, so it is built from its
# sdist once (about 10 minutes on 2 cores) into a wheel cache outside the repository
# ($HS_BACKBONE_CACHE, default ~/.cache/hs_backbone), and every later venv installs it
# from there in seconds.
set -euo pipefail

VENV=${1:-.venv}
PYTHON=${PYTHON:-python3}
CACHE=${HS_BACKBONE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hs_backbone}
WHEELS="$CACHE/wheels"
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

mkdir -p "$WHEELS"
if ! ls "$WHEELS"/mmcv-"$MMCV_VERSION"-*.whl >/dev/null 2>&1; then
    say "building mmcv $MMCV_VERSION with CPU ops from source: once, about 10 minutes on 2 cores"
    say "(the wheel is cached in $WHEELS; later environments reuse it in seconds)"
    src=$(mktemp -d)
    "${PIP[@]}" download -q --no-deps --no-binary :all: --no-build-isolation \
        "mmcv==$MMCV_VERSION" -d "$src"
    tar -xzf "$src"/mmcv-"$MMCV_VERSION".tar.gz -C "$src"
    # torch 2.14's headers need C++20; mmcv 2.1.0 asks the compiler for C++17.
    sed -i 's/-std=c++17/-std=c++20/g' "$src/mmcv-$MMCV_VERSION/setup.py"
    start=$SECONDS
    # The compiler is silent for minutes at a time: say every minute that it is still going.
    (while sleep 60; do say "  still compiling mmcv ops... $((SECONDS - start)) s"; done) &
    ticker=$!
    trap 'kill $ticker 2>/dev/null; rm -rf "$src"' EXIT
    MAX_JOBS=${MAX_JOBS:-$(nproc)} MMCV_WITH_OPS=1 FORCE_CUDA=0 \
        "${PIP[@]}" wheel -q --no-build-isolation --no-deps -w "$src/dist" \
        "$src/mmcv-$MMCV_VERSION" > "$src/build.log" 2>&1 \
        || { tail -n 40 "$src/build.log"; say "mmcv build failed (log above)"; exit 1; }
    kill $ticker 2>/dev/null
    # Moved in only when complete, so an interrupted build never leaves a broken cached wheel.
    mv "$src"/dist/mmcv-*.whl "$WHEELS"/
    say "mmcv built in $((SECONDS - start)) s"
fi

say "installing the OpenMMLab stack and test tools"
"${PIP[@]}" install -q --find-links "$WHEELS" -r "$ROOT/requirements.txt" -r "$ROOT/requirements-dev.txt"
"${PIP[@]}" install -q --no-deps --no-build-isolation -e "$ROOT"
# Last, because the lines above let torch's metadata raise setuptools to >=77: mmengine needs
# pkg_resources (setuptools<70) to resolve `_base_ = 'mmdet::...'`. torch runs fine with it.
pin_setuptools
say "environment ready: $VENV"
