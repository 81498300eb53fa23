#!/usr/bin/env bash
# Runs the `neurodyn` Python module's pytest suite (python/tests) in a venv (target/pyvenv,
# created if missing; numpy, pytest and pandas from PyPI).
#
# By default the module is the extension cargo builds in the workspace build that
# `cargo test --workspace` has just made (target/debug/lib_native.so), installed into the venv
# next to python/neurodyn: `pip install .` builds the extension crate on its own, and cargo then
# resolves some shared dependencies with other features (no test-only ones), which recompiles
# burn a second time (about 10 minutes on 2 cores). NEURODYN_PIP_INSTALL=1 tests the README's
# `pip install .` instead.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
VENV="${NEURODYN_VENV:-target/pyvenv}"
if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check numpy pytest pandas
if [ "${NEURODYN_PIP_INSTALL:-0}" = 1 ]; then
    "$VENV/bin/python" -m pip install --quiet "maturin>=1.8,<2"
    # --no-build-isolation: the venv's maturin, so no download per install.
    PATH="$PWD/$VENV/bin:$PATH" "$VENV/bin/python" -m pip install --quiet --no-build-isolation \
        --force-reinstall --no-deps .
    cargo build -p fit
else
    # The same package selection and targets as `cargo test --workspace`: nothing is rebuilt,
    # and the extension (a cdylib, which cargo test does not link) is made.
    cargo build --workspace --all-targets
    site="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    rm -rf "$site/neurodyn" "$site"/neurodyn-*.dist-info
    mkdir -p "$site/neurodyn"
    cp python/neurodyn/*.py "$site/neurodyn/"
    cp target/debug/lib_native.so "$site/neurodyn/_native.abi3.so"
fi
NEURODYN_FIT="$PWD/target/debug/fit" "$VENV/bin/python" -m pytest -q python/tests "$@"
