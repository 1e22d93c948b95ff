//! Inputs from upstream are bounded: a Trading API answer over `TRADING_MAX_BODY_BYTES` never
//! reaches the model, and the model gets at most `MAX_TOOL_CALLS_PER_TURN` tool calls run per turn.

use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::support::{claude_reply, settings, ScriptedClaude, TestServer};

/// The last user message's `tool_result` blocks, from the model calls wiremock received.
async fn last_tool_results(claude: &MockServer) -> Vec<Value> {
    let requests = claude.received_requests().await.expect("recorded");
    let body: Value =
        serde_json::from_slice(&requests.last().expect("a model call").body).expect("json body");
    body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .and_then(|m| m["content"].as_array())
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn a_trading_answer_over_the_cap_becomes_a_tool_error_not_model_input() {
    let trading = MockServer::start().await;
    let huge = format!(r#"{{"symbol":"AAPL","pad":"{}"}}"#, "x".repeat(64 * 1024));
    Mock::given(method("GET"))
        .and(path("/v1/quotes/AAPL"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(huge, "application/json"))
        .mount(&trading)
        .await;
    let claude = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ScriptedClaude)
        .mount(&claude)
        .await;
    let mut s = settings(&trading.uri(), &claude.uri());
    s.trading.max_body_bytes = 4096;
    let server = TestServer::start(s).await;
    let response = server
        .analyze(&reqwest::Client::new(), json!({"query": "AAPL?"}))
        .await;
    assert_eq!(response.status(), 200);
    let results = last_tool_results(&claude).await;
    assert_eq!(results.len(), 1, "{results:?}");
    assert_eq!(results[0]["is_error"], true);
    let content = results[0]["content"].as_str().expect("text");
    assert!(content.contains("larger than 4096 bytes"), "{content}");
    assert!(content.len() < 4096, "the body itself is not forwarded");
}

/// Asks for `calls` quotes in the first turn, then ends.
struct GreedyClaude {
    calls: usize,
}

impl Respond for GreedyClaude {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        if body["messages"].as_array().map_or(0, Vec::len) > 1 {
            return claude_reply("end_turn", json!([{"type": "text", "text": "done"}]));
        }
        let uses: Vec<Value> = (0..self.calls)
            .map(|i| json!({"type": "tool_use", "id": format!("toolu_{i}"), "name": "get_quote", "input": {"symbol": "AAPL"}}))
            .collect();
        claude_reply("tool_use", Value::Array(uses))
    }
}

#[tokio::test]
async fn tool_calls_over_the_per_turn_cap_are_answered_with_an_error_and_not_run() {
    let trading = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/quotes/AAPL"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(crate::support::AAPL_QUOTE, "application/json"),
        )
        .expect(2)
        .mount(&trading)
        .await;
    let claude = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(GreedyClaude { calls: 5 })
        .mount(&claude)
        .await;
    let mut s = settings(&trading.uri(), &claude.uri());
    s.claude.max_tool_calls_per_turn = 2;
    let server = TestServer::start(s).await;
    let response = server
        .analyze(&reqwest::Client::new(), json!({"query": "AAPL?"}))
        .await;
    assert_eq!(response.status(), 200);
    let results = last_tool_results(&claude).await;
    let errors: Vec<bool> = results.iter().map(|r| r["is_error"] == true).collect();
    assert_eq!(errors, [false, false, true, true, true], "{results:?}");
    assert!(results[4]["content"]
        .as_str()
        .expect("text")
        .contains("at most 2 tool calls per turn"));
    trading.verify().await;
}
