//! Deterministic market data: a pure function of (symbol, seed).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde::Serialize;

use crate::common::dates::Date;
use crate::common::fnv::fnv1a;

/// The symbols the mock knows, with company names.
pub const UNIVERSE: &[(&str, &str)] = &[
    ("AAPL", "Apple Inc."),
    ("MSFT", "Microsoft Corporation"),
    ("GOOGL", "Alphabet Inc."),
    ("AMZN", "Amazon.com Inc."),
    ("NVDA", "NVIDIA Corporation"),
    ("META", "Meta Platforms Inc."),
    ("TSLA", "Tesla Inc."),
    ("JPM", "JPMorgan Chase & Co."),
    ("V", "Visa Inc."),
    ("JNJ", "Johnson & Johnson"),
    ("WMT", "Walmart Inc."),
    ("XOM", "Exxon Mobil Corporation"),
    ("PG", "Procter & Gamble Co."),
    ("MA", "Mastercard Inc."),
    ("HD", "Home Depot Inc."),
    ("KO", "Coca-Cola Co."),
    ("PEP", "PepsiCo Inc."),
    ("NFLX", "Netflix Inc."),
    ("AMD", "Advanced Micro Devices Inc."),
    ("INTC", "Intel Corporation"),
    ("DIS", "Walt Disney Co."),
    ("BA", "Boeing Co."),
    ("IBM", "International Business Machines"),
    ("ORCL", "Oracle Corporation"),
    ("CSCO", "Cisco Systems Inc."),
    ("CRM", "Salesforce Inc."),
    ("SPY", "SPDR S&P 500 ETF Trust"),
    ("QQQ", "Invesco QQQ Trust"),
];

/// Trading days of history the mock holds per symbol (the `days` parameter's maximum).
pub const MAX_HISTORY_DAYS: usize = 365;

/// The "today" of the data set: 2025-12-31 (days since 1970-01-01), a fixed close.
const AS_OF_DAY: i64 = 20_453;
const AS_OF: &str = "2025-12-31T21:00:00Z";

/// A quote (`GET /v1/quotes/{symbol}`).
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct Quote {
    /// Ticker symbol.
    pub symbol: String,
    /// Company name.
    pub name: String,
    /// Best bid.
    pub bid: f64,
    /// Best ask.
    pub ask: f64,
    /// Last trade price (the latest daily close).
    pub last: f64,
    /// Shares traded in the latest session.
    pub volume: u64,
    /// Currency of the prices.
    pub currency: &'static str,
    /// Time of the quote (RFC 3339).
    pub timestamp: &'static str,
}

/// One daily OHLCV bar.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct Bar {
    /// Trading day (YYYY-MM-DD).
    pub date: String,
    /// Opening price.
    pub open: f64,
    /// Highest price.
    pub high: f64,
    /// Lowest price.
    pub low: f64,
    /// Closing price.
    pub close: f64,
    /// Shares traded.
    pub volume: u64,
}

/// Daily history (`GET /v1/history/{symbol}?days=N`), oldest bar first.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct History {
    /// Ticker symbol.
    pub symbol: String,
    /// Number of bars.
    pub days: usize,
    /// The bars, oldest first; the last close equals the quote's `last`.
    pub bars: Vec<Bar>,
}

/// Market status (`GET /v1/market/status`).
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct MarketStatus {
    /// Exchange.
    pub market: &'static str,
    /// Whether the regular session is open.
    pub is_open: bool,
    /// "regular", "pre", "post" or "closed".
    pub session: &'static str,
    /// Time of this status (RFC 3339).
    pub as_of: &'static str,
    /// Next opening time (RFC 3339).
    pub next_open: &'static str,
    /// Next closing time (RFC 3339).
    pub next_close: &'static str,
    /// S&P 500 change today, percent (two decimals), from the seed.
    pub spx_change_pct: f64,
}

/// The canonical form of a known symbol (case-insensitive), or `None`.
pub fn lookup(symbol: &str) -> Option<(&'static str, &'static str)> {
    UNIVERSE
        .iter()
        .copied()
        .find(|(s, _)| s.eq_ignore_ascii_case(symbol))
}

/// Rounds to cents.
fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn rng_for(symbol: &str, seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed ^ fnv1a(symbol.as_bytes()))
}

/// The full history of a known symbol, oldest first, `MAX_HISTORY_DAYS` trading days.
fn full_history(symbol: &str, seed: u64) -> Vec<Bar> {
    let mut rng = rng_for(symbol, seed);
    let mut close = cents(rng.random_range(20.0..600.0));
    let daily = Normal::new(0.0005, 0.015).unwrap_or_else(|_| unreachable!("constant parameters"));
    let mut bars = Vec::with_capacity(MAX_HISTORY_DAYS);
    let mut day = AS_OF_DAY;
    // Walk back in time from today's close; each step derives the previous close.
    while bars.len() < MAX_HISTORY_DAYS {
        if !Date::is_weekend(day) {
            let ret: f64 = daily.sample(&mut rng);
            let open = cents((close / (1.0 + ret * 0.5)).max(0.01));
            let high = cents(open.max(close) * (1.0 + rng.random_range(0.0..0.01)));
            let low = cents((open.min(close) * (1.0 - rng.random_range(0.0..0.01))).max(0.01));
            let volume = rng.random_range(1_000_000..60_000_000);
            bars.push(Bar {
                date: Date::from_days(day).to_string(),
                open,
                high,
                low,
                close,
                volume,
            });
            close = cents((close / (1.0 + ret)).max(0.01));
        }
        day -= 1;
    }
    bars.reverse();
    bars
}

/// The quote of a known symbol.
pub fn quote(symbol: &str, seed: u64) -> Option<Quote> {
    let (symbol, name) = lookup(symbol)?;
    let latest = full_history(symbol, seed).pop()?;
    let half_spread = cents((latest.close * 0.0002).max(0.01));
    Some(Quote {
        symbol: symbol.to_string(),
        name: name.to_string(),
        bid: cents(latest.close - half_spread),
        ask: cents(latest.close + half_spread),
        last: latest.close,
        volume: latest.volume,
        currency: "USD",
        timestamp: AS_OF,
    })
}

/// The last `days` bars of a known symbol (`days` must be 1..=MAX_HISTORY_DAYS).
pub fn history(symbol: &str, days: usize, seed: u64) -> Option<History> {
    let (symbol, _) = lookup(symbol)?;
    let mut bars = full_history(symbol, seed);
    let days = days.clamp(1, MAX_HISTORY_DAYS);
    let bars = bars.split_off(bars.len() - days);
    Some(History {
        symbol: symbol.to_string(),
        days: bars.len(),
        bars,
    })
}

/// The market status for `seed`.
pub fn market_status(seed: u64) -> MarketStatus {
    let mut rng = rng_for("^MARKET", seed);
    MarketStatus {
        market: "NYSE",
        is_open: false,
        session: "closed",
        as_of: AS_OF,
        next_open: "2026-01-02T14:30:00Z",
        next_close: "2026-01-02T21:00:00Z",
        spx_change_pct: cents(rng.random_range(-2.5..2.5)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_is_a_pure_function_of_symbol_and_seed() {
        assert_eq!(quote("AAPL", 42), quote("aapl", 42));
        assert_ne!(quote("AAPL", 42), quote("AAPL", 43));
        assert_ne!(
            quote("AAPL", 42).map(|q| q.last),
            quote("MSFT", 42).map(|q| q.last)
        );
        assert_eq!(quote("NOPE", 42), None);
    }

    #[test]
    fn quote_is_consistent_with_history_and_has_two_decimals() {
        let q = quote("NVDA", 7).unwrap();
        let h = history("NVDA", 30, 7).unwrap();
        assert_eq!(h.bars.len(), 30);
        assert_eq!(h.bars.last().unwrap().close, q.last);
        assert!(q.bid < q.last && q.last < q.ask);
        for b in &h.bars {
            assert!(
                b.low <= b.open.min(b.close) && b.high >= b.open.max(b.close),
                "{b:?}"
            );
            for p in [b.open, b.high, b.low, b.close] {
                assert_eq!(cents(p), p);
            }
        }
        assert_eq!(h.bars.last().unwrap().date, "2025-12-31");
        assert!(h.bars.windows(2).all(|w| w[0].date < w[1].date));
    }
}
