//! Open loop: the asked rate is met, and a target that stalls once for 1 s shows the stall in the
//! corrected p99 (latency from the intended send time) and hides it in the uncorrected p99.

use crate::common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use common::{loadgen, num, Target};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_asked_rate_is_met() {
    let target = Target::serve(Router::new().route("/", get(|| async { "ok" }))).await;
    let run = loadgen(&[
        "run",
        "--rate",
        "400",
        "-d",
        "1s",
        "--url",
        &target.url("/"),
        "-X",
        "GET",
    ])
    .await;
    assert_eq!(run.code, 0);
    let step = run.step();
    let requests = num(&step, "requests");
    assert!(
        (380.0..=405.0).contains(&requests),
        "asked 400 in 1 s, sent {requests}"
    );
    assert_eq!(num(&step, "target_rps"), 400.0);
    assert_eq!(num(&step, "concurrency"), 1000.0, "the in-flight cap");
    assert!(
        num(&step, "connections_opened") < 50.0,
        "connections follow need, not the cap"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_second_stall_shows_in_corrected_p99_and_hides_in_uncorrected_p99() {
    let count = Arc::new(AtomicU64::new(0));
    let router = Router::new().route(
        "/",
        get(move || {
            let count = count.clone();
            async move {
                // The 50th request (about 0.5 s in) stalls for a second.
                if count.fetch_add(1, Ordering::SeqCst) == 50 {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                "ok"
            }
        }),
    );
    let target = Target::serve(router).await;
    let run = loadgen(&[
        "run",
        "--rate",
        "100",
        "-d",
        "3s",
        "--max-in-flight",
        "1",
        "--url",
        &target.url("/"),
        "-X",
        "GET",
    ])
    .await;
    assert_eq!(run.code, 0);
    let step = run.step();
    let corrected_p99 = num(&step, "p99_ms");
    let uncorrected_p99 = num(&step["uncorrected"], "p99_ms");
    assert!(
        corrected_p99 >= 700.0,
        "corrected p99 {corrected_p99} ms shows the stall"
    );
    assert!(
        uncorrected_p99 < 100.0,
        "uncorrected p99 {uncorrected_p99} ms hides it"
    );
    assert!(
        num(&step["uncorrected"], "max_ms") >= 900.0,
        "the stalled request itself"
    );
    assert!(
        num(&step, "late_sends") >= 50.0,
        "sends queued behind the stall are counted late"
    );
    let requests = num(&step, "requests");
    assert!(
        (285.0..=302.0).contains(&requests),
        "late sends still go out: {requests}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_past_max_in_flight_is_counted_unsent_once_its_timeout_passes() {
    // 5 connections of a 400 ms target carry 12.5 req/s; 100/s are asked for 1 s with a 2 s
    // timeout: the sends that find no connection within their own timeout never go out and are
    // counted unsent in their step, and success is measured against every intended send.
    let router = Router::new().route(
        "/",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(400)).await;
            "ok"
        }),
    );
    let target = Target::serve(router).await;
    let started = std::time::Instant::now();
    let run = tokio::time::timeout(
        Duration::from_secs(60),
        loadgen(&[
            "run",
            "--rate",
            "100",
            "-d",
            "1s",
            "--max-in-flight",
            "5",
            "--timeout",
            "2s",
            "--url",
            &target.url("/"),
            "-X",
            "GET",
        ]),
    )
    .await
    .expect("the step resolves within its timeout");
    assert_eq!(run.code, 0);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "a 1 s step took {:?}",
        started.elapsed()
    );
    let step = run.step();
    let (requests, ok, cut, unsent) = (
        num(&step, "requests"),
        num(&step, "ok"),
        num(&step, "in_flight_at_end"),
        num(&step, "unsent"),
    );
    assert!(num(&step, "late_sends") > 0.0);
    assert_eq!(cut, 0.0, "nothing is cut: the step waits for its requests");
    assert!(
        unsent >= 50.0,
        "most of the 100 intended sends never went out: {unsent}"
    );
    assert_eq!(
        requests + unsent,
        100.0,
        "every intended send is either sent or unsent"
    );
    let success = num(&step, "success_rate");
    assert!(
        (success - ok / 100.0).abs() < 1e-9,
        "success {success} = ok {ok} / 100 intended"
    );
    let row = &run.csv()[0];
    assert_eq!(row["unsent"], unsent.to_string());
    assert_eq!(row["unsent_at_end"], unsent.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_too_low_for_a_second_send_sends_once_and_ends_the_step() {
    // The second send would be 10^300 s away: the pacer task used to panic converting that to
    // a Duration, and the run waited for the step's end forever (hence the timeout here).
    let target = Target::serve(Router::new().route("/", get(|| async { "ok" }))).await;
    let url = target.url("/");
    let args = [
        "run", "--rate", "1e-300", "-d", "200ms", "--url", &url, "-X", "GET",
    ];
    let run = tokio::time::timeout(Duration::from_secs(30), loadgen(&args))
        .await
        .expect("the run ends");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(num(&run.step(), "requests"), 1.0);
}
