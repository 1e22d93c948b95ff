//! The full tool-use conversation: mock Claude asks for tools, the mock Trading API answers,
//! mock Claude quotes the numbers exactly.

use serde_json::{json, Value};

use crate::support::*;

/// Runs the tool calls of `reply` against the trading mock, as the server would.
async fn run_tools(client: &reqwest::Client, trading: &str, reply: &Value) -> Vec<Value> {
    let mut results = Vec::new();
    for block in reply["content"].as_array().unwrap() {
        if block["type"] != "tool_use" {
            continue;
        }
        let input = &block["input"];
        let path = match block["name"].as_str().unwrap() {
            "get_quote" => format!("/v1/quotes/{}", input["symbol"].as_str().unwrap()),
            "get_price_history" => format!(
                "/v1/history/{}?days={}",
                input["symbol"].as_str().unwrap(),
                input["days"]
            ),
            "get_market_status" => "/v1/market/status".to_string(),
            other => panic!("unexpected tool {other}"),
        };
        let r = client.get(format!("{trading}{path}")).send().await.unwrap();
        let ok = r.status().is_success();
        let text = r.text().await.unwrap();
        results.push(json!({"type": "tool_result", "tool_use_id": block["id"], "content": text, "is_error": !ok}));
    }
    results
}

#[tokio::test]
async fn tool_use_then_analysis_quoting_the_last_prices_exactly() {
    let claude = claude(|_| {}).await;
    let trading = trading(|_| {}).await;
    let client = reqwest::Client::new();
    let mut request = first_turn("Compare AAPL and ZZZZ, and how is the market today?");

    let r = post_messages(&client, &claude.url(), &request).await;
    assert!(r.headers()["request-id"]
        .to_str()
        .unwrap()
        .starts_with("req_"));
    let (status, first) = status_json(r).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["stop_reason"], "tool_use");
    assert!(first["id"].as_str().unwrap().starts_with("msg_"));
    let calls: Vec<(String, Value)> = first["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "tool_use")
        .map(|b| (b["name"].as_str().unwrap().to_string(), b["input"].clone()))
        .collect();
    assert_eq!(
        calls,
        vec![
            ("get_quote".to_string(), json!({"symbol": "AAPL"})),
            ("get_quote".to_string(), json!({"symbol": "ZZZZ"})),
            ("get_market_status".to_string(), json!({})),
        ]
    );

    let results = run_tools(&client, &trading.url(), &first).await;
    let quote: Value = serde_json::from_str(results[0]["content"].as_str().unwrap()).unwrap();
    request["messages"]
        .as_array_mut()
        .unwrap()
        .push(json!({"role": "assistant", "content": first["content"]}));
    request["messages"]
        .as_array_mut()
        .unwrap()
        .push(json!({"role": "user", "content": results}));

    let (status, second) = status_json(post_messages(&client, &claude.url(), &request).await).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["stop_reason"], "end_turn");
    let text = second["content"][0]["text"].as_str().unwrap();
    let last_text = serde_json::to_string(&quote["last"]).unwrap();
    assert!(
        text.contains(&format!("AAPL last traded at {last_text}.")),
        "{text}"
    );
    assert!(
        text.contains("ZZZZ: could not retrieve the quote."),
        "{text}"
    );
    assert!(text.contains("the market is closed"), "{text}");
    assert!(
        second["usage"]["input_tokens"].as_u64().unwrap()
            > first["usage"]["input_tokens"].as_u64().unwrap()
    );

    let stats = claude.stats();
    assert_eq!(stats.requests_total, 2);
    assert_eq!(stats.responses_by_status["200"], 2);
    assert_eq!(trading.stats().responses_by_status["404"], 1);
}

#[tokio::test]
async fn history_is_requested_when_the_question_asks_for_a_trend() {
    let claude = claude(|_| {}).await;
    let client = reqwest::Client::new();
    let (_, reply) = status_json(
        post_messages(
            &client,
            &claude.url(),
            &first_turn("What is the 90 days trend of NVDA?"),
        )
        .await,
    )
    .await;
    let names: Vec<&str> = reply["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["name"].as_str())
        .collect();
    assert_eq!(names, ["get_quote", "get_price_history"]);
    assert_eq!(
        reply["content"][2]["input"],
        json!({"symbol": "NVDA", "days": 90})
    );
}

#[tokio::test]
async fn without_tools_the_answer_is_plain_text() {
    let claude = claude(|_| {}).await;
    let body = json!({"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": [{"role": "user", "content": "Tell me about AAPL"}]});
    let (status, reply) =
        status_json(post_messages(&reqwest::Client::new(), &claude.url(), &body).await).await;
    assert_eq!(status, 200);
    assert_eq!(reply["stop_reason"], "end_turn");
    assert_eq!(reply["content"].as_array().unwrap().len(), 1);
    assert_eq!(reply["content"][0]["type"], "text");
}

#[tokio::test]
async fn a_tiny_max_tokens_truncates_with_stop_reason_max_tokens() {
    let claude = claude(|_| {}).await;
    let body = json!({"model": "claude-sonnet-4-5", "max_tokens": 3, "messages": [{"role": "user", "content": "Tell me a long story about markets"}]});
    let (_, reply) =
        status_json(post_messages(&reqwest::Client::new(), &claude.url(), &body).await).await;
    assert_eq!(reply["stop_reason"], "max_tokens");
    assert_eq!(reply["usage"]["output_tokens"], 3);
}

#[tokio::test]
async fn count_tokens_reports_the_input_tokens_of_the_same_request() {
    let claude = claude(|_| {}).await;
    let client = reqwest::Client::new();
    let body = first_turn("Quote AAPL");
    let (_, reply) = status_json(post_messages(&client, &claude.url(), &body).await).await;
    let mut count_body = body.clone();
    count_body.as_object_mut().unwrap().remove("max_tokens");
    let r = client
        .post(format!("{}/v1/messages/count_tokens", claude.url()))
        .header("x-api-key", "k")
        .header("anthropic-version", "2023-06-01")
        .json(&count_body)
        .send()
        .await
        .unwrap();
    let (status, counted) = status_json(r).await;
    assert_eq!(status, 200);
    assert_eq!(
        counted,
        json!({"input_tokens": reply["usage"]["input_tokens"]})
    );
}

#[tokio::test]
async fn a_forced_tool_choice_calls_only_that_tool_without_preamble() {
    let claude = claude(|_| {}).await;
    let mut body = first_turn("Compare AAPL and MSFT and the market");
    body["tool_choice"] = json!({"type": "tool", "name": "get_market_status"});
    let (_, reply) =
        status_json(post_messages(&reqwest::Client::new(), &claude.url(), &body).await).await;
    assert_eq!(reply["stop_reason"], "tool_use");
    let content = reply["content"].as_array().unwrap();
    assert_eq!(content.len(), 1);
    assert_eq!(content[0]["name"], "get_market_status");

    body["tool_choice"] = json!({"type": "none"});
    let (_, reply) =
        status_json(post_messages(&reqwest::Client::new(), &claude.url(), &body).await).await;
    assert_eq!(reply["stop_reason"], "end_turn");
}
