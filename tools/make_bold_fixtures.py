"""Regenerates tests/fixtures/bold/*: independent references for the BOLD monitor and FC.

Run (numpy and scipy in a throwaway venv; the tests never need Python):
    python3 -m venv /tmp/v && /tmp/v/bin/pip install numpy scipy && /tmp/v/bin/python tools/make_bold_fixtures.py

* `input.npy` [T]: a smooth driving signal u sampled at dt = 1 ms (u[k] drives step k, i.e. it is
  the neural state after step k + 1, as in the kernel).
* `euler_<set>.npy` [samples]: the Balloon-Windkessel BOLD of that input by explicit Euler at
  dt = 1 ms from (s, f, v, q) = (0, 1, 1, 1), written independently in numpy, sampled every
  720 steps after a transient of 2000 steps.
* `ivp_classical.npy` [samples]: the same BOLD from scipy's solve_ivp (DOP853, rtol = atol = 1e-12)
  of the ODE driven by the continuous input, at the sample times (no transient, period 1 s, 20 s).
* `fc_x.npy` [T, n], `fc.npy` [n, n]: random series and numpy.corrcoef of their columns.
"""
import json
import numpy as np
from scipy.integrate import solve_ivp

out = "tests/fixtures/bold"
SETS = {
    "classical": dict(kappa=0.65, gamma=0.41, tau=0.98, alpha=0.32, rho=0.34, v0=0.02,
                      k1=7 * 0.34, k2=2.0, k3=2 * 0.34 - 0.2),
    "revised": dict(kappa=0.65, gamma=0.41, tau=0.98, alpha=0.32, rho=0.4, v0=0.04,
                    k1=4.3 * 40.3 * 0.4 * 0.04, k2=25 * 0.4 * 0.04, k3=1.0),
}


def u_of_t(t):
    """Driving signal at time t (s)."""
    return 0.5 + 0.4 * np.sin(2 * np.pi * 0.1 * t) + 0.2 * np.sin(2 * np.pi * 0.37 * t + 1.0)


def rhs(c, z, u):
    s, f, v, q = z
    a = 1.0 / c["alpha"]
    return np.array([
        u - c["kappa"] * s - c["gamma"] * (f - 1.0),
        s,
        (f - v ** a) / c["tau"],
        (f * (1.0 - (1.0 - c["rho"]) ** (1.0 / f)) / c["rho"] - q * v ** a / v) / c["tau"],
    ])


def bold(c, z):
    s, f, v, q = z
    return c["v0"] * (c["k1"] * (1 - q) + c["k2"] * (1 - q / v) + c["k3"] * (1 - v))


dt_ms, steps, period, transient = 1.0, 30000, 720, 2000
t_after = (np.arange(steps) + 1) * dt_ms / 1000.0  # time of the state that drives step k
u = u_of_t(t_after)
np.save(f"{out}/input.npy", u)
meta = {"dt_ms": dt_ms, "steps": steps, "period": period, "transient": transient}
for name, c in SETS.items():
    z = np.array([0.0, 1.0, 1.0, 1.0])
    samples = []
    h = dt_ms / 1000.0
    for k in range(steps):
        z = z + h * rhs(c, z, u[k])
        done = k + 1
        if done > transient and (done - transient) % period == 0:
            samples.append(bold(c, z))
    np.save(f"{out}/euler_{name}.npy", np.array(samples))

# A tight ODE reference with the continuous input (period 1 s, no transient, 20 s).
c = SETS["classical"]
times = np.arange(1, 21, dtype=float)
sol = solve_ivp(lambda t, z: rhs(c, z, u_of_t(t)), (0.0, 20.0), [0.0, 1.0, 1.0, 1.0],
                method="DOP853", rtol=1e-12, atol=1e-12, t_eval=times)
np.save(f"{out}/ivp_classical.npy", np.array([bold(c, sol.y[:, k]) for k in range(len(times))]))
meta["ivp"] = {"period_s": 1.0, "duration_s": 20.0, "method": "DOP853", "rtol": 1e-12}

rng = np.random.default_rng(20261201)
x = rng.standard_normal((200, 7)) + np.linspace(0, 1, 7)[None, :] * rng.standard_normal((200, 1))
np.save(f"{out}/fc_x.npy", x)
np.save(f"{out}/fc.npy", np.corrcoef(x.T))
with open(f"{out}/meta.json", "w") as fh:
    json.dump(meta, fh, indent=1)
print("wrote", out)
