//! The generic model suite: every registered model (`dynamics::ModelKind::ALL`) and coupling
//! (`dynamics::CouplingKind::ALL`) gets these tests by being registered.
//!
//! * the derived VJP of the drift against central finite differences, and a hand-written VJP
//!   against the derived one;
//! * the couplings' VJPs likewise;
//! * the fused kernel against the per-step tensor-op oracle for every valid model × coupling
//!   pair (forward 1e-11, gradients wrt every parameter of every region 1e-8), with noise,
//!   sub-sampling and temporal averages;
//! * gradients of the fused op against finite differences (1e-6 relative);
//! * the empirical order of every integrator by log-log slope;
//! * a batch of parameter sets equals single runs, bit for bit (the per-set and the
//!   batch-major four-lane kernels);
//! * the drift and its VJP with kept intermediates (`drift_aux`, `drift_vjp_aux`) equal the
//!   plain ones bit for bit;
//! * parity with tvb-library 2.10's `Simulator` (float64 history) on dk84, from the committed
//!   fixtures of `tools/make_tvb_fixtures.py` (every registered model must have one).
//!
//! The "zoo" network is small (5 regions, delays 0–3 steps) so the oracle and the finite
//! differences stay fast.

mod common;

use backend::{BackendKind, f64_device};
use burn::tensor::{Tensor, TensorData};
use dynamics::{
    CouplingFunction, CouplingKind, CouplingVisitor, MAX_STATE, ModelInfo, ModelKind, ModelVisitor,
    NodeModel, drift_vjp_derived,
};
use solvers::integrator;
use solvers::lanes::{F64x4, LANES};
use solvers::network_kernel::{self, Layout, NetworkProblem};
use solvers::reference::simulate_reference;
use solvers::{Method, Monitor, MonitorKind, NoiseSource, Simulation, simulate};
use std::sync::Arc;

const N: usize = 5;

/// Every model × coupling pair the engine accepts.
fn valid_pairs() -> Vec<(ModelKind, CouplingKind)> {
    let mut v = Vec::new();
    for &m in ModelKind::ALL {
        for &c in CouplingKind::ALL {
            if Layout::new(m, c).is_ok() {
                v.push((m, c));
            }
        }
    }
    v
}

/// The coupling a model is run with when one is enough: Linear where it fits, else
/// SigmoidalJansenRit.
fn natural_coupling(m: ModelKind) -> CouplingKind {
    if Layout::new(m, CouplingKind::Linear).is_ok() {
        CouplingKind::Linear
    } else {
        CouplingKind::SigmoidalJansenRit
    }
}

/// The zoo network: `N` regions, asymmetric weights, delays 0–3 steps.
fn zoo(
    model: ModelKind,
    coupling: CouplingKind,
    method: Method,
    steps: usize,
    sigma: f64,
) -> (NetworkProblem, Vec<f64>) {
    let info = model.info();
    let lay = Layout::new(model, coupling).unwrap();
    let weights: Vec<f64> = (0..N * N)
        .map(|ij| {
            let (i, j) = (ij / N, ij % N);
            if i == j {
                0.0
            } else {
                0.1 + 0.8 * ((i * 7 + j * 3) % 5) as f64 / 5.0
            }
        })
        .collect();
    let lag: Vec<usize> = (0..N * N).map(|ij| (ij / N + 2 * (ij % N)) % 4).collect();
    let horizon = 4;
    // Per-region initial states, spread a little so that regions differ.
    let mut state = vec![0.0; info.state.len() * N];
    for v in 0..info.state.len() {
        for i in 0..N {
            let (lo, hi) = info.state[v].bounds;
            state[v * N + i] = (info.initial[v] + 0.01 * i as f64).clamp(lo, hi);
        }
    }
    let mut hist = Vec::new();
    for _ in 0..horizon {
        for &cv in info.cvar {
            hist.extend_from_slice(&state[cv * N..(cv + 1) * N]);
        }
    }
    let mut params = Vec::new();
    for p in info.params {
        for i in 0..N {
            params.push(p.default * (1.0 + 0.002 * i as f64));
        }
    }
    for p in coupling.info().params {
        let v = if p.name == "a" { 0.1 } else { p.default };
        params.extend(std::iter::repeat_n(v, N));
    }
    assert_eq!(params.len(), lay.np() * N);
    let problem = NetworkProblem {
        model,
        coupling,
        method,
        n: N,
        weights: Arc::new(weights),
        lag: Arc::new(lag),
        horizon,
        dt: info.dt,
        steps,
        sigma,
        noise: if sigma > 0.0 {
            NoiseSource::seeded(7, 0)
        } else {
            NoiseSource::None
        },
        init_state: Arc::new(state),
        init_history: Arc::new(hist),
        monitor: Monitor::raw((0..info.state.len()).collect()),
        segment: 7,
        grad_horizon: None,
        interpolation: Default::default(),
    };
    problem.validate(1).unwrap();
    (problem, params)
}

/// A deterministic "typical" point of a model: its initial state, its defaults, a coupling input.
fn sample_point(info: &ModelInfo, k: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let x: Vec<f64> = info
        .initial
        .iter()
        .zip(info.state)
        .enumerate()
        .map(|(v, (x, s))| (x + 0.03 * ((v + k) % 3) as f64).clamp(s.bounds.0, s.bounds.1))
        .collect();
    let c: Vec<f64> = (0..info.n_coupling.max(1))
        .map(|q| 0.01 + 0.005 * (q + k) as f64)
        .collect();
    let p: Vec<f64> = info
        .params
        .iter()
        .enumerate()
        .map(|(j, p)| p.default * (1.0 + 0.01 * ((j + k) % 4) as f64))
        .collect();
    (x, c, p)
}

struct DriftChecks;

impl ModelVisitor for DriftChecks {
    type Output = ();
    fn visit<M: NodeModel>(self) {
        let info = ModelInfo::of::<M>();
        for k in 0..3 {
            let (x, c, p) = sample_point(&info, k);
            let lam: Vec<f64> = (0..M::NS).map(|v| 0.7 - 0.3 * v as f64).collect();
            let f = |x: &[f64], c: &[f64], p: &[f64]| -> f64 {
                let mut dx = vec![0.0; M::NS];
                M::drift(x, c, p, &mut dx);
                dx.iter().zip(&lam).map(|(a, b)| a * b).sum()
            };
            let (mut gx, mut gc, mut gp) = (vec![0.0; M::NS], vec![0.0; c.len()], vec![0.0; M::NP]);
            drift_vjp_derived::<M>(&x, &c, &p, &lam, &mut gx, &mut gc, &mut gp);
            // Richardson-extrapolated central differences (error O(h⁴)) of λ·f along one input.
            let check = |name: String, ad: f64, g: &dyn Fn(f64) -> f64, h: f64| {
                let central = |h: f64| (g(h) - g(-h)) / (2.0 * h);
                let fd = (4.0 * central(h / 2.0) - central(h)) / 3.0;
                let err = (ad - fd).abs() / fd.abs().max(ad.abs()).max(1e-8);
                assert!(err < 1e-6, "{}: {name}: derived {ad} vs FD {fd}", M::NAME);
            };
            for v in 0..M::NS {
                let g = |d: f64| {
                    let mut a = x.clone();
                    a[v] += d;
                    f(&a, &c, &p)
                };
                check(format!("x{v}"), gx[v], &g, 1e-4 * x[v].abs().max(1e-2));
            }
            for q in 0..c.len() {
                let g = |d: f64| {
                    let mut a = c.clone();
                    a[q] += d;
                    f(&x, &a, &p)
                };
                check(format!("c{q}"), gc[q], &g, 1e-5);
            }
            for j in 0..M::NP {
                let g = |d: f64| {
                    let mut a = p.clone();
                    a[j] += d;
                    f(&x, &c, &a)
                };
                check(
                    M::PARAMS[j].name.to_string(),
                    gp[j],
                    &g,
                    1e-4 * p[j].abs().max(1e-2),
                );
            }
            if M::HAND_WRITTEN_VJP {
                let (mut hx, mut hc, mut hp) =
                    (vec![0.0; M::NS], vec![0.0; c.len()], vec![0.0; M::NP]);
                M::drift_vjp(&x, &c, &p, &lam, &mut hx, &mut hc, &mut hp);
                let all_h = hx.iter().chain(&hc).chain(&hp);
                let all_d = gx.iter().chain(&gc).chain(&gp);
                for (a, b) in all_h.zip(all_d) {
                    assert!(
                        (a - b).abs() <= 1e-12 * b.abs().max(1e-3),
                        "{}: hand-written VJP {a} vs derived {b}",
                        M::NAME
                    );
                }
            }
        }
    }
}

#[test]
fn drift_vjps_match_finite_differences_and_hand_written_ones() {
    for &m in ModelKind::ALL {
        m.visit(DriftChecks);
    }
}

/// `len` four-lane values, lane `l` of value `q` being `f(l, q)`.
fn lanes4(f: &dyn Fn(usize, usize) -> f64, len: usize) -> Vec<F64x4> {
    (0..len)
        .map(|q| F64x4(std::array::from_fn(|l| f(l, q))))
        .collect()
}

/// Every model's drift VJP and step adjoint in four lanes ([`F64x4`], what the network
/// adjoint runs on four regions at once) against the scalar ones, lane by lane, bit for bit.
struct LaneChecks;

impl ModelVisitor for LaneChecks {
    type Output = ();
    fn visit<M: NodeModel>(self) {
        let info = ModelInfo::of::<M>();
        let pts: Vec<_> = (0..LANES)
            .map(|k| {
                let (mut x, c, p) = sample_point(&info, k);
                if k == LANES - 1 {
                    // Bounded variables at the edge of their bounds, so that the step's stage values
                    // cross them and the clamp masks cut.
                    for (v, s) in info.state.iter().enumerate() {
                        if s.bounds.1 < f64::INFINITY {
                            x[v] = s.bounds.1 - 1e-9;
                        }
                    }
                }
                (x, c, p)
            })
            .collect();
        let (ns, nc, np) = (M::NS, pts[0].1.len(), M::NP);
        let lam = |l: usize, v: usize| 0.7 - 0.3 * v as f64 + 0.11 * l as f64;
        // Nonzero starting accumulators: the VJPs add to their outputs.
        let acc = |l: usize, q: usize| 0.25 * (l + 1) as f64 - 0.5 * q as f64;
        let x4 = lanes4(&|l, v| pts[l].0[v], ns);
        let c4 = lanes4(&|l, q| pts[l].1[q], nc);
        let p4 = lanes4(&|l, j| pts[l].2[j], np);
        let lam4 = lanes4(&lam, ns);
        let (mut gx4, mut gc4, mut gp4) = (lanes4(&acc, ns), lanes4(&acc, nc), lanes4(&acc, np));
        M::drift_vjp(&x4, &c4, &p4, &lam4, &mut gx4, &mut gc4, &mut gp4);
        for (l, (x, c, p)) in pts.iter().enumerate() {
            let lm: Vec<f64> = (0..ns).map(|v| lam(l, v)).collect();
            let (mut gx, mut gc, mut gp): (Vec<f64>, Vec<f64>, Vec<f64>) = (
                (0..ns).map(|q| acc(l, q)).collect(),
                (0..nc).map(|q| acc(l, q)).collect(),
                (0..np).map(|q| acc(l, q)).collect(),
            );
            M::drift_vjp(x, c, p, &lm, &mut gx, &mut gc, &mut gp);
            let lanes = gx4.iter().chain(&gc4).chain(&gp4).map(|v| v.0[l]);
            for (k, (a, b)) in lanes.zip(gx.iter().chain(&gc).chain(&gp)).enumerate() {
                assert_eq!(
                    a.to_bits(),
                    b.to_bits(),
                    "{} drift_vjp lane {l} output {k}: {a} vs {b}",
                    M::NAME
                );
            }
        }
        for method in Method::ALL {
            let tab = method.tableau();
            let mut x4s = [F64x4::default(); MAX_STATE];
            let mut e4 = [F64x4::default(); MAX_STATE];
            let mut l4 = [F64x4::default(); MAX_STATE];
            for v in 0..ns {
                x4s[v] = x4[v];
                e4[v] = F64x4(std::array::from_fn(|l| {
                    1e-3 * (l as f64 - 1.5) * (v + 1) as f64
                }));
                l4[v] = lam4[v];
            }
            let (mut gc4, mut gp4) = (lanes4(&acc, nc), lanes4(&acc, np));
            let y4 = integrator::step_vjp::<M, F64x4>(
                tab,
                M::DT,
                &x4s,
                &c4,
                &p4,
                &e4,
                &l4,
                &mut gc4,
                &mut gp4,
            );
            for (l, (x, c, p)) in pts.iter().enumerate() {
                let (mut xs, mut e, mut lm) =
                    ([0.0; MAX_STATE], [0.0; MAX_STATE], [0.0; MAX_STATE]);
                for v in 0..ns {
                    (xs[v], e[v], lm[v]) = (x[v], e4[v].0[l], l4[v].0[l]);
                }
                let mut gc: Vec<f64> = (0..nc).map(|q| acc(l, q)).collect();
                let mut gp: Vec<f64> = (0..np).map(|q| acc(l, q)).collect();
                let y = integrator::step_vjp::<M, f64>(
                    tab,
                    M::DT,
                    &xs,
                    c,
                    p,
                    &e,
                    &lm,
                    &mut gc,
                    &mut gp,
                );
                let lanes = y4[..ns].iter().chain(&gc4).chain(&gp4).map(|v| v.0[l]);
                for (k, (a, b)) in lanes.zip(y[..ns].iter().chain(&gc).chain(&gp)).enumerate() {
                    assert_eq!(
                        a.to_bits(),
                        b.to_bits(),
                        "{} {} step_vjp lane {l} output {k}: {a} vs {b}",
                        M::NAME,
                        tab.name
                    );
                }
            }
        }
    }
}

#[test]
fn lane_adjoints_equal_the_scalar_ones_bit_for_bit() {
    for &m in ModelKind::ALL {
        m.visit(LaneChecks);
    }
}

/// Every model's `drift_aux` / `drift_vjp_aux` pair (what the network adjoint runs, with the
/// intermediates kept by its recomputation) against `drift` / `drift_vjp`, bit for bit, in
/// `f64` and in four lanes: keeping intermediates may save work, never change a result.
struct AuxChecks;

impl AuxChecks {
    fn check<M: NodeModel, S: dynamics::Lanes>(x: &[S], c: &[S], p: &[S], lam: &[S], acc: &[S]) {
        assert!(M::NAUX <= dynamics::MAX_AUX, "{}: NAUX > MAX_AUX", M::NAME);
        let (ns, nc, np) = (M::NS, c.len(), M::NP);
        let (mut dx, mut dx_aux) = (vec![S::default(); ns], vec![S::default(); ns]);
        let mut aux = vec![S::default(); M::NAUX];
        M::drift(x, c, p, &mut dx);
        M::drift_aux(x, c, p, &mut dx_aux, &mut aux);
        let bits = |v: &[S]| -> Vec<u64> {
            v.iter()
                .flat_map(|s| (0..S::WIDTH).map(move |l| s.lane(l).to_bits()))
                .collect()
        };
        assert_eq!(bits(&dx), bits(&dx_aux), "{}: drift_aux's dx", M::NAME);
        let outputs = |with_aux: bool| {
            let (mut gx, mut gc, mut gp) =
                (acc[..ns].to_vec(), acc[..nc].to_vec(), acc[..np].to_vec());
            if with_aux {
                M::drift_vjp_aux(x, c, p, &aux, lam, &mut gx, &mut gc, &mut gp);
            } else {
                M::drift_vjp(x, c, p, lam, &mut gx, &mut gc, &mut gp);
            }
            [bits(&gx), bits(&gc), bits(&gp)]
        };
        assert_eq!(outputs(true), outputs(false), "{}: drift_vjp_aux", M::NAME);
    }
}

impl ModelVisitor for AuxChecks {
    type Output = ();
    fn visit<M: NodeModel>(self) {
        let info = ModelInfo::of::<M>();
        let pts: Vec<_> = (0..LANES).map(|k| sample_point(&info, k)).collect();
        let (ns, nc, np) = (M::NS, pts[0].1.len(), M::NP);
        let lam = |l: usize, v: usize| 0.7 - 0.3 * v as f64 + 0.11 * l as f64;
        let acc = |l: usize, q: usize| 0.25 * (l + 1) as f64 - 0.5 * q as f64;
        let width = ns.max(nc).max(np);
        for (l, (x, c, p)) in pts.iter().enumerate() {
            let lm: Vec<f64> = (0..ns).map(|v| lam(l, v)).collect();
            let ac: Vec<f64> = (0..width).map(|q| acc(l, q)).collect();
            Self::check::<M, f64>(x, c, p, &lm, &ac);
        }
        Self::check::<M, F64x4>(
            &lanes4(&|l, v| pts[l].0[v], ns),
            &lanes4(&|l, q| pts[l].1[q], nc),
            &lanes4(&|l, j| pts[l].2[j], np),
            &lanes4(&lam, ns),
            &lanes4(&acc, width),
        );
    }
}

#[test]
fn kept_intermediates_change_no_bit() {
    for &m in ModelKind::ALL {
        m.visit(AuxChecks);
    }
}

/// Every coupling's pre-synaptic VJP in four lanes (what the adjoint runs on four sources at
/// once) against the scalar one, lane by lane, bit for bit.
struct PreLaneChecks(usize);

impl CouplingVisitor for PreLaneChecks {
    type Output = ();
    fn visit<C: CouplingFunction>(self) {
        let ncv = self.0;
        let Ok(nch) = C::channels(ncv) else {
            return;
        };
        let np = C::NP;
        let x = |l: usize, q: usize| 7.0 - 2.5 * q as f64 + 0.8 * l as f64;
        let p = |l: usize, k: usize| C::PARAMS[k].default + 0.3 + 0.05 * (l + k) as f64;
        let g = |l: usize, h: usize| 1.0 - 0.4 * h as f64 - 0.15 * l as f64;
        let acc = |l: usize, k: usize| 0.5 - 0.25 * (l + k) as f64;
        let (mut gx4, mut gp4) = (lanes4(&acc, ncv), lanes4(&acc, np));
        C::pre_vjp(
            &lanes4(&x, ncv),
            &lanes4(&p, np),
            &lanes4(&g, nch),
            &mut gx4,
            &mut gp4,
        );
        for l in 0..LANES {
            let one = |f: &dyn Fn(usize, usize) -> f64, len: usize| -> Vec<f64> {
                (0..len).map(|q| f(l, q)).collect()
            };
            let (mut gx, mut gp) = (one(&acc, ncv), one(&acc, np));
            C::pre_vjp(&one(&x, ncv), &one(&p, np), &one(&g, nch), &mut gx, &mut gp);
            let lane = gx4.iter().chain(&gp4).map(|v| v.0[l]);
            for (k, (a, b)) in lane.zip(gx.iter().chain(&gp)).enumerate() {
                assert_eq!(
                    a.to_bits(),
                    b.to_bits(),
                    "{} pre_vjp ({ncv} coupling variables) lane {l} output {k}: {a} vs {b}",
                    C::NAME
                );
            }
        }
    }
}

#[test]
fn coupling_lane_vjps_equal_the_scalar_ones_bit_for_bit() {
    for &c in CouplingKind::ALL {
        for ncv in [1usize, 2] {
            c.visit(PreLaneChecks(ncv));
        }
    }
}

#[test]
fn coupling_vjps_match_the_derived_ones() {
    for &c in CouplingKind::ALL {
        let info = c.info();
        for ncv in [1usize, 2] {
            let Ok(nch) = info.channels(ncv) else {
                continue;
            };
            let p: Vec<f64> = info.params.iter().map(|p| p.default + 0.3).collect();
            let x: Vec<f64> = (0..ncv).map(|q| 7.0 - 2.5 * q as f64).collect();
            let g: Vec<f64> = (0..nch).map(|h| 1.0 - 0.4 * h as f64).collect();
            let (mut a, mut ap) = (vec![0.0; ncv], vec![0.0; p.len()]);
            let (mut b, mut bp) = (vec![0.0; ncv], vec![0.0; p.len()]);
            c.pre_vjp(&x, &p, &g, &mut a, &mut ap);
            c.pre_vjp_derived(&x, &p, &g, &mut b, &mut bp);
            for (u, v) in a.iter().chain(&ap).zip(b.iter().chain(&bp)) {
                assert!(
                    (u - v).abs() <= 1e-12 * v.abs().max(1e-6),
                    "{} pre",
                    info.name
                );
            }
            let sum: Vec<f64> = (0..nch).map(|h| 3.0 + h as f64).collect();
            let (mut s1, mut x1, mut p1) = (vec![0.0; nch], vec![0.0; ncv], vec![0.0; p.len()]);
            let (mut s2, mut x2, mut p2) = (vec![0.0; nch], vec![0.0; ncv], vec![0.0; p.len()]);
            let xi = &x[..ncv.min(nch)];
            c.post_vjp(&sum, xi, 2.5, &p, &g, &mut s1, &mut x1[..xi.len()], &mut p1);
            c.post_vjp_derived(&sum, xi, 2.5, &p, &g, &mut s2, &mut x2[..xi.len()], &mut p2);
            for (u, v) in s1
                .iter()
                .chain(&x1)
                .chain(&p1)
                .zip(s2.iter().chain(&x2).chain(&p2))
            {
                assert!(
                    (u - v).abs() <= 1e-12 * v.abs().max(1e-6),
                    "{} post",
                    info.name
                );
            }
            // And the derived pre VJP against finite differences.
            let val = |x: &[f64], p: &[f64]| -> f64 {
                let mut out = vec![0.0; nch];
                c.pre(x, p, &mut out);
                out.iter().zip(&g).map(|(a, b)| a * b).sum()
            };
            for q in 0..ncv {
                let h = 1e-6;
                let (mut u, mut v) = (x.clone(), x.clone());
                u[q] += h;
                v[q] -= h;
                let fd = (val(&u, &p) - val(&v, &p)) / (2.0 * h);
                assert!(
                    (fd - b[q]).abs() <= 1e-7 * fd.abs().max(1e-6),
                    "{}",
                    info.name
                );
            }
        }
    }
}

/// The fused op and the oracle on the same problem: forward values and the gradients of a
/// weighted sum of the trace with respect to every parameter of every region.
fn kernel_vs_oracle(problem: &NetworkProblem, params: &[f64], label: &str) {
    let np = problem.layout().np();
    let device = f64_device(BackendKind::Flex, true);
    let make = || {
        Tensor::<1>::from_data(TensorData::new(params.to_vec(), [np * N]), &device)
            .reshape([1, np, N])
            .require_grad()
    };
    let tl = problem.trace_len();
    let weights: Vec<f64> = (0..tl).map(|k| (k % 97) as f64 / 97.0 - 0.5).collect();
    let w = Tensor::<1>::from_data(TensorData::new(weights, [tl]), &device);
    let (pf, pr) = (make(), make());
    let fused = simulate(pf.clone(), &Simulation(Arc::new(problem.clone())));
    let oracle = simulate_reference(pr.clone(), problem);
    assert_eq!(fused.dims(), oracle.dims(), "{label}");
    let fv: Vec<f64> = fused.clone().into_data().try_into_vec().unwrap();
    let ov: Vec<f64> = oracle.clone().into_data().try_into_vec().unwrap();
    let scale = ov.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    let err = fv
        .iter()
        .zip(&ov)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(err <= 1e-11 * scale, "{label}: forward differs by {err}");
    let gf = (fused.reshape([tl]) * w.clone()).sum().backward();
    let gr = (oracle.reshape([tl]) * w).sum().backward();
    let gf: Vec<f64> = pf.grad(&gf).unwrap().into_data().try_into_vec().unwrap();
    let gr: Vec<f64> = pr.grad(&gr).unwrap().into_data().try_into_vec().unwrap();
    let names = fit::network_setup::param_names(problem.model, problem.coupling);
    let overall = gr.iter().fold(0.0f64, |m, g| m.max(g.abs()));
    for k in 0..np {
        let scale = gr[k * N..(k + 1) * N]
            .iter()
            .fold(0.0f64, |m, g| m.max(g.abs()))
            .max(1e-6 * overall)
            .max(1e-300);
        let err = (0..N)
            .map(|i| (gf[k * N + i] - gr[k * N + i]).abs())
            .fold(0.0, f64::max);
        assert!(
            err <= 1e-8 * scale,
            "{label}: d/d{}: max error {err} (scale {scale})",
            names[k]
        );
    }
}

#[test]
fn fused_kernel_matches_the_tensor_oracle_for_every_pair() {
    for (m, c) in valid_pairs() {
        let (mut problem, params) = zoo(m, c, Method::Heun, 30, 1e-3);
        problem.monitor = Monitor {
            kind: MonitorKind::SubSample,
            stride: 3,
            variables: (0..m.info().state.len()).collect(),
        };
        let label = format!("{} + {} (Heun, noisy)", m.info().name, c.info().name);
        kernel_vs_oracle(&problem, &params, &label);
    }
}

#[test]
fn fused_kernel_matches_the_oracle_for_every_method_and_monitor() {
    for &m in ModelKind::ALL {
        let c = natural_coupling(m);
        for method in Method::ALL {
            let sigma = if method.tableau().stochastic {
                1e-3
            } else {
                0.0
            };
            let (mut problem, params) = zoo(m, c, method, 24, sigma);
            problem.monitor = Monitor {
                kind: MonitorKind::TemporalAverage,
                stride: 5,
                variables: vec![m.info().voi],
            };
            let label = format!(
                "{} + {} ({}, temporal average)",
                m.info().name,
                c.info().name,
                method.tableau().name
            );
            kernel_vs_oracle(&problem, &params, &label);
        }
    }
}

/// The BOLD monitor inside the kernel and its adjoint equal the oracle's tensor version, for
/// every model (driven by its default variable; Jansen-Rit by y1 − y2).
#[test]
fn bold_monitor_matches_the_oracle_for_every_model() {
    for &m in ModelKind::ALL {
        let c = natural_coupling(m);
        let (mut problem, params) = zoo(m, c, Method::Heun, 40, 1e-3);
        let info = m.info();
        let driver = if info.name == "JansenRit" {
            vec![(1, 1.0), (2, -1.0)]
        } else {
            vec![(info.voi, 1.0)]
        };
        problem.monitor = Monitor {
            kind: MonitorKind::Bold(solvers::BoldMonitor {
                constants: solvers::BoldConstants::classical(),
                driver,
                period: 7,
                transient: 5,
            }),
            stride: 1,
            variables: vec![info.voi],
        };
        let label = format!("{} BOLD", info.name);
        kernel_vs_oracle(&problem, &params, &label);
    }
}

/// Runs long enough that the adjoint's window over the history adjoint slides (more than
/// 1024 + horizon steps): gradients with the BOLD monitor against finite differences.
#[test]
fn long_run_gradients_match_finite_differences() {
    let (mut problem, params) = zoo(
        ModelKind::ReducedWongWang,
        CouplingKind::Linear,
        Method::Heun,
        2300,
        1e-3,
    );
    problem.monitor = Monitor {
        kind: MonitorKind::Bold(solvers::BoldMonitor {
            constants: solvers::BoldConstants::revised(),
            driver: vec![(0, 1.0)],
            period: 100,
            transient: 300,
        }),
        stride: 1,
        variables: vec![0],
    };
    problem.segment = 97;
    let device = f64_device(BackendKind::Flex, true);
    let np = problem.layout().np();
    let tl = problem.trace_len();
    let p = Tensor::<1>::from_data(TensorData::new(params.clone(), [np * N]), &device)
        .reshape([1, np, N])
        .require_grad();
    let wv: Vec<f64> = (0..tl).map(|k| (k % 13) as f64 / 13.0 - 0.4).collect();
    let w = Tensor::<1>::from_data(TensorData::new(wv, [tl]), &device);
    let trace = simulate(p.clone(), &Simulation(Arc::new(problem.clone())));
    let grads = (trace.reshape([tl]) * w).sum().backward();
    let g: Vec<f64> = p.grad(&grads).unwrap().into_data().try_into_vec().unwrap();
    let names = fit::network_setup::param_names(problem.model, problem.coupling);
    for k in [0, 5, 6, np - 2] {
        let ad: f64 = g[k * N..(k + 1) * N].iter().sum();
        let h = 1e-3 * params[k * N].abs().max(1e-2);
        let fd = fd_global(&problem, &params, k, h);
        let err = (ad - fd).abs() / fd.abs().max(ad.abs());
        assert!(
            err < 1e-6,
            "d/d{}: AD {ad} vs FD {fd} ({err:.1e})",
            names[k]
        );
    }
}

/// The gradient of Σ w·trace with respect to every parameter, through the fused op.
fn op_gradient(problem: &NetworkProblem, params: &[f64]) -> Vec<f64> {
    let device = f64_device(BackendKind::Flex, true);
    let np = problem.layout().np();
    let tl = problem.trace_len();
    let batch = params.len() / (np * N);
    let p = Tensor::<1>::from_data(TensorData::new(params.to_vec(), [params.len()]), &device)
        .reshape([batch, np, N])
        .require_grad();
    let wv: Vec<f64> = (0..batch * tl)
        .map(|k| (k % 13) as f64 / 13.0 - 0.4)
        .collect();
    let w = Tensor::<1>::from_data(TensorData::new(wv, [batch * tl]), &device);
    let trace = simulate(p.clone(), &Simulation(Arc::new(problem.clone())));
    let grads = (trace.reshape([batch * tl]) * w).sum().backward();
    p.grad(&grads).unwrap().into_data().try_into_vec().unwrap()
}

/// A gradient horizon at least as long as the run gives the full gradient; a shorter one cuts
/// the gradient (the forward pass is unchanged either way).
#[test]
fn gradient_horizon_longer_than_the_run_is_exact() {
    let (problem, params) = zoo(
        ModelKind::JansenRit,
        CouplingKind::SigmoidalJansenRit,
        Method::Heun,
        90,
        1e-3,
    );
    let full = op_gradient(&problem, &params);
    let mut h = problem.clone();
    h.grad_horizon = Some(90);
    let same = op_gradient(&h, &params);
    for (a, b) in full.iter().zip(&same) {
        assert!((a - b).abs() <= 1e-12 * b.abs().max(1e-12), "{a} vs {b}");
    }
    h.grad_horizon = Some(20);
    let cut = op_gradient(&h, &params);
    assert_ne!(cut, full);
    assert_eq!(
        network_kernel::forward(&h, &params, false).0.trace,
        network_kernel::forward(&problem, &params, false).0.trace
    );
}

/// With independent realisations, batch entry `b` uses realisation `b mod K`: a batch equals
/// single runs on each realisation's stream, and realisation 0 is the plain seeded stream.
#[test]
fn noise_realisations_are_independent_streams() {
    let (mut problem, params) = zoo(
        ModelKind::JansenRit,
        CouplingKind::SigmoidalJansenRit,
        Method::Heun,
        40,
        1e-2,
    );
    let singles: Vec<Vec<f64>> = (0..3u64)
        .map(|r| {
            let mut p = problem.clone();
            p.noise = NoiseSource::seeded(7, r);
            network_kernel::forward(&p, &params, false).0.trace
        })
        .collect();
    assert_ne!(singles[0], singles[1]);
    problem.noise = NoiseSource::realisations(7, 3, 40, 6, N, 1 << 20);
    let batch: Vec<f64> = (0..3).flat_map(|_| params.iter().copied()).collect();
    let out = network_kernel::forward(&problem, &batch, false).0.trace;
    let tl = problem.trace_len();
    for r in 0..3 {
        assert_eq!(
            &out[r * tl..(r + 1) * tl],
            &singles[r][..],
            "realisation {r}"
        );
    }
}

/// The zoo problem with interpolated delays: tract lengths `L = slots·v·dt` (target-major),
/// and the conduction speed `v` appended to the parameters.
fn zoo_interpolated(slots: impl Fn(usize) -> f64, v: f64) -> (NetworkProblem, Vec<f64>) {
    let (mut problem, mut params) = zoo(
        ModelKind::JansenRit,
        CouplingKind::SigmoidalJansenRit,
        Method::Heun,
        60,
        1e-3,
    );
    let dt = problem.dt;
    let lengths: Vec<f64> = (0..N * N).map(|ij| slots(ij) * v * dt).collect();
    problem.lag = Arc::new((0..N * N).map(|ij| slots(ij).round() as usize).collect());
    problem.interpolation = network_kernel::DelayInterpolation::Linear {
        lengths: Arc::new(lengths),
    };
    params.extend(std::iter::repeat_n(v, N));
    (problem, params)
}

/// On whole slots, interpolated delays read exactly the integer delays' values.
#[test]
fn interpolated_delays_on_whole_slots_equal_integer_delays() {
    let (problem, params) = zoo_interpolated(|ij| ((ij / N + 2 * (ij % N)) % 3) as f64, 3.0);
    let mut nearest = problem.clone();
    nearest.interpolation = network_kernel::DelayInterpolation::Nearest;
    let np = nearest.layout().np();
    let a = network_kernel::forward(&problem, &params, false).0.trace;
    let b = network_kernel::forward(&nearest, &params[..np * N], false)
        .0
        .trace;
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() <= 1e-12 * y.abs().max(1.0), "{x} vs {y}");
    }
}

/// The gradient with respect to the conduction speed (interpolated delays) equals finite
/// differences, as do the others.
#[test]
fn conduction_speed_gradient_matches_finite_differences() {
    let (problem, params) =
        zoo_interpolated(|ij| 0.37 + ((ij / N + 2 * (ij % N)) % 3) as f64 * 0.8, 3.0);
    let np = problem.layout().np();
    let g = op_gradient(&problem, &params);
    for k in [np - 1, 0, np - 2] {
        let ad: f64 = g[k * N..(k + 1) * N].iter().sum();
        // The loss is small next to the trace it sums, so steps much below 1e-3 drown in
        // rounding; Richardson extrapolation removes the O(h²) error of this larger step.
        let h = 1e-3 * params[k * N].abs().max(1e-2);
        let fd = fd_global(&problem, &params, k, h);
        let err = (ad - fd).abs() / fd.abs().max(ad.abs());
        assert!(err < 1e-6, "parameter {k}: AD {ad} vs FD {fd} ({err:.1e})");
    }
}

/// Richardson-extrapolated central difference of [`weighted_loss`] along parameter `k` moved in
/// every region at once (so it is the sum of the per-region derivatives), step `h`.
fn fd_global(problem: &NetworkProblem, params: &[f64], k: usize, h: f64) -> f64 {
    let central = |h: f64| {
        let (mut a, mut b) = (params.to_vec(), params.to_vec());
        for i in 0..N {
            a[k * N + i] += h;
            b[k * N + i] -= h;
        }
        (weighted_loss(problem, &a) - weighted_loss(problem, &b)) / (2.0 * h)
    };
    (4.0 * central(h / 2.0) - central(h)) / 3.0
}

/// Σ w·trace of the fused kernel (no tape) and its gradient through the op.
fn weighted_loss(problem: &NetworkProblem, params: &[f64]) -> f64 {
    let (out, _) = network_kernel::forward(problem, params, false);
    out.trace
        .iter()
        .enumerate()
        .map(|(k, v)| v * ((k % 13) as f64 / 13.0 - 0.4))
        .sum()
}

#[test]
fn gradients_match_finite_differences_for_every_model() {
    let device = f64_device(BackendKind::Flex, true);
    for &m in ModelKind::ALL {
        let c = natural_coupling(m);
        let (problem, params) = zoo(m, c, Method::Heun, 40, 0.0);
        let np = problem.layout().np();
        let tl = problem.trace_len();
        let p = Tensor::<1>::from_data(TensorData::new(params.clone(), [np * N]), &device)
            .reshape([1, np, N])
            .require_grad();
        let wv: Vec<f64> = (0..tl).map(|k| (k % 13) as f64 / 13.0 - 0.4).collect();
        let w = Tensor::<1>::from_data(TensorData::new(wv, [tl]), &device);
        let trace = simulate(p.clone(), &Simulation(Arc::new(problem.clone())));
        let grads = (trace.reshape([tl]) * w).sum().backward();
        let g: Vec<f64> = p.grad(&grads).unwrap().into_data().try_into_vec().unwrap();
        let names = fit::network_setup::param_names(m, c);
        let scale = g.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        for k in 0..np {
            // Perturb the parameter in every region: the derivative is the sum over regions.
            let ad: f64 = g[k * N..(k + 1) * N].iter().sum();
            let h = 1e-3 * params[k * N].abs().max(1e-2);
            let fd = fd_global(&problem, &params, k, h);
            let err = (ad - fd).abs() / fd.abs().max(ad.abs()).max(1e-6 * scale);
            assert!(
                err < 1e-6,
                "{}: d/d{}: AD {ad} vs FD {fd} (relative {err:.1e})",
                m.info().name,
                names[k]
            );
        }
    }
}

struct Order(Method);

impl ModelVisitor for Order {
    type Output = f64;
    /// Empirical order of one isolated node (constant coupling input) by the log-log slope of
    /// the error against a fine reference.
    fn visit<M: NodeModel>(self) -> f64 {
        let tab = self.0.tableau();
        let p: Vec<f64> = M::PARAMS.iter().map(|p| p.default).collect();
        let c = vec![0.01; M::N_COUPLING.max(2)];
        let t_end = 128.0 * M::DT;
        let run_with = |tab: &solvers::Tableau, dt: f64| {
            let mut x = [0.0; MAX_STATE];
            x[..M::NS].copy_from_slice(M::INITIAL);
            let steps = (t_end / dt).round() as usize;
            for _ in 0..steps {
                x = solvers::integrator::step::<M>(tab, dt, &x, &c, &p, &[0.0; MAX_STATE]);
            }
            x
        };
        let run = |dt: f64| run_with(tab, dt);
        // The reference is RK4 at a much finer step, whatever the method under test.
        let reference = run_with(Method::Rk4.tableau(), M::DT / 256.0);
        let err = |dt: f64| {
            let y = run(dt);
            (0..M::NS)
                .map(|v| (y[v] - reference[v]).abs())
                .fold(0.0, f64::max)
        };
        // Least-squares slope of log(error) against log(dt) over four halvings.
        // The asymptotic range: the finest steps whose error is still well above the rounding
        // accumulated over the run (100 ε per step, relative to the state's scale) and below 3%
        // of the scale; the slope of the last three.
        let scale = reference[..M::NS]
            .iter()
            .fold(1e-3f64, |m, v| m.max(v.abs()));
        let mut pts: Vec<(f64, f64)> = (-7..=6)
            .rev()
            .map(|j| M::DT * 2f64.powi(j))
            .filter(|dt| t_end / dt >= 2.0)
            .map(|dt| (dt, err(dt), 100.0 * f64::EPSILON * (t_end / dt) * scale))
            .filter(|&(_, e, floor)| e > floor && e < 3e-2 * scale)
            .map(|(dt, e, _)| (dt.ln(), e.ln()))
            .collect();
        assert!(pts.len() >= 3, "{}: too few usable step sizes", M::NAME);
        let pts = pts.split_off(pts.len() - 3);
        let mx = pts.iter().map(|p| p.0).sum::<f64>() / 3.0;
        let my = pts.iter().map(|p| p.1).sum::<f64>() / 3.0;
        let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
        let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
        sxy / sxx
    }
}

#[test]
fn integrators_converge_at_their_order_for_every_model() {
    for &m in ModelKind::ALL {
        for method in Method::ALL {
            let order = method.tableau().order as f64;
            let slope = m.visit(Order(method));
            eprintln!(
                "{} {}: slope {slope:.3}",
                m.info().name,
                method.tableau().name
            );
            assert!(
                (slope - order).abs() < 0.3,
                "{} with {}: slope {slope}, order {order}",
                m.info().name,
                method.tableau().name
            );
        }
    }
}

#[test]
fn a_batch_equals_single_runs_for_every_model() {
    for &m in ModelKind::ALL {
        let c = natural_coupling(m);
        let (problem, params) = zoo(m, c, Method::Heun, 50, 1e-3);
        let np = problem.layout().np();
        let mut batch = Vec::new();
        let mut singles = Vec::new();
        for b in 0..3 {
            let mut p = params.clone();
            let k = b % np;
            for i in 0..N {
                p[k * N + i] *= 1.0 + 0.01 * (b + i) as f64;
            }
            singles.push(network_kernel::forward(&problem, &p, false).0.trace);
            batch.extend(p);
        }
        let (out, _) = network_kernel::forward(&problem, &batch, false);
        let tl = problem.trace_len();
        for (b, s) in singles.iter().enumerate() {
            assert_eq!(
                &out.trace[b * tl..(b + 1) * tl],
                &s[..],
                "{}",
                m.info().name
            );
        }
    }
}

/// Batches of four or more sets with shared integer delays run four sets per SIMD register
/// (the batch-major kernel, where the CPU has AVX2), eight per pass where there are eight:
/// every lane must equal the set's own run bit for bit (trace, final state, final history and
/// the continuing noise), for every model × coupling and method, with one noise stream for the
/// batch or one per set, per-set initial states, the temporal-average and BOLD monitors, and a
/// batch of 14 (one pass of eight, one of four, two sets alone).
#[test]
fn batch_major_lanes_equal_single_runs_bit_for_bit() {
    let mut cases = Vec::new();
    for (m, c) in valid_pairs() {
        for method in Method::ALL {
            cases.push((m, c, method, 0));
        }
    }
    for &m in ModelKind::ALL {
        for variant in 1..=3 {
            cases.push((m, natural_coupling(m), Method::Heun, variant));
        }
    }
    for (m, c, method, variant) in cases {
        let sigma = if method.tableau().stochastic {
            1e-2
        } else {
            0.0
        };
        let steps = 37;
        let (mut problem, params) = zoo(m, c, method, steps, sigma);
        let info = m.info();
        let (ns, nh) = (info.state.len(), problem.horizon);
        let batch = 14;
        let np = problem.layout().np();
        let all: Vec<f64> = (0..batch)
            .flat_map(|b| {
                let mut p = params.clone();
                for k in 0..np {
                    for i in 0..N {
                        p[k * N + i] *= 1.0 + 0.003 * ((b * 5 + k + i) % 7) as f64;
                    }
                }
                p
            })
            .collect();
        match variant {
            // Noise realisations per set (five, reused cyclically: sets 0, 5 and 10 share one).
            1 if sigma > 0.0 => {
                problem.noise = NoiseSource::realisations(7, 5, steps, ns, N, 1 << 20);
            }
            // Per-set initial states and a temporal average.
            2 => {
                let s0 = problem.init_state.to_vec();
                let init: Vec<f64> = (0..batch)
                    .flat_map(|b| {
                        s0.iter()
                            .enumerate()
                            .map(move |(k, &v)| {
                                let (lo, hi) = info.state[k / N].bounds;
                                (v + 0.002 * (b + k % 3) as f64).clamp(lo, hi)
                            })
                            .collect::<Vec<_>>()
                    })
                    .collect();
                problem.init_state = Arc::new(init);
                problem.monitor = Monitor {
                    kind: MonitorKind::TemporalAverage,
                    stride: 4,
                    variables: vec![info.voi],
                };
            }
            3 => {
                problem.monitor = Monitor {
                    kind: MonitorKind::Bold(solvers::BoldMonitor {
                        constants: solvers::BoldConstants::classical(),
                        driver: vec![(info.voi, 1.0)],
                        period: 5,
                        transient: 3,
                    }),
                    stride: 1,
                    variables: vec![info.voi],
                };
            }
            _ => {}
        }
        problem.validate(batch).unwrap();
        let (out, _) = network_kernel::forward(&problem, &all, false);
        let label = format!(
            "{} + {} ({}, variant {variant})",
            info.name,
            c.info().name,
            method.tableau().name
        );
        let (tl, sl, hl) = (problem.trace_len(), ns * N, nh * info.cvar.len() * N);
        for b in 0..batch {
            let mut one = problem.clone();
            if let NoiseSource::Realisations(r) = &problem.noise {
                one.noise = r[b % r.len()].clone();
            }
            if problem.init_state.len() != sl {
                one.init_state = Arc::new(problem.init_state[b * sl..(b + 1) * sl].to_vec());
            }
            let (single, _) =
                network_kernel::forward(&one, &all[b * np * N..(b + 1) * np * N], false);
            assert_eq!(
                &out.trace[b * tl..(b + 1) * tl],
                &single.trace[..],
                "{label}: trace of set {b}"
            );
            assert_eq!(
                &out.final_state[b * sl..(b + 1) * sl],
                &single.final_state[..],
                "{label}: final state of set {b}"
            );
            assert_eq!(
                &out.final_history[b * hl..(b + 1) * hl],
                &single.final_history[..],
                "{label}: final history of set {b}"
            );
            if b == 0 {
                assert_eq!(
                    out.final_noise, single.final_noise,
                    "{label}: continuing noise"
                );
            }
        }
    }
}

/// Noise drawn inside the kernel does not depend on the segment length or on chunking.
#[test]
fn noise_does_not_depend_on_segments_or_chunks() {
    let (mut problem, params) = zoo(
        ModelKind::JansenRit,
        CouplingKind::SigmoidalJansenRit,
        Method::Heun,
        60,
        1e-2,
    );
    let whole = network_kernel::forward(&problem, &params, false).0;
    problem.segment = 13;
    assert_eq!(
        network_kernel::forward(&problem, &params, false).0.trace,
        whole.trace
    );
    let mut part = problem.clone();
    part.steps = 25;
    let head = network_kernel::forward(&part, &params, false).0;
    part.steps = 35;
    part.init_state = Arc::new(head.final_state);
    part.init_history = Arc::new(head.final_history);
    part.noise = head.final_noise;
    let tail = network_kernel::forward(&part, &params, false).0;
    let chained: Vec<f64> = head.trace.into_iter().chain(tail.trace).collect();
    assert_eq!(chained, whole.trace);
}

/// One tvb-library fixture case.
#[derive(serde::Deserialize)]
struct Case {
    case: String,
    model: String,
    parameters: std::collections::BTreeMap<String, f64>,
    coupling: String,
    coupling_parameters: std::collections::BTreeMap<String, f64>,
    integrator: String,
    dt: f64,
    steps: usize,
    initial: std::collections::BTreeMap<String, f64>,
    store_stride: usize,
    trace_file: String,
    stock_float32_max_abs_diff: f64,
}

/// tvb-library parameters neurodyn's tables leave out, because tvb-library's drift never reads
/// them.
const UNUSED_TVB_PARAMETERS: [&str; 3] = ["p_min", "p_max", "sigma_noise"];

#[test]
fn every_model_matches_tvb_library_on_dk84() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tvb");
    let cases: Vec<Case> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("cases.json")).unwrap()).unwrap();
    for &m in ModelKind::ALL {
        assert!(
            cases.iter().any(|c| c.model == m.info().name),
            "{} has no tvb-library fixture (add a case to tools/make_tvb_fixtures.py)",
            m.info().name
        );
    }
    for case in &cases {
        let method = match case.integrator.as_str() {
            "HeunDeterministic" => "Heun",
            "EulerDeterministic" => "Euler",
            "RungeKutta4thOrderDeterministic" => "RK4",
            other => panic!("integrator {other}"),
        };
        let param_yaml = |map: &std::collections::BTreeMap<String, f64>| -> String {
            map.iter()
                .filter(|(k, _)| !UNUSED_TVB_PARAMETERS.contains(&k.as_str()))
                .map(|(k, v)| format!("{k}: {{value: {v:e}}}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let initial = case
            .initial
            .iter()
            .map(|(k, v)| format!("{k}: {v:e}"))
            .collect::<Vec<_>>()
            .join(", ");
        let text = format!(
            "model: {{name: {}, parameters: {{{}}}}}\n\
             connectivity: {{dataset: dk_average, conduction_speed: 3.0, normalisation: max}}\n\
             coupling: {{name: {}, parameters: {{{}}}}}\n\
             integration: {{method: {method}, dt: {:e}, duration: {:e}, noise: {{sigma: 0}}}}\n\
             initial_conditions: {{kind: cold, value: {{{initial}}}}}\n\
             monitors: {{stride: {}}}\n",
            case.model,
            param_yaml(&case.parameters),
            case.coupling,
            param_yaml(&case.coupling_parameters),
            case.dt,
            case.steps as f64 * case.dt,
            case.store_stride,
        );
        let path = common::experiment("tvb_fixture.yaml");
        let exp = fit::yaml::parse_experiment(&path, &text, &[]).unwrap();
        let s =
            <fit::network_setup::NetworkSetup as fit::network_setup::SetupFiles>::new(exp, &path)
                .unwrap();
        assert_eq!(s.problem.steps, case.steps, "{}", case.case);
        let (out, _) = network_kernel::forward(&s.problem, &s.base_params, false);
        let (want, shape) = fit::npy::read_npy(&dir.join(&case.trace_file)).unwrap();
        let ns = s.model.info().state.len();
        assert_eq!(
            shape,
            vec![out.trace.len() / (ns * 84), ns, 84],
            "{}",
            case.case
        );
        let samples = shape[0];
        let mut worst: f64 = 0.0;
        for v in 0..ns {
            let scale = (0..samples)
                .flat_map(|k| (0..84).map(move |i| (k, i)))
                .map(|(k, i)| want[(k * ns + v) * 84 + i].abs())
                .fold(1.0f64, f64::max);
            for k in 0..samples {
                for i in 0..84 {
                    let idx = (k * ns + v) * 84 + i;
                    worst = worst.max((out.trace[idx] - want[idx]).abs() / scale);
                }
            }
        }
        eprintln!(
            "{}: max |neurodyn − tvb-library (float64 history)| = {worst:.1e} (scaled); stock \
             float32 TVB differs by {:.1e}",
            case.case, case.stock_float32_max_abs_diff
        );
        assert!(
            worst <= 1e-9,
            "{}: differs from tvb-library by {worst}",
            case.case
        );
    }
}

/// The adjoint of the integer-delay reads is a gather over the transposed delay table; it must
/// equal the scatter it replaced (the interpolated delays' form) for every model and coupling,
/// with and without a gradient horizon (whose cut the two forms implement differently).
#[test]
fn delay_adjoint_gather_equals_the_scatter() {
    for (model, coupling) in valid_pairs() {
        for hz in [None, Some(20), Some(9), Some(1)] {
            let (mut problem, params) = zoo(model, coupling, Method::Heun, 60, 1e-3);
            problem.grad_horizon = hz;
            let (out, tapes) = network_kernel::forward(&problem, &params, true);
            let g: Vec<f64> = (0..out.trace.len())
                .map(|k| (k % 11) as f64 / 11.0 - 0.45)
                .collect();
            let gather = network_kernel::backward(&problem, &params, &tapes, &g);
            let scatter = network_kernel::backward_scatter(&problem, &params, &tapes, &g);
            let scale = scatter.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            assert!(scale > 0.0, "{model:?}/{coupling:?}: zero gradient");
            for (k, (a, b)) in gather.iter().zip(&scatter).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-12 * scale,
                    "{model:?}/{coupling:?}, horizon {hz:?}, entry {k}: gather {a} vs scatter {b}"
                );
            }
        }
    }
}
