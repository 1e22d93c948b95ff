//! From step rows to findings: the USL fit, knee, objectives, Little's law, queueing view,
//! provider ceiling and recommendation, gathered into one [`Analysis`].

use crate::input::row::StepRow;
use crate::input::slo::Objective;

use crate::decide::binding::StepBinding;
use crate::decide::binding::{self, Binding};
use crate::decide::recommend;
use crate::document::analysed::Analysis;
use crate::document::summary::{Summary, SCHEMA_VERSION};
use crate::input::run::RunInput;
use crate::measure::knee;
use crate::measure::littles;
use crate::measure::steps::{
    goodput_curve, goodput_within, holds_at, last_holding, shed_fraction, SHED_LIMIT,
};
use crate::model::limit::inferred_limit;
use crate::model::provider::{self, ProviderFlags};
use crate::model::queueing;
use crate::model::scaling::usl_summary;

/// What the report is computed from, besides the rows.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `--slo` objectives.
    pub objectives: Vec<Objective>,
    /// The provider tier and traffic shape given as flags (the server's snapshot fills the rest).
    pub provider: ProviderFlags,
    /// The server's adaptive floor (`MIN_CONCURRENT_ANALYSES`).
    pub adaptive_floor: u32,
}

/// The recommendation from the steps that measured the service, or why there is none: steps
/// the per-client rate limit bound measured the limiter and are left out, and without a
/// served request left there is nothing to size.
fn recommend_from(
    i: &recommend::Inputs,
    primary: Option<&str>,
) -> (
    Option<crate::decide::recommendation::Recommendation>,
    Option<String>,
) {
    let keep: Vec<usize> = (0..i.steps.len())
        .filter(|&k| i.bindings.get(k) != Some(&Binding::RateLimit))
        .collect();
    let limited: Vec<&StepRow> = (0..i.steps.len())
        .filter(|k| !keep.contains(k))
        .map(|k| &i.steps[k])
        .collect();
    let steps: Vec<StepRow> = keep.iter().map(|&k| i.steps[k].clone()).collect();
    if !steps.iter().any(|r| r.ok > 0) {
        let why = if let Some(worst) = limited.iter().max_by(|a, b| {
            let share = |r: &StepRow| r.rejected_429 as f64 / r.requests.max(1) as f64;
            share(a).total_cmp(&share(b))
        }) {
            format!(
                "No recommendation: the per-client rate limit bound every step that served \
                 (more than {:.0}% of requests answered 429; {:.0}% at {} users), so the run \
                 measured the limiter, not the service's capacity. Re-run with the limit lifted \
                 for the generator (analyze-server: RATE_LIMIT_PER_MINUTE=0) or from as many \
                 client addresses as production has.",
                binding::RATE_LIMITED * 100.0,
                worst.rejected_429 as f64 / worst.requests.max(1) as f64 * 100.0,
                worst.concurrency.unwrap_or(0)
            )
        } else {
            let errors: u64 = i.steps.iter().map(|r| r.requests).sum();
            format!(
                "No recommendation: no step served a request ({errors} requests, none answered \
                 2xx), so there is no service time, goodput or latency to size from. Fix what \
                 the target answers first (loadgen's table breaks the errors down by status)."
            )
        };
        return (None, Some(why));
    }
    let named: Vec<Vec<StepRow>> = keep
        .iter()
        .map(|&k| i.named.get(k).cloned().unwrap_or_default())
        .collect();
    let bindings: Vec<Binding> = keep.iter().map(|&k| i.bindings[k]).collect();
    let curve = goodput_curve(&steps);
    let mut rec = recommend::recommend(&recommend::Inputs {
        steps: &steps,
        named: &named,
        curve: &curve,
        knee: if limited.is_empty() {
            i.knee
        } else {
            knee::knee(&curve).map(|c| c as u32)
        },
        bindings: &bindings,
        ..*i
    });
    if !limited.is_empty() {
        let users: Vec<String> = limited
            .iter()
            .map(|r| r.concurrency.unwrap_or(0).to_string())
            .collect();
        rec.reasoning = format!(
            "The steps at {} users are left out: the per-client rate limit bound them (more \
             than {:.0}% of requests answered 429), so they measured the limiter. {}",
            users.join(", "),
            binding::RATE_LIMITED * 100.0,
            rec.reasoning
        );
    }
    if let Some(p) = primary {
        rec.reasoning = format!(
            "Computed on `{p}`'s rows, the request with the largest demand (requests × light-load \
             latency), taken as the one the {}. {}",
            if i.target == crate::decide::recommendation::TargetKind::AnalyzeServer {
                "permits serve; the other names are not analyses"
            } else {
                "concurrency limit serves; the other names are lighter requests"
            },
            rec.reasoning
        );
    }
    (Some(rec), None)
}

/// Computes every finding.
pub fn analyze(input: &RunInput, settings: &Settings) -> Analysis {
    // The concurrency analysis reads closed-loop steps (users); an open-loop step's
    // `concurrency` is its in-flight cap, not users, so open-loop rows are only counted when the
    // run has no closed-loop row (and then nothing is sized from them: see `open_loop_only`).
    let open_loop_only = input
        .rows
        .iter()
        .filter(|r| !r.interrupted)
        .all(|r| r.target_rps.is_some());
    let mut order: Vec<usize> = (0..input.rows.len())
        .filter(|&k| {
            let r = &input.rows[k];
            !r.interrupted && r.concurrency.is_some() && r.target_rps.is_none()
        })
        .collect();
    order.sort_by_key(|&k| (input.rows[k].concurrency, input.rows[k].step));
    let steps: Vec<StepRow> = order.iter().map(|&k| input.rows[k].clone()).collect();
    // Each step's per-name rows, parallel to `steps`.
    let named: Vec<Vec<StepRow>> = order
        .iter()
        .map(|&k| input.named.get(k).cloned().unwrap_or_default())
        .collect();
    let counted = input
        .rows
        .iter()
        .filter(|r| !r.interrupted && (open_loop_only || r.target_rps.is_none()));
    let max_throughput_rps = counted
        .clone()
        .map(|r| r.throughput_rps)
        .fold(0.0, f64::max);
    // The first step (in file order) reaching the maximum: ties go to the lower load.
    let best = counted.fold(None::<&StepRow>, |best, r| match best {
        Some(b) if b.goodput_rps >= r.goodput_rps => Some(b),
        _ => Some(r),
    });
    let max_goodput_rps = best.map_or(0.0, |r| r.goodput_rps);
    let curve = goodput_curve(&steps);
    let knee_concurrency = knee::knee(&curve).map(|c| c as u32);
    let objectives = &settings.objectives;
    let max_concurrency_meeting_slo =
        last_holding(&steps, &named, objectives).and_then(|r| r.concurrency);
    let (usl, fit) = usl_summary(&steps, input.server_capacity);
    let littles_law = littles::check(&steps);
    let service_ms = steps.iter().find(|r| r.ok > 0).map_or(0.0, |r| r.mean_ms);
    let latency_points: Vec<(f64, f64)> = steps
        .iter()
        .filter(|r| r.ok > 0 && shed_fraction(r) <= SHED_LIMIT)
        .map(|r| (f64::from(r.concurrency.unwrap_or(0)), r.mean_ms))
        .collect();
    // The limit the steps meet: the server's own permits (measured), else a concurrency limit
    // inferred from the curves, when the latency past the knee grows as a FIFO queue in front of
    // about c workers would (slope S/c).
    let inferred = match input.server_capacity {
        None => inferred_limit(&steps, service_ms),
        Some(_) => None,
    };
    let (permits, source) = match (input.server_capacity, inferred, knee_concurrency) {
        (Some(n), _, _) => (
            Some(n),
            "analyze_capacity in the /metrics snapshot".to_string(),
        ),
        (None, Some(c), _) => (
            Some(c),
            format!(
                "inferred: the best goodput × the light-load service time keeps about {c} \
                 requests at work, and past {c} users the excess queues or is shed"
            ),
        ),
        (None, None, Some(k)) => (
            Some(k),
            "the knee (no /metrics snapshot beside the run; the latency past it does not match \
             a queue)"
                .to_string(),
        ),
        _ => (None, String::new()),
    };
    let queueing = permits.and_then(|n| queueing::view(&latency_points, n, &source, service_ms));
    // Calls and tokens per analysis from the run's totals (input.rs picks the evidence), when
    // the run served (almost) every request: per-step windows alias with the analyses' phases
    // (2.24 calls per 2-call analysis at N=4). A run that failed many analyses (legacy mode
    // under overload) counts in its totals the calls of analyses that then failed (5.1 calls
    // per served 2-call analysis): there the steps that served ≥ 99% are read instead, with
    // --scrape, window by window.
    let (ok, attempts) = input
        .rows
        .iter()
        .filter(|r| !r.interrupted)
        .fold((0, 0), |(o, a), r| (o + r.ok, a + r.requests + r.unsent));
    let served_all = attempts > 0 && ok as f64 >= 0.99 * attempts as f64;
    let light = steps
        .iter()
        .filter(|_| !served_all)
        .filter(|r| r.success_rate >= 0.99)
        .filter_map(|r| input.scraped.get(&r.step))
        .filter(|sc| sc.analyses_ok.is_some() && sc.model_calls_ok.is_some())
        .fold(None::<crate::input::run::ScrapedStep>, |acc, sc| {
            let add = |a: Option<f64>, b: Option<f64>| match (a, b) {
                (Some(a), Some(b)) => Some(a + b),
                _ => None,
            };
            Some(match acc {
                None => *sc,
                Some(a) => crate::input::run::ScrapedStep {
                    analyses_ok: add(a.analyses_ok, sc.analyses_ok),
                    model_calls_ok: add(a.model_calls_ok, sc.model_calls_ok),
                    input_tokens: add(a.input_tokens, sc.input_tokens),
                    output_tokens: add(a.output_tokens, sc.output_tokens),
                    ..a
                },
            })
        })
        .filter(|sc| sc.analyses_ok.is_some_and(|a| a > 0.0));
    let snapshot = input.server.clone().map(|mut snap| {
        if let (Some(sc), true) = (light, snap.model_calls_ok > 0.0) {
            let calls = sc.model_calls_ok.unwrap_or(snap.model_calls_ok);
            // Tokens per call do not depend on the load: the steps' own when scraped, else the
            // run's per call, carried over to the steps' calls.
            let per_call = calls / snap.model_calls_ok;
            snap.input_tokens = sc.input_tokens.or(snap.input_tokens.map(|t| t * per_call));
            snap.output_tokens = sc
                .output_tokens
                .or(snap.output_tokens.map(|t| t * per_call));
            snap.analyses_ok = sc.analyses_ok.unwrap_or(snap.analyses_ok);
            snap.model_calls_ok = calls;
        }
        snap
    });
    let inputs = provider::resolve(&settings.provider, snapshot.as_ref());
    // In a run of several request names the recommendation (permits for one route) is computed
    // on the rows of the request with the largest demand, the one the permits serve: its service
    // time, goodput and latency, not the mix's (a 1 ms health check is not an analysis).
    let names = crate::model::names::views(&steps, &named, objectives, input.server_capacity);
    let primary = crate::model::names::primary_name(&steps, &named);
    let rec_steps: Vec<StepRow> = match &primary {
        Some(p) => steps
            .iter()
            .zip(&named)
            .map(|(t, by_name)| by_name.iter().find(|r| &r.name == p).unwrap_or(t).clone())
            .collect(),
        None => steps.clone(),
    };
    let rec_curve = goodput_curve(&rec_steps);
    let rec_fit = match &primary {
        Some(p) => names
            .iter()
            .find(|v| &v.summary.name == p)
            .and_then(|v| v.fit.as_ref()),
        None => fit.as_ref(),
    };
    let rec_service_ms = rec_steps
        .iter()
        .find(|r| r.ok > 0)
        .map_or(0.0, |r| r.mean_ms);
    let spread = input
        .server
        .as_ref()
        .and_then(|s| crate::measure::spread::Spread::of(&s.histograms));
    let provider = (inputs.rpm.is_some() || inputs.itpm.is_some() || inputs.otpm.is_some())
        .then(|| provider::ceiling(&inputs, rec_service_ms / 1000.0))
        .map(|c| crate::model::headroom::apply(c, spread.as_ref()));
    let live_limit = input
        .server
        .as_ref()
        .and_then(|s| s.limit)
        .filter(|&l| l >= 1.0)
        .map(|l| l.round() as u32);
    // In a mix, what binds is judged on the served request the permits serve (its own latency
    // and goodput), with the step's own counters (late and unsent sends, Little's law, 429s):
    // a mix's mean moves with its proportions, not with a queue.
    let judged: Vec<StepRow> = steps
        .iter()
        .zip(&rec_steps)
        .map(|(t, p)| {
            let mut r = t.clone();
            (r.ok, r.mean_ms, r.goodput_rps) = (p.ok, p.mean_ms, p.goodput_rps);
            r
        })
        .collect();
    let cx = binding::Context {
        permits: input.server_capacity.or(inferred),
        permits_measured: input.server_capacity.is_some(),
        live_limit,
        pushed_back: input.server.as_ref().is_some_and(|s| s.pushbacks > 0.0),
        service_ms: rec_service_ms,
        // An inferred limit is X·S for the best goodput X: no step is above it.
        goodput_at_permits: match (input.server_capacity, inferred) {
            (Some(p), _) => goodput_within(&judged, p),
            (None, Some(_)) => judged.iter().map(|r| r.goodput_rps).fold(0.0, f64::max),
            _ => 0.0,
        },
    };
    // With --scrape, each step's own push-back and limit replace the run-wide snapshot's.
    let cores = input
        .config
        .as_ref()
        .and_then(|c| c.get("target_cores")?.as_f64())
        .filter(|&c| c > 0.0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64));
    let light_upstream = judged
        .iter()
        .find_map(|r| input.scraped.get(&r.step)?.upstream_mean_s)
        .filter(|&u| u > 0.0);
    let evidence = |r: &StepRow| {
        let sc = input.scraped.get(&r.step);
        binding::StepEvidence {
            cpu_share: sc
                .and_then(|sc| sc.cpu_s)
                .filter(|_| r.duration_s > 0.0)
                .map(|cpu| cpu / r.duration_s / cores),
            upstream_growth: sc
                .and_then(|sc| sc.upstream_mean_s)
                .zip(light_upstream)
                .map(|(u, light)| u / light),
            cpu_per_request_ms: sc
                .and_then(|sc| sc.cpu_s)
                .filter(|_| r.requests > 0)
                .map(|cpu| cpu * 1000.0 / r.requests as f64),
        }
    };
    let classified: Vec<(Binding, binding::Source)> = judged
        .iter()
        .map(|r| {
            let mut c = cx;
            if let Some(sc) = input.scraped.get(&r.step) {
                if let Some(p) = sc.pushbacks {
                    c.pushed_back = p > 0.0;
                }
                if let Some(l) = sc.limit_mean.filter(|&l| l >= 1.0) {
                    c.live_limit = Some(l.round() as u32);
                }
            }
            binding::classify(r, &c, &evidence(r))
        })
        .collect();
    let bindings: Vec<Binding> = classified.iter().map(|b| b.0).collect();
    // analyze-server is recognised from its own `analyze_capacity` in /metrics; any other
    // target gets a recommendation in neutral terms.
    let target = if input.server.as_ref().is_some_and(|s| s.capacity.is_some()) {
        crate::decide::recommendation::TargetKind::AnalyzeServer
    } else {
        crate::decide::recommendation::TargetKind::Service
    };
    let (recommended, recommendation_withheld) = recommend_from(
        &recommend::Inputs {
            target,
            inferred_limit: inferred,
            steps: &rec_steps,
            named: &named,
            curve: &rec_curve,
            knee: knee::knee(&rec_curve).map(|c| c as u32),
            provider: provider.as_ref(),
            objectives,
            fit: rec_fit,
            server_permits: input.server_capacity,
            live_limit,
            bindings: &bindings,
            max_meeting_objectives: max_concurrency_meeting_slo,
            adaptive_floor: settings.adaptive_floor,
        },
        primary.as_deref(),
    );
    let (recommended, recommendation_withheld) = if open_loop_only {
        let rates: Vec<String> = input
            .rows
            .iter()
            .filter_map(|r| r.target_rps)
            .map(|r| format!("{r}/s"))
            .collect();
        (
            None,
            Some(format!(
                "No recommendation: every step of this run is open loop (--rate: {}), and the \
                 capacity report sizes concurrency (knee, fit, N) from closed-loop steps, where a \
                 step's users are its concurrency; an open-loop step's in-flight cap is not. \
                 Ramp users (`loadgen ramp --steps …`) for the sizing; this run's measured rates \
                 are in the Steps table.",
                rates.join(", ")
            )),
        )
    } else {
        (recommended, recommendation_withheld)
    };
    let mut summary = Summary {
        version: SCHEMA_VERSION,
        inputs: input.csvs.iter().map(|p| p.display().to_string()).collect(),
        steps: input.rows.len(),
        tested_concurrency: steps
            .iter()
            .filter_map(|r| r.concurrency)
            .max()
            .unwrap_or(0),
        max_throughput_rps,
        max_goodput_rps,
        max_goodput_concurrency: best
            .filter(|r| r.target_rps.is_none())
            .and_then(|r| r.concurrency),
        knee_concurrency,
        max_concurrency_meeting_slo,
        objectives: objectives.iter().map(|o| o.text.clone()).collect(),
        usl,
        littles_law,
        binding: steps
            .iter()
            .zip(&classified)
            .map(|(r, &(b, source))| StepBinding {
                step: r.step,
                concurrency: r.concurrency.unwrap_or(0),
                binding: b,
                source,
                limit: matches!(b, Binding::ServerPermits | Binding::ConcurrencyLimit)
                    .then_some(cx.permits)
                    .flatten(),
            })
            .collect(),
        queueing,
        provider,
        recommended,
        target,
        recommendation_withheld,
        configurations: Vec::new(),
        names: Vec::new(),
        users: crate::model::users::answer(
            &steps,
            &named,
            objectives,
            input.server_capacity,
            max_concurrency_meeting_slo,
        ),
        findings: Vec::new(),
        spread,
        open_loop: None,
    };
    summary.open_loop = summary.recommended.as_ref().and_then(|rec| {
        crate::decide::open_rate::answer(
            rec,
            &rec_steps,
            &input.rows,
            input.server_capacity,
            objectives,
            summary.provider.as_ref().and_then(|p| p.headroom.as_ref()),
        )
    });
    if let (Some(u), Some(rec)) = (&summary.users, summary.recommended.as_mut()) {
        // Users who think are not concurrent requests: the permit arithmetic above reads each
        // step's users as requests in flight, which a think-time run's are not.
        rec.reasoning = format!(
            "This run's users think ({:.1} s on average), so its user counts are not concurrent \
             analyses and the settings below are computed as if they were: use them only as a \
             starting point, and read \"How many users\" for this run's answer. {}",
            u.think_s, rec.reasoning
        );
    }
    summary.names = names.iter().map(|v| v.summary.clone()).collect();
    summary.findings = crate::document::findings::headline(&summary);
    if open_loop_only && !objectives.is_empty() {
        // Open loop: the objectives per offered rate, measured on the rate steps themselves.
        let mut rates: Vec<&StepRow> = input.rows.iter().filter(|r| !r.interrupted).collect();
        rates.sort_by(|a, b| {
            a.target_rps
                .unwrap_or(0.0)
                .total_cmp(&b.target_rps.unwrap_or(0.0))
        });
        let named_of = |r: &StepRow| {
            input
                .rows
                .iter()
                .position(|x| std::ptr::eq(x, r))
                .and_then(|k| input.named.get(k))
                .map_or(&[][..], Vec::as_slice)
        };
        let held = rates
            .iter()
            .take_while(|r| objectives.iter().all(|o| holds_at(o, r, named_of(r))))
            .last()
            .and_then(|r| r.target_rps);
        let list = summary.objectives.join(", ");
        summary.findings.insert(
            1.min(summary.findings.len()),
            match held {
                Some(r) => format!(
                    "Open loop: every objective ({list}) holds up to {r}/s offered (measured)."
                ),
                None => format!("Open loop: the objectives ({list}) fail from the lowest rate."),
            },
        );
    }
    Analysis {
        summary,
        fit,
        steps,
        named,
        names,
        service_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::fixture::row;
    use crate::model::provider::ProviderFlags;

    fn input(rows: Vec<StepRow>) -> RunInput {
        RunInput {
            csvs: vec!["t.csv".into()],
            rows,
            named: Vec::new(),
            config: None,
            seconds: Vec::new(),
            server_capacity: None,
            server: None,
            scraped: Default::default(),
            notes: Vec::new(),
        }
    }

    fn settings() -> Settings {
        Settings {
            objectives: vec![Objective::parse("p99<2s").unwrap()],
            provider: ProviderFlags {
                replicas: 1,
                ..ProviderFlags::default()
            },
            adaptive_floor: 2,
        }
    }

    /// Goodput of a hard cap: 0.7/s per user up to 10 users, then flat at 7/s.
    fn capped_rows() -> Vec<StepRow> {
        [1u32, 2, 5, 10, 20, 30, 40, 50]
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                let n = f64::from(c);
                row(i + 1, c, (0.7 * n).min(7.0), 1430.0 * (n / 10.0).max(1.0))
            })
            .collect()
    }

    #[test]
    fn an_objective_on_a_name_is_measured_on_that_names_rows() {
        // The total's p99 (mostly fast health checks) stays under 2 s at 20 users while
        // analyze's own p99 reaches 3 s there.
        let mut i = input(Vec::new());
        for (k, users) in [5u32, 10, 20].into_iter().enumerate() {
            let analyze_ms = 1000.0 * (f64::from(users) / 10.0).max(1.0);
            let mut total = row(k + 1, users, f64::from(users), 200.0);
            total.p99_ms = 0.6 * analyze_ms;
            let mut analyze = row(k + 1, users, 1.0, analyze_ms);
            analyze.name = "analyze".into();
            let mut health = row(k + 1, users, 4.0, 1.0);
            health.name = "health".into();
            i.rows.push(total);
            i.named.push(vec![health, analyze]);
        }
        let mut s = settings();
        s.objectives = vec![Objective::parse("analyze:p99<2s").unwrap()];
        let a = analyze(&i, &s);
        assert_eq!(a.summary.max_concurrency_meeting_slo, Some(10));
        // Unqualified, the same bound is read on the total and holds throughout.
        s.objectives = vec![Objective::parse("p99<2s").unwrap()];
        assert_eq!(
            analyze(&i, &s).summary.max_concurrency_meeting_slo,
            Some(20)
        );
        assert_eq!(a.summary.names.len(), 2);
    }

    #[test]
    fn a_hard_cap_gives_no_retrograde_region_and_no_peak() {
        let a = analyze(&input(capped_rows()), &settings());
        let u = &a.summary.usl;
        assert!(!u.retrograde, "{u:?}");
        assert_eq!((u.peak_concurrency, u.peak_throughput_rps), (None, None));
        assert!(u.sigma.unwrap() >= 0.0 && u.kappa.unwrap() >= 0.0, "{u:?}");
        assert!(
            a.summary
                .findings
                .iter()
                .any(|f| f.contains("no retrograde region observed")),
            "{:?}",
            a.summary.findings
        );
    }

    #[test]
    fn steps_past_the_servers_own_permits_stay_out_of_the_fit() {
        let mut i = input(capped_rows());
        i.server_capacity = Some(10);
        let a = analyze(&i, &settings());
        let u = &a.summary.usl;
        assert_eq!(u.points, 4, "{u:?}");
        assert_eq!(u.excluded.len(), 4, "{u:?}");
        assert!(u.excluded[0].contains("own 10 permits bind"), "{u:?}");
        assert!(!u.reliable && u.peak_concurrency.is_none(), "{u:?}");
    }

    #[test]
    fn a_measured_decline_with_kappa_above_zero_is_a_retrograde_region() {
        let truth = crate::model::usl::Params {
            sigma: 0.02,
            kappa: 0.002,
            lambda: 1.0,
        };
        let rows: Vec<StepRow> = [1u32, 2, 5, 10, 20, 30, 40, 60]
            .iter()
            .enumerate()
            .map(|(i, &c)| row(i + 1, c, truth.throughput(f64::from(c)), 1000.0))
            .collect();
        let a = analyze(&input(rows), &settings());
        let u = &a.summary.usl;
        assert!(u.retrograde, "{u:?}");
        let peak = u.peak_concurrency.unwrap();
        assert!((peak - (0.98f64 / 0.002).sqrt()).abs() < 0.5, "{u:?}");
    }

    #[test]
    fn interrupted_and_shedding_steps_stay_out_of_the_fit() {
        let mut rows: Vec<StepRow> = [1u32, 2, 4, 8, 16, 32]
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                row(
                    i + 1,
                    c,
                    f64::from(c.min(8)),
                    1000.0 * (f64::from(c) / 8.0).max(1.0),
                )
            })
            .collect();
        let mut cut = row(7, 64, 500.0, 10.0);
        cut.interrupted = true;
        rows.push(cut);
        rows[5].rejected_503 = rows[5].requests; // 32 users: half of the answers are 503
        rows[5].requests *= 2;
        let a = analyze(&input(rows), &settings());
        assert_eq!(a.summary.usl.points, 5);
        assert_eq!(
            a.summary.usl.excluded,
            vec!["step 6 at 32 users (50% shed)".to_string()]
        );
        assert_eq!(a.summary.max_goodput_rps, 8.0);
        assert_eq!(a.summary.knee_concurrency, Some(8));
        // p99 = 1.5 × mean: 1500 ms up to 8 users, 3000 ms at 16.
        assert_eq!(a.summary.max_concurrency_meeting_slo, Some(8));
        assert_eq!(a.steps.len(), 6);
    }

    /// Steps answered mostly 429 by the target's per-client rate limit.
    fn limited(mut r: StepRow, share: f64) -> StepRow {
        r.rejected_429 = (r.requests as f64 * share).round() as u64;
        r.ok = r.requests - r.rejected_429;
        r.success_rate = r.ok as f64 / r.requests as f64;
        r.goodput_rps = r.ok as f64 / r.duration_s;
        r
    }

    #[test]
    fn steps_the_rate_limiter_bound_are_named_and_recommend_nothing() {
        let mut rows = capped_rows();
        rows.truncate(4);
        rows[3] = limited(rows[3].clone(), 0.99);
        let a = analyze(&input(rows.clone()), &settings());
        let b: Vec<Binding> = a.summary.binding.iter().map(|b| b.binding).collect();
        assert_eq!(b[3], Binding::RateLimit);
        assert!(
            a.summary
                .findings
                .iter()
                .any(|f| f.starts_with("What binds: per-client rate limit from 10 users")),
            "{:?}",
            a.summary.findings
        );
        let rec = a
            .summary
            .recommended
            .expect("the other steps still measured the service");
        assert!(
            rec.max_concurrent_analyses <= 5,
            "{}",
            rec.max_concurrent_analyses
        );
        assert!(
            rec.reasoning.contains("The steps at 10 users are left out"),
            "{}",
            rec.reasoning
        );
        // Every step bound by the limiter: nothing to recommend, and why.
        let all: Vec<StepRow> = rows.into_iter().map(|r| limited(r, 0.99)).collect();
        let a = analyze(&input(all), &settings());
        assert!(a.summary.recommended.is_none());
        let why = a.summary.recommendation_withheld.unwrap();
        assert!(
            why.contains("per-client rate limit bound every step"),
            "{why}"
        );
        assert!(a.summary.findings.iter().any(|f| f == &why));
    }

    #[test]
    fn a_run_that_served_nothing_gets_no_recommendation() {
        let rows: Vec<StepRow> = capped_rows()
            .into_iter()
            .map(|mut r| {
                (r.other_5xx, r.ok, r.success_rate, r.goodput_rps) = (r.requests, 0, 0.0, 0.0);
                r
            })
            .collect();
        let a = analyze(&input(rows), &settings());
        assert!(a.summary.recommended.is_none());
        assert!(a
            .summary
            .recommendation_withheld
            .unwrap()
            .contains("no step served a request"));
    }

    #[test]
    fn a_mix_is_bound_by_its_served_request_not_by_its_mean() {
        // analyze's own latency stays 1.45 s while more analyses in the mix raise the mean:
        // no queue, so nothing binds (before, "upstream latency" from the mix's mean).
        let mut i = input(Vec::new());
        for (k, users) in [1u32, 2, 4].into_iter().enumerate() {
            let share = [0.05, 0.15, 0.15][k];
            let mut total = row(k + 1, users, 10.0 * f64::from(users), 0.0);
            total.mean_ms = 1450.0 * share + 1.0 * (1.0 - share);
            let mut analyze = row(k + 1, users, f64::from(users) * 0.6, 1450.0);
            analyze.name = "analyze".into();
            let mut health = row(k + 1, users, f64::from(users) * 9.4, 1.0);
            health.name = "health".into();
            i.rows.push(total);
            i.named.push(vec![health, analyze]);
        }
        let a = analyze(&i, &settings());
        assert!(
            a.summary.binding.iter().all(|b| b.binding == Binding::None),
            "{:?}",
            a.summary.binding
        );
    }

    #[test]
    fn the_tested_range_starts_where_the_ramp_started() {
        let rows: Vec<StepRow> = capped_rows().into_iter().skip(1).collect();
        let rec = analyze(&input(rows), &settings())
            .summary
            .recommended
            .unwrap();
        assert!(rec.tested_range.starts_with("2–"), "{}", rec.tested_range);
    }

    #[test]
    fn a_limit_inside_the_service_is_inferred_from_a_queue_or_from_shedding() {
        // A FIFO queue in front of 4 workers of 700 ms: flat goodput 5.7/s past 4 users, mean
        // latency S·C/4.
        let queue: Vec<StepRow> = [1u32, 2, 4, 8, 12]
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                let n = f64::from(c);
                row(i + 1, c, n.min(4.0) / 0.7, 700.0 * (n / 4.0).max(1.0))
            })
            .collect();
        assert_eq!(crate::model::limit::inferred_limit(&queue, 700.0), Some(4));
        // The same limit shedding the excess with 503 at constant served latency.
        let shed: Vec<StepRow> = queue
            .iter()
            .map(|r| {
                let mut r = r.clone();
                r.mean_ms = 700.0;
                if r.concurrency.unwrap() > 4 {
                    r.rejected_503 = r.requests * 50;
                    r.requests += r.rejected_503;
                }
                r
            })
            .collect();
        assert_eq!(crate::model::limit::inferred_limit(&shed, 700.0), Some(4));
        // Latency that grows faster than any queue of X·S workers would: not a limit.
        let slow: Vec<StepRow> = queue
            .iter()
            .map(|r| {
                let mut r = r.clone();
                r.mean_ms *= 3.0;
                r
            })
            .collect();
        assert_eq!(crate::model::limit::inferred_limit(&slow, 700.0), None);
        // Without target metrics, the binding is that inferred limit, and the recommendation
        // speaks of a concurrency limit, not analyze-server's permits.
        let a = analyze(&input(queue), &settings());
        let b = &a.summary.binding;
        assert_eq!(
            (b[3].binding, b[3].source),
            (Binding::ConcurrencyLimit, binding::Source::Inferred)
        );
        let rec = a.summary.recommended.unwrap();
        assert_eq!(
            rec.target,
            crate::decide::recommendation::TargetKind::Service
        );
        assert_eq!(rec.max_concurrent_analyses, 4);
        let json = serde_json::to_string(&rec).unwrap();
        assert!(json.contains("\"concurrency_limit\":4"), "{json}");
        for word in [
            "MAX_CONCURRENT",
            "analyze-server",
            "permit",
            "adaptive",
            "provider",
        ] {
            assert!(
                !rec.reasoning.contains(word) && !rec.verify.contains(word),
                "{word}: {rec:?}"
            );
        }
    }
}
