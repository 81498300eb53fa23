//! Turning a validated Jansen-Rit experiment into a simulation problem and parameter arrays.

use crate::config::{Experiment, InitialCfg, Param, Value};
use crate::datasets::load_connectome;
use crate::npy::read_npy;
use anyhow::{Result, anyhow, bail};
use dynamics::jansen_rit::{JansenRit, JrParam, N_JR_PARAMS, SigmoidalJansenRit, pack};
use dynamics::{BackendKind, Connectome};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use solvers::network_kernel::{self, JrProblem, Monitor};
use std::path::Path;
use std::sync::Arc;

/// A parameter marked `free`: fitted or explored.
#[derive(Debug, Clone, PartialEq)]
pub struct FreeParam {
    /// Which parameter.
    pub param: JrParam,
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
pub struct JrSetup {
    /// The parsed experiment.
    pub exp: Experiment,
    /// The connectome.
    pub connectome: Connectome,
    /// The simulation problem (monitor from `monitors:`).
    pub problem: JrProblem,
    /// Packed parameter values `[19, n]` from the file.
    pub base_params: Vec<f64>,
    /// Parameters marked free, in schema order.
    pub free: Vec<FreeParam>,
    /// burn backend.
    pub backend: BackendKind,
}

/// Parses a variable name `y0`…`y5`.
pub fn variable_index(name: &str) -> Option<usize> {
    name.strip_prefix('y')
        .and_then(|d| d.parse::<usize>().ok())
        .filter(|&v| v < 6)
}

fn model_entries(exp: &Experiment) -> Vec<(JrParam, &Option<Param>)> {
    let p = &exp.model.parameters;
    let c = &exp.coupling.parameters;
    use JrParam::*;
    vec![
        (a, &p.a),
        (b, &p.b),
        (mu, &p.mu),
        (A, &p.A),
        (B, &p.B),
        (J, &p.J),
        (a_1, &p.a_1),
        (a_2, &p.a_2),
        (a_3, &p.a_3),
        (a_4, &p.a_4),
        (nu_max, &p.nu_max),
        (r, &p.r),
        (v0, &p.v0),
        (local_coupling, &p.local_coupling),
        (coupling_a, &c.a),
        (coupling_cmax, &c.cmax),
        (coupling_cmin, &c.cmin),
        (coupling_r, &c.r),
        (coupling_midpoint, &c.midpoint),
    ]
}

fn section(p: JrParam) -> String {
    let name = p.qualified_name();
    match name.strip_prefix("coupling.") {
        Some(c) => format!("coupling.parameters.{c}"),
        None => format!("model.parameters.{name}"),
    }
}

/// Draws standard normal noise `[steps, 6, n]` from a ChaCha8 generator seeded with `seed`.
pub fn draw_noise(seed: u64, steps: usize, n: usize) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..steps * 6 * n)
        .map(|_| StandardNormal.sample(&mut rng))
        .collect()
}

impl JrSetup {
    /// Validates the experiment's numbers and loads everything it refers to.
    pub fn new(exp: Experiment, exp_path: &Path) -> Result<Self> {
        let file = exp_path.display();
        let backend = BackendKind::parse(&exp.backend).ok_or_else(|| {
            anyhow!(
                "{file}: backend `{}` is not one of {:?}",
                exp.backend,
                BackendKind::NAMES
            )
        })?;
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
        if integ.segment == 0 {
            bail!("{file}: integration.segment must be >= 1");
        }
        let connectome = load_connectome(&exp.connectivity, exp_path)?;
        let n = connectome.len();
        let speed = exp.connectivity.conduction_speed;
        let delays = connectome
            .delays(speed, integ.dt)
            .map_err(|e| anyhow!("{file}: connectivity.conduction_speed: {e}"))?;

        let defaults = pack(&JansenRit::default(), &SigmoidalJansenRit::default());
        let mut base = vec![0.0; N_JR_PARAMS * n];
        let mut free = Vec::new();
        for (p, cfg) in model_entries(&exp) {
            let k = p.index();
            let vals: Vec<f64> = match cfg.as_ref().map(|c| &c.value) {
                None => vec![defaults[k]; n],
                Some(Value::Scalar(v)) => vec![*v; n],
                Some(Value::PerRegion(v)) if v.len() == n => v.clone(),
                Some(Value::PerRegion(v)) => bail!(
                    "{file}: {}.value has {} entries but the connectome has {n} regions",
                    section(p),
                    v.len()
                ),
            };
            if let Some(bad) = vals.iter().find(|v| !v.is_finite()) {
                bail!(
                    "{file}: {}.value = {bad} is not a finite number",
                    section(p)
                );
            }
            base[k * n..(k + 1) * n].copy_from_slice(&vals);
            if let Some(c) = cfg {
                if let Some(name) = &c.name {
                    let key = p.qualified_name();
                    let key = key.strip_prefix("coupling.").unwrap_or(&key);
                    if name != key {
                        bail!(
                            "{file}: {}.name = `{name}` does not match its key `{key}`",
                            section(p)
                        );
                    }
                }
                for (what, b) in [("low", c.low), ("high", c.high)] {
                    if let Some(b) = b
                        && !b.is_finite()
                    {
                        bail!("{file}: {}.{what} = {b} is not finite", section(p));
                    }
                }
                if let (Some(lo), Some(hi)) = (c.low, c.high)
                    && lo >= hi
                {
                    bail!("{file}: {}: low = {lo} must be < high = {hi}", section(p));
                }
                if c.free {
                    let per_region = c.per_region || matches!(c.value, Value::PerRegion(_));
                    let init = if per_region {
                        vals.clone()
                    } else {
                        vec![vals[0]]
                    };
                    free.push(FreeParam {
                        param: p,
                        per_region,
                        low: c.low,
                        high: c.high,
                        n: c.n,
                        init,
                    });
                }
            }
        }

        let noise = if integ.noise.sigma > 0.0 {
            Some(Arc::new(match &integ.noise.file {
                Some(path) => {
                    let path = crate::datasets::resolve_dataset(path, exp_path)
                        .map_err(|e| anyhow!("{file}: integration.noise.file: {e}"))?;
                    let (v, shape) = read_npy(&path)?;
                    if shape != [steps, 6, n] {
                        bail!(
                            "{}: noise file has shape {shape:?} but [steps, 6, nodes] = [{steps}, 6, {n}] is needed",
                            path.display()
                        );
                    }
                    v
                }
                None => draw_noise(integ.noise.seed, steps, n),
            }))
        } else {
            None
        };

        let variables = exp
            .monitors
            .variables
            .iter()
            .map(|v| {
                variable_index(v).ok_or_else(|| {
                    anyhow!(
                        "{file}: monitors.variables: `{v}` is not one of y0, y1, y2, y3, y4, y5"
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?;
        if exp.monitors.stride == 0 {
            bail!("{file}: monitors.stride must be >= 1");
        }
        if variable_index(&exp.observation.variable).is_none() {
            bail!(
                "{file}: observation.variable `{}` is not one of y0…y5",
                exp.observation.variable
            );
        }
        if exp.observation.stride == 0 {
            bail!("{file}: observation.stride must be >= 1");
        }
        let (state, hist) = JrProblem::cold_start(n, delays.horizon, 0.1);
        let mut problem = JrProblem {
            n,
            weights: Arc::new(connectome.weights().to_vec()),
            lag: Arc::new(delays.lag),
            horizon: delays.horizon,
            dt: integ.dt,
            steps,
            sigma: integ.noise.sigma,
            noise,
            init_state: Arc::new(state),
            init_history: Arc::new(hist),
            monitor: Monitor {
                stride: exp.monitors.stride,
                variables,
            },
            segment: integ.segment,
        };
        let mut setup = Self {
            exp,
            connectome,
            problem: problem.clone(),
            base_params: base,
            free,
            backend,
        };
        setup.apply_initial_conditions(exp_path, &mut problem)?;
        setup.problem = problem;
        Ok(setup)
    }

    fn apply_initial_conditions(&self, exp_path: &Path, problem: &mut JrProblem) -> Result<()> {
        let (n, nh) = (problem.n, problem.horizon);
        match &self.exp.initial_conditions {
            InitialCfg::Cold { value } => {
                if !value.is_finite() {
                    bail!(
                        "{}: initial_conditions.value must be finite",
                        exp_path.display()
                    );
                }
                let (s, h) = JrProblem::cold_start(n, nh, *value);
                problem.init_state = Arc::new(s);
                problem.init_history = Arc::new(h);
            }
            InitialCfg::Warm { transient } => {
                let steps = (transient / problem.dt).round() as usize;
                if steps == 0 || !transient.is_finite() {
                    bail!(
                        "{}: initial_conditions.transient must be >= dt",
                        exp_path.display()
                    );
                }
                // The transient draws its own noise (seed + 1), so the main run's noise stream
                // is the same as with a cold start.
                let mut warm = problem.clone();
                warm.steps = steps;
                warm.monitor = Monitor {
                    stride: steps,
                    variables: vec![0],
                };
                warm.noise = (problem.sigma > 0.0).then(|| {
                    Arc::new(draw_noise(
                        self.exp.integration.noise.seed.wrapping_add(1),
                        steps,
                        n,
                    ))
                });
                let (out, _) = network_kernel::forward(&warm, &self.base_params, false);
                problem.init_state = Arc::new(out.final_state);
                problem.init_history = Arc::new(out.final_history);
            }
            InitialCfg::File { path } => {
                let p = crate::datasets::resolve_dataset(path, exp_path)?;
                let (trace, shape) = read_npy(&p)?;
                if shape.len() != 3 || shape[1] != 6 || shape[2] != n || shape[0] < nh {
                    bail!(
                        "{}: initial trace has shape {shape:?}; need [steps >= {nh}, 6, {n}]",
                        p.display()
                    );
                }
                let t = shape[0];
                problem.init_state = Arc::new(trace[(t - 1) * 6 * n..].to_vec());
                let mut hist = Vec::with_capacity(nh * 2 * n);
                for r in t - nh..t {
                    hist.extend_from_slice(&trace[(r * 6 + 1) * n..(r * 6 + 3) * n]);
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
}
