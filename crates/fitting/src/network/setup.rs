//! Turning a validated network experiment (any registered model) into a simulation problem and
//! parameter arrays.

use crate::network::config::{
    ColdValue, Experiment, InitialCfg, InterpolationCfg, Method, MonitorKindCfg, Param, SpeedCfg,
    Value,
};
use crate::network::data::DataSource;
use anyhow::{Result, anyhow, bail};
use backend::BackendKind;
use dynamics::{Connectome, CouplingKind, ModelInfo, ModelKind};
use solvers::monitor::{Monitor, MonitorKind};
use solvers::network_kernel::{self, Layout, NetworkProblem};
use solvers::noise::NoiseSource;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// The name of the conduction speed among the packed parameters (interpolated delays).
pub const SPEED: &str = "connectivity.conduction_speed";

/// Largest noise array kept in memory between evaluations (bytes).
pub const NOISE_CACHE_BYTES: usize = 64 << 20;

/// A parameter of the packed `[P, n]` array: its row and its qualified name (`a` for a model
/// parameter, `coupling.a` for a coupling parameter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamRef {
    index: usize,
    name: String,
}

impl ParamRef {
    /// Row in the packed parameter array.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Qualified name.
    pub fn qualified_name(&self) -> String {
        self.name.clone()
    }
}

/// A parameter marked `free`: fitted or explored.
#[derive(Debug, Clone, PartialEq)]
pub struct FreeParam {
    /// Which parameter.
    pub param: ParamRef,
    /// One value per region (else one global value).
    pub per_region: bool,
    /// Lower bound.
    pub low: Option<f64>,
    /// Upper bound.
    pub high: Option<f64>,
    /// Grid points (exploration).
    pub n: Option<usize>,
    /// Initial value(s): 1 or `n_regions`.
    pub init: Vec<f64>,
}

impl FreeParam {
    /// Column names in trajectory files: `a`, or `a[0]`, `a[1]`, ….
    pub fn column_names(&self) -> Vec<String> {
        let name = self.param.qualified_name();
        if self.per_region {
            (0..self.init.len())
                .map(|i| format!("{name}[{i}]"))
                .collect()
        } else {
            vec![name]
        }
    }
}

/// Everything derived from an experiment file that a command needs.
#[derive(Debug, Clone)]
pub struct NetworkSetup {
    /// The parsed experiment.
    pub exp: Experiment,
    /// The node model.
    pub model: ModelKind,
    /// The coupling.
    pub coupling: CouplingKind,
    /// The connectome.
    pub connectome: Connectome,
    /// The simulation problem (monitor from `monitors:`).
    pub problem: NetworkProblem,
    /// Packed parameter values `[P, n]` from the file.
    pub base_params: Vec<f64>,
    /// Parameters marked free, in table order (model first, then coupling).
    pub free: Vec<FreeParam>,
    /// burn backend.
    pub backend: BackendKind,
    /// Index of the observed variable (`observation.variable`).
    pub observed: usize,
    /// Index of the plotted variable (`outputs.plot_variable`).
    pub plotted: usize,
    /// What fits and grids observe (`observation`: the sub-sampled variable or its BOLD).
    pub observation: Monitor,
    /// The experiment file (for messages).
    pub path: std::path::PathBuf,
}

/// A parameter section of the schema: its path, its entries, its offset in the packed array
/// and the valid names.
type Section<'a> = (
    &'a str,
    &'a BTreeMap<String, Param>,
    usize,
    Vec<&'static str>,
);

/// Names of every packed parameter of `model` with `coupling`, qualified.
pub fn param_names(model: ModelKind, coupling: CouplingKind) -> Vec<String> {
    model
        .info()
        .params
        .iter()
        .map(|p| p.name.to_string())
        .chain(
            coupling
                .info()
                .params
                .iter()
                .map(|p| format!("coupling.{}", p.name)),
        )
        .collect()
}

/// Looks up a qualified parameter name (`a`, `coupling.a`) of `model` with `coupling`.
pub fn param_ref(model: ModelKind, coupling: CouplingKind, name: &str) -> Option<ParamRef> {
    param_names(model, coupling)
        .iter()
        .position(|n| n == name)
        .map(|index| ParamRef {
            index,
            name: name.to_string(),
        })
}

fn state_index(info: &ModelInfo, name: &str, field: &str, file: &str) -> Result<usize> {
    info.state_index(name).ok_or_else(|| {
        anyhow!(
            "{file}: {field}: `{name}` is not a state variable of {}; valid: {}",
            info.name,
            info.state_names().join(", ")
        )
    })
}

/// Standard normal draws `[steps, variables, n]` from the ChaCha8 generator of `seed` (what the
/// kernel draws inside the step loop; kept for cross-checks and noise files).
pub fn draw_noise(seed: u64, steps: usize, variables: usize, n: usize) -> Vec<f64> {
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..steps * variables * n)
        .map(|_| StandardNormal.sample(&mut rng))
        .collect()
}

/// Resolves the model and coupling names of an experiment, with their layout.
pub fn resolve_model(exp: &Experiment, file: &str) -> Result<(ModelKind, CouplingKind, Layout)> {
    let model = ModelKind::from_name(&exp.model.name).ok_or_else(|| {
        anyhow!(
            "{file}: model.name: unknown model `{}`; valid network models: {}",
            exp.model.name,
            ModelKind::names().join(", ")
        )
    })?;
    let coupling = CouplingKind::from_name(&exp.coupling.name).ok_or_else(|| {
        anyhow!(
            "{file}: coupling.name: unknown coupling `{}`; valid: {}",
            exp.coupling.name,
            CouplingKind::names().join(", ")
        )
    })?;
    let layout = Layout::new(model, coupling).map_err(|e| anyhow!("{file}: coupling.name: {e}"))?;
    Ok((model, coupling, layout))
}

/// Parses a BOLD driver: a state variable, or a sum/difference of them (`y1 - y2`).
fn parse_driver(text: &str, info: &ModelInfo, file: &str) -> Result<Vec<(usize, f64)>> {
    let mut out = Vec::new();
    let mut sign = 1.0;
    let spaced = text.replace('+', " + ").replace('-', " - ");
    let mut expect_var = true;
    for tok in spaced.split_whitespace() {
        match (tok, expect_var) {
            ("+", true) => {}
            ("-", true) => sign = -sign,
            ("+" | "-", false) => {
                sign = if tok == "-" { -1.0 } else { 1.0 };
                expect_var = true;
            }
            (name, true) => {
                out.push((
                    state_index(info, name, "observation.bold.driver", file)?,
                    sign,
                ));
                sign = 1.0;
                expect_var = false;
            }
            (name, false) => {
                bail!("{file}: observation.bold.driver = `{text}`: expected + or - before `{name}`")
            }
        }
    }
    if out.is_empty() || expect_var {
        bail!(
            "{file}: observation.bold.driver = `{text}` is not a state variable or a sum or \
             difference of them (e.g. `y1 - y2`); valid variables: {}",
            info.state_names().join(", ")
        );
    }
    Ok(out)
}

/// A duration in ms as a whole number of steps of `dt`, or an error naming `field`.
fn as_steps(value: f64, dt: f64, field: &str, file: &str) -> Result<usize> {
    let k = value / dt;
    if !(value.is_finite() && value >= 0.0) || (k - k.round()).abs() > 1e-9 * k.max(1.0) {
        bail!("{file}: {field} = {value} ms must be a non-negative multiple of dt = {dt} ms");
    }
    Ok(k.round() as usize)
}

/// The monitor fits and grids observe: the sub-sampled variable, or its BOLD signal.
fn observation_monitor(
    exp: &Experiment,
    info: &ModelInfo,
    observed: usize,
    dt: f64,
    steps: usize,
    file: &str,
) -> Result<Monitor> {
    let obs = &exp.observation;
    let Some(b) = &obs.bold else {
        return Ok(Monitor {
            kind: MonitorKind::SubSample,
            stride: obs.stride,
            variables: vec![observed],
        });
    };
    let constants = solvers::BoldConstants::from_name(&b.constants).ok_or_else(|| {
        anyhow!(
            "{file}: observation.bold.constants = `{}`; valid: {}",
            b.constants,
            solvers::BoldConstants::NAMES.join(", ")
        )
    })?;
    let driver = match &b.driver {
        Some(d) => parse_driver(d, info, file)?,
        None => vec![(observed, 1.0)],
    };
    let period = as_steps(b.period, dt, "observation.bold.period", file)?;
    if period == 0 {
        bail!("{file}: observation.bold.period must be > 0 ms (the TR)");
    }
    let transient = as_steps(b.transient, dt, "observation.bold.transient", file)?;
    if transient >= steps {
        bail!(
            "{file}: observation.bold.transient = {} ms is not shorter than the run \
             (integration.duration = {} ms)",
            b.transient,
            steps as f64 * dt
        );
    }
    let bold = solvers::BoldMonitor {
        constants,
        driver,
        period,
        transient,
    };
    if bold.samples(steps) < 3 {
        bail!(
            "{file}: the BOLD monitor records {} sample(s) (duration {} ms − transient {} ms, \
             every {} ms); at least 3 are needed — lengthen integration.duration or shorten \
             observation.bold.period",
            bold.samples(steps),
            steps as f64 * dt,
            b.transient,
            b.period
        );
    }
    Ok(Monitor {
        kind: MonitorKind::Bold(bold),
        stride: 1,
        variables: vec![observed],
    })
}

/// Memory and work of a network experiment, checked before the history, noise and traces are
/// allocated: delay history and coupling ring (horizon × state × regions, per batch entry),
/// N² weights and lags, the noise file, the observed series and the adjoint's checkpoints, and
/// the steps of the run and of a warm transient.
fn setup_budget(
    exp: &Experiment,
    exp_path: &Path,
    n: usize,
    ns: usize,
    steps: usize,
    horizon: usize,
) -> Result<()> {
    let (n, ns, steps, horizon) = (n as f64, ns as f64, steps as f64, horizon as f64);
    let integ = &exp.integration;
    let batch = exp
        .optimization
        .as_ref()
        .map_or(1.0, |o| o.noise_realisations.max(1) as f64);
    let segment = (integ.segment.max(1) as f64).min(steps);
    let stride = exp.observation.stride.max(1) as f64;
    let noise_file = if integ.noise.sigma > 0.0 && integ.noise.file.is_some() {
        steps * ns * n * 8.0
    } else {
        0.0
    };
    let mut parts = vec![
        (
            "delay history",
            "connectivity.conduction_speed, the tract lengths and integration.dt",
            2.0 * horizon * ns * n * 8.0 * batch,
        ),
        (
            "weights and delays",
            "the connectome size N",
            3.0 * n * n * 8.0,
        ),
        (
            "noise file",
            "integration.duration / integration.dt",
            noise_file,
        ),
        (
            "observed series",
            "integration.duration / (integration.dt · observation.stride)",
            steps / stride * n * 8.0 * batch * 2.0,
        ),
    ];
    if exp.optimization.is_some() {
        parts.push((
            "gradient checkpoints",
            "integration.duration / integration.dt and integration.segment",
            ((steps / segment) * (ns + horizon * ns) + segment * ns * 4.0) * n * 8.0 * batch,
        ));
    }
    crate::budget::check_memory(exp_path, &parts)?;
    crate::budget::check_work(
        exp_path,
        "the run",
        "integration.duration / integration.dt (and the connectome size)",
        steps * (ns * n + n * n) * batch,
    )?;
    if let InitialCfg::Warm { transient } = exp.initial_conditions {
        crate::budget::positive(exp_path, "initial_conditions.transient", transient)?;
        crate::budget::check_work(
            exp_path,
            "the warm-up transient",
            "initial_conditions.transient / integration.dt",
            transient / integ.dt * (ns * n + n * n),
        )?;
    }
    Ok(())
}

impl NetworkSetup {
    /// Validates the experiment's numbers and takes everything it refers to from `data`
    /// (running a warm transient when `initial_conditions` asks for one); `exp_path` names the
    /// experiment in messages.
    pub fn with_data(exp: Experiment, exp_path: &Path, data: &dyn DataSource) -> Result<Self> {
        Self::build(exp, exp_path, data, true)
    }

    /// Everything [`NetworkSetup::with_data`] checks, without running a warm transient (what
    /// `fit validate` and the up-front check of every command use): the start state of a warm
    /// start is left cold.
    pub fn checked_with_data(
        exp: Experiment,
        exp_path: &Path,
        data: &dyn DataSource,
    ) -> Result<Self> {
        Self::build(exp, exp_path, data, false)
    }

    fn build(exp: Experiment, exp_path: &Path, data: &dyn DataSource, warm: bool) -> Result<Self> {
        let file = exp_path.display().to_string();
        let file = file.as_str();
        let backend = BackendKind::parse(&exp.backend).ok_or_else(|| {
            anyhow!(
                "{file}: backend `{}` is not one of {:?}",
                exp.backend,
                BackendKind::NAMES
            )
        })?;
        let (model, coupling, layout) = resolve_model(&exp, file)?;
        let info = model.info();
        let integ = &exp.integration;
        if !(integ.dt.is_finite() && integ.dt > 0.0) {
            bail!(
                "{file}: integration.dt = {} must be a positive number (ms)",
                integ.dt
            );
        }
        if !(integ.duration.is_finite() && integ.duration > 0.0) {
            bail!(
                "{file}: integration.duration = {} must be a positive number (ms)",
                integ.duration
            );
        }
        let steps_f = integ.duration / integ.dt;
        let steps = steps_f.round() as usize;
        if (steps_f - steps as f64).abs() > 1e-9 * steps_f.max(1.0) || steps == 0 {
            bail!(
                "{file}: integration.duration = {} is not a multiple of dt = {}",
                integ.duration,
                integ.dt
            );
        }
        if !(integ.noise.sigma.is_finite() && integ.noise.sigma >= 0.0) {
            bail!(
                "{file}: integration.noise.sigma = {} must be >= 0",
                integ.noise.sigma
            );
        }
        let method = match integ.method {
            Method::Euler => solvers::Method::Euler,
            Method::Heun => solvers::Method::Heun,
            Method::RK4 => solvers::Method::Rk4,
        };
        if integ.noise.sigma > 0.0 && !method.tableau().stochastic {
            bail!(
                "{file}: integration.method = {} is deterministic but integration.noise.sigma = {}; \
                 use Euler or Heun for noisy runs",
                method.tableau().name,
                integ.noise.sigma
            );
        }
        if integ.segment == 0 {
            bail!("{file}: integration.segment must be >= 1");
        }
        let connectome = data.connectome(&exp.connectivity)?;
        let n = connectome.len();
        let speed_cfg = &exp.connectivity.conduction_speed;
        let speed = speed_cfg.value().ok_or_else(|| {
            anyhow!("{file}: connectivity.conduction_speed.value must be one number (mm/ms)")
        })?;
        let delays = connectome
            .delays(speed, integ.dt)
            .map_err(|e| anyhow!("{file}: connectivity.conduction_speed: {e}"))?;
        let linear = exp.connectivity.history_interpolation == InterpolationCfg::Linear;
        let speed_param = match speed_cfg {
            SpeedCfg::Param(p) => Some(p),
            SpeedCfg::Value(_) => None,
        };
        let free_speed = speed_param.is_some_and(|p| p.free);
        if free_speed && !linear {
            bail!(
                "{file}: connectivity.conduction_speed is free, but integer delays do not depend \
                 smoothly on it; set connectivity.history_interpolation: linear"
            );
        }
        // With interpolation the history must hold the longest delay at the slowest speed the
        // fit may reach: the lower bound of a free speed.
        let (interpolation, horizon) = if linear {
            let slowest = match speed_param {
                Some(p) if p.free => p.low.filter(|l| *l > 0.0).ok_or_else(|| {
                    anyhow!(
                        "{file}: connectivity.conduction_speed is free: give it a positive `low` \
                         (the delay history is sized for the slowest speed)"
                    )
                })?,
                _ => speed,
            };
            let lengths = connectome.lengths();
            let lt: Vec<f64> = (0..n * n)
                .map(|ij| lengths[(ij % n) * n + ij / n])
                .collect();
            let longest = lt.iter().fold(0.0f64, |m, l| m.max(*l));
            let horizon = (longest / (slowest * integ.dt)).floor() as usize + 2;
            (
                solvers::network_kernel::DelayInterpolation::Linear {
                    lengths: Arc::new(lt),
                },
                horizon.max(delays.horizon),
            )
        } else {
            (
                solvers::network_kernel::DelayInterpolation::Nearest,
                delays.horizon,
            )
        };

        setup_budget(&exp, exp_path, n, layout.ns, steps, horizon)?;

        // Parameters: the model's table, then the coupling's (then the speed, interpolated).
        let mut names = param_names(model, coupling);
        let mut defaults = info.defaults();
        defaults.extend(coupling.info().defaults());
        if linear {
            names.push(SPEED.to_string());
            defaults.push(speed);
        }
        let np = layout.np() + usize::from(linear);
        let mut base = vec![0.0; np * n];
        for (k, d) in defaults.iter().enumerate() {
            base[k * n..(k + 1) * n].fill(*d);
        }
        let mut free = Vec::new();
        let sections: [Section; 2] = [
            (
                "model.parameters",
                &exp.model.parameters,
                0,
                info.params.iter().map(|p| p.name).collect(),
            ),
            (
                "coupling.parameters",
                &exp.coupling.parameters,
                layout.npm,
                coupling.info().params.iter().map(|p| p.name).collect(),
            ),
        ];
        let mut entries: Vec<(usize, String, &Param)> = Vec::new();
        for (section, map, offset, valid) in &sections {
            for (key, cfg) in *map {
                let Some(pos) = valid.iter().position(|v| v == key) else {
                    let owner = if *offset == 0 {
                        format!("model {}", info.name)
                    } else {
                        format!("coupling {}", coupling.info().name)
                    };
                    bail!(
                        "{file}: {section}.{key}: unknown parameter of {owner}; valid: {}",
                        valid.join(", ")
                    );
                };
                entries.push((offset + pos, format!("{section}.{key}"), cfg));
            }
        }
        if let Some(p) = speed_param
            && linear
        {
            entries.push((np - 1, SPEED.into(), p));
        }
        entries.sort_by_key(|e| e.0);
        for (k, field, c) in entries {
            let vals: Vec<f64> = match &c.value {
                Value::Scalar(v) => vec![*v; n],
                Value::PerRegion(v) if v.len() == n => v.clone(),
                Value::PerRegion(v) => bail!(
                    "{file}: {field}.value has {} entries but the connectome has {n} regions",
                    v.len()
                ),
            };
            if let Some(bad) = vals.iter().find(|v| !v.is_finite()) {
                bail!("{file}: {field}.value = {bad} is not a finite number");
            }
            base[k * n..(k + 1) * n].copy_from_slice(&vals);
            if let Some(name) = &c.name {
                let key = field.rsplit('.').next().unwrap_or_default();
                if name != key {
                    bail!("{file}: {field}.name = `{name}` does not match its key `{key}`");
                }
            }
            for (what, b) in [("low", c.low), ("high", c.high)] {
                if let Some(b) = b
                    && !b.is_finite()
                {
                    bail!("{file}: {field}.{what} = {b} is not finite");
                }
            }
            if let (Some(lo), Some(hi)) = (c.low, c.high)
                && lo >= hi
            {
                bail!("{file}: {field}: low = {lo} must be < high = {hi}");
            }
            if c.free {
                let per_region = c.per_region || matches!(c.value, Value::PerRegion(_));
                let init = if per_region {
                    vals.clone()
                } else {
                    vec![vals[0]]
                };
                free.push(FreeParam {
                    param: ParamRef {
                        index: k,
                        name: names[k].clone(),
                    },
                    per_region,
                    low: c.low,
                    high: c.high,
                    n: c.n,
                    init,
                });
            }
        }

        let ns = layout.ns;
        let noise = if integ.noise.sigma > 0.0 {
            match &integ.noise.file {
                Some(path) => {
                    let path = data
                        .resolve(path)
                        .map_err(|e| anyhow!("{file}: integration.noise.file: {e}"))?;
                    let (v, shape) = data
                        .array(&path)
                        .map_err(|e| anyhow!("{file}: integration.noise.file: {e:#}"))?;
                    if shape != [steps, ns, n] {
                        bail!(
                            "{}: integration.noise.file: noise file has shape {shape:?} but [steps, variables, nodes] = [{steps}, {ns}, {n}] is needed",
                            path.display()
                        );
                    }
                    if let Some(k) = v.iter().position(|x| !x.is_finite()) {
                        bail!(
                            "{}: integration.noise.file: draw {k} (step {}, variable {}, node {}) is {}; noise draws must be finite",
                            path.display(),
                            k / (ns * n),
                            (k / n) % ns,
                            k % n,
                            v[k]
                        );
                    }
                    NoiseSource::Draws(Arc::new(v), 0)
                }
                // Drawn inside the kernel; unless told otherwise, runs whose draws fit in
                // 64 MiB keep them between the evaluations of a fit (the same numbers, drawn
                // once).
                None => NoiseSource::seeded(integ.noise.seed, 0).materialised(
                    steps,
                    ns,
                    n,
                    if integ.noise.keep_in_memory {
                        NOISE_CACHE_BYTES
                    } else {
                        0
                    },
                ),
            }
        } else {
            NoiseSource::None
        };

        let variables = match &exp.monitors.variables {
            None => (0..ns).collect(),
            Some(v) => v
                .iter()
                .map(|name| state_index(&info, name, "monitors.variables", file))
                .collect::<Result<Vec<_>>>()?,
        };
        if exp.monitors.stride == 0 {
            bail!("{file}: monitors.stride must be >= 1");
        }
        let kind = match exp.monitors.kind {
            MonitorKindCfg::Raw if exp.monitors.stride != 1 => bail!(
                "{file}: monitors.kind = raw records every step; stride = {} needs kind subsample or temporal_average",
                exp.monitors.stride
            ),
            MonitorKindCfg::Raw | MonitorKindCfg::Subsample => MonitorKind::SubSample,
            MonitorKindCfg::TemporalAverage => MonitorKind::TemporalAverage,
        };
        if kind == MonitorKind::TemporalAverage && steps < exp.monitors.stride {
            bail!(
                "{file}: monitors.stride = {} is longer than the run ({steps} steps)",
                exp.monitors.stride
            );
        }
        let observed = match &exp.observation.variable {
            None => info.voi,
            Some(v) => state_index(&info, v, "observation.variable", file)?,
        };
        let plotted = match &exp.outputs.plot_variable {
            None => info.voi,
            Some(v) => state_index(&info, v, "outputs.plot_variable", file)?,
        };
        if exp.observation.stride == 0 {
            bail!("{file}: observation.stride must be >= 1");
        }
        let observation = observation_monitor(&exp, &info, observed, integ.dt, steps, file)?;
        let cold: Vec<f64> = vec![0.1; ns];
        let (state, hist) = NetworkProblem::constant_start(model, n, horizon, &cold);
        let mut problem = NetworkProblem {
            model,
            coupling,
            method,
            n,
            weights: Arc::new(connectome.weights().to_vec()),
            lag: Arc::new(delays.lag),
            horizon,
            dt: integ.dt,
            steps,
            sigma: integ.noise.sigma,
            noise,
            init_state: Arc::new(state),
            init_history: Arc::new(hist),
            monitor: Monitor {
                kind,
                stride: exp.monitors.stride,
                variables,
            },
            segment: integ.segment,
            grad_horizon: None,
            interpolation,
        };
        let mut setup = Self {
            exp,
            model,
            coupling,
            connectome,
            problem: problem.clone(),
            base_params: base,
            free,
            backend,
            observed,
            plotted,
            observation,
            path: exp_path.to_path_buf(),
        };
        setup.apply_initial_conditions(exp_path, data, &mut problem, warm)?;
        setup.problem = problem;
        Ok(setup)
    }

    fn apply_initial_conditions(
        &self,
        exp_path: &Path,
        data: &dyn DataSource,
        problem: &mut NetworkProblem,
        warm: bool,
    ) -> Result<()> {
        let (n, nh) = (problem.n, problem.horizon);
        let info = self.model.info();
        let ns = info.state.len();
        let file = exp_path.display();
        match &self.exp.initial_conditions {
            InitialCfg::Cold { value } => {
                let values: Vec<f64> = match value {
                    ColdValue::All(v) => vec![*v; ns],
                    ColdValue::PerVariable(map) => {
                        let mut v = vec![0.1; ns];
                        for (name, x) in map {
                            let k = state_index(
                                &info,
                                name,
                                "initial_conditions.value",
                                &file.to_string(),
                            )?;
                            v[k] = *x;
                        }
                        v
                    }
                };
                if values.iter().any(|v| !v.is_finite()) {
                    bail!("{file}: initial_conditions.value must be finite");
                }
                // Initial history and state respect the model's bounds, as in tvb-library.
                let values: Vec<f64> = values
                    .iter()
                    .zip(info.state)
                    .map(|(v, s)| v.clamp(s.bounds.0, s.bounds.1))
                    .collect();
                let (s, h) = NetworkProblem::constant_start(self.model, n, nh, &values);
                problem.init_state = Arc::new(s);
                problem.init_history = Arc::new(h);
            }
            InitialCfg::Warm { transient } => {
                let steps = (transient / problem.dt).round() as usize;
                if steps == 0 || !transient.is_finite() {
                    bail!("{file}: initial_conditions.transient must be >= dt");
                }
                if !warm {
                    return Ok(());
                }
                // The transient draws its own noise (seed + 1), so the main run's noise stream
                // is the same as with a cold start.
                let mut warm = problem.clone();
                warm.steps = steps;
                warm.monitor = Monitor {
                    kind: MonitorKind::SubSample,
                    stride: steps,
                    variables: vec![0],
                };
                if problem.sigma > 0.0 {
                    warm.noise =
                        NoiseSource::seeded(self.exp.integration.noise.seed.wrapping_add(1), 0);
                }
                let (out, _) = network_kernel::forward(&warm, &self.base_params, false);
                problem.init_state = Arc::new(out.final_state);
                problem.init_history = Arc::new(out.final_history);
            }
            InitialCfg::File { path } => {
                let p = data
                    .resolve(path)
                    .map_err(|e| anyhow!("{file}: initial_conditions.path: {e:#}"))?;
                let (trace, shape) = data
                    .array(&p)
                    .map_err(|e| anyhow!("{file}: initial_conditions.path: {e:#}"))?;
                if shape.len() != 3 || shape[1] != ns || shape[2] != n || shape[0] < nh {
                    bail!(
                        "{}: initial_conditions.path: initial trace has shape {shape:?}; need [steps >= {nh}, {ns}, {n}] (every state variable of {})",
                        p.display(),
                        info.name
                    );
                }
                let t = shape[0];
                if let Some(k) = trace[(t - nh) * ns * n..]
                    .iter()
                    .position(|x| !x.is_finite())
                {
                    bail!(
                        "{}: initial_conditions.path: the last {nh} steps (the start state and \
                         delay history) hold a non-finite value at index {k} of them",
                        p.display()
                    );
                }
                problem.init_state = Arc::new(trace[(t - 1) * ns * n..].to_vec());
                let mut hist = Vec::with_capacity(nh * info.cvar.len() * n);
                for r in t - nh..t {
                    for &cv in info.cvar {
                        hist.extend_from_slice(&trace[(r * ns + cv) * n..(r * ns + cv + 1) * n]);
                    }
                }
                problem.init_history = Arc::new(hist);
            }
        }
        Ok(())
    }

    /// Number of regions.
    pub fn n(&self) -> usize {
        self.problem.n
    }

    /// Number of packed parameters per region.
    pub fn n_params(&self) -> usize {
        self.problem.layout().np()
    }

    /// Qualified names of the packed parameters.
    pub fn param_names(&self) -> Vec<String> {
        let mut names = param_names(self.model, self.coupling);
        if self.problem.layout().nspeed == 1 {
            names.push(SPEED.to_string());
        }
        names
    }

    /// Looks up a qualified parameter name.
    pub fn param_ref(&self, name: &str) -> Option<ParamRef> {
        self.param_names()
            .iter()
            .position(|n| n == name)
            .map(|index| ParamRef {
                index,
                name: name.to_string(),
            })
    }

    /// Name of state variable `v`.
    pub fn variable_name(&self, v: usize) -> &'static str {
        self.model.info().state[v].name
    }
}
