//! The rate network as burn tensor code: weights from θ, one Euler step of the relaxation
//! dynamics, unrolled Euler trajectories and the fixed-point residual.
//!
//! This is the reference path that burn differentiates op by op (Phi is the custom op of
//! [`crate::phi_op`]); it checks the implicit gradients of [`crate::fixed_point_op`], and its
//! cost (tape memory ∝ steps × N²) is what the implicit method avoids.

use crate::network::{Connectivity, N_THETA, RateNetwork, cell_type};
use crate::phi::LifConstants;
use crate::phi_op::phi_tensor;
use burn::tensor::{Device, Tensor, TensorData};

/// Constant tensors of a [`RateNetwork`] on one device.
#[derive(Debug, Clone)]
pub struct TensorNetwork {
    n: usize,
    /// One-hot cell types `[N, 2]`.
    types: Tensor<2>,
    /// Presynaptic signs broadcast to `[N, N]`.
    signs: Tensor<2>,
    /// Explicit C and C² (`[N, N]`), or None for the mean field.
    explicit: Option<(Tensor<2>, Tensor<2>)>,
    /// `(cos 2Δθ − 1)/4` off the diagonal (`[N, N]`; mean field).
    footprint_k: Tensor<2>,
    /// 1 off the diagonal, 0 on it.
    off_diagonal: Tensor<2>,
    tau: Tensor<1>,
    dt_over_t: Tensor<1>,
    h: Tensor<1>,
    xi2: Tensor<1>,
    /// Relaxation constants `[N]`.
    t_relax: Tensor<1>,
    lif: LifConstants,
}

fn t1(v: &[f64], device: &Device) -> Tensor<1> {
    Tensor::from_data(TensorData::new(v.to_vec(), [v.len()]), device)
}

fn t2(v: Vec<f64>, n: usize, m: usize, device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(v, [n, m]), device)
}

impl TensorNetwork {
    /// Uploads the network's constants to `device`.
    pub fn new(net: &RateNetwork, device: &Device) -> Self {
        let n = net.n;
        let types = t2(
            (0..n)
                .flat_map(|i| {
                    if cell_type(i, net.n_e) == 0 {
                        [1.0, 0.0]
                    } else {
                        [0.0, 1.0]
                    }
                })
                .collect(),
            n,
            2,
            device,
        );
        let signs = t2((0..n * n).map(|k| net.sign(k % n)).collect(), n, n, device);
        let explicit = match &net.connectivity {
            Connectivity::Explicit(c) => Some((
                t2(c.clone(), n, n, device),
                t2(c.iter().map(|v| v * v).collect(), n, n, device),
            )),
            Connectivity::MeanField => None,
        };
        let th = &net.theta_pref;
        let footprint_k = t2(
            (0..n * n)
                .map(|k| ((2.0 * (th[k / n] - th[k % n])).cos() - 1.0) / 4.0)
                .collect(),
            n,
            n,
            device,
        );
        let off_diagonal = t2(
            (0..n * n)
                .map(|k| if k / n == k % n { 0.0 } else { 1.0 })
                .collect(),
            n,
            n,
            device,
        );
        Self {
            n,
            types,
            signs,
            explicit,
            footprint_k,
            off_diagonal,
            tau: t1(&net.tau, device),
            dt_over_t: t1(
                &net.t_relax.iter().map(|t| 1.0 / t).collect::<Vec<_>>(),
                device,
            ),
            h: t1(&net.h, device),
            xi2: t1(&net.xi2, device),
            t_relax: t1(&net.t_relax, device),
            lif: net.lif,
        }
    }

    /// Expands a 2×2 block parameter (row-major `[4]`) to `[N, N]`: `E·X·Eᵀ`.
    fn expand(&self, block: Tensor<1>) -> Tensor<2> {
        self.types
            .clone()
            .matmul(block.reshape([2, 2]))
            .matmul(self.types.clone().transpose())
    }

    /// `(W, W2)` `[N, N]` from θ `[12]` (differentiable; panics on another length, like burn's
    /// own shape checks).
    pub fn weights(&self, theta: Tensor<1>) -> (Tensor<2>, Tensor<2>) {
        assert_eq!(theta.dims()[0], N_THETA, "theta must have 12 entries");
        let mag = self.expand(theta.clone().slice(0..4).exp());
        let (c, c2) = match &self.explicit {
            Some((c, c2)) => (c.clone(), c2.clone()),
            None => {
                let p = self.expand(theta.clone().slice(4..8));
                let w = self.expand(theta.slice(8..12));
                let fp = (self.footprint_k.clone() / (w.clone() * w)).exp();
                let c = p * fp * self.off_diagonal.clone();
                (c.clone(), c)
            }
        };
        (self.signs.clone() * mag.clone() * c, mag.clone() * mag * c2)
    }

    /// `F(r) = Phi(mu(r), sigma(r))` `[N]` given the weights.
    pub fn transfer(&self, weights: &(Tensor<2>, Tensor<2>), r: Tensor<1>) -> Tensor<1> {
        let n = self.n;
        let rc = r.reshape([n, 1]);
        let wr = weights.0.clone().matmul(rc.clone()).reshape([n]);
        let w2r = weights.1.clone().matmul(rc).reshape([n]);
        let mu = self.tau.clone() * (wr + self.h.clone());
        let sigma = (self.tau.clone() * (w2r + self.xi2.clone())).sqrt();
        phi_tensor(mu, sigma, self.tau.clone(), &self.lif)
    }

    /// One Euler step `r + dt·T⁻¹(F(r) − r)`.
    pub fn euler_step(&self, weights: &(Tensor<2>, Tensor<2>), r: Tensor<1>, dt: f64) -> Tensor<1> {
        let f = self.transfer(weights, r.clone());
        r.clone() + (f - r) * self.dt_over_t.clone().mul_scalar(dt)
    }

    /// Relaxation constants `[N]` (s).
    pub fn t_relax(&self) -> Tensor<1> {
        self.t_relax.clone()
    }
}

/// `steps` Euler steps from `r0`; burn records every step (gradients by backpropagation).
pub fn unrolled_euler(
    net: &TensorNetwork,
    theta: Tensor<1>,
    r0: Tensor<1>,
    steps: usize,
    dt: f64,
) -> Tensor<1> {
    let weights = net.weights(theta);
    let mut r = r0;
    for _ in 0..steps {
        r = net.euler_step(&weights, r, dt);
    }
    r
}

/// Fixed-point residual loss `mean_i (F(r)_i − r_i)²` (Hz²), differentiable in θ and r.
pub fn residual_loss(net: &TensorNetwork, theta: Tensor<1>, r: Tensor<1>) -> Tensor<1> {
    let weights = net.weights(theta);
    let d = net.transfer(&weights, r.clone()) - r;
    (d.clone() * d).mean()
}
