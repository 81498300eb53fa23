#!/usr/bin/env bash
# Regenerates docs/benchmarks.md (and docs/benchmarks.json) from one run of every benchmark.
#
#   tools/bench_docs.sh            # all suites on one core, then the 32 x 32 grid on all cores
#   SUITE=jr tools/bench_docs.sh   # one suite only
#
# `fit bench` runs pinned to one core (taskset -c 0, where available), as the issue's figures
# are; the grid of experiments/jr_grid.yaml is timed on every core the machine has. The
# machines are noisy: the figures are medians of 3 repetitions, and every ratio comes from the
# same run.
set -euo pipefail
cd "$(dirname "$0")/.."
suite="${SUITE:-all}"
cargo build -p fit --quiet
fit="${CARGO_TARGET_DIR:-target}/debug/fit"
pin=()
if command -v taskset >/dev/null; then pin=(taskset -c 0); fi
mkdir -p docs
"${pin[@]}" "$fit" bench --suite "$suite" --json docs/benchmarks.json --markdown docs/benchmarks.md

if [[ "$suite" == all || "$suite" == jr ]]; then
    out="$(mktemp -d)"
    start=$(date +%s.%N)
    cpu0=$(awk '{print $14 + $15 + $16 + $17}' /proc/$$/stat 2>/dev/null || echo 0)
    "$fit" explore experiments/jr_grid.yaml --out "$out" --quiet >/dev/null
    end=$(date +%s.%N)
    # CPU time of the finished child (cutime + cstime of this shell, in ticks).
    cpu1=$(awk '{print $14 + $15 + $16 + $17}' /proc/$$/stat 2>/dev/null || echo 0)
    rm -rf "$out"
    {
        echo
        echo "## jr: fit explore experiments/jr_grid.yaml (32 x 32 grid, 10,000 steps per point)"
        echo
        echo "| | wall s | CPU s | cores |"
        echo "|---|---:|---:|---:|"
        printf '| explore, all cores | %.1f | %.1f | %s |\n' \
            "$(echo "$end - $start" | bc)" "$(echo "($cpu1 - $cpu0) / 100" | bc -l)" "$(nproc)"
    } >>docs/benchmarks.md
fi
echo "docs/benchmarks.md regenerated"
