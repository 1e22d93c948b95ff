//! Rules the real Messages API applies that a capacity test can trip over: merged same-role
//! turns, `max_tokens` truncation, known models and their ceilings, 402, where 504s and
//! mid-stream faults happen, and the request fields the current API accepts.

use serde_json::{json, Value};

use crate::support::*;

#[tokio::test]
async fn consecutive_same_role_turns_are_merged_into_one() {
    let c = claude(|_| {}).await;
    let client = reqwest::Client::new();
    let mut split = first_turn("x");
    split["messages"] = json!([
        {"role": "user", "content": "Should I buy AAPL?"},
        {"role": "user", "content": [{"type": "text", "text": "And MSFT?"}]}
    ]);
    let (s, reply) = status_json(post_messages(&client, &c.url(), &split).await).await;
    assert_eq!(s, 200, "{reply}");
    let symbols: Vec<&str> = reply["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "tool_use")
        .map(|b| b["input"]["symbol"].as_str().unwrap())
        .collect();
    assert_eq!(symbols, ["AAPL", "MSFT"], "both turns were read as one");
    let count = |body: &Value| {
        let client = client.clone();
        let url = c.url();
        let mut body = body.clone();
        body.as_object_mut().unwrap().remove("max_tokens");
        async move {
            let r = client
                .post(format!("{url}/v1/messages/count_tokens"))
                .header("x-api-key", "sk-test")
                .header("anthropic-version", "2023-06-01")
                .json(&body)
                .send()
                .await
                .unwrap();
            r.json::<Value>().await.unwrap()["input_tokens"].clone()
        }
    };
    assert_eq!(count(&split).await, reply["usage"]["input_tokens"]);
}

#[tokio::test]
async fn a_tool_reply_longer_than_max_tokens_stops_with_max_tokens() {
    let c = claude(|_| {}).await;
    let client = reqwest::Client::new();
    let question = "Compare AAPL MSFT NVDA AMZN GOOGL over the last 30 days, and the market";
    let (_, full) =
        status_json(post_messages(&client, &c.url(), &first_turn(question)).await).await;
    assert_eq!(full["stop_reason"], "tool_use");
    let needed = full["usage"]["output_tokens"].as_u64().unwrap();
    let mut short = first_turn(question);
    short["max_tokens"] = json!(needed / 2);
    let (s, cut) = status_json(post_messages(&client, &c.url(), &short).await).await;
    assert_eq!(s, 200);
    assert_eq!(cut["stop_reason"], "max_tokens");
    assert_eq!(cut["usage"]["output_tokens"], needed / 2);
    let full_blocks = full["content"].as_array().unwrap().len();
    let cut_blocks = cut["content"].as_array().unwrap().len();
    assert!(0 < cut_blocks && cut_blocks < full_blocks, "{cut}");
}

#[tokio::test]
async fn unknown_models_are_404_and_max_tokens_has_a_per_model_ceiling() {
    let c = claude(|s| {
        s.models.insert("claude-test-small".into(), 100);
    })
    .await;
    let client = reqwest::Client::new();
    let mut typo = first_turn("AAPL");
    typo["model"] = json!("claude-sonet-4-5");
    let (s, b) = status_json(post_messages(&client, &c.url(), &typo).await).await;
    assert_eq!(
        (s, b["error"]["type"].as_str()),
        (404, Some("not_found_error"))
    );
    assert_eq!(b["error"]["message"], "model: claude-sonet-4-5");

    let mut over = first_turn("AAPL");
    over["max_tokens"] = json!(64_001);
    let (s, b) = status_json(post_messages(&client, &c.url(), &over).await).await;
    assert_eq!(s, 400);
    assert_eq!(b["error"]["type"], "invalid_request_error");
    assert!(b["error"]["message"]
        .as_str()
        .unwrap()
        .contains("64001 > 64000"));

    let mut extra = first_turn("AAPL");
    extra["model"] = json!("claude-test-small");
    extra["max_tokens"] = json!(100);
    assert_eq!(post_messages(&client, &c.url(), &extra).await.status(), 200);
    extra["max_tokens"] = json!(101);
    assert_eq!(post_messages(&client, &c.url(), &extra).await.status(), 400);
}

#[tokio::test]
async fn billing_errors_are_injectable_as_402() {
    let c = claude(|s| s.billing_error_rate = 1.0).await;
    let (s, b) =
        status_json(post_messages(&reqwest::Client::new(), &c.url(), &first_turn("AAPL")).await)
            .await;
    assert_eq!(s, 402);
    assert_eq!(b["error"]["type"], "billing_error");
    assert_eq!(b["type"], "error");
}

#[tokio::test]
async fn timeouts_answer_504_only_to_non_streaming_requests() {
    let c = claude(|s| {
        s.ttft_ms = 300;
        s.request_timeout_ms = 50;
    })
    .await;
    let client = reqwest::Client::new();
    let r = post_messages(&client, &c.url(), &first_turn("AAPL")).await;
    assert_eq!(r.status(), 504);
    let mut stream = first_turn("AAPL");
    stream["stream"] = json!(true);
    let r = post_messages(&client, &c.url(), &stream).await;
    assert_eq!(r.status(), 200);
    let events = parse_sse(&r.text().await.unwrap());
    assert_eq!(events.last().unwrap().0, "message_stop");
}

// Paused time: the stall is on the mock's (tokio) clock, so "headers before the stall" is a fact
// about event order, not a race against a busy machine.
#[tokio::test(start_paused = true)]
async fn streams_fail_and_stall_at_the_configured_event() {
    let c = claude(|s| {
        s.stream_error_rate = 1.0;
        s.stream_error_event = 6;
        s.faults.stall_rate = 1.0;
        s.faults.stall_ms = 300;
        s.stall_event = 4;
    })
    .await;
    let mut body = first_turn("Say hello");
    body["stream"] = json!(true);
    let start = tokio::time::Instant::now();
    let mut r = post_messages(&reqwest::Client::new(), &c.url(), &body).await;
    assert_eq!(r.status(), 200);
    let headers_at = start.elapsed();
    assert!(
        headers_at < std::time::Duration::from_millis(300),
        "the headers came {headers_at:?} in, not before the 300 ms stall"
    );
    let mut text = String::new();
    while let Some(chunk) = r.chunk().await.unwrap() {
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        start.elapsed() >= std::time::Duration::from_millis(300),
        "the stream stalled"
    );
    let names: Vec<String> = parse_sse(&text).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names.len(), 7, "{names:?}");
    assert_eq!(names[6], "error");
    assert_eq!(names[..3], ["message_start", "content_block_start", "ping"]);
}

#[tokio::test]
async fn fields_of_the_current_api_are_accepted() {
    let c = claude(|_| {}).await;
    let mut body = first_turn("AAPL");
    let extra = json!({
        "metadata": {"user_id": "u-1"},
        "stop_sequences": ["\n\nHuman:"],
        "temperature": 0.2,
        "top_k": 5,
        "top_p": 0.9,
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": true},
        "thinking": {"type": "disabled"},
        "service_tier": "auto",
        "system": [{"type": "text", "text": "You are an analyst.", "cache_control": {"type": "ephemeral"}}],
        "container": null,
        "mcp_servers": [],
        "context_management": null,
        "output_config": null,
        "inference_geo": null,
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let (s, b) = status_json(post_messages(&reqwest::Client::new(), &c.url(), &body).await).await;
    assert_eq!(s, 200, "{b}");
}
