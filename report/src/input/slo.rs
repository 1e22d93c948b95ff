//! SLO expressions (`p99<2s`, `success>=99%`, `goodput>=30/s`): the grammar `loadgen`'s and the
//! report's `--slo` share, parsed once by clap through [`FromStr`]. Each reader evaluates them on
//! its own steps through one check, [`Objective::check`] on a [`StepRow`]: loadgen's gate on a
//! run's step results (converted to rows), the report's analysis on CSV rows.

use std::str::FromStr;

use crate::input::row::StepRow;

/// What an objective measures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Metric {
    /// A latency figure in milliseconds: p50, p90, p95, p99, p999, max, mean.
    Latency(LatencyFigure),
    /// ok / requests, as a fraction.
    Success,
    /// Non-ok / requests, as a fraction.
    Errors,
    /// ok per second.
    Goodput,
    /// Requests per second.
    Throughput,
    /// Another latency figure of the row, in milliseconds.
    Column(ExtraLatency),
}

/// Latency columns appended to the row that objectives may name.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ExtraLatency {
    /// `all_p50`: median of every answered request.
    AllP50,
    /// `all_p99`: p99 of every answered request.
    AllP99,
    /// `rejected_p50`: median of 429/503 answers.
    RejectedP50,
    /// `rejected_p99`: p99 of 429/503 answers.
    RejectedP99,
    /// `connect_p50`: median connection set-up time.
    ConnectP50,
    /// `connect_p99`: p99 connection set-up time.
    ConnectP99,
}

/// Which latency figure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LatencyFigure {
    /// Median.
    P50,
    /// 90th percentile.
    P90,
    /// 95th percentile.
    P95,
    /// 99th percentile.
    P99,
    /// 99.9th percentile.
    P999,
    /// Maximum.
    Max,
    /// Mean.
    Mean,
}

impl LatencyFigure {
    /// This figure of a row's served (2xx) latency, ms: the one mapping of figures to columns.
    pub fn of(self, r: &StepRow) -> f64 {
        match self {
            LatencyFigure::P50 => r.p50_ms,
            LatencyFigure::P90 => r.p90_ms,
            LatencyFigure::P95 => r.p95_ms,
            LatencyFigure::P99 => r.p99_ms,
            LatencyFigure::P999 => r.p999_ms,
            LatencyFigure::Max => r.max_ms,
            LatencyFigure::Mean => r.mean_ms,
        }
    }
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// One parsed `--slo`.
#[derive(Debug, Clone, PartialEq)]
pub struct Objective {
    /// The text as given.
    pub text: String,
    /// What is measured.
    pub metric: Metric,
    /// How it is compared.
    pub op: Op,
    /// Threshold in the metric's unit (ms, fraction, per second).
    pub threshold: f64,
    /// The request name the objective applies to (`analyze:p99<10s`); `None`: the step's total.
    pub name: Option<String>,
}

/// Why an `--slo` expression was refused: the text as given and what is wrong with it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("'{text}': {reason}")]
pub struct SloError {
    /// The expression as given.
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

impl Objective {
    /// Parses e.g. `p99<2s`, `p95 <= 300ms`, `success>=99%`, `goodput>=30/s`.
    pub fn parse(text: &str) -> Result<Objective, SloError> {
        let err = |m: &str| SloError {
            text: text.to_string(),
            reason: m.to_string(),
        };
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        // `NAME:EXPR` applies to one request name of a scenario; the name ends at the first ':'
        // before the comparison.
        let (scope, compact) = match compact.split_once(':') {
            Some((n, rest)) if !n.contains(['<', '>']) => {
                if n.is_empty() {
                    return Err(err("empty request name before ':' (e.g. analyze:p99<10s)"));
                }
                (Some(n.to_string()), rest.to_string())
            }
            _ => (None, compact),
        };
        let pos = compact
            .find(['<', '>'])
            .ok_or_else(|| err("expected METRIC<VALUE, <=, > or >= (e.g. p99<2s)"))?;
        let (name, rest) = compact.split_at(pos);
        let (op, value) = if let Some(v) = rest.strip_prefix("<=") {
            (Op::Le, v)
        } else if let Some(v) = rest.strip_prefix(">=") {
            (Op::Ge, v)
        } else if let Some(v) = rest.strip_prefix('<') {
            (Op::Lt, v)
        } else {
            (Op::Gt, &rest[1..])
        };
        let metric = match name.to_ascii_lowercase().as_str() {
            "p50" | "median" => Metric::Latency(LatencyFigure::P50),
            "p90" => Metric::Latency(LatencyFigure::P90),
            "p95" => Metric::Latency(LatencyFigure::P95),
            "p99" => Metric::Latency(LatencyFigure::P99),
            "p999" | "p99.9" => Metric::Latency(LatencyFigure::P999),
            "max" => Metric::Latency(LatencyFigure::Max),
            "mean" => Metric::Latency(LatencyFigure::Mean),
            "success" | "success_rate" => Metric::Success,
            "errors" | "error_rate" => Metric::Errors,
            "goodput" | "goodput_rps" => Metric::Goodput,
            "throughput" | "throughput_rps" | "rps" => Metric::Throughput,
            "all_p50" | "all_p50_ms" => Metric::Column(ExtraLatency::AllP50),
            "all_p99" | "all_p99_ms" => Metric::Column(ExtraLatency::AllP99),
            "rejected_p50" | "rejected_p50_ms" => Metric::Column(ExtraLatency::RejectedP50),
            "rejected_p99" | "rejected_p99_ms" => Metric::Column(ExtraLatency::RejectedP99),
            "connect_p50" | "connect_p50_ms" => Metric::Column(ExtraLatency::ConnectP50),
            "connect_p99" | "connect_p99_ms" => Metric::Column(ExtraLatency::ConnectP99),
            other => {
                return Err(err(&format!(
                    "unknown metric '{other}' (p50 p90 p95 p99 p999 max mean success errors goodput throughput all_p50 all_p99 rejected_p50 rejected_p99 connect_p50 connect_p99)"
                )))
            }
        };
        let threshold = match metric {
            Metric::Latency(_) | Metric::Column(_) => parse_latency_ms(value)
                .ok_or_else(|| err("expected a duration like 2s, 300ms, 500us"))?,
            Metric::Success | Metric::Errors => parse_fraction(value)
                .ok_or_else(|| err("expected a percentage like 99% or a fraction like 0.99"))?,
            Metric::Goodput | Metric::Throughput => {
                parse_rate(value).ok_or_else(|| err("expected a rate like 30/s"))?
            }
        };
        Ok(Objective {
            text: text.to_string(),
            metric,
            op,
            threshold,
            name: scope,
        })
    }

    /// The measured value `v` of the objective's metric as text, with its unit.
    pub fn format(&self, v: f64) -> String {
        match self.metric {
            Metric::Latency(_) | Metric::Column(_) => format!("{v:.3} ms"),
            Metric::Success | Metric::Errors => format!("{:.2}%", v * 100.0),
            Metric::Goodput | Metric::Throughput => format!("{v:.2}/s"),
        }
    }

    /// The objective's figure on row `r`, in the objective's unit, or why there is nothing to
    /// judge: a latency figure needs at least one request it describes (an all-error step has
    /// no served latency, and its 0 ms columns must not pass `p99<1s`).
    pub fn value(&self, r: &StepRow) -> Result<f64, String> {
        let answered =
            r.ok + r.rejected_429 + r.rejected_503 + r.other_4xx + r.other_5xx + r.other_status;
        let need = |n: u64, what: &str| {
            if n > 0 {
                Ok(())
            } else {
                Err(format!("no {what} to measure ({})", outcome_text(r)))
            }
        };
        match self.metric {
            Metric::Latency(f) => {
                need(r.ok, "successful (2xx) response")?;
                Ok(f.of(r))
            }
            Metric::Success => Ok(r.success_rate),
            Metric::Errors => Ok(1.0 - r.success_rate),
            Metric::Goodput => Ok(r.goodput_rps),
            Metric::Throughput => Ok(r.throughput_rps),
            Metric::Column(c) => match c {
                ExtraLatency::AllP50 => need(answered, "answered request").map(|_| r.all_p50_ms),
                ExtraLatency::AllP99 => need(answered, "answered request").map(|_| r.all_p99_ms),
                ExtraLatency::RejectedP50 => {
                    need(r.rejected_429 + r.rejected_503, "429 or 503 answer")
                        .map(|_| r.rejected_p50_ms)
                }
                ExtraLatency::RejectedP99 => {
                    need(r.rejected_429 + r.rejected_503, "429 or 503 answer")
                        .map(|_| r.rejected_p99_ms)
                }
                ExtraLatency::ConnectP50 => r
                    .connect_p50_ms
                    .ok_or_else(|| "no connection was opened to measure".to_string()),
                ExtraLatency::ConnectP99 => r
                    .connect_p99_ms
                    .ok_or_else(|| "no connection was opened to measure".to_string()),
            },
        }
    }

    /// The one objective check of the workspace: whether the objective holds on row `r`, and
    /// the measured value (or why nothing could be judged) as text. An interrupted step, a step
    /// with no requests, and a figure with nothing to measure never hold.
    pub fn check(&self, r: &StepRow) -> Check {
        let fail = |why: String| Check {
            holds: false,
            measured: why,
        };
        if r.interrupted {
            return fail("step interrupted".into());
        }
        if r.requests + r.unsent == 0 {
            return fail("no requests".into());
        }
        match self.value(r) {
            Ok(v) => Check {
                holds: self.holds(v),
                measured: self.format(v),
            },
            Err(why) => fail(why),
        }
    }

    /// Whether the measured value `v` meets the objective.
    pub fn holds(&self, v: f64) -> bool {
        match self.op {
            Op::Lt => v < self.threshold,
            Op::Le => v <= self.threshold,
            Op::Gt => v > self.threshold,
            Op::Ge => v >= self.threshold,
        }
    }
}

/// The outcome of [`Objective::check`] on one step.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// Whether the objective held.
    pub holds: bool,
    /// The measured value with its unit, or why nothing could be judged.
    pub measured: String,
}

/// A step's outcomes in a few words, for "nothing to judge" messages: `all 120 requests were
/// errors (120 × 5xx)`.
fn outcome_text(r: &StepRow) -> String {
    let parts: Vec<String> = [
        (r.rejected_429, "429"),
        (r.rejected_503, "503"),
        (r.other_4xx, "other 4xx"),
        (r.other_5xx, "5xx"),
        (r.timeouts, "timeouts"),
        (r.connect_errors, "connect errors"),
        (r.io_errors, "I/O errors"),
        (r.other_status, "other statuses"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} × {what}"))
    .collect();
    let n = r.requests;
    if r.ok == 0 && n > 0 {
        format!(
            "all {n} request{} failed: {}",
            if n == 1 { "" } else { "s" },
            parts.join(", ")
        )
    } else {
        format!("{} of {n} requests succeeded", r.ok)
    }
}

impl FromStr for Objective {
    type Err = SloError;

    /// As [`Objective::parse`]: what makes `Objective` a clap value parser.
    fn from_str(text: &str) -> Result<Objective, SloError> {
        Objective::parse(text)
    }
}

fn parse_latency_ms(v: &str) -> Option<f64> {
    let (num, factor) = if let Some(n) = v.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix("us").or_else(|| v.strip_suffix("µs")) {
        (n, 0.001)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1000.0)
    } else {
        (v, 1.0)
    };
    let ms = num.parse::<f64>().ok()? * factor;
    // Checked after scaling: `1e308s` is finite in seconds but not in milliseconds.
    (ms.is_finite() && ms >= 0.0).then_some(ms)
}

fn parse_fraction(v: &str) -> Option<f64> {
    let (x, pct) = match v.strip_suffix('%') {
        Some(n) => (n.parse::<f64>().ok()?, true),
        None => (v.parse::<f64>().ok()?, false),
    };
    let f = if pct || x > 1.0 { x / 100.0 } else { x };
    (0.0..=1.0).contains(&f).then_some(f)
}

fn parse_rate(v: &str) -> Option<f64> {
    let n = v
        .strip_suffix("/s")
        .or_else(|| v.strip_suffix("rps"))
        .unwrap_or(v);
    let x: f64 = n.parse().ok()?;
    (x.is_finite() && x >= 0.0).then_some(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::fixture::row;

    #[test]
    fn a_latency_objective_fails_on_a_step_that_answered_only_errors() {
        let mut r = row(1, 2, 10.0, 0.0);
        (r.ok, r.other_5xx, r.success_rate, r.goodput_rps) = (0, r.requests, 0.0, 0.0);
        (r.p50_ms, r.p99_ms, r.max_ms) = (0.0, 0.0, 0.0);
        let c = Objective::parse("p99<1s").unwrap().check(&r);
        assert!(!c.holds);
        assert_eq!(
            c.measured,
            "no successful (2xx) response to measure (all 100 requests failed: 100 × 5xx)"
        );
        // A figure with a sample still judges it; errors are judged on every row.
        assert!(Objective::parse("all_p99<1s").unwrap().check(&r).holds);
        assert!(!Objective::parse("rejected_p99<1s").unwrap().check(&r).holds);
        assert!(Objective::parse("errors>=99%").unwrap().check(&r).holds);
        r.ok = 1;
        assert!(Objective::parse("p99<1s").unwrap().check(&r).holds);
        r.interrupted = true;
        assert_eq!(
            Objective::parse("p99<1s").unwrap().check(&r).measured,
            "step interrupted"
        );
    }

    #[test]
    fn objectives_parse_with_units() {
        let o = Objective::parse("p99<2s").unwrap();
        assert_eq!(
            (o.metric, o.op, o.threshold),
            (Metric::Latency(LatencyFigure::P99), Op::Lt, 2000.0)
        );
        assert_eq!(Objective::parse("p95 <= 300ms").unwrap().threshold, 300.0);
        assert_eq!(Objective::parse("success>=99%").unwrap().threshold, 0.99);
        assert_eq!(Objective::parse("success>=0.5").unwrap().threshold, 0.5);
        assert_eq!(Objective::parse("goodput>=30/s").unwrap().threshold, 30.0);
        assert_eq!(Objective::parse("p99.9<500us").unwrap().threshold, 0.5);
        let o = Objective::parse("rejected_p99<10ms").unwrap();
        assert_eq!(
            (o.metric, o.threshold),
            (Metric::Column(ExtraLatency::RejectedP99), 10.0)
        );
    }

    #[test]
    fn a_name_before_a_colon_scopes_the_objective_to_that_request() {
        let o = Objective::parse("analyze:p99<10s").unwrap();
        assert_eq!(o.name.as_deref(), Some("analyze"));
        assert_eq!(
            (o.metric, o.threshold),
            (Metric::Latency(LatencyFigure::P99), 10_000.0)
        );
        assert_eq!(Objective::parse("p99<10s").unwrap().name, None);
        assert!(Objective::parse(":p99<1s").is_err());
    }

    #[test]
    fn malformed_objectives_quote_the_text() {
        for bad in ["p99", "p98<1s", "success>=150%", "p99<fast", "goodput>=x/s"] {
            let e = Objective::parse(bad).unwrap_err();
            assert_eq!(e.text, bad);
            assert!(e.to_string().starts_with(&format!("'{bad}': ")), "{e}");
        }
    }
}
