//! The pipeline from a run's files to what the writers need: measures of the rows, the models
//! fitted to them, the decisions made from those, and the summary and findings that state them.
//! Each stage lives in its layer; this module only runs them in order.

use crate::decide::binding::{Binding, Source};
use crate::decide::classify;
use crate::decide::decision::decide;
use crate::decide::open_rate;
use crate::decide::open_rate::OpenLoopAnswer;
use crate::decide::recommend::Inputs;
use crate::decide::recommendation::{Recommendation, TargetKind};
use crate::decide::served::{served, Served};
use crate::document::analysed::Analysis;
use crate::document::findings;
use crate::document::summary::{Summary, SCHEMA_VERSION};
use crate::input::run::RunInput;
use crate::input::slo::Objective;
use crate::measure::run::{
    closed_loop, light_service_ms, open_loop_held, open_loop_only, peaks, ClosedLoop,
};
use crate::measure::steps::{goodput_curve, last_holding};
use crate::measure::{knee, littles};
use crate::model::names::NameView;
use crate::model::provider::{ProviderCeiling, ProviderFlags};
use crate::model::scaling::UslSummary;
use crate::model::users::UsersAnswer;
use crate::model::usl::Fit;
use crate::model::{limit, names, scaling, tier, users};

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

/// Computes every finding: measures and models, the decisions made from them, then the summary
/// and findings that state them.
pub fn analyze(input: &RunInput, settings: &Settings) -> Analysis {
    let objectives = &settings.objectives;
    let m = model(input, settings);
    let d = decisions(input, settings, &m);
    let (steps, run_peaks) = (&m.run.steps, peaks(input, m.open_loop_only));
    let mut summary = Summary {
        version: SCHEMA_VERSION,
        inputs: input.csvs.iter().map(|p| p.display().to_string()).collect(),
        steps: input.rows.len(),
        tested_concurrency: steps
            .iter()
            .filter_map(|r| r.concurrency)
            .max()
            .unwrap_or(0),
        max_throughput_rps: run_peaks.max_throughput_rps,
        max_goodput_rps: run_peaks.max_goodput_rps,
        max_goodput_concurrency: run_peaks.max_goodput_concurrency,
        knee_concurrency: m.knee,
        max_concurrency_meeting_slo: m.meeting,
        objectives: objectives.iter().map(|o| o.text.clone()).collect(),
        usl: m.usl,
        littles_law: littles::check(steps),
        binding: classify::step_bindings(steps, &d.classified, d.permits),
        queueing: limit::queueing_view(steps, &m.limit, m.service_ms),
        provider: m.provider,
        recommendation_withheld: d.recommendation.as_ref().err().cloned(),
        recommended: d.recommendation.ok(),
        target: d.target,
        configurations: Vec::new(),
        names: m.names.iter().map(|v| v.summary.clone()).collect(),
        users: m.users,
        findings: Vec::new(),
        spread: tier::spread(input),
        open_loop: d.open_loop,
    };
    let held =
        (m.open_loop_only && !objectives.is_empty()).then(|| open_loop_held(input, objectives));
    summary.findings = findings::headline(&summary, held);
    Analysis {
        summary,
        fit: m.fit,
        steps: m.run.steps,
        named: m.run.named,
        names: m.names,
        service_ms: m.service_ms,
    }
}

/// The measures of the run and the models fitted to them.
struct Modelled {
    open_loop_only: bool,
    run: ClosedLoop,
    knee: Option<u32>,
    meeting: Option<u32>,
    service_ms: f64,
    usl: UslSummary,
    fit: Option<Fit>,
    limit: limit::Permits,
    names: Vec<NameView>,
    users: Option<UsersAnswer>,
    served: Served,
    provider: Option<ProviderCeiling>,
}

/// Measures, then models. The concurrency analysis reads closed-loop steps (users); open-loop
/// rows count only in a run without closed-loop ones, and nothing is sized from them.
fn model(input: &RunInput, settings: &Settings) -> Modelled {
    let objectives = &settings.objectives;
    let run = closed_loop(input);
    let (steps, named) = (&run.steps, &run.named);
    let knee = knee::knee(&goodput_curve(steps)).map(|c| c as u32);
    let meeting = last_holding(steps, named, objectives).and_then(|r| r.concurrency);
    let service_ms = light_service_ms(steps);
    let permits = input.server_capacity;
    let (usl, fit) = scaling::usl_summary(steps, permits);
    // The recommendation is computed on the rows of the request the permits serve.
    let served = served(steps, named);
    let provider = tier::ceiling(input, steps, &settings.provider, served.service_ms);
    Modelled {
        open_loop_only: open_loop_only(input),
        knee,
        meeting,
        service_ms,
        usl,
        fit,
        limit: limit::permits(permits, steps, service_ms, knee),
        names: names::views(steps, named, objectives, permits),
        users: users::answer(steps, named, objectives, permits, meeting),
        served,
        provider,
        run,
    }
}

/// What was decided: each step's binding, the recommendation (or why none) and the open-loop
/// rate it takes.
struct Decided {
    classified: Vec<(Binding, Source)>,
    permits: Option<u32>,
    target: TargetKind,
    recommendation: Result<Recommendation, String>,
    open_loop: Option<OpenLoopAnswer>,
}

/// The decisions, in order: what binds each step, then the recommendation from those bindings.
fn decisions(input: &RunInput, settings: &Settings, m: &Modelled) -> Decided {
    let served = &m.served;
    let cx = classify::context(input, m.limit.inferred, served.service_ms, &served.judged);
    let classified = classify::classify(input, &served.judged, &cx);
    let bindings: Vec<Binding> = classified.iter().map(|b| b.0).collect();
    let target = TargetKind::of(input.server.as_ref());
    let rates: Vec<f64> = input.rows.iter().filter_map(|r| r.target_rps).collect();
    let i = Inputs {
        target,
        inferred_limit: m.limit.inferred,
        steps: &served.steps,
        named: &m.run.named,
        curve: &served.curve,
        knee: knee::knee(&served.curve).map(|c| c as u32),
        provider: m.provider.as_ref(),
        objectives: &settings.objectives,
        fit: served.fit(&m.names, m.fit.as_ref()),
        server_permits: input.server_capacity,
        live_limit: classify::live_limit(input),
        bindings: &bindings,
        max_meeting_objectives: m.meeting,
        adaptive_floor: settings.adaptive_floor,
        think_s: m.users.as_ref().map(|u| u.think_s),
        primary: served.primary.as_deref(),
        rate_limited_users: &[],
    };
    let recommendation = decide(&i, m.open_loop_only, &rates);
    let headroom = m.provider.as_ref().and_then(|p| p.headroom.as_ref());
    let open_loop = recommendation.as_ref().ok().and_then(|rec| {
        let (rows, permits) = (&input.rows, input.server_capacity);
        open_rate::answer(rec, &served.steps, rows, permits, i.objectives, headroom)
    });
    Decided {
        classified,
        permits: cx.permits,
        target,
        recommendation,
        open_loop,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::binding::{self, Binding};
    use crate::input::fixture::row;
    use crate::input::row::StepRow;

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
