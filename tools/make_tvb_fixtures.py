"""Regenerates tests/fixtures/tvb/*.npy and tests/fixtures/tvb/cases.json with TVB (tvb-library 2.10.0).

Run from the repository root (needs tvb-library, which pulls numpy/scipy/numba; not needed by the tests):
    python3 -m venv /tmp/v && /tmp/v/bin/pip install tvb-library==2.10.0 && /tmp/v/bin/python tools/make_tvb_fixtures.py
Each case simulates the 84-region DK connectome of datasets/dk_average (weights max-normalised,
tract lengths / 3.0 mm/ms -> delays) from a constant initial history, deterministically, with a Raw
monitor recording every state variable. The reference trace is computed with TVB's delay history
switched to float64; the same case is rerun with stock TVB (float32 history) and the distance is recorded.
<case>.npy is float64 [samples, nvar, nnode]: sample i is the state after step 1 + i*store_stride.
cases.json lists one dict per case (parameters, coupling, integrator, dt, steps, initial values, ...).
"""
import json
import os

import numpy as np
import tvb
from tvb.datatypes.connectivity import Connectivity
from tvb.simulator import coupling, integrators, models, monitors, simulator
import tvb.simulator.history as tvb_history

try:
    from importlib.metadata import version as _pkg_version
    TVB_VERSION = _pkg_version("tvb-library")
except Exception:  # pragma: no cover
    TVB_VERSION = getattr(tvb, "__version__", "unknown")

DATA = "datasets/dk_average"
OUT = "tests/fixtures/tvb"
SPEED = 3.0

# --- float32 <-> float64 history switch --------------------------------------------------------
# Stock TVB declares the history buffer, weights and gathered delayed states as NDArray(..., 'f'),
# i.e. float32 (tvb/simulator/history.py, BaseHistory/DenseHistory/SparseHistory). The descriptors
# are class-level and allocate lazily per instance, so flipping their dtype before a Simulator is
# configured switches that simulator's history to float64.
_F32_DESCRIPTORS = [
    attr
    for cls in (tvb_history.BaseHistory, tvb_history.DenseHistory, tvb_history.SparseHistory)
    for attr in vars(cls).values()
    if isinstance(attr, tvb_history.NDArray) and attr.dtype == "f"
]


def set_history_dtype(dtype):
    for attr in _F32_DESCRIPTORS:
        attr.dtype = dtype


# --- connectome ----------------------------------------------------------------------------------
def load_connectivity():
    w = np.loadtxt(f"{DATA}/atlas-DesikanKilliany_meas-streamlineCount_relmat.dense.tsv", delimiter="\t")
    lengths = np.loadtxt(f"{DATA}/atlas-DesikanKilliany_meas-tractLength_relmat.dense.tsv", delimiter="\t")
    with open(f"{DATA}/atlas-DesikanKilliany_nodeindices.tsv") as fh:
        rows = [line.rstrip("\n").split("\t") for line in fh if line.strip()]
    labels = np.array([r[3] for r in rows[1:]])
    assert w.shape == lengths.shape == (len(labels), len(labels))
    return w / w.max(), lengths, labels


def make_connectivity(w, lengths, labels):
    n = w.shape[0]
    conn = Connectivity(weights=w.copy(), tract_lengths=lengths.copy(), region_labels=labels,
                        centres=np.zeros((n, 3)), speed=np.array([SPEED]))
    conn.configure()
    return conn


# --- cases ---------------------------------------------------------------------------------------
G2D = dict(model=models.Generic2dOscillator, model_kw=dict(a=2.0), initial=dict(V=0.1, W=0.1),
           dt=0.1, steps=2000, store_stride=4)
WC_TABLE1 = dict(k_e=1.0, k_i=1.0, r_e=0.0, r_i=0.0, tau_e=10.0, tau_i=10.0, c_ee=10.0, c_ei=6.0,
                 c_ie=10.0, c_ii=1.0, a_e=1.0, a_i=1.0, b_e=0.0, b_i=0.0, theta_e=2.0, theta_i=3.5,
                 alpha_e=1.2, alpha_i=2.0, P=0.5, Q=0.0, c_e=1.0, c_i=1.0, shift_sigmoid=False)
RWW = dict(model=models.ReducedWongWang, model_kw={}, initial=dict(S=0.2), dt=0.1, steps=2000,
           store_stride=2)
CASES = [
    dict(case="jansen_rit", model=models.JansenRit, model_kw=dict(a=0.04, b=0.04, mu=0.15),
         coupling=coupling.SigmoidalJansenRit, coupling_kw=dict(a=1.0),
         integrator=integrators.HeunDeterministic, dt=0.5, steps=1000,
         initial={f"y{i}": 0.1 for i in range(6)}, store_stride=5),
    dict(case="generic_2d_oscillator", coupling=coupling.Linear, coupling_kw=dict(a=0.1),
         integrator=integrators.HeunDeterministic, **G2D),
    dict(case="reduced_wong_wang", coupling=coupling.Linear, coupling_kw=dict(a=0.5),
         integrator=integrators.HeunDeterministic, **RWW),
    dict(case="montbrio_pazo_roxin", model=models.MontbrioPazoRoxin, model_kw={},
         coupling=coupling.Linear, coupling_kw=dict(a=0.5),
         integrator=integrators.HeunDeterministic, dt=0.01, steps=3000,
         initial=dict(r=1.0, V=-1.0), store_stride=5),
    # TVB's WilsonCowan defaults settle to a fixed point within ~100 ms here, so this case uses the
    # oscillating "Table 1" set (Sanz-Leon et al. 2014) from the WilsonCowan docstring.
    dict(case="wilson_cowan", model=models.WilsonCowan, model_kw=WC_TABLE1,
         coupling=coupling.Linear, coupling_kw=dict(a=0.5),
         integrator=integrators.HeunDeterministic, dt=0.1, steps=2000,
         initial=dict(E=0.25, I=0.25), store_stride=4,
         note="WilsonCowan docstring Table 1 parameters (defaults decay to a fixed point)"),
    dict(case="generic_2d_oscillator_difference", coupling=coupling.Difference, coupling_kw=dict(a=0.1),
         integrator=integrators.HeunDeterministic, **G2D),
    dict(case="reduced_wong_wang_sigmoidal", coupling=coupling.Sigmoidal, coupling_kw={},
         integrator=integrators.HeunDeterministic, **RWW),
    dict(case="generic_2d_oscillator_euler", coupling=coupling.Linear, coupling_kw=dict(a=0.1),
         integrator=integrators.EulerDeterministic, **G2D),
    dict(case="generic_2d_oscillator_rk4", coupling=coupling.Linear, coupling_kw=dict(a=0.1),
         integrator=integrators.RungeKutta4thOrderDeterministic, **G2D),
]

NON_PARAMS = {"state_variable_range", "state_variable_boundaries", "variables_of_interest",
              "parameter_names", "coupling_terms", "state_variable_dfuns", "gid", "title"}


def trait_params(obj):
    out = {}
    for name in type(obj).declarative_attrs:
        if name in NON_PARAMS:
            continue
        val = getattr(obj, name)
        if isinstance(val, np.ndarray) and val.size == 1 and val.dtype.kind in "fib":
            out[name] = float(val.reshape(-1)[0])
    return out


def simulate(spec, w, lengths, labels, dtype):
    set_history_dtype(dtype)
    try:
        conn = make_connectivity(w, lengths, labels)
        model = spec["model"](**{k: np.array([v]) for k, v in spec["model_kw"].items()})
        model.variables_of_interest = tuple(model.state_variables)
        cpl = spec["coupling"](**{k: np.array([v]) for k, v in spec["coupling_kw"].items()})
        integ = spec["integrator"](dt=spec["dt"])
        conn.set_idelays(spec["dt"])
        horizon = int(conn.horizon)
        svars = list(model.state_variables)
        ic = np.zeros((horizon, len(svars), w.shape[0], 1))
        for i, sv in enumerate(svars):
            ic[:, i] = spec["initial"][sv]
        sim = simulator.Simulator(model=model, connectivity=conn, coupling=cpl, integrator=integ,
                                  monitors=[monitors.Raw()], initial_conditions=ic,
                                  simulation_length=spec["steps"] * spec["dt"])
        sim.configure()
        assert sim.history.buffer.dtype == np.dtype(dtype), sim.history.buffer.dtype
        assert sim.connectivity.horizon == horizon
        (t, x), = sim.run(n_steps=spec["steps"])
    finally:
        set_history_dtype("f")
    x = x[..., 0]  # drop the mode axis -> [steps, nvar, nnode]
    assert x.shape == (spec["steps"], len(svars), w.shape[0]), x.shape
    return t, x, horizon, model, cpl, svars


def main():
    os.makedirs(OUT, exist_ok=True)
    w, lengths, labels = load_connectivity()
    meta = []
    for spec in CASES:
        t, x64, horizon, model, cpl, svars = simulate(spec, w, lengths, labels, "d")
        _, x32, _, _, _, _ = simulate(spec, w, lengths, labels, "f")
        assert np.isfinite(x64).all() and np.isfinite(x32).all(), spec["case"]
        # Raw time stamps: step * dt, with the first step numbered `horizon` (see notes).
        assert np.allclose(t, (horizon + np.arange(spec["steps"])) * spec["dt"])
        diff = np.abs(x64 - x32)
        # relative distance per element, floored at 1e-3 of that state variable's max |x|
        floor = np.maximum(1e-3 * np.abs(x64).max(axis=(0, 2), keepdims=True), 1e-300)
        rel = diff / np.maximum(np.abs(x64), floor)
        stride = spec["store_stride"]
        stored = np.ascontiguousarray(x64[::stride])
        fname = f"{spec['case']}.npy"
        np.save(f"{OUT}/{fname}", stored)
        meta.append({
            "case": spec["case"],
            "model": type(model).__name__,
            "parameters": trait_params(model),
            "coupling": type(cpl).__name__,
            "coupling_parameters": trait_params(cpl),
            "integrator": spec["integrator"].__name__,
            "dt": spec["dt"],
            "steps": spec["steps"],
            "speed": SPEED,
            "normalisation": "max",
            "initial": {sv: float(spec["initial"][sv]) for sv in svars},
            "store_stride": stride,
            "stored_steps": "state after step 1 + i*store_stride, i = 0..samples-1",
            "samples": int(stored.shape[0]),
            "trace_file": fname,
            "tvb_version": TVB_VERSION,
            "stock_float32_max_abs_diff": float(diff.max()),
            "stock_float32_max_rel_diff": float(rel.max()),
            "rel_diff_definition": "max |x64-x32| / max(|x64|, 1e-3 * max|x64| of that state variable)",
            "horizon": horizon,
            "state_variables": svars,
            "cvar": [int(c) for c in model.cvar],
        })
        if "note" in spec:
            meta[-1]["note"] = spec["note"]
        print(f"{spec['case']:34s} horizon={horizon:5d} samples={stored.shape[0]:5d} "
              f"range=[{x64.min():.4g}, {x64.max():.4g}] abs={diff.max():.3e} rel={rel.max():.3e}")
    with open(f"{OUT}/cases.json", "w") as fh:
        json.dump(meta, fh, indent=1)
    print("ok", [m["case"] for m in meta])


if __name__ == "__main__":
    main()
