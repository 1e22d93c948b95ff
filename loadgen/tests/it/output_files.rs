//! Output files are never lost to a run that fails or to two outputs on one path (issue 33,
//! item 5): every path is checked before anything is written, two outputs on one file are
//! refused naming both flags, and each file is written under `<name>.partial` and renamed into
//! place, so an earlier run's file survives a run that ends in a usage error.

use std::path::Path;

use axum::routing::get;
use axum::Router;

use crate::common::{finish, out_dir, read_csv, Run, Target};

/// A target answering `GET /` with 200, and `/metrics` with one Prometheus gauge.
async fn target() -> Target {
    Target::serve(
        Router::new()
            .route("/", get(|| async { "ok" }))
            .route("/metrics", get(|| async { "up 1\n" })),
    )
    .await
}

/// Runs `loadgen ARGS --quiet` exactly as given (no default outputs added).
async fn loadgen_as_given(args: &[&str]) -> Run {
    let dir = out_dir();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .arg("--quiet")
        .kill_on_drop(true)
        .output()
        .await
        .expect("loadgen runs");
    finish(output, dir)
}

fn text(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// No `.partial` file is left in `dir`.
fn no_partial_in(dir: &Path) {
    let left: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".partial"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_json_path_leaves_the_earlier_csv_untouched() {
    let target = target().await;
    let dir = out_dir();
    let keep = dir.join("keep.csv");
    std::fs::write(&keep, "an earlier run's rows\n").unwrap();
    let run = loadgen_as_given(&[
        "run",
        "-X",
        "GET",
        "-c",
        "1",
        "-d",
        "200ms",
        "--out",
        keep.to_str().unwrap(),
        "--json",
        "/proc/nope/out.json",
        &target.url("/"),
    ])
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("--json") && run.stderr.contains("/proc/nope"),
        "{}",
        run.stderr
    );
    assert_eq!(text(&keep), "an earlier run's rows\n");
    no_partial_in(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_outputs_on_one_file_are_refused_naming_both_flags() {
    let target = target().await;
    let dir = out_dir();
    let same = dir.join("same.csv");
    let run = loadgen_as_given(&[
        "run",
        "-X",
        "GET",
        "-c",
        "1",
        "-d",
        "200ms",
        "--out",
        same.to_str().unwrap(),
        "--json",
        same.to_str().unwrap(),
        &target.url("/"),
    ])
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("--out/--json: both write") && run.stderr.contains("same.csv"),
        "{}",
        run.stderr
    );
    assert!(!same.exists(), "nothing is written before the refusal");

    // The same file by another spelling is still the same file.
    let other_spelling = format!("{}/./same.csv", dir.display());
    let run = loadgen_as_given(&[
        "run",
        "-X",
        "GET",
        "-c",
        "1",
        "-d",
        "200ms",
        "--out",
        same.to_str().unwrap(),
        "--hdr-log",
        &other_spelling,
        &target.url("/"),
    ])
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--out/--hdr-log"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeseries_on_the_scrape_file_is_refused_and_the_scrape_file_kept() {
    let target = target().await;
    let dir = out_dir();
    let scrape = dir.join("scrape.csv");
    std::fs::write(&scrape, "earlier samples\n").unwrap();
    let run = loadgen_as_given(&[
        "run",
        "-X",
        "GET",
        "-c",
        "1",
        "-d",
        "200ms",
        "--out",
        dir.join("out.csv").to_str().unwrap(),
        "--scrape",
        &target.url("/metrics"),
        "--timeseries",
        scrape.to_str().unwrap(),
        &target.url("/"),
    ])
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("--timeseries/--scrape (scrape.csv beside --out)"),
        "{}",
        run.stderr
    );
    assert_eq!(text(&scrape), "earlier samples\n");
    assert!(!dir.join("out.csv").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_url_that_cannot_be_sent_to_is_refused_before_the_csv_is_touched() {
    let target = target().await;
    let dir = out_dir();
    let keep = dir.join("keep.csv");
    std::fs::write(&keep, "an earlier run's rows\n").unwrap();
    for bad in ["http://127.0.0.1:99999/metrics", "localhost:9090/metrics"] {
        let run = loadgen_as_given(&[
            "run",
            "-X",
            "GET",
            "-c",
            "1",
            "-d",
            "200ms",
            "--out",
            keep.to_str().unwrap(),
            "--scrape",
            bad,
            &target.url("/"),
        ])
        .await;
        assert_eq!(run.code, 2, "{bad}: {}", run.stderr);
        assert!(
            run.stderr.contains("--scrape") && run.stderr.contains(bad),
            "{}",
            run.stderr
        );
        assert_eq!(text(&keep), "an earlier run's rows\n", "{bad}");
    }
    no_partial_in(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_run_replaces_the_earlier_files_whole_and_leaves_no_partial() {
    let target = target().await;
    let dir = out_dir();
    let (csv, json, ts) = (
        dir.join("out.csv"),
        dir.join("out.json"),
        dir.join("ts.csv"),
    );
    for p in [&csv, &json, &ts] {
        std::fs::write(p, "an earlier run\n").unwrap();
    }
    let run = loadgen_as_given(&[
        "ramp",
        "--steps",
        "1,2",
        "-d",
        "200ms",
        "--warmup",
        "0s",
        "-X",
        "GET",
        "--out",
        csv.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "--timeseries",
        ts.to_str().unwrap(),
        &target.url("/"),
    ])
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let rows = read_csv(&csv);
    assert_eq!(rows.len(), 2, "{rows:?}");
    let doc: serde_json::Value = serde_json::from_str(&text(&json)).unwrap();
    assert_eq!(doc["steps"].as_array().map(Vec::len), Some(2));
    assert!(text(&ts).starts_with("step,"), "{}", text(&ts));
    no_partial_in(&dir);
}
