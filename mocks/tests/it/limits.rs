//! Account limits enforced exactly, seen from outside over real HTTP.

use serde_json::{json, Value};

use crate::support::*;

// Paused time (the mock runs in this runtime): the clock stands still while the ten requests are
// sent and answered, and only moves, to the end of the 800 ms hold, once every task is idle. So
// all ten arrive while the first three hold their slots, however slowly this machine runs.
#[tokio::test(start_paused = true)]
async fn max_concurrent_three_lets_exactly_three_through_at_once() {
    // Each admitted call holds its slot for 800 ms (virtual time).
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

/// `retry-after` of a 429, in seconds.
fn retry_after(r: &reqwest::Response) -> u64 {
    r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// `GET /__usage`: what the account has been charged.
async fn usage(url: &str) -> Value {
    reqwest::get(format!("{url}/__usage"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

// Paused time: the bucket refills on the mock's (tokio) clock, which moves only when the test
// sleeps; so the burst drains it exactly, however long 60 requests take on a busy machine.
#[tokio::test(start_paused = true)]
async fn rpm_sixty_is_a_burst_then_one_per_second_and_retry_after_is_honest() {
    let c = claude(|s| s.rpm = 60).await;
    let client = reqwest::Client::new();
    let mut remaining = Vec::new();
    for _ in 0..60 {
        let r = post_messages(&client, &c.url(), &first_turn("AAPL")).await;
        assert_eq!(r.status(), 200);
        remaining.push(
            r.headers()["anthropic-ratelimit-requests-remaining"]
                .to_str()
                .unwrap()
                .parse::<u64>()
                .unwrap(),
        );
    }
    assert_eq!(remaining[0], 59, "the bucket starts full");
    assert_eq!(remaining[59], 0, "{remaining:?}");
    // After the burst the bucket refills at 1/s: a client that waits `retry-after` gets in on
    // its next try, and the try after that is refused again (≈ 1 request per second).
    for round in 0..2 {
        let r = post_messages(&client, &c.url(), &first_turn("AAPL")).await;
        assert_eq!(r.status(), 429, "round {round}");
        let wait = retry_after(&r);
        assert_eq!(wait, 1, "60 RPM refills one request per second");
        let reset = r.headers()["anthropic-ratelimit-requests-reset"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(humantime::parse_rfc3339(&reset).is_ok(), "{reset}");
        // Waiting the advertised time is the behaviour under test.
        tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
        let r = post_messages(&client, &c.url(), &first_turn("AAPL")).await;
        assert_eq!(
            r.status(),
            200,
            "round {round}: retry after {wait} s succeeds"
        );
    }
}

#[tokio::test]
async fn otpm_is_charged_as_tokens_are_produced_and_debt_delays_the_next_call() {
    let c = claude(|s| s.otpm = 600).await;
    let client = reqwest::Client::new();
    let (s, reply) = status_json(post_messages(&client, &c.url(), &first_turn("AAPL")).await).await;
    assert_eq!(s, 200);
    let per_call = reply["usage"]["output_tokens"].as_u64().unwrap();
    assert_eq!(usage(&c.url()).await["output_tokens"], per_call);
    // Spend the rest of the bucket (600 per minute refills 10 per second).
    let mut calls = 1;
    loop {
        let r = post_messages(&client, &c.url(), &first_turn("AAPL")).await;
        if r.status() == 429 {
            let wait = retry_after(&r);
            assert!(
                (1..=10).contains(&wait),
                "time until the debt is repaid: {wait}"
            );
            let body: Value = r.json().await.unwrap();
            assert!(body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("600 output tokens per minute"));
            break;
        }
        calls += 1;
        assert!(calls < 100, "otpm never limited");
    }
    assert_eq!(
        usage(&c.url()).await["output_tokens"],
        calls * per_call,
        "rejected calls cost nothing"
    );
}

#[tokio::test]
async fn a_stream_cut_after_k_tokens_is_charged_k_and_a_529_costs_nothing() {
    // The full reply, to know how many characters and tokens the stream would carry.
    let probe = claude(|_| {}).await;
    let client = reqwest::Client::new();
    let body = first_turn("Compare AAPL and MSFT over the last 10 days, and the market");
    let (_, full) = status_json(post_messages(&client, &probe.url(), &body).await).await;
    let total_tokens = full["usage"]["output_tokens"].as_u64().unwrap();

    let c = claude(|s| {
        s.otpm = 100_000;
        s.stream_error_rate = 1.0;
        s.stream_error_event = 8;
    })
    .await;
    let mut streaming = body.clone();
    streaming["stream"] = json!(true);
    let r = post_messages(&client, &c.url(), &streaming).await;
    assert_eq!(r.status(), 200);
    let events = parse_sse(&r.text().await.unwrap());
    assert_eq!(events.len(), 9, "eight events, then the error");
    assert_eq!(events[8].0, "error");
    // The characters the client received, as a fraction of the whole reply, give k.
    let sent = |events: &[(String, Value)]| -> usize {
        events
            .iter()
            .filter(|(n, _)| n == "content_block_delta")
            .map(|(_, d)| {
                let delta = &d["delta"];
                delta["text"]
                    .as_str()
                    .or(delta["partial_json"].as_str())
                    .unwrap()
                    .chars()
                    .count()
            })
            .sum()
    };
    let total_chars: usize = full["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| match b["type"].as_str().unwrap() {
            "text" => b["text"].as_str().unwrap().chars().count(),
            _ => b["input"].to_string().chars().count(),
        })
        .sum();
    let k = (total_tokens as f64 * sent(&events) as f64 / total_chars as f64).floor() as u64;
    assert!(0 < k && k < total_tokens, "k = {k} of {total_tokens}");
    let charged = usage(&c.url()).await;
    assert_eq!(charged["output_tokens"], k, "{charged}");
    assert_eq!(charged["requests"], 1);

    // A 529 is refunded: nothing charged, every bucket still full.
    let o = claude(|s| {
        s.rpm = 10;
        s.otpm = 1000;
        s.overload_rate = 1.0;
    })
    .await;
    let r = post_messages(&client, &o.url(), &first_turn("AAPL")).await;
    assert_eq!(r.status(), 529);
    assert_eq!(r.headers()["anthropic-ratelimit-requests-remaining"], "10");
    assert_eq!(
        r.headers()["anthropic-ratelimit-output-tokens-remaining"],
        "1000"
    );
    assert_eq!(
        usage(&o.url()).await,
        json!({"requests": 0, "input_tokens": 0, "output_tokens": 0, "in_flight": 0})
    );
}

#[tokio::test]
async fn a_client_that_hangs_up_pays_only_for_what_was_generated() {
    let probe = claude(|_| {}).await;
    let (_, plain) = status_json(
        post_messages(
            &reqwest::Client::new(),
            &probe.url(),
            &first_turn("Say hello"),
        )
        .await,
    )
    .await;
    let full = plain["usage"]["output_tokens"].as_u64().unwrap();
    // 20 tokens per second: the reply takes seconds, the client leaves after the first block.
    let c = claude(|s| {
        s.otpm = 100_000;
        s.tokens_per_sec = 20.0;
    })
    .await;
    let mut body = first_turn("Say hello");
    body["stream"] = json!(true);
    let mut r = post_messages(&reqwest::Client::new(), &c.url(), &body).await;
    let _message_start = r.chunk().await.unwrap().unwrap();
    let _first_block = r.chunk().await.unwrap().unwrap();
    drop(r);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while usage(&c.url()).await["in_flight"] != 0 {
        assert!(std::time::Instant::now() < deadline, "stream never ended");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let charged = usage(&c.url()).await["output_tokens"].as_u64().unwrap();
    assert!(
        charged < full / 2,
        "the abandoned stream cost {charged} of {full} tokens"
    );
}

#[tokio::test]
async fn above_capacity_new_calls_are_shed_with_529_by_load() {
    // Capacity 1: a second call while one generates is 100 % over capacity, so P(529) = 1.
    let c = claude(|s| {
        s.capacity = 1;
        s.ttft_ms = 400;
    })
    .await;
    let client = reqwest::Client::new();
    let busy = {
        let (client, url) = (client.clone(), c.url());
        tokio::spawn(async move { post_messages(&client, &url, &first_turn("AAPL")).await })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while usage(&c.url()).await["in_flight"] != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "first call never started"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let (s, b) = status_json(post_messages(&client, &c.url(), &first_turn("MSFT")).await).await;
    assert_eq!(
        (s, b["error"]["type"].as_str()),
        (529, Some("overloaded_error"))
    );
    assert_eq!(
        busy.await.unwrap().status(),
        200,
        "the call within capacity runs"
    );
    let r = post_messages(&client, &c.url(), &first_turn("MSFT")).await;
    assert_eq!(r.status(), 200, "load gone, no more shedding");
}
