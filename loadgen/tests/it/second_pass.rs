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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_loop_step_the_generator_cannot_keep_up_with_divides_by_the_time_it_took() {
    // 10 connections of a 50 ms target carry at most 200 req/s; 2000/s asked for 1 s with a
    // 2 s timeout: late sends keep going out for up to 2 s past the window. The rate is over the
    // ~3 s the requests took (≤ 200/s), not the 1 s asked for (~600/s), and the run says so.
    let router = Router::new().route(
        "/",
        get(|| async {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            "ok"
        }),
    );
    let target = Target::serve(router).await;
    let run = loadgen(&[
        "run",
        "--rate",
        "2000",
        "-d",
        "1s",
        "--max-in-flight",
        "10",
        "--timeout",
        "2s",
        "-X",
        "GET",
        &target.url("/"),
    ])
    .await;
    assert_eq!(run.code, 0);
    let step = run.step();
    let over = common::num(&step, "overrun_s");
    assert!((1.5..=2.6).contains(&over), "overrun {over} s");
    let duration = common::num(&step, "duration_s");
    assert!((duration - 1.0 - over).abs() < 0.01, "duration {duration}");
    let throughput = common::num(&step, "throughput_rps");
    assert!(
        (100.0..=200.0 * 1.1).contains(&throughput),
        "the target can serve 200/s at most: {throughput}"
    );
    assert!(
        run.stderr.contains("sending overran the step by"),
        "{}",
        run.stderr
    );
    let row = &run.csv()[0];
    assert!((row["duration_s"].parse::<f64>().unwrap() - duration).abs() < 0.001);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_shed_with_503_is_called_shedding_not_a_typo() {
    // One request in 50 is served; the rest are shed with 503 and Retry-After.
    let n = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let target = Target::serve(Router::new().route(
        "/",
        get(move || {
            let k = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move {
                if k.is_multiple_of(50) {
                    (StatusCode::OK, [("retry-after", "1")], "ok")
                } else {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        [("retry-after", "1")],
                        "full",
                    )
                }
            }
        }),
    ))
    .await;
    let run = loadgen(&[
        "run",
        "-X",
        "GET",
        "-c",
        "2",
        "-d",
        "300ms",
        &target.url("/"),
    ])
    .await;
    assert_eq!(run.code, 0);
    assert!(
        run.stderr.contains("the target is shedding load (503")
            && run.stderr.contains("with Retry-After 1 s on average"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("check the URL"), "{}", run.stderr);
    assert!(!run.stderr.contains("100% of answers"), "{}", run.stderr);
}
