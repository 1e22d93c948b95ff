//! Ramps and steps against the mock Trading API with a fixed 20 ms latency: step counts and
//! durations, percentiles, the CSV/JSON/time-series layouts.

use crate::common;

use common::{loadgen, num, read_csv};
use mocks::{spawn_trading, LatencyDist, LatencySettings, MockHandle, TradingSettings};

const REQUIRED_COLUMNS: &str = "step,concurrency,target_rps,duration_s,requests,ok,rejected_429,rejected_503,\
other_4xx,other_5xx,timeouts,connect_errors,io_errors,success_rate,throughput_rps,goodput_rps,mean_ms,\
p50_ms,p90_ms,p95_ms,p99_ms,p999_ms,max_ms";

async fn trading_with_latency(ms: u64) -> (MockHandle, String) {
    let settings = TradingSettings {
        host: "127.0.0.1".into(),
        port: 0,
        latency: LatencySettings {
            latency_ms: ms,
            latency_dist: LatencyDist::Fixed,
            latency_jitter: 0.0,
        },
        ..Default::default()
    };
    let mock = spawn_trading(settings).await.expect("mock trading starts");
    let url = format!("{}/v1/quotes/AAPL", mock.url());
    (mock, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ramp_runs_one_step_per_level_each_for_the_step_duration() {
    let (mock, url) = trading_with_latency(20).await;
    let started = std::time::Instant::now();
    let run = loadgen(&[
        "ramp",
        "--steps",
        "1,2,4",
        "--step-duration",
        "400ms",
        "--warmup",
        "100ms",
        "--url",
        &url,
        "-X",
        "GET",
    ])
    .await;
    let wall = started.elapsed().as_secs_f64();
    assert_eq!(run.code, 0);
    let rows = run.csv();
    assert_eq!(rows.len(), 3, "one CSV row per step");
    for (row, (step, c)) in rows.iter().zip([(1, 1), (2, 2), (3, 4)]) {
        assert_eq!(row["step"], step.to_string());
        assert_eq!(row["concurrency"], c.to_string());
        assert_eq!(row["target_rps"], "", "closed loop has no target rate");
        let d: f64 = row["duration_s"].parse().unwrap();
        assert!(
            (0.35..=0.45).contains(&d),
            "step {step} measured {d}s, asked 0.4s"
        );
        let requests: f64 = row["requests"].parse().unwrap();
        // Each user does at most 0.4 s / 20 ms = 20 requests; allow a slow, noisy machine.
        assert!(
            requests <= 21.0 * c as f64,
            "step {step}: {requests} requests"
        );
        assert!(
            requests >= 5.0 * c as f64,
            "step {step}: {requests} requests"
        );
        assert_eq!(row["ok"], row["requests"]);
    }
    assert!(wall >= 1.5, "3 steps of 0.5 s took only {wall:.2}s");
    // Warmup traffic reaches the target but is not counted.
    let counted: u64 = rows
        .iter()
        .map(|r| r["requests"].parse::<u64>().unwrap())
        .sum();
    assert!(mock.stats().requests_total > counted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_delay_target_percentiles_are_consistent_with_the_delay_and_each_other() {
    // Upper bounds on latency would measure this machine's load (tests run in parallel, each
    // with its own loadgen process), so the checks are lower bounds the 20 ms delay imposes and
    // relations between numbers from this one run.
    let (_mock, url) = trading_with_latency(20).await;
    let run = loadgen(&["run", "-c", "4", "-d", "1s", "--url", &url, "-X", "GET"]).await;
    assert_eq!(run.code, 0);
    let step = run.step();
    let (p50, p90, p99, max) = (
        num(&step, "p50_ms"),
        num(&step, "p90_ms"),
        num(&step, "p99_ms"),
        num(&step, "max_ms"),
    );
    assert!(p50 >= 19.5, "p50 = {p50} ms, below the fixed 20 ms delay");
    assert!(
        p50 <= p90 && p90 <= p99 && p99 <= max,
        "{p50} {p90} {p99} {max}"
    );
    let mean = num(&step, "mean_ms");
    assert!(
        mean >= 19.5,
        "mean = {mean} ms, below the fixed 20 ms delay"
    );
    assert!(mean <= max, "mean {mean} above max {max}");
    assert!(num(&step, "stdev_ms") >= 0.0);
    assert_eq!(num(&step, "success_rate"), 1.0);
    // Four closed-loop users can never beat 4 / 20 ms; and Little's law ties the throughput to
    // the mean latency of the same run. A request counts in the 1 s window it was sent in, so
    // each user adds at most one request still running at the end: rps × mean ≤ 4 × (1 + mean /
    // 1 s), 2 % slack for the rounded columns. A latency counted too long (e.g. including the
    // gap before the next send) breaks it; the gaps themselves grow with the machine's load
    // and only lower rps × mean, so there is no lower bound.
    let rps = num(&step, "throughput_rps");
    assert!(rps <= 4.0 / 0.0195, "4 users at 20 ms: {rps} rps");
    assert!(rps > 0.0);
    let in_flight = rps * mean / 1000.0;
    let bound = 4.0 * (1.0 + mean / 1000.0) * 1.02;
    assert!(
        in_flight <= bound,
        "rps {rps} × mean {mean} ms = {in_flight} requests in flight, above {bound} for 4 users"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_has_the_issue_columns_in_order_and_json_mirrors_them() {
    let (_mock, url) = trading_with_latency(1).await;
    let run = loadgen(&["run", "-c", "2", "-d", "300ms", "--url", &url, "-X", "GET"]).await;
    assert_eq!(run.code, 0);
    assert!(
        run.csv_header().starts_with(REQUIRED_COLUMNS),
        "header was {}",
        run.csv_header()
    );
    let json = run.json();
    assert_eq!(json["version"], "1");
    assert_eq!(json["config"]["command"], "run");
    assert_eq!(json["config"]["url"], url);
    let step = &json["steps"][0];
    for col in REQUIRED_COLUMNS.split(',') {
        assert!(step.get(col).is_some(), "JSON step lacks {col}");
    }
    let row = &run.csv()[0];
    assert_eq!(row["requests"], step["requests"].to_string());
    assert_eq!(step["target_rps"], serde_json::Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeseries_has_one_row_per_second_with_interval_counts() {
    let (_mock, url) = trading_with_latency(10).await;
    let dir = common::out_dir();
    let ts = dir.join("ts.csv");
    let run = loadgen(&[
        "run",
        "-c",
        "2",
        "-d",
        "2500ms",
        "--url",
        &url,
        "-X",
        "GET",
        "--timeseries",
        ts.to_str().unwrap(),
    ])
    .await;
    assert_eq!(run.code, 0);
    let rows = read_csv(&ts);
    let seconds: Vec<&str> = rows.iter().map(|r| r["second"].as_str()).collect();
    assert_eq!(seconds, ["0", "1", "2"]);
    let per_second: u64 = rows
        .iter()
        .map(|r| r["requests"].parse::<u64>().unwrap())
        .sum();
    assert_eq!(
        per_second,
        run.step()["requests"].as_u64().unwrap(),
        "intervals add up to the step"
    );
    // Full seconds at 2 users × 10 ms: at most ~200 each; the last row covers half a second,
    // so its rate is twice its count.
    let first: f64 = rows[0]["requests"].parse().unwrap();
    assert!(first <= 205.0, "first second {first}");
    let last: f64 = rows[2]["requests"].parse().unwrap();
    let last_rate: f64 = rows[2]["throughput_rps"].parse().unwrap();
    assert!(
        (last_rate - 2.0 * last).abs() <= 0.1 * last + 2.0,
        "last {last} in 0.5 s at {last_rate}/s"
    );
    // A lower bound the 10 ms delay imposes, and an upper one from the same run (a ceiling in
    // ms would measure the machine's load): a second's median is no slower than the step's max.
    let p50: f64 = rows[1]["p50_ms"].parse().unwrap();
    let step_max = num(&run.step(), "max_ms");
    assert!(
        p50 >= 9.5 && p50 <= step_max,
        "per-second p50 {p50}, step max {step_max}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hdr_log_holds_corrected_and_uncorrected_histograms_per_step_and_class() {
    let (_mock, url) = trading_with_latency(1).await;
    let dir = common::out_dir();
    let log = dir.join("latency.hlog");
    let run = loadgen(&[
        "ramp",
        "--steps",
        "1,2",
        "--step-duration",
        "300ms",
        "--warmup",
        "0s",
        "--url",
        &url,
        "-X",
        "GET",
        "--hdr-log",
        log.to_str().unwrap(),
    ])
    .await;
    assert_eq!(run.code, 0);
    let text = std::fs::read_to_string(&log).unwrap();
    let entries: Vec<&str> = text.lines().filter(|l| l.starts_with("Tag=")).collect();
    // Every answer is a 200: one class, two histograms, per step.
    assert_eq!(entries.len(), 4, "{text}");
    for (e, tag) in entries.iter().zip([
        "step1/ok/corrected",
        "step1/ok/uncorrected",
        "step2/ok/corrected",
        "step2/ok/uncorrected",
    ]) {
        assert!(e.starts_with(&format!("Tag={tag},")), "{e}");
    }
    assert_eq!(text.matches("#loadgen-step {").count(), 2, "{text}");
    assert!(
        text.contains("#loadgen {\"format\":\"loadgen-hdrlog/2\""),
        "{text}"
    );
    assert!(
        entries.iter().all(|e| e.contains(",HISTF")),
        "V2 compressed payloads: {text}"
    );
    assert!(text.contains("#[StartTime: "));
}
