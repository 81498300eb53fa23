#!/usr/bin/env python3
"""The SOC step of `fit bench --suite soc` in numpy + scipy (LAPACK), one thread, for comparison.

One step, as in crates/soc/src/optimizer.rs: a real Schur decomposition W = Z T Z^T (LAPACK
dgees via scipy.linalg.schur), alpha = max Re lambda, s = max(1.5 alpha, alpha + 0.2), both
Lyapunov equations on the Schur form (LAPACK dtrsyl), G = Z (Y X) Z^T / tr(YX), the update of the
inhibitory columns, Dale's law, the E/I balance, the sparsity projection and the zero diagonal.
The initial W is drawn like the Rust code's recipe (not bit-identical: numpy's generator), which
gives the same spectrum statistics and the same per-step cost.

Usage: python3 tools/bench_soc_numpy.py            # creates /tmp/neurodyn-soc-venv if needed
       python3 tools/bench_soc_numpy.py --sizes 100 200 400 --reps 5
Prints "N = ...: ... ms per step" (median of --reps timed blocks) and dgees alone.
"""
import argparse
import os
import subprocess
import sys

VENV = "/tmp/neurodyn-soc-venv"

# One BLAS/LAPACK thread, set before numpy is imported (the Rust bench is sequential too).
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"


def ensure_venv():
    """Re-runs this script inside a throwaway venv with numpy and scipy."""
    if os.environ.get("NEURODYN_SOC_VENV") == "1":
        return
    py = os.path.join(VENV, "bin", "python")
    if not os.path.exists(py):
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
        subprocess.check_call([py, "-m", "pip", "install", "-q", "numpy", "scipy"])
    env = dict(os.environ, NEURODYN_SOC_VENV="1")
    os.execve(py, [py] + sys.argv, env)


def main():
    ensure_venv()
    import time

    import numpy as np
    import scipy.linalg as sl
    from scipy.linalg import lapack

    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 200, 400])
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()

    def initial(n, rng, p=0.1, radius=10.0, gamma=3.0):
        w0 = np.sqrt(2.0) * radius / np.sqrt(p * (1 - p) * (1 + gamma**2))
        off = n * (n - 1)
        k = int(round(p * off))
        idx = rng.choice(off, size=k, replace=False)
        i, c = idx // (n - 1), idx % (n - 1)
        j = np.where(c >= i, c + 1, c)
        w = np.zeros((n, n))
        scale = w0 / np.sqrt(n)
        w[i, j] = np.where(j < n // 2, scale, -gamma * scale)
        return w

    def step(w, gamma=3.0, eta=10.0, rho=0.4):
        n = w.shape[0]
        h = n // 2
        t, z = sl.schur(w, output="real")
        d = np.diag(t)
        sub = np.concatenate([np.diag(t, -1), [0.0]])
        alpha = d.max()
        # 2x2 blocks: real part = mean of the two diagonal entries.
        for k in np.nonzero(sub)[0]:
            alpha = max(alpha, 0.5 * (t[k, k] + t[k + 1, k + 1]))
        s = max(1.5 * alpha, alpha + 0.2)
        a = t - s * np.eye(n)
        c = -2.0 * np.eye(n)
        # (T - sI) X + X (T - sI)^T = C and (T - sI)^T Y + Y (T - sI) = C.
        # dtrsyl solves op(A) X + X op(B) = scale C (scale < 1 only to avoid overflow).
        x, sc, _ = lapack.dtrsyl(a, a, c, trana="N", tranb="T")
        x /= sc
        y, sc, _ = lapack.dtrsyl(a, a, c, trana="T", tranb="N")
        y /= sc
        yx = y @ x
        g = z @ yx @ z.T / np.trace(yx)
        wi = np.minimum(w[:, h:] - eta * g[:, h:], 0.0)
        w = w.copy()
        w[:, h:] = wi
        ee, ie = w[:h, :h].mean(), w[:h, h:].mean()
        ei, ii = w[h:, :h].mean(), w[h:, h:].mean()
        w[:h, h:] *= -gamma * ee / ie
        w[h:, h:] *= -gamma * ei / ii
        flat = w[:, h:].flatten(order="F")
        keep = int(round(rho * n * h)) - 1
        order = np.argsort(flat, kind="stable")
        flat[order[keep:]] = 0.0
        w[:, h:] = flat.reshape((n, h), order="F")
        np.fill_diagonal(w, 0.0)
        return w

    import scipy

    print(f"numpy {np.__version__}, scipy {scipy.__version__}, one thread")
    for n in args.sizes:
        rng = np.random.default_rng(0)
        w = initial(n, rng)
        w = step(w)  # warm-up
        reps = int(min(50, max(3, 40_000_000 // n**3)))
        per_step, per_schur = [], []
        for _ in range(args.reps):
            t0 = time.perf_counter()
            for _ in range(reps):
                w = step(w)
            per_step.append((time.perf_counter() - t0) * 1e3 / reps)
            t0 = time.perf_counter()
            for _ in range(reps):
                sl.schur(w, output="real")
            per_schur.append((time.perf_counter() - t0) * 1e3 / reps)
        print(
            f"  N = {n:4}: {np.median(per_step):9.2f} ms per step (numpy + LAPACK);"
            f" dgees alone {np.median(per_schur):7.2f} ms"
        )


if __name__ == "__main__":
    main()
