//! Warnings for runs that pass while measuring the wrong thing: a target answering 4xx/5xx (a
//! typo in the path), a per-client rate limiter answering 429 to nearly everything, a step whose
//! Little's law does not add up, a timeout longer than a step.

use http::StatusCode;

use crate::engine::Preflight;
use crate::plan::Plan;
use crate::record::StepResult;

/// `404 Not Found`, or the bare code when it has no standard reason.
fn status_text(code: u16) -> String {
    match StatusCode::from_u16(code)
        .ok()
        .and_then(|s| s.canonical_reason())
    {
        Some(reason) => format!("{code} {reason}"),
        None => code.to_string(),
    }
}

/// A warning per target whose `--preflight-request` was answered with 4xx/5xx.
pub fn preflight(p: &Preflight) -> Vec<String> {
    p.answers
        .iter()
        .filter(|(_, code)| *code >= 400)
        .map(|(uri, code)| {
            format!(
                "loadgen: warning: the preflight request got {} from {uri} (path {}): the run \
                 will measure that answer, not the service; check the URL, method and body",
                status_text(*code),
                uri.path()
            )
        })
        .collect()
}

/// The warning for a step where most answers were not 2xx: which status, from which path, and
/// for a rate limiter's 429 with Retry-After, what to do about it. `None` when most were 2xx.
pub fn answers(r: &StepResult, plan: &Plan) -> Option<String> {
    let answered = r.requests.saturating_sub(r.in_flight_at_end);
    let errors: u64 = r.error_statuses.values().sum();
    if answered == 0 || errors * 2 <= answered {
        return None;
    }
    let (&code, &n) = r.error_statuses.iter().max_by_key(|(_, n)| **n)?;
    let pct = share_text(n, answered);
    // The request that drew the most error answers (a scenario has several).
    let worst = r
        .by_name
        .iter()
        .max_by_key(|(_, x)| x.requests - x.outcomes.get("ok").copied().unwrap_or(0))
        .and_then(|(name, _)| plan.requests.iter().find(|t| &t.name == name))
        .or(plan.requests.first())?;
    let what = format!(
        "loadgen: warning: step {}: {pct} of answers were {} ({n} of {answered}) from {} {}",
        r.step,
        status_text(code),
        worst.method,
        worst.uri.path()
    );
    if code == 429 && r.retry_after.count > 0 && !plan.honor_retry_after {
        Some(format!(
            "{what}, with Retry-After: the server's per-client rate limit is what is being \
             measured; honour it with --honor-retry-after, or raise the limit for the load test \
             (see Troubleshooting in loadgen/README.md)"
        ))
    } else if code == 503 {
        Some(format!(
            "{what}: the target is shedding load (503, the answer of a full queue or an overload \
             guard{}): at this load it refuses work rather than queue it, so the step measures \
             its shedding, not a wrong request; if even the lowest load sheds, check that the \
             target is up and ready",
            if r.retry_after.count > 0 {
                format!(
                    ", with Retry-After {:.0} s on average",
                    r.retry_after.mean_s()
                )
            } else {
                String::new()
            }
        ))
    } else {
        Some(format!(
            "{what}: the run measures that answer, not the service; check the URL, method and \
             body (see Troubleshooting in loadgen/README.md)"
        ))
    }
}

/// `n` of `total` as a percentage that never reads 100% unless it is all of them (122909 of
/// 122920 is 99.99%, not 100%).
pub fn share_text(n: u64, total: u64) -> String {
    if total == 0 {
        return "0%".into();
    }
    if n == total {
        return "100%".into();
    }
    let pct = n as f64 / total as f64 * 100.0;
    if pct < 99.5 {
        format!("{pct:.0}%")
    } else if pct < 99.995 {
        format!("{pct:.2}%")
    } else {
        ">99.99%".into()
    }
}

/// The step's errors by cause, e.g. `404 ×82876, timeout ×3`; empty when there are none.
pub fn breakdown(r: &StepResult) -> String {
    let mut parts: Vec<String> = r
        .error_statuses
        .iter()
        .map(|(code, n)| format!("{} ×{n}", status_text(*code)))
        .collect();
    // A merge of logs has no per-status counts: fall back to the classes.
    if r.error_statuses.is_empty() {
        for (label, n) in [
            ("429", r.rejected_429),
            ("503", r.rejected_503),
            ("other 4xx", r.other_4xx),
            ("other 5xx", r.other_5xx),
            ("other status", r.other_status),
        ] {
            if n > 0 {
                parts.push(format!("{label} ×{n}"));
            }
        }
    }
    for (label, n) in [
        ("timeout", r.timeouts),
        ("connect error", r.connect_errors),
        ("I/O error", r.io_errors),
        ("unsent", r.unsent),
    ] {
        if n > 0 {
            parts.push(format!("{label} ×{n}"));
        }
    }
    parts.join(", ")
}

/// The warning for an open-loop step whose sending overran its window: the generator (or
/// `--max-in-flight`) could not keep up with the rate, so the step took longer than asked and
/// its rates are over the time it really took.
pub fn overrun_warning(r: &StepResult) -> Option<String> {
    let over = r.overrun_s?;
    let asked = r.duration_s - over;
    let rate = r.target_rps.unwrap_or(0.0);
    Some(format!(
        "loadgen: warning: step {}: sending overran the step by {over:.1} s ({:.1} s for a \
         {asked:.1} s step): {rate}/s was more than the generator and --max-in-flight {} could \
         send, so the step's throughput ({:.1}/s) is over the {:.1} s its requests really took, \
         not the rate asked for; lower --rate or raise --max-in-flight",
        r.step,
        r.duration_s,
        r.concurrency.unwrap_or(0),
        r.throughput_rps,
        r.duration_s
    ))
}

/// A step's Little's law error (in percent) above which loadgen warns (defined beside the
/// report's own threshold).
pub const LITTLES_LAW_WARN_PCT: f64 = report::littles::LIVE_WARN_PCT;

/// The warning for a step whose Little's law error is past [`LITTLES_LAW_WARN_PCT`].
pub fn littles_law_warning(r: &StepResult) -> Option<String> {
    littles_law_message(
        r.step,
        r.littles_law_error_pct?,
        r.target_rps.is_some(),
        r.all_latency.p99_ms,
        r.duration_s,
    )
}

/// [`littles_law_warning`] from the figures it reads: a note instead of a warning when the
/// step's p99 (every answer) is more than [`report::littles::MAX_TAIL_SHARE`] of the step — not
/// in steady state (a queue still growing), where the window's edges alone move the law, as the
/// report says ("not judged").
fn littles_law_message(
    step: usize,
    error_pct: f64,
    open_loop: bool,
    p99_ms: f64,
    duration_s: f64,
) -> Option<String> {
    let e = error_pct;
    if e.abs() <= LITTLES_LAW_WARN_PCT {
        return None;
    }
    let what = if open_loop {
        "throughput × mean latency against the time-averaged requests in flight"
    } else {
        "throughput × (mean latency + mean pause) against the virtual users"
    };
    let tail = report::littles::tail_share_of(p99_ms, duration_s);
    if tail > report::littles::MAX_TAIL_SHARE {
        return Some(format!(
            "loadgen: note: step {step}: Little's law is off by {e:+.1}% ({what}); its p99 is \
             {:.0}% of the step, so the step is not in steady state (a queue still growing) and \
             the law cannot judge it: lengthen the steps to check it",
            tail * 100.0
        ));
    }
    Some(format!(
        "loadgen: warning: step {step}: Little's law is off by {e:+.1}% ({what}): users that \
         were not all busy (connect failures, --spawn-over longer than the warm-up), a \
         generator short of CPU, or a step too short for its latency"
    ))
}

/// In a ramp, a timeout longer than a step means a step's last requests may resolve well into
/// the next step (they still count in their own step, but the step's row waits for them).
/// Silent when the three are all at their defaults.
pub fn warn_long_timeout(plan: &Plan) {
    use crate::cli::{DEFAULT_STEP, DEFAULT_STEP_WARMUP, DEFAULT_TIMEOUT};
    let defaults = [
        (plan.timeout, DEFAULT_TIMEOUT),
        (plan.step_duration, DEFAULT_STEP),
        (plan.warmup, DEFAULT_STEP_WARMUP),
    ]
    .iter()
    .all(|&(d, text)| humantime::parse_duration(text).is_ok_and(|t| t == d));
    if !defaults && plan.steps.len() > 1 && plan.timeout > plan.warmup + plan.step_duration {
        eprintln!(
            "loadgen: warning: --timeout {} is longer than a step ({}): each step's row waits up \
             to that long for its slowest requests",
            humantime::format_duration(plan.timeout),
            humantime::format_duration(plan.warmup + plan.step_duration)
        );
    }
}

#[cfg(test)]
mod littles_law_tests {
    use super::*;

    #[test]
    fn a_step_whose_tail_spans_it_gets_a_note_not_a_generator_warning() {
        // The users demo's step 7: 30 s, −21.4%, p99 21.4 s.
        let w = littles_law_message(7, -21.4, false, 21_365.0, 30.0).unwrap();
        assert!(
            w.contains("note: step 7") && w.contains("its p99 is 71% of the step"),
            "{w}"
        );
        assert!(!w.contains("short of CPU"), "{w}");
        let w = littles_law_message(7, -21.4, false, 1_500.0, 30.0).unwrap();
        assert!(
            w.contains("warning: step 7") && w.contains("short of CPU"),
            "{w}"
        );
        assert_eq!(littles_law_message(7, 2.0, false, 1_500.0, 30.0), None);
    }
}

#[cfg(test)]
mod tests {
    use super::share_text;

    #[test]
    fn a_share_reads_100_percent_only_when_it_is_all() {
        assert_eq!(share_text(122_909, 122_920), "99.99%");
        assert_eq!(share_text(999_999, 1_000_000), ">99.99%");
        assert_eq!(share_text(10, 10), "100%");
        assert_eq!(share_text(3, 4), "75%");
        assert_eq!(share_text(0, 0), "0%");
    }
}
