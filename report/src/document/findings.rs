//! The headline findings as sentences with their numbers, shared by the report, the demo's
//! console output and `summary.json`.

use crate::decide::binding::Binding;
use crate::decide::recommendation::Recommendation;
use crate::decide::recommendation::TargetKind;
use crate::document::summary::Summary;

/// The findings, most important first. `open_loop_held`: for an open-loop run with objectives,
/// the highest offered rate up to which every objective held (`Some(None)`: they fail from the
/// lowest rate).
pub fn headline(s: &Summary, open_loop_held: Option<Option<f64>>) -> Vec<String> {
    let mut out = Vec::new();
    out.push(format!(
        "Maximum goodput {:.2}/s{} (maximum throughput {:.2}/s).",
        s.max_goodput_rps,
        s.max_goodput_concurrency
            .map_or(String::new(), |c| format!(" at {c} users")),
        s.max_throughput_rps
    ));
    if s.tested_concurrency > 0 {
        out.push(knee_text(s));
    }

    if !s.objectives.is_empty() && s.tested_concurrency > 0 {
        out.push(match s.max_concurrency_meeting_slo {
            Some(c) => format!(
                "Every objective ({}) holds up to {c} users.",
                s.objectives.join(", ")
            ),
            None => format!(
                "The objectives ({}) fail from the first step.",
                s.objectives.join(", ")
            ),
        });
    }
    // Which name's own objectives gave out first (measured on each name's rows).
    let per_name: Vec<String> = s
        .names
        .iter()
        .filter(|n| !n.objectives.is_empty())
        .map(|n| match n.meets_own_objectives_up_to {
            Some(u) => format!("{} up to {u} users", n.objectives.join(" and ")),
            None => format!("{} fails from the first step", n.objectives.join(" and ")),
        })
        .collect();
    if !per_name.is_empty() {
        out.push(format!(
            "Per request name, measured on its own rows: {}.",
            per_name.join("; ")
        ));
    }
    if let Some(u) = &s.users {
        let predicted = u.predictions.first().and_then(|p| p.users_at_objective);
        out.push(format!(
            "Users thinking {:.1} s: {} measured meeting every objective; {} predicted by the \
             fitted model{}.",
            u.think_s,
            u.measured_max_users
                .map_or("none".to_string(), |n| n.to_string()),
            predicted.map_or("none".to_string(), |n| n.to_string()),
            u.objective
                .as_deref()
                .map_or(String::new(), |o| format!(" at {o}"))
        ));
    }
    let u = &s.usl;
    if let (Some(sigma), Some(kappa), Some(lambda)) = (u.sigma, u.kappa, u.lambda) {
        let peak = match (u.peak_concurrency, u.peak_throughput_rps) {
            (Some(n), Some(x)) => format!(", fitted peak {x:.2}/s at {n:.1} users"),
            _ => ", no retrograde region observed".to_string(),
        };
        out.push(format!(
            "USL fit on {} steps: σ = {sigma:.4}, κ = {kappa:.6}, λ = {lambda:.3}/s, R² = {:.3}{peak}{}.",
            u.points,
            u.r2.unwrap_or(f64::NAN),
            if u.reliable {
                String::new()
            } else {
                format!(" — unreliable: {}", u.unreliable_reason.as_deref().unwrap_or("?"))
            }
        ));
    } else {
        out.push(format!(
            "No USL fit: {}.",
            u.unreliable_reason.as_deref().unwrap_or("?")
        ));
    }
    let off: Vec<String> = s
        .littles_law
        .iter()
        .filter(|c| c.warning)
        .map(|c| format!("step {} ({:+.0}%)", c.step, c.error_pct))
        .collect();
    if !off.is_empty() {
        out.push(format!(
            "Little's law is more than {:.0}% off on {}: client-side queueing, timeouts or a \
             measurement problem.",
            crate::measure::littles::REPORT_WARN_PCT,
            off.join(", ")
        ));
    }
    if let Some(q) = &s.queueing {
        let past = if s
            .binding
            .iter()
            .any(|b| b.binding == Binding::ServerPermits)
        {
            format!("Past N = {} permits", q.permits)
        } else {
            format!(
                "Past {} requests in flight ({})",
                q.permits, q.permits_source
            )
        };
        out.push(format!(
            "{past}, mean served latency grows {:.1} ms per extra user (S/N predicts {:.1}), \
             linear R² = {:.3}.",
            q.slope_ms_per_user, q.expected_slope_ms_per_user, q.r2
        ));
    }
    // What binds: the constraint the recommendation is made for (the last one the steps show),
    // from the first step of its run up to the top, so the findings and the recommendation
    // name one binding.
    let top = s
        .recommended
        .as_ref()
        .map(|r| r.binding)
        .filter(|&b| {
            b != crate::decide::binding::Binding::None && s.binding.iter().any(|x| x.binding == b)
        })
        .or_else(|| {
            s.binding
                .iter()
                .rev()
                .map(|x| x.binding)
                .find(|&b| b != crate::decide::binding::Binding::None)
        });
    if let Some(b) = top.filter(|&b| b != crate::decide::binding::Binding::None) {
        let from = s
            .binding
            .iter()
            .rposition(|x| x.binding != b)
            .map_or(0, |k| k + 1);
        let from = s
            .binding
            .get(from)
            .or(s.binding.iter().find(|x| x.binding == b));
        let others: Vec<String> = s
            .binding
            .iter()
            .filter(|x| x.binding != b && x.binding != crate::decide::binding::Binding::None)
            .map(|x| format!("{} at {} users", x.binding.label(), x.concurrency))
            .collect();
        out.push(format!(
            "What binds: {}{} from {} users ({}, per step in the table){}.",
            b.label(),
            match (b, from.and_then(|x| x.limit)) {
                (Binding::ConcurrencyLimit, Some(c)) => format!(" (about {c} requests at work)"),
                _ => String::new(),
            },
            from.map_or(0, |x| x.concurrency),
            from.map_or("measured", |x| x.source.label()),
            if others.is_empty() {
                String::new()
            } else {
                format!("; before that, {}", others.join(", "))
            }
        ));
    }
    match (&s.recommended, &s.recommendation_withheld) {
        (Some(r), _) => out.push(format!(
            "Recommended: {}, predicting {:.2}/s goodput{} ({}; {} binds; tested {}).",
            settings_text(r),
            r.predicted_goodput_rps,
            r.predicted_goodput_ci.map_or(String::new(), |c| format!(
                ", 95% interval {:.2}–{:.2}/s",
                c[0], c[1]
            )),
            match r.basis {
                crate::decide::recommendation::Basis::Measured => "measured",
                crate::decide::recommendation::Basis::Extrapolated => "extrapolated",
            },
            r.binding.label(),
            r.tested_range
        )),
        (None, why) => out.push(why.clone().unwrap_or_else(|| "No recommendation.".into())),
    }
    out.extend(crate::document::open_doc::findings(s));
    if let Some(held) = open_loop_held {
        // Open loop: the objectives per offered rate, measured on the rate steps themselves.
        let list = s.objectives.join(", ");
        out.insert(
            1.min(out.len()),
            match held {
                Some(r) => format!(
                    "Open loop: every objective ({list}) holds up to {r}/s offered (measured)."
                ),
                None => format!("Open loop: the objectives ({list}) fail from the lowest rate."),
            },
        );
    }
    out
}

/// The knee sentence (closed-loop steps only).
fn knee_text(s: &Summary) -> String {
    match s.knee_concurrency {
        Some(k) => format!(
            "Knee at {k} users: past it goodput grows by less than {:.0}%.",
            crate::measure::knee::FLAT_GROWTH * 100.0
        ),
        None => "No knee: goodput still grows at the top step.".into(),
    }
}

/// The recommended settings in the target's own terms: analyze-server's variables, or a neutral
/// concurrency limit, queue and wait for any other service.
pub fn settings_text(r: &Recommendation) -> String {
    match r.target {
        TargetKind::AnalyzeServer => format!(
            "MAX_CONCURRENT_ANALYSES={} MAX_QUEUE_DEPTH={} QUEUE_TIMEOUT_MS={}",
            r.max_concurrent_analyses, r.max_queue_depth, r.queue_timeout_ms
        ),
        TargetKind::Service => format!(
            "a concurrency limit of {} in front of the service (a gateway's max connections, a \
             worker-pool size), a queue of {}, a wait of {} ms",
            r.max_concurrent_analyses, r.max_queue_depth, r.queue_timeout_ms
        ),
    }
}
