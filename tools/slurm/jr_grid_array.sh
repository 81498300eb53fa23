#!/usr/bin/env bash
# A `fit explore` grid as a SLURM job array: the binary is built once, every array task runs
# one shard with it, and a last job merges the shards.
#
#   tools/slurm/jr_grid_array.sh submit [-- FIT-ARGS...]   # on the login node
#
# builds `fit` (the workspace's dev profile, optimised), copies the binary into the run folder
# (a rebuild while the array runs cannot change the code of the remaining tasks), submits N
# array tasks running `task` and a `merge` job that starts after all of them succeeded.
# `task` and `merge` are what those jobs run; they can be run by hand too (the integration test
# crates/fit/tests/grids.rs runs them for K = 1..N as separate processes).
#
# Settings (environment variables):
#   EXP   experiment file                  (experiments/jr_grid.yaml)
#   OUT   run folder, shared by all tasks  (runs/jr_grid)
#   N     number of shards = array tasks   (16)
#   CPUS  CPUs per task                    (2); each task uses SLURM_CPUS_PER_TASK threads
#   FIT   the fit binary                   ($OUT/bin/fit, copied there by `submit`)
# FIT-ARGS (e.g. --set integration.duration=2000) are passed to every shard unchanged; their
# order does not matter (the experiment hash is that of the resolved configuration).
#
# A task that failed or was killed is simply re-run (`sbatch --array=K ... task`): the shards
# already written are kept, and its own finished chunks (grid-chunks/) are not evaluated again.
#SBATCH --job-name=fit-grid
#SBATCH --output=slurm-%A_%a.out
set -euo pipefail

EXP=${EXP:-experiments/jr_grid.yaml}
OUT=${OUT:-runs/jr_grid}
N=${N:-16}
CPUS=${CPUS:-2}
FIT=${FIT:-$OUT/bin/fit}
export EXP OUT N CPUS FIT

mode=${1:-}
shift || true
[[ ${1:-} == -- ]] && shift

case "$mode" in
submit)
    # One build, here, before any task starts: N tasks calling `cargo run` would queue on the
    # target folder's build lock (and rebuild if the sources changed meanwhile).
    cargo build -p fit
    built="${CARGO_TARGET_DIR:-target}/debug/fit"
    mkdir -p "$(dirname "$FIT")"
    cp "$built" "$FIT.tmp.$$" && mv "$FIT.tmp.$$" "$FIT"
    array=$(sbatch --parsable --array="1-$N" --cpus-per-task="$CPUS" "$0" task -- "$@")
    sbatch --parsable --dependency="afterok:${array%%;*}" --cpus-per-task=1 \
        --job-name=fit-grid-merge "$0" merge
    echo "submitted array $array ($N shards of $EXP into $OUT) and its merge job"
    ;;
task)
    K=${SLURM_ARRAY_TASK_ID:?task needs SLURM_ARRAY_TASK_ID (1..N)}
    exec "$FIT" explore "$EXP" --out "$OUT" --shard "$K/$N" --quiet "$@"
    ;;
merge)
    exec "$FIT" merge "$OUT"
    ;;
*)
    echo "usage: $0 submit|task|merge [-- FIT-ARGS...]  (see the comments at the top)" >&2
    exit 2
    ;;
esac
