//! `POST /__admin/faults` changes a running mock; `POST /__admin/reset` zeroes counters;
//! `GET /__stats` equals the handle's stats and is not counted itself.

use serde_json::{json, Value};

use crate::support::*;

#[tokio::test]
async fn faults_take_effect_mid_run_and_can_be_lifted() {
    let t = trading(|_| {}).await;
    let client = reqwest::Client::new();
    let get = || client.get(format!("{}/v1/quotes/AAPL", t.url())).send();
    assert_eq!(get().await.unwrap().status(), 200);
    set_faults(&t.url(), json!({"error_rate": 1.0})).await;
    let r = get().await.unwrap();
    assert_eq!(r.status(), 500);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "internal_error");
    set_faults(&t.url(), json!({"error_rate": 0.0, "latency_ms": 5})).await;
    assert_eq!(get().await.unwrap().status(), 200);
    let s = t.stats();
    assert_eq!(
        (
            s.requests_total,
            s.responses_by_status["200"],
            s.responses_by_status["500"]
        ),
        (3, 2, 1)
    );
}

#[tokio::test]
async fn claude_limits_change_at_runtime() {
    let c = claude(|_| {}).await;
    let client = reqwest::Client::new();
    assert_eq!(
        post_messages(&client, &c.url(), &first_turn("AAPL"))
            .await
            .status(),
        200
    );
    // A limit set at runtime starts with a full bucket: two requests, then 429.
    set_faults(&c.url(), json!({"rpm": 2, "should_retry": true})).await;
    for _ in 0..2 {
        assert_eq!(
            post_messages(&client, &c.url(), &first_turn("AAPL"))
                .await
                .status(),
            200
        );
    }
    let r = post_messages(&client, &c.url(), &first_turn("AAPL")).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["x-should-retry"], "true");
    set_faults(&c.url(), json!({"overload_rate": 1.0, "rpm": 0})).await;
    assert_eq!(
        post_messages(&client, &c.url(), &first_turn("AAPL"))
            .await
            .status(),
        529
    );
}

#[tokio::test]
async fn bad_patches_are_rejected_with_a_clear_message_and_change_nothing() {
    let t = trading(|_| {}).await;
    let client = reqwest::Client::new();
    for (patch, want) in [
        (
            json!({"error_rate": 2}),
            "error_rate must be between 0 and 1",
        ),
        (json!({"eror_rate": 0.1}), "unknown setting \"eror_rate\""),
        (json!({"port": 1}), "port is fixed at start"),
        (json!({"latency_dist": "gaussian"}), "latency_dist"),
        (json!([1, 2]), "JSON object"),
    ] {
        let r = client
            .post(format!("{}/__admin/faults", t.url()))
            .json(&patch)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let body: Value = r.json().await.unwrap();
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(want),
            "{message:?} should contain {want:?}"
        );
    }
    let r = client
        .post(format!("{}/__admin/faults", t.url()))
        .body("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let settings: Value = client
        .get(format!("{}/__settings", t.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(settings["error_rate"], 0.0);
}

#[tokio::test]
async fn stats_endpoint_matches_the_handle_and_reset_zeroes_counters() {
    let t = trading(|_| {}).await;
    let client = reqwest::Client::new();
    for path in [
        "/v1/quotes/AAPL",
        "/v1/quotes/NOPE",
        "/v1/history/AAPL?days=0",
    ] {
        client
            .get(format!("{}{path}", t.url()))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
    }
    let over_http: mocks::StatsSnapshot = client
        .get(format!("{}/__stats", t.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(over_http, t.stats(), "reading stats does not count");
    assert_eq!(over_http.requests_total, 3);
    assert_eq!(over_http.responses_by_status.get("200"), Some(&1));
    assert_eq!(over_http.responses_by_status.get("404"), Some(&1));
    assert_eq!(over_http.responses_by_status.get("400"), Some(&1));

    let r = client
        .post(format!("{}/__admin/reset", t.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let s = t.stats();
    assert_eq!(
        (
            s.requests_total,
            s.connections_accepted,
            s.responses_by_status.len()
        ),
        (0, 0, 0)
    );
    assert_eq!(s.connections_open, 1, "gauges keep their live value");
}
