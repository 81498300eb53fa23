//! The network experiment schema (YAML), modelled on TVB-O's `SimulationExperiment`, for every
//! registered neural mass model.
//!
//! Sections mirror TVB-O so its users can map them one-to-one: `model`, `connectivity`,
//! `coupling`, `integration`, `initial_conditions`, `monitors`, plus neurodyn's `observation`
//! (the spectrum a loss looks at), `optimization`, `exploration` and `outputs`. Every struct
//! denies unknown fields, so a typo is an error naming file, line, field and valid names; model
//! and coupling parameter names are checked against the chosen model's and coupling's tables.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A parameter value: one number for every region, or one per region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// The same value in every region.
    Scalar(f64),
    /// One value per region.
    PerRegion(Vec<f64>),
}

/// One model or coupling parameter: its value and, for fits and grids, how it may vary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Param {
    /// Name as TVB-O writes it (optional, must match the key when given).
    #[serde(default)]
    pub name: Option<String>,
    /// Value (scalar or per region).
    pub value: Value,
    /// Fitted or explored when true.
    #[serde(default)]
    pub free: bool,
    /// Lower bound (fits: smooth bound; grids: first point).
    #[serde(default)]
    pub low: Option<f64>,
    /// Upper bound (fits: smooth bound; grids: last point).
    #[serde(default)]
    pub high: Option<f64>,
    /// Grid points along this axis (exploration).
    #[serde(default)]
    pub n: Option<usize>,
    /// Fit one value per region instead of one global value.
    #[serde(default)]
    pub per_region: bool,
    /// Unit, for documentation only.
    #[serde(default)]
    pub unit: Option<String>,
    /// How a fit moves a free parameter: `identity`, `log` (θ = exp(u), θ > 0) or `sigmoid`
    /// (θ in (low, high)); `null` = `optimization.bounds`.
    #[serde(default)]
    pub transform: Option<crate::network::optimizer::TransformCfg>,
}

/// `model:` section: a registered network model by name and values for its parameters.
///
/// The parameter names are checked against the chosen model's table (see
/// `dynamics::models`); omitted parameters take the model's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelCfg {
    /// Model name (`JansenRit`, `Generic2dOscillator`, `ReducedWongWang`, …).
    pub name: String,
    /// Parameters by name.
    #[serde(default)]
    pub parameters: BTreeMap<String, Param>,
}

/// `coupling:` section: a registered coupling function by name and its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CouplingCfg {
    /// Coupling function (`Linear`, `Sigmoidal`, `SigmoidalJansenRit`, `Difference`).
    pub name: String,
    /// Its parameters by name.
    #[serde(default)]
    pub parameters: BTreeMap<String, Param>,
}

/// Weight normalisation choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NormCfg {
    /// Raw weights (TVB-O default).
    #[default]
    None,
    /// Divide by the largest weight.
    Max,
    /// Each row sums to one.
    RowSum,
}

/// `connectivity:` section: a shipped dataset by name, or files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectivityCfg {
    /// Shipped dataset (`dk_average`, `dk87_dtor`) or a folder holding one.
    #[serde(default)]
    pub dataset: Option<String>,
    /// Weights file (CSV/TSV or BIDS relmat `.tsv`), instead of a dataset.
    #[serde(default)]
    pub weights: Option<String>,
    /// Tract lengths file (mm).
    #[serde(default)]
    pub lengths: Option<String>,
    /// Region labels file (one per line, or BIDS `nodeindices.tsv`).
    #[serde(default)]
    pub labels: Option<String>,
    /// Conduction speed (mm/ms): a number, or `{value, free: true, low, high}` to fit it
    /// (needs `history_interpolation: linear`).
    #[serde(default = "default_speed")]
    pub conduction_speed: SpeedCfg,
    /// How delays read the history: `none` (integer delays, TVB-O's; the default) or `linear`
    /// (interpolation between the two neighbouring slots, tvboptim's; differentiable in the
    /// conduction speed).
    #[serde(default)]
    pub history_interpolation: InterpolationCfg,
    /// Weight normalisation.
    #[serde(default)]
    pub normalisation: NormCfg,
}

fn default_speed() -> SpeedCfg {
    SpeedCfg::Value(3.0)
}

/// `connectivity.conduction_speed`: a number, or a parameter entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SpeedCfg {
    /// A fixed speed (mm/ms).
    Value(f64),
    /// A parameter entry (`value`, `free`, `low`, `high`, `n`).
    Param(Param),
}

impl SpeedCfg {
    /// The (start) value, if it is one number.
    pub fn value(&self) -> Option<f64> {
        match self {
            Self::Value(v) => Some(*v),
            Self::Param(p) => match p.value {
                Value::Scalar(v) => Some(v),
                Value::PerRegion(_) => None,
            },
        }
    }
}

/// `connectivity.history_interpolation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InterpolationCfg {
    /// Integer delays (rounded half to even).
    #[default]
    None,
    /// Linear interpolation between the two neighbouring history slots.
    Linear,
}

/// Integration methods (see `solvers::integrator`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Method {
    /// Forward Euler; Euler–Maruyama with noise.
    Euler,
    /// Heun; with noise the stochastic Heun of TVB-O (the same increment in predictor and
    /// corrector).
    Heun,
    /// Classical fourth-order Runge-Kutta (deterministic only).
    RK4,
}

/// `integration.noise:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoiseCfg {
    /// σ of the additive noise (η = sqrt(dt)·σ·ξ on every state variable).
    #[serde(default)]
    pub sigma: f64,
    /// Seed of the ChaCha8 generator drawing ξ.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// `.npy` of standard normal draws `[steps, state variables, nodes]` used instead of the
    /// generator.
    #[serde(default)]
    pub file: Option<String>,
    /// Keep the generated draws in memory between the evaluations of a fit when they take at
    /// most 64 MiB (faster; the same numbers either way). `false` draws them inside the kernel
    /// at every evaluation, so memory does not grow with the run length.
    #[serde(default = "yes_noise")]
    pub keep_in_memory: bool,
}

fn default_seed() -> u64 {
    42
}

fn yes_noise() -> bool {
    true
}

impl Default for NoiseCfg {
    fn default() -> Self {
        Self {
            sigma: 0.0,
            seed: default_seed(),
            file: None,
            keep_in_memory: true,
        }
    }
}

/// `integration:` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntegrationCfg {
    /// Method: `Euler`, `Heun` (default) or `RK4`.
    #[serde(default = "default_method")]
    pub method: Method,
    /// Step (ms).
    pub dt: f64,
    /// Duration (ms), a multiple of dt.
    pub duration: f64,
    /// Additive noise.
    #[serde(default)]
    pub noise: NoiseCfg,
    /// Steps per checkpoint segment of the adjoint (memory vs recomputation).
    #[serde(default = "default_segment")]
    pub segment: usize,
}

fn default_method() -> Method {
    Method::Heun
}

fn default_segment() -> usize {
    100
}

/// `initial_conditions:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "snake_case")]
pub enum InitialCfg {
    /// Every state and history entry equal to `value` (TVB-O: 0.1), or one value per state
    /// variable (`{V: 0.1, W: -0.5}`).
    Cold {
        /// The value(s).
        #[serde(default = "default_cold")]
        value: ColdValue,
    },
    /// Run `transient` ms from a cold start first and start from its end (state and history).
    Warm {
        /// Transient length (ms).
        transient: f64,
    },
    /// Start from the end of a previous run's `trace.npy` (`[steps, state variables, nodes]`,
    /// all variables recorded).
    File {
        /// Path of the trace.
        path: String,
    },
}

/// A constant initial value: one for all state variables, or one per variable by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ColdValue {
    /// The same value for every state variable.
    All(f64),
    /// A value per state variable (missing ones: 0.1).
    PerVariable(BTreeMap<String, f64>),
}

fn default_cold() -> ColdValue {
    ColdValue::All(0.1)
}

impl Default for InitialCfg {
    fn default() -> Self {
        Self::Cold {
            value: default_cold(),
        }
    }
}

/// How a monitor forms its samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MonitorKindCfg {
    /// Every `stride`-th state (`raw` with stride 1).
    #[default]
    Subsample,
    /// Every state (stride must be 1).
    Raw,
    /// Mean over windows of `stride` steps (TVB's TemporalAverage).
    TemporalAverage,
}

/// `monitors:` section (what `fit simulate` records).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorCfg {
    /// Sampling: `subsample` (default), `raw` or `temporal_average`.
    #[serde(default)]
    pub kind: MonitorKindCfg,
    /// Steps per sample (1 = TVB-O's Raw monitor).
    #[serde(default = "one")]
    pub stride: usize,
    /// Recorded variables by name; `null` = every state variable of the model.
    #[serde(default)]
    pub variables: Option<Vec<String>>,
}

fn one() -> usize {
    1
}

impl Default for MonitorCfg {
    fn default() -> Self {
        Self {
            kind: MonitorKindCfg::Subsample,
            stride: 1,
            variables: None,
        }
    }
}

/// How spectra of regions are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Average {
    /// Mean over regions (the seed's `avg_spectrum`).
    #[default]
    Regions,
    /// One spectrum per region (heterogeneous fits).
    None,
}

/// `observation:` section: the spectrum fits and grids look at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObservationCfg {
    /// Variable whose spectrum is taken; `null` = the model's default variable of interest.
    #[serde(default)]
    pub variable: Option<String>,
    /// Subsampling stride (seed: 10, i.e. fs = 100 Hz at dt = 1 ms).
    #[serde(default = "ten")]
    pub stride: usize,
    /// Welch segment length; `null` = the whole input (what TVB-O's JAX call does).
    #[serde(default)]
    pub nperseg: Option<usize>,
    /// Welch overlap; `null` = nperseg / 2.
    #[serde(default)]
    pub noverlap: Option<usize>,
    /// Region averaging.
    #[serde(default)]
    pub average: Average,
    /// Frequency band (Hz) for peak statistics; `null` = all bins.
    #[serde(default)]
    pub band: Option<[f64; 2]>,
    /// Exclude the DC bin from peak statistics.
    #[serde(default)]
    pub exclude_dc: bool,
    /// What is observed: the Welch spectrum (default), functional connectivity or its
    /// dynamics.
    #[serde(default)]
    pub kind: ObservationKind,
    /// Observe the BOLD signal of the Balloon-Windkessel model instead of the raw variable.
    #[serde(default)]
    pub bold: Option<BoldCfg>,
    /// Sliding windows of the FCD (`kind: fcd`).
    #[serde(default)]
    pub fcd: Option<FcdCfg>,
}

/// The observation an objective or grid looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObservationKind {
    /// Welch spectrum of the observed signal.
    #[default]
    Spectrum,
    /// Functional connectivity: Pearson correlation across regions (upper triangle).
    Fc,
    /// Sliding-window FC dynamics: the distribution of window-to-window FC correlations.
    Fcd,
}

/// `observation.bold`: the BOLD monitor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoldCfg {
    /// Constant set: `classical` (Friston 2003, default) or `revised` (Stephan 2007).
    #[serde(default = "classical")]
    pub constants: String,
    /// Driving signal: a state variable (`S`) or a difference of two (`y1 - y2`); `null` = the
    /// observed variable.
    #[serde(default)]
    pub driver: Option<String>,
    /// Sampling period (the TR) in ms; a multiple of dt.
    pub period: f64,
    /// Transient discarded before the first sample (ms); a multiple of dt.
    #[serde(default)]
    pub transient: f64,
}

fn classical() -> String {
    "classical".into()
}

/// `observation.fcd`: sliding windows, in samples of the observed signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FcdCfg {
    /// Window length (samples).
    pub window: usize,
    /// Step between window starts (samples).
    pub step: usize,
}

fn ten() -> usize {
    10
}

impl Default for ObservationCfg {
    fn default() -> Self {
        Self {
            variable: None,
            kind: ObservationKind::Spectrum,
            bold: None,
            fcd: None,
            stride: 10,
            nperseg: None,
            noverlap: None,
            average: Average::Regions,
            band: None,
            exclude_dc: false,
        }
    }
}

/// Loss functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossKind {
    /// 1 − Pearson correlation of spectra (the seed's loss).
    SpectralCorrelation,
    /// Mean squared error of log spectra.
    LogSpectrumMse,
    /// Squared error of the softmax-weighted peak frequency against target peaks.
    PeakFrequency,
    /// 1 − Pearson correlation of FC upper triangles (`observation.kind: fc`).
    FcCorrelation,
    /// Root mean square difference of FC upper triangles (`observation.kind: fc`).
    FcRmse,
    /// Wasserstein-1 distance between FCD distributions (`observation.kind: fcd`).
    FcdWasserstein,
}

/// Where the target comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "snake_case")]
pub enum TargetCfg {
    /// The spectrum simulated at these parameter values (same noise): parameter recovery.
    Simulated {
        /// Model parameter values (`a`, `b`, …) overriding the experiment's.
        parameters: std::collections::BTreeMap<String, f64>,
    },
    /// A spectrum from `.npy` (values per bin) or CSV (`freq,power`).
    File {
        /// Path.
        path: String,
    },
    /// Per-region peak frequencies from the MEG alpha amplitudes, mapped linearly from the
    /// amplitude range to `[freq_low, freq_high]` Hz.
    MegAlpha {
        /// Path of the dscalar YAML (default: datasets/meg_alpha).
        #[serde(default)]
        path: Option<String>,
        /// Frequency of the smallest amplitude (Hz).
        freq_low: f64,
        /// Frequency of the largest amplitude (Hz).
        freq_high: f64,
    },
}

/// Adam settings (optax names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdamCfg {
    /// Learning rate.
    pub lr: f64,
    /// First-moment decay.
    #[serde(default = "b1")]
    pub beta1: f64,
    /// Second-moment decay.
    #[serde(default = "b2")]
    pub beta2: f64,
    /// Denominator epsilon (optax default 1e-8).
    #[serde(default = "eps")]
    pub eps: f64,
}

fn b1() -> f64 {
    0.9
}
fn b2() -> f64 {
    0.999
}
fn eps() -> f64 {
    1e-8
}

/// `optimization:` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimizationCfg {
    /// Adam settings (the short form; `optimizer:` is the general one).
    #[serde(default)]
    pub adam: Option<AdamCfg>,
    /// The optimizer by name with its settings (`adam`, `adamw`, `adamax`, `sgd`, `lbfgs`).
    #[serde(default)]
    pub optimizer: Option<crate::network::optimizer::OptimizerCfg>,
    /// Learning-rate schedule (the optimizer's `lr` is its base value).
    #[serde(default)]
    pub schedule: Option<crate::network::optimizer::ScheduleCfg>,
    /// Stop early on a plateau of the loss or at a target loss.
    #[serde(default)]
    pub early_stopping: Option<crate::network::optimizer::EarlyStoppingCfg>,
    /// End on the parameters of the lowest loss seen rather than on the last ones.
    #[serde(default)]
    pub restore_best: bool,
    /// Clip every gradient component to `[-clip_value, clip_value]`.
    #[serde(default)]
    pub clip_value: Option<f64>,
    /// Number of optimizer steps.
    pub steps: usize,
    /// Loss.
    #[serde(default = "default_loss")]
    pub loss: LossKind,
    /// Target.
    pub target: TargetCfg,
    /// Write a checkpoint every this many steps (and at the end).
    #[serde(default = "five")]
    pub checkpoint_every: usize,
    /// Clip the global gradient norm to this value.
    #[serde(default)]
    pub grad_clip: Option<f64>,
    /// Temperature τ of the differentiable peak statistic (weights ∝ P^(1/τ)).
    #[serde(default = "default_temp")]
    pub peak_temperature: f64,
    /// Keep free parameters inside `[low, high]` with a smooth (sigmoid) transform.
    #[serde(default)]
    pub bounds: BoundsCfg,
    /// Average the loss over this many independent noise realisations (ChaCha streams 0…K−1
    /// of `integration.noise.seed`), evaluated as one batch; the simulated target is the mean
    /// observation over the same realisations at the true parameters.
    #[serde(default = "one_realisation")]
    pub noise_realisations: usize,
    /// Gradient horizon in steps (truncated backpropagation through time, tvboptim's
    /// `grad_horizon`): gradients flow back at most this many steps; `null` = the full
    /// gradient. The forward pass is unchanged.
    #[serde(default)]
    pub grad_horizon: Option<usize>,
}

fn one_realisation() -> usize {
    1
}

/// Whether fits respect parameter bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BoundsCfg {
    /// Adam on the raw values (as the JAX/optax peer); `low`/`high` only bound grids.
    #[default]
    None,
    /// θ = low + (high − low)·sigmoid(u), Adam on u.
    Sigmoid,
}

fn default_loss() -> LossKind {
    LossKind::SpectralCorrelation
}
fn five() -> usize {
    5
}
fn default_temp() -> f64 {
    0.1
}

/// Statistics a grid can record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Statistic {
    /// Frequency of the spectral maximum (Hz).
    PeakFrequency,
    /// Value of the spectral maximum.
    SpectralMax,
    /// The optimization loss against its target.
    Loss,
    /// Pearson correlation of the simulated FC with the target FC (`observation.kind: fc`).
    FcCorrelation,
    /// Peak power over the median power of the band (a flat noise floor gives ~1–3).
    PeakSignificance,
}

/// `exploration:` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExplorationCfg {
    /// Statistics recorded per grid point.
    #[serde(default = "default_stats")]
    pub statistics: Vec<Statistic>,
    /// Parameter sets per batched chunk; `null` = chosen from memory.
    #[serde(default)]
    pub chunk: Option<usize>,
    /// Use every grid point as a start for Adam (grid of fits) instead of simulating it.
    #[serde(default)]
    pub fit: bool,
    /// Mask peak frequencies whose peak is not significant: cells whose peak power is below
    /// this multiple of the band's median power are NaN in `grid_peak_frequency` (grey in its
    /// plot). `null` (the default) keeps every cell.
    #[serde(default)]
    pub peak_significance_threshold: Option<f64>,
}

fn default_stats() -> Vec<Statistic> {
    vec![Statistic::PeakFrequency]
}

/// `outputs:` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputsCfg {
    /// Default run folder (overridden by `--out`).
    #[serde(default)]
    pub dir: Option<String>,
    /// Write `trace.npy` in `fit simulate`.
    #[serde(default = "yes")]
    pub trace: bool,
    /// Variable drawn in the per-region PNG; `null` = the model's default variable of interest.
    #[serde(default)]
    pub plot_variable: Option<String>,
    /// Write PNG plots.
    #[serde(default = "yes")]
    pub plots: bool,
}

fn yes() -> bool {
    true
}

impl Default for OutputsCfg {
    fn default() -> Self {
        Self {
            dir: None,
            trace: true,
            plot_variable: None,
            plots: true,
        }
    }
}

/// A network experiment file (any registered model on a connectome).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// Free-text description.
    #[serde(default)]
    pub description: Option<String>,
    /// The neural mass model.
    pub model: ModelCfg,
    /// The structural network.
    pub connectivity: ConnectivityCfg,
    /// The coupling function.
    pub coupling: CouplingCfg,
    /// The integrator.
    pub integration: IntegrationCfg,
    /// Initial conditions.
    #[serde(default)]
    pub initial_conditions: InitialCfg,
    /// What `fit simulate` records.
    #[serde(default)]
    pub monitors: MonitorCfg,
    /// The spectrum used by fits and grids.
    #[serde(default)]
    pub observation: ObservationCfg,
    /// Fit settings.
    #[serde(default)]
    pub optimization: Option<OptimizationCfg>,
    /// Grid settings.
    #[serde(default)]
    pub exploration: Option<ExplorationCfg>,
    /// Output settings.
    #[serde(default)]
    pub outputs: OutputsCfg,
    /// burn backend (`flex` or `ndarray`).
    #[serde(default = "default_backend")]
    pub backend: String,
}

fn default_backend() -> String {
    "flex".into()
}
