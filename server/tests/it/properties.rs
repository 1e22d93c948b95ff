//! Property tests over `/analyze` input: whatever the body (malformed or deeply nested JSON,
//! wrong types, huge strings, invalid UTF-8) and whatever the content type or duplicated headers,
//! the answer is a 2xx analysis or a 4xx JSON error — never a 5xx, never a dropped connection.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};

use crate::support::TestServer;

/// A request as a client could send it.
#[derive(Debug, Clone)]
struct Attempt {
    content_types: Vec<String>,
    request_id: Option<String>,
    body: Vec<u8>,
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("query".to_string()),
                        Just("symbols".to_string()),
                        Just("max_turns".to_string()),
                        ".{0,8}"
                    ],
                    inner
                ),
                0..5
            )
            .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        // Raw bytes: truncated JSON, invalid UTF-8, binary noise.
        prop::collection::vec(any::<u8>(), 0..512),
        // Any JSON shape, with the real field names now and then holding wrong types.
        json_value().prop_map(|v| v.to_string().into_bytes()),
        (json_value(), json_value(), json_value()).prop_map(|(q, s, t)| {
            json!({"query": q, "symbols": s, "max_turns": t})
                .to_string()
                .into_bytes()
        }),
        // Deep nesting, past serde_json's recursion limit.
        (1usize..4000).prop_map(|depth| {
            format!("{{\"query\": {}1{}}}", "[".repeat(depth), "]".repeat(depth)).into_bytes()
        }),
        // Huge strings, around and over MAX_BODY_BYTES.
        (1usize..40_000).prop_map(|n| json!({"query": "A".repeat(n)}).to_string().into_bytes()),
        (1usize..200).prop_map(|n| json!({"query": "x", "symbols": vec!["AAPL"; n]})
            .to_string()
            .into_bytes()),
    ]
}

fn content_type() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("application/json".to_string()),
        Just("application/json; charset=utf-8".to_string()),
        Just("text/plain".to_string()),
        Just("application/x-www-form-urlencoded".to_string()),
        Just("multipart/form-data; boundary=x".to_string()),
        "[ -~]{0,30}",
    ]
}

fn attempt() -> impl Strategy<Value = Attempt> {
    (
        // Mostly JSON, so bodies reach the parser; sometimes wrong, missing or duplicated.
        prop_oneof![
            6 => Just(vec!["application/json".to_string()]),
            1 => prop::collection::vec(content_type(), 0..3),
        ],
        proptest::option::of("[ -~]{0,80}"),
        body(),
    )
        .prop_map(|(content_types, request_id, body)| Attempt {
            content_types,
            request_id,
            body,
        })
}

#[test]
fn any_analyze_request_gets_an_analysis_or_a_4xx_json_error() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    // Real mocks upstream, so a body that happens to be valid is simply analysed (200).
    let (server, _mocks) = runtime.block_on(async {
        let (trading, claude) = crate::support::mocks(0).await;
        let server =
            TestServer::start(crate::support::settings(&trading.url(), &claude.url())).await;
        (server, (trading, claude))
    });
    let client = reqwest::Client::new();
    let mut runner = TestRunner::new(Config {
        cases: 64,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&attempt(), |attempt| {
            let (status, body) = runtime.block_on(async {
                let mut request = client
                    .post(format!("{}/analyze", server.url()))
                    .body(attempt.body.clone());
                for ct in &attempt.content_types {
                    request = request.header("content-type", ct.as_str());
                }
                if let Some(id) = &attempt.request_id {
                    request = request.header("x-request-id", id.as_str());
                }
                let response = request.send().await.expect("answered, not dropped");
                let status = response.status().as_u16();
                let bytes = response.bytes().await.expect("body");
                (status, bytes)
            });
            prop_assert!(
                status == 200 || (400..500).contains(&status),
                "status {status} for {attempt:?}"
            );
            let json: Value = serde_json::from_slice(&body).map_err(|e| {
                TestCaseError::fail(format!("body is not JSON ({e}) for status {status}"))
            })?;
            if status != 200 {
                prop_assert!(json["error"]["type"].is_string(), "{json}");
                prop_assert!(json["error"]["request_id"].is_string(), "{json}");
            }
            Ok(())
        })
        .expect("property holds");
}
