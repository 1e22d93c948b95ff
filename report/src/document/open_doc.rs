//! The report's words for the spread of demand, the headroom and the open-loop answer: the
//! headline sentences ([`findings`]) and the report's sections ([`sections`]). Every number says
//! whether it was measured, fitted or extrapolated.

use crate::document::doc_model::{Block, Doc};
use crate::document::summary::Summary;
use crate::measure::spread::Quantity;
use crate::model::headroom;

fn bucket(b: [f64; 2]) -> String {
    if b[1].is_infinite() {
        format!("bucket > {}", b[0])
    } else {
        format!("bucket {}–{}", b[0], b[1])
    }
}

fn quantity_row(name: &str, q: &Quantity) -> Vec<String> {
    vec![
        name.to_string(),
        format!("{:.2}", q.mean),
        format!("{:.2}", q.stdev),
        format!("{:.1} ({})", q.p50, bucket(q.p50_bucket)),
        format!("{:.1} ({})", q.p95, bucket(q.p95_bucket)),
        format!("{:.0}", q.analyses),
    ]
}

/// The headline sentences: demand per analysis, the headroom used, and the open-loop answer.
pub fn findings(s: &Summary) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(sp) = &s.spread {
        let part = |what: &str, q: &Option<Quantity>| {
            q.as_ref()
                .map(|q| format!("{what} p50 {:.1}, p95 {:.1}", q.p50, q.p95))
        };
        let parts: Vec<String> = [
            part("model calls", &sp.model_calls),
            part("input tokens", &sp.input_tokens),
            part("output tokens", &sp.output_tokens),
        ]
        .into_iter()
        .flatten()
        .collect();
        out.push(format!(
            "Per analysis (measured, the server's histograms; interpolated in their buckets): {}.",
            parts.join("; ")
        ));
    }
    if let Some(h) = s.provider.as_ref().and_then(|p| p.headroom.as_ref()) {
        out.push(format!(
            "Provider headroom: N = {} at the 99th percentile of the measured demand per minute, \
             N = {} at the fixed {:.0}% of the tier; the recommendation uses the {}.",
            h.p99_n.map_or("n/a".into(), |n| n.to_string()),
            h.fixed_n.map_or("n/a".into(), |n| n.to_string()),
            h.fixed_share * 100.0,
            h.used
        ));
    }
    if let Some(o) = &s.open_loop {
        out.push(format!(
            "Open loop: up to {:.2}/s Poisson arrivals ({}) with {} = {}, {}={}: \
             {:.0}% utilisation, served p99 {:.0} ms, {:.2}% shed ({}); above it {} fails first; \
             at 1.3× ({:.2}/s) {:.0}% shed with 503 ({}).",
            o.rate_rps,
            o.label,
            if s.target == crate::decide::recommendation::TargetKind::AnalyzeServer {
                "N"
            } else {
                "a concurrency limit"
            },
            o.servers,
            if s.target == crate::decide::recommendation::TargetKind::AnalyzeServer {
                "QUEUE_TIMEOUT_MS"
            } else {
                "a queue wait in ms"
            },
            o.queue_timeout_ms,
            o.at_rate.queue.map_or(f64::NAN, |p| p.utilisation * 100.0),
            o.at_rate.served_p99_ms,
            o.at_rate.shed * 100.0,
            o.label,
            o.binding,
            o.at_1_3x.rate_rps,
            o.at_1_3x.shed * 100.0,
            o.label
        ));
    }
    out
}

/// The sections: demand per analysis, the budgets with both headrooms, and the open-loop answer
/// (with the run's own Poisson steps against the model, when it had any).
pub fn sections(d: &mut Doc, s: &Summary) {
    if let Some(sp) = &s.spread {
        d.push(Block::Heading(2, "Demand per analysis".into()));
        d.push(Block::Para(
            "Measured by the server's per-analysis histograms over this run (the /metrics \
             snapshot less the run's start snapshot). Quantiles are interpolated inside their \
             bucket as Prometheus' histogram_quantile does, so each is only as fine as the \
             bucket named beside it; the mean is exact (_sum / _count), the standard deviation \
             estimated from the buckets."
                .into(),
        ));
        let rows: Vec<Vec<String>> = [
            ("model calls", &sp.model_calls),
            ("input tokens", &sp.input_tokens),
            ("output tokens", &sp.output_tokens),
        ]
        .into_iter()
        .filter_map(|(n, q)| q.as_ref().map(|q| quantity_row(n, q)))
        .collect();
        d.push(Block::Table(
            [
                "per analysis (measured)",
                "mean",
                "stdev",
                "p50",
                "p95",
                "analyses",
            ]
            .map(String::from)
            .to_vec(),
            rows,
        ));
    }
    if let Some(p) = &s.provider {
        if let Some(h) = &p.headroom {
            d.push(Block::Heading(2, "Provider budgets and headroom".into()));
            let n = s.recommended.as_ref().map(|r| r.max_concurrent_analyses);
            let shares = n.map(|n| headroom::shares(h, n, p.service_time_s));
            let rows: Vec<Vec<String>> = h
                .budgets
                .iter()
                .enumerate()
                .map(|(k, b)| {
                    vec![
                        b.budget.to_string(),
                        format!("{:.0}", b.per_minute),
                        format!(
                            "{:.1}{}",
                            b.per_analysis_mean,
                            b.per_analysis_stdev
                                .map_or(" (no spread measured)".into(), |sd| format!(" ± {sd:.1}"))
                        ),
                        b.n_at_full.to_string(),
                        b.n_at_p99.map_or("n/a".into(), |n| n.to_string()),
                        shares
                            .as_ref()
                            .and_then(|v| v.get(k))
                            .map_or("n/a".into(), |(_, x)| format!("{:.0}%", x * 100.0)),
                    ]
                })
                .collect();
            d.push(Block::Table(
                [
                    "budget",
                    "per minute (reported)",
                    "per analysis, mean ± stdev (measured)",
                    "N at 100% (fitted)",
                    "N at p99 (fitted)",
                    &format!(
                        "recommended N{}'s share (fitted)",
                        n.map_or(String::new(), |n| format!(" = {n}"))
                    ),
                ]
                .map(String::from)
                .to_vec(),
                rows,
            ));
            d.push(Block::Para(format!(
                "With a service time of {:.2} s (measured), N busy permits complete 60·N/S \
                 analyses a minute. p99 headroom: N = {} ({}); fixed {:.0}%: N = {}. Used: {}. \
                 Method: {}.",
                p.service_time_s,
                h.p99_n.map_or("n/a".into(), |n| n.to_string()),
                h.p99_binding.unwrap_or("no measured spread"),
                h.fixed_share * 100.0,
                h.fixed_n.map_or("n/a".into(), |n| n.to_string()),
                h.why,
                h.method
            )));
        }
    }
    if let Some(o) = &s.open_loop {
        d.push(Block::Heading(
            2,
            "Open loop: how many requests per second".into(),
        ));
        d.push(Block::Para(o.reasoning.clone()));
        let row = |what: &str, r: &crate::decide::open_rate::RatePrediction| {
            vec![
                what.to_string(),
                format!("{:.2}", r.rate_rps),
                r.queue.map_or("≥ 100%".into(), |q| {
                    format!("{:.0}%", q.utilisation * 100.0)
                }),
                format!("{:.2}", r.goodput_rps),
                format!("{:.0}", r.served_p99_ms),
                format!("{:.2}%", r.shed * 100.0),
            ]
        };
        d.push(Block::Table(
            [
                &format!("Poisson arrivals ({})", o.label),
                "rate /s",
                "utilisation",
                "goodput /s",
                "served p99 ms",
                "shed (503)",
            ]
            .map(String::from)
            .to_vec(),
            vec![
                row("the answer", &o.at_rate),
                row("1.3× the answer", &o.at_1_3x),
            ],
        ));
        if !o.evidence.is_empty() {
            d.push(Block::Para(
                "This run offered Poisson arrivals: its steps are the evidence, the model \
                 (fitted) beside them."
                    .into(),
            ));
            let rows = o
                .evidence
                .iter()
                .map(|e| {
                    let off = |p: f64, m: f64| {
                        if m > 0.0 {
                            format!("{:+.0}%", (p - m) / m * 100.0)
                        } else {
                            "n/a".into()
                        }
                    };
                    vec![
                        e.step.to_string(),
                        format!("{:.2}", e.rate_rps),
                        format!(
                            "{:.2} / {:.2} ({})",
                            e.predicted_goodput_rps,
                            e.measured_goodput_rps,
                            off(e.predicted_goodput_rps, e.measured_goodput_rps)
                        ),
                        format!(
                            "{:.0} / {:.0} ({})",
                            e.predicted_p99_ms,
                            e.measured_p99_ms,
                            off(e.predicted_p99_ms, e.measured_p99_ms)
                        ),
                        format!(
                            "{:.2}% / {:.2}%",
                            e.predicted_shed * 100.0,
                            e.measured_shed * 100.0
                        ),
                    ]
                })
                .collect();
            d.push(Block::Table(
                [
                    "step",
                    "rate /s",
                    "goodput predicted / measured",
                    "p99 ms predicted / measured",
                    "shed predicted / measured",
                ]
                .map(String::from)
                .to_vec(),
                rows,
            ));
        }
    }
}
