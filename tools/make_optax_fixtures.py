#!/usr/bin/env python3
"""Reference trajectories of optax optimizers for crates/optim's tests.

Run in a throwaway venv (the tests only read the committed JSON):

    python3 -m venv /tmp/optaxvenv && /tmp/optaxvenv/bin/pip install optax jax
    /tmp/optaxvenv/bin/python tools/make_optax_fixtures.py

Writes crates/optim/tests/fixtures/optax_trajectories.json: for each optimizer, the
parameters, loss, gradient and update of every step on an extended Rosenbrock function in
float64 (gradients from jax.grad of the same function the Rust test writes out by hand).
Every float is stored twice: as its f64 bit pattern (exact) and readable.
"""
import json
import pathlib
import struct

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402
from optax import contrib  # noqa: E402

STEPS = 40
X0 = [-1.2, 1.0, -0.5, 0.8]


def loss(x):
    # Extended Rosenbrock (pairs) plus a small quadratic, so every coordinate has curvature.
    r = 0.0
    for i in range(0, x.shape[0], 2):
        r = r + (1.0 - x[i]) ** 2 + 100.0 * (x[i + 1] - x[i] ** 2) ** 2
    return r + 0.1 * jnp.sum(x * x)


def f64_schedule(schedule):
    """The schedule evaluated at a float64 count.

    optax's `scale_by_schedule` passes its int32 step count, and JAX promotes
    `int32 / int` to float32, so `exponential_decay` returns float32 learning rates
    (0.05 becomes 0.0500000007). The Rust crate computes every schedule in f64; the
    reference does the same by handing the schedule a float64 count.
    """
    return lambda count: schedule(jnp.asarray(count, jnp.float64))


def bits(v):
    return [struct.unpack("<Q", struct.pack("<d", float(t)))[0] for t in v]


CASES = {
    "adam": optax.adam(0.01),
    "adam_betas": optax.adam(0.003, b1=0.8, b2=0.99, eps=1e-6),
    "adamw": optax.adamw(0.01, weight_decay=0.1),
    "adamax": optax.adamax(0.02),
    "sgd": optax.sgd(1e-4),
    "sgd_momentum": optax.sgd(1e-4, momentum=0.9),
    "sgd_nesterov": optax.sgd(1e-4, momentum=0.9, nesterov=True),
    "clip_norm_adam_expdecay": optax.chain(
        optax.clip_by_global_norm(1.0),
        optax.scale_by_adam(),
        optax.scale_by_learning_rate(f64_schedule(optax.exponential_decay(0.05, 5, 0.8))),
    ),
    "clip_value_sgd": optax.chain(optax.clip(2.0), optax.sgd(0.01, momentum=0.5)),
    "adam_warmup_cosine": optax.adam(
        f64_schedule(optax.warmup_cosine_decay_schedule(0.0, 0.05, 5, 30, end_value=0.001))
    ),
    "adam_cosine": optax.adam(f64_schedule(optax.cosine_decay_schedule(0.05, 25, alpha=0.1))),
    "adam_staircase": optax.adam(
        f64_schedule(
            optax.exponential_decay(
                0.05, 4, 0.5, transition_begin=3, staircase=True, end_value=0.005
            )
        )
    ),
    "adam_plateau": optax.chain(
        optax.adam(0.05),
        contrib.reduce_on_plateau(factor=0.5, patience=2, cooldown=1, rtol=1e-3),
    ),
}


def run(opt):
    x = jnp.array(X0, dtype=jnp.float64)
    state = opt.init(x)
    vg = jax.value_and_grad(loss)
    rows = []
    for _ in range(STEPS):
        v, g = vg(x)
        u, state = opt.update(g, state, x, value=v)
        rows.append(
            {
                "params": bits(x),
                "loss": bits([v])[0],
                "grad": bits(g),
                "update": bits(u),
                "params_readable": [float(t) for t in x],
                "loss_readable": float(v),
            }
        )
        x = optax.apply_updates(x, u)
    return rows


def main():
    out = {
        "optax_version": optax.__version__,
        "jax_version": jax.__version__,
        "x0": X0,
        "steps": STEPS,
        "cases": {name: run(opt) for name, opt in CASES.items()},
    }
    path = pathlib.Path(__file__).resolve().parent.parent / "crates/optim/tests/fixtures/optax_trajectories.json"
    path.write_text(json.dumps(out, separators=(",", ":")) + "\n")
    print("wrote", path)


if __name__ == "__main__":
    main()
