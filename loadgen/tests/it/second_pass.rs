//! A newcomer's second pass (issue 33), run as a user would: the real binary against in-process
//! targets whose answers would mislead a naive reading.

use crate::common;

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use common::{loadgen, Target};

/// Answers every request with 500.
async fn broken_target() -> Target {
    Target::serve(Router::new().route(
        "/",
        get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
    ))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_latency_objective_fails_on_a_target_that_answers_only_errors() {
    let target = broken_target().await;
    let junit = common::out_dir().join("gate.xml");
    let run = loadgen(&[
        "run",
        "-X",
        "GET",
        "-c",
        "2",
        "-d",
        "300ms",
        "--slo",
        "p99<1s",
        "--junit",
        junit.to_str().unwrap(),
        &target.url("/"),
    ])
    .await;
    assert_eq!(run.code, 1, "nothing answered: the gate fails");
    assert!(!run.stderr.contains("SLO passed"), "{}", run.stderr);
    assert!(
        run.stderr.contains("p99<1s failed")
            && run
                .stderr
                .contains("no successful (2xx) response to measure")
            && run.stderr.contains("× 5xx"),
        "{}",
        run.stderr
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("<failure"), "{xml}");
    assert!(!xml.contains("0.000 ms"), "{xml}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_capacity_finds_nothing_on_a_target_that_answers_only_errors() {
    let target = broken_target().await;
    let run = loadgen(&[
        "find-capacity",
        "-X",
        "GET",
        "--max",
        "8",
        "--step-duration",
        "300ms",
        "--warmup",
        "0s",
        "--slo",
        "p99<1s",
        &target.url("/"),
    ])
    .await;
    assert_ne!(run.code, 0, "{}", run.stdout);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(!all.contains("every objective held"), "{all}");
}
