//! `loadgen compare BEFORE.csv AFTER.csv`: steps matched by concurrency, with deltas and ratios
//! of goodput, success and served latency, one chart with both goodput curves, and the headline
//! (max goodput ratio, success at the top step, p99 at the after run's knee). Every ratio sits
//! beside the request counts it rests on, success rates carry 95% Wilson intervals, and a ratio
//! from fewer than [`MIN_REQUESTS`] requests on either side is flagged.

use std::path::Path;

use serde::Serialize;

use crate::input::row::{read_rows, StepRow};

use crate::document::charts;
use crate::document::doc_model::{Block, Doc};
use crate::document::html;
use crate::document::markdown;
use crate::measure::knee;
use crate::measure::steps::goodput_curve;
use crate::write_dir;
use crate::ReportError;

/// A ratio resting on fewer requests than this on either side is flagged as unreliable.
pub const MIN_REQUESTS: u64 = 30;

/// The 95% Wilson score interval of `ok` successes in `n` attempts (z = 1.96).
pub fn wilson(ok: u64, n: u64) -> [f64; 2] {
    if n == 0 {
        return [0.0, 1.0];
    }
    let (z, n_f) = (1.96f64, n as f64);
    let p = ok as f64 / n_f;
    let denom = 1.0 + z * z / n_f;
    let centre = (p + z * z / (2.0 * n_f)) / denom;
    let half = z * (p * (1.0 - p) / n_f + z * z / (4.0 * n_f * n_f)).sqrt() / denom;
    [(centre - half).max(0.0), (centre + half).min(1.0)]
}

/// One concurrency measured in both runs.
#[derive(Debug, Clone, Serialize)]
pub struct StepPair {
    /// Concurrency (users).
    pub concurrency: u32,
    /// Requests (and due but unsent) before.
    pub requests_before: u64,
    /// Requests after.
    pub requests_after: u64,
    /// 95% Wilson interval of success before.
    pub success_before_ci: [f64; 2],
    /// 95% Wilson interval of success after.
    pub success_after_ci: [f64; 2],
    /// Fewer than [`MIN_REQUESTS`] requests on a side: its ratios are not to be trusted.
    pub few_requests: bool,
    /// Goodput before, per second.
    pub goodput_before: f64,
    /// Goodput after, per second.
    pub goodput_after: f64,
    /// after / before (None when before is 0).
    pub goodput_ratio: Option<f64>,
    /// Success before, 0..1.
    pub success_before: f64,
    /// Success after, 0..1.
    pub success_after: f64,
    /// p50 of served requests before, ms.
    pub p50_before_ms: f64,
    /// p50 after, ms.
    pub p50_after_ms: f64,
    /// p99 of served requests before, ms.
    pub p99_before_ms: f64,
    /// p99 after, ms.
    pub p99_after_ms: f64,
}

/// `compare.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// The two CSVs.
    pub before: String,
    /// The CSV after.
    pub after: String,
    /// max goodput after / max goodput before.
    pub max_goodput_ratio: Option<f64>,
    /// Concurrency of the top common step.
    pub top_concurrency: Option<u32>,
    /// Success at the top common step, before and after.
    pub top_success: Option<[f64; 2]>,
    /// N: a step both runs measured — the largest at or below the after run's knee, or the top
    /// common step without a knee. `p99_at_n_ms` is measured there.
    pub n: Option<u32>,
    /// The after run has a knee (goodput stops growing); false means N is its top step.
    pub knee_found: bool,
    /// The after run's knee, users (not always a step of the before run).
    pub after_knee: Option<u32>,
    /// p99 at N, before and after, ms.
    pub p99_at_n_ms: Option<[f64; 2]>,
    /// Steps in both runs.
    pub steps: Vec<StepPair>,
    /// The headline, as sentences.
    pub headline: Vec<String>,
}

fn usable(rows: Vec<StepRow>) -> Vec<StepRow> {
    let mut v: Vec<StepRow> = rows
        .into_iter()
        .filter(|r| {
            r.is_total() && !r.interrupted && r.concurrency.is_some() && r.target_rps.is_none()
        })
        .collect();
    v.sort_by_key(|r| (r.concurrency, r.step));
    v.dedup_by_key(|r| r.concurrency);
    v
}

fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0).then(|| a / b)
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or("n/a".into(), |r| format!("×{r:.2}"))
}

/// Builds the comparison of two read runs.
pub fn comparison(
    before_path: &str,
    before: &[StepRow],
    after_path: &str,
    after: &[StepRow],
) -> Comparison {
    let steps: Vec<StepPair> = after
        .iter()
        .filter_map(|a| {
            let b = before.iter().find(|b| b.concurrency == a.concurrency)?;
            let attempts = |r: &StepRow| r.requests + r.unsent;
            Some(StepPair {
                concurrency: a.concurrency?,
                requests_before: attempts(b),
                requests_after: attempts(a),
                success_before_ci: wilson(b.ok, attempts(b)),
                success_after_ci: wilson(a.ok, attempts(a)),
                few_requests: attempts(a).min(attempts(b)) < MIN_REQUESTS,
                goodput_before: b.goodput_rps,
                goodput_after: a.goodput_rps,
                goodput_ratio: ratio(a.goodput_rps, b.goodput_rps),
                success_before: b.success_rate,
                success_after: a.success_rate,
                p50_before_ms: b.p50_ms,
                p50_after_ms: a.p50_ms,
                p99_before_ms: b.p99_ms,
                p99_after_ms: a.p99_ms,
            })
        })
        .collect();
    let max = |rows: &[StepRow]| rows.iter().map(|r| r.goodput_rps).fold(0.0, f64::max);
    let max_goodput_ratio = ratio(max(after), max(before));
    let top = steps.last();
    let knee = knee::knee(&goodput_curve(after)).map(|k| k as u32);
    let n = knee.or(top.map(|t| t.concurrency));
    let at_n = n.and_then(|n| steps.iter().rev().find(|s| s.concurrency <= n));
    let mut headline = Vec::new();
    let ok_at = |rows: &[StepRow]| {
        rows.iter()
            .max_by(|x, y| x.goodput_rps.total_cmp(&y.goodput_rps))
            .map_or(0, |r| r.ok)
    };
    if let Some(r) = max_goodput_ratio {
        let (ka, kb) = (ok_at(after), ok_at(before));
        headline.push(format!(
            "Maximum goodput {:.2}/s after ({ka} served) vs {:.2}/s before ({kb} served): ×{r:.2}{}.",
            max(after),
            max(before),
            if ka.min(kb) < MIN_REQUESTS {
                format!(" — rests on fewer than {MIN_REQUESTS} served requests, not to be trusted")
            } else {
                String::new()
            }
        ));
    }
    if let Some(t) = top {
        headline.push(format!(
            "At the top common step ({} users) success is {:.2}% (95% {:.2}–{:.2}%, {} requests) \
             after vs {:.2}% ({:.2}–{:.2}%, {} requests) before.",
            t.concurrency,
            t.success_after * 100.0,
            t.success_after_ci[0] * 100.0,
            t.success_after_ci[1] * 100.0,
            t.requests_after,
            t.success_before * 100.0,
            t.success_before_ci[0] * 100.0,
            t.success_before_ci[1] * 100.0,
            t.requests_before
        ));
    }
    if let Some(s) = at_n {
        let why = match knee {
            Some(k) if k == s.concurrency => "the after run's knee".to_string(),
            Some(k) => format!(
                "the largest step both runs measured at or below the after run's knee at {k} users"
            ),
            None => "no knee in the after run: its top common step".into(),
        };
        headline.push(format!(
            "At N = {} users ({why}) p99 of served requests is {:.0} ms after vs {:.0} ms before.",
            s.concurrency, s.p99_after_ms, s.p99_before_ms
        ));
    }
    Comparison {
        before: before_path.into(),
        after: after_path.into(),
        max_goodput_ratio,
        top_concurrency: top.map(|t| t.concurrency),
        top_success: top.map(|t| [t.success_before, t.success_after]),
        n: at_n.map(|s| s.concurrency),
        knee_found: knee.is_some(),
        after_knee: knee,
        p99_at_n_ms: at_n.map(|s| [s.p99_before_ms, s.p99_after_ms]),
        steps,
        headline,
    }
}

/// Median measured step length of a run, seconds.
fn median_step_s(rows: &[StepRow]) -> f64 {
    let mut d: Vec<f64> = rows.iter().map(|r| r.duration_s).collect();
    d.sort_by(f64::total_cmp);
    d.get(d.len() / 2).copied().unwrap_or(0.0)
}

/// A warning when the two runs' steps differ in length by more than 20%: short steps read a
/// different latency tail and throughput, so the deltas are not the change's alone.
fn step_length_warning(before: &[StepRow], after: &[StepRow]) -> Option<String> {
    let (b, a) = (median_step_s(before), median_step_s(after));
    if b <= 0.0 || a <= 0.0 || (a / b - 1.0).abs() <= 0.2 {
        return None;
    }
    Some(format!(
        "the runs' steps differ in length ({b:.1} s before, {a:.1} s after): part of each \
         difference may be the step length, not the change; compare runs with the same \
         --step-duration"
    ))
}

/// Reads both runs and writes the comparison into `out` (atomically); returns the headline.
pub fn compare(before: &Path, after: &Path, out: &Path) -> Result<Vec<String>, ReportError> {
    crate::document::out_dir::check(
        out,
        &[before, after],
        crate::document::out_dir::OutKind::Compare,
    )?;
    let (b_rows, a_rows) = (read_rows(before)?, read_rows(after)?);
    for (rows, path) in [(&b_rows, before), (&a_rows, after)] {
        let counted: Vec<&StepRow> = rows
            .iter()
            .filter(|r| r.is_total() && !r.interrupted)
            .collect();
        if !counted.is_empty() && counted.iter().all(|r| r.target_rps.is_some()) {
            let rates: Vec<String> = counted
                .iter()
                .filter_map(|r| r.target_rps)
                .map(|r| format!("{r}/s"))
                .collect();
            return Err(ReportError::OpenLoop {
                path: path.display().to_string(),
                rates: rates.join(", "),
            });
        }
    }
    for (rows, path) in [(&b_rows, before), (&a_rows, after)] {
        if usable(rows.clone()).len() < 2 {
            return Err(ReportError::OneStep {
                path: path.display().to_string(),
                interrupted: rows
                    .iter()
                    .filter(|r| r.is_total() && r.interrupted)
                    .map(|r| r.step)
                    .collect(),
            });
        }
    }
    let (b, a) = (usable(b_rows), usable(a_rows));
    let note = step_length_warning(&b, &a);
    if let Some(w) = &note {
        eprintln!("loadgen: warning: {w}");
    }
    let c = comparison(
        &before.display().to_string(),
        &b,
        &after.display().to_string(),
        &a,
    );
    let svg =
        charts::compare(&goodput_curve(&b), &goodput_curve(&a)).map_err(ReportError::Chart)?;
    let mut d = Doc::new("Before / after comparison");
    d.push(Block::Para(format!(
        "Before: {}. After: {}.",
        c.before, c.after
    )));
    if let Some(w) = note {
        d.push(Block::Para(format!("Warning: {w}")));
    }
    d.push(Block::Heading(2, "Headline".into()));
    d.push(Block::List(c.headline.clone()));
    d.push(Block::Chart {
        file: "compare.svg".into(),
        title: "Goodput vs concurrency, before and after".into(),
        svg,
    });
    d.push(Block::Heading(2, "Steps".into()));
    d.push(Block::Para(format!(
        "Success with its 95% Wilson interval; a ratio resting on fewer than {MIN_REQUESTS} \
         requests on either side is flagged."
    )));
    let head = [
        "users",
        "requests before",
        "requests after",
        "goodput before",
        "goodput after",
        "ratio",
        "success before",
        "success after",
        "Δ success",
        "p50 before",
        "p50 after",
        "p50 ratio",
        "p99 before",
        "p99 after",
        "p99 ratio",
    ];
    d.push(Block::Table(
        head.iter().map(|h| h.to_string()).collect(),
        c.steps
            .iter()
            .map(|s| {
                let flag = |r: String| {
                    if s.few_requests {
                        format!("{r} (< {MIN_REQUESTS} requests)")
                    } else {
                        r
                    }
                };
                let pct = |v: f64, ci: [f64; 2]| {
                    format!(
                        "{:.2}% ({:.1}–{:.1})",
                        v * 100.0,
                        ci[0] * 100.0,
                        ci[1] * 100.0
                    )
                };
                vec![
                    s.concurrency.to_string(),
                    s.requests_before.to_string(),
                    s.requests_after.to_string(),
                    format!("{:.2}", s.goodput_before),
                    format!("{:.2}", s.goodput_after),
                    flag(fmt_ratio(s.goodput_ratio)),
                    pct(s.success_before, s.success_before_ci),
                    pct(s.success_after, s.success_after_ci),
                    format!("{:+.2} pp", (s.success_after - s.success_before) * 100.0),
                    format!("{:.0}", s.p50_before_ms),
                    format!("{:.0}", s.p50_after_ms),
                    flag(fmt_ratio(ratio(s.p50_after_ms, s.p50_before_ms))),
                    format!("{:.0}", s.p99_before_ms),
                    format!("{:.0}", s.p99_after_ms),
                    flag(fmt_ratio(ratio(s.p99_after_ms, s.p99_before_ms))),
                ]
            })
            .collect(),
    ));
    let json = serde_json::to_vec_pretty(&c).map_err(|e| ReportError::Chart(e.to_string()))?;
    let files = vec![
        (
            "compare.svg".to_string(),
            d.charts()[0].1.as_bytes().to_vec(),
        ),
        ("compare.md".to_string(), markdown::render(&d).into_bytes()),
        ("compare.html".to_string(), html::render(&d).into_bytes()),
        ("compare.json".to_string(), json),
    ];
    write_dir(out, &files)?;
    Ok(c.headline)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::fixture::row;

    #[test]
    fn wilson_intervals_match_the_published_values() {
        // Wilson (1927) / Newcombe (1998) table: 81 of 263 → 0.2553–0.3662.
        let [lo, hi] = wilson(81, 263);
        assert!(
            (lo - 0.2553).abs() < 5e-4 && (hi - 0.3662).abs() < 5e-4,
            "{lo} {hi}"
        );
        let [lo, hi] = wilson(1, 1);
        assert!(lo < 0.25 && hi == 1.0, "one success says little: {lo} {hi}");
    }

    #[test]
    fn n_is_a_step_both_runs_measured_and_the_headline_says_which() {
        // The after run's knee is at 8 users, a step the before run never measured: N is the
        // largest common step at or below it (2), in the JSON and in the headline alike.
        let before = vec![row(1, 1, 1.0, 1000.0), row(2, 2, 2.0, 1000.0)];
        let after: Vec<StepRow> = [1u32, 2, 4, 8, 16]
            .iter()
            .enumerate()
            .map(|(i, &c)| row(i + 1, c, f64::from(c.min(8)), 1000.0))
            .collect();
        let c = comparison("b.csv", &before, "a.csv", &after);
        assert_eq!((c.after_knee, c.n), (Some(8), Some(2)));
        assert!(
            c.headline.iter().any(|h| h.starts_with(
                "At N = 2 users (the largest step both runs measured at or below the after run's knee at 8 users)"
            )),
            "{:?}",
            c.headline
        );
    }

    #[test]
    fn ratios_from_a_handful_of_requests_are_flagged_and_no_knee_is_said() {
        // Goodput still grows at the top step: no knee in the after run.
        let before = vec![row(1, 1, 0.1, 1000.0), row(2, 2, 0.1, 1000.0)];
        let after = vec![row(1, 1, 5.0, 100.0), row(2, 2, 10.0, 100.0)];
        let c = comparison("b.csv", &before, "a.csv", &after);
        assert!(c.steps.iter().all(|s| s.few_requests), "{:?}", c.steps);
        assert!(!c.knee_found);
        assert!(
            c.headline[0].contains("not to be trusted"),
            "{:?}",
            c.headline
        );
        assert!(c.headline[0].contains("(1 served)"), "{:?}", c.headline);
        assert!(
            c.headline.iter().any(|h| h.contains("no knee")),
            "{:?}",
            c.headline
        );
    }
}
