//! # backend — a burn device configured for `f64`
//!
//! Every layer (models, solvers, spectra, the family crates, the fitting library and the command
//! line) asks here for its device, so that none of them needs the model crate for it.
//!
//! burn 0.22 selects the backend at run time through the `Device`; the default float type is a
//! per-device setting that can be set only once per process, before the first tensor is made.
//! [`f64_device`] does that exactly once per backend (thread-safe), so every test and command can
//! ask for a device without racing on the configuration.

use burn::tensor::{Device, FloatDType};
use std::sync::Once;

/// CPU backends neurodyn is built and tested with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum BackendKind {
    /// burn's pure-Rust Flex CPU backend (the default: faster in our benchmarks).
    #[default]
    Flex,
    /// burn-ndarray, the backend named in the design card.
    NdArray,
}

impl BackendKind {
    /// All names accepted in experiment files and on the command line.
    pub const NAMES: [&'static str; 2] = ["flex", "ndarray"];

    /// Parses a backend name (`flex` or `ndarray`).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "flex" => Some(Self::Flex),
            "ndarray" => Some(Self::NdArray),
            _ => None,
        }
    }

    /// The name used in files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Flex => "flex",
            Self::NdArray => "ndarray",
        }
    }
}

static CONFIGURE: Once = Once::new();

// burn 0.22 marks burn-ndarray deprecated in favour of Flex; the design card requires it, so
// it stays supported and tested.

/// Returns a device of the given backend whose default float type is `f64`; with `autodiff`,
/// the autodiff-tracking view of the same device.
#[allow(deprecated)]
pub fn f64_device(kind: BackendKind, autodiff: bool) -> Device {
    CONFIGURE.call_once(|| {
        // The default device is configured too: burn loads optimizer state onto it.
        for mut device in [Device::flex(), Device::ndarray(), Device::default()] {
            // Already-initialised devices keep their settings; nothing else can fail here.
            let _ = device.configure(FloatDType::F64);
        }
    });
    let device = match kind {
        BackendKind::Flex => Device::flex(),
        BackendKind::NdArray => Device::ndarray(),
    };
    if autodiff { device.autodiff() } else { device }
}

/// Reads a float primitive of any CPU backend into host `f64` values (row-major): what every
/// custom operation (the network simulation, Welch, the SSA, the rate network's transfer
/// function and fixed point) does with its inputs and upstream gradients. A CPU tensor's read
/// cannot fail; converting to `f64` from any float type cannot either.
pub fn float_to_host<B: burn::backend::Backend>(
    tensor: burn::backend::tensor::FloatTensor<B>,
) -> Vec<f64> {
    let data = burn::tensor::read_sync(B::float_into_data(tensor))
        .expect("reading a CPU tensor cannot fail");
    data.convert::<f64>()
        .try_into_vec::<f64>()
        .expect("converted to f64")
}
