use burn::tensor::{Device, FloatDType};
use lowdim::*;
use std::time::Instant;
fn main() {
    let mut d = Device::flex();
    let _ = d.configure(FloatDType::F64);
    let n: usize = std::env::args().nth(1).map(|s| s.parse().unwrap()).unwrap_or(500);
    let dur: f64 = std::env::args().nth(2).map(|s| s.parse().unwrap()).unwrap_or(100.0);
    for (g, seed) in [(0.9, 1u64), (2.0, 1), (2.0, 2), (2.0, 3)] {
        let net = RateNetwork::random(n, 0.0, g, seed, Nonlinearity::Tanh).unwrap();
        let t0 = Instant::now();
        let eig = net.eigenvalues_shifted().unwrap();
        let te = t0.elapsed();
        let x0: Vec<f64> = uniform_starts(&vec![-1.0; n], &vec![1.0; n], 1, seed + 100);
        let opts = LyapunovOptions { duration: dur, transient: 50.0, ..Default::default() };
        let t1 = Instant::now();
        let est = largest_lyapunov(&net, &x0, &opts, &d).unwrap();
        println!("N={n} g={g} seed={seed}: lambda={:.4} (-1+maxRe(W)={:.4}) radius={:.4}; eig {:?} lyap {:?}", est.exponents[0], spectral_abscissa(&eig), net.spectral_radius().unwrap(), te, t1.elapsed());
    }
}
