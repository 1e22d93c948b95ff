//! The JSON summary: `{"version", "config", "steps": [...], "preflight_requests",
//! "warmup_requests"}` (and `"not_run"` when a signal came before `--start-at`), each step with the CSV's column
//! names plus nested details (per request name, per outcome class, Server-Timing, Retry-After).

use std::io::{self, Write};

use serde_json::{json, Value};

use crate::plan::Plan;
use crate::record::StepResult;
use crate::slo::Objective;

/// Version of this JSON layout.
pub const SCHEMA_VERSION: &str = "1";

/// The `config` object: what was asked for.
pub fn config(plan: &Plan, objectives: &[Objective], slo_until: Option<f64>) -> Value {
    json!({
        "command": plan.command,
        "url": plan.url,
        "steps": plan.steps,
        "step_duration_s": plan.step_duration.as_secs_f64(),
        "warmup_s": plan.warmup.as_secs_f64(),
        "timeout_s": plan.timeout.as_secs_f64(),
        "connect_timeout_s": plan.connect_timeout.as_secs_f64(),
        "http2": plan.http2,
        "honor_retry_after": plan.honor_retry_after,
        "seed": plan.seed,
        "arrivals": plan.arrivals.map(|a| a.to_string()),
        "think_time": plan.think_time.map(|t| t.to_string()),
        "close_between": plan.close_between,
        "requests": plan.requests.iter().map(|r| json!({
            "name": r.name, "method": r.method.as_str(), "url": r.uri.to_string(), "weight": r.weight,
            "bodies": r.bodies.as_ref().map(|b| json!({
                "file": b.path.display().to_string(),
                "sha256": b.sha256,
                "lines": b.bodies.len(),
                "order": b.order,
            })),
        })).collect::<Vec<_>>(),
        "sessions": plan.flows.iter().filter(|f| f.session).map(|f| json!({
            "name": f.name, "weight": f.weight,
            "requests": f.steps.iter().map(|s| json!({
                "name": plan.requests[s.request].name,
                "think_time": s.think.map(|t| t.to_string()),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "slo": objectives.iter().map(|o| o.text.clone()).collect::<Vec<_>>(),
        "slo_until": slo_until,
        "target_pid": plan.target_pid,
        "target_cores": plan.target_cores,
        "loadgen_version": env!("CARGO_PKG_VERSION"),
    })
}

/// Requests that reached the target outside any step: with the steps' `requests` they add up to
/// what the target itself counted.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Uncounted {
    /// Sent by `--preflight-request` (0 when the check only connected).
    pub preflight_requests: u64,
    /// Sent during warm-ups.
    pub warmup_requests: u64,
}

/// Writes the whole summary; `uncounted` is `None` for a merge (the instances' logs do not
/// carry it); `not_run`, why no step ran (a signal before `--start-at`), is written only when
/// set.
pub fn write(
    mut out: impl Write,
    config: &Value,
    uncounted: Option<Uncounted>,
    not_run: Option<&str>,
    steps: &[StepResult],
) -> io::Result<()> {
    let mut doc = json!({ "version": SCHEMA_VERSION, "config": config, "steps": steps });
    if let Some(u) = uncounted {
        doc["preflight_requests"] = json!(u.preflight_requests);
        doc["warmup_requests"] = json!(u.warmup_requests);
    }
    if let Some(why) = not_run {
        doc["not_run"] = json!(why);
    }
    serde_json::to_writer_pretty(&mut out, &doc)?;
    writeln!(out)?;
    out.flush()
}
