"""The Python module's overhead against the same work in Rust (issue 15's figures).

    target/pyvenv/bin/python tools/bench_python.py [--repeats 5] [--calls 1000]

1. `exp.simulate()` of the 84-region, 10,000-step Jansen-Rit run (jr_dk84.yaml at 10 s)
   against the kernel's plain forward call timed in Rust on the same problem (what
   `fit bench --suite jr` reports as "fused kernel").
2. A Python loop of `loss_and_grad` calls against the same number of evaluations in a Rust
   loop (jr_peak.yaml shortened to 100 ms, so 1000 calls take seconds).
Medians of `--repeats` alternating runs; the ratios come from the same run.
"""

import argparse
import statistics
import time
from pathlib import Path

import neurodyn

EXP = Path(__file__).resolve().parents[1] / "experiments"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--calls", type=int, default=1000)
    args = ap.parse_args()

    sim = neurodyn.load_experiment(EXP / "jr_dk84.yaml", integration__duration=10000.0)
    py, rs = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        trace, _ = sim.simulate()
        py.append(time.perf_counter() - t0)
        rs.append(sim.bench_forward(1)[0])
    assert trace.shape == (10000, 6, 84)
    mp, mr = statistics.median(py), statistics.median(rs)
    print(f"simulate 84 x 10,000 steps: Python {mp:.4f} s, Rust kernel {mr:.4f} s, ratio {mp / mr:.3f}")

    grad = neurodyn.load_experiment(EXP / "jr_peak.yaml", integration__duration=100.0)
    grad.loss_and_grad()  # builds the objective and its target once
    py, rs = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        for _ in range(args.calls):
            grad.loss_and_grad({"a": 0.05, "b": 0.06})
        py.append(time.perf_counter() - t0)
        rs.append(grad.bench_loss_and_grad(args.calls))
    mp, mr = statistics.median(py), statistics.median(rs)
    print(f"{args.calls} loss_and_grad calls: Python loop {mp:.3f} s, Rust loop {mr:.3f} s, ratio {mp / mr:.3f}")


if __name__ == "__main__":
    main()
