//! Test matrices and checks shared by the QR iteration's tests (`francis`, `multishift`,
//! `reorder`).

/// A random upper Hessenberg matrix (column-major) from a fixed xorshift stream; `graded`
/// scales row i by 2^(−i/8) and column j by 2^(j/8) (a graded matrix, harder for deflation).
pub(crate) fn hessenberg(n: usize, seed: u64, graded: bool) -> Vec<f64> {
    let mut state = seed | 1;
    let mut h = vec![0.0; n * n];
    for j in 0..n {
        for i in 0..n.min(j + 2) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let x = (state % 20_000) as f64 / 10_000.0 - 1.0;
            let scale = if graded {
                2f64.powf(-(i as f64) / 8.0) / 2f64.powf(-(j as f64) / 8.0)
            } else {
                1.0
            };
            h[i + j * n] = x * scale;
        }
    }
    h
}

/// The n × n identity, column-major.
pub(crate) fn identity(n: usize) -> Vec<f64> {
    let mut z = vec![0.0; n * n];
    (0..n).for_each(|i| z[i * (n + 1)] = 1.0);
    z
}

/// `(max |Z T Zᵀ − A₀|, max |Zᵀ Z − I|)` for column-major n × n matrices.
pub(crate) fn schur_residuals(a0: &[f64], t: &[f64], z: &[f64], n: usize) -> (f64, f64) {
    let mut zt = vec![0.0; n * n];
    for i in 0..n {
        for q in 0..n {
            zt[i + q * n] = (0..n).map(|p| z[i + p * n] * t[p + q * n]).sum();
        }
    }
    let mut resid = 0.0f64;
    let mut orth = 0.0f64;
    for i in 0..n {
        for j in 0..n {
            let a: f64 = (0..n).map(|q| zt[i + q * n] * z[j + q * n]).sum();
            resid = resid.max((a - a0[i + j * n]).abs());
            let o: f64 = (0..n).map(|q| z[q + i * n] * z[q + j * n]).sum();
            orth = orth.max((o - if i == j { 1.0 } else { 0.0 }).abs());
        }
    }
    (resid, orth)
}
