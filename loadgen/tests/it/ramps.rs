//! Ramp defaults and open-loop rate ramps: what `loadgen ramp --to N` sends, and one row per rate.

use crate::common;

use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use common::{loadgen, Target};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ramp_defaults_post_the_analysis_question_as_json_and_report_each_level() {
    let seen: Arc<Mutex<Option<(String, String)>>> = Arc::default();
    let router = {
        let seen = seen.clone();
        Router::new().route(
            "/analyze",
            post(move |headers: HeaderMap, body: String| {
                let seen = seen.clone();
                async move {
                    let ct = headers
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string();
                    *seen.lock().unwrap() = Some((ct, body));
                    "{}"
                }
            }),
        )
    };
    let target = Target::serve(router).await;
    let run = loadgen(&[
        "ramp",
        "--to",
        "5",
        "--step-duration",
        "200ms",
        "--warmup",
        "0s",
        "--url",
        &target.url("/analyze"),
    ])
    .await;
    assert_eq!(run.code, 0);
    let levels: Vec<String> = run.csv().iter().map(|r| r["concurrency"].clone()).collect();
    assert_eq!(
        levels,
        ["1", "2", "5"],
        "default levels 1, 2, 5… up to --to"
    );
    let (content_type, body) = seen.lock().unwrap().clone().expect("the target was called");
    assert_eq!(content_type, "application/json");
    assert_eq!(body, r#"{"query":"Should I buy AAPL?"}"#);
    assert_eq!(
        run.json()["steps"][0]["by_name"]["POST /analyze"]["outcomes"]["ok"],
        run.json()["steps"][0]["ok"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_steps_run_one_open_loop_step_per_rate() {
    let target = Target::serve(Router::new().route("/", post(|| async { "ok" }))).await;
    let run = loadgen(&[
        "ramp",
        "--rate-steps",
        "50,100",
        "--step-duration",
        "1s",
        "--warmup",
        "0s",
        "--url",
        &target.url("/"),
    ])
    .await;
    assert_eq!(run.code, 0);
    let rows = run.csv();
    assert_eq!(rows.len(), 2);
    for (row, rate) in rows.iter().zip([50.0, 100.0]) {
        assert_eq!(row["target_rps"].parse::<f64>().unwrap(), rate);
        let requests: f64 = row["requests"].parse().unwrap();
        assert!(
            (rate * 0.9..=rate * 1.02).contains(&requests),
            "asked {rate}/s for 1 s, got {requests}"
        );
        assert_eq!(row["late_sends"], "0");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_terminal_progress_is_one_plain_line_per_step() {
    let target = Target::serve(Router::new().route("/", post(|| async { "ok" }))).await;
    let dir = common::out_dir();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args([
            "ramp",
            "--steps",
            "1,2",
            "--step-duration",
            "200ms",
            "--warmup",
            "0s",
            "--url",
        ])
        .arg(target.url("/"))
        .arg("--out")
        .arg(dir.join("out.csv"))
        .output()
        .await
        .unwrap();
    let run = common::finish(output, dir);
    assert_eq!(run.code, 0);
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("step "))
        .collect();
    assert_eq!(lines.len(), 2, "{}", run.stderr);
    assert!(
        lines[0].starts_with("step 1/2 concurrency 1: ")
            && lines[1].starts_with("step 2/2 concurrency 2: ")
    );
    assert!(
        run.stdout.starts_with("step   conc"),
        "final table on stdout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrape_samples_the_targets_metrics_into_a_csv_and_each_step() {
    use std::sync::atomic::{AtomicU64, Ordering};
    let hits = Arc::new(AtomicU64::new(0));
    let router = {
        let (a, b) = (hits.clone(), hits.clone());
        Router::new()
            .route(
                "/work",
                axum::routing::get(move || {
                    a.fetch_add(1, Ordering::SeqCst);
                    async { "ok" }
                }),
            )
            .route(
                "/metrics",
                axum::routing::get(move || {
                    let n = b.load(Ordering::SeqCst);
                    async move {
                        format!(
                            "# TYPE work_total counter\nwork_total{{route=\"/work\"}} {n}\n\
                             # TYPE in_use gauge\nin_use 3\n"
                        )
                    }
                }),
            )
    };
    let target = Target::serve(router).await;
    let run = loadgen(&[
        "ramp",
        "-X",
        "GET",
        "--steps",
        "1,2",
        "--step-duration",
        "2500ms",
        "--warmup",
        "500ms",
        "--scrape",
        &target.url("/metrics"),
        &target.url("/work"),
    ])
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let csv = std::fs::read_to_string(run.dir.join("scrape.csv")).expect("scrape.csv beside --out");
    assert!(csv.starts_with("unix_s,series,kind,value\n"), "{csv}");
    assert!(
        csv.contains("\"work_total{route=\"\"/work\"\"}\",counter,"),
        "{csv}"
    );
    let steps = run.json()["steps"].as_array().unwrap().clone();
    for s in &steps {
        let w = &s["scrape"];
        let delta = w["work_total{route=\"/work\"}"]["delta"]
            .as_f64()
            .expect("counter delta");
        let requests = s["requests"].as_f64().unwrap();
        // The counter's increase over the window tracks the step's own requests (sampled once
        // a second, so within a second's worth of them).
        assert!(
            delta > 0.0 && delta <= requests * 2.0,
            "delta {delta}, requests {requests}: {w}"
        );
        assert_eq!(w["in_use"]["mean"], 3.0, "{w}");
    }
    // The exposition text at the run's two ends, beside the CSV, for `loadgen report`: the end
    // is scraped after every request resolved, so it counts every request the target served.
    let value = |file: &str| -> f64 {
        let text = std::fs::read_to_string(run.dir.join(file)).expect(file);
        text.lines()
            .find_map(|l| l.strip_prefix("work_total{route=\"/work\"} "))
            .unwrap_or_else(|| panic!("{file}: {text}"))
            .trim()
            .parse()
            .unwrap()
    };
    let (start, end) = (value("out-metrics-start.prom"), value("out-metrics.prom"));
    assert_eq!(end, hits.load(Ordering::SeqCst) as f64);
    assert!(start < end, "start {start}, end {end}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrape_refuses_a_url_that_is_not_http() {
    let target =
        Target::serve(Router::new().route("/", axum::routing::get(|| async { "ok" }))).await;
    let run = loadgen(&[
        "run",
        "-X",
        "GET",
        "-c",
        "1",
        "-d",
        "200ms",
        "--scrape",
        "localhost:9090/metrics",
        &target.url("/"),
    ])
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("--scrape: 'localhost:9090/metrics' is not an http:// or https:// URL"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn think_time_is_honoured_and_the_response_time_law_holds() {
    // A fixed 200 ms target, 8 users thinking 300 ms after each answer: X = 8 / 0.5 s = 16/s,
    // half of the users in flight at any moment.
    let router = Router::new().route(
        "/",
        axum::routing::get(|| async {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            "ok"
        }),
    );
    let target = Target::serve(router).await;
    let run = loadgen(&[
        "run",
        "-X",
        "GET",
        "-c",
        "8",
        "-d",
        "4s",
        "--warmup",
        "1s",
        "--think-time",
        "300ms",
        &target.url("/"),
    ])
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let row = &run.csv()[0];
    let f = |k: &str| {
        row[k]
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("{k}: {row:?}"))
    };
    let (x, r, z) = (
        f("throughput_rps"),
        f("mean_ms") / 1000.0,
        f("think_time_mean_ms") / 1000.0,
    );
    assert!((z - 0.3).abs() < 1e-3, "think time {z}: {row:?}");
    assert!(r < 0.3, "latency excludes the think time: {r}");
    let users = x * (r + z);
    assert!(
        (users / 8.0 - 1.0).abs() < 0.05,
        "X × (R + Z) = {users:.2} for 8 users: {row:?}"
    );
    assert!(f("littles_law_error_pct").abs() < 5.0, "{row:?}");
    assert!(
        (f("in_flight_mean") / (8.0 * r / (r + z)) - 1.0).abs() < 0.05,
        "{row:?}"
    );
    // The JSON's config says how the users thought, so a report can say it too.
    let config = &run.json()["config"];
    assert_eq!(config["think_time"], "300ms", "{config}");
    assert_eq!(config["close_between"], false, "{config}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_think_time_is_a_usage_error_naming_the_forms() {
    let run = loadgen(&[
        "run",
        "-c",
        "1",
        "-d",
        "1s",
        "--think-time",
        "slow",
        "http://127.0.0.1:9/",
    ])
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("expected 5s, exp:30s or uniform:10s..50s"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_request_name_gets_its_rows_and_its_own_objectives() {
    let router = Router::new()
        .route("/fast", axum::routing::get(|| async { "ok" }))
        .route(
            "/slow",
            axum::routing::get(|| async {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                "ok"
            }),
        );
    let target = Target::serve(router).await;
    let dir = common::out_dir();
    let scenario = dir.join("mix.toml");
    std::fs::write(
        &scenario,
        "[[request]]\nname = \"fast\"\npath = \"/fast\"\nweight = 3\n\n\
         [[request]]\nname = \"slow\"\npath = \"/slow\"\nweight = 1\n",
    )
    .unwrap();
    let junit = dir.join("junit.xml");
    let run = loadgen(&[
        "ramp",
        "--steps",
        "2,4",
        "--step-duration",
        "1500ms",
        "--warmup",
        "300ms",
        "--scenario",
        scenario.to_str().unwrap(),
        "--slo",
        "fast:p99<1s",
        "--slo",
        "slow:p99<10ms",
        "--slo",
        "success>=99%",
        "--junit",
        junit.to_str().unwrap(),
        &target.url("/"),
    ])
    .await;
    // Only the slow request's own objective fails.
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("slow:p99<10ms failed"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("fast:p99<1s failed"), "{}", run.stderr);
    assert!(
        !run.stderr.contains("success>=99% failed"),
        "{}",
        run.stderr
    );
    let rows = run.csv();
    assert_eq!(rows.len(), 6, "a total and two names per step: {rows:?}");
    for step in ["1", "2"] {
        let of = |name: &str| {
            rows.iter()
                .find(|r| r["step"] == step && r["name"] == name)
                .unwrap()
        };
        let n =
            |r: &std::collections::HashMap<String, String>, k: &str| r[k].parse::<f64>().unwrap();
        let (total, fast, slow) = (of("*"), of("fast"), of("slow"));
        for k in ["requests", "ok"] {
            assert_eq!(n(fast, k) + n(slow, k), n(total, k), "step {step} {k}");
        }
        let sum = n(fast, "throughput_rps") + n(slow, "throughput_rps");
        assert!(
            (sum - n(total, "throughput_rps")).abs() <= 0.02,
            "step {step}: {sum} vs {total:?}"
        );
        assert!(
            n(slow, "p50_ms") >= 50.0 && n(fast, "p50_ms") < 50.0,
            "{slow:?} {fast:?}"
        );
    }
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("slow:p99&lt;10ms") || xml.contains("slow:p99<10ms"),
        "{xml}"
    );
    // The report judges each name's objective on its own rows and draws and fits each name.
    let report_dir = run.dir.join("report");
    let report = std::process::Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args([
            "report",
            run.dir.join("out.csv").to_str().unwrap(),
            "--out-dir",
        ])
        .arg(&report_dir)
        .args(["--slo", "fast:p99<1s", "--slo", "slow:p99<10ms"])
        .output()
        .unwrap();
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report_dir.join("summary.json")).unwrap())
            .unwrap();
    // The slow name fails its own bound from the first step, so no step meets every objective,
    // although the total's p99 alone would not say which.
    assert_eq!(
        summary["max_concurrency_meeting_slo"],
        serde_json::Value::Null
    );
    let names = summary["names"].as_array().expect("names");
    let of = |n: &str| names.iter().find(|v| v["name"] == n).unwrap();
    assert_eq!(of("fast")["meets_own_objectives_up_to"], 4, "{names:?}");
    assert_eq!(
        of("slow")["meets_own_objectives_up_to"],
        serde_json::Value::Null
    );
    let share = of("fast")["share"].as_f64().unwrap();
    assert!((share - 0.75).abs() < 0.1, "fast is 3 of 4 picks: {share}");
    assert!(of("slow")["light_mean_ms"].as_f64().unwrap() >= 50.0);
    for chart in ["names-latency.svg", "names-goodput.svg"] {
        let svg = std::fs::read_to_string(report_dir.join(chart)).unwrap();
        assert!(svg.contains("slow") && svg.contains("fast"), "{chart}");
    }
    let md = std::fs::read_to_string(report_dir.join("report.md")).unwrap();
    assert!(md.contains("## Per request name"), "{md}");
    assert!(
        md.contains("slow:p99<10ms fails from the first step"),
        "{md}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_objective_for_a_request_the_plan_lacks_is_a_usage_error() {
    let target =
        Target::serve(Router::new().route("/", axum::routing::get(|| async { "ok" }))).await;
    let run = loadgen(&[
        "run",
        "-X",
        "GET",
        "-c",
        "1",
        "-d",
        "300ms",
        "--slo",
        "analyze:p99<1s",
        &target.url("/"),
    ])
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("no request is named 'analyze'"),
        "{}",
        run.stderr
    );
}
