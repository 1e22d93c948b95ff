//! A prediction against the runs that re-measured it: `loadgen verify plan` (the recommendation
//! of `make plan`: closed loop at N, the queue full, Poisson arrivals at the open-loop rate and
//! at 1.3× it) and `loadgen verify users` (the users answer of `make demo-users`). Pure
//! arithmetic over the report's `summary.json` and the check runs' rows; the scripts only start
//! processes. Each check says what was predicted, what was measured and, when it missed, which
//! number missed and by how much.

use serde::{Deserialize, Serialize};

use crate::input::row::StepRow;
use crate::input::server::ServerSnapshot;
use crate::input::slo::Objective;
use crate::measure::steps::{row_for, shed_fraction};

/// A prediction comes true when the measured figure is within this share of it.
pub const TOLERANCE: f64 = 0.15;
/// Success the open-loop rate must keep (the 99%, the default success objective).
pub const MIN_SUCCESS: f64 = 0.99;
/// Share of model calls the provider may push back (429/529) at the open-loop rate.
pub const MAX_PUSHBACK: f64 = 0.01;

/// The part of `summary.json` the plan's checks read.
#[derive(Debug, Clone, Deserialize)]
pub struct PlanSummary {
    /// The `--slo` objectives, as given.
    pub objectives: Vec<String>,
    /// The recommendation (`None`: the report withheld it).
    pub recommended: Option<RecommendedView>,
    /// Why there is no recommendation.
    #[serde(default)]
    pub recommendation_withheld: Option<String>,
    /// The open-loop answer.
    #[serde(default)]
    pub open_loop: Option<OpenLoopView>,
}

/// The recommendation's figures (analyze-server's names, or a service's neutral ones).
#[derive(Debug, Clone, Deserialize)]
pub struct RecommendedView {
    /// N.
    #[serde(alias = "concurrency_limit")]
    pub max_concurrent_analyses: u32,
    /// Queue depth.
    #[serde(alias = "queue_depth")]
    pub max_queue_depth: u32,
    /// Queue timeout, ms.
    #[serde(alias = "queue_wait_ms")]
    pub queue_timeout_ms: u64,
    /// Goodput at N users.
    pub predicted_goodput_rps: f64,
    /// Its 95% interval, when extrapolated.
    pub predicted_goodput_ci: Option<[f64; 2]>,
    /// p99 at N users, ms.
    pub predicted_p99_ms: f64,
    /// `measured` or `extrapolated`.
    pub basis: String,
    /// What binds.
    pub binding: String,
    /// The tested range.
    pub tested_range: String,
    /// The latency bound, ms.
    pub latency_objective_ms: f64,
}

/// The open-loop answer's figures.
#[derive(Debug, Clone, Deserialize)]
pub struct OpenLoopView {
    /// The rate, per second.
    pub rate_rps: f64,
    /// `fitted` or `extrapolated`.
    pub label: String,
    /// The model at the rate.
    pub at_rate: RateView,
    /// The model at 1.3× the rate.
    pub at_1_3x: RateView,
}

/// The model at one rate.
#[derive(Debug, Clone, Deserialize)]
pub struct RateView {
    /// Arrivals per second.
    pub rate_rps: f64,
    /// Share shed.
    pub shed: f64,
    /// Served per second.
    pub goodput_rps: f64,
    /// p99 of served latency, ms.
    pub served_p99_ms: f64,
}

/// One open-loop check run: its rows and the server's /metrics at its start and end (for the
/// provider's push-back during it).
#[derive(Debug, Clone)]
pub struct OpenRun {
    /// The run's rows (the total row is judged).
    pub rows: Vec<StepRow>,
    /// `/metrics` at the start, when scraped.
    pub metrics_start: Option<ServerSnapshot>,
    /// `/metrics` at the end.
    pub metrics_end: Option<ServerSnapshot>,
}

/// The runs of `make plan`'s check.
#[derive(Debug, Clone)]
pub struct PlanRuns {
    /// N users against the server restarted with the recommendation.
    pub recommended: Vec<StepRow>,
    /// N + depth users: the queue full.
    pub queue_full: Option<Vec<StepRow>>,
    /// Poisson arrivals at the open-loop rate.
    pub open_loop: Option<OpenRun>,
    /// Poisson arrivals at 1.3× it.
    pub overload: Option<OpenRun>,
}

/// One line of the verification.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    /// What is compared.
    pub figure: String,
    /// The prediction (or the bound), as printed.
    pub predicted: String,
    /// The measurement, as printed.
    pub measured: String,
    /// How it compares.
    pub note: String,
    /// Why it failed, when it did.
    pub failure: Option<String>,
}

/// The whole verification.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verification {
    /// The document's title.
    pub title: String,
    /// What was predicted and how it was re-measured, as a paragraph.
    pub preamble: String,
    /// The lines, in order.
    pub lines: Vec<Line>,
    /// Every failure, in the order of the lines.
    pub failures: Vec<String>,
}

/// Why a verification could not be made at all.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VerifyError {
    /// The report made no recommendation.
    #[error("the report made no recommendation: {0}")]
    NoRecommendation(String),
    /// The report made no users prediction.
    #[error("the report made no users prediction: {0}")]
    NoUsersPrediction(String),
    /// A check run has no total row.
    #[error("{0}: no total row (name \"*\") to judge")]
    NoTotal(String),
    /// An objective of the summary does not parse.
    #[error("summary.json objective {0}")]
    Objective(String),
    /// Open-loop runs were given but the report has no open-loop answer.
    #[error("open-loop runs given, but the report has no open-loop answer")]
    NoOpenLoopAnswer,
}

impl Verification {
    /// Whether every line passed.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    fn push(&mut self, line: Line) {
        if let Some(f) = &line.failure {
            self.failures.push(f.clone());
        }
        self.lines.push(line);
    }

    /// The Markdown document: the preamble, a table, PASS or FAIL with every missed number.
    pub fn markdown(&self) -> String {
        let mut md = vec![
            format!("# {}", self.title),
            String::new(),
            self.preamble.clone(),
            String::new(),
            "| figure | predicted | measured | note |".into(),
            "|---|---|---|---|".into(),
        ];
        for l in &self.lines {
            let mark = if l.failure.is_some() { " **✗**" } else { "" };
            md.push(format!(
                "| {} | {} | {} | {}{mark} |",
                l.figure, l.predicted, l.measured, l.note
            ));
        }
        md.push(String::new());
        md.push(if self.passed() {
            "**PASS**".into()
        } else {
            format!("**FAIL: {}**", self.failures.join("; "))
        });
        md.push(String::new());
        md.join("\n")
    }
}

/// The relative distance of `measured` from `predicted` (infinite when nothing was predicted).
pub fn off(measured: f64, predicted: f64) -> f64 {
    if predicted > 0.0 {
        (measured - predicted).abs() / predicted
    } else {
        f64::INFINITY
    }
}

fn total<'a>(rows: &'a [StepRow], what: &str) -> Result<&'a StepRow, VerifyError> {
    rows.iter()
        .rev()
        .find(|r| r.is_total())
        .ok_or_else(|| VerifyError::NoTotal(what.into()))
}

/// Share of model calls the provider pushed back between two snapshots, and the calls counted.
fn pushback(run: &OpenRun) -> Option<(f64, f64)> {
    let (start, end) = (run.metrics_start.as_ref()?, run.metrics_end.as_ref()?);
    let d = end.since(start);
    let calls = d.model_calls_ok + d.pushbacks;
    Some((
        if calls > 0.0 {
            d.pushbacks / calls
        } else {
            0.0
        },
        calls,
    ))
}

/// A "within tolerance" line.
fn within(figure: String, predicted: f64, measured: f64, unit: &str, what: &str) -> Line {
    let o = off(measured, predicted);
    let fmt = |v: f64| {
        if unit == "ms" {
            format!("{v:.0}")
        } else {
            format!("{v:.2}")
        }
    };
    Line {
        figure,
        predicted: fmt(predicted),
        measured: fmt(measured),
        note: format!("{:.1}% off (≤ {:.0}%)", o * 100.0, TOLERANCE * 100.0),
        failure: (o > TOLERANCE).then(|| {
            format!(
                "{what} {}{} is {:.1}% from the predicted {}{}",
                fmt(measured),
                if unit == "ms" { " ms" } else { "/s" },
                o * 100.0,
                fmt(predicted),
                if unit == "ms" { " ms" } else { "/s" },
            )
        }),
    }
}

/// The objectives of the summary judged on a check run's last step, each on its request name's
/// row ([`row_for`], as the report judges them).
fn objectives_hold(
    objectives: &[Objective],
    rows: &[StepRow],
) -> Result<(bool, Vec<String>), VerifyError> {
    let total = total(rows, "the check run")?;
    let named: Vec<StepRow> = rows
        .iter()
        .filter(|r| r.step == total.step && !r.is_total())
        .cloned()
        .collect();
    let missed: Vec<String> = objectives
        .iter()
        .filter_map(|o| match row_for(o, total, &named) {
            Some(r) => {
                let c = o.check(r);
                (!c.holds).then(|| format!("{} (measured {})", o.text, c.measured))
            }
            None => Some(format!("{} (no row of that name)", o.text)),
        })
        .collect();
    Ok((missed.is_empty(), missed))
}

fn parse_objectives(texts: &[String]) -> Result<Vec<Objective>, VerifyError> {
    texts
        .iter()
        .map(|t| Objective::parse(t).map_err(|e| VerifyError::Objective(e.to_string())))
        .collect()
}

/// `make plan`'s verification of the recommendation in `summary`.
pub fn plan(
    summary: &PlanSummary,
    runs: &PlanRuns,
    tolerance_note: &str,
) -> Result<Verification, VerifyError> {
    let rec = summary.recommended.as_ref().ok_or_else(|| {
        VerifyError::NoRecommendation(
            summary
                .recommendation_withheld
                .clone()
                .unwrap_or_else(|| "no reason given".into()),
        )
    })?;
    let objectives = parse_objectives(&summary.objectives)?;
    let bound = rec.latency_objective_ms;
    let mut v = Verification {
        title: "Verification of the recommendation".into(),
        preamble: format!(
            "Recommended (`{}`, {} binds; tested {}): MAX_CONCURRENT_ANALYSES={} \
             MAX_QUEUE_DEPTH={} QUEUE_TIMEOUT_MS={}. Measured on the server restarted with these \
             settings{tolerance_note}.",
            rec.basis,
            rec.binding,
            rec.tested_range,
            rec.max_concurrent_analyses,
            rec.max_queue_depth,
            rec.queue_timeout_ms
        ),
        lines: Vec::new(),
        failures: Vec::new(),
    };
    let at = total(&runs.recommended, "the run at N users")?;
    let mut goodput = within(
        "goodput at N users (/s)".into(),
        rec.predicted_goodput_rps,
        at.goodput_rps,
        "/s",
        "closed-loop goodput at N users",
    );
    if let Some([lo, hi]) = rec.predicted_goodput_ci {
        goodput.predicted += &format!(" ({lo:.2}–{hi:.2})");
    }
    v.push(goodput);
    v.push(Line {
        figure: "p99 at N users (ms)".into(),
        predicted: format!("{:.0}", rec.predicted_p99_ms),
        measured: format!("{:.0}", at.p99_ms),
        note: format!("objective {bound:.0}"),
        failure: None,
    });
    let (hold, missed) = objectives_hold(&objectives, &runs.recommended)?;
    v.push(Line {
        figure: "objectives at N users".into(),
        predicted: summary.objectives.join(", "),
        measured: format!("{:.2}% success", at.success_rate * 100.0),
        note: if hold {
            "all hold".into()
        } else {
            format!("missed: {}", missed.join(", "))
        },
        failure: (!hold).then(|| {
            format!(
                "an objective failed at the recommended load: {}",
                missed.join(", ")
            )
        }),
    });
    if let Some(rows) = &runs.queue_full {
        let full = total(rows, "the run with the queue full")?;
        v.push(Line {
            figure: "served p99, queue full (ms)".into(),
            predicted: format!("≤ {bound:.0}"),
            measured: format!("{:.0}", full.p99_ms),
            note: format!(
                "{} shed with 503, {} timeouts",
                full.rejected_503, full.timeouts
            ),
            failure: (full.ok > 0 && full.p99_ms > bound).then(|| {
                format!(
                    "with the queue full, served p99 {:.0} ms missed the {bound:.0} ms \
                     objective: the queue timeout leaves too little margin",
                    full.p99_ms
                )
            }),
        });
    }
    if runs.open_loop.is_some() || runs.overload.is_some() {
        let ol = summary
            .open_loop
            .as_ref()
            .ok_or(VerifyError::NoOpenLoopAnswer)?;
        if let Some(run) = &runs.open_loop {
            open_loop_lines(&mut v, ol, run)?;
        }
        if let Some(run) = &runs.overload {
            overload_lines(&mut v, ol, run, bound)?;
        }
    }
    Ok(v)
}

fn open_loop_lines(
    v: &mut Verification,
    ol: &OpenLoopView,
    run: &OpenRun,
) -> Result<(), VerifyError> {
    let r = total(&run.rows, "the open-loop run")?;
    let label = &ol.label;
    let offered = r.requests as f64 / r.duration_s.max(1e-9);
    v.push(Line {
        figure: format!("open-loop rate, Poisson (/s, {label})"),
        predicted: format!("{:.2}", ol.rate_rps),
        measured: format!("{offered:.2} offered"),
        note: format!(
            "{} arrivals, {} requests in {:.0} s",
            r.arrivals.as_deref().unwrap_or("constant"),
            r.requests,
            r.duration_s
        ),
        failure: (r.arrivals.as_deref() != Some("poisson"))
            .then(|| "the open-loop run did not offer Poisson arrivals".to_string()),
    });
    // Poisson arrivals are random in number too: the served share is what the model claims
    // about the server, so goodput is predicted for the arrivals actually offered (λ' × (1 −
    // the predicted shed share)).
    let mut goodput = within(
        format!("goodput at that rate (/s, {label})"),
        offered * (1.0 - ol.at_rate.shed),
        r.goodput_rps,
        "/s",
        "open-loop goodput",
    );
    goodput.note += &format!(
        "; predicted for the {offered:.2}/s offered ({:.2}/s at {:.2}/s)",
        ol.at_rate.goodput_rps, ol.rate_rps
    );
    v.push(goodput);
    v.push(within(
        format!("served p99 at that rate (ms, {label})"),
        ol.at_rate.served_p99_ms,
        r.p99_ms,
        "ms",
        "open-loop served p99",
    ));
    let shed = shed_fraction(r);
    v.push(Line {
        figure: "success at that rate".into(),
        predicted: format!("≥ {:.0}%", MIN_SUCCESS * 100.0),
        measured: format!("{:.2}%", r.success_rate * 100.0),
        note: format!(
            "shed {:.2}% (predicted {:.2}%)",
            shed * 100.0,
            ol.at_rate.shed * 100.0
        ),
        failure: (r.success_rate < MIN_SUCCESS).then(|| {
            format!(
                "open-loop success {:.2}% is below {:.0}%",
                r.success_rate * 100.0,
                MIN_SUCCESS * 100.0
            )
        }),
    });
    let line = match pushback(run) {
        Some((share, calls)) => Line {
            figure: "provider push-back at that rate".into(),
            predicted: format!("≤ {:.0}%", MAX_PUSHBACK * 100.0),
            measured: format!("{:.2}%", share * 100.0),
            note: format!("of {calls:.0} model calls (the server's upstream_calls_total)"),
            failure: (share > MAX_PUSHBACK).then(|| {
                format!(
                    "the provider pushed back {:.2}% of model calls at the open-loop rate \
                     (> {:.0}%)",
                    share * 100.0,
                    MAX_PUSHBACK * 100.0
                )
            }),
        },
        None => Line {
            figure: "provider push-back at that rate".into(),
            predicted: format!("≤ {:.0}%", MAX_PUSHBACK * 100.0),
            measured: "not measured".into(),
            note: "run with --scrape to count it".into(),
            failure: Some(
                "the provider's push-back was not measured (no --scrape snapshots)".into(),
            ),
        },
    };
    v.push(line);
    Ok(())
}

fn overload_lines(
    v: &mut Verification,
    ol: &OpenLoopView,
    run: &OpenRun,
    bound: f64,
) -> Result<(), VerifyError> {
    let r = total(&run.rows, "the overload run")?;
    let (label, high) = (&ol.label, &ol.at_1_3x);
    let shed = shed_fraction(r);
    let offered = r.requests as f64 / r.duration_s.max(1e-9);
    // The model's shed share is a steady state; a run of minutes starts with an empty queue,
    // and at or just below saturation it may never fill. What must hold is the served p99.
    v.push(Line {
        figure: format!("at 1.3× = {:.2}/s: shed share ({label})", high.rate_rps),
        predicted: format!("{:.1}%", high.shed * 100.0),
        measured: format!("{:.1}%", shed * 100.0),
        note: if r.rejected_503 > 0 {
            format!(
                "{} answered 503 of {} offered ({offered:.2}/s)",
                r.rejected_503, r.requests
            )
        } else {
            format!(
                "no 503: at the {offered:.2}/s offered the queue never waited past the timeout \
                 (the prediction is a steady state)"
            )
        },
        failure: None,
    });
    v.push(Line {
        figure: format!("at 1.3×: served p99 (ms, {label})"),
        predicted: format!("{:.0} (≤ {bound:.0})", high.served_p99_ms),
        measured: format!("{:.0}", r.p99_ms),
        note: "the objective must hold: shed, not serve late".into(),
        failure: (r.ok > 0 && r.p99_ms > bound).then(|| {
            format!(
                "at 1.3× the rate, served p99 {:.0} ms passed the {bound:.0} ms objective \
                 instead of shedding",
                r.p99_ms
            )
        }),
    });
    Ok(())
}

/// The part of `summary.json` the users check reads.
#[derive(Debug, Clone, Deserialize)]
pub struct UsersSummary {
    /// The `--slo` objectives, as given.
    pub objectives: Vec<String>,
    /// The users answer.
    pub users: Option<UsersView>,
    /// What binds each step.
    #[serde(default)]
    pub binding: Vec<BindingView>,
}

/// One step's binding.
#[derive(Debug, Clone, Deserialize)]
pub struct BindingView {
    /// What binds.
    pub binding: String,
}

/// The users answer's figures.
#[derive(Debug, Clone, Deserialize)]
pub struct UsersView {
    /// Mean think time, s.
    pub think_s: f64,
    /// The most users at which every objective held in the ramp.
    pub measured_max_users: Option<u32>,
    /// The fitted service model (`None`: not fitted).
    pub model: Option<UsersModelView>,
    /// Why not fitted.
    #[serde(default)]
    pub unfitted: Option<String>,
    /// The objective the prediction is made for.
    pub objective: Option<String>,
    /// One per think time.
    pub predictions: Vec<UsersPredictionView>,
}

/// The fitted service model.
#[derive(Debug, Clone, Deserialize)]
pub struct UsersModelView {
    /// The request name it models.
    pub name: String,
    /// Servers.
    pub servers: f64,
    /// Where the server count came from.
    pub servers_from: String,
}

/// One prediction.
#[derive(Debug, Clone, Deserialize)]
pub struct UsersPredictionView {
    /// Users meeting the objective.
    pub users_at_objective: Option<u32>,
    /// The model there.
    pub at_objective: Option<UsersAtView>,
    /// The named request's predicted latency there, ms.
    pub predicted_latency_ms: Option<f64>,
}

/// The model at the users answer.
#[derive(Debug, Clone, Deserialize)]
pub struct UsersAtView {
    /// Throughput of all requests, per second.
    pub throughput_rps: f64,
}

/// `make demo-users`' verification of the users answer in `summary` against `rows`, the run at
/// the predicted user count.
pub fn users(summary: &UsersSummary, rows: &[StepRow]) -> Result<Verification, VerifyError> {
    let no = |why: &str| VerifyError::NoUsersPrediction(why.into());
    let u = summary
        .users
        .as_ref()
        .ok_or_else(|| no("no users answer"))?;
    let model = u
        .model
        .as_ref()
        .ok_or_else(|| no(u.unfitted.as_deref().unwrap_or("no model")))?;
    let p = u.predictions.first().ok_or_else(|| no("no prediction"))?;
    let (Some(users), Some(at), Some(latency)) = (
        p.users_at_objective,
        &p.at_objective,
        p.predicted_latency_ms,
    ) else {
        return Err(no("no user count meets the objective"));
    };
    let objectives = parse_objectives(&summary.objectives)?;
    let all = total(rows, "the run at the predicted user count")?;
    let named = rows
        .iter()
        .rev()
        .find(|r| r.name == model.name)
        .ok_or_else(|| VerifyError::NoTotal(format!("the rows of {}", model.name)))?;
    let binding: Vec<_> = summary.binding.iter().map(|b| b.binding.as_str()).collect();
    let mut v = Verification {
        title: "Verification of the users answer".into(),
        preamble: format!(
            "Think time {:.1} s (mean). Measured: {} users met every objective in the ramp. \
             Predicted (fitted model, {} binds, {:.1} servers from {}): {users} users meet {}. \
             Re-run at {users} users on a fresh server. What binds the ramp's steps: {}.",
            u.think_s,
            u.measured_max_users
                .map_or_else(|| "no".to_string(), |m| m.to_string()),
            model.name,
            model.servers,
            model.servers_from,
            u.objective.as_deref().unwrap_or("the objectives"),
            binding.join(", ")
        ),
        lines: Vec::new(),
        failures: Vec::new(),
    };
    v.push(within(
        "throughput, all requests (/s)".into(),
        at.throughput_rps,
        all.throughput_rps,
        "/s",
        "throughput",
    ));
    v.push(within(
        format!("{} p99 (ms)", model.name),
        latency,
        named.p99_ms,
        "ms",
        &format!("{} p99", model.name),
    ));
    let (hold, missed) = objectives_hold(&objectives, rows)?;
    v.push(Line {
        figure: "objectives".into(),
        predicted: summary.objectives.join(", "),
        measured: format!("{:.2}% success", all.success_rate * 100.0),
        note: if hold {
            "all hold".into()
        } else {
            format!("missed: {}", missed.join(", "))
        },
        failure: (!hold).then(|| {
            format!(
                "an objective failed at the predicted user count: {}",
                missed.join(", ")
            )
        }),
    });
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::fixture::row;

    fn summary(open: bool) -> PlanSummary {
        let json = serde_json::json!({
            "objectives": ["p99<10s", "success>=99%"],
            "recommended": {
                "max_concurrent_analyses": 11, "max_queue_depth": 8, "queue_timeout_ms": 4000,
                "predicted_goodput_rps": 2.5, "predicted_goodput_ci": [2.2, 2.9],
                "predicted_p99_ms": 8000.0, "basis": "extrapolated", "binding": "server_permits",
                "tested_range": "1–10 concurrent analyses", "latency_objective_ms": 10000.0,
                "reasoning": "…", "target": "analyze_server", "verify": "make plan"
            },
            "open_loop": open.then(|| serde_json::json!({
                "rate_rps": 2.0, "label": "extrapolated",
                "at_rate": {"rate_rps": 2.0, "shed": 0.004, "goodput_rps": 1.99, "served_p99_ms": 9000.0},
                "at_1_3x": {"rate_rps": 2.6, "shed": 0.08, "goodput_rps": 2.4, "served_p99_ms": 9800.0}
            }))
        });
        serde_json::from_value(json).unwrap()
    }

    /// A 100 s Poisson step offered `rate`, serving `goodput` (the rest shed with 503).
    fn poisson(rate: f64, goodput: f64, p99: f64) -> StepRow {
        let mut r = row(1, 0, goodput, p99 / 1.5);
        (r.concurrency, r.target_rps, r.arrivals) = (None, Some(rate), Some("poisson".into()));
        r.duration_s = 100.0;
        r.requests = (rate * 100.0).round() as u64;
        r.ok = (goodput * 100.0).round() as u64;
        r.rejected_503 = r.requests - r.ok;
        r.success_rate = r.ok as f64 / r.requests as f64;
        r
    }

    fn snapshot(ok: f64, pushed: f64) -> ServerSnapshot {
        ServerSnapshot {
            model_calls_ok: ok,
            pushbacks: pushed,
            ..ServerSnapshot::default()
        }
    }

    fn open(r: StepRow, pushed: f64) -> OpenRun {
        OpenRun {
            rows: vec![r],
            metrics_start: Some(snapshot(100.0, 0.0)),
            metrics_end: Some(snapshot(1100.0, pushed)),
        }
    }

    #[test]
    fn a_plan_that_came_true_passes_and_each_missed_number_is_named() {
        let good = PlanRuns {
            recommended: vec![row(1, 11, 2.6, 5000.0)],
            queue_full: Some(vec![row(1, 19, 2.7, 6000.0)]),
            open_loop: Some(open(poisson(2.0, 1.99, 9500.0), 5.0)),
            overload: Some(open(poisson(2.6, 2.4, 9900.0), 0.0)),
        };
        let v = plan(&summary(true), &good, "").unwrap();
        assert!(v.passed(), "{:?}", v.failures);
        assert!(v.markdown().contains("**PASS**"));
        // A run offered fewer arrivals than the rate (Poisson counts vary) is judged on what
        // it was offered: 1.8/s offered, 1.79/s served passes.
        let fewer = PlanRuns {
            open_loop: Some(open(poisson(1.8, 1.79, 9200.0), 5.0)),
            ..good.clone()
        };
        assert!(plan(&summary(true), &fewer, "").unwrap().passed());
        // Goodput 20% low (20% shed: success 80%), p99 past its prediction, the provider
        // pushing back 2%, and no 503 at 1.3× with p99 past the bound, each named.
        let mut late = poisson(2.6, 2.6, 12_000.0);
        late.rejected_503 = 0;
        let bad = PlanRuns {
            open_loop: Some(open(poisson(2.0, 1.6, 11_000.0), 20.0)),
            overload: Some(open(late, 0.0)),
            ..good
        };
        let v = plan(&summary(true), &bad, "").unwrap();
        let all = v.failures.join("\n");
        for needle in [
            "open-loop goodput 1.60/s is 19.7% from the predicted 1.99/s",
            "open-loop served p99 11000 ms is 22.2% from the predicted 9000 ms",
            "open-loop success 80.00% is below 99%",
            "pushed back 1.96% of model calls",
            "served p99 12000 ms passed the 10000 ms objective instead of shedding",
        ] {
            assert!(all.contains(needle), "{needle} not in:\n{all}");
        }
        assert!(v
            .markdown()
            .starts_with("# Verification of the recommendation"));
        assert!(v.markdown().contains("**FAIL: "));
    }

    #[test]
    fn closed_loop_goodput_off_by_more_than_the_tolerance_fails_and_objectives_are_rejudged() {
        let runs = PlanRuns {
            recommended: vec![row(1, 11, 2.0, 8000.0)],
            queue_full: None,
            open_loop: None,
            overload: None,
        };
        let v = plan(&summary(false), &runs, "").unwrap();
        // 2.0 against 2.5: 20% off; p99 12 s (1.5 × 8 s) fails p99<10s.
        assert_eq!(v.failures.len(), 2, "{:?}", v.failures);
        assert!(v.failures[0].contains("is 20.0% from the predicted 2.50/s"));
        assert!(v.failures[1].contains("p99<10s"), "{}", v.failures[1]);
        // Open-loop runs against a report without an open-loop answer: refused, not ignored.
        let with_open = PlanRuns {
            open_loop: Some(open(poisson(2.0, 2.0, 9000.0), 0.0)),
            ..runs
        };
        assert_eq!(
            plan(&summary(false), &with_open, "").unwrap_err(),
            VerifyError::NoOpenLoopAnswer
        );
    }

    #[test]
    fn no_recommendation_is_an_error_that_says_why() {
        let mut s = summary(false);
        s.recommended = None;
        s.recommendation_withheld = Some("every step was rate limited".into());
        let runs = PlanRuns {
            recommended: vec![],
            queue_full: None,
            open_loop: None,
            overload: None,
        };
        assert_eq!(
            plan(&s, &runs, "").unwrap_err().to_string(),
            "the report made no recommendation: every step was rate limited"
        );
    }

    #[test]
    fn the_users_answer_is_checked_on_throughput_the_named_p99_and_the_objectives() {
        let s: UsersSummary = serde_json::from_value(serde_json::json!({
            "objectives": ["analyze:p99<5s"],
            "binding": [{"binding": "none"}, {"binding": "server_permits"}],
            "users": {
                "think_s": 2.0, "measured_max_users": 20,
                "model": {"name": "analyze", "servers": 10.0, "servers_from": "analyze_capacity"},
                "objective": "analyze:p99<5s",
                "predictions": [{"users_at_objective": 24,
                                 "at_objective": {"throughput_rps": 8.0},
                                 "predicted_latency_ms": 4000.0}]
            }
        }))
        .unwrap();
        let mut named = row(1, 24, 4.0, 2800.0); // p99 4200 ms
        named.name = "analyze".into();
        let rows = vec![named.clone(), row(1, 24, 8.4, 1000.0)];
        let v = users(&s, &rows).unwrap();
        assert!(v.passed(), "{:?}", v.failures);
        named.mean_ms = 4000.0;
        named.p99_ms = 6000.0;
        let v = users(&s, &[named, row(1, 24, 6.0, 1000.0)]).unwrap();
        let all = v.failures.join("\n");
        assert!(
            all.contains("throughput 6.00/s is 25.0% from the predicted 8.00/s"),
            "{all}"
        );
        assert!(all.contains("analyze p99 6000 ms is 50.0% from"), "{all}");
        assert!(all.contains("analyze:p99<5s"), "{all}");
    }
}
