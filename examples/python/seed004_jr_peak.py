"""Seed 004 / the TVB-O Jansen-Rit notebook, step by step, in neurodyn's Python API.

    pip install .                 # from the repository root (builds the Rust module)
    python examples/python/seed004_jr_peak.py [--quick] [--out runs/seed004_py]

Steps: simulate Jansen-Rit on the 84-region connectome, its Welch spectrum and peak frequency,
a grid of peak frequencies over (a, b), the 1 - corr(spectrum, target) loss and its gradient,
the Adam fit that recovers (a, b) = (0.07, 0.065), and a grid of fits. Figures are written as
PNG files when matplotlib is installed. `--quick` shrinks the grid and the fit (about a minute).
"""

import argparse
import time
from pathlib import Path

import numpy as np

import neurodyn

ROOT = Path(__file__).resolve().parents[2]
EXP = ROOT / "experiments"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a 6x6 grid, 60 Adam steps, 3x3 fits")
    ap.add_argument("--out", default="runs/seed004_py", help="folder for run folders and figures")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        plt = None
        print("matplotlib is not installed: no figures")

    # 1. Simulate (TVB-O's experiment: a = b = 0.04, sigma = 0.001, seed 42).
    t0 = time.perf_counter()
    exp = neurodyn.load_experiment(EXP / "jr_dk84.yaml")
    sim = exp.simulate()
    y0 = sim.variable("y0")  # [samples, regions]
    print(f"simulated {y0.shape[0]} ms of {y0.shape[1]} regions in {time.perf_counter() - t0:.2f} s")

    # 2. Welch spectrum of y0[::10] (fs = 100 Hz), averaged over regions; its peak.
    freqs, psd = neurodyn.welch(y0[::10].T, fs=100.0)
    mean_psd = psd.mean(axis=0)
    peak = neurodyn.peak_frequency(freqs, mean_psd)
    print(f"peak frequency of the region-mean spectrum: {peak:.2f} Hz")

    # 3. A grid of peak frequencies over (a, b), batched in Rust.
    n = 6 if args.quick else 16
    t0 = time.perf_counter()
    grid = neurodyn.explore(
        neurodyn.load_experiment(
            EXP / "jr_grid.yaml",
            model__parameters__a__n=n,
            model__parameters__b__n=n,
            integration__duration=2000.0,
        ),
        out=out / "grid",
    )
    pf = grid["peak_frequency"]
    print(f"{n}x{n} grid in {time.perf_counter() - t0:.1f} s; {np.isnan(pf).sum()} masked cells")

    # 4. The loss 1 - corr(spectrum, target) and its exact gradient at the start values.
    fit_exp = neurodyn.load_experiment(EXP / "jr_peak.yaml")
    loss, grad = fit_exp.loss_and_grad({"a": 0.04, "b": 0.04})
    print(f"loss at (0.04, 0.04) = {loss:.6f}, gradient {grad}")

    # 5. The Adam fit (resumable: run it again and it continues from its checkpoint).
    steps = 60 if args.quick else 200
    t0 = time.perf_counter()
    result = fit_exp.fit(steps=steps, out=out / "fit", fresh=True)
    print(f"Adam, {steps} steps in {time.perf_counter() - t0:.1f} s: {result.parameters} "
          f"(truth a = 0.07, b = 0.065), loss {result.loss[-1]:.3e}")

    # 6. A grid of fits: every start optimised together as one batch.
    k = 3 if args.quick else 8
    t0 = time.perf_counter()
    fits = neurodyn.explore(
        neurodyn.load_experiment(
            EXP / "jr_grid_fits.yaml", model__parameters__a__n=k, model__parameters__b__n=k
        ),
        out=out / "grid_fits",
    )
    print(f"{k * k} fits in {time.perf_counter() - t0:.1f} s; columns {list(fits.fits)}")

    if plt is not None:
        fig, ax = plt.subplots(2, 2, figsize=(10, 8))
        ax[0, 0].plot(sim.time, y0, lw=0.3)
        ax[0, 0].set(xlabel="time (ms)", ylabel="y0", title="Jansen-Rit, 84 regions")
        ax[0, 1].semilogy(freqs, mean_psd)
        ax[0, 1].axvline(peak, ls="--", c="k")
        ax[0, 1].set(xlabel="frequency (Hz)", ylabel="PSD", title=f"peak {peak:.2f} Hz")
        (an, av), (bn, bv) = grid.axes
        im = ax[1, 0].pcolormesh(bv, av, pf, shading="nearest")
        fig.colorbar(im, ax=ax[1, 0], label="peak frequency (Hz)")
        ax[1, 0].plot([0.065], [0.07], "r*", ms=12)
        ax[1, 0].set(xlabel=bn, ylabel=an, title="peak frequency grid (truth: star)")
        traj = result.trajectory
        ax[1, 1].plot(traj["step"], traj["a"], label="a")
        ax[1, 1].plot(traj["step"], traj["b"], label="b")
        ax[1, 1].axhline(0.07, ls="--", c="C0")
        ax[1, 1].axhline(0.065, ls="--", c="C1")
        ax[1, 1].set(xlabel="Adam step", ylabel="value", title="fit (truth dashed)")
        ax[1, 1].legend()
        fig.tight_layout()
        fig.savefig(out / "seed004.png", dpi=120)
        print(f"figure: {out / 'seed004.png'}")


if __name__ == "__main__":
    main()
