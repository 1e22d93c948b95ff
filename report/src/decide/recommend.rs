//! The recommendation, with its reasoning written out. N comes from what binds: when the
//! server's own permits bind and the provider never pushed back, N goes past the tested permits
//! up to the tightest provider budget (an extrapolation, labelled so, with the tested range);
//! when the provider binds, N is where the adaptive limit settled; otherwise the knee, never
//! above the largest tested load meeting every objective. The queue timeout comes from the
//! objective with the least slack at N, minus a margin; the depth from the timeout.

use crate::input::row::StepRow;
use crate::input::slo::{LatencyFigure, Metric, Objective, Op};

use crate::decide::binding::{Binding, RATE_LIMITED};
use crate::decide::recommendation::{Basis, Recommendation, TargetKind};
use crate::model::provider::ProviderCeiling;
use crate::model::usl::Fit;

/// What the recommendation is derived from.
#[derive(Clone, Copy)]
pub struct Inputs<'a> {
    /// Which vocabulary the recommendation uses.
    pub target: TargetKind,
    /// A concurrency limit inside the service inferred from the curves (no permit count
    /// measured), when the evidence showed one.
    pub inferred_limit: Option<u32>,
    /// Closed-loop steps, by concurrency.
    pub steps: &'a [StepRow],
    /// Each step's per-name rows, parallel to `steps` (empty: one name), for objectives on a
    /// request name.
    pub named: &'a [Vec<StepRow>],
    /// Mean goodput per concurrency, sorted.
    pub curve: &'a [(f64, f64)],
    /// The knee, if any.
    pub knee: Option<u32>,
    /// The provider ceiling, if a tier was given or reported.
    pub provider: Option<&'a ProviderCeiling>,
    /// `--slo` objectives.
    pub objectives: &'a [Objective],
    /// The USL fit, if any.
    pub fit: Option<&'a Fit>,
    /// The permit ceiling of the server that was measured (`analyze_capacity`), if known.
    pub server_permits: Option<u32>,
    /// The live concurrency limit at the end of the run (`analyze_concurrency_limit`).
    pub live_limit: Option<u32>,
    /// What binds each step, in the order of `steps`.
    pub bindings: &'a [Binding],
    /// The largest tested load at which this and every lower step meet every objective.
    pub max_meeting_objectives: Option<u32>,
    /// The server's adaptive floor (`MIN_CONCURRENT_ANALYSES`).
    pub adaptive_floor: u32,
    /// The mean think time of the run's users, s, when they think: its user counts are not
    /// concurrent requests, which the reasoning says first.
    pub think_s: Option<f64>,
    /// The request name the rows are of, in a run of several names.
    pub primary: Option<&'a str>,
    /// Users of the steps left out because the per-client rate limit bound them.
    pub rate_limited_users: &'a [u32],
}

/// The queue timeout keeps this share of the latency bound as a margin: with the queue full a
/// served request's latency is the timeout plus its service time.
pub const MARGIN_SHARE: f64 = 0.1;

/// The latency objectives with an upper bound, each with its figure.
fn latency_objectives(objectives: &[Objective]) -> Vec<(LatencyFigure, &Objective)> {
    objectives
        .iter()
        .filter_map(|o| match (o.metric, o.op) {
            (Metric::Latency(f), Op::Lt | Op::Le) => Some((f, o)),
            _ => None,
        })
        .collect()
}

/// The step the service time is read from: closed loop, no more users than `cap` (the permits,
/// so nothing queued), at most 1% shed, and the most requests served, the tightest estimate and
/// the nearest to N. Without a cap, the lowest step with a 2xx. With varied requests a light
/// step of a few long analyses says little: a 1-user step of 10 s serves two or three.
pub fn service_step(steps: &[StepRow], cap: Option<u32>) -> Option<&StepRow> {
    let Some(cap) = cap else {
        return steps.iter().find(|r| r.ok > 0);
    };
    steps
        .iter()
        .filter(|r| r.target_rps.is_none() && r.ok > 1 && r.mean_ms > 0.0)
        .filter(|r| r.concurrency.is_some_and(|c| c <= cap))
        .filter(|r| crate::measure::steps::shed_fraction(r) <= crate::measure::steps::SHED_LIMIT)
        .max_by_key(|r| (r.ok, r.concurrency))
        .or_else(|| steps.iter().find(|r| r.ok > 0))
}

/// The service time the extrapolation divides by.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Service {
    /// Mean, ms.
    mean_ms: f64,
    /// 95% interval of that mean (normal approximation from the step's standard deviation and
    /// its 2xx count), ms.
    ci: [f64; 2],
    /// Users of the step it was measured at.
    users: u32,
}

/// The mean of [`service_step`] and its interval.
fn service_time(steps: &[StepRow], cap: Option<u32>) -> Option<Service> {
    let r = service_step(steps, cap)?;
    let half = 1.96 * r.stdev_ms / (r.ok as f64).sqrt();
    Some(Service {
        mean_ms: r.mean_ms,
        ci: [(r.mean_ms - half).max(1e-3), r.mean_ms + half],
        users: r.concurrency.unwrap_or(0),
    })
}

fn figure_name(f: LatencyFigure) -> &'static str {
    match f {
        LatencyFigure::P50 => "p50",
        LatencyFigure::P90 => "p90",
        LatencyFigure::P95 => "p95",
        LatencyFigure::P99 => "p99",
        LatencyFigure::P999 => "p99.9",
        LatencyFigure::Max => "max",
        LatencyFigure::Mean => "mean",
    }
}

/// Goodput at concurrency `n`: measured when a step ran at `n`, else the USL when reliable,
/// else interpolated between the neighbouring steps. Returns the value and how it was obtained.
fn goodput_at(n: f64, curve: &[(f64, f64)], fit: Option<&Fit>) -> (f64, String) {
    if let Some(&(_, g)) = curve.iter().find(|p| p.0 == n) {
        return (g, format!("measured at {n} users"));
    }
    if let Some(f) = fit.filter(|f| f.unreliable.is_none()) {
        return (f.params.throughput(n), "the USL fit".into());
    }
    let below = curve.iter().rev().find(|p| p.0 < n);
    let above = curve.iter().find(|p| p.0 > n);
    match (below, above) {
        (Some(a), Some(b)) => (
            a.1 + (b.1 - a.1) * (n - a.0) / (b.0 - a.0),
            format!("interpolated between {} and {} users", a.0, b.0),
        ),
        (Some(a), None) => (a.1, format!("the top step ({} users)", a.0)),
        (None, Some(b)) => (b.1 * n / b.0, format!("scaled from {} users", b.0)),
        (None, None) => (0.0, "no data".into()),
    }
}

/// Derives the settings, and the whole of the reasoning: why these rows (the preface in
/// `i`), why N, the queue's timeout and depth, and what goodput to expect.
pub fn recommend(i: &Inputs) -> Recommendation {
    let mut why = preface(i);
    let top = i.curve.last().map_or(1.0, |p| p.0) as u32;
    // The lowest load the run tested (a ramp may start above 1).
    let low = i.curve.first().map_or(1.0, |p| p.0) as u32;
    let service = service_time(i.steps, i.server_permits).unwrap_or(Service {
        mean_ms: 0.0,
        ci: [0.0, 0.0],
        users: 0,
    });
    let service_ms = service.mean_ms;
    let tier = i.provider.and_then(|p| p.max_concurrency.map(|n| (n, p)));
    if let Some(p) = i.provider.filter(|p| p.inputs.replicas > 1) {
        why.push(format!(
            "The tier is shared by {r} replicas: each plans with 1/{r} of every budget (set the \
             server's PROVIDER_SHARE=1/{r}), and N below is per replica.",
            r = p.inputs.replicas
        ));
    }
    let sizing = size(i, tier, top, low, &mut why);
    let n = cap_by_objectives(i, &sizing, &mut why);
    if tier.is_none()
        && sizing.binding != Binding::ServerPermits
        && i.target == TargetKind::AnalyzeServer
    {
        why.push(
            "No provider budget known (none reported, no --provider-* flag): N is not checked \
             against the model provider's rate limits."
                .into(),
        );
    }
    let q = queue(i, n, service_ms, &mut why);
    let (predicted, ci) = expected_goodput(i, n, sizing.basis, service, &mut why);
    let analyze_server = i.target == TargetKind::AnalyzeServer;
    Recommendation {
        max_concurrent_analyses: n,
        max_queue_depth: q.depth,
        queue_timeout_ms: q.timeout_ms,
        predicted_goodput_rps: predicted,
        predicted_goodput_ci: ci,
        predicted_p99_ms: q.p99_at_n_ms,
        binding: sizing.binding,
        basis: sizing.basis,
        tested_range: format!(
            "{low}–{} concurrent {}",
            i.server_permits.map_or(top, |p| p.min(top)),
            if analyze_server {
                "analyses"
            } else {
                "requests"
            }
        ),
        target: i.target,
        latency_objective_ms: q.objective_ms,
        verify: verify(i, n, &q, predicted),
        reasoning: why.join(" "),
    }
}

/// The sentences that say why the recommendation reads these rows, before its own reasoning:
/// users who think, the served request of a mix, steps the rate limiter bound.
fn preface(i: &Inputs) -> Vec<String> {
    let mut why = Vec::new();
    if let Some(think_s) = i.think_s {
        // Users who think are not concurrent requests: the permit arithmetic below reads each
        // step's users as requests in flight, which a think-time run's are not.
        why.push(format!(
            "This run's users think ({think_s:.1} s on average), so its user counts are not \
             concurrent analyses and the settings below are computed as if they were: use them \
             only as a starting point, and read \"How many users\" for this run's answer."
        ));
    }
    if let Some(p) = i.primary {
        why.push(format!(
            "Computed on `{p}`'s rows, the request with the largest demand (requests × light-load \
             latency), taken as the one the {}.",
            if i.target == TargetKind::AnalyzeServer {
                "permits serve; the other names are not analyses"
            } else {
                "concurrency limit serves; the other names are lighter requests"
            }
        ));
    }
    if !i.rate_limited_users.is_empty() {
        let users: Vec<String> = i.rate_limited_users.iter().map(u32::to_string).collect();
        why.push(format!(
            "The steps at {} users are left out: the per-client rate limit bound them (more \
             than {:.0}% of requests answered 429), so they measured the limiter.",
            users.join(", "),
            RATE_LIMITED * 100.0
        ));
    }
    why
}

/// N before the objectives cap it, what binds, and whether N was measured.
struct Sizing {
    n: u32,
    binding: Binding,
    basis: Basis,
}

/// N from what binds: the provider (where the adaptive limit settled), the server's own permits
/// (up to the tightest provider budget), else the curves (an inferred limit, or the knee), never
/// above the tier.
fn size(
    i: &Inputs,
    tier: Option<(u32, &ProviderCeiling)>,
    top: u32,
    low: u32,
    why: &mut Vec<String>,
) -> Sizing {
    let binds = |b: Binding| i.bindings.contains(&b);
    match (i.server_permits, binds(Binding::ProviderTier)) {
        (_, true) => {
            let n = i.live_limit.or(i.knee).unwrap_or(top).max(1);
            why.push(format!(
                "The provider pushed back (upstream 429/529) and the adaptive limit settled at \
                 {n}: the provider tier binds, so N = {n}; more permits would only queue for it."
            ));
            Sizing {
                n,
                binding: Binding::ProviderTier,
                basis: Basis::Measured,
            }
        }
        (Some(p), false) if binds(Binding::ServerPermits) => permits_bind(p, tier, low, why),
        _ => from_curves(i, tier, top, why),
    }
}

/// The server's own `p` permits bind and the provider never pushed back: N goes to the tightest
/// provider budget, past the tested range if need be (extrapolated).
fn permits_bind(
    p: u32,
    tier: Option<(u32, &ProviderCeiling)>,
    low: u32,
    why: &mut Vec<String>,
) -> Sizing {
    let Some((t, ceiling)) = tier else {
        why.push(format!(
            "The server's own {p} permits bind and the provider never pushed back, \
             but no provider budget is known (none reported in /metrics, no \
             --provider-rpm/--provider-itpm/--provider-otpm): N stays at the tested \
             {p}; ramp a server with more permits, or give the tier, to go past it."
        ));
        return Sizing {
            n: p,
            binding: Binding::ServerPermits,
            basis: Basis::Measured,
        };
    };
    let n = t.max(1);
    why.push(format!(
        "The server's own {p} permits bind (past {p} requests in flight, \
         goodput held while requests queue) and the provider never pushed back, \
         so the limit at {p} is the server's setting, not the system's. The \
         tightest provider budget ({}) allows {t} concurrent analyses {} \
         with {:.2} model calls, {:.0} input and {:.0} output tokens per call ({}), so \
         N = {n}{}.",
        ceiling.binding.unwrap_or("?"),
        crate::model::headroom::phrase(ceiling),
        ceiling.inputs.calls_per_request,
        ceiling.inputs.avg_input_tokens,
        ceiling.inputs.avg_output_tokens,
        sources(ceiling),
        if n > p {
            format!(", past the tested range ({low}–{p} analyses at once): extrapolated")
        } else {
            String::new()
        }
    ));
    Sizing {
        n,
        binding: Binding::ServerPermits,
        basis: if n > p {
            Basis::Extrapolated
        } else {
            Basis::Measured
        },
    }
}

/// N from the curves: a limit inferred inside the service, else the knee, else the top step;
/// then no more than the provider tier allows.
fn from_curves(
    i: &Inputs,
    tier: Option<(u32, &ProviderCeiling)>,
    top: u32,
    why: &mut Vec<String>,
) -> Sizing {
    let binding = i
        .bindings
        .iter()
        .rev()
        .copied()
        .find(|&b| b != Binding::None)
        .unwrap_or(Binding::None);
    let mut n = match (
        i.inferred_limit
            .filter(|_| binding == Binding::ConcurrencyLimit),
        i.knee,
    ) {
        (Some(c), _) => {
            why.push(format!(
                "The service holds about {c} requests at work (inferred from the curves: \
                 the best goodput × the light-load service time, and past {c} users the \
                 excess queues or is shed), so a limit of {c} in front of it serves as \
                 much and lets a queue in front of it, not inside it, decide who waits."
            ));
            c
        }
        (None, Some(k)) => {
            why.push(format!(
                "Goodput stops growing by {:.0}% or more past {k} concurrent users (the \
                 knee), so {} than {k} would add latency, not throughput.",
                crate::measure::knee::FLAT_GROWTH * 100.0,
                if i.target == TargetKind::AnalyzeServer {
                    "more permits"
                } else {
                    "a concurrency limit higher"
                }
            ));
            k
        }
        (None, None) => {
            why.push(format!(
                "Goodput still grew at the top step ({top} users): there is no knee in \
                 this run, so N is capped at the highest concurrency measured; ramp \
                 further to find it."
            ));
            top
        }
    }
    .max(1);
    if let Some((t, c)) = tier.filter(|&(t, _)| t < n) {
        why.push(format!(
            "The provider tier allows only {t} concurrent analyses {} ({} binds), \
             so N = {t}.",
            crate::model::headroom::phrase(c),
            c.binding.unwrap_or("?")
        ));
        n = t.max(1);
    }
    Sizing {
        n,
        binding,
        basis: Basis::Measured,
    }
}

/// Past the knee, the measured objectives cap N (they were measured at those loads).
fn cap_by_objectives(i: &Inputs, s: &Sizing, why: &mut Vec<String>) -> u32 {
    let n = s.n;
    if s.basis != Basis::Measured {
        return n;
    }
    match i
        .max_meeting_objectives
        .filter(|&m| m < n && i.knee.is_some())
    {
        Some(m) => {
            why.push(format!(
                "Every objective held only up to {m} users, so N = {m} rather than {n}."
            ));
            m.max(1)
        }
        None => n,
    }
}

/// The queue in front of N: how long a request may wait and how many may wait.
struct QueueSettings {
    timeout_ms: u64,
    depth: u32,
    /// The latency bound the wait is cut from, ms.
    objective_ms: f64,
    /// The p99 measured at N (or the nearest step below), ms.
    p99_at_n_ms: f64,
}

/// The queue timeout from the objective with the least slack at N, minus a margin; the depth
/// from the timeout.
fn queue(i: &Inputs, n: u32, service_ms: f64, why: &mut Vec<String>) -> QueueSettings {
    // Latency at N: the step at N, or the nearest below (N users on N permits do not queue).
    let at_n_index = i
        .steps
        .iter()
        .rposition(|r| {
            r.ok > 0
                && r.concurrency
                    .is_some_and(|c| c <= n && i.server_permits.is_none_or(|p| c <= p))
        })
        .or_else(|| i.steps.iter().position(|r| r.ok > 0));
    let at_n = at_n_index.map(|k| &i.steps[k]);
    let named_at_n: &[StepRow] = at_n_index
        .and_then(|k| i.named.get(k))
        .map_or(&[], Vec::as_slice);
    let service_at_n = at_n.map_or(service_ms, |r| r.mean_ms);
    let predicted_p99_ms = at_n.map_or(0.0, |r| r.p99_ms);
    // With the queue full every served request waits about the whole timeout, so its latency
    // is the timeout plus its service time, and the objective's figure of it is the timeout
    // plus that figure at N: the slack is already per figure. The margin, a tenth of the
    // bound, covers the figure's sampling noise, server overhead and a busier machine. (A
    // margin of p99 − p50 on top counted the spread twice: with varied requests it left no
    // room to queue under any objective.)
    let (objective_ms, slack_ms, source) = latency_bound(i, at_n, named_at_n);
    let margin_ms = MARGIN_SHARE * objective_ms;
    let wait_ms = (slack_ms - margin_ms).max(0.0);
    // The server rejects QUEUE_TIMEOUT_MS=0; 1 ms is "do not wait".
    let queue_timeout_ms = (wait_ms.round() as u64).max(1);
    let max_queue_depth = if service_at_n > 0.0 {
        (f64::from(n) * wait_ms / service_at_n).floor() as u32
    } else {
        0
    };
    let analyze_server = i.target == TargetKind::AnalyzeServer;
    let may_wait = match (queue_timeout_ms > wait_ms.round() as u64, analyze_server) {
        (true, true) => format!(
            "a request may not wait (QUEUE_TIMEOUT_MS={queue_timeout_ms}, the smallest the \
             server takes, means no wait)"
        ),
        (true, false) => "a request may not wait (shed at once)".to_string(),
        (false, true) => format!("a request may wait {queue_timeout_ms} ms (QUEUE_TIMEOUT_MS)"),
        (false, false) => format!("a request may wait {queue_timeout_ms} ms in the queue"),
    };
    let depth_name = if analyze_server {
        "MAX_QUEUE_DEPTH"
    } else {
        "the queue's depth"
    };
    why.push(format!(
        "The latency bound is {objective_ms:.0} ms ({source}), leaving {slack_ms:.0} ms; minus a \
         margin of {margin_ms:.0} ms (a tenth of the bound: a request that waited the whole \
         timeout still meets it, with room for noise) {may_wait}, and N × wait / service time ({service_at_n:.0} ms) = \
         {max_queue_depth} requests can queue ({depth_name})."
    ));
    if wait_ms == 0.0 {
        why.push(
            "The objective leaves no room for queueing at N: shed at once instead of queueing, \
             or lower N."
                .into(),
        );
    }
    let floor = i.adaptive_floor.clamp(1, n);
    if analyze_server && max_queue_depth > 0 && service_at_n > 0.0 && floor < n {
        let drain_s = f64::from(max_queue_depth) * service_at_n / 1000.0 / f64::from(floor);
        why.push(format!(
            "If the adaptive limit falls to its floor of {floor} permit{}, a full queue of \
             {max_queue_depth} would take {drain_s:.1} s to drain: past the timeout, so the \
             queue then sheds (503 with Retry-After) rather than serving late.",
            if floor == 1 { "" } else { "s" }
        ));
    }
    QueueSettings {
        timeout_ms: queue_timeout_ms,
        depth: max_queue_depth,
        objective_ms,
        p99_at_n_ms: predicted_p99_ms,
    }
}

/// The latency bound the queue's wait is cut from, the slack left under it at N, and where it
/// comes from: the objective with the least slack at N (a named one measured on its request's
/// row there), else twice the p99 at N.
fn latency_bound(i: &Inputs, at_n: Option<&StepRow>, named_at_n: &[StepRow]) -> (f64, f64, String) {
    let predicted_p99_ms = at_n.map_or(0.0, |r| r.p99_ms);
    let latency = latency_objectives(i.objectives);
    let tightest = latency
        .iter()
        .map(|(f, o)| {
            // A named objective is measured on its request's row at N.
            let at = at_n
                .and_then(|r| crate::measure::steps::row_for(o, r, named_at_n))
                .map_or(0.0, |r| f.of(r));
            (*f, o.threshold, at, o.threshold - at, o.text.clone())
        })
        .min_by(|a, b| a.3.total_cmp(&b.3));
    match &tightest {
        Some((f, bound, at, slack, text)) => (
            *bound,
            slack.max(0.0),
            format!(
                "{text}, the objective with the least slack at N ({} {at:.0} ms there)",
                figure_name(*f)
            ),
        ),
        None => {
            let p99 = predicted_p99_ms;
            (
                2.0 * p99,
                p99,
                format!(
                    "no latency objective given (--slo p99<…), so twice the p99 at N ({p99:.0} ms)"
                ),
            )
        }
    }
}

/// The goodput expected at N, with its interval when extrapolated.
fn expected_goodput(
    i: &Inputs,
    n: u32,
    basis: Basis,
    service: Service,
    why: &mut Vec<String>,
) -> (f64, Option<[f64; 2]>) {
    let Service {
        mean_ms: service_ms,
        ci: service_ci,
        users: service_users,
    } = service;
    let (predicted, ci, how) = if basis == Basis::Extrapolated && service_ms > 0.0 {
        let nf = f64::from(n);
        (
            nf * 1000.0 / service_ms,
            Some([nf * 1000.0 / service_ci[1], nf * 1000.0 / service_ci[0]]),
            format!(
                "N / S with S = {service_ms:.0} ms, the service time measured at \
                 {service_users} users with nothing queued (95% interval {:.0}–{:.0} ms); \
                 extrapolated past the tested range",
                service_ci[0], service_ci[1]
            ),
        )
    } else {
        let (g, how) = goodput_at(f64::from(n), i.curve, i.fit);
        (g, None, how)
    };
    why.push(format!(
        "With {n} requests in flight against {} the expected goodput is {predicted:.2}/s ({how}).",
        if i.target == TargetKind::AnalyzeServer {
            format!("N = {n} permits")
        } else {
            format!("a concurrency limit of {n}")
        }
    ));
    (predicted, ci)
}

/// How to check the recommendation: a command that can fail.
fn verify(i: &Inputs, n: u32, q: &QueueSettings, predicted: f64) -> String {
    let slo_flags: String = i
        .objectives
        .iter()
        .map(|o| format!(" --slo '{}'", o.text))
        .collect();
    let (max_queue_depth, queue_timeout_ms) = (q.depth, q.timeout_ms);
    if i.target == TargetKind::AnalyzeServer {
        format!(
            "MAX_CONCURRENT_ANALYSES={n} MAX_QUEUE_DEPTH={max_queue_depth} \
             QUEUE_TIMEOUT_MS={queue_timeout_ms} analyze-server, then `loadgen run -c {n} -d 20s \
             --warmup 5s{slo_flags}` (the recommended load) and `loadgen run -c {} -d 20s --warmup \
             5s` (the queue full); `make plan` does both, offers Poisson arrivals at the \
             open-loop rate and 1.3× it, and `loadgen verify plan` fails when a prediction is \
             more than {:.0}% off or an objective fails",
            n + max_queue_depth,
            crate::verify::TOLERANCE * 100.0
        )
    } else {
        format!(
            "with a concurrency limit of {n} in front of the service (a gateway's max \
             connections, a worker-pool size), a queue of {max_queue_depth} and a wait of \
             {queue_timeout_ms} ms, re-run loadgen: `loadgen run -c {n} -d 20s --warmup \
             5s{slo_flags}` (the recommended load: goodput within {:.0}% of {predicted:.2}/s, \
             every objective held) and `loadgen run -c {} -d 20s --warmup 5s` (the queue full: \
             the excess shed, not served late); `loadgen verify plan` checks both",
            crate::verify::TOLERANCE * 100.0,
            n + max_queue_depth
        )
    }
}

/// "calls measured, input tokens flag, …" for the sentence that uses them.
fn sources(c: &ProviderCeiling) -> String {
    c.inputs
        .sources
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::binding::{classify, Context, StepEvidence};
    use crate::input::fixture::row;
    use crate::model::provider::{ceiling, ProviderInputs};

    #[test]
    fn service_time_is_read_on_the_queue_free_step_that_served_most() {
        // Varied analyses: a 1-user step of 10 s served 2 long ones (5.1 s), the 10-user step
        // 25 (4.0 s); 15 users ran past the 10 permits (queued, 6 s).
        let steps = [
            row(1, 1, 0.2, 5100.0),
            row(2, 10, 2.5, 4000.0),
            row(3, 15, 2.5, 6000.0),
        ];
        assert_eq!(service_step(&steps, Some(10)).unwrap().step, 2);
        let s = service_time(&steps, Some(10)).unwrap();
        assert_eq!((s.mean_ms, s.users), (4000.0, 10));
        assert!(s.ci[0] < 4000.0 && s.ci[1] > 4000.0);
        // A cap below every multi-request step, or none known: the lowest step, as before.
        assert_eq!(service_step(&steps, None).unwrap().step, 1);
        assert_eq!(service_step(&steps, Some(5)).unwrap().step, 1);
    }

    /// `permits` permits, 1 s service: 1/s per user up to `permits`, then flat, queueing.
    fn saturating(permits: u32) -> Vec<StepRow> {
        [1u32, 2, 5, 10, 20, 30]
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                let g = f64::from(c.min(permits));
                let mut r = row(
                    i + 1,
                    c,
                    g,
                    1000.0 * (f64::from(c) / f64::from(permits)).max(1.0),
                );
                r.p99_ms = r.mean_ms * 1.5;
                r.stdev_ms = 100.0;
                r
            })
            .collect()
    }

    struct Case {
        steps: Vec<StepRow>,
        permits: Option<u32>,
        live_limit: Option<u32>,
        pushed_back: bool,
        tier: Option<ProviderCeiling>,
        objectives: Vec<Objective>,
        meeting: Option<u32>,
        knee: Option<u32>,
    }

    impl Case {
        fn new(steps: Vec<StepRow>) -> Self {
            Case {
                steps,
                permits: None,
                live_limit: None,
                pushed_back: false,
                tier: None,
                objectives: Vec::new(),
                meeting: None,
                knee: None,
            }
        }

        fn run(&self) -> Recommendation {
            let curve = crate::measure::steps::goodput_curve(&self.steps);
            let cx = Context {
                permits: self.permits,
                permits_measured: true,
                live_limit: self.live_limit,
                pushed_back: self.pushed_back,
                service_ms: self.steps[0].mean_ms,
                goodput_at_permits: self.permits.map_or(0.0, |p| {
                    crate::measure::steps::goodput_within(&self.steps, p)
                }),
            };
            let bindings: Vec<Binding> = self
                .steps
                .iter()
                .map(|r| classify(r, &cx, &StepEvidence::default()).0)
                .collect();
            recommend(&Inputs {
                target: TargetKind::AnalyzeServer,
                inferred_limit: None,
                steps: &self.steps,
                named: &[],
                curve: &curve,
                knee: self
                    .knee
                    .or_else(|| crate::measure::knee::knee(&curve).map(|k| k as u32)),
                provider: self.tier.as_ref(),
                objectives: &self.objectives,
                fit: None,
                server_permits: self.permits,
                live_limit: self.live_limit,
                bindings: &bindings,
                max_meeting_objectives: self.meeting,
                adaptive_floor: 2,
                think_s: None,
                primary: None,
                rate_limited_users: &[],
            })
        }
    }

    /// A tier whose input budget allows `n` permits of 1 s analyses (2 calls, 1000 input tokens).
    fn input_tier(n: u32) -> ProviderCeiling {
        // Per permit: 120 calls and 120k input tokens a minute; 0.8 × itpm / 120k = n.
        ceiling(
            &ProviderInputs {
                rpm: Some(100_000.0),
                itpm: Some(f64::from(n) * 120_000.0 / 0.8 + 1.0),
                otpm: None,
                avg_input_tokens: 1000.0,
                avg_output_tokens: 50.0,
                calls_per_request: 2.0,
                replicas: 1,
                sources: Default::default(),
            },
            1.0,
        )
    }

    #[test]
    fn when_the_servers_own_permits_bind_n_goes_past_them_to_the_tier() {
        let mut c = Case::new(saturating(10));
        c.permits = Some(10);
        c.live_limit = Some(10);
        c.tier = Some(input_tier(16));
        let r = c.run();
        assert_eq!(r.max_concurrent_analyses, 16, "{}", r.reasoning);
        assert_eq!(r.binding, Binding::ServerPermits);
        assert_eq!(r.basis, Basis::Extrapolated);
        // N / S = 16 / 1 s, with the service time's interval around it.
        assert!((r.predicted_goodput_rps - 16.0).abs() < 1e-9);
        let ci = r.predicted_goodput_ci.expect("an interval");
        assert!(ci[0] < 16.0 && 16.0 < ci[1], "{ci:?}");
        assert!(r.reasoning.contains("input tokens"), "{}", r.reasoning);
        assert!(
            r.verify.contains("MAX_CONCURRENT_ANALYSES=16"),
            "{}",
            r.verify
        );
    }

    #[test]
    fn when_the_provider_pushed_back_at_14_n_is_at_most_14() {
        let mut c = Case::new(saturating(14));
        c.permits = Some(40);
        c.live_limit = Some(14);
        c.pushed_back = true;
        c.tier = Some(input_tier(30));
        let r = c.run();
        assert!(r.max_concurrent_analyses <= 14, "{}", r.reasoning);
        assert_eq!(r.binding, Binding::ProviderTier);
        assert_eq!(r.basis, Basis::Measured);
    }

    #[test]
    fn a_legacy_run_is_capped_by_the_largest_load_meeting_the_objectives() {
        // No permits: the knee is at 20 (goodput flat past 20), objectives hold only to 10.
        let mut c = Case::new(saturating(20));
        c.objectives = vec![Objective::parse("p99<2s").unwrap()];
        c.meeting = Some(10);
        let r = c.run();
        assert!(r.max_concurrent_analyses <= 10, "{}", r.reasoning);
    }

    #[test]
    fn the_timeout_comes_from_the_objective_with_the_least_slack_minus_a_margin() {
        // p50 1440 ms, p99 2900 ms at N: p50<3s leaves 1560 ms, p99<4s leaves 1100 ms.
        let mut steps = saturating(10);
        for r in &mut steps {
            r.p50_ms = 1440.0 * r.mean_ms / 1000.0;
            r.p99_ms = 2900.0 * r.mean_ms / 1000.0;
        }
        let mut c = Case::new(steps);
        c.permits = Some(10);
        c.objectives = vec![
            Objective::parse("p50<3s").unwrap(),
            Objective::parse("p99<4s").unwrap(),
        ];
        let r = c.run();
        assert_eq!(r.max_concurrent_analyses, 10);
        // 1100 ms of slack minus a tenth of the bound, 400 ms: 700 ms to wait.
        assert!(
            r.reasoning
                .contains("p99<4s, the objective with the least slack"),
            "{}",
            r.reasoning
        );
        assert_eq!(r.queue_timeout_ms, 700);
        // A p99 bound at the measured p99 leaves no room to queue at all.
        c.objectives[1] = Objective::parse("p99<2950ms").unwrap();
        let r = c.run();
        assert_eq!(r.queue_timeout_ms, 1);
        assert_eq!(r.max_queue_depth, 0);
        assert!(
            r.reasoning.contains("leaves no room for queueing"),
            "{}",
            r.reasoning
        );
        // A looser p99 leaves the p50 the least slack: 3000 − 1440 = 1560, minus 300 ms.
        c.objectives[1] = Objective::parse("p99<5s").unwrap();
        let r = c.run();
        assert!(
            r.reasoning
                .contains("p50<3s, the objective with the least slack"),
            "{}",
            r.reasoning
        );
        assert_eq!(r.queue_timeout_ms, 1260);
    }
}
