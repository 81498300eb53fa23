//! The registered neural mass models, one file each.
//!
//! Adding a model: write `models/<name>.rs` implementing [`crate::NodeModel`] and add one line
//! `Type => module,` to the `models!` list below. The model is then selectable by `model.name`
//! in experiment files, runs in every kernel, oracle and command, and the generic model suite
//! (`tests/model_suite.rs`) checks it.

use crate::model::{ModelInfo, NodeModel};

/// Runs generic code for a model chosen at run time: `visit::<M>()` is monomorphised per model,
/// so the step loop inside it has no dynamic dispatch.
pub trait ModelVisitor {
    /// What the visit returns.
    type Output;
    /// Called with the concrete model type.
    fn visit<M: NodeModel>(self) -> Self::Output;
}

macro_rules! models {
    ($($ty:ident => $module:ident),* $(,)?) => {
        $(mod $module; pub use $module::$ty;)*

        /// A registered model, chosen at run time by name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ModelKind {
            $(#[doc = concat!("[`", stringify!($ty), "`]")] $ty,)*
        }

        impl ModelKind {
            /// Every registered model.
            pub const ALL: &'static [ModelKind] = &[$(ModelKind::$ty),*];

            /// Runs `v` with the concrete model type.
            pub fn visit<V: ModelVisitor>(self, v: V) -> V::Output {
                match self { $(Self::$ty => v.visit::<$ty>()),* }
            }

            /// Its description.
            pub fn info(self) -> ModelInfo {
                match self { $(Self::$ty => ModelInfo::of::<$ty>()),* }
            }
        }
    };
}

models! {
    JansenRit => jansen_rit,
    Generic2dOscillator => generic_2d_oscillator,
    ReducedWongWang => reduced_wong_wang,
    MontbrioPazoRoxin => montbrio_pazo_roxin,
    WilsonCowan => wilson_cowan,
}

impl ModelKind {
    /// Looks a model up by name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|m| m.info().name == name)
    }

    /// Names of all registered models.
    pub fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|m| m.info().name).collect()
    }
}
