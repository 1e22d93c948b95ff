//! Helpers shared by the integration tests: start mocks in one line, send official requests.

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

/// Reads a JSON fixture from tests/fixtures.
pub fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Differences in keys and JSON types between `expected` (a fixture) and `actual`, ignoring
/// `_source` notes. Array items are compared by their `type` tag when they have one.
pub fn shape_diff(expected: &Value, actual: &Value, path: &str) -> Vec<String> {
    let mut out = Vec::new();
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e.iter().filter(|(k, _)| *k != "_source") {
                match a.get(k) {
                    None => out.push(format!("{path}.{k}: missing")),
                    Some(av) => out.extend(shape_diff(ev, av, &format!("{path}.{k}"))),
                }
            }
            for k in a.keys().filter(|k| !e.contains_key(*k)) {
                out.push(format!("{path}.{k}: not in the official shape"));
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            for (i, av) in a.iter().enumerate() {
                let tag = av.get("type");
                let model = e.iter().find(|ev| ev.get("type") == tag).or(e.first());
                if let Some(ev) = model {
                    out.extend(shape_diff(ev, av, &format!("{path}[{i}]")));
                }
            }
        }
        // Nullable fields: a fixture null accepts a string and the reverse.
        (Value::Null, Value::String(_)) | (Value::String(_), Value::Null) => {}
        (e, a) if kind(e) != kind(a) => {
            out.push(format!("{path}: expected {}, got {}", kind(e), kind(a)))
        }
        _ => {}
    }
    out
}

/// Parses an SSE body into (event name, data JSON) pairs.
pub fn parse_sse(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter(|chunk| !chunk.trim().is_empty())
        .map(|chunk| {
            let mut name = String::new();
            let mut data = String::new();
            for line in chunk.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    name = v.to_string();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data.push_str(v);
                }
            }
            (
                name,
                serde_json::from_str(&data).unwrap_or_else(|e| panic!("bad data {data:?}: {e}")),
            )
        })
        .collect()
}

/// Rebuilds the final message from stream events, as an SDK's accumulator does.
pub fn accumulate(events: &[(String, Value)]) -> Value {
    let mut message = Value::Null;
    let mut partial_json: Vec<String> = Vec::new();
    for (name, data) in events {
        assert_eq!(data["type"], name.as_str(), "event name matches data.type");
        match name.as_str() {
            "message_start" => message = data["message"].clone(),
            "content_block_start" => {
                message["content"]
                    .as_array_mut()
                    .unwrap()
                    .push(data["content_block"].clone());
                partial_json.push(String::new());
            }
            "content_block_delta" => {
                let i = data["index"].as_u64().unwrap() as usize;
                let delta = &data["delta"];
                match delta["type"].as_str().unwrap() {
                    "text_delta" => {
                        let block = &mut message["content"][i]["text"];
                        *block = Value::String(format!(
                            "{}{}",
                            block.as_str().unwrap(),
                            delta["text"].as_str().unwrap()
                        ));
                    }
                    "input_json_delta" => {
                        partial_json[i].push_str(delta["partial_json"].as_str().unwrap())
                    }
                    other => panic!("unknown delta {other}"),
                }
            }
            "content_block_stop" => {
                let i = data["index"].as_u64().unwrap() as usize;
                if message["content"][i]["type"] == "tool_use" {
                    message["content"][i]["input"] =
                        serde_json::from_str(&partial_json[i]).unwrap();
                }
            }
            "message_delta" => {
                message["stop_reason"] = data["delta"]["stop_reason"].clone();
                message["stop_sequence"] = data["delta"]["stop_sequence"].clone();
                message["usage"]["output_tokens"] = data["usage"]["output_tokens"].clone();
            }
            "ping" | "message_stop" | "error" => {}
            other => panic!("unknown event {other}"),
        }
    }
    message
}
