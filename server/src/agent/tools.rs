//! The three tools offered to the model and how each maps to a Trading API request.

use serde_json::{json, Value};

use crate::upstream::messages::ToolDefinition;

/// Longest price history a tool call may ask for.
pub const MAX_HISTORY_DAYS: u64 = 365;

/// Tool definitions sent with every model call.
pub fn definitions() -> Vec<ToolDefinition> {
    vec![
        ToolDefinition {
            name: "get_quote".into(),
            description: "Get the latest quote (last price, bid, ask, volume, day change) for a stock symbol.".into(),
            input_schema: json!({
                "type": "object",
                "properties": {"symbol": {"type": "string", "description": "Ticker symbol, e.g. AAPL"}},
                "required": ["symbol"]
            }),
        },
        ToolDefinition {
            name: "get_price_history".into(),
            description: "Get daily closing prices for a stock symbol over the last N days.".into(),
            input_schema: json!({
                "type": "object",
                "properties": {
                    "symbol": {"type": "string", "description": "Ticker symbol, e.g. AAPL"},
                    "days": {"type": "integer", "minimum": 1, "maximum": MAX_HISTORY_DAYS, "default": 30}
                },
                "required": ["symbol"]
            }),
        },
        ToolDefinition {
            name: "get_market_status".into(),
            description: "Get whether the market is open and the current session times.".into(),
            input_schema: json!({"type": "object", "properties": {}}),
        },
    ]
}

/// True for a plausible ticker: 1–10 characters of A–Z, 0–9, `.` or `-`, starting with a letter
/// or digit — so `.` and `..` cannot become path segments of a Trading API URL.
pub fn is_valid_symbol(symbol: &str) -> bool {
    (1..=10).contains(&symbol.len())
        && symbol.starts_with(|c: char| c.is_ascii_uppercase() || c.is_ascii_digit())
        && symbol
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '.' || c == '-')
}

fn symbol_of(input: &Value) -> Result<String, String> {
    let raw = input
        .get("symbol")
        .and_then(Value::as_str)
        .ok_or("missing string field \"symbol\"")?;
    let symbol = raw.trim().to_ascii_uppercase();
    if is_valid_symbol(&symbol) {
        Ok(symbol)
    } else {
        Err(format!("{raw:?} is not a valid ticker symbol"))
    }
}

/// The Trading API path (and query) for a tool call, or why the call is invalid.
pub fn trading_path(name: &str, input: &Value) -> Result<String, String> {
    match name {
        "get_quote" => Ok(format!("/v1/quotes/{}", symbol_of(input)?)),
        "get_price_history" => {
            let days = match input.get("days") {
                None | Some(Value::Null) => 30,
                Some(v) => v
                    .as_u64()
                    .filter(|d| (1..=MAX_HISTORY_DAYS).contains(d))
                    .ok_or_else(|| {
                        format!("\"days\" must be an integer from 1 to {MAX_HISTORY_DAYS}")
                    })?,
            };
            Ok(format!("/v1/history/{}?days={days}", symbol_of(input)?))
        }
        "get_market_status" => Ok("/v1/market/status".into()),
        other => Err(format!("unknown tool {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_map_to_the_trading_contract() {
        assert_eq!(
            trading_path("get_quote", &json!({"symbol": "aapl"})),
            Ok("/v1/quotes/AAPL".into())
        );
        assert_eq!(
            trading_path("get_price_history", &json!({"symbol": "MSFT", "days": 7})),
            Ok("/v1/history/MSFT?days=7".into())
        );
        assert_eq!(
            trading_path("get_price_history", &json!({"symbol": "MSFT"})),
            Ok("/v1/history/MSFT?days=30".into())
        );
        assert_eq!(
            trading_path("get_market_status", &json!({})),
            Ok("/v1/market/status".into())
        );
    }

    #[test]
    fn bad_tool_input_is_an_error_not_a_path() {
        assert!(trading_path("get_quote", &json!({"symbol": "../admin"})).is_err());
        for dots in [".", "..", "-", ".A"] {
            assert!(!is_valid_symbol(dots), "{dots:?} must not pass");
        }
        assert!(is_valid_symbol("BRK.B") && is_valid_symbol("BF-B"));
        assert!(trading_path("get_quote", &json!({})).is_err());
        assert!(trading_path("get_price_history", &json!({"symbol": "A", "days": 0})).is_err());
        assert!(trading_path("delete_account", &json!({})).is_err());
    }

    #[test]
    fn every_definition_has_an_object_schema() {
        let defs = definitions();
        assert_eq!(defs.len(), 3);
        assert!(defs.iter().all(|d| d.input_schema["type"] == "object"));
    }
}
