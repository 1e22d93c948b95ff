//! `--target-pid`: the target process's CPU and memory, read from /proc beside the load.

use std::process::Stdio;
use std::sync::Arc;

use axum::Router;
use tokio::io::AsyncWriteExt;

use crate::common::{loadgen, Target};

/// CPU seconds the child burns once told to: its own CPU clock, so a busy machine stretches the
/// wall time it takes but not the amount.
const BURN_S: f64 = 1.5;

/// The step's length: the burn's wall time stretches on a machine busy with other work (seen:
/// 0.4 CPU-s per second), and the whole burn must fall inside the step.
const STEP: &str = "8s";

/// A Python program that waits for a line on stdin, burns [`BURN_S`] of CPU, says `done` on
/// stdout, then idles until it is killed.
fn burner() -> String {
    format!(
        "import sys, time\nsys.stdin.readline()\nt = time.process_time()\n\
         while time.process_time() - t < {BURN_S}:\n    pass\n\
         print('done', flush=True)\ntime.sleep(60)\n"
    )
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_steps_cpu_delta_is_the_cpu_the_target_process_burned_in_it() {
    // The child starts burning when the target gets its first request: after loadgen's first
    // reading (taken before the step's first request), inside the step's window.
    let first = Arc::new(tokio::sync::Notify::new());
    let router = Router::new().route(
        "/",
        axum::routing::get({
            let first = first.clone();
            move || {
                first.notify_one();
                async { "ok" }
            }
        }),
    );
    let target = Target::serve(router).await;
    let mut child = tokio::process::Command::new("python3")
        .args(["-c", &burner()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 runs");
    let pid = child.id().expect("a running child").to_string();
    let mut stdin = child.stdin.take().expect("stdin");
    let go = tokio::spawn(async move {
        first.notified().await;
        stdin.write_all(b"go\n").await.expect("child reads");
        stdin.flush().await.expect("flushed");
        stdin // kept open: the child reads one line only
    });
    let run = loadgen(&[
        "run",
        "-X",
        "GET",
        "-c",
        "1",
        "--think-time",
        "100ms",
        "-d",
        STEP,
        "--warmup",
        "0s",
        "--target-pid",
        &pid,
        "--target-cores",
        "1.5",
        &target.url("/"),
    ])
    .await;
    let _stdin = go.await.expect("the target was reached");
    // Its `done` is already there when the burn ended inside the step.
    let mut said = String::new();
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().expect("stdout"));
    let _ = tokio::time::timeout(
        std::time::Duration::from_millis(200),
        tokio::io::AsyncBufReadExt::read_line(&mut stdout, &mut said),
    )
    .await;
    child.kill().await.expect("the child we started stops");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        said.trim(),
        "done",
        "the child had not burned {BURN_S} CPU-s by the end of the {STEP} step: the machine is \
         too busy for this measurement"
    );

    let step = run.step();
    let w = &step["scrape"];
    let cpu = w["process_cpu_seconds_total{source=\"target_pid\"}"]["delta"]
        .as_f64()
        .unwrap_or_else(|| panic!("a CPU delta in {w}"));
    eprintln!("CPU delta of the step: {cpu} s (burned {BURN_S} s)");
    assert!(
        (cpu - BURN_S).abs() <= 0.3 * BURN_S,
        "CPU delta {cpu} s, burned {BURN_S} s: {w}"
    );
    let rss = w["process_resident_memory_bytes{source=\"target_pid\"}"]["mean"]
        .as_f64()
        .unwrap_or_else(|| panic!("a memory mean in {w}"));
    assert!(
        rss > 1e6,
        "a Python interpreter holds more than 1 MB: {rss}"
    );
    let csv = std::fs::read_to_string(run.dir.join("scrape.csv")).expect("scrape.csv beside --out");
    assert!(csv.starts_with("unix_s,series,kind,value\n"), "{csv}");
    assert!(
        csv.contains(",\"process_cpu_seconds_total{source=\"\"target_pid\"\"}\",counter,"),
        "{csv}"
    );
    assert!(
        csv.contains(",\"process_resident_memory_bytes{source=\"\"target_pid\"\"}\",gauge,"),
        "{csv}"
    );
    let config = &run.json()["config"];
    assert_eq!(config["target_pid"].to_string(), pid);
    assert_eq!(config["target_cores"], 1.5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_target_pid_or_cores_below_zero_is_a_usage_error() {
    let target =
        Target::serve(Router::new().route("/", axum::routing::get(|| async { "ok" }))).await;
    // Above the kernel's pid_max ceiling (2^22): no process can have it.
    let run = loadgen(&[
        "run",
        "-X",
        "GET",
        "-c",
        "1",
        "-d",
        "200ms",
        "--target-pid",
        "4194305",
        &target.url("/"),
    ])
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("--target-pid") && run.stderr.contains("4194305"),
        "{}",
        run.stderr
    );
    assert!(
        !run.dir.join("out.csv").exists(),
        "refused before any output"
    );

    let run = loadgen(&[
        "run",
        "-X",
        "GET",
        "-c",
        "1",
        "-d",
        "200ms",
        "--target-cores",
        "0",
        &target.url("/"),
    ])
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--target-cores"), "{}", run.stderr);
}
