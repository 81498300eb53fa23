//! The BOLD monitor: the Balloon-Windkessel haemodynamic model driven by neural activity,
//! integrated alongside the network inside the fused kernel (and its adjoint).
//!
//! Per region, with the driving signal `u` (a chosen state variable or a difference of two, e.g.
//! Reduced Wong-Wang's `S` or Jansen-Rit's `y1 − y2`) and time in **seconds**:
//!
//! ```text
//! ds/dt = u − κ s − γ (f − 1)                     (vasodilatory signal)
//! df/dt = s                                        (inflow)
//! dv/dt = (f − v^(1/α)) / τ                        (blood volume)
//! dq/dt = (f (1 − (1 − ρ)^(1/f)) / ρ − q v^(1/α) / v) / τ     (deoxyhaemoglobin)
//! BOLD  = V0 (k1 (1 − q) + k2 (1 − q/v) + k3 (1 − v))
//! ```
//!
//! Explicit Euler at the neural step: after network step `k` produced `X_{k+1}`,
//! `z_{k+1} = z_k + (dt/1000)·g(z_k, u(X_{k+1}))`, from `s = 0, f = v = q = 1`. The BOLD signal is
//! sampled every `period` steps after a transient of `transient` steps: sample `m` is the BOLD of
//! `z` after step `transient + (m + 1)·period` (time `transient·dt + (m + 1)·period·dt`).
//!
//! Two constant sets ([`BoldConstants`]):
//! * `classical` (Friston, Mechelli, Turner & Price 2003, NeuroImage 12:466; the values as in
//!   Friston et al. 2003, NeuroImage 19:1273 and TVB's `fmri_balloon`): κ = 0.65 s⁻¹,
//!   γ = 0.41 s⁻¹, τ = 0.98 s, α = 0.32, ρ = 0.34, V0 = 0.02, k1 = 7ρ, k2 = 2, k3 = 2ρ − 0.2.
//! * `revised` (Obata et al. 2004, NeuroImage 21:144; Stephan et al. 2007, NeuroImage 38:387; as
//!   tvboptim's and Deco et al.'s Balloon-Windkessel): the same κ, γ, τ, α, with E0 = ρ = 0.4,
//!   V0 = 0.04, TE = 0.04 s, ν0 = 40.3 s⁻¹, r0 = 25 s⁻¹, k1 = 4.3 ν0 E0 TE, k2 = r0 E0 TE
//!   (ε = 1), k3 = 1.
//!
//! The equations are written once, generic over [`Scalar`]; the kernel uses a hand-written VJP
//! of one Euler step for speed, which the tests check against the tape-derived one.

use dynamics::Scalar;

/// Balloon-Windkessel constants (time in seconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoldConstants {
    /// Rate of signal decay κ (s⁻¹).
    pub kappa: f64,
    /// Rate of flow-dependent elimination γ (s⁻¹).
    pub gamma: f64,
    /// Haemodynamic transit time τ (s).
    pub tau: f64,
    /// Grubb's exponent α.
    pub alpha: f64,
    /// Resting oxygen extraction fraction ρ (E0).
    pub rho: f64,
    /// Resting blood volume fraction V0.
    pub v0: f64,
    /// BOLD coefficient k1.
    pub k1: f64,
    /// BOLD coefficient k2.
    pub k2: f64,
    /// BOLD coefficient k3.
    pub k3: f64,
}

impl BoldConstants {
    /// Friston et al. (2003), the default.
    pub fn classical() -> Self {
        let rho = 0.34;
        Self {
            kappa: 0.65,
            gamma: 0.41,
            tau: 0.98,
            alpha: 0.32,
            rho,
            v0: 0.02,
            k1: 7.0 * rho,
            k2: 2.0,
            k3: 2.0 * rho - 0.2,
        }
    }

    /// Obata et al. (2004) / Stephan et al. (2007), as tvboptim.
    pub fn revised() -> Self {
        let (e0, te) = (0.4, 0.04);
        Self {
            kappa: 0.65,
            gamma: 0.41,
            tau: 0.98,
            alpha: 0.32,
            rho: e0,
            v0: 0.04,
            k1: 4.3 * 40.3 * e0 * te,
            k2: 25.0 * e0 * te,
            k3: 1.0,
        }
    }

    /// The named sets (`classical`, `revised`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "classical" => Some(Self::classical()),
            "revised" => Some(Self::revised()),
            _ => None,
        }
    }

    /// Names of the sets.
    pub const NAMES: [&'static str; 2] = ["classical", "revised"];
}

/// The haemodynamic state of one region at rest: `[s, f, v, q] = [0, 1, 1, 1]`.
pub const REST: [f64; 4] = [0.0, 1.0, 1.0, 1.0];

/// The Balloon-Windkessel vector field `g(z, u)` (per second), generic over the scalar type.
#[inline(always)]
pub fn field<S: Scalar>(c: &BoldConstants, z: &[S; 4], u: S) -> [S; 4] {
    let [s, f, v, q] = *z;
    let a = 1.0 / c.alpha;
    let l = (1.0 - c.rho).ln();
    let va = (v.ln() * a).exp();
    let extraction = (S::cst(1.0) - (f.recip() * l).exp()) / c.rho;
    [
        u - s * c.kappa - (f - 1.0) * c.gamma,
        s,
        (f - va) / c.tau,
        (f * extraction - q * va / v) / c.tau,
    ]
}

/// The BOLD signal of a haemodynamic state.
#[inline(always)]
pub fn signal<S: Scalar>(c: &BoldConstants, z: &[S; 4]) -> S {
    let (v, q) = (z[2], z[3]);
    ((S::cst(1.0) - q) * c.k1 + (S::cst(1.0) - q / v) * c.k2 + (S::cst(1.0) - v) * c.k3) * c.v0
}

/// One Euler step `z + h·g(z, u)` (h in seconds).
#[inline(always)]
pub fn euler(c: &BoldConstants, z: &[f64; 4], u: f64, h: f64) -> [f64; 4] {
    let g = field(c, z, u);
    [
        z[0] + h * g[0],
        z[1] + h * g[1],
        z[2] + h * g[2],
        z[3] + h * g[3],
    ]
}

/// Adjoint of [`euler`]: given `λ = ∂L/∂z'`, returns `(∂L/∂z, ∂L/∂u)`.
#[inline]
pub fn euler_vjp(c: &BoldConstants, z: &[f64; 4], lam: &[f64; 4], h: f64) -> ([f64; 4], f64) {
    let [_, f, v, q] = *z;
    let a = 1.0 / c.alpha;
    let l = (1.0 - c.rho).ln();
    let va = (v.ln() * a).exp(); // v^a
    let e = (l / f).exp(); // (1 − ρ)^(1/f)
    let (ls, lf, lv, lq) = (lam[0], lam[1], lam[2], lam[3]);
    // ∂g/∂z, row by row (g_s, g_f, g_v, g_q), applied transposed to λ.
    let ds = -c.kappa * ls + lf;
    let mut df = -c.gamma * ls + lv / c.tau;
    // g_q = (f (1 − e)/ρ − q v^(a−1))/τ; d/df [f (1 − e)] = (1 − e) + e·l/f.
    df += lq * ((1.0 - e) + e * l / f) / (c.rho * c.tau);
    let dv = -lv * a * va / v / c.tau - lq * q * (a - 1.0) * va / (v * v) / c.tau;
    let dq = -lq * va / v / c.tau;
    ([ls + h * ds, lf + h * df, lv + h * dv, lq + h * dq], h * ls)
}

/// Adjoint of [`signal`]: `∂BOLD/∂z` times `g`, added to `lam`.
#[inline]
pub fn signal_vjp(c: &BoldConstants, z: &[f64; 4], g: f64, lam: &mut [f64; 4]) {
    let (v, q) = (z[2], z[3]);
    lam[2] += g * c.v0 * (c.k2 * q / (v * v) - c.k3);
    lam[3] += g * c.v0 * (-c.k1 - c.k2 / v);
}

/// The BOLD signal of one region driven by `u` (one value per network step of `dt_ms`
/// milliseconds: `u[k]` drives step `k`), sampled as the monitor samples it. The same
/// recursion as the kernel's, for checks against independent implementations.
pub fn bold_of_signal(
    c: &BoldConstants,
    u: &[f64],
    dt_ms: f64,
    period: usize,
    transient: usize,
) -> Vec<f64> {
    let mon = BoldMonitor {
        constants: *c,
        driver: vec![(0, 1.0)],
        period,
        transient,
    };
    let mut z = REST;
    let mut out = Vec::with_capacity(mon.samples(u.len()));
    for (k, &uk) in u.iter().enumerate() {
        z = euler(c, &z, uk, dt_ms / 1000.0);
        if mon.sample_of(k, u.len()).is_some() {
            out.push(signal(c, &z));
        }
    }
    out
}

/// What the BOLD monitor records.
#[derive(Debug, Clone, PartialEq)]
pub struct BoldMonitor {
    /// Haemodynamic constants.
    pub constants: BoldConstants,
    /// The driving signal `u = Σ w_v X_v` as `(state variable, weight)` pairs.
    pub driver: Vec<(usize, f64)>,
    /// Steps between samples (the TR in steps).
    pub period: usize,
    /// Steps discarded before the first sampling window.
    pub transient: usize,
}

impl BoldMonitor {
    /// Number of samples in a run of `steps` steps.
    pub fn samples(&self, steps: usize) -> usize {
        steps.saturating_sub(self.transient) / self.period
    }

    /// The sample recorded after step `k` (which produced `X_{k+1}`), if any.
    #[inline]
    pub fn sample_of(&self, k: usize, steps: usize) -> Option<usize> {
        let done = k + 1;
        if done <= self.transient || !(done - self.transient).is_multiple_of(self.period) {
            return None;
        }
        let m = (done - self.transient) / self.period - 1;
        (m < self.samples(steps)).then_some(m)
    }

    /// The driver of region `i` from a `[S, n]` state.
    #[inline]
    pub fn drive(&self, state: &[f64], n: usize, i: usize) -> f64 {
        self.driver.iter().map(|&(v, w)| w * state[v * n + i]).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dynamics::rev::{Rev, vjp};

    #[test]
    fn hand_written_adjoints_match_the_derived_ones() {
        for c in [BoldConstants::classical(), BoldConstants::revised()] {
            let z = [0.12, 1.07, 1.03, 0.96];
            let (u, h) = (0.3, 1e-3);
            let lam = [0.7, -0.4, 1.3, 0.9];
            let mut grad = [0.0; 5];
            vjp(
                &[z[0], z[1], z[2], z[3], u],
                &lam,
                &mut grad,
                None,
                |x: &[Rev], out: &mut [Rev]| {
                    let zz = [x[0], x[1], x[2], x[3]];
                    let g = field(&c, &zz, x[4]);
                    for k in 0..4 {
                        out[k] = zz[k] + g[k] * h;
                    }
                },
            );
            let (lz, lu) = euler_vjp(&c, &z, &lam, h);
            for k in 0..4 {
                assert!(
                    (lz[k] - grad[k]).abs() < 1e-13,
                    "z{k}: {} vs {}",
                    lz[k],
                    grad[k]
                );
            }
            assert!((lu - grad[4]).abs() < 1e-15);
            let mut g2 = [0.0; 4];
            vjp(&z, &[1.0], &mut g2, None, |x: &[Rev], out: &mut [Rev]| {
                out[0] = signal(&c, &[x[0], x[1], x[2], x[3]]);
            });
            let mut ls = [0.0; 4];
            signal_vjp(&c, &z, 1.0, &mut ls);
            for k in 0..4 {
                assert!((ls[k] - g2[k]).abs() < 1e-14, "signal z{k}");
            }
        }
    }

    #[test]
    fn rest_is_a_fixed_point() {
        let c = BoldConstants::classical();
        let g = field(&c, &REST, 0.0);
        assert!(g.iter().all(|v| v.abs() < 1e-15), "{g:?}");
        assert!(signal(&c, &REST).abs() < 1e-15);
    }
}
