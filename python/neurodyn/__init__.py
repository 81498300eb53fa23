"""neurodyn: differentiable simulation of neural dynamics with gradient-based parameter fitting.

The Python face of the Rust engine behind the ``fit`` command: the same experiment files, the
same validation and error messages, the same numbers (bit for bit) and the same run folders,
with numpy arrays in and out.

    import neurodyn
    exp = neurodyn.load_experiment("experiments/jr_peak.yaml", optimization__steps=50)
    sim = exp.simulate()                      # sim.trace [samples, variables, nodes], sim.time
    loss, grad = exp.loss_and_grad({"a": 0.05, "b": 0.06})
    result = exp.fit(out="runs/jr_peak_py")   # resumable, also from `fit run --resume`
    freqs, psd = neurodyn.welch(sim.trace[:, 0, :].T, fs=1000.0)

Long calls release the GIL and stop cleanly on Ctrl-C (KeyboardInterrupt; a fit writes a
checkpoint first, so ``exp.fit(out=..., resume=True)`` continues it).
"""

from __future__ import annotations

import csv
import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import _native
from ._native import NeurodynError, __version__

__all__ = [
    "__version__",
    "NeurodynError",
    "Connectome",
    "Experiment",
    "FitResult",
    "Grid",
    "Simulation",
    "load_experiment",
    "load_connectome",
    "explore",
    "merge",
    "compare",
    "welch",
    "fc",
    "fcd",
    "peak_frequency",
    "bold",
    "models",
]

welch = _native.welch
fc = _native.fc
fcd = _native.fcd
peak_frequency = _native.peak_frequency
bold = _native.bold
models = _native.models


def _yaml_value(value: Any) -> str:
    """A Python value as the text of a ``--set`` override (YAML; JSON is valid YAML)."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        return repr(value)  # the shortest text that parses back to the same double
    if isinstance(value, (int, str)):
        return json.dumps(value)
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, np.generic):
        return _yaml_value(value.item())
    return json.dumps(value)


def _overrides(overrides: Optional[Mapping[str, Any]], kwargs: Mapping[str, Any]) -> List[str]:
    items: List[Tuple[str, Any]] = list((overrides or {}).items())
    # Keyword arguments use `__` for the dots of a field path: integration__dt=0.5.
    items += [(k.replace("__", "."), v) for k, v in kwargs.items()]
    return [f"{k}={_yaml_value(v)}" for k, v in items]


@dataclass
class Connectome:
    """A structural connectome given as arrays: ``weights`` and tract ``lengths`` (mm),
    ``[regions, regions]``, and optional region labels."""

    weights: np.ndarray
    lengths: np.ndarray
    labels: Optional[List[str]] = None

    @classmethod
    def from_dataset(cls, name: str = "dk_average", base_dir: Optional[str] = None) -> "Connectome":
        """A shipped dataset (``dk_average``, ``dk87_dtor``) or a connectome folder."""
        w, l, labels = _native.load_connectome(name, base_dir)
        return cls(w, l, labels)

    def overrides(self) -> List[str]:
        """The ``--set`` overrides selecting this connectome (its arrays written, once, to a
        content-addressed folder under ``$NEURODYN_CACHE`` or the temporary directory)."""
        cache = Path(os.environ.get("NEURODYN_CACHE", Path(tempfile.gettempdir()) / "neurodyn-cache"))
        return _native.connectome_overrides(
            np.ascontiguousarray(self.weights, dtype=np.float64),
            np.ascontiguousarray(self.lengths, dtype=np.float64),
            None if self.labels is None else [str(s) for s in self.labels],
            str(cache / "connectomes"),
        )


def load_connectome(name: str = "dk_average", base_dir: Optional[str] = None) -> Connectome:
    """A shipped connectome as arrays (before the experiment's normalisation)."""
    return Connectome.from_dataset(name, base_dir)


class Simulation(tuple):
    """``(trace, time)``: ``trace [samples, variables, nodes]`` and ``time [samples]`` (ms);
    also ``.variables`` (names) and ``.labels`` (regions)."""

    trace: np.ndarray
    time: np.ndarray

    def __new__(cls, trace, time, variables, labels):
        self = super().__new__(cls, (trace, time))
        self.trace, self.time = trace, time
        self.variables, self.labels = list(variables), list(labels)
        return self

    def variable(self, name: str) -> np.ndarray:
        """``[samples, nodes]`` of one recorded variable."""
        return self.trace[:, self.variables.index(name), :]


@dataclass
class FitResult:
    """A finished (or continued) fit: its run folder and what it wrote there."""

    run_dir: Path
    trajectory: Dict[str, np.ndarray]
    final: Dict[str, Any]

    @property
    def parameters(self) -> Dict[str, float]:
        """The fitted parameters (the best ones when ``restore_best``)."""
        return dict(self.final.get("parameters", {}))

    @property
    def best(self) -> Dict[str, Any]:
        """The lowest-loss row: ``{"step", "loss", "parameters"}``."""
        return {
            "step": self.final.get("best_step"),
            "loss": self.final.get("best_loss"),
            "parameters": dict(self.final.get("best_parameters", {})),
        }

    @property
    def final_parameters(self) -> Dict[str, float]:
        """The parameters after the last step (before any ``restore_best``)."""
        return dict(self.final.get("last_parameters", {}))

    @property
    def loss(self) -> np.ndarray:
        return self.trajectory["loss"]

    def dataframe(self):
        """The trajectory as a pandas DataFrame (needs pandas)."""
        import pandas as pd

        return pd.DataFrame(self.trajectory)

    @classmethod
    def read(cls, run_dir: Union[str, Path]) -> "FitResult":
        run_dir = Path(run_dir)
        header, data = _native.read_csv(str(run_dir / "trajectory.csv"))
        trajectory = {h: data[:, k].copy() for k, h in enumerate(header)}
        final_path = run_dir / "final.json"
        final = json.loads(final_path.read_text()) if final_path.exists() else {}
        return cls(run_dir, trajectory, final)


@dataclass
class Grid:
    """The outputs of ``explore``: the axes, one array per statistic (``ij`` indexing, NaN
    where a point diverged or was masked), or for a grid of fits the table of best fits."""

    run_dir: Path
    axes: List[Tuple[str, np.ndarray]] = field(default_factory=list)
    values: Dict[str, np.ndarray] = field(default_factory=dict)
    fits: Optional[Dict[str, np.ndarray]] = None

    def __getitem__(self, statistic: str) -> np.ndarray:
        return self.values[statistic]

    @classmethod
    def read(cls, run_dir: Union[str, Path]) -> "Grid":
        run_dir = Path(run_dir)
        if (run_dir / "best_fits.csv").exists() and not (run_dir / "axes.json").exists():
            header, data = _native.read_csv(str(run_dir / "best_fits.csv"))
            return cls(run_dir, fits={h: data[:, k].copy() for k, h in enumerate(header)})
        meta = json.loads((run_dir / "axes.json").read_text())
        axes = [(a["name"], np.asarray(a["values"], dtype=np.float64)) for a in meta["axes"]]
        values = {s: _native.read_npy(str(run_dir / f"grid_{s}.npy")) for s in meta["statistics"]}
        return cls(run_dir, axes, values)


class Experiment:
    """An experiment validated exactly as the ``fit`` command validates it."""

    def __init__(self, native: "_native.Experiment"):
        self._native = native

    @property
    def path(self) -> str:
        return self._native.path

    @property
    def model(self) -> str:
        return self._native.model

    @property
    def overrides(self) -> List[str]:
        return self._native.overrides

    @property
    def out_dir(self) -> str:
        """The run folder used when ``out`` is not given (as the command chooses it)."""
        return self._native.out_dir

    @property
    def config(self) -> Dict[str, Any]:
        """The resolved configuration (file plus overrides)."""
        return json.loads(self._native.config_json())

    @property
    def labels(self) -> List[str]:
        return self._native.labels()

    def free_parameters(self) -> Dict[str, Union[float, np.ndarray]]:
        """Start values of the free parameters (arrays for per-region ones)."""
        return {
            name: (np.asarray(v) if per_region else v[0])
            for name, v, per_region in self._native.free_parameters()
        }

    def simulate(self, progress: bool = False) -> Simulation:
        """``fit simulate``: the trace ``[samples, variables, nodes]`` and its time (ms)."""
        trace, time, variables = self._native.simulate(progress)
        return Simulation(trace, time, variables, self._native.labels())

    def loss_and_grad(
        self, params: Optional[Mapping[str, Any]] = None
    ) -> Tuple[float, Dict[str, Union[float, np.ndarray]]]:
        """The loss and its exact gradient with respect to each free parameter (natural
        units) at ``params`` (missing ones keep their start values)."""
        return self._native.loss_and_grad(None if params is None else dict(params))

    def fit(
        self,
        steps: Optional[int] = None,
        out: Optional[Union[str, Path]] = None,
        resume: bool = False,
        fresh: bool = False,
        progress: bool = False,
        **overrides: Any,
    ) -> FitResult:
        """``fit run``: fit into the run folder ``out`` (continued when it holds a checkpoint;
        ``resume=True`` requires one, ``fresh=True`` moves an old folder aside). ``steps`` and
        keyword overrides change the experiment like ``--set``."""
        exp = self
        # The experiment hash is that of the resolved configuration, so the order of the
        # overrides does not matter: `fit run --set ... --set optimization.steps=N` resumes
        # this run folder too.
        extra: Dict[str, Any] = {} if steps is None else {"optimization.steps": int(steps)}
        extra.update({k.replace("__", "."): v for k, v in overrides.items()})
        if extra:
            exp = self.with_overrides(**{k.replace(".", "__"): v for k, v in extra.items()})
        run_dir = exp._native.fit(None if out is None else str(out), resume, fresh, progress)
        return FitResult.read(run_dir) if Path(run_dir, "trajectory.csv").exists() else FitResult(
            Path(run_dir), {}, {}
        )

    def with_overrides(self, overrides: Optional[Mapping[str, Any]] = None, **kwargs: Any) -> "Experiment":
        """A copy with more overrides (validated)."""
        extra = _overrides(overrides, kwargs)
        if self.path.endswith("<dict>.yaml"):
            raise NeurodynError("with_overrides: change the dict and load it again")
        return Experiment(_native.load_experiment(self.path, None, self.overrides + extra, None))

    def bench_forward(self, repeats: int = 3) -> List[float]:
        """Seconds per plain forward simulation in Rust (the ``fit bench`` figure)."""
        return self._native.bench_forward(repeats)

    def bench_loss_and_grad(self, calls: int) -> float:
        """Seconds for ``calls`` loss-and-gradient evaluations in a Rust loop."""
        return self._native.bench_loss_and_grad(calls)

    def __repr__(self) -> str:
        return repr(self._native)


def load_experiment(
    experiment: Union[str, Path, Mapping[str, Any]],
    overrides: Optional[Mapping[str, Any]] = None,
    connectome: Optional[Connectome] = None,
    base_dir: Optional[Union[str, Path]] = None,
    **kwargs: Any,
) -> Experiment:
    """Loads and validates an experiment: a YAML file, or a dict with the file's structure
    (relative paths then resolve against ``base_dir``, default the working directory).
    ``overrides={"integration.dt": 0.5}`` or keywords with ``__`` for the dots
    (``integration__dt=0.5``) change fields as ``--set`` does; ``connectome`` replaces the
    experiment's connectivity data with arrays. Errors raise :class:`NeurodynError` with the
    command's message (file, field, valid choices)."""
    extra = _overrides(overrides, kwargs)
    if connectome is not None:
        extra = connectome.overrides() + extra
    if isinstance(experiment, Mapping):
        text = json.dumps(experiment, allow_nan=True)
        text = text.replace("NaN", ".nan").replace("-Infinity", "-.inf").replace("Infinity", ".inf")
        native = _native.load_experiment(None, text, extra, None if base_dir is None else str(base_dir))
    else:
        native = _native.load_experiment(str(experiment), None, extra, None)
    return Experiment(native)


def explore(
    experiment: Union[Experiment, str, Path],
    out: Optional[Union[str, Path]] = None,
    shard: Optional[str] = None,
    progress: bool = False,
) -> Grid:
    """``fit explore``: a grid over the free parameters (batched), or a grid of fits. Returns
    the axes and one array per statistic (or the shard's run folder with ``shard="K/N"``)."""
    exp = experiment if isinstance(experiment, Experiment) else load_experiment(experiment)
    run_dir = exp._native.explore(None if out is None else str(out), shard, progress)
    return Grid(Path(run_dir)) if shard else Grid.read(run_dir)


def merge(run_dir: Union[str, Path]) -> Grid:
    """``fit merge``: assembles the shards of a grid."""
    _native.merge(str(run_dir))
    return Grid.read(run_dir)


def compare(
    runs: Sequence[Union[str, Path]], out: Optional[Union[str, Path]] = None, by: str = "step"
) -> Dict[str, Any]:
    """``fit compare``: the table of final parameters, losses, steps and wall times of run
    folders (also written, with the plots, to ``out``). Returns ``{"table": text, "columns":
    {name: list}, "differing": [...]}`` plus a DataFrame under ``"dataframe"`` when pandas is
    installed."""
    out_dir = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="neurodyn-compare-"))
    table = _native.compare([str(r) for r in runs], str(out_dir), by)
    with open(out_dir / "compare.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    columns: Dict[str, List[Any]] = {}
    for row in rows:
        for k, v in row.items():
            try:
                value: Any = float(v)
            except (TypeError, ValueError):
                value = v
            columns.setdefault(k, []).append(value)
    result: Dict[str, Any] = {"table": table, "columns": columns, "out": out_dir}
    try:
        import pandas as pd

        result["dataframe"] = pd.DataFrame(columns)
    except ImportError:
        pass
    return result
