//! The protections between the server and the Messages API, end to end through real HTTP: the
//! shared cool-down, the per-attempt timeout, what the circuit breaker counts, and the adaptive
//! concurrency limit backing off when the provider refuses calls.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use server::config::ConcurrencyMode;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::support::{settings, trading_with_aapl, wait_until, ScriptedClaude, TestServer};

/// Scripted Claude that records when each call arrived; the first `refuse` calls get `first`.
struct Recording {
    arrivals: Arc<Mutex<Vec<Instant>>>,
    first: ResponseTemplate,
    refuse: usize,
}

impl Respond for Recording {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut arrivals = self.arrivals.lock().expect("lock");
        arrivals.push(Instant::now());
        if arrivals.len() <= self.refuse {
            self.first.clone()
        } else {
            ScriptedClaude.respond(request)
        }
    }
}

/// What happened when the first model call got `refusal` and three more analyses arrived once
/// the server had decided to retry it.
struct AfterRefusal {
    /// Every model call's arrival at mock Claude; the first is the refused one.
    arrivals: Vec<Instant>,
    /// From the refusal until the three later analyses were all served.
    others_served_after: Duration,
    /// The `upstream_cooldowns_total` lines of `/metrics`.
    cooldowns: String,
    /// `upstream.cooldown_ms` of `/health` at the end.
    cooldown_left_ms: Value,
    /// `upstream.cooldown_ms` of `/health` once the refusal was handled and its retry scheduled
    /// (before the later analyses were sent).
    cooldown_at_retry_ms: Value,
}

async fn three_analyses_after(refusal: ResponseTemplate, mode: ConcurrencyMode) -> AfterRefusal {
    let trading = trading_with_aapl().await;
    let claude = MockServer::start().await;
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    Mock::given(method("POST"))
        .respond_with(Recording {
            arrivals: Arc::clone(&arrivals),
            first: refusal,
            refuse: 1,
        })
        .mount(&claude)
        .await;
    let mut s = settings(&trading.uri(), &claude.uri());
    s.admission.concurrency_limit = mode;
    let server = Arc::new(TestServer::start(s).await);
    let client = reqwest::Client::new();
    let first = {
        let (server, client) = (Arc::clone(&server), client.clone());
        tokio::spawn(async move { server.analyze(&client, json!({"query": "AAPL?"})).await })
    };
    // The retry is counted after the refusal was fully handled (cool-down included).
    wait_until("the refused call is being retried", || async {
        reqwest::get(format!("{}/metrics", server.url()))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
            .contains("upstream_retries_total{api=\"claude\"} 1")
    })
    .await;
    let cooldown_at_retry_ms = server.health().await["upstream"]["cooldown_ms"].clone();
    let refused_at = arrivals.lock().expect("lock")[0];
    let others: Vec<_> = (0..3)
        .map(|_| {
            let (server, client) = (Arc::clone(&server), client.clone());
            tokio::spawn(async move { server.analyze(&client, json!({"query": "AAPL?"})).await })
        })
        .collect();
    for other in others {
        assert_eq!(other.await.expect("join").status(), 200);
    }
    let others_served_after = refused_at.elapsed();
    assert_eq!(
        first.await.expect("join").status(),
        200,
        "the refused call was retried"
    );
    let arrivals = arrivals.lock().expect("lock").clone();
    assert_eq!(
        arrivals.len(),
        1 + 4 * 2,
        "one refused call, then two turns per analysis"
    );
    let metrics = reqwest::get(format!("{}/metrics", server.url()))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let cooldowns = metrics
        .lines()
        .filter(|l| l.starts_with("upstream_cooldowns_total"))
        .collect::<Vec<_>>()
        .join("\n");
    AfterRefusal {
        arrivals,
        others_served_after,
        cooldowns,
        cooldown_left_ms: server.health().await["upstream"]["cooldown_ms"].clone(),
        cooldown_at_retry_ms,
    }
}

/// The latest model call after the refused one, counted from it.
fn last_call_after_refusal(arrivals: &[Instant]) -> Duration {
    arrivals[1..]
        .iter()
        .map(|a| a.duration_since(arrivals[0]))
        .max()
        .expect("calls")
}

#[tokio::test]
async fn a_429_with_retry_after_ms_pauses_every_model_call_then_they_resume() {
    let refusal = ResponseTemplate::new(429)
        .insert_header("retry-after-ms", "800")
        .set_body_json(
            json!({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}),
        );
    let seen = three_analyses_after(refusal, ConcurrencyMode::Adaptive).await;
    // The three later analyses arrived during the cool-down: they waited instead of calling.
    for later in &seen.arrivals[1..] {
        assert!(
            later.duration_since(seen.arrivals[0]) >= Duration::from_millis(790),
            "a model call went out {:?} after the 429 asked for 800 ms",
            later.duration_since(seen.arrivals[0])
        );
    }
    assert!(
        seen.cooldowns
            .contains("upstream_cooldowns_total{api=\"claude\"} 1"),
        "{}",
        seen.cooldowns
    );
    assert_eq!(seen.cooldown_left_ms, 0);
}

/// A 429 for the account's concurrency: `retry-after: 1`, every budget with headroom.
fn concurrency_refusal() -> ResponseTemplate {
    ResponseTemplate::new(429)
        .insert_header("retry-after", "1")
        .insert_header("anthropic-ratelimit-requests-remaining", "1500")
        .insert_header("anthropic-ratelimit-output-tokens-remaining", "70000")
        .set_body_json(json!({"type": "error", "error": {"type": "rate_limit_error",
            "message": "This request would exceed your organization's rate limit of 20 concurrent requests."}}))
}

#[tokio::test]
async fn a_429_with_budgets_left_pauses_only_its_own_call_when_the_limit_adapts() {
    let seen = three_analyses_after(concurrency_refusal(), ConcurrencyMode::Adaptive).await;
    // Sampled while the refused call waits out its own retry-after of 1 s: no pause in force
    // for anyone else (a wall-clock bound on the others' analyses would only measure the
    // machine's load).
    assert_eq!(
        seen.cooldown_at_retry_ms, 0,
        "a concurrency 429 started a shared cool-down while its own call waited"
    );
    let retry = last_call_after_refusal(&seen.arrivals);
    assert!(
        retry >= Duration::from_millis(990),
        "the refused call came back {retry:?} after a retry-after of 1 s"
    );
    assert!(
        !seen.cooldowns.contains("{api=\"claude\"} 1"),
        "no shared cool-down: {}",
        seen.cooldowns
    );
    assert_eq!(seen.cooldown_left_ms, 0);
}

#[tokio::test]
async fn with_a_fixed_limit_a_concurrency_429_still_pauses_every_call() {
    // Nothing lowers a fixed limit: without the shared pause the server would keep calling
    // into the provider's concurrency limit.
    let seen = three_analyses_after(concurrency_refusal(), ConcurrencyMode::Fixed).await;
    assert!(
        seen.others_served_after >= Duration::from_millis(990),
        "the other analyses were served {:?} after the 429, inside its 1 s pause",
        seen.others_served_after
    );
    assert!(
        seen.cooldowns.contains("{api=\"claude\"} 1"),
        "{}",
        seen.cooldowns
    );
}

#[tokio::test]
async fn a_503_sent_during_a_cool_down_says_to_wait_it_out() {
    let trading = trading_with_aapl().await;
    let claude = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "30")
                .set_body_json(json!({"type": "error", "error": {"type": "rate_limit_error", "message": "tier"}})),
        )
        .mount(&claude)
        .await;
    let mut s = settings(&trading.uri(), &claude.uri());
    s.admission.request_timeout = Duration::from_secs(2);
    let server = TestServer::start(s).await;
    let response = server
        .analyze(&reqwest::Client::new(), json!({"query": "AAPL?"}))
        .await;
    assert_eq!(response.status(), 503);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(
        retry_after >= 29,
        "Retry-After {retry_after} s does not cover the 30 s pause"
    );
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["type"], "upstream_unavailable");
    assert_eq!(
        claude.received_requests().await.expect("recorded").len(),
        1,
        "no retry into the pause"
    );
}

#[tokio::test]
async fn a_stalled_attempt_is_retried_within_the_deadline() {
    let trading = trading_with_aapl().await;
    let claude = MockServer::start().await;
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    Mock::given(method("POST"))
        .respond_with(Recording {
            arrivals: Arc::clone(&arrivals),
            first: ResponseTemplate::new(200).set_delay(Duration::from_secs(20)),
            refuse: 1,
        })
        .mount(&claude)
        .await;
    let mut s = settings(&trading.uri(), &claude.uri());
    s.claude.attempt_timeout = Duration::from_millis(300);
    s.admission.request_timeout = Duration::from_secs(10);
    let server = TestServer::start(s).await;
    let started = Instant::now();
    let response = server
        .analyze(&reqwest::Client::new(), json!({"query": "AAPL?"}))
        .await;
    assert_eq!(response.status(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "waited {:?}: the stalled attempt used the deadline",
        started.elapsed()
    );
    assert_eq!(
        arrivals.lock().expect("lock").len(),
        3,
        "stalled, retried, second turn"
    );
    let metrics = reqwest::get(format!("{}/metrics", server.url()))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("upstream_calls_total{api=\"claude\",outcome=\"timeout\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn two_failing_requests_with_retries_do_not_open_the_circuit_with_the_defaults() {
    let trading = trading_with_aapl().await;
    let claude = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&claude)
        .await;
    // Defaults: 5 failed requests open it, 3 retries per call.
    let server = TestServer::start(settings(&trading.uri(), &claude.uri())).await;
    let client = reqwest::Client::new();
    for _ in 0..2 {
        assert_eq!(
            server
                .analyze(&client, json!({"query": "AAPL?"}))
                .await
                .status(),
            502
        );
    }
    assert_eq!(
        claude.received_requests().await.expect("recorded").len(),
        8,
        "4 attempts each"
    );
    assert_eq!(server.health().await["upstream"]["circuit"], "closed");
}

/// Calls whose first message asks to be slow take 800 ms and succeed; every other call fails.
struct SlowSuccessElseFailure {
    slow_arrived: Arc<AtomicUsize>,
}

impl Respond for SlowSuccessElseFailure {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        if body["messages"][0].to_string().contains("slowly") {
            self.slow_arrived.fetch_add(1, Ordering::AcqRel);
            ScriptedClaude
                .respond(request)
                .set_delay(Duration::from_millis(800))
        } else {
            ResponseTemplate::new(500)
        }
    }
}

#[tokio::test]
async fn a_success_that_started_before_the_circuit_opened_does_not_close_it() {
    let trading = trading_with_aapl().await;
    let claude = MockServer::start().await;
    let slow_arrived = Arc::new(AtomicUsize::new(0));
    Mock::given(method("POST"))
        .respond_with(SlowSuccessElseFailure {
            slow_arrived: Arc::clone(&slow_arrived),
        })
        .mount(&claude)
        .await;
    let mut s = settings(&trading.uri(), &claude.uri());
    s.claude.max_retries = 0;
    s.claude.circuit_failure_threshold = 1;
    s.claude.circuit_open = Duration::from_secs(30);
    let server = Arc::new(TestServer::start(s).await);
    let client = reqwest::Client::new();
    let slow = {
        let (server, client) = (Arc::clone(&server), client.clone());
        tokio::spawn(async move {
            server
                .analyze(&client, json!({"query": "AAPL, slowly please"}))
                .await
        })
    };
    wait_until("the slow call is upstream", || async {
        slow_arrived.load(Ordering::Acquire) == 1
    })
    .await;
    let failing = server.analyze(&client, json!({"query": "AAPL?"})).await;
    assert_eq!(failing.status(), 502);
    assert_eq!(server.health().await["upstream"]["circuit"], "open");
    // The slow call's success arrives now: it was let through before the circuit opened, so it
    // says nothing about the upstream since (its second turn is refused by the open circuit).
    let slow = slow.await.expect("join");
    assert_eq!(slow.status(), 503);
    assert_eq!(server.health().await["upstream"]["circuit"], "open");
}

#[tokio::test]
async fn running_out_of_the_request_deadline_is_not_an_upstream_failure() {
    let trading = trading_with_aapl().await;
    let claude = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(2)))
        .mount(&claude)
        .await;
    let mut s = settings(&trading.uri(), &claude.uri());
    s.claude.circuit_failure_threshold = 1;
    s.admission.request_timeout = Duration::from_millis(200);
    let server = TestServer::start(s).await;
    let client = reqwest::Client::new();
    for _ in 0..2 {
        assert_eq!(
            server
                .analyze(&client, json!({"query": "AAPL?"}))
                .await
                .status(),
            504
        );
    }
    assert_eq!(server.health().await["upstream"]["circuit"], "closed");
}

#[tokio::test]
async fn the_adaptive_limit_backs_off_when_the_provider_refuses_concurrent_calls() {
    let (trading, claude) = crate::support::mocks_with(|claude| {
        claude.latency.latency_ms = 150;
        claude.max_concurrent = 2;
    })
    .await;
    let mut s = settings(&trading.url(), &claude.url());
    s.admission.max_concurrent_analyses = 8;
    let server = Arc::new(TestServer::start(s).await);
    assert_eq!(server.health().await["concurrency_limit"], 8);
    assert_eq!(server.health().await["concurrency_mode"], "adaptive");
    let served = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let (server, served) = (Arc::clone(&server), Arc::clone(&served));
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                for _ in 0..2 {
                    let r = server.analyze(&client, json!({"query": "AAPL?"})).await;
                    if r.status() == 200 {
                        served.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for c in clients {
        c.await.expect("join");
    }
    let limit = server.health().await["concurrency_limit"]
        .as_u64()
        .expect("limit");
    assert!(limit < 8, "limit stayed at {limit} despite 429s");
    assert!(limit >= 2, "limit {limit} fell below the floor");
    assert!(served.load(Ordering::Relaxed) > 0);
}

#[tokio::test]
async fn after_a_storm_that_refused_even_at_the_floor_the_limit_grows_back_per_round_trip() {
    let (trading, claude) = crate::support::mocks_with(|claude| {
        claude.latency.latency_ms = 50;
        claude.overload_rate = 1.0;
    })
    .await;
    let mut s = settings(&trading.url(), &claude.url());
    s.admission.max_concurrent_analyses = 8;
    s.claude.circuit_failure_threshold = 1_000; // this test is about the limit, not the breaker
    let server = Arc::new(TestServer::start(s).await);
    let client = reqwest::Client::new();

    // The storm: every model call 529s, at any concurrency, until the limit sits at the floor.
    let storm: Vec<_> = (0..8)
        .map(|_| {
            let (server, client) = (Arc::clone(&server), client.clone());
            tokio::spawn(async move {
                for _ in 0..4 {
                    let r = server.analyze(&client, json!({"query": "AAPL?"})).await;
                    assert_eq!(r.status(), 503);
                }
            })
        })
        .collect();
    for c in storm {
        c.await.expect("join");
    }
    assert_eq!(
        server.health().await["concurrency_limit"],
        2,
        "the storm drove the limit to the floor"
    );

    // The provider recovers; with more clients than permits the limit is back near N within
    // seconds (one permit per round trip), not one permit per 30 s probe interval.
    let admin = format!("{}/__admin/faults", claude.url());
    let patched = client
        .post(&admin)
        .json(&json!({"overload_rate": 0.0}))
        .send()
        .await
        .expect("admin");
    assert_eq!(patched.status(), 200);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load: Vec<_> = (0..10)
        .map(|_| {
            let (server, client, stop) = (Arc::clone(&server), client.clone(), Arc::clone(&stop));
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let r = server.analyze(&client, json!({"query": "AAPL?"})).await;
                    assert_eq!(r.status(), 200);
                }
            })
        })
        .collect();
    wait_until("concurrency_limit back to ≥ 7 of 8", || async {
        server.health().await["concurrency_limit"]
            .as_u64()
            .unwrap_or(0)
            >= 7
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    for c in load {
        c.await.expect("join");
    }
}
