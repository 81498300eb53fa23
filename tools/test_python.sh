#!/usr/bin/env bash
# Builds the `neurodyn` Python module into a venv (target/pyvenv) with `pip install .` (the
# README's install command) and runs its pytest suite. The venv is created if missing; pip
# reuses cargo's build in target/ (the module builds with the workspace's dev profile).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
VENV="${NEURODYN_VENV:-target/pyvenv}"
if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet "maturin>=1.8,<2" numpy pytest pandas
# --no-build-isolation: the venv's maturin, so no download per install.
PATH="$PWD/$VENV/bin:$PATH" "$VENV/bin/python" -m pip install --quiet --no-build-isolation --force-reinstall --no-deps .
cargo build -p fit
NEURODYN_FIT="$PWD/target/debug/fit" "$VENV/bin/python" -m pytest -q python/tests "$@"
