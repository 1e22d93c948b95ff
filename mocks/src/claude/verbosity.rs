//! How a model varies: the length of its final analysis and how many tickers it looks up per
//! turn. Both are profile knobs; their defaults (0) keep the fixed script, so a default mock
//! answers one question with one reply, token for token.
//!
//! With `reply_tokens_median > 0` the analysis is written on to a target length drawn per
//! request from a lognormal, `median × scale × exp(sigma × Z)`, where `scale = (1 + 0.5 ×
//! (tickers − 1)) × (1 + question words / 100)` grows with the tickers and the question, and `Z`
//! is a standard normal from the request's own seeded stream (seed, fingerprint, occurrence):
//! reproducible, yet one question asked twice gets two lengths, as from a real model.

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use super::api::tokens;

/// Longest target an analysis is written to, in tokens; `max_tokens` cuts it earlier anyway.
pub const MAX_REPLY_TOKENS: u64 = 32_000;

/// The knobs, as they appear in profiles, flags and admin JSON.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Default)]
#[serde(default)]
pub struct Verbosity {
    /// Median output tokens of the final analysis of a one-ticker, short question (0 = the
    /// fixed script: one line per tool result).
    pub reply_tokens_median: u64,
    /// Spread of the analysis length: the lognormal's sigma (0 = always the scaled median).
    pub reply_tokens_sigma: f64,
    /// Tickers looked up per model turn (0 = every ticker in the first turn). With 2, a
    /// five-ticker question takes three tool turns and a fourth call for the analysis.
    pub symbols_per_turn: u64,
}

impl Verbosity {
    /// Checks the knobs, naming the one at fault.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.reply_tokens_sigma.is_finite() && (0.0..=3.0).contains(&self.reply_tokens_sigma))
        {
            return Err(format!(
                "reply_tokens_sigma must be from 0 to 3, got {}",
                self.reply_tokens_sigma
            ));
        }
        if self.reply_tokens_median > MAX_REPLY_TOKENS {
            return Err(format!(
                "reply_tokens_median must be at most {MAX_REPLY_TOKENS}, got {}",
                self.reply_tokens_median
            ));
        }
        Ok(())
    }

    /// The analysis' target length in tokens for a question with `tickers` symbols and `words`
    /// words, or `None` when the knob is off.
    pub fn target_tokens(&self, tickers: usize, words: usize, rng: &mut impl Rng) -> Option<u64> {
        if self.reply_tokens_median == 0 {
            return None;
        }
        let scale = (1.0 + 0.5 * tickers.saturating_sub(1) as f64) * (1.0 + words as f64 / 100.0);
        let z: f64 = StandardNormal.sample(rng);
        let target = self.reply_tokens_median as f64 * scale * (self.reply_tokens_sigma * z).exp();
        Some((target.round() as u64).clamp(1, MAX_REPLY_TOKENS))
    }
}

/// Commentary sentences the analysis is written on with; `{}` is a ticker.
const SENTENCES: &[&str] = &[
    "{} trades in line with its sector over the period, with volume near its recent average.",
    "For {}, the spread between bid and ask stayed narrow, a sign of steady liquidity.",
    "Momentum in {} is mixed: short-term strength against a flatter longer trend.",
    "Valuation of {} depends on the growth its guidance implies; the data alone cannot settle it.",
    "A position in {} should be sized to the risk the portfolio can carry, not to the last move.",
    "News flow around {} may move the price more than the figures retrieved here.",
];

/// `text` written on with commentary about `symbols` until it is at least `target` tokens.
pub fn extend(mut text: String, symbols: &[String], target: u64) -> String {
    let market = ["the market".to_string()];
    let symbols = if symbols.is_empty() {
        &market[..]
    } else {
        symbols
    };
    let mut i = 0usize;
    while tokens(&text) < target {
        let sentence = SENTENCES[i % SENTENCES.len()];
        let symbol = &symbols[(i / SENTENCES.len() + i) % symbols.len()];
        text.push(if i.is_multiple_of(3) { '\n' } else { ' ' });
        text.push_str(&sentence.replace("{}", symbol));
        i += 1;
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn off_by_default_so_the_fixed_script_stays() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert_eq!(Verbosity::default().target_tokens(3, 40, &mut rng), None);
    }

    #[test]
    fn lengths_follow_the_lognormal_median_and_grow_with_tickers_and_words() {
        let v = Verbosity {
            reply_tokens_median: 100,
            reply_tokens_sigma: 0.5,
            symbols_per_turn: 0,
        };
        let draws = |tickers, words| -> Vec<u64> {
            let mut rng = ChaCha8Rng::seed_from_u64(7);
            let mut d: Vec<u64> = (0..2001)
                .map(|_| v.target_tokens(tickers, words, &mut rng).unwrap())
                .collect();
            d.sort_unstable();
            d
        };
        let one = draws(1, 0);
        // The sample median of 2001 lognormal draws is within 5% of the median.
        assert!((95..=105).contains(&one[1000]), "median {}", one[1000]);
        // p84 ≈ median × e^σ = 165 for σ = 0.5.
        let p84 = one[(2001.0 * 0.8413) as usize];
        assert!((150..=180).contains(&p84), "p84 {p84}");
        let five = draws(5, 100);
        // scale (1 + 0.5 × 4) × (1 + 1) = 6.
        assert!((570..=630).contains(&five[1000]), "median {}", five[1000]);
    }

    #[test]
    fn extend_writes_to_the_target_length_naming_the_tickers() {
        let t = extend("Analysis:".into(), &["AAPL".into(), "MSFT".into()], 200);
        assert!(tokens(&t) >= 200 && tokens(&t) < 230, "{}", tokens(&t));
        assert!(t.contains("AAPL") && t.contains("MSFT"));
        assert_eq!(extend("short".into(), &[], 1), "short");
    }

    #[test]
    fn out_of_range_knobs_are_refused() {
        let bad = Verbosity {
            reply_tokens_sigma: -1.0,
            ..Verbosity::default()
        };
        assert!(bad.validate().unwrap_err().contains("reply_tokens_sigma"));
    }
}
