//! Functional connectivity (FC) and its dynamics (FCD), differentiable, with the losses
//! whole-brain modellers fit.
//!
//! * [`fc`]: the Pearson correlation matrix across regions of a `[B, T, n]` signal
//!   (numpy's `corrcoef` of the columns).
//! * [`upper_triangle`]: the `n(n−1)/2` entries above the diagonal, row by row (what FC losses
//!   compare; the diagonal is 1 by construction).
//! * [`fcd`]: sliding-window FC: the FC of each window of `window` samples every `step`
//!   samples, and the correlations between every pair of windows' FC upper triangles — the FCD
//!   distribution (its upper triangle, `W(W−1)/2` values for `W` windows).
//! * Losses: [`fc_correlation_loss`] (1 − Pearson correlation of upper triangles),
//!   [`fc_rmse`] (root mean square difference of upper triangles) and [`wasserstein_1`]
//!   (the Wasserstein-1 distance between two empirical distributions, differentiable in the
//!   simulated values: the sort order is data, the sorted values carry the gradient).

use burn::tensor::{Int, Tensor, TensorData};

/// Pearson correlation matrix across regions: `x` `[B, T, n]` → `[B, n, n]`.
pub fn fc(x: Tensor<3>) -> Tensor<3> {
    let xc = x.clone() - x.mean_dim(1); // [B, T, n]
    let cov = xc.clone().swap_dims(1, 2).matmul(xc.clone()); // [B, n, n]
    let sd = (xc.clone() * xc).sum_dim(1).sqrt(); // [B, 1, n]
    let denom = sd.clone().swap_dims(1, 2).matmul(sd); // [B, n, n]
    cov / denom
}

/// Row-major indices of the strict upper triangle of an `n × n` matrix.
pub fn upper_indices(n: usize) -> Vec<i64> {
    let mut idx = Vec::with_capacity(n * (n - 1) / 2);
    for i in 0..n {
        for j in i + 1..n {
            idx.push((i * n + j) as i64);
        }
    }
    idx
}

/// The strict upper triangle of `[B, n, n]` matrices, `[B, n(n−1)/2]`.
pub fn upper_triangle(m: Tensor<3>) -> Tensor<2> {
    let [b, n, _] = m.dims();
    let device = m.device();
    let idx = upper_indices(n);
    let len = idx.len();
    let idx = Tensor::<1, Int>::from_data(TensorData::new(idx, [len]), &device);
    m.reshape([b, n * n]).select(1, idx)
}

/// FCD: `x` `[B, T, n]`, windows of `window` samples every `step` samples → the upper triangle
/// of the window-by-window correlation matrix of FC upper triangles, `[B, W(W−1)/2]`.
pub fn fcd(x: Tensor<3>, window: usize, step: usize) -> Tensor<2> {
    let [b, t, n] = x.dims();
    let starts: Vec<usize> = (0..)
        .map(|k| k * step)
        .take_while(|s| s + window <= t)
        .collect();
    let w = starts.len();
    let vecs: Vec<Tensor<3>> = starts
        .iter()
        .map(|&s| {
            let u = upper_triangle(fc(x.clone().narrow(1, s, window))); // [B, M]
            let m = u.dims()[1];
            u.reshape([b, 1, m])
        })
        .collect();
    let v = Tensor::cat(vecs, 1); // [B, W, M]
    let vc = v.clone() - v.mean_dim(2);
    let norm = (vc.clone() * vc.clone()).sum_dim(2).sqrt(); // [B, W, 1]
    let vn = vc / norm;
    let corr = vn.clone().matmul(vn.swap_dims(1, 2)); // [B, W, W]
    let _ = n;
    upper_triangle(corr.reshape([b, w, w]))
}

/// `1 − corr(sim, target)` per set: `sim` `[B, M]`, `target` `[M]` → `[B]`.
pub fn fc_correlation_loss(sim: Tensor<2>, target: &[f64]) -> Tensor<1> {
    let [b, m] = sim.dims();
    let t = Tensor::<1>::from_data(TensorData::new(target.to_vec(), [m]), &sim.device())
        .reshape([1, m]);
    crate::loss::one_minus_correlation(sim, t).reshape([b])
}

/// Root mean square difference per set: `sim` `[B, M]`, `target` `[M]` → `[B]`.
pub fn fc_rmse(sim: Tensor<2>, target: &[f64]) -> Tensor<1> {
    let [b, m] = sim.dims();
    let t = Tensor::<1>::from_data(TensorData::new(target.to_vec(), [m]), &sim.device())
        .reshape([1, m]);
    let d = sim - t;
    (d.clone() * d).mean_dim(1).sqrt().reshape([b])
}

/// The `p`-quantiles of sorted values by linear interpolation (numpy's default), at
/// `p_k = (k + ½)/K`.
fn quantiles(sorted: &[f64], k: usize) -> Vec<f64> {
    let len = sorted.len();
    (0..k)
        .map(|i| {
            let pos = ((i as f64 + 0.5) / k as f64) * (len - 1) as f64;
            let lo = pos.floor() as usize;
            let hi = (lo + 1).min(len - 1);
            let w = pos - lo as f64;
            sorted[lo] * (1.0 - w) + sorted[hi] * w
        })
        .collect()
}

/// Wasserstein-1 distance between the empirical distribution of each row of `sim` `[B, K]` and
/// that of `target` (any length): `mean_k |sort(sim)_k − Q_target((k + ½)/K)|`.
/// Differentiable in `sim` (the permutation that sorts it is data; ties have measure zero).
pub fn wasserstein_1(sim: Tensor<2>, target: &[f64]) -> Tensor<1> {
    let [b, k] = sim.dims();
    let device = sim.device();
    let host: Vec<f64> = sim
        .clone()
        .detach()
        .into_data()
        .convert::<f64>()
        .try_into_vec()
        .expect("f64 tensor");
    let mut order = Vec::with_capacity(b * k);
    for row in host.chunks(k) {
        let mut idx: Vec<usize> = (0..k).collect();
        idx.sort_by(|&i, &j| row[i].total_cmp(&row[j]));
        order.extend(idx.into_iter().map(|i| i as i64));
    }
    let order =
        Tensor::<1, Int>::from_data(TensorData::new(order, [b * k]), &device).reshape([b, k]);
    let sorted = sim.gather(1, order);
    let mut t = target.to_vec();
    t.sort_by(f64::total_cmp);
    let q = Tensor::<1>::from_data(TensorData::new(quantiles(&t, k), [k]), &device).reshape([1, k]);
    (sorted - q).abs().mean_dim(1).reshape([b])
}

#[cfg(test)]
mod tests {
    use super::*;
    use backend::{BackendKind, f64_device};

    fn tensor3(v: &[f64], shape: [usize; 3], grad: bool) -> Tensor<3> {
        let d = f64_device(BackendKind::Flex, true);
        let t = Tensor::<1>::from_data(TensorData::new(v.to_vec(), [v.len()]), &d).reshape(shape);
        if grad { t.require_grad() } else { t }
    }

    fn series(t: usize, n: usize) -> Vec<f64> {
        (0..t * n)
            .map(|k| {
                let (s, i) = ((k / n) as f64, (k % n) as f64);
                (0.3 * s + i).sin() + 0.5 * (0.11 * s * (i + 1.0)).cos() + 0.05 * i * s / t as f64
            })
            .collect()
    }

    /// Each loss's gradient with respect to the signal against central differences.
    #[test]
    fn loss_gradients_match_finite_differences() {
        let (t, n) = (40, 5);
        let x = series(t, n);
        let target_fc: Vec<f64> = (0..n * (n - 1) / 2).map(|k| 0.1 * k as f64 - 0.3).collect();
        let target_fcd: Vec<f64> = (0..30).map(|k| (k as f64 * 0.37).sin()).collect();
        type LossFn = Box<dyn Fn(Tensor<3>) -> Tensor<1>>;
        let tf = target_fc.clone();
        let tf2 = target_fc.clone();
        let losses: Vec<(&str, LossFn)> = vec![
            (
                "fc_correlation",
                Box::new(move |x| fc_correlation_loss(upper_triangle(fc(x)), &tf)),
            ),
            (
                "fc_rmse",
                Box::new(move |x| fc_rmse(upper_triangle(fc(x)), &tf2)),
            ),
            (
                "fcd_wasserstein",
                Box::new(move |x| wasserstein_1(fcd(x, 12, 4), &target_fcd)),
            ),
        ];
        for (name, loss) in &losses {
            let xt = tensor3(&x, [1, t, n], true);
            let l = loss(xt.clone());
            let g: Vec<f64> = xt
                .grad(&l.sum().backward())
                .unwrap()
                .into_data()
                .try_into_vec()
                .unwrap();
            let value = |v: &[f64]| -> f64 { loss(tensor3(v, [1, t, n], false)).into_scalar() };
            let scale = g.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for k in (0..t * n).step_by(7) {
                let h = 1e-6;
                let (mut a, mut b) = (x.clone(), x.clone());
                a[k] += h;
                b[k] -= h;
                let fd = (value(&a) - value(&b)) / (2.0 * h);
                let err = (fd - g[k]).abs() / fd.abs().max(g[k].abs()).max(1e-3 * scale);
                assert!(err < 1e-6, "{name} [{k}]: AD {} vs FD {fd}", g[k]);
            }
        }
    }

    #[test]
    fn fcd_of_a_stationary_signal_is_near_one() {
        let (t, n) = (60, 4);
        let x: Vec<f64> = (0..t * n)
            .map(|k| ((k / n) as f64 * 0.9 + (k % n) as f64).sin())
            .collect();
        let v: Vec<f64> = fcd(tensor3(&x, [1, t, n], false), 20, 10)
            .into_data()
            .try_into_vec()
            .unwrap();
        assert_eq!(v.len(), 10); // 5 windows
        assert!(v.iter().all(|c| *c > 0.9), "{v:?}");
    }
}
