//! `GET /openapi.json` tells the truth about `POST /analyze`: a body valid by the served document
//! is accepted, one just past a documented limit gets 422. Regressions for what schemathesis
//! (scripts/check_openapi.sh) found: the document had no request limits at all (so `""` and
//! `max_turns: 0` were "valid" yet rejected), and `max_turns: 2.0` — an integer to JSON Schema —
//! was rejected.

use serde_json::{json, Value};
use server::routes::analyze::{MAX_QUERY_CHARS, MAX_SYMBOLS};

use crate::support::{mocks, settings, TestServer};

/// A server over the in-process mocks with `MAX_TURNS` = `max_turns`.
async fn server_with_max_turns(max_turns: u32) -> (TestServer, [mocks::MockHandle; 2]) {
    let (trading, claude) = mocks(0).await;
    let mut s = settings(&trading.url(), &claude.url());
    s.claude.max_turns = max_turns;
    (TestServer::start(s).await, [trading, claude])
}

async fn schemas(server: &TestServer) -> Value {
    let doc: Value = reqwest::get(format!("{}/openapi.json", server.url()))
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    doc["components"]["schemas"].clone()
}

async fn request_schema(server: &TestServer) -> Value {
    schemas(server).await["AnalyzeRequest"]["properties"].clone()
}

/// Whether `value` is one of the `enum` values the document gives for `field`.
fn listed(field: &Value, value: &Value) -> bool {
    field["enum"]
        .as_array()
        .is_some_and(|values| values.contains(value))
}

async fn status_of(server: &TestServer, body: Value) -> u16 {
    server
        .analyze(&reqwest::Client::new(), body)
        .await
        .status()
        .as_u16()
}

#[tokio::test]
async fn the_document_states_the_limits_the_server_enforces() {
    let (server, _mocks) = server_with_max_turns(4).await;
    let fields = request_schema(&server).await;
    assert_eq!(fields["query"]["minLength"], 1);
    assert_eq!(fields["query"]["maxLength"], MAX_QUERY_CHARS);
    assert!(fields["query"]["pattern"].is_string());
    assert_eq!(fields["symbols"]["maxItems"], MAX_SYMBOLS);
    assert_eq!(
        fields["symbols"]["items"]["pattern"],
        "^[A-Za-z0-9][A-Za-z0-9.-]{0,9}$"
    );
    assert_eq!(fields["max_turns"]["minimum"], 1);
    assert_eq!(
        fields["max_turns"]["maximum"], 4,
        "the ceiling is this instance's MAX_TURNS"
    );
}

#[tokio::test]
async fn bodies_at_the_documented_edges_are_accepted() {
    let (server, _mocks) = server_with_max_turns(4).await;
    let longest = format!("AAPL? {}", "x".repeat(MAX_QUERY_CHARS - 6));
    let most_symbols: Vec<String> = (0..MAX_SYMBOLS).map(|i| format!("s{i}")).collect();
    for body in [
        json!({"query": "AAPL?", "max_turns": 4}),
        json!({"query": "AAPL?", "max_turns": 4.0}),
        json!({"query": "AAPL?", "max_turns": 1, "symbols": null}),
        json!({"query": longest}),
        json!({"query": "x", "symbols": ["aapl", "brk.b", "X-1", "ABCDEFGHIJ"]}),
        json!({"query": "x", "symbols": most_symbols}),
    ] {
        assert_eq!(status_of(&server, body.clone()).await, 200, "{body}");
    }
}

#[tokio::test]
async fn bodies_just_past_the_documented_edges_are_422() {
    let (server, _mocks) = server_with_max_turns(4).await;
    let too_long_even_trimmed = format!(" {} ", "x".repeat(MAX_QUERY_CHARS - 1));
    let too_many: Vec<String> = (0..=MAX_SYMBOLS).map(|i| format!("S{i}")).collect();
    for body in [
        json!({"query": "", "max_turns": 0, "symbols": null}),
        json!({"query": "AAPL?", "max_turns": 0}),
        json!({"query": "AAPL?", "max_turns": 5}),
        json!({"query": "AAPL?", "max_turns": 2.5}),
        json!({"query": "AAPL?", "max_turns": -1}),
        json!({"query": "AAPL?", "max_turns": 4294967296u64}),
        json!({"query": "\u{3000}\t\u{85} "}),
        json!({"query": too_long_even_trimmed}),
        json!({"query": "x", "symbols": [" AAPL"]}),
        json!({"query": "x", "symbols": ["ABCDEFGHIJK"]}),
        json!({"query": "x", "symbols": [""]}),
        json!({"query": "x", "symbols": too_many}),
    ] {
        assert_eq!(status_of(&server, body.clone()).await, 422, "{body}");
    }
}

#[tokio::test]
async fn closed_sets_of_response_values_are_documented_and_kept() {
    let (server, _mocks) = server_with_max_turns(4).await;
    let schemas = schemas(&server).await;
    let health = server.health().await;
    let fields = &schemas["HealthBody"]["properties"];
    assert!(listed(&fields["status"], &health["status"]), "{health}");
    assert!(listed(&fields["mode"], &health["mode"]), "{health}");
    let circuit = &schemas["UpstreamHealth"]["properties"]["circuit"];
    assert!(listed(circuit, &health["upstream"]["circuit"]), "{health}");
    let error: Value = server
        .analyze(&reqwest::Client::new(), json!({"query": ""}))
        .await
        .json()
        .await
        .expect("json");
    let kind = &schemas["ErrorDetail"]["properties"]["type"];
    assert!(listed(kind, &error["error"]["type"]), "{error}");
    assert_eq!(kind["enum"].as_array().map(Vec::len), Some(15));
}

#[tokio::test]
async fn every_documented_429_header_is_required_and_sent() {
    let (trading, claude) = mocks(0).await;
    let mut s = settings(&trading.url(), &claude.url());
    s.admission.rate_limit_per_minute = 1;
    s.admission.rate_limit_burst = 1;
    let server = TestServer::start(s).await;
    let doc: Value = reqwest::get(format!("{}/openapi.json", server.url()))
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let headers = doc["paths"]["/analyze"]["post"]["responses"]["429"]["headers"]
        .as_object()
        .expect("429 documents its headers")
        .clone();
    assert!(headers.contains_key("retry-after") && headers.contains_key("ratelimit"));
    let client = reqwest::Client::new();
    let body = json!({"query": "AAPL?"});
    assert_eq!(server.analyze(&client, body.clone()).await.status(), 200);
    let limited = server.analyze(&client, body).await;
    assert_eq!(limited.status(), 429);
    for (name, spec) in headers {
        assert_eq!(spec["required"], true, "{name}");
        assert!(
            limited.headers().contains_key(name.as_str()),
            "{name} not sent"
        );
    }
}

#[tokio::test]
async fn the_405_of_get_analyze_is_documented_and_is_what_is_sent() {
    let (server, _mocks) = server_with_max_turns(4).await;
    let doc: Value = reqwest::get(format!("{}/openapi.json", server.url()))
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    // Documented as the path's `x-other-methods`, not as a GET operation (which would say GET
    // is served, against `Allow: POST`).
    assert!(doc["paths"]["/analyze"].get("get").is_none(), "{doc}");
    let documented = &doc["paths"]["/analyze"]["x-other-methods"]["responses"]["405"];
    assert_eq!(
        documented["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ErrorBody",
        "{doc}"
    );
    let answer = reqwest::get(format!("{}/analyze", server.url()))
        .await
        .expect("sent");
    assert_eq!(answer.status(), 405);
    for (name, spec) in documented["headers"].as_object().expect("headers") {
        assert_eq!(spec["required"], true, "{name}");
        assert!(
            answer.headers().contains_key(name.as_str()),
            "{name} not sent"
        );
    }
    let body: Value = answer.json().await.expect("json");
    assert_eq!(body["error"]["type"], "method_not_allowed", "{body}");
}

#[tokio::test]
async fn health_says_service_time_is_not_measured_before_any_analysis() {
    let (server, _mocks) = server_with_max_turns(4).await;
    let health = server.health().await;
    // It used to show the 1000 ms initial guess behind Retry-After as if measured.
    assert_eq!(health["service_time_ms"], Value::Null, "{health}");
    let schema = &schemas(&server).await["HealthBody"]["properties"]["service_time_ms"];
    let nullable = schema["nullable"] == true
        || schema["type"]
            .as_array()
            .is_some_and(|t| t.contains(&json!("null")));
    assert!(nullable, "the document allows null: {schema}");
    assert_eq!(
        server
            .analyze(&reqwest::Client::new(), json!({"query": "AAPL?"}))
            .await
            .status(),
        200
    );
    let measured = server.health().await["service_time_ms"].clone();
    assert!(measured.is_u64(), "measured after an analysis: {measured}");
}
