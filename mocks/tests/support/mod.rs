//! Helpers shared by the integration tests: start mocks in one line, send official requests.
#![allow(dead_code)]

use mocks::{spawn_claude, spawn_trading, ClaudeSettings, MockHandle, TradingSettings};
use serde_json::{json, Value};

/// The three tools the server offers, as in docs/CONTRACTS.md.
pub fn tools() -> Value {
    json!([
        {"name": "get_quote", "description": "Latest quote for a symbol",
         "input_schema": {"type": "object", "properties": {"symbol": {"type": "string"}}, "required": ["symbol"]}},
        {"name": "get_price_history", "description": "Daily bars",
         "input_schema": {"type": "object", "properties": {"symbol": {"type": "string"}, "days": {"type": "integer"}}, "required": ["symbol"]}},
        {"name": "get_market_status", "description": "Is the market open",
         "input_schema": {"type": "object", "properties": {}}}
    ])
}

/// A first-turn request asking about `question` with the three tools.
pub fn first_turn(question: &str) -> Value {
    json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "system": "You are a trading analyst.",
        "tools": tools(),
        "messages": [{"role": "user", "content": question}]
    })
}

/// A mock Claude with `f` applied to default settings.
pub async fn claude(f: impl FnOnce(&mut ClaudeSettings)) -> MockHandle {
    let mut s = ClaudeSettings::default();
    f(&mut s);
    spawn_claude(s).await.expect("mock claude starts")
}

/// A mock Trading API with `f` applied to default settings.
pub async fn trading(f: impl FnOnce(&mut TradingSettings)) -> MockHandle {
    let mut s = TradingSettings::default();
    f(&mut s);
    spawn_trading(s).await.expect("mock trading starts")
}

/// POST /v1/messages with official headers.
pub async fn post_messages(client: &reqwest::Client, url: &str, body: &Value) -> reqwest::Response {
    client
        .post(format!("{url}/v1/messages"))
        .header("x-api-key", "sk-test")
        .header("anthropic-version", "2023-06-01")
        .json(body)
        .send()
        .await
        .expect("request sent")
}

/// Status and parsed JSON of a response.
pub async fn status_json(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let body = r.json::<Value>().await.expect("json body");
    (status, body)
}

/// POST a JSON admin patch; asserts it was accepted.
pub async fn set_faults(url: &str, patch: Value) {
    let r = reqwest::Client::new()
        .post(format!("{url}/__admin/faults"))
        .json(&patch)
        .send()
        .await
        .expect("admin reachable");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
}
