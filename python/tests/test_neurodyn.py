"""The neurodyn Python module against the `fit` command and against numpy.

Run by tools/test.sh (the README's test command) in a venv it creates. The `fit` binary is
taken from $NEURODYN_FIT (tools/test.sh builds it) so the module's outputs can be compared with
the command's, bit for bit.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import neurodyn

ROOT = Path(__file__).resolve().parents[2]
EXP = ROOT / "experiments"
FIT = os.environ.get("NEURODYN_FIT", str(ROOT / "target" / "debug" / "fit"))

# Short versions of the shipped experiments, the same through both interfaces.
SHORT = {"integration.duration": 300.0}
SHORT_SET = ["integration.duration=300.0"]
FIT_SET = SHORT_SET + ["optimization.steps=6", "optimization.checkpoint_every=2"]


def fit_cli(*args, check=True, **kw):
    env = dict(os.environ, CI="1")
    r = subprocess.run([FIT, *map(str, args)], capture_output=True, text=True, env=env, cwd=ROOT, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"fit {' '.join(map(str, args))} failed ({r.returncode}):\n{r.stderr}")
    return r


def sets(values):
    return [x for v in values for x in ("--set", v)]


def trajectory_without_wall_time(run_dir):
    header, data = neurodyn._native.read_csv(str(Path(run_dir) / "trajectory.csv"))
    keep = [k for k, h in enumerate(header) if h != "wall_time"]
    return [header[k] for k in keep], data[:, keep]


def test_version_and_models():
    assert neurodyn.__version__.count(".") == 2
    assert {"JansenRit", "ReducedWongWang", "WilsonCowan"} <= set(neurodyn.models())


# --- loading and validation -----------------------------------------------------------------


def test_load_experiment_overrides_and_config():
    exp = neurodyn.load_experiment(EXP / "jr_peak.yaml", integration__dt=0.5, overrides={"integration.duration": 200.0})
    assert exp.model == "JansenRit"
    assert exp.overrides == ["integration.duration=200.0", "integration.dt=0.5"]
    cfg = exp.config
    assert cfg["integration"]["dt"] == 0.5 and cfg["integration"]["duration"] == 200.0
    assert exp.free_parameters() == {"a": 0.04, "b": 0.04}
    assert len(exp.labels) == 84


def test_errors_name_the_file_and_field():
    with pytest.raises(neurodyn.NeurodynError, match=r"jr_peak\.yaml.*integration.*dtt"):
        neurodyn.load_experiment(EXP / "jr_peak.yaml", integration__dtt=0.5)
    with pytest.raises(neurodyn.NeurodynError, match="nosuch.yaml"):
        neurodyn.load_experiment(EXP / "nosuch.yaml")
    with pytest.raises(neurodyn.NeurodynError, match="unknown model `Nope`.*JansenRit"):
        neurodyn.load_experiment(EXP / "jr_peak.yaml", model__name="Nope")
    with pytest.raises(neurodyn.NeurodynError, match="not a free parameter.*a, b"):
        neurodyn.load_experiment(EXP / "jr_peak.yaml", **SHORT_KW).loss_and_grad({"mu": 0.1})
    with pytest.raises(neurodyn.NeurodynError, match="2 value"):
        neurodyn.load_experiment(EXP / "jr_peak.yaml", **SHORT_KW).loss_and_grad({"a": [0.1, 0.2]})
    assert issubclass(neurodyn.NeurodynError, ValueError)


SHORT_KW = {"integration__duration": 300.0}


@pytest.fixture
def jr_peak_dict():
    """The shipped file as a dict (its resolved configuration)."""
    return neurodyn.load_experiment(EXP / "jr_peak.yaml").config


def test_dict_experiment(jr_peak_dict):
    a = neurodyn.load_experiment(jr_peak_dict, base_dir=EXP, **SHORT_KW).simulate()
    b = neurodyn.load_experiment(EXP / "jr_peak.yaml", **SHORT_KW).simulate()
    assert np.array_equal(a.trace, b.trace)
    bad = dict(jr_peak_dict, integration=dict(jr_peak_dict["integration"], method="Heunn"))
    with pytest.raises(neurodyn.NeurodynError, match="Heunn"):
        neurodyn.load_experiment(bad, base_dir=EXP)


# --- simulation ---------------------------------------------------------------------------


def test_simulate_equals_the_command_bit_for_bit(tmp_path):
    sim = neurodyn.load_experiment(EXP / "jr_dk84.yaml", **SHORT_KW).simulate()
    trace, time_ms = sim
    assert trace.shape == (300, 6, 84) and trace.dtype == np.float64
    assert sim.variables[:2] == ["y0", "y1"] and time_ms[1] - time_ms[0] == 1.0
    fit_cli("simulate", EXP / "jr_dk84.yaml", *sets(SHORT_SET), "--out", tmp_path)
    assert np.array_equal(np.load(tmp_path / "trace.npy"), trace)
    assert np.array_equal(np.load(tmp_path / "time.npy"), time_ms)


def test_connectome_from_arrays_equals_the_dataset():
    c = neurodyn.load_connectome("dk_average")
    assert c.weights.shape == (84, 84) and len(c.labels) == 84
    base = neurodyn.load_experiment(EXP / "jr_dk84.yaml", **SHORT_KW)
    same = neurodyn.load_experiment(EXP / "jr_dk84.yaml", connectome=c, **SHORT_KW)
    assert np.array_equal(base.simulate().trace, same.simulate().trace)
    # A changed connectome changes the result (and the experiment's overrides).
    w = c.weights.copy()
    w[0, 1] *= 2.0
    other = neurodyn.load_experiment(EXP / "jr_dk84.yaml", connectome=neurodyn.Connectome(w, c.lengths), **SHORT_KW)
    assert other.overrides != same.overrides
    assert not np.array_equal(other.simulate().trace, base.simulate().trace)
    with pytest.raises(neurodyn.NeurodynError, match="square"):
        neurodyn.load_experiment(EXP / "jr_dk84.yaml", connectome=neurodyn.Connectome(w[:3], c.lengths))


# --- gradients ---------------------------------------------------------------------------


def test_loss_and_grad_matches_finite_differences():
    exp = neurodyn.load_experiment(EXP / "jr_peak.yaml", **SHORT_KW)
    p = {"a": 0.05, "b": 0.06}
    loss, grad = exp.loss_and_grad(p)
    assert np.isfinite(loss) and set(grad) == {"a", "b"}
    for name in p:
        h = 1e-6
        up = exp.loss_and_grad({**p, name: p[name] + h})[0]
        dn = exp.loss_and_grad({**p, name: p[name] - h})[0]
        fd = (up - dn) / (2 * h)
        assert abs(fd - grad[name]) <= 1e-5 * max(abs(fd), 1e-8), (name, fd, grad[name])
    # Start values when no parameter is given; deterministic.
    assert exp.loss_and_grad()[0] == exp.loss_and_grad({"a": 0.04, "b": 0.04})[0]


def test_loss_and_grad_per_region():
    exp = neurodyn.load_experiment(EXP / "jr_peak.yaml", model__parameters__a__per_region=True, **SHORT_KW)
    start = exp.free_parameters()
    assert start["a"].shape == (84,)
    loss, grad = exp.loss_and_grad({"a": np.full(84, 0.05)})
    assert grad["a"].shape == (84,) and np.isfinite(grad["a"]).all()
    assert np.isfinite(grad["b"])


# --- fits and run folders ---------------------------------------------------------------


def test_fit_equals_the_command_and_resumes_from_it(tmp_path):
    exp = neurodyn.load_experiment(EXP / "jr_peak.yaml", **SHORT_KW)
    py = exp.fit(steps=6, out=tmp_path / "py", optimization__checkpoint_every=2)
    assert list(py.trajectory["step"]) == list(range(7))
    assert set(py.parameters) == {"a", "b"} and py.loss.shape == (7,)
    best = py.best
    assert best["loss"] == py.loss.min() and py.loss[best["step"]] == best["loss"]
    assert best["parameters"]["a"] == py.trajectory["a"][best["step"]]
    assert py.final_parameters["b"] == py.trajectory["b"][-1]
    fit_cli("run", EXP / "jr_peak.yaml", *sets(FIT_SET), "--out", tmp_path / "cli")
    h1, d1 = trajectory_without_wall_time(tmp_path / "py")
    h2, d2 = trajectory_without_wall_time(tmp_path / "cli")
    assert h1 == h2 and np.array_equal(d1, d2)
    # The command continues a Python run folder (a finished one is not redone) ...
    r = fit_cli("run", EXP / "jr_peak.yaml", *sets(FIT_SET), "--out", tmp_path / "py")
    assert np.array_equal(trajectory_without_wall_time(tmp_path / "py")[1], d1), r.stderr
    # ... and Python continues the command's.
    again = exp.fit(steps=6, out=tmp_path / "cli", optimization__checkpoint_every=2)
    assert np.array_equal(trajectory_without_wall_time(again.run_dir)[1], d2)
    try:
        df = py.dataframe()
        assert list(df["step"]) == list(range(7))
    except ImportError:
        pass


def test_fit_resume_requires_a_checkpoint(tmp_path):
    exp = neurodyn.load_experiment(EXP / "jr_peak.yaml", **SHORT_KW)
    with pytest.raises(neurodyn.NeurodynError, match="holds no checkpoint"):
        exp.fit(steps=2, out=tmp_path / "empty", resume=True)


def test_command_interrupted_then_python_resumes(tmp_path):
    """kill -9 of the command after a checkpoint; Python finishes the run: the same rows."""
    fit_cli("run", EXP / "jr_peak.yaml", *sets(FIT_SET), "--out", tmp_path / "whole")
    env = dict(os.environ, CI="1", NEURODYN_PAUSE_AFTER_ROW="3")
    p = subprocess.Popen([FIT, "run", EXP / "jr_peak.yaml", *sets(FIT_SET), "--out", tmp_path / "cut"],
                         env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    for line in p.stderr:
        if "paused after row 3" in line:
            break
    p.kill()
    p.wait()
    assert (tmp_path / "cut" / "checkpoints" / "step-000002").exists()
    exp = neurodyn.load_experiment(EXP / "jr_peak.yaml", **SHORT_KW)
    exp.fit(steps=6, out=tmp_path / "cut", resume=True, optimization__checkpoint_every=2)
    assert np.array_equal(trajectory_without_wall_time(tmp_path / "cut")[1],
                          trajectory_without_wall_time(tmp_path / "whole")[1])


# The child installs Python's own SIGINT handler: a child of a background job (`tools/test.sh &`
# in a non-interactive shell) inherits SIGINT as ignored, and Python then never raises
# KeyboardInterrupt, whatever the module does.
INTERRUPT_SCRIPT = """
import signal, sys, neurodyn
signal.signal(signal.SIGINT, signal.default_int_handler)
exp = neurodyn.load_experiment(sys.argv[1], integration__duration=300.0)
try:
    exp.fit(steps=400, out=sys.argv[2], optimization__checkpoint_every=1000)
except KeyboardInterrupt as e:
    print("KeyboardInterrupt:", e, flush=True)
    sys.exit(7)
print("finished", flush=True)
"""


def test_ctrl_c_raises_keyboard_interrupt_and_keeps_a_checkpoint(tmp_path):
    out = tmp_path / "run"
    p = subprocess.Popen([sys.executable, "-c", INTERRUPT_SCRIPT, str(EXP / "jr_peak.yaml"), str(out)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    traj = out / "trajectory.csv"
    deadline = time.time() + 120
    while time.time() < deadline and not (traj.exists() and len(traj.read_text().splitlines()) >= 4):
        time.sleep(0.05)
    assert traj.exists(), "the fit did not start"
    p.send_signal(signal.SIGINT)
    stdout, stderr = p.communicate(timeout=120)
    assert p.returncode == 7, (stdout, stderr)
    assert "KeyboardInterrupt: interrupted: the fit stopped after" in stdout
    ckpts = sorted((out / "checkpoints").iterdir())
    assert ckpts, "no checkpoint written on Ctrl-C"
    step = int(ckpts[-1].name.split("-")[1])
    assert step >= 3
    # Resuming continues exactly where it stopped (and the command accepts the folder too).
    rows_before = len(traj.read_text().splitlines()) - 1
    assert rows_before == step  # rows 0..step-1 written; the rest is computed on resume
    # The command finishes the interrupted run: the same rows as an uninterrupted one.
    same = ["integration.duration=300.0", "optimization.steps=400", "optimization.checkpoint_every=1000"]
    fit_cli("run", EXP / "jr_peak.yaml", *sets(same), "--out", out, "--resume")
    fit_cli("run", EXP / "jr_peak.yaml", *sets(same), "--out", tmp_path / "whole")
    assert np.array_equal(trajectory_without_wall_time(out)[1],
                          trajectory_without_wall_time(tmp_path / "whole")[1])


# --- grids and comparisons --------------------------------------------------------------


GRID = {"integration__duration": 300.0, "model__parameters__a__n": 3, "model__parameters__b__n": 2}
GRID_SET = ["integration.duration=300.0", "model.parameters.a.n=3", "model.parameters.b.n=2"]


def test_explore_equals_the_command(tmp_path):
    exp = neurodyn.load_experiment(EXP / "jr_grid.yaml", **GRID)
    grid = neurodyn.explore(exp, out=tmp_path / "py")
    assert [n for n, _ in grid.axes] == ["a", "b"]
    assert np.array_equal(grid.axes[0][1], np.linspace(0.001, 0.2, 3))
    assert grid["peak_frequency"].shape == (3, 2)
    fit_cli("explore", EXP / "jr_grid.yaml", *sets(GRID_SET), "--out", tmp_path / "cli")
    for name, v in grid.values.items():
        cli = np.load(tmp_path / "cli" / f"grid_{name}.npy")
        assert np.array_equal(v, cli, equal_nan=True), name
    assert json.loads((tmp_path / "py" / "axes.json").read_text()) == json.loads(
        (tmp_path / "cli" / "axes.json").read_text())


def test_sharded_explore_and_merge(tmp_path):
    exp = neurodyn.load_experiment(EXP / "jr_grid.yaml", **GRID)
    whole = neurodyn.explore(exp, out=tmp_path / "whole")
    for k in (1, 2):
        neurodyn.explore(exp, out=tmp_path / "sharded", shard=f"{k}/2")
    merged = neurodyn.merge(tmp_path / "sharded")
    for name in whole.values:
        assert np.array_equal(whole[name], merged[name], equal_nan=True)


def test_compare_runs(tmp_path):
    exp = neurodyn.load_experiment(EXP / "jr_peak.yaml", **SHORT_KW)
    exp.fit(steps=2, out=tmp_path / "r1")
    exp.fit(steps=2, out=tmp_path / "r2", optimization__optimizer__lr=0.002)
    res = neurodyn.compare([tmp_path / "r1", tmp_path / "r2"], out=tmp_path / "cmp")
    assert "optimization.optimizer.lr" in res["table"]
    assert (tmp_path / "cmp" / "compare.csv").exists() and (tmp_path / "cmp" / "compare_loss.png").exists()
    assert len(next(iter(res["columns"].values()))) == 2


def test_other_families_fit():
    exp = neurodyn.load_experiment(EXP / "ai_rates.yaml")
    assert exp.model != "JansenRit"
    with pytest.raises(neurodyn.NeurodynError, match="not a network model"):
        exp.simulate()


# --- observation functions on plain arrays ----------------------------------------------


def numpy_welch(x, fs, nperseg):
    """scipy.signal.welch's defaults (periodic Hann, half overlap, constant detrend, density,
    mean over segments), in numpy."""
    step = nperseg - nperseg // 2
    win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(nperseg) / nperseg)
    segs = [x[..., s:s + nperseg] for s in range(0, x.shape[-1] - nperseg + 1, step)]
    segs = [s - s.mean(axis=-1, keepdims=True) for s in segs]
    p = np.mean([np.abs(np.fft.rfft(s * win)) ** 2 for s in segs], axis=0) / (fs * (win ** 2).sum())
    p[..., 1:-1] *= 2  # one-sided (nperseg even)
    return np.fft.rfftfreq(nperseg, 1 / fs), p


def test_welch_against_numpy():
    rng = np.random.default_rng(1)
    t = np.arange(1000) / 100.0
    x = np.stack([np.sin(2 * np.pi * 10 * t), rng.standard_normal(1000)])
    f, p = neurodyn.welch(x, fs=100.0, nperseg=256)
    fr, pr = numpy_welch(x, 100.0, 256)
    assert np.allclose(f, fr, rtol=0, atol=1e-12) and p.shape == (2, 129)
    assert np.allclose(p, pr, rtol=1e-10, atol=1e-14)
    f1, p1 = neurodyn.welch(x[0], fs=100.0, nperseg=256)
    assert p1.shape == (129,) and np.array_equal(p1, p[0])
    assert neurodyn.peak_frequency(f1, p1) == pytest.approx(10.0, abs=f1[1])
    with pytest.raises(neurodyn.NeurodynError, match="nperseg"):
        neurodyn.welch(x, fs=100.0, nperseg=5000)
    with pytest.raises(neurodyn.NeurodynError, match="NaN"):
        neurodyn.welch(np.array([1.0, np.nan, 2.0]), fs=1.0)


def test_fc_and_fcd_against_numpy():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((200, 5))
    assert np.allclose(neurodyn.fc(x), np.corrcoef(x.T), atol=1e-12)
    d = neurodyn.fcd(x, 40, 20)
    iu = np.triu_indices(5, 1)
    wins = [np.corrcoef(x[s:s + 40].T)[iu] for s in range(0, 200 - 40 + 1, 20)]
    ref = np.corrcoef(np.array(wins))[np.triu_indices(len(wins), 1)]
    assert np.allclose(np.sort(d), np.sort(ref), atol=1e-10)
    with pytest.raises(neurodyn.NeurodynError, match="window"):
        neurodyn.fcd(x, 1, 1)


def test_bold_rest_and_response():
    u = np.zeros((5000, 2))
    u[1000:1100, 1] = 1.0
    b = neurodyn.bold(u, dt=1.0, period=100)
    assert b.shape == (50, 2)
    assert np.all(b[:, 0] == 0.0)          # no drive, no signal
    assert b[:, 1].max() > 0.0             # a positive haemodynamic response
    with pytest.raises(neurodyn.NeurodynError, match="classical, revised"):
        neurodyn.bold(u, dt=1.0, period=100, constants="fast")
