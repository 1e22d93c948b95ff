//! SVG charts drawn with plotters' SVG backend into strings (text as `<text>` elements, so no
//! system font is needed).

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::input::row::StepRow;

use crate::input::run::Second;
use crate::model::usl::Fit;

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type DrawResult = Result<(), Box<dyn std::error::Error>>;
/// One line of a chart: its label, colour and points.
type Series<'a> = (&'a str, RGBColor, Vec<(f64, f64)>);

const SIZE: (u32, u32) = (800, 440);
const FONT: &str = "sans-serif";

fn draw(f: impl FnOnce(&Area) -> DrawResult) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        f(&root).map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

fn conc(r: &StepRow) -> f64 {
    f64::from(r.concurrency.unwrap_or(0))
}

fn top(values: impl Iterator<Item = f64>) -> f64 {
    let m = values.filter(|v| v.is_finite()).fold(0.0, f64::max);
    if m > 0.0 {
        m * 1.15
    } else {
        1.0
    }
}

/// Users at which a fitted curve is drawn: 201 points from 1 to `xmax`.
fn fit_grid(xmax: f64) -> Vec<f64> {
    (0..=200)
        .map(|i| 1.0 + (xmax - 1.0) * i as f64 / 200.0)
        .collect()
}

fn key(color: RGBColor) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
}

/// Throughput and goodput against concurrency, with the fitted USL curve, its 95% band and the
/// Little's-law bound C / S (every user served in the uncontended service time S).
pub fn throughput(
    steps: &[StepRow],
    fit: Option<&Fit>,
    service_ms: f64,
    recommended: Option<(f64, f64, Option<[f64; 2]>)>,
    bindings: &[(f64, crate::decide::binding::Binding)],
) -> Result<String, String> {
    let xmax = steps
        .iter()
        .map(conc)
        .chain(recommended.map(|r| r.0))
        .fold(1.0, f64::max)
        * 1.05;
    // Fast rejections can push throughput of shedding steps orders of magnitude above goodput;
    // such points are left off the scale (and counted in the legend) so the curve stays legible.
    let max_goodput = steps.iter().map(|r| r.goodput_rps).fold(0.0, f64::max);
    let on_scale = |r: &&StepRow| max_goodput <= 0.0 || r.throughput_rps <= 5.0 * max_goodput;
    let ymax = top(steps
        .iter()
        .filter(on_scale)
        .map(|r| r.throughput_rps.max(r.goodput_rps)));
    let off_scale = steps.iter().filter(|r| !on_scale(r)).count();
    let throughput_label = if off_scale == 0 {
        "throughput".to_string()
    } else {
        format!("throughput ({off_scale} shedding steps off scale)")
    };
    draw(|root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Throughput vs concurrency", (FONT, 20))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..xmax, 0f64..ymax)?;
        chart
            .configure_mesh()
            .x_desc("concurrency (users)")
            .y_desc("requests per second")
            .draw()?;
        let grid = fit_grid(xmax);
        // What binds, as bands behind the points: each step's binding over the users from the
        // midpoint with the step before to the midpoint with the step after.
        for (i, &(c, b)) in bindings.iter().enumerate() {
            let Some(color) = binding_color(b) else {
                continue;
            };
            let lo = if i == 0 {
                0.0
            } else {
                (bindings[i - 1].0 + c) / 2.0
            };
            let hi = bindings.get(i + 1).map_or(xmax, |n| (n.0 + c) / 2.0);
            let first = bindings[..i].iter().all(|p| p.1 != b);
            let series = chart.draw_series(std::iter::once(Rectangle::new(
                [(lo, 0.0), (hi, ymax)],
                color.mix(0.12).filled(),
            )))?;
            if first {
                series
                    .label(format!("binds: {}", b.label()))
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 4), (x + 18, y + 4)], color.mix(0.3).filled())
                    });
            }
        }
        if let Some(f) = fit {
            if f.covariance.is_some() {
                let mut band: Vec<(f64, f64)> = grid
                    .iter()
                    .map(|&n| {
                        (
                            n,
                            (f.params.throughput(n) + f.band(n).unwrap_or(0.0)).min(ymax),
                        )
                    })
                    .collect();
                band.extend(grid.iter().rev().map(|&n| {
                    (
                        n,
                        (f.params.throughput(n) - f.band(n).unwrap_or(0.0)).clamp(0.0, ymax),
                    )
                }));
                chart
                    .draw_series(std::iter::once(Polygon::new(band, BLUE.mix(0.15))))?
                    .label("USL 95% band")
                    .legend(|(x, y)| {
                        Rectangle::new([(x, y - 4), (x + 18, y + 4)], BLUE.mix(0.15).filled())
                    });
            }
            chart
                .draw_series(LineSeries::new(
                    grid.iter().map(|&n| (n, f.params.throughput(n).min(ymax))),
                    BLUE.stroke_width(2),
                ))?
                .label("USL fit")
                .legend(key(BLUE));
        }
        if service_ms > 0.0 {
            let s = service_ms / 1000.0;
            let end = (ymax * s).min(xmax);
            chart
                .draw_series(DashedLineSeries::new(
                    [(0.0, 0.0), (end, end / s)],
                    6,
                    4,
                    BLACK.mix(0.6).stroke_width(1),
                ))?
                .label("Little's law bound C/S")
                .legend(key(RGBColor(120, 120, 120)));
        }
        chart
            .draw_series(
                steps
                    .iter()
                    .filter(on_scale)
                    .map(|r| Circle::new((conc(r), r.throughput_rps), 4, RED.filled())),
            )?
            .label(throughput_label)
            .legend(|(x, y)| Circle::new((x + 9, y), 4, RED.filled()));
        chart
            .draw_series(
                steps
                    .iter()
                    .map(|r| TriangleMarker::new((conc(r), r.goodput_rps), 5, GREEN.filled())),
            )?
            .label("goodput (2xx)")
            .legend(|(x, y)| TriangleMarker::new((x + 9, y), 5, GREEN.filled()));
        if let Some((n, x, ci)) = recommended {
            let [lo, hi] = ci.unwrap_or([x, x]);
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(n, lo.min(ymax)), (n, hi.min(ymax))],
                MAGENTA.stroke_width(2),
            )))?;
            chart
                .draw_series(std::iter::once(Cross::new(
                    (n, x.min(ymax)),
                    7,
                    MAGENTA.stroke_width(3),
                )))?
                .label(if ci.is_some() {
                    "recommended N, predicted (95% interval)"
                } else {
                    "recommended N, predicted"
                })
                .legend(|(x, y)| Cross::new((x + 9, y), 5, MAGENTA.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    })
}

fn lines(
    caption: &str,
    y_desc: &str,
    xmax: f64,
    series: &[Series],
    marks: &[f64],
) -> Result<String, String> {
    let ymax = top(series.iter().flat_map(|s| s.2.iter().map(|p| p.1)));
    draw(|root| {
        let mut chart = ChartBuilder::on(root)
            .caption(caption, (FONT, 20))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..xmax, 0f64..ymax)?;
        let x_desc = if marks.is_empty() {
            "concurrency (users)"
        } else {
            "seconds"
        };
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .draw()?;
        for &m in marks {
            chart.draw_series(DashedLineSeries::new(
                [(m, 0.0), (m, ymax)],
                4,
                4,
                BLACK.mix(0.3).into(),
            ))?;
        }
        for (name, color, pts) in series {
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))?
                .label(*name)
                .legend(key(*color));
            if marks.is_empty() {
                chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    })
}

/// p50/p90/p99 of served (2xx) requests against concurrency.
pub fn latency(steps: &[StepRow]) -> Result<String, String> {
    let served: Vec<&StepRow> = steps.iter().filter(|r| r.ok > 0).collect();
    let xmax = steps.iter().map(conc).fold(1.0, f64::max) * 1.05;
    let pick = |f: fn(&StepRow) -> f64| served.iter().map(|r| (conc(r), f(r))).collect::<Vec<_>>();
    lines(
        "Served latency vs concurrency",
        "milliseconds",
        xmax,
        &[
            ("p50", GREEN, pick(|r| r.p50_ms)),
            ("p90", BLUE, pick(|r| r.p90_ms)),
            ("p99", RED, pick(|r| r.p99_ms)),
        ],
        &[],
    )
}

/// Success, 429 and 503 rates (percent of requests) against concurrency.
pub fn outcomes(steps: &[StepRow]) -> Result<String, String> {
    let xmax = steps.iter().map(conc).fold(1.0, f64::max) * 1.05;
    let pct = |f: fn(&StepRow) -> f64| {
        steps
            .iter()
            .map(|r| (conc(r), 100.0 * f(r)))
            .collect::<Vec<_>>()
    };
    let share = |n: u64, r: &StepRow| {
        if r.requests > 0 {
            n as f64 / r.requests as f64
        } else {
            0.0
        }
    };
    lines(
        "Outcomes vs concurrency",
        "percent of requests",
        xmax,
        &[
            ("success", GREEN, pct(|r| r.success_rate)),
            (
                "429",
                MAGENTA,
                steps
                    .iter()
                    .map(|r| (conc(r), 100.0 * share(r.rejected_429, r)))
                    .collect(),
            ),
            (
                "503",
                RED,
                steps
                    .iter()
                    .map(|r| (conc(r), 100.0 * share(r.rejected_503, r)))
                    .collect(),
            ),
        ],
        &[],
    )
}

/// Latency (p50, p99) and rates over the run's time, step boundaries dashed. Returns the latency
/// chart and the rate chart.
/// Mean of each point and the `window - 1` before it within the same step (a trailing moving
/// average that does not reach across a step boundary).
fn moving(points: &[(f64, f64)], steps: &[usize], window: usize) -> Vec<(f64, f64)> {
    (0..points.len())
        .map(|i| {
            let from = (i + 1).saturating_sub(window.max(1));
            let same: Vec<f64> = (from..=i)
                .filter(|&j| steps[j] == steps[i])
                .map(|j| points[j].1)
                .collect();
            (points[i].0, same.iter().sum::<f64>() / same.len() as f64)
        })
        .collect()
}

/// Latency and rate charts over time. Rates are drawn as a moving average over `window_s`
/// seconds (at least one service time, so a per-second count of 1.44 s analyses does not jump
/// between 0 and 9) over faint per-second points.
pub fn timeseries(seconds: &[Second], window_s: usize) -> Result<(String, String), String> {
    let mut t = 0.0f64;
    let mut marks = Vec::new();
    let mut last_step = None;
    let mut pts = Vec::new();
    for s in seconds {
        if last_step != Some(s.step) {
            marks.push(t);
            last_step = Some(s.step);
        }
        t += 1.0;
        pts.push((t, s));
    }
    let xmax = t.max(1.0);
    let col = |f: fn(&Second) -> f64| pts.iter().map(|(t, s)| (*t, f(s))).collect::<Vec<_>>();
    let lat = lines(
        "Latency over time (step boundaries dashed)",
        "milliseconds",
        xmax,
        &[
            ("p50", GREEN, col(|s| s.p50_ms)),
            ("p99", RED, col(|s| s.p99_ms)),
        ],
        &marks,
    )?;
    let steps: Vec<usize> = pts.iter().map(|(_, s)| s.step).collect();
    let (thr, good) = (col(|s| s.throughput_rps), col(|s| s.goodput_rps));
    let caption = format!("Rates over time, {window_s} s moving average (step boundaries dashed)");
    let rps = lines(
        &caption,
        "requests per second",
        xmax,
        &[
            (
                "throughput, per second",
                RGBColor(175, 195, 240),
                thr.clone(),
            ),
            ("goodput, per second", RGBColor(170, 225, 170), good.clone()),
            ("throughput", BLUE, moving(&thr, &steps, window_s)),
            ("goodput", GREEN, moving(&good, &steps, window_s)),
        ],
        &marks,
    )?;
    Ok((lat, rps))
}

/// Goodput against concurrency for two runs.
pub fn compare(before: &[(f64, f64)], after: &[(f64, f64)]) -> Result<String, String> {
    let xmax = before.iter().chain(after).map(|p| p.0).fold(1.0, f64::max) * 1.05;
    lines(
        "Goodput vs concurrency: before and after",
        "2xx per second",
        xmax,
        &[
            ("before", RED, before.to_vec()),
            ("after", BLUE, after.to_vec()),
        ],
        &[],
    )
}

/// Distinct colours for per-name series (Okabe–Ito, readable by the colour-blind).
const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(230, 159, 0),
    RGBColor(0, 0, 0),
];

/// One request name's series for the per-name charts.
pub struct NameSeries<'a> {
    /// The name.
    pub name: &'a str,
    /// Its rows by users.
    pub rows: &'a [StepRow],
    /// Its USL fit, drawn when reliable.
    pub fit: Option<&'a Fit>,
    /// Its latency objectives' bounds, ms, with their text.
    pub bounds: Vec<(f64, String)>,
}

/// The x range of the per-name charts: the most users of any name's step, plus 5%.
fn names_xmax(names: &[NameSeries]) -> f64 {
    names
        .iter()
        .flat_map(|n| n.rows.iter().map(conc))
        .fold(1.0, f64::max)
        * 1.05
}

/// p99 of each request name's served requests against users, on a log scale (a 1 ms health check
/// and a 20 s analysis on one chart), each name's latency objectives dashed in its colour.
pub fn names_latency(names: &[NameSeries]) -> Result<String, String> {
    let xmax = names_xmax(names);
    let values = names.iter().flat_map(|n| {
        n.rows
            .iter()
            .filter(|r| r.ok > 0)
            .map(|r| r.p99_ms)
            .chain(n.bounds.iter().map(|b| b.0))
    });
    let (lo, hi) = values
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    let (ymin, ymax) = if hi > 0.0 {
        (lo / 2.0, hi * 2.0)
    } else {
        (0.1, 10.0)
    };
    draw(|root| {
        let mut chart = ChartBuilder::on(root)
            .caption("p99 per request name vs users (log scale)", (FONT, 20))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..xmax, (ymin..ymax).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("users")
            .y_desc("p99, milliseconds")
            .draw()?;
        for (i, n) in names.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let pts: Vec<(f64, f64)> = n
                .rows
                .iter()
                .filter(|r| r.ok > 0 && r.p99_ms > 0.0)
                .map(|r| (conc(r), r.p99_ms))
                .collect();
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))?
                .label(format!("{} p99, measured", n.name))
                .legend(key(color));
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
            for (bound, text) in &n.bounds {
                chart
                    .draw_series(DashedLineSeries::new(
                        [(0.0, *bound), (xmax, *bound)],
                        6,
                        4,
                        color.stroke_width(1),
                    ))?
                    .label(format!("objective {text}"))
                    .legend(key(color));
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    })
}

/// Goodput of each request name against users, with its USL fit where reliable.
pub fn names_goodput(names: &[NameSeries]) -> Result<String, String> {
    let xmax = names_xmax(names);
    let ymax = top(names
        .iter()
        .flat_map(|n| n.rows.iter().map(|r| r.goodput_rps)));
    draw(|root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Goodput per request name vs users", (FONT, 20))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..xmax, 0f64..ymax)?;
        chart
            .configure_mesh()
            .x_desc("users")
            .y_desc("2xx per second")
            .draw()?;
        let grid = fit_grid(xmax);
        for (i, n) in names.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            chart
                .draw_series(
                    n.rows
                        .iter()
                        .map(|r| Circle::new((conc(r), r.goodput_rps), 4, color.filled())),
                )?
                .label(format!("{}, measured", n.name))
                .legend(move |(x, y)| Circle::new((x + 9, y), 4, color.filled()));
            if let Some(f) = n.fit.filter(|f| f.unreliable.is_none()) {
                chart
                    .draw_series(LineSeries::new(
                        grid.iter().map(|&x| (x, f.params.throughput(x).min(ymax))),
                        color.stroke_width(2),
                    ))?
                    .label(format!("{}, USL fitted", n.name))
                    .legend(key(color));
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    })
}

/// The band colour of a binding constraint (none: no band).
fn binding_color(b: crate::decide::binding::Binding) -> Option<RGBColor> {
    use crate::decide::binding::Binding;
    match b {
        Binding::ServerPermits => Some(RGBColor(230, 159, 0)),
        Binding::ProviderTier => Some(RGBColor(213, 94, 0)),
        Binding::UpstreamLatency => Some(RGBColor(86, 180, 233)),
        Binding::Generator => Some(RGBColor(120, 120, 120)),
        Binding::RateLimit => Some(RGBColor(160, 60, 160)),
        Binding::ConcurrencyLimit => Some(RGBColor(240, 200, 80)),
        Binding::TargetCpu => Some(RGBColor(0, 158, 115)),
        Binding::Unknown => Some(RGBColor(200, 200, 200)),
        Binding::None => None,
    }
}

#[cfg(test)]
mod moving_tests {
    use super::moving;

    #[test]
    fn a_moving_average_smooths_within_a_step_and_restarts_at_the_next() {
        // A 1.44 s service sampled per second: 0, 9, 0, 9 … averages to ~4.5 over 2 s.
        let pts: Vec<(f64, f64)> = [0.0, 9.0, 0.0, 9.0, 2.0, 2.0]
            .iter()
            .enumerate()
            .map(|(i, &v)| (i as f64, v))
            .collect();
        let steps = [1, 1, 1, 1, 2, 2];
        let m = moving(&pts, &steps, 2);
        let ys: Vec<f64> = m.iter().map(|p| p.1).collect();
        assert_eq!(ys, vec![0.0, 4.5, 4.5, 4.5, 2.0, 2.0]);
    }
}
