//! The mocks answer with the same keys and JSON types as the official shapes recorded in
//! tests/fixtures (Anthropic docs for Claude; our contract for the Trading API).

use serde_json::{json, Value};

use crate::support::*;

fn assert_same_shape(fixture_name: &str, actual: &Value) {
    let diff = shape_diff(&fixture(fixture_name), actual, "$");
    assert!(
        diff.is_empty(),
        "{fixture_name}: {diff:#?}\nactual: {actual}"
    );
}

#[tokio::test]
async fn the_official_request_fixture_is_accepted_and_answered_in_the_official_shape() {
    let claude = claude(|_| {}).await;
    let mut request = fixture("claude_request_tool_use.json");
    request.as_object_mut().unwrap().remove("_source");
    let (status, reply) =
        status_json(post_messages(&reqwest::Client::new(), &claude.url(), &request).await).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["stop_reason"], "end_turn");
    assert!(reply["content"][0]["text"]
        .as_str()
        .unwrap()
        .contains("AAPL last traded at 187.32."));
    assert_same_shape("claude_response_text.json", &reply);
}

#[tokio::test]
async fn tool_use_replies_and_errors_have_the_official_shape() {
    let claude = claude(|_| {}).await;
    let client = reqwest::Client::new();
    let (_, reply) =
        status_json(post_messages(&client, &claude.url(), &first_turn("Quote AAPL")).await).await;
    assert_same_shape("claude_response_tool_use.json", &reply);
    let r = client
        .get(format!("{}/v1/nothing", claude.url()))
        .send()
        .await
        .unwrap();
    let (status, err) = status_json(r).await;
    assert_eq!(status, 404);
    assert_same_shape("claude_error.json", &err);
}

#[tokio::test]
async fn every_stream_event_has_the_official_shape() {
    let claude = claude(|_| {}).await;
    let mut body = first_turn("Quote AAPL");
    body["stream"] = json!(true);
    let text = post_messages(&reqwest::Client::new(), &claude.url(), &body)
        .await
        .text()
        .await
        .unwrap();
    let official = fixture("claude_stream_events.json");
    for (name, data) in parse_sse(&text) {
        let key = match (
            name.as_str(),
            data["content_block"]["type"].as_str(),
            data["delta"]["type"].as_str(),
        ) {
            ("content_block_start", Some("text"), _) => "content_block_start_text",
            ("content_block_start", Some("tool_use"), _) => "content_block_start_tool_use",
            ("content_block_delta", _, Some(delta)) => delta,
            (other, _, _) => other,
        };
        let expected = &official[key];
        assert!(!expected.is_null(), "event {key} is not an official event");
        let diff = shape_diff(expected, &data, key);
        assert!(diff.is_empty(), "{diff:#?}");
    }
}

#[tokio::test]
async fn trading_responses_match_the_documented_contract() {
    let trading = trading(|_| {}).await;
    let client = reqwest::Client::new();
    for (path, name) in [
        ("/v1/quotes/AAPL", "trading_quote.json"),
        ("/v1/history/AAPL?days=5", "trading_history.json"),
        ("/v1/market/status", "trading_market_status.json"),
        ("/v1/quotes/ZZZZ", "trading_error.json"),
    ] {
        let body: Value = client
            .get(format!("{}{path}", trading.url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_same_shape(name, &body);
    }
}
