//! SIGINT/SIGTERM cut the current step short, everything measured so far is written, the cut
//! step is marked interrupted, and the run fails (130 / 143): a CI job killed by its own timeout
//! must not read as a pass.

mod common;

use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use common::{finish, out_dir, Target};
use tokio::sync::Notify;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_cuts_the_step_writes_what_was_measured_and_exits_130() {
    cut_by("-INT", 130).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_cuts_the_step_and_exits_143_even_when_the_slo_holds() {
    cut_by("-TERM", 143).await;
}

async fn cut_by(signal: &str, code: i32) {
    let seen = Arc::new(AtomicU64::new(0));
    let busy = Arc::new(Notify::new());
    let router = {
        let (seen, busy) = (seen.clone(), busy.clone());
        Router::new().route(
            "/",
            get(move || {
                let (seen, busy) = (seen.clone(), busy.clone());
                async move {
                    if seen.fetch_add(1, Ordering::SeqCst) == 100 {
                        busy.notify_one();
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    "ok"
                }
            }),
        )
    };
    let target = Target::serve(router).await;
    let dir = out_dir();
    let started = Instant::now();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args([
            "ramp",
            "--steps",
            "2,4",
            "--step-duration",
            "60s",
            "--warmup",
            "0s",
            "-X",
            "GET",
            "--slo",
            "success>=1%",
            "--url",
        ])
        .arg(target.url("/"))
        .arg("--out")
        .arg(dir.join("out.csv"))
        .arg("--json")
        .arg(dir.join("out.json"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    busy.notified().await;
    let pid = child.id().unwrap().to_string();
    let kill = std::process::Command::new("kill")
        .args([signal, &pid])
        .status()
        .unwrap();
    assert!(kill.success());
    let run = finish(child.wait_with_output().await.unwrap(), dir);

    assert_eq!(run.code, code, "{}", run.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "stopped promptly"
    );
    let rows = run.csv();
    assert_eq!(rows.len(), 1, "the second step never starts");
    assert_eq!(rows[0]["interrupted"], "true");
    let requests: u64 = rows[0]["requests"].parse().unwrap();
    assert!(requests >= 50, "{requests} requests measured before Ctrl-C");
    let duration: f64 = rows[0]["duration_s"].parse().unwrap();
    assert!(duration < 30.0, "measured {duration}s of a 60 s step");
    assert_eq!(run.json()["steps"][0]["interrupted"], true);
    assert!(run.stdout.contains("cut by Ctrl-C"));
}
