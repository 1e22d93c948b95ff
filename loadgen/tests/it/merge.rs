//! Several generators, one run: `--start-at` and `--instance i/n`, then `loadgen merge` of their
//! HdrHistogram logs. The merged count equals the parts' and the target's own; merged
//! percentiles equal those of one histogram fed every sample; mismatched logs are refused.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use common::{finish, out_dir, read_csv};
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::Histogram;
use mocks::{LatencyDist, LatencySettings, TradingSettings};

async fn loadgen_raw(args: &[String]) -> common::Run {
    let dir = out_dir();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .arg("--quiet")
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    finish(output, dir)
}

/// Runs `n` instances of one ramp together against `url`; returns their log paths.
async fn run_instances(n: u32, url: &str, dir: &Path, start_in: Duration) -> Vec<PathBuf> {
    let start = humantime::format_rfc3339_millis(SystemTime::now() + start_in).to_string();
    let mut children = Vec::new();
    for i in 0..n {
        let log = dir.join(format!("i{i}.hdrlog"));
        let args: Vec<String> = [
            "ramp",
            "--steps",
            "3,7",
            "--step-duration",
            "1s",
            "--warmup",
            "0s",
            "-X",
            "GET",
            "--start-at",
            &start,
            "--instance",
            &format!("{i}/{n}"),
            "--hdr-log",
            log.to_str().unwrap(),
            "--out",
            dir.join(format!("i{i}.csv")).to_str().unwrap(),
            url,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        children.push((log, tokio::spawn(async move { loadgen_raw(&args).await })));
    }
    let mut logs = Vec::new();
    for (log, c) in children {
        let run = c.await.unwrap();
        assert_eq!(run.code, 0, "{}", run.stderr);
        logs.push(log);
    }
    logs
}

/// Independent reading of a log: per step, the ok/corrected histogram and every class's count,
/// and each step's start (seconds since the epoch) from its step line.
fn decode(path: &Path) -> (Vec<Histogram<u64>>, Vec<u64>, Vec<f64>) {
    let bytes = std::fs::read(path).unwrap();
    let mut ok: Vec<Histogram<u64>> = Vec::new();
    let mut counts: Vec<u64> = Vec::new();
    let mut starts = Vec::new();
    for line in std::str::from_utf8(&bytes).unwrap().lines() {
        if let Some(j) = line.strip_prefix("#loadgen-step ") {
            let v: serde_json::Value = serde_json::from_str(j).unwrap();
            starts.push(v["start_s"].as_f64().unwrap());
            ok.push(Histogram::new(3).unwrap());
            counts.push(0);
        }
    }
    let mut d = Deserializer::new();
    for e in IntervalLogIterator::new(&bytes) {
        let LogEntry::Interval(iv) = e.unwrap() else {
            continue;
        };
        let tag = iv.tag().unwrap().as_str().to_string();
        let step: usize = tag[4..tag.find('/').unwrap()].parse().unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(iv.encoded_histogram())
            .unwrap();
        let h: Histogram<u64> = d.deserialize(&mut raw.as_slice()).unwrap();
        if tag.ends_with("/corrected") {
            counts[step - 1] += h.len();
            if tag.contains("/ok/") {
                ok[step - 1].add(&h).unwrap();
            }
        }
    }
    (ok, counts, starts)
}

async fn merged_equals_parts_and_target(n: u32) {
    let mock = mocks::spawn_trading(TradingSettings {
        latency: LatencySettings {
            latency_ms: 20,
            latency_dist: LatencyDist::Fixed,
            latency_jitter: 0.0,
        },
        ..TradingSettings::default()
    })
    .await
    .unwrap();
    let url = format!("{}/v1/market/status", mock.url());
    let dir = out_dir();
    mock.reset_stats();
    let logs = run_instances(n, &url, &dir, Duration::from_secs(3)).await;
    let target_saw = mock.stats().requests_total;

    let merged_dir = dir.join("merged");
    let mut args = vec!["merge".to_string()];
    args.extend(logs.iter().map(|p| p.display().to_string()));
    args.extend([
        "--out".to_string(),
        merged_dir.display().to_string(),
        "--slo".into(),
        "success>=99%".into(),
    ]);
    let merged = loadgen_raw(&args).await;
    assert_eq!(merged.code, 0, "{}", merged.stderr);
    let rows = read_csv(&merged_dir.join("merged.csv"));
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[0]["concurrency"], "3",
        "shares add up to the asked concurrency"
    );
    assert_eq!(rows[1]["concurrency"], "7");

    let parts: Vec<_> = logs.iter().map(|p| decode(p)).collect();
    let mut total = 0;
    for step in 0..2 {
        let merged_requests: u64 = rows[step]["requests"].parse().unwrap();
        let parts_sum: u64 = (0..n as usize)
            .map(|i| {
                read_csv(&dir.join(format!("i{i}.csv")))[step]["requests"]
                    .parse::<u64>()
                    .unwrap()
            })
            .sum();
        assert_eq!(
            merged_requests,
            parts_sum,
            "step {}: merged = sum of parts",
            step + 1
        );
        let logged: u64 = parts.iter().map(|p| p.1[step]).sum();
        assert_eq!(merged_requests, logged);
        total += merged_requests;

        let mut all = Histogram::<u64>::new(3).unwrap();
        for p in &parts {
            all.add(&p.0[step]).unwrap();
        }
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(merged_dir.join("merged.json")).unwrap())
                .unwrap();
        let s = &json["steps"][step];
        for (q, key) in [(0.5, "p50_ms"), (0.99, "p99_ms")] {
            let want = (all.value_at_quantile(q) as f64 / 1000.0 * 1000.0).round() / 1000.0;
            assert_eq!(s[key].as_f64().unwrap(), want, "step {} {key}", step + 1);
        }
        assert_eq!(s["ok"].as_u64().unwrap(), all.len());

        let starts: Vec<f64> = parts.iter().map(|p| p.2[step]).collect();
        let spread = starts.iter().cloned().fold(f64::MIN, f64::max)
            - starts.iter().cloned().fold(f64::MAX, f64::min);
        assert!(
            spread < 0.050,
            "step {} starts within 50 ms: {spread:.4} s",
            step + 1
        );
    }
    assert_eq!(
        total, target_saw,
        "merged requests = the target's own count (the preflight only connects, no warm-up)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_merge_exactly() {
    merged_equals_parts_and_target(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_merge_exactly() {
    merged_equals_parts_and_target(3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_refuses_missing_repeated_and_foreign_logs() {
    let target = common::Target::serve(
        axum::Router::new().route("/", axum::routing::get(|| async { "ok" })),
    )
    .await;
    let url = target.url("/");
    let dir = out_dir();
    let logs = run_instances(2, &url, &dir, Duration::from_secs(2)).await;
    let other_dir = dir.join("other");
    std::fs::create_dir_all(&other_dir).unwrap();
    let other = run_instances(2, &url, &other_dir, Duration::from_secs(2)).await;
    let not_a_log = dir.join("i0.csv");
    let cases: Vec<(Vec<&PathBuf>, &str)> = vec![
        (vec![&logs[0]], "missing"),
        (vec![&logs[0], &logs[0]], "also in"),
        (vec![&logs[0], &other[1]], "different runs"),
        (vec![&logs[0], &not_a_log], "not a loadgen --hdr-log"),
    ];
    for (inputs, why) in cases {
        let mut args = vec!["merge".to_string()];
        args.extend(inputs.iter().map(|p| p.display().to_string()));
        args.extend(["--out".into(), dir.join("m").display().to_string()]);
        let run = loadgen_raw(&args).await;
        assert_eq!(run.code, 2, "{why}: {}", run.stderr);
        assert!(run.stderr.contains(why), "{why}: {}", run.stderr);
    }
}
