//! Account limits enforced exactly, seen from outside over real HTTP.

mod support;

use serde_json::Value;
use support::*;

#[tokio::test]
async fn max_concurrent_three_lets_exactly_three_through_at_once() {
    // Each admitted call holds its slot for 800 ms, far longer than it takes to send all ten.
    let c = claude(|s| {
        s.max_concurrent = 3;
        s.ttft_ms = 800;
    })
    .await;
    let client = reqwest::Client::new();
    let url = c.url();
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move { post_messages(&client, &url, &first_turn("AAPL")).await })
        })
        .collect();
    let mut statuses = Vec::new();
    for call in calls {
        let r = call.await.unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            assert_eq!(r.headers()["retry-after"], "1");
            let body: Value = r.json().await.unwrap();
            assert!(body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("3 concurrent requests"));
        }
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        7,
        "{statuses:?}"
    );
    assert_eq!(c.stats().responses_by_status["429"], 7);
    // Slots free when the calls finish.
    let r = post_messages(&client, &url, &first_turn("AAPL")).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn rpm_five_answers_the_sixth_request_429() {
    let c = claude(|s| s.rpm = 5).await;
    let client = reqwest::Client::new();
    let mut remaining = Vec::new();
    for _ in 0..5 {
        let r = post_messages(&client, &c.url(), &first_turn("AAPL")).await;
        assert_eq!(r.status(), 200);
        remaining.push(
            r.headers()["anthropic-ratelimit-requests-remaining"]
                .to_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(remaining, ["4", "3", "2", "1", "0"]);
    let r = post_messages(&client, &c.url(), &first_turn("AAPL")).await;
    assert_eq!(r.status(), 429);
    let retry_after: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((59..=60).contains(&retry_after), "{retry_after}");
}

#[tokio::test]
async fn otpm_admits_until_the_output_tokens_of_the_minute_are_spent() {
    let probe = claude(|_| {}).await;
    let client = reqwest::Client::new();
    let (_, reply) =
        status_json(post_messages(&client, &probe.url(), &first_turn("AAPL")).await).await;
    let per_call = reply["usage"]["output_tokens"].as_u64().unwrap();

    // Room for exactly two calls.
    let c = claude(|s| s.otpm = per_call * 2 + per_call / 2).await;
    let statuses: Vec<u16> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(
                post_messages(&client, &c.url(), &first_turn("AAPL"))
                    .await
                    .status()
                    .as_u16(),
            );
        }
        v
    };
    assert_eq!(statuses, [200, 200, 429]);
    // Admin reset clears the windows.
    c.reset_stats();
    assert_eq!(
        post_messages(&client, &c.url(), &first_turn("AAPL"))
            .await
            .status(),
        200
    );
}
