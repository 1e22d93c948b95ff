//! Throughput that does not alias with the latency: users of a step start spread over its
//! warm-up, and each user's cycle counts by its share of the measured window. Against a fixed
//! 1.44 s target and 8 s steps, counting sends gives 5 per user instead of 5.56 (−10%).

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use common::{loadgen, Target};

/// The fixed service time of the target.
const SERVICE: Duration = Duration::from_millis(1440);

/// A target that serves each request in [`SERVICE`], at most `permits` at once (the others
/// wait for a permit), and records how long each permit was held.
async fn fixed_target(permits: usize) -> (Target, Arc<Mutex<Vec<Duration>>>) {
    let held: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let sem = Arc::new(tokio::sync::Semaphore::new(permits));
    let router = {
        let held = held.clone();
        Router::new().route(
            "/",
            get(move || {
                let (held, sem) = (held.clone(), sem.clone());
                async move {
                    let _permit = sem.acquire().await.expect("never closed");
                    let t0 = Instant::now();
                    tokio::time::sleep(SERVICE).await;
                    held.lock().unwrap().push(t0.elapsed());
                    "ok"
                }
            }),
        )
    };
    (Target::serve(router).await, held)
}

fn f(row: &std::collections::HashMap<String, String>, k: &str) -> f64 {
    row[k]
        .parse()
        .unwrap_or_else(|_| panic!("{k} is a number in {row:?}"))
}

/// The target's own completion rate when every permit is busy: permits / mean service time.
fn capacity_rps(permits: usize, held: &Mutex<Vec<Duration>>) -> f64 {
    let held = held.lock().unwrap();
    let mean = held.iter().map(Duration::as_secs_f64).sum::<f64>() / held.len() as f64;
    permits as f64 / mean
}

fn within(actual: f64, expected: f64, pct: f64) -> bool {
    ((actual - expected) / expected).abs() * 100.0 <= pct
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_users_on_a_fixed_target_give_users_over_latency_on_an_8s_step() {
    let (target, _) = fixed_target(1000).await;
    let url = target.url("/");
    let run = loadgen(&[
        "run", "-X", "GET", "-c", "8", "-d", "8s", "--warmup", "2s", &url,
    ])
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let row = &run.csv()[0];
    let (x, r) = (f(row, "throughput_rps"), f(row, "mean_ms") / 1000.0);
    assert!(
        within(x, 8.0 / r, 3.0),
        "throughput {x:.3}/s against users / latency {:.3}/s: {row:?}",
        8.0 / r
    );
    assert!(
        f(row, "littles_law_error_pct").abs() <= 3.0,
        "Little's law column: {row:?}"
    );
    assert!(
        within(f(row, "in_flight_mean"), 8.0, 3.0),
        "8 users busy all the time: {row:?}"
    );
    assert!(!run.stderr.contains("Little's law"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_users_on_a_capped_target_give_its_own_completion_rate() {
    let (target, held) = fixed_target(10).await;
    let url = target.url("/");
    let run = loadgen(&[
        "ramp",
        "-X",
        "GET",
        "--steps",
        "8,16",
        "--step-duration",
        "8s",
        "--warmup",
        "2s",
        &url,
    ])
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let rows = run.csv();
    let capacity = capacity_rps(10, &held);
    let (x8, r8) = (
        f(&rows[0], "throughput_rps"),
        f(&rows[0], "mean_ms") / 1000.0,
    );
    assert!(
        within(x8, 8.0 / r8, 3.0),
        "8 users: {x8:.3}/s: {:?}",
        rows[0]
    );
    let x16 = f(&rows[1], "throughput_rps");
    assert!(
        within(x16, capacity, 3.0),
        "16 users on 10 permits: {x16:.3}/s against the target's {capacity:.3}/s: {:?}",
        rows[1]
    );
    // The 8 users the second step adds joined spread over its warm-up: Little's law holds.
    assert!(
        f(&rows[1], "littles_law_error_pct").abs() <= 3.0,
        "{:?}",
        rows[1]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_probe_of_a_search_gives_the_capped_targets_rate() {
    let (target, held) = fixed_target(10).await;
    let url = target.url("/");
    let dir = common::out_dir();
    let out = dir.join("probes.csv");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args([
            "find-capacity",
            "-X",
            "GET",
            "--slo",
            "p99<2s",
            "--min",
            "8",
            "--max",
            "16",
            "--resolution",
            "4",
            "--confirm",
            "1",
            "--step-duration",
            "8s",
            "--warmup",
            "2s",
            &url,
            "--out",
        ])
        .arg(&out)
        .kill_on_drop(true)
        .output()
        .await
        .expect("loadgen runs");
    let run = common::finish(output, dir);
    assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("probe 1 ") && !run.stderr.contains("/0 "),
        "progress names probes: {}",
        run.stderr
    );
    let rows = common::read_csv(&out);
    assert!(rows.len() >= 3, "{rows:?}");
    let capacity = capacity_rps(10, &held);
    for row in &rows {
        let users = f(row, "concurrency");
        let expected = (users / SERVICE.as_secs_f64()).min(capacity);
        let x = f(row, "throughput_rps");
        assert!(
            within(x, expected, 3.0),
            "probe at {users} users: {x:.3}/s against {expected:.3}/s: {row:?}"
        );
    }
}
