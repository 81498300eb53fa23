//! The network fitting objective (any registered model): parameters → simulation → Welch
//! spectrum → loss.
//!
//! Everything here is a burn tensor program: the simulation is one custom autodiff op
//! ([`solvers::simulate`]), the spectrum and the loss are ordinary tensor code on top, so
//! `loss.backward()` gives exact gradients with respect to every free parameter. A leading batch
//! dimension carries independent parameter sets (grids of fits), each with its own loss.

use crate::network::config::{Average, FcdCfg, LossKind, ObservationKind, TargetCfg};
use crate::network::data::DataSource;
use crate::network::setup::{FreeParam, NetworkSetup};
use anyhow::{Result, anyhow, bail};
use burn::tensor::{Device, Tensor, TensorData};
use solvers::network_kernel::{self, NetworkProblem};
use solvers::{Simulation, simulate};
use spectra::{Welch, WelchConfig, log_spectrum_mse, one_minus_correlation, soft_peak_frequency};
use std::path::Path;
use std::sync::Arc;

/// How a free parameter's unconstrained value `u` maps to the model value θ.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Transform {
    /// θ = u.
    Identity,
    /// θ = exp(u): positive values.
    Log,
    /// θ = lo + (hi − lo)·sigmoid(u): smooth bounds.
    Sigmoid {
        /// Lower bound.
        lo: f64,
        /// Upper bound.
        hi: f64,
    },
}

impl Transform {
    /// θ(u) on tensors.
    pub fn forward<const D: usize>(&self, u: Tensor<D>) -> Tensor<D> {
        match *self {
            Self::Identity => u,
            Self::Log => u.exp(),
            Self::Sigmoid { lo, hi } => u
                .neg()
                .exp()
                .add_scalar(1.0)
                .recip()
                .mul_scalar(hi - lo)
                .add_scalar(lo),
        }
    }

    /// θ(u) on numbers.
    pub fn value(&self, u: f64) -> f64 {
        match *self {
            Self::Identity => u,
            Self::Log => u.exp(),
            Self::Sigmoid { lo, hi } => lo + (hi - lo) / (1.0 + (-u).exp()),
        }
    }

    /// u(θ); errors when θ is outside the bounds.
    pub fn inverse(&self, theta: f64) -> Result<f64> {
        match *self {
            Self::Identity => Ok(theta),
            Self::Log => {
                if !(theta > 0.0 && theta.is_finite()) {
                    bail!("log: start value {theta} is not positive");
                }
                Ok(theta.ln())
            }
            Self::Sigmoid { lo, hi } => {
                if !(theta > lo && theta < hi) {
                    bail!(
                        "sigmoid: start value {theta} is not strictly inside the bounds ({lo}, {hi})"
                    );
                }
                let s = (theta - lo) / (hi - lo);
                Ok((s / (1.0 - s)).ln())
            }
        }
    }
}

/// What the loss compares against.
#[derive(Debug, Clone)]
pub enum Target {
    /// An observation vector: a spectrum `[R', F]` (R' = 1 when averaging regions), an FC
    /// upper triangle `[n(n−1)/2]` or an FCD distribution.
    Spectrum(Vec<f64>),
    /// Per-region peak frequencies (NaN = no target for that region).
    Peaks(Vec<f64>),
}

/// The loss pipeline for a batch of parameter sets.
#[derive(Debug, Clone)]
pub struct Objective {
    /// The simulation (monitor = the observed variable, subsampled).
    pub sim: Simulation,
    /// The Welch estimator (spectrum observations).
    pub welch: Welch,
    /// What is observed.
    pub kind: ObservationKind,
    /// FCD windows (`kind: fcd`).
    pub fcd: Option<FcdCfg>,
    /// Noise realisations each parameter set is evaluated over (the loss is their mean).
    pub realisations: usize,
    /// Free parameters.
    pub free: Vec<FreeParam>,
    /// Their transforms.
    pub transforms: Vec<Transform>,
    /// Loss kind.
    pub loss: LossKind,
    /// Region averaging.
    pub average: Average,
    /// Peak band.
    pub band: Option<[f64; 2]>,
    /// Exclude DC from peaks.
    pub exclude_dc: bool,
    /// Soft-peak temperature.
    pub tau: f64,
    /// Parameter sets per batch.
    pub batch: usize,
    /// Fixed parameters `[B, P, n]`.
    base: Tensor<3>,
    masks: Vec<Tensor<3>>,
    target: Option<Target>,
    device: Device,
}

/// The name a value has in experiment files (its serde name).
fn snake<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v)
        .unwrap_or_default()
        .trim_matches('"')
        .to_string()
}

/// The observation problem: the setup's problem recording only the observed variable.
pub fn observation_problem(setup: &NetworkSetup) -> NetworkProblem {
    let mut p = setup.problem.clone();
    p.monitor = setup.observation.clone();
    p
}

impl Objective {
    /// Builds the pipeline for `batch` parameter sets on `device`; `bounded` turns on the
    /// sigmoid transform for free parameters with both bounds.
    pub fn new(setup: &NetworkSetup, batch: usize, device: &Device, bounded: bool) -> Result<Self> {
        let n = setup.n();
        let problem = observation_problem(setup);
        let samples = problem.monitor.samples(problem.steps);
        let obs = &setup.exp.observation;
        let per_sample = match problem.monitor.bold() {
            Some(b) => b.period,
            None => obs.stride,
        };
        let fs = 1000.0 / (problem.dt * per_sample as f64);
        let spectrum = obs.kind == ObservationKind::Spectrum;
        let opt = setup.exp.optimization.as_ref();
        let loss = opt.map_or(
            match obs.kind {
                ObservationKind::Spectrum => LossKind::SpectralCorrelation,
                ObservationKind::Fc => LossKind::FcCorrelation,
                ObservationKind::Fcd => LossKind::FcdWasserstein,
            },
            |o| o.loss,
        );
        let fits = match obs.kind {
            ObservationKind::Spectrum => matches!(
                loss,
                LossKind::SpectralCorrelation | LossKind::LogSpectrumMse | LossKind::PeakFrequency
            ),
            ObservationKind::Fc => matches!(loss, LossKind::FcCorrelation | LossKind::FcRmse),
            ObservationKind::Fcd => loss == LossKind::FcdWasserstein,
        };
        let file = setup.path.display();
        if !fits {
            bail!(
                "{file}: optimization.loss = {} does not apply to observation.kind = {}; use {}",
                snake(&loss),
                snake(&obs.kind),
                match obs.kind {
                    ObservationKind::Spectrum =>
                        "spectral_correlation, log_spectrum_mse or peak_frequency",
                    ObservationKind::Fc => "fc_correlation or fc_rmse",
                    ObservationKind::Fcd => "fcd_wasserstein",
                }
            );
        }
        if !spectrum && samples < 3 {
            bail!(
                "{file}: observation: FC needs at least 3 samples of the observed signal, the run gives {samples}"
            );
        }
        if obs.kind == ObservationKind::Fcd {
            let w = obs.fcd.ok_or_else(|| {
                anyhow!("{file}: observation.kind = fcd needs observation.fcd: {{window, step}} (samples)")
            })?;
            if w.window < 3 || w.step == 0 {
                bail!(
                    "observation.fcd: window = {} must be >= 3 and step = {} >= 1",
                    w.window,
                    w.step
                );
            }
            if w.window > samples {
                bail!(
                    "{file}: observation.fcd.window = {} samples is longer than the observed series ({samples} samples)",
                    w.window
                );
            }
            if (samples - w.window) / w.step < 1 {
                bail!(
                    "{file}: observation.fcd: window {} and step {} give a single window of the {samples} samples; FCD needs at least 2",
                    w.window,
                    w.step
                );
            }
        }
        let realisations = opt.map_or(1, |o| o.noise_realisations);
        if realisations == 0 {
            bail!("{file}: optimization.noise_realisations must be >= 1");
        }
        let mut problem = problem;
        if let Some(o) = opt {
            if o.grad_horizon == Some(0) {
                bail!(
                    "{file}: optimization.grad_horizon must be >= 1 step (or null for the full gradient)"
                );
            }
            problem.grad_horizon = o.grad_horizon;
        }
        if realisations > 1 {
            let integ = &setup.exp.integration;
            if integ.noise.sigma == 0.0 || integ.noise.file.is_some() {
                bail!(
                    "{file}: optimization.noise_realisations = {realisations} needs generated noise \
                     (integration.noise.sigma > 0 and no noise file)"
                );
            }
            problem.noise = solvers::NoiseSource::realisations(
                integ.noise.seed,
                realisations,
                problem.steps,
                problem.layout().ns,
                n,
                if integ.noise.keep_in_memory {
                    crate::network::setup::NOISE_CACHE_BYTES
                } else {
                    0
                },
            );
        }
        let welch = Welch::new(
            WelchConfig {
                fs,
                nperseg: if spectrum { obs.nperseg } else { None },
                noverlap: if spectrum { obs.noverlap } else { None },
            },
            samples,
        )
        .map_err(|e| anyhow!("{file}: observation (nperseg, noverlap, stride): {e}"))?;
        check_observation(setup, &welch, samples, fs)?;
        let transforms = setup
            .free
            .iter()
            .map(|f| match (bounded, f.low, f.high) {
                (true, Some(lo), Some(hi)) => Transform::Sigmoid { lo, hi },
                _ => Transform::Identity,
            })
            .collect();
        let np = setup.n_params();
        let mut base = Vec::with_capacity(batch * np * n);
        for _ in 0..batch {
            base.extend_from_slice(&setup.base_params);
        }
        let base = Tensor::<1>::from_data(TensorData::new(base, [batch * np * n]), device)
            .reshape([batch, np, n]);
        let masks = setup
            .free
            .iter()
            .map(|f| {
                let mut m = vec![0.0; np];
                m[f.param.index()] = 1.0;
                Tensor::<1>::from_data(TensorData::new(m, [np]), device).reshape([1, np, 1])
            })
            .collect();
        Ok(Self {
            sim: Simulation(Arc::new(problem)),
            welch,
            kind: obs.kind,
            fcd: obs.fcd,
            realisations,
            free: setup.free.clone(),
            transforms,
            loss,
            average: obs.average,
            band: obs.band,
            exclude_dc: obs.exclude_dc,
            tau: opt.map_or(0.1, |o| o.peak_temperature),
            batch,
            base,
            masks,
            target: None,
            device: device.clone(),
        })
    }

    /// Packs free parameter values θ_k `[B, m_k]` (m = 1 or n) into `[B, P, n]`.
    pub fn packed(&self, thetas: &[Tensor<2>]) -> Tensor<3> {
        let mut p = self.base.clone();
        for (theta, mask) in thetas.iter().zip(&self.masks) {
            let [b, m] = theta.dims();
            let t = theta.clone().reshape([b, 1, m]);
            // p ← p·(1 − M) + θ·M, broadcasting θ over regions when it is global.
            p = p.clone() - p * mask.clone() + t * mask.clone();
        }
        p
    }

    /// The observation `[B, R', F]` of packed parameters: spectra (R' = 1 when averaging
    /// regions), or an FC upper triangle / FCD distribution (R' = 1).
    pub fn spectra(&self, packed: Tensor<3>) -> Tensor<3> {
        self.observe_trace(simulate(self.expand(packed), &self.sim))
    }

    /// Each parameter set repeated once per noise realisation (set-major, so that set `s`,
    /// realisation `r` is batch entry `s·K + r`, which the kernel gives realisation `r`).
    fn expand(&self, packed: Tensor<3>) -> Tensor<3> {
        let k = self.realisations;
        if k == 1 {
            return packed;
        }
        let [b, p, n] = packed.dims();
        packed
            .reshape([b, 1, p, n])
            .repeat_dim(1, k)
            .reshape([b * k, p, n])
    }

    /// Drops noise averaging (grids of single simulations evaluate one realisation).
    pub fn without_noise_averaging(mut self, setup: &NetworkSetup) -> Self {
        if self.realisations > 1 {
            let mut p = (*self.sim.0).clone();
            p.noise = setup.problem.noise.clone();
            self.sim = Simulation(Arc::new(p));
            self.realisations = 1;
        }
        self
    }

    /// The observation of a monitored trace `[B, T, 1, n]`.
    pub fn observe_trace(&self, trace: Tensor<4>) -> Tensor<3> {
        let [b, t, _, n] = trace.dims();
        let x = trace.reshape([b, t, n]); // [B, T, n]
        match self.kind {
            ObservationKind::Spectrum => {
                let psd = self.welch.psd(x.swap_dims(1, 2));
                match self.average {
                    Average::Regions => psd.mean_dim(1),
                    Average::None => psd,
                }
            }
            ObservationKind::Fc => {
                let u = spectra::upper_triangle(spectra::fc(x));
                let m = u.dims()[1];
                u.reshape([b, 1, m])
            }
            ObservationKind::Fcd => {
                let w = self.fcd.expect("validated in Objective::new");
                let v = spectra::fcd(x, w.window, w.step);
                let m = v.dims()[1];
                v.reshape([b, 1, m])
            }
        }
    }

    /// The observation of host traces `[B, T, 1, n]` (no tape).
    pub fn observe_host(&self, trace: Vec<f64>, batch: usize) -> Tensor<3> {
        let t = self.sim.0.monitor.samples(self.sim.0.steps);
        let n = self.sim.0.n;
        let x = Tensor::<1>::from_data(TensorData::new(trace, [batch * t * n]), &self.device)
            .reshape([batch, t, 1, n]);
        self.observe_trace(x)
    }

    /// Sets the target from the experiment's `optimization.target`, taking target files from
    /// `data`.
    pub fn set_target_with(
        &mut self,
        setup: &NetworkSetup,
        exp_path: &Path,
        data: &dyn DataSource,
    ) -> Result<()> {
        self.check_target_with(setup, exp_path, data, true)
    }

    /// Checks the target of the `optimization` section and sets it; a simulated target is only
    /// simulated when `simulate` is true (`fit validate` checks its parameters, no more).
    pub fn check_target_with(
        &mut self,
        setup: &NetworkSetup,
        exp_path: &Path,
        data: &dyn DataSource,
        simulate: bool,
    ) -> Result<()> {
        let cfg = setup
            .exp
            .optimization
            .as_ref()
            .ok_or_else(|| anyhow!("{}: no `optimization` section", exp_path.display()))?;
        let nf = self.welch.freqs().len();
        let rows = match self.average {
            Average::Regions => 1,
            Average::None => setup.n(),
        };
        let target = match &cfg.target {
            TargetCfg::Simulated { parameters } => {
                let mut params = setup.base_params.clone();
                let n = setup.n();
                for (name, v) in parameters {
                    let p = setup.param_ref(name).ok_or_else(|| {
                        anyhow!(
                            "{}: optimization.target.parameters: unknown parameter `{name}`; valid: {}",
                            exp_path.display(),
                            setup.param_names().join(", ")
                        )
                    })?;
                    if !v.is_finite() {
                        bail!(
                            "{}: target parameter {name} = {v} is not finite",
                            exp_path.display()
                        );
                    }
                    params[p.index() * n..(p.index() + 1) * n].fill(*v);
                }
                if !simulate {
                    return Ok(());
                }
                let values = self.host_spectra(&params).map_err(|e| {
                    anyhow!(
                        "{}: optimization.target (kind: simulated): {e:#}; check \
                         optimization.target.parameters and the integration settings",
                        exp_path.display()
                    )
                })?;
                check_target_values(&values, exp_path, "the simulated target", self.loss)?;
                Target::Spectrum(values)
            }
            TargetCfg::File { path } if self.kind == ObservationKind::Fc => {
                // An FC matrix: a BIDS relmat `.tsv` (the shipped empirical FC), a CSV or an
                // `.npy` [n, n]; the loss compares its upper triangle.
                let p = data.resolve(path).map_err(|e| {
                    anyhow!("{}: optimization.target.path: {e:#}", exp_path.display())
                })?;
                let n = setup.n();
                let values: Vec<f64> = if p.extension().is_some_and(|e| e == "npy") {
                    let (v, shape) = data.array(&p)?;
                    if shape != [n, n] {
                        bail!(
                            "{}: optimization.target: FC target has shape {shape:?} but the connectome has {n} regions ([{n}, {n}] needed)",
                            p.display()
                        );
                    }
                    v
                } else {
                    let m = data.matrix(&p)?;
                    if m.len() != n || m.iter().any(|r| r.len() != n) {
                        bail!(
                            "{}: optimization.target: FC target is {}x{} but the connectome has {n} regions",
                            p.display(),
                            m.len(),
                            m.first().map_or(0, |r| r.len())
                        );
                    }
                    m.into_iter().flatten().collect()
                };
                if let Some(k) = values.iter().position(|v| !v.is_finite()) {
                    bail!(
                        "{}: optimization.target: FC entry [{}, {}] = {} is not finite",
                        p.display(),
                        k / n,
                        k % n,
                        values[k]
                    );
                }
                let upper: Vec<f64> = spectra::fc::upper_indices(n)
                    .into_iter()
                    .map(|k| values[k as usize])
                    .collect();
                Target::Spectrum(upper)
            }
            TargetCfg::File { path } if self.kind == ObservationKind::Fcd => {
                let p = data.resolve(path).map_err(|e| {
                    anyhow!("{}: optimization.target.path: {e:#}", exp_path.display())
                })?;
                let (values, _) = data.array(&p)?;
                if values.len() < 2 || values.iter().any(|v| !v.is_finite()) {
                    bail!(
                        "{}: optimization.target: an FCD target needs at least 2 finite values",
                        p.display()
                    );
                }
                Target::Spectrum(values)
            }
            TargetCfg::File { path } => {
                let p = data.resolve(path).map_err(|e| {
                    anyhow!("{}: optimization.target.path: {e:#}", exp_path.display())
                })?;
                let values: Vec<f64> = if p.extension().is_some_and(|e| e == "csv") {
                    let (_, csv_rows) = data.table(&p)?;
                    let freqs = self.welch.freqs();
                    // `freq,power` rows: the frequencies must be the Welch bins (per region
                    // block when the spectra are per region).
                    for (k, r) in csv_rows.iter().enumerate() {
                        if r.len() != 2 {
                            bail!(
                                "{}:{}: optimization.target.path: a CSV target needs two \
                                 columns `freq,power`, this row has {}",
                                p.display(),
                                k + 2,
                                r.len()
                            );
                        }
                        if let Some(f) = freqs.get(k % freqs.len().max(1))
                            && (r[0] - f).abs() > 1e-9 * f.abs().max(1.0)
                        {
                            bail!(
                                "{}:{}: optimization.target.path: frequency {} Hz is not the \
                                 Welch bin {f} Hz of the observation (fs = {} Hz, {} bins); \
                                 check observation.stride, observation.nperseg and \
                                 integration.dt",
                                p.display(),
                                k + 2,
                                r[0],
                                2.0 * freqs.last().copied().unwrap_or(0.0),
                                freqs.len()
                            );
                        }
                    }
                    csv_rows.iter().map(|r| r[1]).collect()
                } else {
                    data.array(&p)?.0
                };
                if values.len() != rows * nf {
                    bail!(
                        "{}: target spectrum has {} values but the observation gives [{rows}, {nf}] bins",
                        p.display(),
                        values.len()
                    );
                }
                check_target_values(&values, &p, "optimization.target.path", self.loss)?;
                Target::Spectrum(values)
            }
            TargetCfg::MegAlpha {
                path,
                freq_low,
                freq_high,
            } => {
                if self.loss != LossKind::PeakFrequency || self.average != Average::None {
                    bail!(
                        "{}: a meg_alpha target needs `loss: peak_frequency` and `observation.average: none`",
                        exp_path.display()
                    );
                }
                let p = match path {
                    Some(p) => data.resolve(p).map_err(|e| {
                        anyhow!("{}: optimization.target.path: {e:#}", exp_path.display())
                    })?,
                    None => data.resolve("meg_alpha")?.join(
                        "tpl-MNI152NLin2009c_atlas-DesikanKilliany_desc-MEGAlpha_dscalar.yaml",
                    ),
                };
                let amp = data.meg_alpha(&p, setup.connectome.labels())?;
                let vals: Vec<f64> = amp.iter().flatten().copied().collect();
                let (lo, hi) = vals
                    .iter()
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                        (a.min(v), b.max(v))
                    });
                let peaks = amp
                    .iter()
                    .map(|a| {
                        a.map_or(f64::NAN, |a| {
                            freq_low + (freq_high - freq_low) * (a - lo) / (hi - lo)
                        })
                    })
                    .collect();
                Target::Peaks(peaks)
            }
        };
        self.target = Some(target);
        Ok(())
    }

    /// The target, once set.
    pub fn target(&self) -> Option<&Target> {
        self.target.as_ref()
    }

    /// The observation of one packed parameter set `[P, n]` computed without the tape,
    /// flattened.
    pub fn host_spectra(&self, params: &[f64]) -> Result<Vec<f64>> {
        // With noise averaging, the mean observation over the realisations.
        let k = self.realisations;
        let all: Vec<f64> = (0..k).flat_map(|_| params.iter().copied()).collect();
        let (out, _) = network_kernel::forward(&self.sim.0, &all, false);
        if let Some(k) = out.trace.iter().position(|v| !v.is_finite()) {
            bail!(
                "target simulation diverged (sample {k} is {})",
                out.trace[k]
            );
        }
        Ok(self
            .observe_host(out.trace, k)
            .mean_dim(0)
            .into_data()
            .convert::<f64>()
            .try_into_vec()?)
    }

    /// Per-set losses `[B]` of spectra `[B, R', F]` against the target.
    pub fn loss_of(&self, spectra: Tensor<3>) -> Result<Tensor<1>> {
        let [b, r, nf] = spectra.dims();
        let target = self
            .target
            .as_ref()
            .ok_or_else(|| anyhow!("objective has no target"))?;
        let per_set = match (self.loss, target) {
            (LossKind::SpectralCorrelation | LossKind::LogSpectrumMse, Target::Spectrum(t)) => {
                let t = Tensor::<1>::from_data(TensorData::new(t.clone(), [r * nf]), &self.device)
                    .reshape([1, r, nf]);
                let l = if self.loss == LossKind::SpectralCorrelation {
                    one_minus_correlation(spectra, t)
                } else {
                    log_spectrum_mse(spectra, t)
                };
                l.mean_dim(1).reshape([b])
            }
            (LossKind::PeakFrequency, t) => {
                let peaks = soft_peak_frequency(
                    spectra,
                    self.welch.freqs(),
                    self.band,
                    self.exclude_dc,
                    self.tau,
                )
                .reshape([b, r]);
                let goal: Vec<f64> = match t {
                    Target::Peaks(p) => p.clone(),
                    Target::Spectrum(s) => (0..r)
                        .map(|k| {
                            spectra::peak_frequency(
                                self.welch.freqs(),
                                &s[k * nf..(k + 1) * nf],
                                self.band,
                                self.exclude_dc,
                            )
                        })
                        .collect(),
                };
                if goal.len() != r {
                    bail!("{} target peaks for {r} spectra", goal.len());
                }
                let mask: Vec<f64> = goal
                    .iter()
                    .map(|g| if g.is_finite() { 1.0 } else { 0.0 })
                    .collect();
                let count = mask.iter().sum::<f64>().max(1.0);
                let goal: Vec<f64> = goal
                    .iter()
                    .map(|g| if g.is_finite() { *g } else { 0.0 })
                    .collect();
                let goal = Tensor::<1>::from_data(TensorData::new(goal, [r]), &self.device)
                    .reshape([1, r]);
                let mask = Tensor::<1>::from_data(TensorData::new(mask, [r]), &self.device)
                    .reshape([1, r]);
                let d = (peaks - goal) * mask;
                (d.clone() * d)
                    .sum_dim(1)
                    .reshape([b])
                    .mul_scalar(1.0 / count)
            }
            (LossKind::FcCorrelation, Target::Spectrum(t)) => {
                spectra::fc_correlation_loss(spectra.reshape([b, r * nf]), t)
            }
            (LossKind::FcRmse, Target::Spectrum(t)) => {
                spectra::fc_rmse(spectra.reshape([b, r * nf]), t)
            }
            (LossKind::FcdWasserstein, Target::Spectrum(t)) => {
                spectra::wasserstein_1(spectra.reshape([b, r * nf]), t)
            }
            (kind, Target::Peaks(_)) => bail!("loss {kind:?} needs a spectrum target, not peaks"),
        };
        // With noise averaging, the mean over each set's realisations.
        let k = self.realisations;
        if k > 1 {
            return Ok(per_set.reshape([b / k, k]).mean_dim(1).reshape([b / k]));
        }
        Ok(per_set)
    }
}

/// A target spectrum the loss can use: finite, and not constant when the loss correlates.
fn check_target_values(values: &[f64], file: &Path, what: &str, loss: LossKind) -> Result<()> {
    if let Some(k) = values.iter().position(|v| !v.is_finite()) {
        bail!(
            "{}: {what}: value {k} is {} — the target spectrum must be finite",
            file.display(),
            values[k]
        );
    }
    if loss == LossKind::LogSpectrumMse
        && let Some(k) = values.iter().position(|v| *v <= 0.0)
    {
        bail!(
            "{}: {what}: value {k} is {} — log_spectrum_mse needs a positive target spectrum",
            file.display(),
            values[k]
        );
    }
    let constant = values.windows(2).all(|w| w[0] == w[1]);
    if constant && loss == LossKind::SpectralCorrelation {
        bail!(
            "{}: {what} is constant ({}): its correlation with any spectrum is undefined; \
             use a spectrum with a shape, or optimization.loss: log_spectrum_mse",
            file.display(),
            values.first().copied().unwrap_or(f64::NAN)
        );
    }
    Ok(())
}

/// Observation settings that would give a NaN spectrum or peak statistic, named before the
/// first simulation: too few samples or a one-sample Welch segment, a band outside
/// `[0, fs/2]`, reversed or holding no bin, a non-positive peak temperature.
fn check_observation(setup: &NetworkSetup, welch: &Welch, samples: usize, fs: f64) -> Result<()> {
    let file = setup.path.display();
    let obs = &setup.exp.observation;
    if obs.kind != ObservationKind::Spectrum {
        return Ok(());
    }
    if samples < 4 {
        bail!(
            "{file}: observation: the spectrum needs at least 4 samples of the observed signal, \
             the run gives {samples} (integration.duration / (integration.dt · \
             observation.stride)); lengthen integration.duration or lower observation.stride"
        );
    }
    if let Some(np) = obs.nperseg
        && np < 4
    {
        bail!(
            "{file}: observation.nperseg = {np}: a Welch segment needs at least 4 samples \
             (or null for the whole series)"
        );
    }
    let nyquist = fs / 2.0;
    if let Some([lo, hi]) = obs.band {
        if !(lo.is_finite() && hi.is_finite()) || lo < 0.0 || lo >= hi || lo > nyquist {
            bail!(
                "{file}: observation.band = [{lo}, {hi}] Hz must be [low, high] with \
                 0 <= low < high and low <= the Nyquist frequency {nyquist} Hz \
                 (fs = {fs} Hz from integration.dt and observation.stride)"
            );
        }
        let freqs = welch.freqs();
        let inside = freqs
            .iter()
            .filter(|f| **f >= lo && **f <= hi && !(obs.exclude_dc && **f == 0.0))
            .count();
        if inside == 0 {
            bail!(
                "{file}: observation.band = [{lo}, {hi}] Hz holds none of the {} Welch bins \
                 (0 … {nyquist} Hz, spacing {} Hz); widen the band or lengthen \
                 observation.nperseg",
                freqs.len(),
                freqs.get(1).copied().unwrap_or(0.0)
            );
        }
    }
    if let Some(o) = &setup.exp.optimization
        && !(o.peak_temperature.is_finite() && o.peak_temperature > 0.0)
    {
        bail!(
            "{file}: optimization.peak_temperature = {} must be a finite positive number \
             (the softmax temperature of the peak frequency)",
            o.peak_temperature
        );
    }
    Ok(())
}
