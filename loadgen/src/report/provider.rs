//! The provider's ceiling: the concurrency the model provider's rate-limit tier allows. Each
//! running analysis makes `calls` model calls in `S` seconds, so N permits make N·calls·60/S
//! requests and N·calls·K·60/S output tokens per minute; both must stay under the tier with 20%
//! headroom for retries. Every replica of the service draws on the same tier, so with R replicas
//! each gets tier / R (`--replicas`).

use serde::Serialize;

/// Share of the tier the recommendation plans to use (the rest is headroom for retries).
pub const HEADROOM: f64 = 0.8;

/// The tier and the traffic shape, as given on the command line or read beside the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProviderInputs {
    /// Requests per minute of the tier.
    pub rpm: Option<f64>,
    /// Output tokens per minute of the tier.
    pub otpm: Option<f64>,
    /// Average output tokens per model call.
    pub avg_output_tokens: f64,
    /// Model calls per analysis.
    pub calls_per_request: f64,
    /// Replicas of the service sharing the tier (1: one instance).
    pub replicas: u32,
}

/// The ceiling and which limit sets it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProviderCeiling {
    /// Largest N the tier allows with headroom (None when no tier was given).
    pub max_concurrency: Option<u32>,
    /// N allowed by the requests-per-minute limit.
    pub rpm_concurrency: Option<u32>,
    /// N allowed by the output-tokens-per-minute limit.
    pub otpm_concurrency: Option<u32>,
    /// Service time used, seconds.
    pub service_time_s: f64,
    /// The inputs.
    pub inputs: ProviderInputs,
}

/// The ceiling for an analysis lasting `service_time_s`.
pub fn ceiling(inputs: &ProviderInputs, service_time_s: f64) -> ProviderCeiling {
    let per_permit_rpm = inputs.calls_per_request * 60.0 / service_time_s.max(1e-9);
    let share = 1.0 / f64::from(inputs.replicas.max(1));
    let rpm_concurrency = inputs
        .rpm
        .map(|rpm| (HEADROOM * rpm * share / per_permit_rpm).floor().max(0.0) as u32);
    let otpm_concurrency = inputs.otpm.map(|otpm| {
        (HEADROOM * otpm * share / (per_permit_rpm * inputs.avg_output_tokens.max(1e-9)))
            .floor()
            .max(0.0) as u32
    });
    let max_concurrency = match (rpm_concurrency, otpm_concurrency) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    ProviderCeiling {
        max_concurrency,
        rpm_concurrency,
        otpm_concurrency,
        service_time_s,
        inputs: inputs.clone(),
    }
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
                otpm: Some(80_000.0),
                avg_output_tokens: 100.0,
                calls_per_request: 2.0,
                replicas: 1,
            },
            2.0,
        );
        assert_eq!(c.rpm_concurrency, Some(26));
        assert_eq!(c.otpm_concurrency, Some(10));
        assert_eq!(c.max_concurrency, Some(10));
    }

    #[test]
    fn no_tier_no_ceiling() {
        let c = ceiling(
            &ProviderInputs {
                rpm: None,
                otpm: None,
                avg_output_tokens: 100.0,
                calls_per_request: 2.0,
                replicas: 1,
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
            otpm: Some(80_000.0),
            avg_output_tokens: 100.0,
            calls_per_request: 2.0,
            replicas,
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
