//! PNG plots (plotters) of curves, scatters and heatmaps, for users who look before they read.

use anyhow::{Result, anyhow};
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};
use std::path::Path;
use std::sync::Once;

static FONT: Once = Once::new();

/// Registers the embedded DejaVu Sans font (plotters' `ab_glyph` backend has no system fonts).
fn ensure_font() {
    FONT.call_once(|| {
        // The font is compiled in, so registration can only fail on a corrupt build.
        let _ = register_font(
            "sans-serif",
            FontStyle::Normal,
            include_bytes!("../assets/DejaVuSans.ttf"),
        );
    });
}

/// One named curve or point cloud.
#[derive(Debug, Clone, Default)]
pub struct Series {
    /// Legend label.
    pub label: String,
    /// x values.
    pub x: Vec<f64>,
    /// y values.
    pub y: Vec<f64>,
    /// Palette index (`None`: the series' position).
    pub color: Option<usize>,
    /// Drawn dashed (reference values such as the truth of a simulated target).
    pub dashed: bool,
    /// Left out of the legend.
    pub no_legend: bool,
}

impl Series {
    /// A series from a label and points.
    pub fn new(label: impl Into<String>, x: Vec<f64>, y: Vec<f64>) -> Self {
        Self {
            label: label.into(),
            x,
            y,
            color: None,
            dashed: false,
            no_legend: false,
        }
    }

    /// The same series in palette colour `k`.
    pub fn with_color(mut self, k: usize) -> Self {
        self.color = Some(k);
        self
    }

    /// The same series drawn dashed.
    pub fn dashed(mut self) -> Self {
        self.dashed = true;
        self
    }

    /// The same series without a legend entry.
    pub fn without_legend(mut self) -> Self {
        self.no_legend = true;
        self
    }
}

fn range(values: impl Iterator<Item = f64>, log: bool) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite() && (!log || *v > 0.0)) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return if log { (1e-3, 1.0) } else { (0.0, 1.0) };
    }
    if hi <= lo {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        return (lo - pad, hi + pad);
    }
    if log {
        (lo, hi)
    } else {
        (lo - 0.02 * (hi - lo), hi + 0.02 * (hi - lo))
    }
}

/// Tick labels with a few significant digits (plotters prints raw f64 otherwise).
fn tick(v: &f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if !(1e-3..1e4).contains(&a) {
        format!("{v:.1e}")
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Palette colour `k` (matplotlib's tab10 order).
pub fn color(k: usize) -> RGBColor {
    const C: [RGBColor; 8] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
    ];
    C[k % C.len()]
}

/// A plot is drawn into a temporary file beside its path and renamed into place, so an
/// interrupted or failed plot never leaves a truncated PNG (nor the temporary file).
struct TmpPng {
    tmp: std::path::PathBuf,
    path: std::path::PathBuf,
    done: bool,
}

impl TmpPng {
    fn new(path: &Path) -> Self {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // plotters picks the image format from the extension, so the temporary name keeps it.
        let tmp = path.with_file_name(format!(".{name}.{}.tmp.png", std::process::id()));
        Self {
            tmp,
            path: path.to_path_buf(),
            done: false,
        }
    }

    fn commit(mut self) -> Result<()> {
        std::fs::rename(&self.tmp, &self.path).map_err(|e| {
            anyhow::anyhow!(
                "cannot move {} to {}: {e}",
                self.tmp.display(),
                self.path.display()
            )
        })?;
        self.done = true;
        Ok(())
    }
}

impl Drop for TmpPng {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

fn plot_err<E: std::fmt::Debug>(path: &Path) -> impl Fn(E) -> anyhow::Error + '_ {
    move |e| anyhow!("cannot draw {}: {e:?}", path.display())
}

/// Line plot of several series (legend shown when more than one, or when labelled).
pub fn line_plot(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    log_y: bool,
) -> Result<()> {
    ensure_font();
    let err = plot_err(path);
    let guard = TmpPng::new(path);
    let tmp = guard.tmp.clone();
    let root = BitMapBackend::new(&tmp, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(&err)?;
    draw_lines(&root, path, title, x_label, y_label, series, log_y)?;
    root.present().map_err(&err)?;
    guard.commit()?;
    Ok(())
}

/// One panel of [`panels_plot`].
#[derive(Debug, Clone, Default)]
pub struct Panel {
    /// Title.
    pub title: String,
    /// x-axis label.
    pub x_label: String,
    /// y-axis label.
    pub y_label: String,
    /// Curves.
    pub series: Vec<Series>,
    /// Logarithmic y axis.
    pub log_y: bool,
}

/// Several line plots side by side in one PNG (up to 3 per row).
pub fn panels_plot(path: &Path, panels: &[Panel]) -> Result<()> {
    ensure_font();
    let err = plot_err(path);
    let guard = TmpPng::new(path);
    let tmp = guard.tmp.clone();
    let n = panels.len().max(1);
    let cols = n.min(3);
    let rows = n.div_ceil(cols);
    let root = BitMapBackend::new(&tmp, (620 * cols as u32, 460 * rows as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(&err)?;
    let areas = root.split_evenly((rows, cols));
    for (p, area) in panels.iter().zip(areas.iter()) {
        draw_lines(
            area, path, &p.title, &p.x_label, &p.y_label, &p.series, p.log_y,
        )?;
    }
    root.present().map_err(&err)?;
    guard.commit()?;
    Ok(())
}

fn draw_lines(
    root: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    log_y: bool,
) -> Result<()> {
    let err = plot_err(path);
    let (x0, x1) = range(series.iter().flat_map(|s| s.x.iter().copied()), false);
    let (y0, y1) = range(series.iter().flat_map(|s| s.y.iter().copied()), log_y);
    let mut builder = ChartBuilder::on(root);
    builder
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70);
    let legend = series.iter().filter(|s| !s.no_legend).count() > 1
        || series.iter().any(|s| !s.label.is_empty() && !s.no_legend);
    macro_rules! draw {
        ($chart:expr) => {{
            let mut chart = $chart;
            chart
                .configure_mesh()
                .x_desc(x_label)
                .y_desc(y_label)
                .x_label_formatter(&tick)
                .y_label_formatter(&tick)
                .label_style(("sans-serif", 14))
                .draw()
                .map_err(&err)?;
            for (k, s) in series.iter().enumerate() {
                let c = color(s.color.unwrap_or(k));
                let pts =
                    s.x.iter()
                        .zip(&s.y)
                        .filter(|(x, y)| x.is_finite() && y.is_finite() && (!log_y || **y > 0.0))
                        .map(|(&x, &y)| (x, y));
                let drawn = if s.dashed {
                    chart
                        .draw_series(DashedLineSeries::new(pts, 8, 5, c.stroke_width(2)))
                        .map_err(&err)?
                } else {
                    chart
                        .draw_series(LineSeries::new(pts, c.stroke_width(2)))
                        .map_err(&err)?
                };
                if legend && !s.no_legend {
                    drawn.label(s.label.clone()).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2))
                    });
                }
            }
            if legend {
                chart
                    .configure_series_labels()
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK)
                    .label_font(("sans-serif", 14))
                    .draw()
                    .map_err(&err)?;
            }
        }};
    }
    if log_y {
        draw!(
            builder
                .build_cartesian_2d(x0..x1, (y0..y1).log_scale())
                .map_err(&err)?
        );
    } else {
        draw!(builder.build_cartesian_2d(x0..x1, y0..y1).map_err(&err)?);
    }
    Ok(())
}

/// Scatter plot; with `circle_radius`, also draws a circle of that radius about the origin
/// (e.g. the circular law of random-matrix spectra).
pub fn scatter_plot(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    circle_radius: Option<f64>,
) -> Result<()> {
    ensure_font();
    let err = plot_err(path);
    let guard = TmpPng::new(path);
    let tmp = guard.tmp.clone();
    let root = BitMapBackend::new(&tmp, (800, 700)).into_drawing_area();
    root.fill(&WHITE).map_err(&err)?;
    let r = circle_radius.unwrap_or(0.0);
    let (mut x0, mut x1) = range(
        series
            .iter()
            .flat_map(|s| s.x.iter().copied())
            .chain([-r, r]),
        false,
    );
    let (mut y0, mut y1) = range(
        series
            .iter()
            .flat_map(|s| s.y.iter().copied())
            .chain([-r, r]),
        false,
    );
    if circle_radius.is_some() {
        // Equal aspect so the circle looks like one.
        let half = ((x1 - x0).max(y1 - y0)) / 2.0;
        let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
        (x0, x1, y0, y1) = (cx - half, cx + half, cy - half, cy + half);
    }
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(&err)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(&err)?;
    for (k, s) in series.iter().enumerate() {
        let c = color(k);
        let pts: Vec<(f64, f64)> = s.x.iter().copied().zip(s.y.iter().copied()).collect();
        chart
            .draw_series(pts.into_iter().map(|p| Circle::new(p, 3, c.filled())))
            .map_err(&err)?
            .label(s.label.clone())
            .legend(move |(x, y)| Circle::new((x + 8, y), 4, c.filled()));
    }
    if let Some(r) = circle_radius {
        let ring = (0..=200).map(|k| {
            let t = k as f64 / 200.0 * std::f64::consts::TAU;
            (r * t.cos(), r * t.sin())
        });
        chart
            .draw_series(LineSeries::new(ring, BLACK.stroke_width(1)))
            .map_err(&err)?;
    }
    if series.iter().any(|s| !s.label.is_empty()) {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(&err)?;
    }
    root.present().map_err(&err)?;
    guard.commit()?;
    Ok(())
}

/// Heatmap of `values_ij[i * y.len() + j]` at `(x[i], y[j])` (numpy `meshgrid(indexing='ij')`),
/// with a colour bar labelled `unit`. Non-finite cells (diverged or masked points) are grey.
pub fn heatmap(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    x: &[f64],
    y: &[f64],
    values_ij: &[f64],
    unit: &str,
) -> Result<()> {
    ensure_font();
    let err = plot_err(path);
    let guard = TmpPng::new(path);
    let tmp = guard.tmp.clone();
    if x.len() * y.len() != values_ij.len() || x.is_empty() || y.is_empty() {
        return Err(anyhow!(
            "heatmap: {} values for a {}x{} grid",
            values_ij.len(),
            x.len(),
            y.len()
        ));
    }
    let root = BitMapBackend::new(&tmp, (900, 760)).into_drawing_area();
    root.fill(&WHITE).map_err(&err)?;
    let (main, bar) = root.split_horizontally(780);
    let cell = |v: &[f64], k: usize| -> (f64, f64) {
        let lo = if k == 0 {
            v[0] - (v.get(1).unwrap_or(&(v[0] + 1.0)) - v[0]) / 2.0
        } else {
            (v[k - 1] + v[k]) / 2.0
        };
        let hi = if k + 1 == v.len() {
            v[k] + (v[k] - if k > 0 { v[k - 1] } else { v[k] - 1.0 }) / 2.0
        } else {
            (v[k] + v[k + 1]) / 2.0
        };
        (lo, hi)
    };
    let (vlo, vhi) = range(values_ij.iter().copied(), false);
    let (xa, ya) = (cell(x, 0).0, cell(y, 0).0);
    let (xb, yb) = (cell(x, x.len() - 1).1, cell(y, y.len() - 1).1);
    let mut chart = ChartBuilder::on(&main)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(65)
        .build_cartesian_2d(xa..xb, ya..yb)
        .map_err(&err)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(&err)?;
    let colour = |v: f64| -> RGBColor {
        if !v.is_finite() {
            return RGBColor(160, 160, 160);
        }
        let t = ((v - vlo) / (vhi - vlo)).clamp(0.0, 1.0);
        let c = ViridisRGB::get_color(t);
        RGBColor(c.0, c.1, c.2)
    };
    chart
        .draw_series((0..x.len()).flat_map(|i| {
            (0..y.len()).map(move |j| {
                let (x0, x1) = cell(x, i);
                let (y0, y1) = cell(y, j);
                Rectangle::new(
                    [(x0, y0), (x1, y1)],
                    colour(values_ij[i * y.len() + j]).filled(),
                )
            })
        }))
        .map_err(&err)?;
    colour_bar(path, &bar, (vlo, vhi), unit, 57, &colour)?;
    root.present().map_err(&err)?;
    guard.commit()?;
    Ok(())
}

/// A vertical colour bar for values in `vlo..vhi`, labelled `unit`.
fn colour_bar(
    path: &Path,
    bar: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    (vlo, vhi): (f64, f64),
    unit: &str,
    margin_bottom: u32,
    colour: &dyn Fn(f64) -> RGBColor,
) -> Result<()> {
    let err = plot_err(path);
    let mut cb = ChartBuilder::on(bar)
        .margin_top(50)
        .margin_bottom(margin_bottom)
        .margin_right(10)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..1.0, vlo..vhi)
        .map_err(&err)?;
    cb.configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_desc(unit)
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(&err)?;
    let steps = 100;
    cb.draw_series((0..steps).map(|k| {
        let a = vlo + (vhi - vlo) * k as f64 / steps as f64;
        let b = vlo + (vhi - vlo) * (k + 1) as f64 / steps as f64;
        Rectangle::new([(0.0, a), (1.0, b)], colour((a + b) / 2.0).filled())
    }))
    .map_err(&err)?;
    Ok(())
}

/// Two `n × n` matrices side by side on one colour scale (e.g. simulated and empirical FC),
/// with a colour bar labelled `unit`.
pub fn matrix_pair(
    path: &Path,
    titles: [&str; 2],
    matrices: [&[f64]; 2],
    n: usize,
    unit: &str,
) -> Result<()> {
    ensure_font();
    let err = plot_err(path);
    let guard = TmpPng::new(path);
    let tmp = guard.tmp.clone();
    let (vlo, vhi) = range(
        matrices
            .iter()
            .flat_map(|m| m.iter().copied())
            .filter(|v| v.is_finite()),
        false,
    );
    let root = BitMapBackend::new(&tmp, (1500, 720)).into_drawing_area();
    root.fill(&WHITE).map_err(&err)?;
    let (panels, bar) = root.split_horizontally(1400);
    let halves = panels.split_evenly((1, 2));
    let colour = |v: f64| -> RGBColor {
        if !v.is_finite() {
            return RGBColor(160, 160, 160);
        }
        let t = ((v - vlo) / (vhi - vlo)).clamp(0.0, 1.0);
        let c = ViridisRGB::get_color(t);
        RGBColor(c.0, c.1, c.2)
    };
    for (area, (title, m)) in halves.iter().zip(titles.iter().zip(matrices)) {
        let mut chart = ChartBuilder::on(area)
            .caption(*title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..n as f64, n as f64..0.0)
            .map_err(&err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("region")
            .y_desc("region")
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(&err)?;
        chart
            .draw_series((0..n).flat_map(|i| {
                (0..n).map(move |j| {
                    Rectangle::new(
                        [(j as f64, i as f64), (j as f64 + 1.0, i as f64 + 1.0)],
                        colour(m[i * n + j]).filled(),
                    )
                })
            }))
            .map_err(&err)?;
    }
    colour_bar(path, &bar, (vlo, vhi), unit, 50, &colour)?;
    root.present().map_err(&err)?;
    guard.commit()?;
    Ok(())
}
