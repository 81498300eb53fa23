//! # neurodyn for Python
//!
//! The native half of the `neurodyn` Python package (`neurodyn._native`; the Python half in
//! `python/neurodyn/` adds keyword overrides, result classes and pandas/matplotlib helpers).
//! Everything here calls the `fit` crate's library — the same validation, simulation, training
//! loop, run folders and checkpoints as the `fit` command — so an experiment gives the same bits
//! through both, and a run started in Python resumes from the command line and vice versa.
//!
//! Long calls run on a worker thread with the GIL released; the calling thread polls Python's
//! signal handlers, and Ctrl-C (KeyboardInterrupt) asks the work to stop at its next safe point
//! through [`fit::interrupt`] (a fit writes a checkpoint first) before the exception is raised.

use anyhow::{Context, Result, anyhow, bail};
use fit::context::RunContext;
use fit::network_setup::NetworkSetup;
use fit::objective::{Objective, TargetFiles};
use fit::train::{FitParams, evaluate};
use numpy::{
    IntoPyArray, PyArray1, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

pyo3::create_exception!(
    _native,
    NeurodynError,
    PyValueError,
    "A bad experiment, file or argument; the message names the file and the field."
);

/// An anyhow error as a Python exception: [`NeurodynError`] with the whole context chain, or
/// KeyboardInterrupt when the work stopped because of Ctrl-C.
fn py_err(e: anyhow::Error) -> PyErr {
    if fit::interrupt::is_interrupted(&e) {
        PyKeyboardInterrupt::new_err(format!("{e:#}"))
    } else {
        NeurodynError::new_err(format!("{e:#}"))
    }
}

/// Runs `work` on a worker thread with the GIL released, polling Python's signal handlers so
/// that Ctrl-C stops it at its next safe point. The work's own result wins when it finishes
/// normally after the interrupt was seen (nothing is lost), but KeyboardInterrupt is raised.
fn interruptible<T: Send>(py: Python<'_>, work: impl FnOnce() -> Result<T> + Send) -> PyResult<T> {
    fit::interrupt::reset();
    // The result is handed over through a condition variable, so a short call returns as soon
    // as it is done (no polling delay), while a long one still lets the signal handlers run.
    let slot: (Mutex<Option<std::thread::Result<Result<T>>>>, Condvar) =
        (Mutex::new(None), Condvar::new());
    let (joined, signal) = std::thread::scope(|s| {
        s.spawn(|| {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
            *slot.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
            slot.1.notify_all();
        });
        let mut signal: Option<PyErr> = None;
        loop {
            let done = py.detach(|| {
                let guard = slot.0.lock().unwrap_or_else(|e| e.into_inner());
                let (mut guard, _) = slot
                    .1
                    .wait_timeout_while(guard, Duration::from_millis(50), |r| r.is_none())
                    .unwrap_or_else(|e| e.into_inner());
                guard.take()
            });
            if let Some(r) = done {
                break (r, signal);
            }
            if signal.is_none()
                && let Err(e) = py.check_signals()
            {
                fit::interrupt::request();
                signal = Some(e);
            }
        }
    });
    fit::interrupt::reset();
    match (joined, signal) {
        (Ok(Ok(v)), None) => Ok(v),
        (Ok(Ok(_)), Some(sig)) => Err(sig),
        (Ok(Err(e)), Some(_)) if fit::interrupt::is_interrupted(&e) => Err(py_err(e)),
        (Ok(Err(e)), Some(sig)) => {
            // Failed for another reason while the interrupt was pending: report both.
            Err(PyKeyboardInterrupt::new_err(format!(
                "{} (while stopping: {e:#})",
                sig.value(py)
            )))
        }
        (Ok(Err(e)), None) => Err(py_err(e)),
        (Err(panic), _) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(PyRuntimeError::new_err(format!(
                "internal error in neurodyn (please report it): {msg}"
            )))
        }
    }
}

/// The pass every `fit` command runs first (`fit validate`'s): parsing, schema, parameter
/// tables, observation, loss, optimizer, the memory and work budget; nothing is simulated.
/// Returns the model name.
fn validate(ctx: &RunContext, purpose: fit::check::Purpose) -> Result<String> {
    let model = fit::yaml::model_name(&ctx.exp_path, &ctx.text)?;
    if dynamics::ModelKind::from_name(&model).is_none() && fit::systems::find(&model).is_none() {
        bail!(
            "{}: unknown model `{model}`; valid models: {}",
            ctx.exp_path.display(),
            fit::systems::all_models().join(", ")
        );
    }
    fit::check::experiment(ctx, purpose)?;
    Ok(model)
}

/// The objective of `loss_and_grad`, built once per experiment: parameters in natural units
/// (identity transforms), the experiment's target.
struct Gradient {
    setup: NetworkSetup,
    obj: Objective,
    device: burn::tensor::Device,
}

/// A validated experiment: a file (or text) plus `--set` overrides, as the `fit` command sees
/// it.
#[pyclass(name = "Experiment", module = "neurodyn._native")]
struct PyExperiment {
    ctx: RunContext,
    model: String,
    // Boxed: burn's devices are cache-line aligned (64 bytes), more than Python's allocator
    // guarantees for the object that holds this struct.
    gradient: Mutex<Option<Box<Gradient>>>,
    /// The loaded setup (connectome, delays, noise draws), built on first use.
    setup: Mutex<Option<Arc<NetworkSetup>>>,
}

impl PyExperiment {
    /// The loaded setup, cached: repeated simulations skip parsing, the connectome and the
    /// noise draws.
    fn cached_setup(&self) -> Result<Arc<NetworkSetup>> {
        let mut guard = self.setup.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = guard.as_ref() {
            return Ok(s.clone());
        }
        let s = Arc::new(self.network_setup()?);
        *guard = Some(s.clone());
        Ok(s)
    }

    fn network_setup(&self) -> Result<NetworkSetup> {
        if dynamics::ModelKind::from_name(&self.model).is_none() {
            bail!(
                "{}: `{}` is not a network model; simulate() and loss_and_grad() take {} (use fit() for the other families)",
                self.ctx.exp_path.display(),
                self.model,
                dynamics::ModelKind::ALL
                    .iter()
                    .map(|m| m.info().name)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        fit::simulate::load(&self.ctx)
    }

    fn with_out(
        &self,
        out: Option<PathBuf>,
        suffix: &str,
        resume: bool,
        quiet: bool,
    ) -> Result<RunContext> {
        RunContext::from_text(
            &self.ctx.exp_path,
            self.ctx.text.clone(),
            &self.ctx.overrides,
            out,
            suffix,
            resume,
            quiet,
        )
    }
}

/// Host values of one free parameter from a Python value (a number or an array of `len`).
fn param_values(name: &str, value: &Bound<'_, PyAny>, len: usize) -> Result<Vec<f64>> {
    let values: Vec<f64> = if let Ok(x) = value.extract::<f64>() {
        vec![x; len]
    } else if let Ok(v) = value.extract::<Vec<f64>>() {
        v
    } else if let Ok(a) = value.extract::<PyReadonlyArrayDyn<'_, f64>>() {
        a.as_array().iter().copied().collect()
    } else {
        bail!("params[{name:?}]: expected a number or a list/array of {len} numbers");
    };
    if values.len() != len {
        bail!(
            "params[{name:?}]: {} value(s) given, {len} expected",
            values.len()
        );
    }
    if let Some(v) = values.iter().find(|v| !v.is_finite()) {
        bail!("params[{name:?}]: {v} is not finite");
    }
    Ok(values)
}

#[pymethods]
impl PyExperiment {
    /// The experiment file (or `<dict>` for experiments given as a dict).
    #[getter]
    fn path(&self) -> String {
        self.ctx.exp_path.display().to_string()
    }

    /// The model name (`JansenRit`, `AIRateNetwork`, ...).
    #[getter]
    fn model(&self) -> String {
        self.model.clone()
    }

    /// The `--set` overrides, in order.
    #[getter]
    fn overrides(&self) -> Vec<String> {
        self.ctx.overrides.clone()
    }

    /// The default run folder (`outputs.dir`, else `runs/<name>`).
    #[getter]
    fn out_dir(&self) -> String {
        self.ctx.out_dir.display().to_string()
    }

    /// The resolved configuration (file + overrides) as JSON text.
    fn config_json(&self) -> PyResult<String> {
        let tree =
            fit::yaml::resolved_tree(&self.ctx.exp_path, &self.ctx.text, &self.ctx.overrides)
                .map_err(py_err)?;
        serde_json::to_string(&tree).map_err(|e| py_err(e.into()))
    }

    /// The free parameters: `[(column name, start value)]` (per-region parameters give one
    /// column per region, `a[0]`, `a[1]`, ...).
    fn free_parameters(&self) -> PyResult<Vec<(String, Vec<f64>, bool)>> {
        let setup = self.network_setup().map_err(py_err)?;
        Ok(setup
            .free
            .iter()
            .map(|f| (f.param.qualified_name(), f.init.clone(), f.per_region))
            .collect())
    }

    /// Region labels of the connectome.
    fn labels(&self) -> PyResult<Vec<String>> {
        let setup = self.cached_setup().map_err(py_err)?;
        Ok(setup.connectome.labels().to_vec())
    }

    /// `fit simulate`: returns `(trace [samples, variables, nodes], time [samples] in ms,
    /// variable names)`.
    #[allow(clippy::type_complexity)]
    fn simulate<'py>(
        &self,
        py: Python<'py>,
        progress: bool,
    ) -> PyResult<(
        Bound<'py, PyArrayDyn<f64>>,
        Bound<'py, PyArray1<f64>>,
        Vec<String>,
    )> {
        let trace = interruptible(py, || {
            let setup = self.cached_setup()?;
            let trace = fit::simulate::simulate_trace(&setup, !progress)?;
            let params = fit::simulate::named_params(&setup);
            if let Some(msg) = fit::simulate::first_non_finite(&trace.data, &setup.problem, &params)
            {
                bail!("{}: {msg}", self.ctx.exp_path.display());
            }
            Ok(trace)
        })?;
        let shape = trace.shape;
        let data = trace.data.into_pyarray(py).reshape(shape.to_vec())?;
        Ok((
            data,
            trace.time.into_pyarray(py),
            trace.variables.iter().map(|v| v.to_string()).collect(),
        ))
    }

    /// The loss and its gradient with respect to every free parameter, in natural units, at
    /// `params` (`{name: value or per-region array}`; missing names keep their start values).
    fn loss_and_grad<'py>(
        &self,
        py: Python<'py>,
        params: Option<Bound<'py, PyDict>>,
    ) -> PyResult<(f64, Bound<'py, PyDict>)> {
        let mut guard = self
            .gradient
            .lock()
            .map_err(|_| PyRuntimeError::new_err("a previous loss_and_grad call panicked"))?;
        if guard.is_none() {
            let built = interruptible(py, || {
                let setup = self.network_setup()?;
                if setup.free.is_empty() {
                    bail!(
                        "{}: no parameter is marked `free: true`; loss_and_grad has nothing to differentiate",
                        self.ctx.exp_path.display()
                    );
                }
                let device = backend::f64_device(setup.backend, true);
                let mut obj = Objective::new(&setup, 1, &device, false)?;
                obj.set_target(&setup, &self.ctx.exp_path)?;
                Ok(Box::new(Gradient { setup, obj, device }))
            })?;
            *guard = Some(built);
        }
        let g = guard.as_ref().expect("built above");
        let names: Vec<String> = g
            .setup
            .free
            .iter()
            .map(|f| f.param.qualified_name())
            .collect();
        let mut values: Vec<Vec<f64>> = g.setup.free.iter().map(|f| f.init.clone()).collect();
        if let Some(p) = &params {
            for (k, v) in p.iter() {
                let key: String = k.extract()?;
                let Some(i) = names.iter().position(|n| *n == key) else {
                    return Err(NeurodynError::new_err(format!(
                        "params: `{key}` is not a free parameter of {}; free parameters: {}",
                        self.ctx.exp_path.display(),
                        names.join(", ")
                    )));
                };
                values[i] = param_values(&key, &v, values[i].len()).map_err(py_err)?;
            }
        }
        let shapes: Vec<[usize; 2]> = values.iter().map(|v| [1, v.len()]).collect();
        let eval = interruptible(py, || {
            evaluate(&g.obj, &FitParams::from_host(&values, &shapes, &g.device))
        })?;
        let loss = eval.losses[0];
        let grads = PyDict::new(py);
        for ((name, f), grad) in names.iter().zip(&g.setup.free).zip(eval.grads) {
            if f.per_region {
                grads.set_item(name, grad.into_pyarray(py))?;
            } else {
                grads.set_item(name, grad[0])?;
            }
        }
        Ok((loss, grads))
    }

    /// `fit run`: fits (or runs, for the system families) into `out`; returns the run folder.
    /// A folder holding a checkpoint is continued (as the command does); `resume=True`
    /// requires one, `fresh=True` moves an existing folder aside first.
    #[pyo3(signature = (out=None, resume=false, fresh=false, progress=false))]
    fn fit(
        &self,
        py: Python<'_>,
        out: Option<PathBuf>,
        resume: bool,
        fresh: bool,
        progress: bool,
    ) -> PyResult<String> {
        let ctx = self.with_out(out, "", resume, !progress).map_err(py_err)?;
        interruptible(py, || {
            fit::check::experiment(&ctx, fit::check::Purpose::Run)?;
            if fresh {
                fit::cli::move_aside(&ctx.out_dir)?;
            } else if resume
                && dynamics::ModelKind::from_name(&self.model).is_some()
                && !fit::checkpoint::exists(&ctx.out_dir)?
            {
                bail!("resume=True: {} holds no checkpoint", ctx.out_dir.display());
            }
            fit::cli::run_experiment(&ctx)
        })?;
        Ok(ctx.out_dir.display().to_string())
    }

    /// `fit explore` into `out`; returns the run folder.
    #[pyo3(signature = (out=None, shard=None, progress=false))]
    fn explore(
        &self,
        py: Python<'_>,
        out: Option<PathBuf>,
        shard: Option<String>,
        progress: bool,
    ) -> PyResult<String> {
        let ctx = self
            .with_out(out, "-grid", false, !progress)
            .map_err(py_err)?;
        interruptible(py, || {
            if let Some(s) = &shard {
                fit::explore::parse_shard(s)?;
            }
            fit::check::experiment(&ctx, fit::check::Purpose::Explore)?;
            fit::explore::explore(&ctx, shard.as_deref())
        })?;
        Ok(ctx.out_dir.display().to_string())
    }

    /// Seconds per call of the kernel's plain forward simulation of this experiment (the
    /// figure `fit bench` reports), for measuring the module's overhead.
    fn bench_forward(&self, py: Python<'_>, repeats: usize) -> PyResult<Vec<f64>> {
        interruptible(py, || {
            let setup = self.cached_setup()?;
            Ok((0..repeats.max(1))
                .map(|_| {
                    let t0 = std::time::Instant::now();
                    let (out, _) =
                        solvers::network_kernel::forward(&setup.problem, &setup.base_params, false);
                    std::hint::black_box(out);
                    t0.elapsed().as_secs_f64()
                })
                .collect())
        })
    }

    /// Seconds of `calls` loss-and-gradient evaluations at the start values in a Rust loop
    /// (the reference for the Python loop's overhead).
    fn bench_loss_and_grad(&self, py: Python<'_>, calls: usize) -> PyResult<f64> {
        // Build (and cache) the objective through the Python-facing path first.
        self.loss_and_grad(py, None)?;
        let guard = self.gradient.lock().expect("not poisoned");
        let g = guard.as_ref().expect("built above");
        let values: Vec<Vec<f64>> = g.setup.free.iter().map(|f| f.init.clone()).collect();
        let shapes: Vec<[usize; 2]> = values.iter().map(|v| [1, v.len()]).collect();
        interruptible(py, || {
            let t0 = std::time::Instant::now();
            for _ in 0..calls {
                std::hint::black_box(evaluate(
                    &g.obj,
                    &FitParams::from_host(&values, &shapes, &g.device),
                )?);
            }
            Ok(t0.elapsed().as_secs_f64())
        })
    }

    fn __repr__(&self) -> String {
        format!(
            "Experiment({:?}, model={:?}, overrides={:?})",
            self.ctx.exp_path.display().to_string(),
            self.model,
            self.ctx.overrides
        )
    }
}

/// Loads and validates an experiment exactly as the `fit` command does: from a file, or from
/// YAML/JSON `text` (named `path` in messages; its relative paths resolve against `base_dir`).
#[pyfunction]
#[pyo3(signature = (path=None, text=None, overrides=vec![], base_dir=None))]
fn load_experiment(
    py: Python<'_>,
    path: Option<PathBuf>,
    text: Option<String>,
    overrides: Vec<String>,
    base_dir: Option<PathBuf>,
) -> PyResult<PyExperiment> {
    let ctx = match (path, text) {
        (Some(p), None) => RunContext::from_file(&p, &overrides, None, "", false, true),
        (None, Some(t)) => {
            let dir = base_dir.unwrap_or_else(|| PathBuf::from("."));
            RunContext::from_text(
                &dir.join("<dict>.yaml"),
                t,
                &overrides,
                None,
                "",
                false,
                true,
            )
        }
        _ => Err(anyhow!(
            "load_experiment: give a path or the experiment's text"
        )),
    }
    .map_err(py_err)?;
    let model = interruptible(py, || validate(&ctx, fit::check::Purpose::Validate))?;
    Ok(PyExperiment {
        ctx,
        model,
        gradient: Mutex::new(None),
        setup: Mutex::new(None),
    })
}

/// A 1-D or 2-D float array as `(values, rows, columns)`; 1-D is one row.
fn as_rows(x: &PyReadonlyArrayDyn<'_, f64>, what: &str) -> Result<(Vec<f64>, usize, usize)> {
    let shape = x.shape().to_vec();
    let (rows, cols) = match shape.as_slice() {
        [t] => (1, *t),
        [r, t] => (*r, *t),
        _ => bail!("{what}: expected a 1-D or 2-D array, got shape {shape:?}"),
    };
    let v: Vec<f64> = x.as_array().iter().copied().collect();
    if let Some(bad) = v.iter().find(|v| !v.is_finite()) {
        bail!("{what}: the array holds {bad}");
    }
    Ok((v, rows, cols))
}

fn host_device() -> burn::tensor::Device {
    backend::f64_device(backend::BackendKind::NdArray, false)
}

fn tensor_host<const D: usize>(t: burn::tensor::Tensor<D>) -> Result<Vec<f64>> {
    t.into_data()
        .convert::<f64>()
        .try_into_vec::<f64>()
        .map_err(|e| anyhow!("{e:?}"))
}

/// `(freqs, psd)` arrays.
type Spectrum<'py> = (Bound<'py, PyArray1<f64>>, Bound<'py, PyArrayDyn<f64>>);

/// scipy.signal.welch (Hann window, density scaling, mean over segments, one-sided) along the
/// last axis of a 1-D `[T]` or 2-D `[channels, T]` array. Returns `(freqs, psd)`.
#[pyfunction]
#[pyo3(signature = (x, fs, nperseg=None, noverlap=None))]
fn welch<'py>(
    py: Python<'py>,
    x: PyReadonlyArrayDyn<'py, f64>,
    fs: f64,
    nperseg: Option<usize>,
    noverlap: Option<usize>,
) -> PyResult<Spectrum<'py>> {
    let ndim = x.ndim();
    let (v, rows, t) = as_rows(&x, "welch: x").map_err(py_err)?;
    let w = spectra::Welch::new(
        spectra::WelchConfig {
            fs,
            nperseg,
            noverlap,
        },
        t,
    )
    .map_err(|e| NeurodynError::new_err(format!("welch: {e}")))?;
    let psd = w.psd_host(&v, rows);
    let nf = w.freqs().len();
    let shape = if ndim == 1 { vec![nf] } else { vec![rows, nf] };
    Ok((
        w.freqs().to_vec().into_pyarray(py),
        psd.into_pyarray(py).reshape(shape)?,
    ))
}

/// Functional connectivity: the Pearson correlation matrix `[nodes, nodes]` of a
/// `[samples, nodes]` array (the observation `kind: fc` fits).
#[pyfunction]
fn fc<'py>(
    py: Python<'py>,
    x: PyReadonlyArrayDyn<'py, f64>,
) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
    let (v, t, n) = as_rows(&x, "fc: x").map_err(py_err)?;
    if t < 2 {
        return Err(NeurodynError::new_err(
            "fc: x needs at least 2 samples ([samples, nodes])",
        ));
    }
    let device = host_device();
    let xt =
        burn::tensor::Tensor::<1>::from_data(burn::tensor::TensorData::new(v, [t * n]), &device)
            .reshape([1, t, n]);
    let m = tensor_host(spectra::fc::fc(xt)).map_err(py_err)?;
    m.into_pyarray(py).reshape(vec![n, n])
}

/// Functional connectivity dynamics: the correlations between the FC upper triangles of
/// sliding windows (`window`, `step` in samples) of a `[samples, nodes]` array, as the
/// observation `kind: fcd` computes them (its upper triangle).
#[pyfunction]
fn fcd<'py>(
    py: Python<'py>,
    x: PyReadonlyArrayDyn<'py, f64>,
    window: usize,
    step: usize,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let (v, t, n) = as_rows(&x, "fcd: x").map_err(py_err)?;
    if window < 2 || window > t || step == 0 {
        return Err(NeurodynError::new_err(format!(
            "fcd: window must be in 2..={t} (the samples) and step >= 1; got window {window}, step {step}"
        )));
    }
    if (t - window) / step < 1 {
        return Err(NeurodynError::new_err(format!(
            "fcd: {t} samples give a single window of {window}; FCD needs at least two"
        )));
    }
    let device = host_device();
    let xt =
        burn::tensor::Tensor::<1>::from_data(burn::tensor::TensorData::new(v, [t * n]), &device)
            .reshape([1, t, n]);
    Ok(tensor_host(spectra::fc::fcd(xt, window, step))
        .map_err(py_err)?
        .into_pyarray(py))
}

/// The frequency of the largest PSD value (optionally within `band = (lo, hi)` Hz, and
/// excluding the DC bin), as the peak-frequency grids compute it.
#[pyfunction]
#[pyo3(signature = (freqs, psd, band=None, exclude_dc=false))]
fn peak_frequency(
    freqs: Vec<f64>,
    psd: Vec<f64>,
    band: Option<(f64, f64)>,
    exclude_dc: bool,
) -> PyResult<f64> {
    if freqs.len() != psd.len() || freqs.is_empty() {
        return Err(NeurodynError::new_err(format!(
            "peak_frequency: freqs ({}) and psd ({}) must be equally long and not empty",
            freqs.len(),
            psd.len()
        )));
    }
    if let Some((lo, hi)) = band
        && !(lo < hi && freqs.iter().any(|f| *f >= lo && *f <= hi))
    {
        return Err(NeurodynError::new_err(format!(
            "peak_frequency: band ({lo}, {hi}) holds no frequency bin"
        )));
    }
    Ok(spectra::peak_frequency(
        &freqs,
        &psd,
        band.map(|(a, b)| [a, b]),
        exclude_dc,
    ))
}

/// The Balloon-Windkessel BOLD signal of each column of a `[steps, nodes]` drive sampled every
/// `dt` ms, recorded every `period` steps after `transient` steps, with the `classical` or
/// `revised` constants (the BOLD monitor's recursion). Returns `[samples, nodes]`.
#[pyfunction]
#[pyo3(signature = (u, dt, period, transient=0, constants="classical"))]
fn bold<'py>(
    py: Python<'py>,
    u: PyReadonlyArrayDyn<'py, f64>,
    dt: f64,
    period: usize,
    transient: usize,
    constants: &str,
) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
    let c = solvers::bold::BoldConstants::from_name(constants).ok_or_else(|| {
        NeurodynError::new_err(format!(
            "bold: constants `{constants}` unknown; valid: classical, revised"
        ))
    })?;
    if !(dt > 0.0 && dt.is_finite()) || period == 0 {
        return Err(NeurodynError::new_err(
            "bold: dt must be positive and period >= 1",
        ));
    }
    let ndim = u.ndim();
    let (v, t, n) = as_rows(&u, "bold: u").map_err(py_err)?;
    let (t, n) = if ndim == 1 { (n, 1) } else { (t, n) };
    let mut cols = Vec::with_capacity(n);
    for i in 0..n {
        let drive: Vec<f64> = (0..t).map(|k| v[k * n + i]).collect();
        cols.push(solvers::bold::bold_of_signal(
            &c, &drive, dt, period, transient,
        ));
    }
    let samples = cols.first().map_or(0, Vec::len);
    let mut out = vec![0.0; samples * n];
    for (i, col) in cols.iter().enumerate() {
        for (m, b) in col.iter().enumerate() {
            out[m * n + i] = *b;
        }
    }
    let shape = if ndim == 1 {
        vec![samples]
    } else {
        vec![samples, n]
    };
    out.into_pyarray(py).reshape(shape)
}

/// A shipped (or folder) connectome as `(weights, lengths, labels)`, before normalisation.
#[allow(clippy::type_complexity)]
#[pyfunction]
#[pyo3(signature = (dataset, base_dir=None))]
fn load_connectome<'py>(
    py: Python<'py>,
    dataset: String,
    base_dir: Option<PathBuf>,
) -> PyResult<(
    Bound<'py, PyArrayDyn<f64>>,
    Bound<'py, PyArrayDyn<f64>>,
    Vec<String>,
)> {
    let cfg: fit::config::ConnectivityCfg = serde_yaml_ng::from_str(&format!(
        "dataset: {}",
        serde_json::to_string(&dataset).expect("a string")
    ))
    .map_err(|e| py_err(e.into()))?;
    let anchor = base_dir
        .unwrap_or_else(|| PathBuf::from("."))
        .join("<python>.yaml");
    let c = fit::datasets::load_connectome(&cfg, &anchor).map_err(py_err)?;
    let n = c.len();
    Ok((
        c.weights().to_vec().into_pyarray(py).reshape(vec![n, n])?,
        c.lengths().to_vec().into_pyarray(py).reshape(vec![n, n])?,
        c.labels().to_vec(),
    ))
}

/// Writes a connectome given as arrays to a content-addressed folder (`weights.tsv`,
/// `lengths.tsv`, `labels.txt` under `cache_dir/<sha256>`) and returns the `--set` overrides
/// that select it. Files rather than memory, so that the run folder's configuration names the
/// data, the experiment hash changes with it, and the command line can resume the run.
#[pyfunction]
fn connectome_overrides(
    weights: PyReadonlyArrayDyn<'_, f64>,
    lengths: PyReadonlyArrayDyn<'_, f64>,
    labels: Option<Vec<String>>,
    cache_dir: PathBuf,
) -> PyResult<Vec<String>> {
    let square = |a: &PyReadonlyArrayDyn<'_, f64>, what: &str| -> Result<(Vec<f64>, usize)> {
        match a.shape() {
            [r, c] if r == c && *r > 0 => Ok((a.as_array().iter().copied().collect(), *r)),
            s => bail!(
                "connectome: {what} must be a square [regions, regions] array, got shape {s:?}"
            ),
        }
    };
    let (w, n) = square(&weights, "weights").map_err(py_err)?;
    let (l, nl) = square(&lengths, "lengths").map_err(py_err)?;
    if nl != n {
        return Err(NeurodynError::new_err(format!(
            "connectome: weights are {n}x{n} but lengths {nl}x{nl}"
        )));
    }
    let labels = labels.unwrap_or_else(|| (0..n).map(|k| format!("region{k}")).collect());
    if labels.len() != n || labels.iter().any(|s| s.contains(['\n', '\r'])) {
        return Err(NeurodynError::new_err(format!(
            "connectome: {} label(s) for {n} regions (one single-line label per region)",
            labels.len()
        )));
    }
    // Validate exactly as the experiment loader will (finite, non-negative, ...).
    dynamics::Connectome::new(
        &w.chunks(n).map(<[f64]>::to_vec).collect::<Vec<_>>(),
        &l.chunks(n).map(<[f64]>::to_vec).collect::<Vec<_>>(),
        labels.clone(),
    )
    .map_err(|e| NeurodynError::new_err(format!("connectome: {e}")))?;
    // Rust's `{}` for f64 is the shortest text that parses back to the same bits.
    let tsv = |v: &[f64]| -> String {
        v.chunks(n)
            .map(|r| {
                r.iter()
                    .map(|x| format!("{x}"))
                    .collect::<Vec<_>>()
                    .join("\t")
            })
            .collect::<Vec<_>>()
            .join("\n")
            + "\n"
    };
    let (wt, lt, lab) = (tsv(&w), tsv(&l), labels.join("\n") + "\n");
    let mut h = Sha256::new();
    for part in [&wt, &lt, &lab] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let hash: String = h
        .finalize()
        .iter()
        .take(12)
        .map(|b| format!("{b:02x}"))
        .collect();
    let dir = cache_dir.join(hash);
    let write = |name: &str, text: &str| -> Result<PathBuf> {
        let path = dir.join(name);
        if !path.exists() {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("creating the connectome folder {}", dir.display()))?;
            fit::run_dir::write_atomic(&path, text.as_bytes())?;
        }
        Ok(std::path::absolute(&path).unwrap_or(path))
    };
    let paths = [
        write("weights.tsv", &wt).map_err(py_err)?,
        write("lengths.tsv", &lt).map_err(py_err)?,
        write("labels.txt", &lab).map_err(py_err)?,
    ];
    let yaml = |p: &Path| serde_json::to_string(&p.display().to_string()).expect("a string");
    Ok(vec![
        "connectivity.dataset=null".to_string(),
        format!("connectivity.weights={}", yaml(&paths[0])),
        format!("connectivity.lengths={}", yaml(&paths[1])),
        format!("connectivity.labels={}", yaml(&paths[2])),
    ])
}

/// A numeric CSV (`trajectory.csv`, `best_fits.csv`, a start's trajectory) as
/// `(header, [rows, columns] array)`.
#[pyfunction]
fn read_csv<'py>(
    py: Python<'py>,
    path: PathBuf,
) -> PyResult<(Vec<String>, Bound<'py, PyArrayDyn<f64>>)> {
    let (header, rows) = fit::run_dir::read_csv(&path).map_err(py_err)?;
    let cols = header.len();
    if let Some((k, r)) = rows.iter().enumerate().find(|(_, r)| r.len() != cols) {
        return Err(NeurodynError::new_err(format!(
            "{}: row {} has {} values for {cols} columns",
            path.display(),
            k + 2,
            r.len()
        )));
    }
    let flat: Vec<f64> = rows.iter().flatten().copied().collect();
    Ok((
        header,
        flat.into_pyarray(py).reshape(vec![rows.len(), cols])?,
    ))
}

/// An `.npy` file as an array (f64).
#[pyfunction]
fn read_npy<'py>(py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
    let (data, shape) = fit::npy::read_npy(&path).map_err(py_err)?;
    data.into_pyarray(py).reshape(shape)
}

/// `fit compare RUN...`: writes `compare.csv` and the plots into `out`; returns the table.
#[pyfunction]
#[pyo3(signature = (runs, out, by="step"))]
fn compare(py: Python<'_>, runs: Vec<PathBuf>, out: PathBuf, by: &str) -> PyResult<String> {
    let by = fit::compare::By::parse(by).map_err(py_err)?;
    interruptible(py, || {
        std::fs::create_dir_all(&out)
            .with_context(|| format!("creating the comparison folder {}", out.display()))?;
        fit::compare::compare(&runs, &out, by)
    })
}

/// `fit merge DIR`.
#[pyfunction]
fn merge(py: Python<'_>, dir: PathBuf) -> PyResult<()> {
    interruptible(py, || fit::explore::merge(&dir))
}

/// The model names the engine and the system families know.
#[pyfunction]
fn models() -> Vec<String> {
    let mut v: Vec<String> = dynamics::ModelKind::ALL
        .iter()
        .map(|m| m.info().name.to_string())
        .collect();
    v.extend(fit::systems::all_models().into_iter().map(str::to_string));
    v
}

/// The native module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("NeurodynError", m.py().get_type::<NeurodynError>())?;
    m.add_class::<PyExperiment>()?;
    for f in [
        wrap_pyfunction!(load_experiment, m)?,
        wrap_pyfunction!(welch, m)?,
        wrap_pyfunction!(fc, m)?,
        wrap_pyfunction!(fcd, m)?,
        wrap_pyfunction!(peak_frequency, m)?,
        wrap_pyfunction!(bold, m)?,
        wrap_pyfunction!(load_connectome, m)?,
        wrap_pyfunction!(connectome_overrides, m)?,
        wrap_pyfunction!(read_csv, m)?,
        wrap_pyfunction!(read_npy, m)?,
        wrap_pyfunction!(compare, m)?,
        wrap_pyfunction!(merge, m)?,
        wrap_pyfunction!(models, m)?,
    ] {
        m.add_function(f)?;
    }
    let _ = PyList::empty(m.py());
    Ok(())
}

// Python allocates objects 16-byte aligned: a pyclass must not ask for more.
const _: () = assert!(std::mem::align_of::<PyExperiment>() <= 16);
