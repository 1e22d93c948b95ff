//! Numbers that stay true at the capacity edge: nothing abandoned at step boundaries, timeouts
//! always reachable, fast rejections kept out of the served percentiles, ok means 2xx, a POST
//! never resent, and `find-capacity` landing on a known capacity.

use crate::common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use common::{loadgen, num, read_request, Target, OK_RESPONSE};
use mocks::{LatencyDist, LatencySettings, TradingSettings};

fn sum(rows: &[std::collections::HashMap<String, String>], col: &str) -> u64 {
    rows.iter().map(|r| r[col].parse::<u64>().unwrap()).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ramp_counts_every_request_the_target_saw_exactly_once() {
    // 150 ms answers and 1 s steps: many requests straddle every boundary. Each step's
    // requests are resolved in that step, none abandoned, none counted twice.
    let mock = mocks::spawn_trading(TradingSettings {
        latency: LatencySettings {
            latency_ms: 150,
            latency_dist: LatencyDist::Fixed,
            latency_jitter: 0.0,
        },
        ..TradingSettings::default()
    })
    .await
    .unwrap();
    let url = format!("{}/v1/market/status", mock.url());
    mock.reset_stats();
    let run = loadgen(&[
        "ramp",
        "--steps",
        "1,4,8,3,6",
        "--step-duration",
        "1s",
        "--warmup",
        "0s",
        "-X",
        "GET",
        &url,
    ])
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let rows = run.csv();
    assert_eq!(rows.len(), 5);
    let requests = sum(&rows, "requests");
    let stats = mock.stats();
    assert_eq!(
        requests, stats.requests_total,
        "loadgen's steps = what the target saw (the preflight only connects, no warm-up)"
    );
    assert_eq!(sum(&rows, "in_flight_at_end"), 0);
    assert_eq!(sum(&rows, "ok"), requests, "every request answered 200");
    // Users persist: connections are opened when a step needs more users, not every step
    // (1 + 3 + 4 + 0 + 3 = 11 at most, plus reconnects nobody needed).
    let opened = sum(&rows, "connections_opened");
    assert!(opened <= 11, "connections opened: {opened}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalls_longer_than_the_timeout_are_timeouts_whatever_the_step_length() {
    // Every 20th request stalls 20 s; --timeout 2s within 3 s steps.
    let seen = Arc::new(AtomicU64::new(0));
    let router = {
        let seen = seen.clone();
        Router::new().route(
            "/",
            get(move || {
                let n = seen.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n % 20 == 19 {
                        tokio::time::sleep(Duration::from_secs(20)).await;
                    } else {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    "ok"
                }
            }),
        )
    };
    let target = Target::serve(router).await;
    let run = loadgen(&[
        "run",
        "-c",
        "4",
        "-d",
        "3s",
        "--timeout",
        "2s",
        "-X",
        "GET",
        &target.url("/"),
    ])
    .await;
    assert_eq!(run.code, 0);
    let step = run.step();
    let (requests, ok, timeouts) = (
        num(&step, "requests"),
        num(&step, "ok"),
        num(&step, "timeouts"),
    );
    assert!(timeouts >= 2.0, "stalls are timeouts: {step}");
    assert_eq!(requests, ok + timeouts);
    let success = num(&step, "success_rate");
    assert!((success - ok / requests).abs() < 1e-3, "{success}");
    assert!(success < 1.0);
    assert!(
        num(&step, "p99_ms") < 1000.0,
        "p99 of ok responses excludes the timeouts: {}",
        num(&step, "p99_ms")
    );
    assert!(num(&step, "max_ms") < 1000.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_rejections_stay_out_of_the_served_percentiles() {
    // Two requests in three are shed in ~1 ms; the rest are served in 50 ms.
    let seen = Arc::new(AtomicU64::new(0));
    let router = {
        let seen = seen.clone();
        Router::new().route(
            "/",
            get(move || {
                let n = seen.fetch_add(1, Ordering::SeqCst);
                async move {
                    if !n.is_multiple_of(3) {
                        (StatusCode::TOO_MANY_REQUESTS, "slow down").into_response()
                    } else {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        "ok".into_response()
                    }
                }
            }),
        )
    };
    let target = Target::serve(router).await;
    let run = loadgen(&[
        "run",
        "-c",
        "2",
        "-d",
        "2s",
        "-X",
        "GET",
        "--slo",
        "rejected_p50<20ms",
        &target.url("/"),
    ])
    .await;
    assert_eq!(run.code, 0, "rejected_p50 is an objective: {}", run.stderr);
    let row = &run.csv()[0];
    let f = |k: &str| row[k].parse::<f64>().unwrap();
    assert!(
        (45.0..80.0).contains(&f("p50_ms")),
        "p50 of served: {}",
        f("p50_ms")
    );
    assert!(f("rejected_p50_ms") < 10.0, "{}", f("rejected_p50_ms"));
    assert!(f("all_p50_ms") < 10.0, "most answers are fast 429s");
    assert!(f("rejected_429") > f("ok"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_not_success() {
    let target = Target::raw(|mut s, _| async move {
        use tokio::io::AsyncWriteExt;
        while read_request(&mut s).await {
            let r = b"HTTP/1.1 302 Found\r\nlocation: /login\r\ncontent-length: 0\r\n\r\n";
            if s.write_all(r).await.is_err() {
                return;
            }
        }
    })
    .await;
    let run = loadgen(&[
        "run",
        "-c",
        "1",
        "-d",
        "1s",
        "-X",
        "GET",
        "--slo",
        "success>=99%",
        &target.url("/"),
    ])
    .await;
    assert_eq!(run.code, 1, "the gate fails: nothing was served");
    let row = &run.csv()[0];
    assert_eq!(row["ok"], "0");
    assert_ne!(row["other_status"], "0");
    assert_eq!(row["other_status"], row["requests"]);
    assert_eq!(row["success_rate"], "0.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_is_never_resent_after_a_reset_on_a_reused_connection() {
    // Connection 0 (preflight) answers. Connection 1 answers its first request, then reads the
    // second and closes without a byte: the reused connection failed after the POST went out.
    let posts = Arc::new(AtomicU64::new(0));
    let target = {
        let posts = posts.clone();
        Target::raw(move |mut s, n| {
            let posts = posts.clone();
            async move {
                use tokio::io::AsyncWriteExt;
                if n == 0 {
                    while read_request(&mut s).await {
                        let _ = s.write_all(OK_RESPONSE).await;
                    }
                    return;
                }
                if read_request(&mut s).await {
                    posts.fetch_add(1, Ordering::SeqCst);
                    let _ = s.write_all(OK_RESPONSE).await;
                }
                if read_request(&mut s).await {
                    posts.fetch_add(1, Ordering::SeqCst);
                }
                // Closed with nothing sent back.
            }
        })
        .await
    };
    let run = loadgen(&[
        "run",
        "-c",
        "1",
        "-d",
        "1s",
        "--body",
        "{}",
        &target.url("/"),
    ])
    .await;
    let row = &run.csv()[0];
    let f = |k: &str| row[k].parse::<u64>().unwrap();
    assert_eq!(f("resent"), 0);
    assert!(f("io_errors") >= 1, "{row:?}");
    assert_eq!(
        f("requests"),
        posts.load(Ordering::SeqCst),
        "every POST the server saw was sent once and counted once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_capacity_lands_within_one_resolution_step_of_a_known_capacity() {
    // A target with 4 permits of 100 ms each and no queue: 5 users or more get 503s.
    let permits = Arc::new(tokio::sync::Semaphore::new(4));
    let router = {
        let permits = permits.clone();
        Router::new().route(
            "/",
            get(move || {
                let permits = permits.clone();
                async move {
                    match permits.try_acquire() {
                        Ok(_p) => {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            "ok".into_response()
                        }
                        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
                    }
                }
            }),
        )
    };
    let target = Target::serve(router).await;
    let run = loadgen(&[
        "find-capacity",
        "--slo",
        "success>=99%",
        "--max",
        "32",
        "--step-duration",
        "1s",
        "--warmup",
        "200ms",
        "--confirm",
        "1",
        "-X",
        "GET",
        &target.url("/"),
    ])
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    let capacity = report["capacity"].as_f64().expect("a capacity");
    assert!(
        (3.0..=4.0).contains(&capacity),
        "capacity {capacity} (true: 4 users)"
    );
    assert_eq!(report["unit"], "concurrency");
    let probes = report["probes"].as_array().unwrap();
    assert_eq!(probes.len(), run.csv().len(), "every probe is a CSV row");
    assert!(probes.iter().any(|p| p["passed"] == false));
    assert!(run.stdout.contains("capacity: "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localhost_tries_every_address_until_one_connects() {
    // The target listens on IPv4 only; `localhost` may resolve to ::1 first.
    let target = common::Target::serve(Router::new().route("/", get(|| async { "ok" }))).await;
    let url = format!("http://localhost:{}/", target.addr.port());
    let run = loadgen(&["run", "-c", "1", "-d", "500ms", "-X", "GET", &url]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.csv()[0]["connect_errors"], "0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_requests_go_to_their_own_authority() {
    let a = Target::serve(Router::new().route("/a", get(|| async { "a" }))).await;
    let b_hits = Arc::new(AtomicU64::new(0));
    let b = {
        let hits = b_hits.clone();
        Target::serve(Router::new().route(
            "/b",
            get(move || {
                hits.fetch_add(1, Ordering::SeqCst);
                async { "b" }
            }),
        ))
        .await
    };
    let dir = common::out_dir();
    let scenario = dir.join("s.toml");
    std::fs::write(
        &scenario,
        format!(
            "[[request]]\nname = \"a\"\npath = \"/a\"\n\n[[request]]\nname = \"b\"\npath = \"{}\"\n",
            b.url("/b")
        ),
    )
    .unwrap();
    let run = loadgen(&[
        "run",
        "-c",
        "2",
        "-d",
        "1s",
        "--scenario",
        scenario.to_str().unwrap(),
        &a.url("/"),
    ])
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let step = run.step();
    assert_eq!(
        num(&step, "other_4xx"),
        0.0,
        "no request hit the wrong host"
    );
    let b_requests = step["by_name"]["b"]["requests"].as_f64().unwrap();
    assert!(b_requests > 0.0);
    // The preflight only connects: b saw exactly the counted requests.
    assert_eq!(b_hits.load(Ordering::SeqCst) as f64, b_requests);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junit_has_one_case_per_step_and_objective_with_failures_explained() {
    let target = Target::serve(Router::new().route("/", get(|| async { "ok" }))).await;
    let dir = common::out_dir();
    let junit = dir.join("gate.xml");
    let run = loadgen(&[
        "ramp",
        "--steps",
        "1,2",
        "--step-duration",
        "300ms",
        "--warmup",
        "0s",
        "-X",
        "GET",
        "--slo",
        "success>=99%",
        "--slo",
        "p99<1us",
        "--junit",
        junit.to_str().unwrap(),
        &target.url("/"),
    ])
    .await;
    assert_eq!(run.code, 1);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testcase ").count(), 4, "{xml}");
    assert_eq!(xml.matches("<failure ").count(), 2, "{xml}");
    assert!(xml.contains("p99&lt;1us failed, measured"), "{xml}");
    assert!(xml.contains(r#"tests="4" failures="2""#), "{xml}");
}
