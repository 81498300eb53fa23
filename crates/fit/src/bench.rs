//! `fit bench` (speed and memory against a plain-Rust loop) and `fit gradcheck`.
//!
//! Benchmarks, not tests: the machines are shared, so the report gives ratios measured in one
//! run (best of several repetitions) next to the absolute numbers.

use crate::alloc;
use crate::network_setup::{NetworkSetup, SetupFiles};
use crate::objective::{Objective, TargetFiles};
use crate::train::{FitParams, evaluate};
use anyhow::{Result, anyhow};
use backend::BackendKind;
use burn::tensor::{Tensor, TensorData};
use dynamics::{MAX_COUPLING, MAX_STATE, ModelVisitor, NodeModel};
use solvers::integrator::step;
use solvers::network_kernel::{self, NetworkProblem};
use solvers::noise::NoiseCursor;
use solvers::{Monitor, Simulation, simulate};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// The same forward math as the fused kernel written as the most direct loop — a ring buffer
/// of per-source pre-synaptic values, a plain serial sum per target, no batching, no tape, no
/// precomputed offsets: the "speed of light" the burn op is measured against. It calls the
/// model's one drift (through the integrator step) and the coupling's pre and post functions,
/// so no equation is written a second time. Returns the full trace `[steps, S, n]`.
pub fn plain_forward(problem: &NetworkProblem, params: &[f64]) -> Vec<f64> {
    struct Plain<'a>(&'a NetworkProblem, &'a [f64]);
    impl ModelVisitor for Plain<'_> {
        type Output = Vec<f64>;
        fn visit<M: NodeModel>(self) -> Vec<f64> {
            let (problem, params) = (self.0, self.1);
            let lay = problem.layout();
            let (n, nh, ns, nch, np) = (problem.n, problem.horizon, lay.ns, lay.nch, lay.np());
            let cvar = problem.model.info().cvar;
            let par = |i: usize| -> Vec<f64> { (0..np).map(|k| params[k * n + i]).collect() };
            let pn: Vec<Vec<f64>> = (0..n).map(par).collect();
            let coupling = problem.coupling;
            let pre = |i: usize, x: &[f64]| -> Vec<f64> {
                let mut out = vec![0.0; nch];
                coupling.pre(x, &pn[i][lay.npm..], &mut out);
                out
            };
            let mut x = problem.init_state.to_vec();
            // ring[(r·nch + h)·n + j]: channel h of source j at the time whose index is r (mod nh).
            let mut ring = vec![0.0; nh * nch * n];
            let h = &problem.init_history;
            let ncv = cvar.len();
            for r in 0..nh {
                for j in 0..n {
                    let xv: Vec<f64> = (0..ncv).map(|q| h[(r * ncv + q) * n + j]).collect();
                    for (ch, v) in pre(j, &xv).into_iter().enumerate() {
                        ring[(r * nch + ch) * n + j] = v;
                    }
                }
            }
            let scale = problem.dt.sqrt() * problem.sigma;
            let mut noise = NoiseCursor::new(&problem.noise);
            let mut eta = vec![0.0; ns * n];
            let rowsum: Vec<f64> = (0..n)
                .map(|i| problem.weights[i * n..(i + 1) * n].iter().sum())
                .collect();
            let tab = problem.method.tableau();
            let mut out = Vec::with_capacity(problem.steps * ns * n);
            let mut c = vec![0.0; nch * n];
            let mut pre_out = [0.0; MAX_COUPLING];
            for k in 0..problem.steps {
                let now = (k + nh - 1) % nh;
                for i in 0..n {
                    let mut sum = [0.0; MAX_COUPLING];
                    for (ch, s) in sum[..nch].iter_mut().enumerate() {
                        for j in 0..n {
                            let lag = problem.lag[i * n + j];
                            *s += problem.weights[i * n + j]
                                * ring[(((now + nh - lag) % nh) * nch + ch) * n + j];
                        }
                    }
                    let mut xi = [0.0; MAX_COUPLING];
                    for (q, &cv) in cvar.iter().enumerate() {
                        xi[q] = x[cv * n + i];
                    }
                    let mut ci = [0.0; MAX_COUPLING];
                    coupling.post(
                        &sum[..nch],
                        &xi[..ncv],
                        rowsum[i],
                        &pn[i][lay.npm..],
                        &mut ci[..nch],
                    );
                    for ch in 0..nch {
                        c[ch * n + i] = ci[ch];
                    }
                }
                noise.next_step(scale, &mut eta);
                for i in 0..n {
                    let mut y = [0.0; MAX_STATE];
                    let mut e = [0.0; MAX_STATE];
                    for v in 0..ns {
                        y[v] = x[v * n + i];
                        e[v] = eta[v * n + i];
                    }
                    let mut ci = [0.0; MAX_COUPLING];
                    for ch in 0..nch {
                        ci[ch] = c[ch * n + i];
                    }
                    let y1 = step::<M>(tab, problem.dt, &y, &ci[..nch], &pn[i][..lay.npm], &e);
                    for v in 0..ns {
                        x[v * n + i] = y1[v];
                    }
                }
                let next = (k + nh) % nh;
                for j in 0..n {
                    let mut xv = [0.0; MAX_COUPLING];
                    for (q, &cv) in cvar.iter().enumerate() {
                        xv[q] = x[cv * n + j];
                    }
                    coupling.pre(&xv[..ncv], &pn[j][lay.npm..], &mut pre_out[..nch]);
                    for ch in 0..nch {
                        ring[(next * nch + ch) * n + j] = pre_out[ch];
                    }
                }
                out.extend_from_slice(&x);
            }
            out
        }
    }
    problem.model.visit(Plain(problem, params))
}

/// CPU seconds used by this process so far (all threads, including finished ones):
/// `clock_gettime(CLOCK_PROCESS_CPUTIME_ID)` (nanoseconds) where available, else
/// /proc/self/stat (10 ms ticks), else 0. The peer's figures are CPU seconds, and on a loaded
/// machine wall time overstates our own cost.
pub fn cpu_seconds() -> f64 {
    #[cfg(unix)]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec; the call only writes it.
        if unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) } == 0 {
            return ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9;
        }
    }
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0 // USER_HZ is 100 on Linux
}

/// Median wall time and median CPU time over `reps` repetitions, and the last result, after
/// one untimed warm-up call: the first call of a process pays one-off costs that are not the
/// workload's (the delayed gather's calibration, the first mapping of fresh huge pages, which
/// took up to 80 ms on a virtual machine, lazily built tables).
fn best_of<T>(reps: usize, mut f: impl FnMut() -> T) -> ((f64, f64), T) {
    let (mut wall, mut cpu) = (Vec::with_capacity(reps), Vec::with_capacity(reps));
    drop(f());
    let mut last = None;
    for _ in 0..reps {
        let (t, c) = (Instant::now(), cpu_seconds());
        let v = f();
        wall.push(t.elapsed().as_secs_f64());
        cpu.push(cpu_seconds() - c);
        last = Some(v);
    }
    (
        (median(&mut wall), median(&mut cpu)),
        last.expect("reps >= 1"),
    )
}

/// The median of `v` (the mean of the middle two for an even count); NaN when empty.
fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        0.5 * (v[m - 1] + v[m])
    }
}

/// One benchmark figure, as `--json` and `--markdown` report it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Figure {
    /// Suite (`jr`, `models`, `bold`, `ratenet`, `soc`).
    pub suite: String,
    /// Table within the suite.
    pub section: String,
    /// Row label.
    pub name: String,
    /// Median CPU seconds (all threads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_s: Option<f64>,
    /// Median wall seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wall_s: Option<f64>,
    /// CPU time over the same run's plain-Rust reference loop (JR and models suites).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio_to_plain: Option<f64>,
    /// Other numbers of the row (peak heap, loss, iterations, …).
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Every figure of one `fit bench` run, in the order printed.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Report {
    /// Simulated steps (`--steps`).
    pub steps: usize,
    /// Whether `--quick` sizes were used.
    pub quick: bool,
    /// Threads the process may use (1 under `taskset -c 0`).
    pub threads: usize,
    /// Repetitions each median is taken over.
    pub repetitions: usize,
    /// The figures.
    pub figures: Vec<Figure>,
}

impl Report {
    fn add(&mut self, suite: &str, section: &str, name: &str) -> &mut Figure {
        self.figures.push(Figure {
            suite: suite.into(),
            section: section.into(),
            name: name.into(),
            cpu_s: None,
            wall_s: None,
            ratio_to_plain: None,
            extra: serde_json::Map::new(),
        });
        self.figures.last_mut().expect("just pushed")
    }

    /// The figures as Markdown: one table per section, every number with its unit.
    pub fn markdown(&self) -> String {
        let mut md = format!(
            "# Benchmarks\n\nGenerated by `tools/bench_docs.sh` (`fit bench --markdown`); do not \
             edit by hand. {} steps, {} thread(s), medians of {} repetition(s) after one untimed \
             warm-up call{}. Times are CPU \
             seconds of the whole process unless marked wall; \"× plain\" is the CPU time over \
             the same run's plain-Rust reference loop (`bench::plain_forward`).\n",
            self.steps,
            self.threads,
            self.repetitions,
            if self.quick { ", quick sizes" } else { "" }
        );
        let mut sections: Vec<(&str, &str)> = Vec::new();
        for f in &self.figures {
            if !sections.contains(&(f.suite.as_str(), f.section.as_str())) {
                sections.push((&f.suite, &f.section));
            }
        }
        for (suite, section) in sections {
            let rows: Vec<&Figure> = self
                .figures
                .iter()
                .filter(|f| f.suite == suite && f.section == section)
                .collect();
            let mut keys: Vec<&String> = Vec::new();
            for f in &rows {
                for k in f.extra.keys() {
                    if !keys.contains(&k) {
                        keys.push(k);
                    }
                }
            }
            md.push_str(&format!(
                "\n## {suite}: {section}\n\n| | CPU s | wall s | × plain |"
            ));
            for k in &keys {
                md.push_str(&format!(" {k} |"));
            }
            md.push_str("\n|---|---:|---:|---:|");
            md.push_str(&"---:|".repeat(keys.len()));
            md.push('\n');
            let num = |v: Option<f64>, digits: usize| {
                v.map_or(String::new(), |v| format!("{v:.digits$}"))
            };
            for f in rows {
                md.push_str(&format!(
                    "| {} | {} | {} | {} |",
                    f.name,
                    num(f.cpu_s, 3),
                    num(f.wall_s, 3),
                    num(f.ratio_to_plain, 2)
                ));
                for k in &keys {
                    let cell = match f.extra.get(*k) {
                        Some(serde_json::Value::Number(x)) => match x.as_f64() {
                            Some(v) if v.fract() == 0.0 && v.abs() < 1e15 => format!("{v}"),
                            Some(v) if v != 0.0 && (v.abs() < 1e-3 || v.abs() >= 1e6) => {
                                format!("{v:.3e}")
                            }
                            Some(v) => format!("{v:.4}"),
                            None => x.to_string(),
                        },
                        Some(serde_json::Value::String(t)) => t.clone(),
                        Some(v) => v.to_string(),
                        None => String::new(),
                    };
                    md.push_str(&format!(" {cell} |"));
                }
                md.push('\n');
            }
        }
        md
    }
}

impl Figure {
    fn times(&mut self, cpu: f64, wall: f64) -> &mut Self {
        self.cpu_s = Some(cpu);
        self.wall_s = Some(wall);
        self
    }

    fn ratio(&mut self, plain_cpu: f64) -> &mut Self {
        self.ratio_to_plain = self.cpu_s.map(|c| c / plain_cpu);
        self
    }

    fn with(&mut self, key: &str, v: impl Into<serde_json::Value>) -> &mut Self {
        self.extra.insert(key.into(), v.into());
        self
    }
}

/// Where `fit bench` writes its figures besides the printed tables.
#[derive(Debug, Clone, Default)]
pub struct BenchOutputs {
    /// `--json FILE`: every figure as one JSON object.
    pub json: Option<PathBuf>,
    /// `--markdown FILE`: the tables of `docs/benchmarks.md`.
    pub markdown: Option<PathBuf>,
}

fn shipped(name: &str) -> PathBuf {
    let local = PathBuf::from("experiments").join(name);
    if local.exists() {
        local
    } else {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../experiments")
            .join(name)
    }
}

fn load_setup(name: &str, overrides: &[String]) -> Result<NetworkSetup> {
    let path = shipped(name);
    let text = std::fs::read_to_string(&path).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    NetworkSetup::new(
        crate::yaml::parse_experiment(&path, &text, overrides)?,
        &path,
    )
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// `fit bench`: the suites `jr`, `models`, `ratenet`, `soc` (or `all`); prints the tables and
/// writes the figures where `outputs` says.
pub fn bench(steps: usize, quick: bool, suite: &str, outputs: &BenchOutputs) -> Result<()> {
    let mut rep = Report {
        steps,
        quick,
        threads: solvers::threads::available(),
        repetitions: if quick { 1 } else { 3 },
        figures: Vec::new(),
    };
    bench_suites(steps, quick, suite, &mut rep)?;
    if let Some(path) = &outputs.json {
        let text = serde_json::to_string_pretty(&rep)?;
        std::fs::write(path, text + "\n").map_err(|e| anyhow!("{}: {e}", path.display()))?;
        println!("\nfigures written to {}", path.display());
    }
    if let Some(path) = &outputs.markdown {
        std::fs::write(path, rep.markdown()).map_err(|e| anyhow!("{}: {e}", path.display()))?;
        println!("tables written to {}", path.display());
    }
    Ok(())
}

fn bench_suites(steps: usize, quick: bool, suite: &str, rep: &mut Report) -> Result<()> {
    let all = suite == "all";
    if !all && !["jr", "models", "bold", "ratenet", "soc"].contains(&suite) {
        return Err(anyhow!(
            "--suite {suite}: choose jr, models, bold, ratenet, soc or all"
        ));
    }
    if all || suite == "jr" {
        bench_jr(steps, quick, rep)?;
    }
    if all || suite == "models" {
        bench_models(steps, quick, rep)?;
    }
    if all || suite == "bold" {
        bench_bold(quick, rep)?;
    }
    if all || suite == "ratenet" {
        bench_ratenet(quick, rep)?;
    }
    if all || suite == "soc" {
        println!(
            "\nstability-optimised circuits: one SOC step (Schur + both Gramians + projections)"
        );
        let sizes: &[usize] = if quick { &[100] } else { &[100, 200, 400] };
        for (n, ms) in soc::bench::bench_steps(sizes) {
            println!("  N = {n:4}: {ms:9.2} ms per step");
            rep.add("soc", "one SOC step", &format!("N = {n}"))
                .with("ms_per_step", ms);
        }
        println!("  real Schur decomposition alone (median; compare LAPACK's dgees alone):");
        for (n, ms) in soc::bench::bench_schur(sizes) {
            println!("  N = {n:4}: {ms:9.2} ms");
            rep.add("soc", "real Schur decomposition alone", &format!("N = {n}"))
                .with("ms", ms);
        }
    }
    Ok(())
}

/// AI-state rate network: Phi throughput, N = 2000 fixed point + implicit gradient vs unrolled
/// Euler gradients.
fn bench_ratenet(quick: bool, rep: &mut Report) -> Result<()> {
    println!("\nAI-state rate network");
    let evals = ratenet::bench::bench_phi_evals_per_second(if quick { 100_000 } else { 1_000_000 });
    println!(
        "  Phi with derivatives: {:.3e} evaluations per second",
        evals
    );
    rep.add("ratenet", "AI-state rate network", "Phi with derivatives")
        .with("evaluations_per_s", evals);
    let (n, unrolled) = if quick { (500, 100) } else { (2000, 500) };
    let device = backend::f64_device(BackendKind::Flex, false);
    let base = alloc::reset_peak();
    let (fp_s, its, grad_s) = ratenet::bench::bench_implicit_path(n).map_err(|e| anyhow!("{e}"))?;
    let implicit_peak = alloc::peak().saturating_sub(base);
    println!(
        "  N = {n}: fixed point {fp_s:.3} s ({its} iterations) + implicit gradient {grad_s:.3} s = {:.3} s; heap peak {:.1} MiB",
        fp_s + grad_s,
        mib(implicit_peak)
    );
    // The figure that matters in use is this path alone (fixed point + implicit gradient, and
    // its own heap peak); the section's peak below also holds the unrolled autodiff comparison.
    let section = "AI-state rate network";
    rep.add(
        "ratenet",
        section,
        &format!("N = {n}: fixed point + implicit gradient"),
    )
    .with("s", fp_s + grad_s)
    .with("iterations", its as f64)
    .with("peak_heap_mib", mib(implicit_peak));
    let base = alloc::reset_peak();
    let b = ratenet::bench::bench_fixed_point(n, unrolled, &device).map_err(|e| anyhow!("{e}"))?;
    let peak = alloc::peak().saturating_sub(base);
    println!(
        "  N = {n}: Newton fixed point {:.3} s ({} iterations), implicit gradient {:.3} s, op forward+backward {:.3} s",
        b.fixed_point_seconds,
        b.newton_iterations,
        b.implicit_gradient_seconds,
        b.op_forward_backward_seconds
    );
    println!(
        "  unrolled Euler ({} steps) forward+backward {:.3} s; gradients differ by {:.1e} (relative)",
        b.unrolled_steps, b.unrolled_seconds, b.gradient_rel_diff
    );
    rep.add("ratenet", section, &format!("N = {n}: Newton fixed point"))
        .with("s", b.fixed_point_seconds)
        .with("iterations", b.newton_iterations as f64);
    rep.add("ratenet", section, &format!("N = {n}: implicit gradient"))
        .with("s", b.implicit_gradient_seconds);
    rep.add(
        "ratenet",
        section,
        &format!("N = {n}: op forward + backward"),
    )
    .with("s", b.op_forward_backward_seconds);
    rep.add(
        "ratenet",
        section,
        &format!(
            "N = {n}: unrolled Euler ({} steps) forward + backward",
            b.unrolled_steps
        ),
    )
    .with("s", b.unrolled_seconds)
    .with("gradient_rel_diff", b.gradient_rel_diff);
    rep.add("ratenet", section, "heap peak of the section")
        .with("peak_heap_mib", mib(peak));
    println!(
        "  peak RSS growth: implicit {:.1} MiB, unrolled {:.1} MiB more; heap peak of the whole section {:.1} MiB",
        b.implicit_peak_bytes.unwrap_or(0) as f64 / 1048576.0,
        b.unrolled_peak_bytes.unwrap_or(0) as f64 / 1048576.0,
        mib(peak)
    );
    Ok(())
}

/// Jansen-Rit (84 regions) forward, forward + gradient and memory, and the plain-Rust loop.
fn bench_jr(steps: usize, quick: bool, rep: &mut Report) -> Result<()> {
    let reps = if quick { 1 } else { 3 };
    let dur = format!("integration.duration={steps}");
    let setup = load_setup("jr_peak.yaml", std::slice::from_ref(&dur))?;
    let mut problem = setup.problem.clone();
    problem.monitor = Monitor::raw((0..6).collect());
    let n = setup.n();
    println!(
        "Jansen-Rit, {n} regions, {steps} steps of dt = {} ms, sigma = {}, f64",
        problem.dt, problem.sigma
    );
    println!("threads available: {}", solvers::threads::available());

    let ((w_plain, t_plain), plain) = best_of(reps, || plain_forward(&problem, &setup.base_params));
    let ((w_kernel, t_kernel), (out, _)) = best_of(reps, || {
        network_kernel::forward(&problem, &setup.base_params, false)
    });
    let diff = plain
        .iter()
        .zip(&out.trace)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    println!("\nforward (one simulation, full [steps, 6, n] trace)        CPU s     wall s");
    println!("  plain-Rust loop                                  {t_plain:8.3}   {w_plain:8.3}");
    println!(
        "  fused kernel                                     {t_kernel:8.3}   {w_kernel:8.3}   ({:.2}x the plain loop; max |diff| {diff:.1e})",
        t_kernel / t_plain
    );
    let section = format!("Jansen-Rit {n} regions x {steps} steps, forward (full trace)");
    rep.add("jr", &section, "plain-Rust loop")
        .times(t_plain, w_plain)
        .ratio(t_plain);
    rep.add("jr", &section, "fused kernel")
        .times(t_kernel, w_kernel)
        .ratio(t_plain)
        .with("max_abs_diff", diff);
    for kind in [BackendKind::Flex, BackendKind::NdArray] {
        let device = backend::f64_device(kind, false);
        let sim = Simulation(Arc::new(problem.clone()));
        let np = setup.n_params();
        let ((w, t), _) = best_of(reps, || {
            let p = Tensor::<1>::from_data(
                TensorData::new(setup.base_params.clone(), [np * n]),
                &device,
            )
            .reshape([1, np, n]);
            simulate(p, &sim).into_data()
        });
        println!(
            "  burn op, {:<8} backend                        {t:8.3}   {w:8.3}   ({:.2}x the plain loop)",
            kind.name(),
            t / t_plain
        );
        rep.add("jr", &section, &format!("burn op, {} backend", kind.name()))
            .times(t, w)
            .ratio(t_plain);
    }

    println!("\nloss + gradient (jr_peak objective: y0[::10] -> Welch -> 1 - corr; one Adam step)");
    for kind in [BackendKind::Flex, BackendKind::NdArray] {
        for segment in [100usize, 250, 1000] {
            if segment > steps || (kind == BackendKind::NdArray && segment != 250) {
                continue;
            }
            let mut s = setup.clone();
            s.problem.segment = segment;
            let device = backend::f64_device(kind, true);
            let mut obj = Objective::new(&s, 1, &device, false)?;
            obj.set_target(&s, &shipped("jr_peak.yaml"))?;
            let values: Vec<Vec<f64>> = s.free.iter().map(|f| f.init.clone()).collect();
            let shapes: Vec<[usize; 2]> = values.iter().map(|v| [1, v.len()]).collect();
            let base = alloc::reset_peak();
            let ((w, t), e) = best_of(reps, || {
                evaluate(&obj, &FitParams::from_host(&values, &shapes, &device))
            });
            let e = e?;
            let peak = alloc::peak().saturating_sub(base);
            println!(
                "  {:<8} segment {segment:>5}                          {t:8.3}   {w:8.3}   peak heap {:6.1} MiB  loss {:.6}  ({:.2}x the plain forward loop)",
                kind.name(),
                mib(peak),
                e.losses[0],
                t / t_plain
            );
            rep.add(
                "jr",
                &format!(
                    "Jansen-Rit {n} regions x {steps} steps, loss + gradient (jr_peak objective)"
                ),
                &format!("{} backend, segment {segment}", kind.name()),
            )
            .times(t, w)
            .ratio(t_plain)
            .with("peak_heap_mib", mib(peak))
            .with("loss", e.losses[0]);
        }
    }

    let batch = if quick { 8 } else { 64 };
    let mut params = Vec::with_capacity(batch * setup.n_params() * n);
    let a = setup.param_ref("a").expect("JansenRit has `a`").index();
    for k in 0..batch {
        let mut p = setup.base_params.clone();
        p[a * n..(a + 1) * n].fill(0.03 + 0.001 * k as f64);
        params.extend(p);
    }
    let mut obs = crate::objective::observation_problem(&setup);
    obs.segment = 250;
    let ((w_batch, t_batch), _) = best_of(reps, || network_kernel::forward(&obs, &params, false));
    println!("\nbatched forward, {batch} parameter sets (observed y0[::10] only, all threads)");
    println!(
        "  {t_batch:8.3} CPU s, {w_batch:8.3} wall s in total: {:.4} CPU s and {:.4} wall s per simulation ({:.2}x the plain forward loop)",
        t_batch / batch as f64,
        w_batch / batch as f64,
        t_batch / batch as f64 / t_plain
    );
    let threads = rep.threads;
    rep.add(
        "jr",
        &format!("Jansen-Rit {n} regions x {steps} steps, batched forward (observed y0[::10])"),
        &format!("per simulation, batch of {batch}"),
    )
    .times(t_batch / batch as f64, w_batch / batch as f64)
    .ratio(t_plain)
    .with("threads", threads as f64);
    println!("\n(the binary counts heap allocations; peak = largest live heap above the baseline)");
    Ok(())
}

/// Every registered network model on its shipped dk84 experiment: forward and loss + gradient
/// CPU time for `steps` steps (the loss is the mean of the observed variable's sub-sampled
/// trace, so the time is the kernel's and its adjoint's).
fn bench_models(steps: usize, quick: bool, rep: &mut Report) -> Result<()> {
    let reps = if quick { 1 } else { 3 };
    println!(
        "
network models on dk84 (84 regions), {steps} steps each, one simulation, median of {reps}"
    );
    println!(
        "  {:<20} {:<20} {:>8} {:>10} {:>12} {:>14} {:>12}",
        "model",
        "coupling",
        "dt (ms)",
        "history",
        "forward CPU s",
        "loss+grad CPU s",
        "plain CPU s"
    );
    for (model, file) in [
        ("JansenRit", "jr_dk84.yaml"),
        ("Generic2dOscillator", "g2do_dk84.yaml"),
        ("ReducedWongWang", "rww_dk84.yaml"),
        ("MontbrioPazoRoxin", "mpr_dk84.yaml"),
        ("WilsonCowan", "wc_dk84.yaml"),
    ] {
        let probe = load_setup(file, &[])?;
        let dur = format!("integration.duration={}", steps as f64 * probe.problem.dt);
        let setup = load_setup(file, std::slice::from_ref(&dur))?;
        let problem = crate::objective::observation_problem(&setup);
        let ((w_fwd, t_fwd), _) = best_of(reps, || {
            network_kernel::forward(&problem, &setup.base_params, false)
        });
        let ((w_plain, t_plain), _) = best_of(reps, || plain_forward(&problem, &setup.base_params));
        let device = backend::f64_device(BackendKind::Flex, true);
        let sim = Simulation(Arc::new(problem.clone()));
        let np = setup.n_params();
        let n = setup.n();
        let ((w_grad, t_grad), _) = best_of(reps, || {
            let p = Tensor::<1>::from_data(
                TensorData::new(setup.base_params.clone(), [np * n]),
                &device,
            )
            .reshape([1, np, n])
            .require_grad();
            let grads = simulate(p.clone(), &sim).mean().backward();
            p.grad(&grads).map(|g| g.into_data())
        });
        println!(
            "  {model:<20} {:<20} {:>8} {:>10} {t_fwd:>12.3} {t_grad:>14.3} {t_plain:>12.3}",
            setup.coupling.info().name,
            problem.dt,
            problem.horizon,
        );
        let section = format!("dk84 (84 regions), {steps} steps, one simulation");
        let coupling = setup.coupling.info().name;
        rep.add(
            "models",
            &section,
            &format!("{model} / {coupling}: plain-Rust loop"),
        )
        .times(t_plain, w_plain)
        .ratio(t_plain);
        rep.add(
            "models",
            &section,
            &format!("{model} / {coupling}: forward"),
        )
        .times(t_fwd, w_fwd)
        .ratio(t_plain)
        .with("dt_ms", problem.dt)
        .with("history", problem.horizon as f64);
        rep.add(
            "models",
            &section,
            &format!("{model} / {coupling}: loss + gradient"),
        )
        .times(t_grad, w_grad)
        .ratio(t_plain);
    }
    Ok(())
}

/// tvboptim's published workload: Reduced Wong-Wang on 84 regions with delays, 60 s at
/// dt = 1 ms, Balloon-Windkessel BOLD every 720 ms, FC, 1 − corr against the empirical FC:
/// forward, loss + gradient (wrt the global coupling) and peak heap, and the heap against the
/// adjoint's segment length. tvboptim's own figures (its paper, same workload, CPU): forward
/// 0.39 s, gradient 2.48 s, 763 MB (about 225 MB with its block checkpointing).
fn bench_bold(quick: bool, rep: &mut Report) -> Result<()> {
    let reps = if quick { 1 } else { 3 };
    let dur = if quick { 10_000.0 } else { 60_000.0 };
    println!(
        "\nBOLD FC (experiments/rww_fc.yaml): ReducedWongWang, 84 regions, {} s at dt = 1 ms, TR 720 ms",
        dur / 1000.0
    );
    println!(
        "  {:<28} {:>10} {:>10} {:>14}",
        "", "CPU s", "wall s", "peak heap MiB"
    );
    let bold_section = format!(
        "rww_fc.yaml, ReducedWongWang 84 regions, {} s at dt = 1 ms, BOLD TR 720 ms",
        dur / 1000.0
    );
    for segment in [500usize, 100, 2000] {
        let setup = load_setup(
            "rww_fc.yaml",
            &[
                format!("integration.duration={dur}"),
                format!("integration.segment={segment}"),
                "observation.bold.transient=2000".to_string(),
            ],
        )?;
        let device = backend::f64_device(BackendKind::Flex, true);
        let mut obj = Objective::new(&setup, 1, &device, false)?;
        obj.set_target(&setup, &shipped("rww_fc.yaml"))?;
        if segment == 500 {
            let problem = obj.sim.0.clone();
            let base = alloc::reset_peak();
            let ((w, t), _) = best_of(reps, || {
                network_kernel::forward(&problem, &setup.base_params, false)
            });
            let peak = alloc::peak().saturating_sub(base);
            println!(
                "  {:<28} {t:>10.3} {w:>10.3} {:>14.1}",
                "forward (BOLD samples only)",
                mib(peak)
            );
            rep.add("bold", &bold_section, "forward (BOLD samples only)")
                .times(t, w)
                .with("peak_heap_mib", mib(peak));
        }
        let a = setup.free[0].init.clone();
        let base = alloc::reset_peak();
        let ((w, t), value) = best_of(reps, || -> Result<(f64, f64)> {
            let theta = Tensor::<1>::from_data(TensorData::new(a.clone(), [1]), &device)
                .reshape([1, 1])
                .require_grad();
            let loss = obj.loss_of(obj.spectra(obj.packed(std::slice::from_ref(&theta))))?;
            let value: f64 = loss.clone().sum().into_scalar();
            let grads = loss.sum().backward();
            let g: f64 = theta
                .grad(&grads)
                .ok_or_else(|| anyhow!("no gradient"))?
                .into_scalar();
            Ok((value, g))
        });
        let (value, g) = value?;
        let peak = alloc::peak().saturating_sub(base);
        println!(
            "  {:<28} {t:>10.3} {w:>10.3} {:>14.1}   loss {value:.6}, dL/da {g:.6}",
            format!("loss + gradient, segment {segment}"),
            mib(peak)
        );
        rep.add(
            "bold",
            &bold_section,
            &format!("loss + gradient, segment {segment}"),
        )
        .times(t, w)
        .with("peak_heap_mib", mib(peak))
        .with("loss", value)
        .with("dL/da", g);
    }
    // The gradient horizon: the adjoint's memory is already flat in the run length, so H
    // changes neither memory nor time much here (tvboptim uses it to bound its tape).
    for horizon in [1000usize, 10_000] {
        let setup = load_setup(
            "rww_fc.yaml",
            &[
                format!("integration.duration={dur}"),
                "observation.bold.transient=2000".to_string(),
                format!("optimization.grad_horizon={horizon}"),
            ],
        )?;
        let device = backend::f64_device(BackendKind::Flex, true);
        let mut obj = Objective::new(&setup, 1, &device, false)?;
        obj.set_target(&setup, &shipped("rww_fc.yaml"))?;
        let a = setup.free[0].init.clone();
        let base = alloc::reset_peak();
        let ((w, t), g) = best_of(reps, || -> Result<f64> {
            let theta = Tensor::<1>::from_data(TensorData::new(a.clone(), [1]), &device)
                .reshape([1, 1])
                .require_grad();
            let loss = obj.loss_of(obj.spectra(obj.packed(std::slice::from_ref(&theta))))?;
            let grads = loss.sum().backward();
            Ok(theta
                .grad(&grads)
                .ok_or_else(|| anyhow!("no gradient"))?
                .into_scalar())
        });
        let g = g?;
        let peak = alloc::peak().saturating_sub(base);
        println!(
            "  {:<28} {t:>10.3} {w:>10.3} {:>14.1}   dL/da {g:.6} (truncated)",
            format!("loss + gradient, horizon {horizon}"),
            mib(peak)
        );
        rep.add(
            "bold",
            &bold_section,
            &format!("loss + gradient, horizon {horizon}"),
        )
        .times(t, w)
        .with("peak_heap_mib", mib(peak))
        .with("dL/da", g);
    }
    println!(
        "  tvboptim (published, same workload): forward 0.39 s, gradient 2.48 s, 763 MB (225 MB checkpointed)"
    );
    println!("  tvboptim itself on this machine: tools/bench_tvboptim.py (in a throwaway venv)");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&mut []).is_nan());
    }

    #[test]
    fn report_tables_carry_every_figure_and_ratio() {
        let mut rep = Report {
            steps: 100,
            threads: 1,
            repetitions: 3,
            ..Report::default()
        };
        rep.add("jr", "forward", "plain").times(0.4, 0.5).ratio(0.4);
        rep.add("jr", "forward", "kernel")
            .times(0.1, 0.2)
            .ratio(0.4)
            .with("peak_heap_mib", 12.5);
        rep.add("soc", "step", "N = 100").with("ms_per_step", 6.25);
        let md = rep.markdown();
        assert!(md.contains("## jr: forward"));
        assert!(md.contains("| kernel | 0.100 | 0.200 | 0.25 | 12.5000 |"));
        assert!(md.contains("## soc: step"));
        assert!(md.contains("| N = 100 |  |  |  | 6.2500 |"));
        let json: serde_json::Value =
            serde_json::from_str(&serde_json::to_string(&rep).expect("serialises")).expect("json");
        assert_eq!(json["figures"].as_array().map(Vec::len), Some(3));
        assert_eq!(json["figures"][1]["ratio_to_plain"], 0.25);
    }
}
