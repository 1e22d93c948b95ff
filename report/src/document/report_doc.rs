//! The capacity report's content: configuration, findings, charts, step table, the model and the
//! recommendation, as one [`Doc`] rendered to both Markdown and HTML.

use crate::decide::binding::Binding;
use crate::document::analysed::Analysis;
use crate::document::charts;
use crate::document::doc_model::{Block, Doc};
use crate::input::run::RunInput;
use crate::measure::steps::shed_fraction;

fn ci(c: Option<[f64; 2]>, digits: usize) -> String {
    c.map_or("n/a".into(), |[a, b]| {
        format!("[{a:.digits$}, {b:.digits$}]")
    })
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.digits$}"))
}

fn config_lines(config: &serde_json::Value) -> Vec<String> {
    let keys = [
        "command",
        "url",
        "steps",
        "step_duration_s",
        "warmup_s",
        "timeout_s",
        "seed",
        "think_time",
        "close_between",
        "slo",
        "slo_until",
        "loadgen_version",
    ];
    keys.iter()
        .filter_map(|k| {
            config
                .get(*k)
                .filter(|v| !v.is_null())
                .map(|v| format!("{k}: {v}"))
        })
        .collect()
}

/// The provider tier in one paragraph: every budget known, the binding one first, each with the
/// N it allows and where its inputs came from.
fn provider_tier_text(p: &crate::model::provider::ProviderCeiling) -> String {
    let i = &p.inputs;
    let src = |k: &str| i.sources.get(k).copied().unwrap_or("assumed");
    let budgets = [
        (
            "requests",
            i.rpm
                .map(|v| format!("{v:.0} requests/min ({})", src("rpm"))),
            p.rpm_concurrency,
        ),
        (
            "input tokens",
            i.itpm.map(|v| {
                format!(
                    "{v:.0} input tokens/min ({}) at {:.0} per call ({})",
                    src("itpm"),
                    i.avg_input_tokens,
                    src("avg_input_tokens")
                )
            }),
            p.itpm_concurrency,
        ),
        (
            "output tokens",
            i.otpm.map(|v| {
                format!(
                    "{v:.0} output tokens/min ({}) at {:.1} per call ({})",
                    src("otpm"),
                    i.avg_output_tokens,
                    src("avg_output_tokens")
                )
            }),
            p.otpm_concurrency,
        ),
    ];
    let mut known: Vec<(&str, String, u32)> = budgets
        .into_iter()
        .filter_map(|(name, text, n)| Some((name, text?, n?)))
        .collect();
    // The binding budget first, then the others from the tightest.
    known.sort_by_key(|(name, _, n)| (Some(*name) != p.binding, *n));
    let list: Vec<String> = known
        .iter()
        .map(|(name, text, n)| {
            let binds = if Some(*name) == p.binding {
                ", binds"
            } else {
                ""
            };
            format!("{text} → N ≤ {n}{binds}")
        })
        .collect();
    format!(
        "Provider tier: {}. Each at {:.0}% of the budget, with {:.2} model calls per analysis ({}) \
         and a service time of {:.2} s (measured at light load).",
        list.join("; "),
        crate::model::provider::HEADROOM * 100.0,
        i.calls_per_request,
        src("calls_per_request"),
        p.service_time_s
    )
}

/// What a binding means, for the legend of the "What binds" table (thresholds from their
/// constants).
fn binding_meaning(b: Binding) -> String {
    use crate::decide::binding::{CPU_BUSY, LATENCY_GROWTH, RATE_LIMITED};
    let growth = (LATENCY_GROWTH - 1.0) * 100.0;
    match b {
        Binding::ServerPermits => "more requests in flight than the server's measured permits, \
                                   goodput held, no provider push-back"
            .into(),
        Binding::ConcurrencyLimit => "the best goodput × the light-load service time keeps about \
                                      that many requests at work, and the excess queues or is shed"
            .into(),
        Binding::ProviderTier => "push-back and a live limit below the ceiling".into(),
        Binding::TargetCpu => format!(
            "the target's measured CPU at {:.0}% of its cores or more",
            CPU_BUSY * 100.0
        ),
        Binding::UpstreamLatency => format!(
            "latency {growth:.0}% above the light-load service time without a queue, and the \
             target's measured upstream time grown as much"
        ),
        Binding::Unknown => {
            format!("latency {growth:.0}% above the light-load service time, no measured cause")
        }
        Binding::RateLimit => format!(
            "more than {:.0}% of requests answered 429",
            RATE_LIMITED * 100.0
        ),
        Binding::Generator => "users not kept busy: Little's law short on a step long enough to \
                               judge it, or open-loop sends late"
            .into(),
        Binding::None => "goodput still grows with the users".into(),
    }
}

/// Builds the document and its charts.
pub fn build(input: &RunInput, a: &Analysis) -> Result<Doc, String> {
    let s = &a.summary;
    let mut d = Doc::new("Capacity report");
    d.push(Block::Para(format!(
        "Generated by `loadgen report` from {}.",
        s.inputs.join(", ")
    )));
    d.push(Block::Heading(2, "Findings".into()));
    d.push(Block::List(s.findings.clone()));

    d.push(Block::Heading(2, "Recommendation".into()));
    match (&s.recommended, &s.recommendation_withheld) {
        (Some(r), _) => {
            d.push(Block::Code(match r.target {
                crate::decide::recommendation::TargetKind::AnalyzeServer => format!(
                    "MAX_CONCURRENT_ANALYSES={}\nMAX_QUEUE_DEPTH={}\nQUEUE_TIMEOUT_MS={}",
                    r.max_concurrent_analyses, r.max_queue_depth, r.queue_timeout_ms
                ),
                crate::decide::recommendation::TargetKind::Service => format!(
                    "concurrency limit: {}\nqueue depth: {}\nqueue wait: {} ms",
                    r.max_concurrent_analyses, r.max_queue_depth, r.queue_timeout_ms
                ),
            }));
            d.push(Block::Para(r.reasoning.clone()));
        }
        (None, why) => {
            d.push(Block::Para(
                why.clone().unwrap_or_else(|| "No recommendation.".into()),
            ));
        }
    }

    if !s.configurations.is_empty() {
        d.push(Block::Heading(2, "Configurations".into()));
        d.push(Block::Para(
            "The CSVs were measured at different server settings, so they are kept apart rather \
             than pooled into one curve; every figure is measured on that configuration's own \
             steps except the recommended N (its own analysis: measured or extrapolated). The \
             rest of this report is the first configuration's."
                .into(),
        ));
        d.push(Block::Table(
            [
                "settings",
                "CSVs",
                "max goodput/s (at users)",
                "knee",
                "meets objectives up to",
                "binds at the top step",
                "recommended N",
            ]
            .iter()
            .map(|h| h.to_string())
            .collect(),
            s.configurations
                .iter()
                .map(|c| {
                    vec![
                        c.settings.clone(),
                        c.inputs.join(", "),
                        format!(
                            "{:.2}{}",
                            c.max_goodput_rps,
                            c.max_goodput_concurrency
                                .map_or(String::new(), |n| format!(" ({n})"))
                        ),
                        c.knee_concurrency
                            .map_or("no knee".into(), |k| k.to_string()),
                        c.max_concurrency_meeting_slo
                            .map_or("—".into(), |k| k.to_string()),
                        c.binding_at_top
                            .map_or("—".into(), |b| b.label().to_string()),
                        match (c.recommended_n, c.basis) {
                            (Some(n), Some(b)) => format!("{n} ({b:?})").to_lowercase(),
                            _ => "none (withheld)".into(),
                        },
                    ]
                })
                .collect(),
        ));
    }
    if let Some(u) = &s.users {
        users_section(&mut d, u);
    }

    d.push(Block::Heading(2, "Charts".into()));
    let charts_list = [
        (
            "throughput.svg",
            "Throughput and goodput vs concurrency, what binds each step as a band, USL fit with 95% band, Little's-law bound",
            // An unreliable fit is reported in the table, not drawn as if it were the curve.
            charts::throughput(
                &a.steps,
                a.fit.as_ref().filter(|f| f.unreliable.is_none()),
                a.service_ms,
                a.summary.recommended.as_ref().map(|r| {
                    (
                        f64::from(r.max_concurrent_analyses),
                        r.predicted_goodput_rps,
                        r.predicted_goodput_ci,
                    )
                }),
                &a.summary
                    .binding
                    .iter()
                    .map(|b| (f64::from(b.concurrency), b.binding))
                    .collect::<Vec<_>>(),
            )?,
        ),
        (
            "latency.svg",
            "p50, p90, p99 of served requests vs concurrency",
            charts::latency(&a.steps)?,
        ),
        (
            "outcomes.svg",
            "Success, 429 and 503 rates vs concurrency",
            charts::outcomes(&a.steps)?,
        ),
    ];
    for (file, title, svg) in charts_list {
        d.push(Block::Chart {
            file: file.into(),
            title: title.into(),
            svg,
        });
    }
    if !input.seconds.is_empty() {
        // At least one service time (and 3 s) per point of the moving average.
        let window = ((a.service_ms / 1000.0).ceil() as usize).max(3);
        let (lat, rps) = charts::timeseries(&input.seconds, window)?;
        d.push(Block::Chart {
            file: "timeseries-latency.svg".into(),
            title: "Latency over time, step boundaries marked".into(),
            svg: lat,
        });
        d.push(Block::Chart {
            file: "timeseries-rps.svg".into(),
            title: "Throughput and goodput over time, step boundaries marked".into(),
            svg: rps,
        });
    }

    if !a.names.is_empty() {
        names_section(&mut d, a)?;
    }

    d.push(Block::Heading(2, "Universal Scalability Law".into()));
    let u = &s.usl;
    d.push(Block::Para(format!(
        "X(N) = λN / (1 + σ(N−1) + κN(N−1)), fitted by Levenberg–Marquardt on goodput of {} steps \
         that were neither interrupted nor saturated by shedding (more than 1% 429/503){}. \
         Intervals are two-sided 95% from the Jacobian with Student's t for n − 3 degrees of \
         freedom. {}",
        u.points,
        if u.excluded.is_empty() {
            String::new()
        } else {
            format!("; left out: {}", u.excluded.join(", "))
        },
        if u.reliable {
            "The fit is reliable (≥ 5 points, R² ≥ 0.9).".to_string()
        } else {
            format!(
                "The fit is unreliable: {}.",
                u.unreliable_reason.as_deref().unwrap_or("?")
            )
        }
    )));
    d.push(Block::Table(
        vec!["parameter".into(), "estimate".into(), "95% interval".into()],
        vec![
            vec!["σ (contention)".into(), opt(u.sigma, 5), ci(u.sigma_ci, 5)],
            vec!["κ (coherency)".into(), opt(u.kappa, 7), ci(u.kappa_ci, 7)],
            vec![
                "λ (1-user rate, /s)".into(),
                opt(u.lambda, 4),
                ci(u.lambda_ci, 4),
            ],
            vec!["R²".into(), opt(u.r2, 4), String::new()],
            vec![
                "residual SE (/s)".into(),
                opt(u.residual_se, 4),
                String::new(),
            ],
            vec![
                "peak concurrency".into(),
                opt(u.peak_concurrency, 1),
                String::new(),
            ],
            vec![
                "peak throughput (/s)".into(),
                opt(u.peak_throughput_rps, 2),
                String::new(),
            ],
        ],
    ));

    d.push(Block::Heading(2, "Little's law".into()));
    d.push(Block::Para(format!(
        "Concurrency ≈ throughput × (mean latency of answered requests + mean think time), \
         measured; more than {:.0}% off is a warning (client-side queueing, timeouts, or a \
         measurement problem) on a step whose p99 is at most {} of its duration. Over \
         one window the law holds only in steady state: where requests last a good part of the \
         step (a queue still growing), those straddling its edges alone move the figure, so such \
         a step is not judged.",
        crate::measure::littles::REPORT_WARN_PCT,
        if crate::measure::littles::MAX_TAIL_SHARE == 0.25 {
            "a quarter".to_string()
        } else {
            format!("{:.0}%", crate::measure::littles::MAX_TAIL_SHARE * 100.0)
        }
    )));
    d.push(Block::Table(
        vec![
            "step".into(),
            "users".into(),
            "throughput × latency".into(),
            "error".into(),
            "".into(),
        ],
        s.littles_law
            .iter()
            .map(|c| {
                vec![
                    c.step.to_string(),
                    c.concurrency.to_string(),
                    format!("{:.2}", c.predicted),
                    format!("{:+.1}%", c.error_pct),
                    match (c.judged, c.warning) {
                        (false, _) => format!(
                            "not judged (p99 is {:.0}% of the step)",
                            100.0 * c.tail_share.unwrap_or(0.0)
                        ),
                        (true, true) => "warning".into(),
                        (true, false) => "ok".into(),
                    },
                ]
            })
            .collect(),
    ));

    d.push(Block::Heading(2, "What binds".into()));
    let mut seen: Vec<Binding> = Vec::new();
    for b in &s.binding {
        if !seen.contains(&b.binding) {
            seen.push(b.binding);
        }
    }
    d.push(Block::Para(format!(
        "Per step, with how it is known — measured (the target's metrics or loadgen's own \
         counts), inferred (from the curves alone) or unknown: {}.",
        seen.iter()
            .map(|&b| format!("{} ({})", b.label(), binding_meaning(b)))
            .collect::<Vec<_>>()
            .join("; ")
    )));
    d.push(Block::Table(
        vec![
            "step".into(),
            "users".into(),
            "binding".into(),
            "source".into(),
        ],
        s.binding
            .iter()
            .map(|b| {
                vec![
                    b.step.to_string(),
                    b.concurrency.to_string(),
                    b.binding.label().to_string(),
                    b.source.label().to_string(),
                ]
            })
            .collect(),
    ));

    let analyze_server = s.target == crate::decide::recommendation::TargetKind::AnalyzeServer;
    d.push(Block::Heading(
        2,
        if analyze_server || s.provider.is_some() {
            "Queueing and provider ceiling"
        } else {
            "Queueing"
        }
        .into(),
    ));
    d.push(Block::Para(match &s.queueing {
        Some(q) => format!(
            "N = {} (from {}). Past N, a FIFO queue predicts mean served latency ≈ S·C/N: \
             measured slope {:.1} ms per extra user against S/N = {:.1} ms, linear R² {:.3} over \
             {} steps.",
            q.permits,
            q.permits_source,
            q.slope_ms_per_user,
            q.expected_slope_ms_per_user,
            q.r2,
            q.points
        ),
        None => "Too few unshed steps past N for a queueing view.".into(),
    }));
    match &s.provider {
        Some(p) => {
            d.push(Block::Para(provider_tier_text(p)));
        }
        None if analyze_server => {
            d.push(Block::Para(
                "No provider tier given (--provider-rpm, --provider-itpm, --provider-otpm) or \
                 reported in the server's /metrics."
                    .into(),
            ));
        }
        None => {}
    }

    crate::document::open_doc::sections(&mut d, s);

    d.push(Block::Heading(2, "Steps".into()));
    d.push(Block::Table(
        [
            "step",
            "users",
            "requests",
            "success",
            "shed",
            "throughput/s",
            "goodput/s",
            "mean ms",
            "p50 ms",
            "p90 ms",
            "p99 ms",
        ]
        .iter()
        .map(|h| h.to_string())
        .collect(),
        a.steps
            .iter()
            .map(|r| {
                vec![
                    r.step.to_string(),
                    r.concurrency.map_or(String::new(), |c| c.to_string()),
                    r.requests.to_string(),
                    format!("{:.2}%", r.success_rate * 100.0),
                    format!("{:.1}%", shed_fraction(r) * 100.0),
                    format!("{:.2}", r.throughput_rps),
                    format!("{:.2}", r.goodput_rps),
                    format!("{:.0}", r.mean_ms),
                    format!("{:.0}", r.p50_ms),
                    format!("{:.0}", r.p90_ms),
                    format!("{:.0}", r.p99_ms),
                ]
            })
            .collect(),
    ));
    d.push(Block::Heading(2, "Run configuration".into()));
    let mut conf = match &input.config {
        Some(c) => config_lines(c),
        None => vec!["no JSON summary beside the CSV".into()],
    };
    if let Some(n) = input.server_capacity {
        conf.push(format!("server permits (analyze_capacity): {n}"));
    }
    conf.extend(input.notes.iter().cloned());
    d.push(Block::List(conf));
    Ok(d)
}

/// "How many users": the measured answer, the fitted model and the predictions per think time.
fn users_section(d: &mut Doc, u: &crate::model::users::UsersAnswer) {
    d.push(Block::Heading(2, "How many users".into()));
    d.push(Block::Para(match u.measured_max_users {
        Some(n) => format!(
            "**Measured**: {n} users with a mean think time of {:.1} s met every objective (the \
             largest tested load at which it and every lower step did).",
            u.think_s
        ),
        None => format!(
            "**Measured**: no tested load met every objective (or none was given), think time \
             {:.1} s.",
            u.think_s
        ),
    }));
    let Some(m) = &u.model else {
        d.push(Block::Para(format!(
            "No prediction: {}.",
            u.unfitted.as_deref().unwrap_or("no model")
        )));
        return;
    };
    d.push(Block::Para(format!(
        "**Fitted** service model: `{}` binds ({:.0}% of requests, {:.0} ms at light load), served \
         by {:.1} parallel servers ({}); every other second of a user's cycle is delay ({:.2} s \
         per request at the run's think time, measured by the law N = X × (R + Z)). Mean-value \
         analysis of that closed network (Seidmann's multi-server approximation) gives X and the \
         queue wait at each user count; a latency figure is predicted as its light-load value \
         plus {:.2} × the mean wait (the wait's spread, fitted on {} steps where a queue formed). \
         Every user count below is **predicted** (extrapolated for think times \
         the run did not use); `{}` checks it.",
        m.name,
        m.share * 100.0,
        m.service_s * 1000.0,
        m.servers,
        m.servers_from,
        m.delay_s,
        m.wait_spread,
        m.wait_spread_steps,
        u.verify
    )));
    d.push(Block::Table(
        vec![
            "think time".into(),
            "users at saturation N*".into(),
            format!(
                "users meeting {}",
                u.objective.as_deref().unwrap_or("(no latency objective)")
            ),
            "throughput there (/s)".into(),
            "predicted latency figure (ms)".into(),
        ],
        u.predictions
            .iter()
            .enumerate()
            .map(|(i, p)| {
                vec![
                    format!(
                        "{:.1} s{}",
                        p.think_s,
                        if i == 0 { " (this run)" } else { "" }
                    ),
                    format!("{:.0}", p.users_at_saturation),
                    p.users_at_objective.map_or("—".into(), |n| n.to_string()),
                    p.at_objective
                        .map_or("—".into(), |a| format!("{:.2}", a.throughput_rps)),
                    p.predicted_latency_ms
                        .map_or("—".into(), |l| format!("{l:.0}")),
                ]
            })
            .collect(),
    ));
}

/// Per request name: measured figures, each name's own objectives and USL fit, and two charts.
fn names_section(d: &mut Doc, a: &Analysis) -> Result<(), String> {
    d.push(Block::Heading(2, "Per request name".into()));
    d.push(Block::Para(
        "Each request name of the scenario on its own rows: share, latency, goodput and where \
         its own objectives (NAME:…) held are measured; σ and κ are the USL fitted to the \
         name's own goodput (same exclusions as the total's fit), marked unreliable where the \
         fit is. An objective on a name is judged on that name's rows everywhere in this report."
            .into(),
    ));
    d.push(Block::Table(
        [
            "name",
            "share (measured)",
            "light-load mean / p99 ms (measured)",
            "p99 at the top step ms (measured)",
            "max goodput/s at users (measured)",
            "own objectives held up to (measured)",
            "USL σ, κ (fitted)",
        ]
        .iter()
        .map(|h| h.to_string())
        .collect(),
        a.names
            .iter()
            .map(|v| {
                let n = &v.summary;
                vec![
                    n.name.clone(),
                    format!("{:.1}%", 100.0 * n.share),
                    format!("{:.1} / {:.1}", n.light_mean_ms, n.light_p99_ms),
                    format!("{:.1}", n.top_p99_ms),
                    format!(
                        "{:.2}{}",
                        n.max_goodput_rps,
                        n.max_goodput_users
                            .map_or(String::new(), |u| format!(" at {u}"))
                    ),
                    match (n.objectives.is_empty(), n.meets_own_objectives_up_to) {
                        (true, _) => "none given".into(),
                        (false, Some(u)) => format!("{u} users ({})", n.objectives.join(", ")),
                        (false, None) => {
                            format!("fail from the first step ({})", n.objectives.join(", "))
                        }
                    },
                    match (n.usl.sigma, n.usl.kappa) {
                        (Some(s), Some(k)) => format!(
                            "{s:.4}, {k:.6}{}",
                            if n.usl.reliable { "" } else { " (unreliable)" }
                        ),
                        _ => format!(
                            "no fit: {}",
                            n.usl.unreliable_reason.as_deref().unwrap_or("?")
                        ),
                    },
                ]
            })
            .collect(),
    ));
    let series: Vec<charts::NameSeries> = a
        .names
        .iter()
        .map(|v| charts::NameSeries {
            name: &v.summary.name,
            rows: &v.rows,
            fit: v.fit.as_ref(),
            bounds: v.latency_bounds.clone(),
        })
        .collect();
    d.push(Block::Chart {
        file: "names-latency.svg".into(),
        title: "p99 per request name vs users (log scale), measured, with each name's latency \
                objectives"
            .into(),
        svg: charts::names_latency(&series)?,
    });
    d.push(Block::Chart {
        file: "names-goodput.svg".into(),
        title: "Goodput per request name vs users, measured, with each name's USL fit where \
                reliable"
            .into(),
        svg: charts::names_goodput(&series)?,
    });
    Ok(())
}
