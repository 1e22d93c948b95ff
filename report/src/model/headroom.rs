//! The provider headroom from the measured spread of demand, beside the fixed share
//! ([`provider::HEADROOM`]). N permits busy with analyses of mean service time S complete
//! M = 60·N/S analyses a minute; a minute's demand on a budget is the sum of M analyses' demands
//! (model calls, input tokens or output tokens), each drawn from the distribution the server's
//! per-analysis histogram measured. By the central limit theorem (a normal approximation from
//! the histogram's mean and bucket-estimated variance) its 99th percentile is
//! M·μ + z₀.₉₉·√M·σ. The largest N whose p99 stays within every budget plans for the spread the
//! run measured, where a fixed 80% plans for none: with little spread it lets N go nearer the
//! tier, with much it holds N further back.

use statrs::distribution::{ContinuousCDF, Normal};

use crate::measure::spread::{Quantity, Spread};
use crate::model::provider::{self, BudgetLine, Headroom, ProviderCeiling};

/// The percentile of a minute's demand that must stay within each budget.
pub const PERCENTILE: f64 = 0.99;

/// The normal quantile z for [`PERCENTILE`].
fn z() -> f64 {
    Normal::new(0.0, 1.0)
        .map(|n| n.inverse_cdf(PERCENTILE))
        .unwrap_or(2.326)
}

/// The largest M (analyses a minute) with M·μ + z·√M·σ ≤ budget: the positive root of
/// μx² + zσx − B = 0 in x = √M, squared.
pub fn analyses_within(budget: f64, mean: f64, stdev: f64, z: f64) -> f64 {
    if mean <= 0.0 {
        return f64::INFINITY;
    }
    let x = (-z * stdev + ((z * stdev).powi(2) + 4.0 * mean * budget).sqrt()) / (2.0 * mean);
    x.max(0.0).powi(2)
}

/// The headroom for `ceiling`, with the measured `spread` when the server exported it.
pub fn of(ceiling: &ProviderCeiling, spread: Option<&Spread>) -> Headroom {
    let i = &ceiling.inputs;
    let share = 1.0 / f64::from(i.replicas.max(1));
    let s = ceiling.service_time_s.max(1e-9);
    let per_n = 60.0 / s; // analyses a minute per busy permit
    let z = z();
    let pick = |q: Option<&Quantity>, fallback: f64| match q {
        Some(q) => (q.mean, Some(q.stdev)),
        None => (fallback, None),
    };
    let calls = pick(
        spread.and_then(|s| s.model_calls.as_ref()),
        i.calls_per_request,
    );
    let input = pick(
        spread.and_then(|s| s.input_tokens.as_ref()),
        i.calls_per_request * i.avg_input_tokens,
    );
    let output = pick(
        spread.and_then(|s| s.output_tokens.as_ref()),
        i.calls_per_request * i.avg_output_tokens,
    );
    let budgets: Vec<BudgetLine> = [
        ("requests", i.rpm, calls),
        ("input tokens", i.itpm, input),
        ("output tokens", i.otpm, output),
    ]
    .into_iter()
    .filter_map(|(name, budget, (mean, stdev))| {
        let per_minute = budget? * share;
        let n = |m: f64| (m / per_n).floor().clamp(0.0, f64::from(u32::MAX)) as u32;
        Some(BudgetLine {
            budget: name,
            per_minute,
            per_analysis_mean: mean,
            per_analysis_stdev: stdev,
            n_at_full: n(per_minute / mean.max(1e-9)),
            n_at_p99: stdev.map(|sd| n(analyses_within(per_minute, mean, sd, z))),
        })
    })
    .collect();
    let p99 = budgets
        .iter()
        .map(|b| b.n_at_p99.map(|n| (b.budget, n)))
        .collect::<Option<Vec<_>>>()
        .and_then(|v| v.into_iter().min_by_key(|&(_, n)| n));
    let fixed_n = ceiling.max_concurrency;
    let (used, why) = match p99 {
        Some((b, n)) => (
            "p99 of measured demand",
            format!(
                "N = {n}: the largest N whose demand per minute stays within every budget at the \
                 99th percentile of the spread the server measured per analysis ({b} binds), \
                 used in place of the fixed {:.0}% ({}) because it plans for this traffic's \
                 variability instead of assuming it",
                provider::HEADROOM * 100.0,
                fixed_n.map_or("n/a".into(), |n| format!("N = {n}")),
            ),
        ),
        None => (
            "fixed share",
            format!(
                "the fixed {:.0}% of every budget: the server exported no per-analysis histogram \
                 for every budget (analyze_model_calls, analyze_input_tokens, \
                 analyze_output_tokens), so the spread of demand is unknown",
                provider::HEADROOM * 100.0
            ),
        ),
    };
    Headroom {
        budgets,
        fixed_n,
        fixed_share: provider::HEADROOM,
        p99_n: p99.map(|p| p.1),
        p99_binding: p99.map(|p| p.0),
        used,
        why,
        method: "normal approximation of a minute's summed demand (M = 60·N/S analyses, mean \
                 M·μ, variance M·σ², μ exact from _sum/_count, σ from the buckets' midpoints)",
    }
}

/// The ceiling the recommendation plans with: with a measured spread for every budget, the p99
/// figure replaces the fixed share's N (each budget's N too); the headroom is attached either way.
pub fn apply(mut ceiling: ProviderCeiling, spread: Option<&Spread>) -> ProviderCeiling {
    let h = of(&ceiling, spread);
    if let (Some(n), Some(b)) = (h.p99_n, h.p99_binding) {
        ceiling.max_concurrency = Some(n);
        ceiling.binding = Some(b);
        for line in &h.budgets {
            let slot = match line.budget {
                "requests" => &mut ceiling.rpm_concurrency,
                "input tokens" => &mut ceiling.itpm_concurrency,
                _ => &mut ceiling.otpm_concurrency,
            };
            *slot = line.n_at_p99;
        }
    }
    ceiling.headroom = Some(h);
    ceiling
}

/// How the ceiling's N was sized, for the recommendation's sentence: "at the 99th percentile
/// of …" or "at 80% of the tier".
pub fn phrase(c: &ProviderCeiling) -> String {
    match &c.headroom {
        Some(h) if h.p99_n.is_some() => format!(
            "with every budget's demand per minute within it at the 99th percentile of the \
             measured spread per analysis ({}, fixed {:.0}% would give {})",
            h.used,
            h.fixed_share * 100.0,
            h.fixed_n.map_or("n/a".into(), |n| n.to_string())
        ),
        _ => format!("at {:.0}% of the tier", provider::HEADROOM * 100.0),
    }
}

/// The recommended N's mean demand as a share of each budget: (budget, share).
pub fn shares(h: &Headroom, n: u32, service_time_s: f64) -> Vec<(&'static str, f64)> {
    let per_minute = 60.0 * f64::from(n) / service_time_s.max(1e-9);
    h.budgets
        .iter()
        .map(|b| {
            (
                b.budget,
                per_minute * b.per_analysis_mean / b.per_minute.max(1e-9),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::spread::Quantity;
    use crate::model::provider::{ceiling, ProviderInputs};

    fn q(mean: f64, stdev: f64) -> Quantity {
        Quantity {
            metric: "m".into(),
            analyses: 100.0,
            mean,
            stdev,
            p50: mean,
            p50_bucket: [0.0, 0.0],
            p95: mean,
            p95_bucket: [0.0, 0.0],
            label: "measured",
        }
    }

    fn demo(spread_sd: f64) -> (ProviderCeiling, Spread) {
        // The demo tier with one fixed body: 2 calls of 285 input and 29.5 output tokens in 1.44 s.
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
        let s = Spread {
            model_calls: Some(q(2.0, 0.0)),
            input_tokens: Some(q(570.0, spread_sd)),
            output_tokens: Some(q(59.0, 0.0)),
        };
        (c, s)
    }

    #[test]
    fn the_p99_of_a_minutes_demand_fits_the_budget_exactly_at_the_root() {
        let (b, m, sd) = (400_000.0, 570.0, 200.0);
        let z = z();
        let a = analyses_within(b, m, sd, z);
        assert!((a * m + z * a.sqrt() * sd - b).abs() < 1e-6);
        // No spread: the whole budget.
        assert!((analyses_within(b, m, 0.0, z) - b / m).abs() < 1e-9);
    }

    #[test]
    fn little_spread_plans_nearer_the_tier_than_80_percent_and_much_spread_further_back() {
        // One body (no spread): 400k / (41.7 analyses a minute per permit × 570) = 16.8 → 16,
        // against 13 at 80% (the issue measured 16 at 0 upstream 429s, 96% of the best).
        let (c, s) = demo(0.0);
        let h = of(&c, Some(&s));
        assert_eq!(h.fixed_n, Some(13));
        assert_eq!((h.p99_n, h.p99_binding), (Some(16), Some("input tokens")));
        assert_eq!(h.used, "p99 of measured demand");
        let input = &h.budgets[1];
        assert_eq!((input.budget, input.n_at_full), ("input tokens", 16));
        let applied = apply(c.clone(), Some(&s));
        assert_eq!(applied.max_concurrency, Some(16));
        // A huge spread per analysis (sd 20× the mean) holds N below the fixed 80%.
        let (c, s) = demo(570.0 * 20.0);
        let h = of(&c, Some(&s));
        assert!(h.p99_n.unwrap() < 13, "{h:?}");
        let shares = shares(&h, 13, 1.44);
        assert!((shares[1].1 - 13.0 * 60.0 / 1.44 * 570.0 / 400_000.0).abs() < 1e-9);
    }

    #[test]
    fn without_histograms_the_fixed_share_is_used_and_says_why() {
        let (c, _) = demo(0.0);
        let applied = apply(c, None);
        let h = applied.headroom.as_ref().unwrap();
        assert_eq!((h.used, h.p99_n), ("fixed share", None));
        assert!(h.why.contains("no per-analysis histogram"), "{}", h.why);
        assert_eq!(applied.max_concurrency, Some(13));
        assert_eq!(h.budgets.len(), 3);
    }
}
