//! `loadgen compare BEFORE.csv AFTER.csv`: steps matched by concurrency, with deltas and ratios
//! of goodput, success and served latency, one chart with both goodput curves, and the headline
//! (max goodput ratio, success at the top step, p99 at the after run's knee).

use std::path::Path;

use serde::Serialize;

use crate::sinks::csv::{read_rows, StepRow};

use super::analysis::goodput_curve;
use super::doc::{Block, Doc};
use super::{charts, html, knee, markdown, write_dir, ReportError};

/// One concurrency measured in both runs.
#[derive(Debug, Clone, Serialize)]
pub struct StepPair {
    /// Concurrency (users).
    pub concurrency: u32,
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
    /// The after run's knee (N), or its top step.
    pub n: Option<u32>,
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
        .filter(|r| !r.interrupted && r.concurrency.is_some())
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
            Some(StepPair {
                concurrency: a.concurrency?,
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
    let n = knee::knee(&goodput_curve(after))
        .map(|k| k as u32)
        .or(top.map(|t| t.concurrency));
    let at_n = n.and_then(|n| steps.iter().rev().find(|s| s.concurrency <= n));
    let mut headline = Vec::new();
    if let Some(r) = max_goodput_ratio {
        headline.push(format!(
            "Maximum goodput {:.2}/s after vs {:.2}/s before: ×{r:.2}.",
            max(after),
            max(before)
        ));
    }
    if let Some(t) = top {
        headline.push(format!(
            "At the top common step ({} users) success is {:.2}% after vs {:.2}% before.",
            t.concurrency,
            t.success_after * 100.0,
            t.success_before * 100.0
        ));
    }
    if let Some(s) = at_n {
        headline.push(format!(
            "At N = {} users (the after run's knee) p99 of served requests is {:.0} ms after vs {:.0} ms before.",
            s.concurrency, s.p99_after_ms, s.p99_before_ms
        ));
    }
    Comparison {
        before: before_path.into(),
        after: after_path.into(),
        max_goodput_ratio,
        top_concurrency: top.map(|t| t.concurrency),
        top_success: top.map(|t| [t.success_before, t.success_after]),
        n,
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
    super::out_dir::check(out, &[before, after], super::out_dir::OutKind::Compare)?;
    let b = usable(read_rows(before)?);
    let a = usable(read_rows(after)?);
    for (rows, path) in [(&b, before), (&a, after)] {
        if rows.len() < 2 {
            return Err(ReportError::OneStep {
                path: path.display().to_string(),
            });
        }
    }
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
    let head = [
        "users",
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
                vec![
                    s.concurrency.to_string(),
                    format!("{:.2}", s.goodput_before),
                    format!("{:.2}", s.goodput_after),
                    fmt_ratio(s.goodput_ratio),
                    format!("{:.2}%", s.success_before * 100.0),
                    format!("{:.2}%", s.success_after * 100.0),
                    format!("{:+.2} pp", (s.success_after - s.success_before) * 100.0),
                    format!("{:.0}", s.p50_before_ms),
                    format!("{:.0}", s.p50_after_ms),
                    fmt_ratio(ratio(s.p50_after_ms, s.p50_before_ms)),
                    format!("{:.0}", s.p99_before_ms),
                    format!("{:.0}", s.p99_after_ms),
                    fmt_ratio(ratio(s.p99_after_ms, s.p99_before_ms)),
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
