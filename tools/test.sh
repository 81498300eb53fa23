#!/usr/bin/env bash
# The project's test command (README, .ci/run): the Rust workspace's tests, then the Python
# module's pytest suite in a throwaway venv (python/tests; it compares the module's outputs
# with the `fit` command's, bit for bit).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace
bash tools/test_python.sh
