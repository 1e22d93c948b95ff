//! The provider's ceiling: the concurrency the model provider's rate-limit tier allows. Each
//! running analysis makes `calls` model calls in `S` seconds, so N permits make N·calls·60/S
//! requests, N·calls·I·60/S input tokens and N·calls·K·60/S output tokens per minute; all three
//! must stay under the tier with 20% headroom for retries. Every replica of the service draws on
//! the same tier, so with R replicas each gets tier / R (`--replicas`). The tier and the tokens
//! come from the server's `/metrics` (what the provider reported and billed) unless a flag
//! overrides them; each input says which.

use serde::Serialize;

use crate::input::server::ServerSnapshot;

/// Share of the tier the recommendation plans to use (the rest is headroom for retries).
pub const HEADROOM: f64 = 0.8;

/// The tier and the traffic shape, as given on the command line or read beside the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProviderInputs {
    /// Requests per minute of the tier.
    pub rpm: Option<f64>,
    /// Input tokens per minute of the tier.
    pub itpm: Option<f64>,
    /// Output tokens per minute of the tier.
    pub otpm: Option<f64>,
    /// Average input tokens per model call.
    pub avg_input_tokens: f64,
    /// Average output tokens per model call.
    pub avg_output_tokens: f64,
    /// Model calls per analysis.
    pub calls_per_request: f64,
    /// Replicas of the service sharing the tier (1: one instance).
    pub replicas: u32,
    /// Where each input came from: `measured` (the server's /metrics), `flag`, or `assumed`
    /// (a default), by input name.
    pub sources: std::collections::BTreeMap<&'static str, &'static str>,
}

/// The tier and traffic-shape flags of `loadgen report` (each overrides what the server measured).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProviderFlags {
    /// `--provider-rpm`.
    pub rpm: Option<f64>,
    /// `--provider-itpm`.
    pub itpm: Option<f64>,
    /// `--provider-otpm`.
    pub otpm: Option<f64>,
    /// `--avg-input-tokens` (per model call).
    pub avg_input_tokens: Option<f64>,
    /// `--avg-output-tokens` (per model call).
    pub avg_output_tokens: Option<f64>,
    /// `--calls-per-request`.
    pub calls_per_request: Option<f64>,
    /// `--replicas`.
    pub replicas: u32,
}

/// Without a flag or a measurement: output tokens per call assumed.
pub const ASSUMED_OUTPUT_TOKENS: f64 = 100.0;
/// Without a flag or a measurement: model calls per analysis assumed.
pub const ASSUMED_CALLS: f64 = 2.0;

/// The inputs: a flag when given, else what the server measured (`snapshot`), else a default
/// (input tokens then count as 0: the input budget is not checked).
pub fn resolve(flags: &ProviderFlags, snapshot: Option<&ServerSnapshot>) -> ProviderInputs {
    let mut sources = std::collections::BTreeMap::new();
    let mut pick = |name: &'static str, flag: Option<f64>, measured: Option<f64>, default: f64| {
        let (v, src) = match (flag, measured) {
            (Some(v), _) => (v, "flag"),
            (None, Some(v)) => (v, "measured"),
            (None, None) => (default, "assumed"),
        };
        sources.insert(name, src);
        v
    };
    let tier = snapshot.map(|s| s.tier).unwrap_or_default();
    let (input, output) = snapshot.map_or((None, None), |s| s.tokens_per_call());
    let calls = pick(
        "calls_per_request",
        flags.calls_per_request,
        snapshot.and_then(ServerSnapshot::calls_per_analysis),
        ASSUMED_CALLS,
    );
    let avg_input_tokens = pick("avg_input_tokens", flags.avg_input_tokens, input, 0.0);
    let avg_output_tokens = pick(
        "avg_output_tokens",
        flags.avg_output_tokens,
        output,
        ASSUMED_OUTPUT_TOKENS,
    );
    let mut budget =
        |name: &'static str, flag: Option<f64>, reported: Option<f64>| match (flag, reported) {
            (Some(v), _) => {
                sources.insert(name, "flag");
                Some(v)
            }
            (None, Some(v)) => {
                sources.insert(name, "measured");
                Some(v)
            }
            (None, None) => None,
        };
    let rpm = budget("rpm", flags.rpm, tier.rpm);
    let itpm = budget("itpm", flags.itpm, tier.itpm);
    let otpm = budget("otpm", flags.otpm, tier.otpm);
    ProviderInputs {
        rpm,
        itpm,
        otpm,
        avg_input_tokens,
        avg_output_tokens,
        calls_per_request: calls,
        replicas: flags.replicas.max(1),
        sources,
    }
}

/// The ceiling and which limit sets it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProviderCeiling {
    /// Largest N the tier allows with headroom (None when no tier was given).
    pub max_concurrency: Option<u32>,
    /// N allowed by the requests-per-minute limit.
    pub rpm_concurrency: Option<u32>,
    /// N allowed by the input-tokens-per-minute limit.
    pub itpm_concurrency: Option<u32>,
    /// N allowed by the output-tokens-per-minute limit.
    pub otpm_concurrency: Option<u32>,
    /// The budget that sets `max_concurrency`: `requests`, `input tokens` or `output tokens`.
    pub binding: Option<&'static str>,
    /// Service time used, seconds.
    pub service_time_s: f64,
    /// The inputs.
    pub inputs: ProviderInputs,
    /// The headroom planned with: the p99 of the measured demand or the fixed share
    /// (`headroom::apply`); `None` until applied.
    pub headroom: Option<Headroom>,
}

/// The ceiling for an analysis lasting `service_time_s`.
pub fn ceiling(inputs: &ProviderInputs, service_time_s: f64) -> ProviderCeiling {
    let per_permit_rpm = inputs.calls_per_request * 60.0 / service_time_s.max(1e-9);
    let share = 1.0 / f64::from(inputs.replicas.max(1));
    let rpm_concurrency = inputs
        .rpm
        .map(|rpm| (HEADROOM * rpm * share / per_permit_rpm).floor().max(0.0) as u32);
    let per_token = |budget: Option<f64>, tokens: f64| {
        budget.map(|b| {
            (HEADROOM * b * share / (per_permit_rpm * tokens.max(1e-9)))
                .floor()
                .max(0.0) as u32
        })
    };
    let itpm_concurrency = per_token(inputs.itpm, inputs.avg_input_tokens);
    let otpm_concurrency = per_token(inputs.otpm, inputs.avg_output_tokens);
    let (binding, max_concurrency) = [
        ("requests", rpm_concurrency),
        ("input tokens", itpm_concurrency),
        ("output tokens", otpm_concurrency),
    ]
    .into_iter()
    .filter_map(|(name, n)| n.map(|n| (name, n)))
    .min_by_key(|&(_, n)| n)
    .map_or((None, None), |(name, n)| (Some(name), Some(n)));
    ProviderCeiling {
        max_concurrency,
        rpm_concurrency,
        itpm_concurrency,
        otpm_concurrency,
        binding,
        service_time_s,
        inputs: inputs.clone(),
        headroom: None,
    }
}

/// One budget of the tier, against the measured demand per analysis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BudgetLine {
    /// `requests`, `input tokens` or `output tokens`.
    pub budget: &'static str,
    /// The budget per minute this replica may use (the tier / replicas).
    pub per_minute: f64,
    /// Mean demand of one analysis (model calls or tokens), measured.
    pub per_analysis_mean: f64,
    /// Standard deviation of one analysis's demand (measured histogram, bucket midpoints);
    /// `None` when the server exported no histogram for it.
    pub per_analysis_stdev: Option<f64>,
    /// The N whose mean demand fills the budget (100%).
    pub n_at_full: u32,
    /// The largest N whose p99 demand per minute stays within the budget.
    pub n_at_p99: Option<u32>,
}

/// The headroom the recommendation plans with, and the alternative it did not use.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Headroom {
    /// Each budget the tier has.
    pub budgets: Vec<BudgetLine>,
    /// N at the fixed share of every budget ([`HEADROOM`]).
    pub fixed_n: Option<u32>,
    /// The fixed share (0.8).
    pub fixed_share: f64,
    /// N whose p99 demand per minute fits every budget (`None`: a budget has no measured spread).
    pub p99_n: Option<u32>,
    /// The budget that sets `p99_n`.
    pub p99_binding: Option<&'static str>,
    /// Which one the recommendation uses: `p99 of measured demand` or `fixed share`.
    pub used: &'static str,
    /// Why, as a sentence.
    pub why: String,
    /// How the p99 was computed.
    pub method: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tighter_limit_sets_the_ceiling() {
        // 2 calls in 2 s = 60 calls/min per permit; 2000 rpm × 0.8 / 60 = 26.
        // 80 000 otpm × 0.8 / (60 × 100 tokens) = 10.
        let c = ceiling(
            &ProviderInputs {
                rpm: Some(2000.0),
                itpm: None,
                otpm: Some(80_000.0),
                avg_input_tokens: 0.0,
                avg_output_tokens: 100.0,
                calls_per_request: 2.0,
                replicas: 1,
                sources: Default::default(),
            },
            2.0,
        );
        assert_eq!(c.binding, Some("output tokens"));
        assert_eq!(c.rpm_concurrency, Some(26));
        assert_eq!(c.otpm_concurrency, Some(10));
        assert_eq!(c.max_concurrency, Some(10));
    }

    #[test]
    fn the_demo_tiers_input_budget_binds_before_its_output_budget() {
        // One demo analysis: 2 calls, 285 input and 29.5 output tokens each, in 1.44 s:
        // 83 requests, 23.75k input and 2.46k output tokens a minute per permit.
        let c = ceiling(
            &ProviderInputs {
                rpm: Some(2000.0),
                itpm: Some(400_000.0),
                otpm: Some(80_000.0),
                avg_input_tokens: 285.0,
                avg_output_tokens: 29.5,
                calls_per_request: 2.0,
                replicas: 1,
                sources: Default::default(),
            },
            1.44,
        );
        // 0.8 × 400k / 23 750 = 13.5; 0.8 × 2000 / 83.3 = 19.2; 0.8 × 80k / 2458 = 26.
        assert_eq!(
            (c.rpm_concurrency, c.itpm_concurrency, c.otpm_concurrency),
            (Some(19), Some(13), Some(26))
        );
        assert_eq!(
            (c.max_concurrency, c.binding),
            (Some(13), Some("input tokens"))
        );
    }

    #[test]
    fn no_tier_no_ceiling() {
        let c = ceiling(
            &ProviderInputs {
                rpm: None,
                itpm: None,
                otpm: None,
                avg_input_tokens: 0.0,
                avg_output_tokens: 100.0,
                calls_per_request: 2.0,
                replicas: 1,
                sources: Default::default(),
            },
            2.0,
        );
        assert_eq!(c.max_concurrency, None);
    }

    #[test]
    fn replicas_share_one_tier() {
        // Two replicas: each gets half of 2000 rpm and 80 000 otpm.
        let inputs = |replicas| ProviderInputs {
            rpm: Some(2000.0),
            itpm: None,
            otpm: Some(80_000.0),
            avg_input_tokens: 0.0,
            avg_output_tokens: 100.0,
            calls_per_request: 2.0,
            replicas,
            sources: Default::default(),
        };
        let one = ceiling(&inputs(1), 2.0);
        let two = ceiling(&inputs(2), 2.0);
        assert_eq!(
            (two.rpm_concurrency, two.otpm_concurrency),
            (Some(13), Some(5))
        );
        assert_eq!(one.max_concurrency, Some(10));
        assert_eq!(two.max_concurrency, Some(5));
    }
}
