//! The exit codes a CI gates on: 0 objectives hold, 1 one failed (listing step, objective,
//! measured value), 2 usage or configuration error naming the flag, 3 target unreachable.

use crate::common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use common::{loadgen, refused_port, Target};

/// 20 ms per request; answers 503 while more than one request is in flight.
async fn single_lane_target() -> Target {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let router = Router::new().route(
        "/",
        get(move || {
            let in_flight = in_flight.clone();
            async move {
                let n = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                if n > 1 {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::OK
                }
            }
        }),
    );
    Target::serve(router).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objectives_that_hold_exit_0() {
    let target = single_lane_target().await;
    let run = loadgen(&[
        "run",
        "-c",
        "1",
        "-d",
        "300ms",
        "--url",
        &target.url("/"),
        "-X",
        "GET",
        "--slo",
        "success>=99%",
        "--slo",
        "p99<2s",
        "--slo",
        "goodput>=5/s",
    ])
    .await;
    assert_eq!(run.code, 0);
    assert!(
        run.stderr.contains("SLO passed (3 objectives)"),
        "{}",
        run.stderr
    );
    let one = loadgen(&[
        "run",
        "-c",
        "1",
        "-d",
        "200ms",
        "--url",
        &target.url("/"),
        "-X",
        "GET",
        "--slo",
        "success>=99%",
    ])
    .await;
    assert!(
        one.stderr.contains("SLO passed (1 objective)"),
        "{}",
        one.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_objective_exits_1_listing_step_objective_and_measured_value() {
    let target = single_lane_target().await;
    let run = loadgen(&[
        "ramp",
        "--steps",
        "1,4",
        "--step-duration",
        "300ms",
        "--warmup",
        "0s",
        "--url",
        &target.url("/"),
        "-X",
        "GET",
        "--slo",
        "success>=99%",
        "--slo",
        "p50<1ms",
    ])
    .await;
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("step 1 (concurrency 1): p50<1ms failed, measured"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("step 2 (concurrency 4): success>=99% failed, measured"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("step 1 (concurrency 1): success"),
        "step 1 succeeds"
    );
    assert_eq!(
        run.csv().len(),
        2,
        "results are written even when the gate fails"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slo_until_limits_the_gate_to_lower_steps() {
    let target = single_lane_target().await;
    let run = loadgen(&[
        "ramp",
        "--steps",
        "1,4",
        "--step-duration",
        "300ms",
        "--warmup",
        "0s",
        "--url",
        &target.url("/"),
        "-X",
        "GET",
        "--slo",
        "success>=99%",
        "--slo-until",
        "1",
    ])
    .await;
    assert_eq!(run.code, 0, "step 2 sheds, but is beyond --slo-until");
    let rows = run.csv();
    assert!(rows[1]["rejected_503"].parse::<u64>().unwrap() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_and_configuration_errors_exit_2_naming_the_flag() {
    let cases: [(&[&str], &str); 12] = [
        (&["run", "-c", "1", "--slo", "p99~2s"], "--slo"),
        (&["run", "-c", "1", "--slo", "p98<2s"], "--slo"),
        (&["run", "-c", "1", "--url", "ftp://127.0.0.1:1/"], "--url"),
        (&["run", "-c", "1", "--instance", "2/2"], "--instance"),
        (&["run", "-c", "1", "--start-at", "noon"], "--start-at"),
        (
            &["run", "-c", "1", "--start-at", "2020-01-01T00:00:00Z"],
            "--start-at",
        ),
        (&["find-capacity", "--max", "4"], "--slo"),
        (&["run", "-c", "0"], "--concurrency"),
        (&["run", "--rate=-5"], "--rate"),
        (&["ramp", "--steps", "0,2"], "--steps"),
        (
            &["run", "-c", "1", "--body-file", "/nonexistent/body.json"],
            "--body-file",
        ),
        (&["run", "-c", "1", "-d", "soon"], "--duration"),
    ];
    for (args, flag) in cases {
        let run = loadgen(args).await;
        assert_eq!(run.code, 2, "{args:?}");
        assert!(run.stderr.contains(flag), "{args:?}: {}", run.stderr);
    }
    let both = loadgen(&["run", "-c", "1", "-r", "10"]).await;
    assert_eq!(both.code, 2);
    let neither = loadgen(&["run"]).await;
    assert_eq!(neither.code, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_target_exits_3_before_the_run() {
    let url = format!("http://127.0.0.1:{}/analyze", refused_port());
    let started = std::time::Instant::now();
    let run = loadgen(&["ramp", "--to", "50", "--url", &url]).await;
    assert_eq!(run.code, 3);
    assert!(run.stderr.contains("unreachable"), "{}", run.stderr);
    assert!(run.stderr.contains(&url));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "fails at once, no steps run"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_output_path_exits_2_naming_the_flag() {
    let target = single_lane_target().await;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args([
            "run", "-c", "1", "-d", "100ms", "-X", "GET", "--quiet", "--url",
        ])
        .arg(target.url("/"))
        .args(["--out", "/dev/null/not-a-dir/out.csv"])
        .output()
        .await
        .unwrap();
    let run = common::finish(output, common::out_dir());
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("--out: cannot create /dev/null/not-a-dir"),
        "{}",
        run.stderr
    );
}
