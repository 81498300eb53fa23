//! Welch against scipy.signal.welch fixtures (tools/make_welch_fixtures.py), and its gradient
//! against finite differences.

use backend::{BackendKind, f64_device};
use burn::tensor::{Tensor, TensorData};
use spectra::{Welch, WelchConfig, one_minus_correlation};
use std::path::Path;

fn read_npy(name: &str) -> (Vec<f64>, Vec<usize>) {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let bytes = std::fs::read(&p).unwrap();
    // Minimal reader for the fixtures numpy wrote: v1 header, '<f8', C order.
    let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + hlen]).unwrap();
    assert!(
        header.contains("'<f8'") && header.contains("'fortran_order': False"),
        "{header}"
    );
    let shape_txt = header
        .split("'shape': (")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap();
    let shape: Vec<usize> = shape_txt
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let data = bytes[10 + hlen..]
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    (data, shape)
}

fn case(name: &str, fs: f64, nperseg: Option<usize>, noverlap: Option<usize>, kind: BackendKind) {
    let device = f64_device(kind, false);
    let (x, xs) = read_npy(&format!("welch_{name}_x.npy"));
    let (f, _) = read_npy(&format!("welch_{name}_f.npy"));
    let (p, _) = read_npy(&format!("welch_{name}_p.npy"));
    let (r, t) = (xs[0], xs[1]);
    let w = Welch::new(
        WelchConfig {
            fs,
            nperseg,
            noverlap,
        },
        t,
    )
    .unwrap();
    for (a, b) in w.freqs().iter().zip(&f) {
        assert!(
            (a - b).abs() <= 1e-12 * b.abs().max(1.0),
            "{name}: freq {a} vs {b}"
        );
    }
    let x = Tensor::<1>::from_data(TensorData::new(x, [r * t]), &device).reshape([1, r, t]);
    let got: Vec<f64> = w.psd(x).into_data().try_into_vec().unwrap();
    assert_eq!(got.len(), p.len());
    let pmax = p.iter().cloned().fold(0.0, f64::max);
    for (k, (a, b)) in got.iter().zip(&p).enumerate() {
        // Relative 1e-12 per bin; bins ~1e-16 below the peak are compared to the peak's scale.
        let tol = 1e-12 * b.abs().max(1e-4 * pmax);
        assert!((a - b).abs() <= tol, "{name} bin {k}: {a} vs scipy {b}");
    }
}

#[test]
fn matches_scipy_whole_input_even_and_odd() {
    case("whole_even", 100.0, None, None, BackendKind::Flex);
    case("whole_odd", 100.0, None, None, BackendKind::NdArray);
}

#[test]
fn matches_scipy_segments_with_overlap() {
    case(
        "seg256_even",
        100.0,
        Some(256),
        Some(128),
        BackendKind::Flex,
    );
    case("seg256_odd", 250.0, Some(256), Some(100), BackendKind::Flex);
    case("seg255_odd", 100.0, Some(255), None, BackendKind::NdArray);
}

#[test]
fn correlation_loss_gradient_matches_finite_differences() {
    let device = f64_device(BackendKind::Flex, true);
    let t = 64;
    let x0: Vec<f64> = (0..t)
        .map(|k| ((k as f64) * 0.37).sin() + 0.1 * (k as f64 * 1.3).cos())
        .collect();
    let target: Vec<f64> = (0..t / 2 + 1)
        .map(|k| 1.0 / (1.0 + (k as f64 - 8.0).powi(2)))
        .collect();
    let w = Welch::new(
        WelchConfig {
            fs: 100.0,
            nperseg: None,
            noverlap: None,
        },
        t,
    )
    .unwrap();
    let loss = |x: Tensor<3>| {
        let tg = Tensor::<1>::from_data(TensorData::new(target.clone(), [t / 2 + 1]), &device)
            .reshape([1, 1, t / 2 + 1]);
        one_minus_correlation(w.psd(x), tg).sum()
    };
    let x = Tensor::<1>::from_data(TensorData::new(x0.clone(), [t]), &device)
        .reshape([1, 1, t])
        .require_grad();
    let grads = loss(x.clone()).backward();
    let g: Vec<f64> = x.grad(&grads).unwrap().into_data().try_into_vec().unwrap();
    let eval = |v: Vec<f64>| -> f64 {
        let xt = Tensor::<1>::from_data(TensorData::new(v, [t]), &device).reshape([1, 1, t]);
        loss(xt).into_scalar::<f64>()
    };
    for k in [0, 5, 17, 40, 63] {
        let h = 1e-6;
        let (mut a, mut b) = (x0.clone(), x0.clone());
        a[k] += h;
        b[k] -= h;
        let fd = (eval(a) - eval(b)) / (2.0 * h);
        assert!(
            (fd - g[k]).abs() <= 1e-6 * fd.abs().max(1e-3),
            "x[{k}]: fd {fd} vs ad {}",
            g[k]
        );
    }
}
