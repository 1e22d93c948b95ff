//! Real traffic: varied bodies from a JSON Lines file (`--bodies`, a scenario's `bodies`) and
//! random arrival processes (`--arrivals`), checked at an in-process target that records what
//! it received and when.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use common::{loadgen, out_dir, Run, Target};
use sha2::{Digest, Sha256};

/// What the target received, in order: each body and its arrival instant.
type Received = Arc<Mutex<Vec<(Instant, Bytes)>>>;

/// A target that answers `POST /` with 200 and records every body as it arrives.
async fn recording_target() -> (Target, Received) {
    let seen: Received = Arc::default();
    let log = seen.clone();
    let router = Router::new().route(
        "/",
        post(move |body: Bytes| {
            let log = log.clone();
            async move {
                log.lock().unwrap().push((Instant::now(), body));
                "ok"
            }
        }),
    );
    (Target::serve(router).await, seen)
}

/// A JSON Lines file of `n` distinct bodies; returns its path and its lines.
fn dataset(n: usize) -> (std::path::PathBuf, Vec<String>) {
    let lines: Vec<String> = (0..n)
        .map(|i| format!(r#"{{"query":"question {i} about AAPL"}}"#))
        .collect();
    let path = out_dir().join("questions.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    (path, lines)
}

fn bodies(seen: &Received) -> Vec<String> {
    seen.lock()
        .unwrap()
        .iter()
        .map(|(_, b)| String::from_utf8(b.to_vec()).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_order_every_line_of_the_dataset_is_sent_once_per_pass() {
    let (target, seen) = recording_target().await;
    let (path, lines) = dataset(9);
    let file = path.to_str().unwrap();
    let run = loadgen(&[
        "run",
        "-c",
        "3",
        "-d",
        "600ms",
        "--bodies",
        file,
        &target.url("/"),
    ])
    .await;
    assert_eq!(run.code, 0);
    let got = bodies(&seen);
    let k = got.len();
    let n = lines.len();
    assert!(k >= 2 * n, "only {k} requests: fewer than two passes");
    // Sends k of a cycle over n lines: every line k / n times, the first k mod n once more.
    for (i, line) in lines.iter().enumerate() {
        let count = got.iter().filter(|b| *b == line).count();
        let want = k / n + usize::from(i < k % n);
        assert_eq!(count, want, "line {} sent {count} times in {k}", i + 1);
    }
    // The summary says which dataset ran.
    let request = &run.json()["config"]["requests"][0];
    let sha: String = Sha256::digest(std::fs::read(&path).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(request["bodies"]["sha256"], sha.as_str());
    assert_eq!(request["bodies"]["file"], file);
    assert_eq!(request["bodies"]["lines"], 9);
    assert_eq!(request["bodies"]["order"], "sequential");
    // Closed loop: the arrivals column is empty.
    assert_eq!(run.csv()[0]["arrivals"], "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_order_is_reproduced_by_its_seed() {
    let (path, lines) = dataset(50);
    let file = path.to_str().unwrap();
    let mut runs = Vec::new();
    for seed in ["7", "7", "8"] {
        let (target, seen) = recording_target().await;
        let args = [
            "run",
            "-c",
            "1",
            "-d",
            "300ms",
            "--bodies",
            file,
            "--bodies-order",
            "random",
            "--seed",
            seed,
            &target.url("/"),
        ];
        assert_eq!(loadgen(&args).await.code, 0);
        runs.push(bodies(&seen));
    }
    let common = runs.iter().map(Vec::len).min().unwrap();
    assert!(common >= 20, "{common} requests");
    assert_eq!(runs[0][..common], runs[1][..common], "seed 7 twice");
    assert_ne!(runs[0][..common], runs[2][..common], "seeds 7 and 8");
    assert!(runs[0].iter().all(|b| lines.contains(b)));
    // Not the file order.
    assert_ne!(runs[0][..20], lines[..20]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scenario_request_takes_bodies_relative_to_the_scenario_file() {
    let (target, seen) = recording_target().await;
    let (path, lines) = dataset(4);
    let scenario = path.parent().unwrap().join("scenario.toml");
    std::fs::write(
        &scenario,
        "[[request]]\nname = \"analyze\"\nmethod = \"POST\"\npath = \"/\"\nbodies = \"questions.jsonl\"\n",
    )
    .unwrap();
    let run = loadgen(&[
        "run",
        "-c",
        "1",
        "-d",
        "200ms",
        "--scenario",
        scenario.to_str().unwrap(),
        &target.url("/"),
    ])
    .await;
    assert_eq!(run.code, 0);
    let got = bodies(&seen);
    assert!(got.len() >= 4, "{got:?}");
    assert_eq!(got[..4], lines[..]);
}

/// Runs loadgen expecting a usage error; returns its stderr.
async fn usage_error(args: &[&str]) -> String {
    let run: Run = loadgen(args).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    run.stderr
}

#[tokio::test]
async fn unusable_bodies_and_misplaced_arrivals_are_usage_errors() {
    let dir = out_dir();
    let url = "http://127.0.0.1:9/";
    let missing = dir.join("missing.jsonl");
    let e = usage_error(&["run", "-c", "1", "--bodies", missing.to_str().unwrap(), url]).await;
    assert!(e.contains("--bodies") && e.contains("missing.jsonl"), "{e}");
    let empty = dir.join("empty.jsonl");
    std::fs::write(&empty, "\n\n").unwrap();
    let e = usage_error(&["run", "-c", "1", "--bodies", empty.to_str().unwrap(), url]).await;
    assert!(e.contains("has no bodies"), "{e}");
    let bad = dir.join("bad.jsonl");
    std::fs::write(&bad, "{\"query\":\"a\"}\n{\"query\": oops}\n").unwrap();
    let e = usage_error(&["run", "-c", "1", "--bodies", bad.to_str().unwrap(), url]).await;
    assert!(e.contains("line 2 is not valid JSON"), "{e}");
    let e = usage_error(&[
        "run",
        "-c",
        "1",
        "--bodies",
        bad.to_str().unwrap(),
        "--body",
        "{}",
        url,
    ])
    .await;
    assert!(e.contains("--bodies") && e.contains("--body"), "{e}");
    let e = usage_error(&["run", "-c", "2", "--arrivals", "poisson", url]).await;
    assert!(e.contains("--arrivals") && e.contains("open loop"), "{e}");
    let e = usage_error(&["run", "-r", "2", "--arrivals", "gamma:0", url]).await;
    assert!(e.contains("gamma:0"), "{e}");
}

/// Coefficient of variation of the gaps between consecutive instants.
fn gap_cv(times: &[Instant]) -> f64 {
    let gaps: Vec<f64> = times
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs_f64())
        .collect();
    let n = gaps.len() as f64;
    let mean = gaps.iter().sum::<f64>() / n;
    let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / (n - 1.0);
    var.sqrt() / mean
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gamma_2_arrivals_reach_the_target_with_a_cv_near_2() {
    let mut cvs = Vec::new();
    for arrivals in ["gamma:2", "constant"] {
        let (target, seen) = recording_target().await;
        let run = loadgen(&[
            "run",
            "-r",
            "100",
            "-d",
            "4s",
            "--arrivals",
            arrivals,
            "--body",
            "{}",
            &target.url("/"),
        ])
        .await;
        assert_eq!(run.code, 0);
        assert_eq!(run.csv()[0]["arrivals"], arrivals);
        assert_eq!(run.json()["config"]["arrivals"], arrivals);
        let mut times: Vec<Instant> = seen.lock().unwrap().iter().map(|(t, _)| *t).collect();
        times.sort();
        assert!(
            times.len() > 300,
            "{} arrivals in 4 s at 100/s",
            times.len()
        );
        cvs.push(gap_cv(&times));
    }
    // The schedule's own CV for this seed and step, 400 gaps: measured at the target it keeps
    // within timer jitter of it; a finite sample of gamma:2 gaps scatters about 10% around 2.
    let mut schedule = loadgen::arrivals::Arrivals::Gamma { cv: 2.0 }
        .schedule(100.0, loadgen::arrivals::step_seed(42, 0, 0));
    let intended: Vec<f64> = (0..400).map(|_| schedule.next_offset()).collect();
    let gaps: Vec<f64> = intended.windows(2).map(|w| w[1] - w[0]).collect();
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    let sd =
        (gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / (gaps.len() - 1) as f64).sqrt();
    let planned = sd / mean;
    eprintln!(
        "gamma:2 CV at the target {:.3} (schedule {planned:.3}); constant {:.3}",
        cvs[0], cvs[1]
    );
    assert!(
        (cvs[0] - planned).abs() < 0.15 * planned,
        "measured CV {} vs planned {planned}",
        cvs[0]
    );
    assert!((cvs[0] - 2.0).abs() < 0.5, "measured CV {}", cvs[0]);
    assert!(cvs[1] < 0.5, "constant arrivals measured CV {}", cvs[1]);
}
