#!/usr/bin/env python3
"""tvboptim on the workload of `fit bench --suite bold`, for a side-by-side table.

The workload (experiments/rww_fc.yaml as `fit bench --suite bold` runs it): Reduced Wong-Wang
(tvb-library defaults) on the 84-region dk_average connectome (weights / max, delays =
tract length / 3 mm/ms rounded to steps of dt = 1 ms), linear delayed coupling G = 0.2,
stochastic Heun with additive noise sigma = 0.01 (increment sqrt(dt)*sigma*xi), S clamped to
[0, 1], cold start S = 0.2, 60 s at dt = 1 ms, Balloon-Windkessel BOLD of S (classical
constants) every TR = 720 ms after a 2 s transient, FC = Pearson correlation across regions,
loss = 1 - corr(upper triangles of simulated and empirical FC).

Measured, each in a fresh process pinned to one core with single-threaded XLA:
  forward     jit(loss)(G): simulation + BOLD + FC + loss
  gradient    jit(value_and_grad(loss))(G)
for tvboptim's default (monolithic scan) and its block-checkpointed mode
(`Heun(block_size=K)`, jax.checkpoint per block of K steps), in float32 (JAX's default) and
float64 (what neurodyn's bench uses). Reported per cell, as medians over --runs fresh
processes: compile seconds (lower + compile), run seconds (one call after a warm-up call),
peak RSS growth of the whole process over its pre-compile baseline (getrusage maxrss,
includes XLA compilation), peak RSS growth of the timed call alone (VmHWM reset through
/proc/self/clear_refs after warm-up; glibc mmap threshold pinned so freed buffers return to
the OS), and XLA's own buffer plan (memory_analysis: temp + output bytes).

Components from tvboptim: ReducedWongWang, DenseDelayGraph, DelayedLinearCoupling (nearest
step history read), AdditiveNoise, Heun wrapped in BoundedSolver(low=0, high=1), prepare(),
BalloonWindkesselBold (k1, k2, k3, E0, V0 set to the classical set), compute_fc, fc_corr.
Plain JAX: dropping the BOLD samples inside the transient, and the upper-triangle selection.

Run (from the repository root):
  python3 -m venv /tmp/v && /tmp/v/bin/pip install tvboptim==0.4.0
  taskset -c 0 /tmp/v/bin/python tools/bench_tvboptim.py --json /tmp/tvboptim_bold.json
Options: --runs N (fresh processes per cell, default 3), --dtypes f32,f64, --modes
default,checkpointed, --block-size K (default 250 ~ sqrt(60000)), --duration MS.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

XLA_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "datasets", "dk_average")
PREFIX = "atlas-DesikanKilliany_meas-"

# Workload constants (experiments/rww_fc.yaml with fit bench's overrides).
DT = 1.0  # ms
SPEED = 3.0  # mm/ms
G = 0.2
SIGMA = 0.01
S0 = 0.2
TR = 720.0  # ms
TRANSIENT = 2000.0  # ms
SEED = 42


def _status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def _reset_hwm():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def child(args):
    """One measurement in this (fresh) process; prints one JSON line."""
    import resource

    import numpy as np

    import jax

    if args.dtype == "f64":
        jax.config.update("jax_enable_x64", True)
    import equinox as eqx
    import jax.numpy as jnp

    from tvboptim.experimental.network_dynamics import DenseDelayGraph, Network, prepare
    from tvboptim.experimental.network_dynamics.coupling import DelayedLinearCoupling
    from tvboptim.experimental.network_dynamics.dynamics.tvb import ReducedWongWang
    from tvboptim.experimental.network_dynamics.noise import AdditiveNoise
    from tvboptim.experimental.network_dynamics.solvers import BoundedSolver, Heun
    from tvboptim.observations import compute_fc, fc_corr
    from tvboptim.observations.tvb_monitors import BalloonWindkesselBold

    fdt = jnp.float64 if args.dtype == "f64" else jnp.float32
    load = lambda name: np.loadtxt(os.path.join(DATA, PREFIX + name), delimiter="\t")
    w = load("streamlineCount_relmat.dense.tsv")
    w = w / w.max()
    lengths = load("tractLength_relmat.dense.tsv")
    fc_emp = jnp.asarray(load("BoldCorrelation_relmat.dense.tsv"), fdt)
    n = w.shape[0]

    graph = DenseDelayGraph(jnp.asarray(w, fdt), jnp.asarray(lengths / SPEED, fdt))
    dynamics = ReducedWongWang(VARIABLES_OF_INTEREST=("S",), INITIAL_STATE=(S0,))
    coupling = DelayedLinearCoupling(incoming_states="S", G=G)
    noise = AdditiveNoise(sigma=SIGMA, key=jax.random.key(SEED))
    net = Network(dynamics, {"delayed": coupling}, graph, noise=noise)
    block = args.block_size if args.mode == "checkpointed" else None
    solver = BoundedSolver(Heun(block_size=block), low=0.0, high=1.0)
    solve_fn, config = prepare(net, solver, t0=0.0, t1=args.duration, dt=DT)

    # Balloon-Windkessel with neurodyn's `classical` constants (Friston et al. 2003):
    # rho = E0 = 0.34, V0 = 0.02, k1 = 7 rho, k2 = 2, k3 = 2 rho - 0.2.
    rho = 0.34
    bold = BalloonWindkesselBold(period=TR, dt_bw=DT, Eo=rho, vo=0.02)
    bold = eqx.tree_at(
        lambda m: (m.k1, m.k2, m.k3), bold, (7.0 * rho, 2.0, 2.0 * rho - 0.2)
    )
    iu = jnp.triu_indices(n, k=1)

    def loss(g):
        cfg = config.copy()
        cfg.coupling = config.coupling.copy()
        cfg.coupling.delayed = config.coupling.delayed.copy()
        cfg.coupling.delayed.G = g
        sol = solve_fn(cfg)
        b = bold(sol)
        keep = int(TRANSIENT // TR)  # samples at t <= transient (plain JAX slice)
        fc = compute_fc(b.ys[keep:])
        return 1.0 - fc_corr(fc[iu], fc_emp[iu])

    fn = jax.jit(loss if args.measure == "forward" else jax.value_and_grad(loss))
    g0 = jnp.asarray(G, fdt)

    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB
    cur0 = _status_kib("VmRSS")
    t = time.perf_counter()
    compiled = fn.lower(g0).compile()
    compile_s = time.perf_counter() - t
    ma = compiled.memory_analysis()
    xla_bytes = None
    if ma is not None:
        xla_bytes = int(ma.temp_size_in_bytes + ma.output_size_in_bytes)

    out = jax.block_until_ready(compiled(g0))  # warm-up
    rss_after_first = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    base = _status_kib("VmRSS")
    hwm_ok = _reset_hwm()
    t = time.perf_counter()
    out = jax.block_until_ready(compiled(g0))
    run_s = time.perf_counter() - t
    hwm = _status_kib("VmHWM")
    rss_end = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if args.measure == "forward":
        value, grad = float(out), None
    else:
        value, grad = float(out[0]), float(out[1])
    print(
        "RESULT "
        + json.dumps(
            dict(
                compile_s=compile_s,
                run_s=run_s,
                rss_growth_mib=(max(rss_after_first, rss_end) - rss0) / 1024.0,
                rss_baseline_mib=rss0 / 1024.0,
                call_peak_growth_mib=(hwm - base) / 1024.0 if hwm_ok else None,
                xla_temp_output_mib=xla_bytes / 2**20 if xla_bytes is not None else None,
                loss=value,
                grad=grad,
                current_rss_before_compile_mib=cur0 / 1024.0,
            )
        ),
        flush=True,
    )


def run_cell(args, dtype, mode, measure):
    env = dict(os.environ)
    env["XLA_FLAGS"] = XLA_FLAGS
    # Fixed mmap threshold: large buffers are mmapped and go back to the OS when freed, so
    # RSS growth tracks the live peak rather than a heap high-water mark left by warm-up.
    env["MALLOC_MMAP_THRESHOLD_"] = "131072"
    env.setdefault("OMP_NUM_THREADS", "1")
    cmd = [
        sys.executable, os.path.abspath(__file__), "--child",
        "--dtype", dtype, "--mode", mode, "--measure", measure,
        "--block-size", str(args.block_size), "--duration", str(args.duration),
    ]
    results = []
    for _ in range(args.runs):
        p = subprocess.run(cmd, env=env, capture_output=True, text=True)
        line = [l for l in p.stdout.splitlines() if l.startswith("RESULT ")]
        if p.returncode != 0 or not line:
            sys.stderr.write(p.stdout + p.stderr)
            raise SystemExit(f"child failed: {' '.join(cmd)}")
        results.append(json.loads(line[-1][len("RESULT "):]))
    med = {}
    for k in results[0]:
        vals = [r[k] for r in results if r[k] is not None]
        med[k] = statistics.median(vals) if vals else None
    med["runs"] = results
    return med


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", default=None, help="write all figures here")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dtypes", default="f32,f64")
    ap.add_argument("--modes", default="default,checkpointed")
    ap.add_argument("--block-size", type=int, default=250)
    ap.add_argument("--duration", type=float, default=60000.0)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--dtype", default="f32", help=argparse.SUPPRESS)
    ap.add_argument("--mode", default="default", help=argparse.SUPPRESS)
    ap.add_argument("--measure", default="forward", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)

    import importlib.metadata as md

    aff = sorted(os.sched_getaffinity(0))
    if len(aff) != 1:
        print(f"warning: affinity {aff}; run under `taskset -c 0` for one core", file=sys.stderr)
    report = dict(
        tvboptim=md.version("tvboptim"), jax=md.version("jax"), jaxlib=md.version("jaxlib"),
        xla_flags=XLA_FLAGS, cpu_affinity=aff, runs=args.runs, block_size=args.block_size,
        duration_ms=args.duration, dt_ms=DT, G=G, sigma=SIGMA, tr_ms=TR, transient_ms=TRANSIENT,
        cells=[],
    )
    print(
        f"tvboptim {report['tvboptim']}, jax {report['jax']}: RWW 84 regions, "
        f"{args.duration / 1000:g} s at dt = 1 ms, BW BOLD TR 720 ms, FC loss; "
        f"medians of {args.runs} fresh processes, cpus {aff}"
    )
    hdr = f"  {'':34} {'compile s':>9} {'run s':>8} {'RSS+ MiB':>9} {'call+ MiB':>9} {'XLA MiB':>8}"
    print(hdr)
    for dtype in args.dtypes.split(","):
        for mode in args.modes.split(","):
            for measure in ("forward", "gradient"):
                m = run_cell(args, dtype, mode, measure)
                label = f"{dtype} {mode}" + (f" (K={args.block_size})" if mode == "checkpointed" else "")
                label += f" {measure}"
                fmt = lambda v, p=1: "n/a" if v is None else f"{v:.{p}f}"
                extra = f"loss {m['loss']:.6f}" + (
                    f", dL/dG {m['grad']:.6f}" if m["grad"] is not None else ""
                )
                print(
                    f"  {label:34} {fmt(m['compile_s'], 2):>9} {fmt(m['run_s'], 3):>8} "
                    f"{fmt(m['rss_growth_mib']):>9} {fmt(m['call_peak_growth_mib']):>9} "
                    f"{fmt(m['xla_temp_output_mib']):>8}   {extra}",
                    flush=True,
                )
                report["cells"].append(dict(dtype=dtype, mode=mode, measure=measure, **m))
    print(
        "  RSS+: peak RSS growth of the process over its pre-compile baseline (incl. compile);"
        " call+: peak RSS growth during the timed call; XLA: memory_analysis temp + output"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
