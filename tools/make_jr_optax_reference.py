#!/usr/bin/env python3
"""optax reference of the deterministic Jansen-Rit fit (the main job without noise).

Run in a throwaway venv (tests only read the committed JSON):

    python3 -m venv /tmp/optaxvenv && /tmp/optaxvenv/bin/pip install optax jax
    /tmp/optaxvenv/bin/python tools/make_jr_optax_reference.py

The network, integrator, observation and loss are written here from /work/shared/DESIGN.md
§2-3 (TVB-O kernel semantics), independently of the Rust code: 84-region dk_average
connectome (raw weights, delays round_half_even(L / 3.0 / dt)), SigmoidalJansenRit coupling
read from the delayed history of y1 - y2, deterministic Heun at dt = 1 ms for 1000 steps from
a cold start of 0.1, trace[k] = X_{k+1}, y0[::10], one-segment Welch (periodic Hann, constant
detrend, density, one-sided), region mean, loss 1 - corr(spectrum, target). The target is the
spectrum at (a, b) = (0.07, 0.065). optax.adam(0.005) runs 15 steps from (0.04, 0.04) on the
gradient from jax.grad. The noisy case adds sigma = 0.001 noise whose N(0, 1) draws
[steps, 6, N] come from the integer generator `lcg_normals` (the Rust test writes the same
draws into a noise file): eta_k = sqrt(dt) sigma xi_k in predictor and corrector alike.
Writes tests/fixtures/optax/jr_adam_{deterministic,noisy}.json.
"""
import json
import pathlib
import struct

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
DS = ROOT / "datasets/dk_average"
W = np.loadtxt(DS / "atlas-DesikanKilliany_meas-streamlineCount_relmat.dense.tsv")
L = np.loadtxt(DS / "atlas-DesikanKilliany_meas-tractLength_relmat.dense.tsv")
N = W.shape[0]
DT, SPEED, STEPS, STRIDE = 1.0, 3.0, 1000, 10
D = np.round(L / SPEED / DT).astype(np.int64)  # numpy rounds half to even
NH = int(D.max()) + 1
# target i, source j: lag d[j, i]
LAG = D.T
SRC = np.broadcast_to(np.arange(N)[None, :], (N, N))

P = dict(mu=0.15, A=3.25, B=22.0, J=135.0, a_1=1.0, a_2=0.8, a_3=0.25, a_4=0.25,
         nu_max=0.0025, r=0.56, v0=5.52)
AC, CMAX, CMIN, RC, MID = 20.0 / 458885.0, 0.005, 0.0, 0.56, 6.0


def sig(v):
    return 2.0 * P["nu_max"] / (1.0 + jnp.exp(P["r"] * (P["v0"] - v)))


def drift(y, c, a, b):
    y0, y1, y2, y3, y4, y5 = y
    J = P["J"]
    return jnp.stack([
        y3, y4, y5,
        P["A"] * a * sig(y1 - y2) - 2.0 * a * y3 - a * a * y0,
        P["A"] * a * (P["mu"] + c + J * P["a_2"] * sig(J * P["a_1"] * y0)) - 2.0 * a * y4 - a * a * y1,
        P["B"] * b * J * P["a_4"] * sig(J * P["a_3"] * y0) - 2.0 * b * y5 - b * b * y2,
    ])


def lcg_normals(count):
    """N(0, 1) draws from a 64-bit LCG (exact integer arithmetic) and Box-Muller."""
    x = 0x2545F4914F6CDD1D
    out = np.empty(count)
    mask = (1 << 64) - 1
    for k in range(count):
        x = (x * 6364136223846793005 + 1442695040888963407) & mask
        u1 = ((x >> 11) + 0.5) * 2.0 ** -53
        x = (x * 6364136223846793005 + 1442695040888963407) & mask
        u2 = ((x >> 11) + 0.5) * 2.0 ** -53
        out[k] = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
    return out


SIGMA = 0.0
XI = jnp.zeros((STEPS, 6, N))


def simulate(a, b):
    x0 = jnp.full((6, N), 0.1)
    eta_all = np.sqrt(DT) * SIGMA * XI
    hist0 = jnp.zeros((NH, N))  # y1 - y2 of the cold history; hist[0] is the current state

    def step(carry, eta):
        x, hist = carry
        delayed = hist[LAG, SRC]  # [target, source]
        c = AC * jnp.sum(W * (CMIN + (CMAX - CMIN) / (1.0 + jnp.exp(RC * (MID - delayed)))), axis=1)
        d0 = drift(x, c, a, b)
        x1 = x + DT * d0 + eta
        d1 = drift(x1, c, a, b)
        xn = x + DT / 2.0 * (d0 + d1) + eta
        hist = jnp.concatenate([(xn[1] - xn[2])[None], hist[:-1]], axis=0)
        return (xn, hist), xn[0]

    _, y0 = jax.lax.scan(step, (x0, hist0), eta_all)
    return y0  # [STEPS, N], trace[k] = X_{k+1}


def welch_mean(y0):
    x = y0[::STRIDE].T  # [N, T]
    n = x.shape[1]
    fs = 1000.0 / (DT * STRIDE)
    w = jnp.sin(jnp.pi * jnp.arange(n) / n) ** 2
    seg = (x - x.mean(axis=1, keepdims=True)) * w
    f = jnp.fft.rfft(seg, axis=1)
    p = (f.real ** 2 + f.imag ** 2) / (fs * jnp.sum(w * w))
    scale = jnp.ones(p.shape[1]).at[1:].set(2.0)
    if n % 2 == 0:
        scale = scale.at[-1].set(1.0)
    return (p * scale).mean(axis=0)


def corr_loss(s, t):
    sc, tc = s - s.mean(), t - t.mean()
    return 1.0 - jnp.sum(sc * tc) / jnp.sqrt(jnp.sum(sc * sc) * jnp.sum(tc * tc))


def make_loss():
    target = welch_mean(simulate(0.07, 0.065))
    return lambda theta: corr_loss(welch_mean(simulate(theta[0], theta[1])), target)


def bits(v):
    return [struct.unpack("<Q", struct.pack("<d", float(t)))[0] for t in v]


def run(name):
    vg = jax.jit(jax.value_and_grad(make_loss()))
    opt = optax.adam(0.005)
    theta = jnp.array([0.04, 0.04])
    state = opt.init(theta)
    rows = []
    for step in range(16):
        v, g = vg(theta)
        rows.append({"step": step, "params": bits(theta), "loss": bits([v])[0], "grad": bits(g),
                     "readable": [float(theta[0]), float(theta[1]), float(v)]})
        print(step, float(v), [float(t) for t in theta])
        u, state = opt.update(g, state, theta)
        theta = optax.apply_updates(theta, u)
    out = {"optax_version": optax.__version__, "jax_version": jax.__version__, "sigma": SIGMA,
           "weights_symmetric": bool(np.allclose(W, W.T)), "history": NH, "rows": rows}
    path = ROOT / f"tests/fixtures/optax/jr_adam_{name}.json"
    path.write_text(json.dumps(out, separators=(",", ":")) + "\n")
    print("wrote", path)


def main():
    global SIGMA, XI
    run("deterministic")
    SIGMA = 0.001
    XI = jnp.asarray(lcg_normals(STEPS * 6 * N).reshape(STEPS, 6, N))
    run("noisy")


if __name__ == "__main__":
    main()
