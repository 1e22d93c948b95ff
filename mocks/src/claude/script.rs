//! The deterministic conversation: which tools to call for a question (all tickers in the
//! first turn, or `symbols_per_turn` of them per turn), and the analysis written from the tool
//! results, to a length drawn per request when the profile asks ([`super::verbosity`]).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use super::api::{ContentBlock, Message, Usage};
use super::request::{Block, MessagesRequest, Role, ToolChoice};
use super::verbosity::{self, Verbosity};

/// Upper-case words that are not ticker symbols.
const NOT_SYMBOLS: &[&str] = &[
    "I", "A", "AND", "ETF", "ETFS", "CEO", "CFO", "CTO", "THE", "OR", "OF", "TO", "IN", "ON", "IS",
    "IT", "US", "USA", "USD", "EU", "UK", "AI", "IPO", "EPS", "PE", "GDP", "API", "OK", "FAQ",
    "NYSE", "SEC", "FED", "AM", "PM", "ET", "UTC", "Q", "YOY", "ATH", "MY", "ME", "WE", "BE", "DO",
    "IF", "AT", "BY", "AN", "AS", "SO", "NO", "NOT", "FOR", "BUT", "ALL", "ANY", "CAN", "HOW",
    "WHY", "WHAT", "WHO", "ARE", "WAS", "VS", "TLDR", "FYI", "ASAP", "NOW",
];

/// At most this many symbols are looked up per question.
const MAX_SYMBOLS: usize = 10;

/// Ticker symbols in `text`: 1–5 capital letters, not common words, first mention first.
pub fn symbols(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for word in text.split(|c: char| !c.is_ascii_alphanumeric()) {
        let is_ticker =
            (1..=5).contains(&word.len()) && word.bytes().all(|b| b.is_ascii_uppercase());
        if is_ticker && !NOT_SYMBOLS.contains(&word) && !found.iter().any(|s| s == word) {
            found.push(word.to_string());
        }
    }
    found.truncate(MAX_SYMBOLS);
    found
}

/// Deterministic ids: `prefix` + base62 characters from the request's RNG.
fn make_id(rng: &mut ChaCha8Rng, prefix: &str) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let tail: String = (0..22)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{prefix}{tail}")
}

/// The request id for request number `n` of a server seeded with `seed`.
pub fn request_id(seed: u64, n: u64) -> String {
    let mut rng =
        ChaCha8Rng::seed_from_u64(seed.rotate_left(17) ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    make_id(&mut rng, "req_011")
}

/// The complete reply to a validated request. `id_seed` (from the request's RNG key: seed,
/// fingerprint, occurrence) seeds the ids, so they are unique per request and reproducible.
/// A reply longer than `max_tokens` stops there with `stop_reason: "max_tokens"`, as the API
/// does: blocks that fit are kept, a text block is cut, a tool call that does not fit is lost.
pub fn reply(req: &MessagesRequest, id_seed: u64, style: &Verbosity) -> Message {
    let mut rng = ChaCha8Rng::seed_from_u64(id_seed);
    let id = make_id(&mut rng, "msg_01");
    let (content, mut stop_reason) = respond(req, &mut rng, style);
    let mut output_tokens: u64 = content.iter().map(ContentBlock::output_tokens).sum();
    let content = if output_tokens > req.max_tokens {
        stop_reason = "max_tokens";
        output_tokens = req.max_tokens;
        truncate(content, req.max_tokens)
    } else {
        content
    };
    Message {
        id,
        kind: "message".into(),
        role: "assistant".into(),
        model: req.model.clone(),
        content,
        stop_reason: Some(stop_reason.into()),
        stop_sequence: None,
        usage: Usage {
            input_tokens: req.input_tokens,
            output_tokens,
            service_tier: "standard".into(),
            ..Usage::default()
        },
    }
}

/// The blocks generated within `budget` tokens.
fn truncate(content: Vec<ContentBlock>, budget: u64) -> Vec<ContentBlock> {
    let mut left = budget;
    let mut kept = Vec::new();
    for block in content {
        let cost = block.output_tokens();
        if cost <= left {
            left -= cost;
            kept.push(block);
            continue;
        }
        if let ContentBlock::Text { text } = block {
            let keep = usize::try_from(left)
                .unwrap_or(usize::MAX)
                .saturating_mul(4);
            let cut: String = text.chars().take(keep).collect();
            if !cut.is_empty() {
                kept.push(ContentBlock::Text { text: cut });
            }
        }
        break;
    }
    kept
}

fn respond(
    req: &MessagesRequest,
    rng: &mut ChaCha8Rng,
    style: &Verbosity,
) -> (Vec<ContentBlock>, &'static str) {
    let Some(last) = req.turns.last() else {
        return (vec![text("Hello.")], "end_turn");
    };
    if last.role == Role::Assistant {
        return (
            vec![text(" (continued) That is all the mock has to add.")],
            "end_turn",
        );
    }
    let has_results = last
        .blocks
        .iter()
        .any(|b| matches!(b, Block::ToolResult { .. }));
    // After tool results, the question is the conversation's first user text and the batches
    // continue from what was asked; a user text turn is a question of its own.
    let (question, asked) = if has_results {
        (question(req), asked_symbols(req))
    } else {
        (user_text(last), Vec::new())
    };
    let syms = symbols(&question);
    let calls = if has_results && style.symbols_per_turn == 0 {
        Vec::new()
    } else {
        next_batch(
            tool_calls(req, &question),
            &syms,
            &asked,
            style.symbols_per_turn,
        )
    };
    if calls.is_empty() {
        let answer = if has_results {
            analysis(req)
        } else {
            plain_answer(&question)
        };
        let words = question.split_whitespace().count();
        let answer = match style.target_tokens(syms.len(), words, rng) {
            Some(target) => verbosity::extend(answer, &syms, target),
            None => answer,
        };
        return (vec![text(&answer)], "end_turn");
    }
    let batch: Vec<&str> = syms
        .iter()
        .filter(|s| !asked.contains(s))
        .map(String::as_str)
        .filter(|s| calls.iter().any(|(_, input)| input["symbol"] == *s))
        .collect();
    let intro = match (batch.is_empty(), asked.is_empty()) {
        (true, _) => "I'll check the current market status.".to_string(),
        (false, true) => format!("I'll look up the latest data for {}.", batch.join(", ")),
        (false, false) => format!("Next, the data for {}.", batch.join(", ")),
    };
    // With a forced tool choice the real API answers with tool calls only, no preamble.
    let forced = matches!(req.tool_choice, ToolChoice::Any | ToolChoice::Tool(_));
    let mut blocks = if forced {
        Vec::new()
    } else {
        vec![text(&intro)]
    };
    for (name, input) in calls {
        blocks.push(ContentBlock::ToolUse {
            id: make_id(rng, "toolu_01"),
            name: name.into(),
            input,
        });
    }
    (blocks, "tool_use")
}

/// The text of the conversation's first user turn.
fn question(req: &MessagesRequest) -> String {
    req.turns
        .iter()
        .find(|t| t.role == Role::User)
        .map(user_text)
        .unwrap_or_default()
}

/// The text blocks of one turn, joined.
fn user_text(turn: &super::request::Turn) -> String {
    let texts: Vec<&str> = turn
        .blocks
        .iter()
        .filter_map(|b| match b {
            Block::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    texts.join("\n")
}

/// Symbols the assistant already asked a tool about, in this conversation.
fn asked_symbols(req: &MessagesRequest) -> Vec<String> {
    req.turns
        .iter()
        .filter(|t| t.role == Role::Assistant)
        .flat_map(|t| &t.blocks)
        .filter_map(|b| match b {
            Block::ToolUse { input, .. } => input.get("symbol")?.as_str().map(str::to_string),
            _ => None,
        })
        .collect()
}

/// The calls of this turn: every call when nothing was asked yet and `per_turn` is 0; else the
/// calls about the next `per_turn` symbols not yet asked (the market status with the first
/// batch). Empty when every symbol was asked.
fn next_batch(
    calls: Vec<(&'static str, Value)>,
    syms: &[String],
    asked: &[String],
    per_turn: u64,
) -> Vec<(&'static str, Value)> {
    let first_turn = asked.is_empty();
    if per_turn == 0 {
        return if first_turn { calls } else { Vec::new() };
    }
    let batch: Vec<&String> = syms
        .iter()
        .filter(|s| !asked.contains(s))
        .take(usize::try_from(per_turn).unwrap_or(usize::MAX))
        .collect();
    calls
        .into_iter()
        .filter(
            |(_, input)| match input.get("symbol").and_then(Value::as_str) {
                Some(s) => batch.iter().any(|b| b.as_str() == s),
                // The market status (or a forced call without a ticker): with the first batch.
                None => first_turn,
            },
        )
        .collect()
}

fn text(t: &str) -> ContentBlock {
    ContentBlock::Text {
        text: t.to_string(),
    }
}

/// The tool calls a question asks for, limited to the offered tools and the tool choice.
fn tool_calls(req: &MessagesRequest, question: &str) -> Vec<(&'static str, Value)> {
    if req.tool_choice == ToolChoice::None || req.tools.is_empty() {
        return Vec::new();
    }
    let offered = |name: &str| req.tools.iter().any(|t| t == name);
    let lower = question.to_lowercase();
    let wants_history = [
        "history",
        "historical",
        "trend",
        "past",
        "performance",
        "days",
        "week",
        "month",
        "chart",
    ]
    .iter()
    .any(|w| lower.contains(w));
    let wants_market = lower.contains("market");
    let days = requested_days(&lower).unwrap_or(30);
    let syms = symbols(question);
    let mut calls: Vec<(&'static str, Value)> = Vec::new();
    if offered("get_quote") {
        calls.extend(syms.iter().map(|s| ("get_quote", json!({"symbol": s}))));
    }
    if wants_history && offered("get_price_history") {
        calls.extend(
            syms.iter()
                .map(|s| ("get_price_history", json!({"symbol": s, "days": days}))),
        );
    }
    if wants_market && offered("get_market_status") {
        calls.push(("get_market_status", json!({})));
    }
    match &req.tool_choice {
        ToolChoice::Tool(name) => {
            calls.retain(|(n, _)| n == name);
            if calls.is_empty() {
                let symbol = syms.first().cloned().unwrap_or_else(|| "SPY".into());
                let name: &'static str = match name.as_str() {
                    "get_quote" => "get_quote",
                    "get_price_history" => "get_price_history",
                    "get_market_status" => "get_market_status",
                    _ => return calls,
                };
                let input = if name == "get_market_status" {
                    json!({})
                } else {
                    json!({"symbol": symbol})
                };
                calls.push((name, input));
            }
        }
        ToolChoice::Any if calls.is_empty() && offered("get_market_status") => {
            calls.push(("get_market_status", json!({})));
        }
        _ => {}
    }
    calls
}

/// "over the last 90 days" → 90 (1..=365).
fn requested_days(lower: &str) -> Option<u64> {
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    words
        .windows(2)
        .find_map(|w| match (w[0].parse::<u64>(), w[1]) {
            (Ok(n), "days" | "day") if (1..=365).contains(&n) => Some(n),
            _ => None,
        })
}

fn plain_answer(question: &str) -> String {
    let short: String = question.chars().take(120).collect();
    let syms = symbols(question);
    let about = if syms.is_empty() {
        String::from("no ticker symbols")
    } else {
        syms.join(", ")
    };
    format!("This is a deterministic mock answer to: \"{short}\". It mentions {about}. No tools were used.")
}

/// The end-of-turn analysis: quotes each result's numbers exactly, flags failed tools.
fn analysis(req: &MessagesRequest) -> String {
    let calls: Vec<(&str, &str, &Value)> = req
        .turns
        .iter()
        .flat_map(|t| &t.blocks)
        .filter_map(|b| match b {
            Block::ToolUse { id, name, input } => Some((id.as_str(), name.as_str(), input)),
            _ => None,
        })
        .collect();
    let mut lines = vec!["Analysis based on the data retrieved:".to_string()];
    let Some(last) = req.turns.last() else {
        return lines.join("\n");
    };
    for block in &last.blocks {
        let Block::ToolResult {
            tool_use_id,
            content,
            is_error,
        } = block
        else {
            continue;
        };
        let (name, input) = calls
            .iter()
            .rev()
            .find(|(id, _, _)| id == tool_use_id)
            .map(|(_, n, i)| (*n, *i))
            .unwrap_or(("unknown_tool", &Value::Null));
        let symbol = input
            .get("symbol")
            .and_then(Value::as_str)
            .unwrap_or("the market");
        lines.push(format!("- {}", describe(name, symbol, content, *is_error)));
    }
    lines.push("This is a mock analysis for load testing, not investment advice.".into());
    lines.join("\n")
}

fn describe(name: &str, symbol: &str, content: &str, is_error: bool) -> String {
    match (name, is_error) {
        ("get_quote", true) => format!("{symbol}: could not retrieve the quote."),
        ("get_price_history", true) => format!("{symbol}: could not retrieve the price history."),
        ("get_market_status", true) => "Market: could not retrieve the market status.".into(),
        (_, true) => format!("{name}: could not retrieve a result."),
        ("get_quote", false) => match number_text(content, "last") {
            Some(last) => format!("{symbol} last traded at {last}."),
            None => format!("{symbol}: the quote had no last price."),
        },
        ("get_price_history", false) => history_line(symbol, content),
        ("get_market_status", false) => {
            let v: Value = serde_json::from_str(content).unwrap_or(Value::Null);
            match v.get("is_open").and_then(Value::as_bool) {
                Some(true) => "Market: the market is open.".into(),
                Some(false) => "Market: the market is closed.".into(),
                None => "Market: status unknown.".into(),
            }
        }
        _ => format!(
            "{name} returned {} characters of data.",
            content.chars().count()
        ),
    }
}

fn history_line(symbol: &str, content: &str) -> String {
    let v: Value = serde_json::from_str(content).unwrap_or(Value::Null);
    let closes: Vec<f64> = v
        .get("bars")
        .and_then(Value::as_array)
        .map(|bars| {
            bars.iter()
                .filter_map(|b| b.get("close").and_then(Value::as_f64))
                .collect()
        })
        .unwrap_or_default();
    match (closes.first(), closes.last()) {
        (Some(first), Some(last)) if *first > 0.0 => format!(
            "{symbol} moved from {first} to {last} over {} trading days ({:+.2}%).",
            closes.len(),
            (last / first - 1.0) * 100.0
        ),
        _ => format!("{symbol}: the history had no bars."),
    }
}

/// The JSON number text of `"key": <number>` in `json`, exactly as written (no float round-trip).
pub fn number_text<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let needle = format!("\"{key}\"");
    let start = json.find(&needle)? + needle.len();
    let rest = json[start..].trim_start();
    let rest = rest.strip_prefix(':')?.trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E')))
        .unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_are_capital_words_that_are_not_common_words() {
        assert_eq!(
            symbols("Should I buy AAPL and MSFT? The CEO of NVDA said ETF... AAPL"),
            ["AAPL", "MSFT", "NVDA"]
        );
        assert!(symbols("how is the market today").is_empty());
        assert_eq!(symbols("$TSLA, GOOGL."), ["TSLA", "GOOGL"]);
    }

    #[test]
    fn number_text_keeps_the_exact_digits() {
        assert_eq!(
            number_text(r#"{"bid":1.5, "last" : 187.30,"x":1}"#, "last"),
            Some("187.30")
        );
        assert_eq!(number_text(r#"{"last":"abc"}"#, "last"), None);
        assert_eq!(requested_days("trend over the last 90 days"), Some(90));
    }
}
