//! `--dashboard` and `--metrics-addr`: the event stream sends a tick a second whose seconds end
//! equal to the run's time series, the final table equals the CSV, `/metrics` is valid
//! exposition whose counts end equal to the CSV's, and Stop is refused without the run's token
//! (the run goes on) and with it ends the run as SIGINT does.

use crate::common;

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use common::{finish, out_dir, read_csv, Target};
use futures_util::StreamExt;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::sync::Notify;

/// A child loadgen and the URLs it printed.
struct Live {
    child: tokio::process::Child,
    stderr: tokio::task::JoinHandle<String>,
    dashboard: String,
    metrics: Option<String>,
}

/// Starts `loadgen ARGS --out --json --timeseries --dashboard` and reads the printed URLs.
async fn start(args: &[&str], dir: &std::path::Path) -> Live {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .arg("--out")
        .arg(dir.join("out.csv"))
        .arg("--json")
        .arg(dir.join("out.json"))
        .arg("--timeseries")
        .arg(dir.join("ts.csv"))
        .arg("--dashboard")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    let (mut dashboard, mut metrics) = (None, None);
    let wants_metrics = args.contains(&"--metrics-addr");
    while dashboard.is_none() || (wants_metrics && metrics.is_none()) {
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("loadgen prints its URLs at the start")
            .unwrap()
            .unwrap_or_else(|| panic!("stderr ended before the URLs:\n{seen}"));
        if let Some(u) = line.strip_prefix("loadgen: dashboard at ") {
            dashboard = Some(u.to_string());
        }
        if let Some(u) = line.strip_prefix("loadgen: metrics at ") {
            metrics = Some(u.to_string());
        }
        seen += &line;
        seen.push('\n');
    }
    let stderr = tokio::spawn(async move {
        let mut rest = String::new();
        let _ = lines.into_inner().read_to_string(&mut rest).await;
        seen + &rest
    });
    Live {
        child,
        stderr,
        dashboard: dashboard.unwrap(),
        metrics,
    }
}

impl Live {
    /// `http://127.0.0.1:PORT` of the dashboard.
    fn base(&self) -> &str {
        self.dashboard.split("/?token=").next().unwrap()
    }
    fn token(&self) -> &str {
        self.dashboard.split("/?token=").nth(1).unwrap()
    }
    async fn wait(self, dir: std::path::PathBuf) -> common::Run {
        let mut out = self.child.wait_with_output().await.unwrap();
        out.stderr = self.stderr.await.unwrap().into_bytes();
        finish(out, dir)
    }
}

/// Reads the event stream until it ends, handing each (event, data) to `f`.
async fn read_events(url: &str, mut f: impl FnMut(&str, serde_json::Value)) {
    let resp = reqwest::get(url).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut body = resp.bytes_stream();
    let mut buf = String::new();
    while let Some(chunk) = body.next().await {
        let Ok(chunk) = chunk else { break };
        buf += &String::from_utf8_lossy(&chunk);
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let (mut kind, mut data) = ("", String::new());
            for l in block.lines() {
                if let Some(k) = l.strip_prefix("event: ") {
                    kind = k;
                } else if let Some(d) = l.strip_prefix("data: ") {
                    data += d;
                }
            }
            if !kind.is_empty() {
                f(kind, serde_json::from_str(&data).unwrap());
            }
        }
    }
}

fn slow(delay: Duration) -> axum::Router {
    axum::Router::new().route(
        "/",
        axum::routing::get(move || async move {
            tokio::time::sleep(delay).await;
            "ok"
        }),
    )
}

fn sum(rows: &[HashMap<String, String>], col: &str) -> u64 {
    rows.iter().map(|r| r[col].parse::<u64>().unwrap()).sum()
}

/// The value of `metric` with `outcome="ok"`-style label filters, from exposition `text`.
fn sample(text: &str, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == metric
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(k).is_some_and(|x| x == *v))
        })
        .map(|s| match &s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => *v,
            prometheus_parse::Value::Histogram(b) => b.iter().map(|b| b.count).fold(0.0, f64::max),
            prometheus_parse::Value::Summary(_) => f64::NAN,
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_streams_each_second_and_the_final_table_as_the_csv_has_them() {
    let target = Target::serve(slow(Duration::from_millis(20))).await;
    let dir = out_dir();
    let url = target.url("/");
    let live = start(
        &[
            "ramp",
            "--steps",
            "2,4",
            "--step-duration",
            "3s",
            "--warmup",
            "1s",
            "-X",
            "GET",
            "--slo",
            "p99<5s",
            "--metrics-addr",
            "127.0.0.1:0",
            &url,
        ],
        &dir,
    )
    .await;
    // The page and its assets are served, self-contained.
    let page = reqwest::get(&live.dashboard).await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains("/dashboard.js") && !html.contains("http"),
        "no other origin"
    );
    for asset in ["/dashboard.js", "/dashboard.css"] {
        let r = reqwest::get(format!("{}{asset}", live.base()))
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{asset}");
    }

    // Scrape /metrics while the run lasts; the last answer holds the final counts.
    let metrics_url = live.metrics.clone().unwrap();
    let last_metrics = Arc::new(std::sync::Mutex::new(String::new()));
    let scraper = {
        let last = last_metrics.clone();
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            while let Ok(r) = client.get(&metrics_url).send().await {
                if let Ok(t) = r.text().await {
                    *last.lock().unwrap() = t;
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        })
    };

    let mut ticks = 0;
    let mut points: HashMap<(u64, u64), serde_json::Value> = HashMap::new();
    let mut done = None;
    let mut init_meta = None;
    read_events(&format!("{}/events", live.base()), |kind, v| match kind {
        "init" => init_meta = Some(v["meta"].clone()),
        "tick" => {
            ticks += 1;
            for p in v["points"].as_array().unwrap() {
                points.insert(
                    (p["step"].as_u64().unwrap(), p["second"].as_u64().unwrap()),
                    p.clone(),
                );
            }
        }
        "done" => done = Some(v),
        other => panic!("unexpected event {other}"),
    })
    .await;
    let run = live.wait(dir.clone()).await;
    scraper.await.unwrap();
    assert_eq!(run.code, 0, "{}", run.stderr);

    let meta = init_meta.expect("an init event first");
    assert_eq!(meta["command"], "ramp");
    assert_eq!(meta["steps_total"], 2);
    assert_eq!(meta["objectives"][0]["chart"], "latency");
    assert!(ticks >= 6, "a tick a second over 8 s, got {ticks}");

    // Every second of the time series, as the stream last sent it.
    let ts = read_csv(&dir.join("ts.csv"));
    assert!(ts.len() >= 6, "{} seconds", ts.len());
    for row in &ts {
        let key = (row["step"].parse().unwrap(), row["second"].parse().unwrap());
        let p = points
            .get(&key)
            .unwrap_or_else(|| panic!("second {key:?} sent"));
        assert_eq!(p["requests"].to_string(), row["requests"], "{key:?}");
        assert_eq!(p["ok"].to_string(), row["ok"], "{key:?}");
        let p99: f64 = row["p99_ms"].parse().unwrap();
        assert!(
            (p["p99_ms"].as_f64().unwrap() - p99).abs() < 0.01,
            "{key:?}"
        );
    }
    assert_eq!(points.len(), ts.len(), "no second the time series lacks");

    // The final table is the CSV's.
    let rows = run.csv();
    let done = done.expect("a done event last");
    let table = done["rows"].as_array().unwrap();
    assert_eq!(table.len(), rows.len());
    for (t, r) in table.iter().zip(&rows) {
        assert_eq!(t["requests"].to_string(), r["requests"]);
        assert_eq!(t["verdicts"][0][0], true, "p99<5s held");
    }
    assert!(done["signal"].is_null());
    assert!(done["files"][0]["path"]
        .as_str()
        .unwrap()
        .ends_with("out.csv"));

    // /metrics: valid exposition, labelled with the run, whose last counts are the CSV's.
    let text = last_metrics.lock().unwrap().clone();
    let run_id = run.json()["config"]["run_id"].as_str().map(str::to_string);
    let ok = sample(
        &text,
        "loadgen_requests_total",
        &[("outcome", "ok"), ("name", "GET /")],
    )
    .unwrap_or_else(|| panic!("loadgen_requests_total in:\n{text}"));
    assert_eq!(ok as u64, sum(&rows, "ok"), "{text}");
    let served = sample(&text, "loadgen_request_duration_seconds", &[]).unwrap();
    assert_eq!(
        served as u64,
        sum(&rows, "ok"),
        "one latency per served request"
    );
    assert!(text.contains("# TYPE loadgen_request_duration_seconds histogram"));
    assert!(text.contains("# TYPE loadgen_requests_total counter"));
    assert_eq!(sample(&text, "loadgen_step", &[]), Some(2.0));
    assert_eq!(sample(&text, "loadgen_users", &[]), Some(4.0));
    if let Some(id) = run_id {
        assert!(text.contains(&format!("run_id=\"{id}\"")), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_without_the_token_is_refused_and_with_it_ends_the_run_as_sigint() {
    let target = Target::serve(slow(Duration::from_millis(200))).await;
    let dir = out_dir();
    let url = target.url("/");
    let live = start(
        &["run", "-c", "4", "--duration", "60s", "-X", "GET", &url],
        &dir,
    )
    .await;
    let client = reqwest::Client::new();
    let stop = |q: &str| client.post(format!("{}/stop{q}", live.base())).send();
    for q in ["", "?token=", "?token=0123456789abcdef0123456789abcdef"] {
        let r = stop(q).await.unwrap();
        assert_eq!(r.status(), 403, "{q}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert!(body["error"].as_str().unwrap().contains("token"), "{body}");
    }
    let wrong_method = client
        .get(format!("{}/stop?token={}", live.base(), live.token()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        wrong_method.status(),
        405,
        "a GET (a link, a prefetch) stops nothing"
    );

    // The run goes on: the totals keep growing, tick after tick.
    let mut totals = Vec::new();
    let pressed = Arc::new(Notify::new());
    let events = {
        let url = format!("{}/events", live.base());
        let pressed = pressed.clone();
        tokio::spawn(async move {
            let mut done = None;
            let mut ticks = 0;
            read_events(&url, |kind, v| {
                if kind == "tick" {
                    ticks += 1;
                    totals.push(v["totals"]["requests"].as_u64().unwrap());
                    if ticks == 3 {
                        pressed.notify_one();
                    }
                }
                if kind == "done" {
                    done = Some(v);
                }
            })
            .await;
            (totals, done)
        })
    };
    pressed.notified().await;
    let r = stop(&format!("?token={}", live.token())).await.unwrap();
    assert_eq!(r.status(), 202);
    let (totals, done) = events.await.unwrap();
    let run = live.wait(dir).await;

    assert!(
        totals.windows(2).take(2).all(|w| w[1] > w[0]),
        "requests kept flowing after the refused stops: {totals:?}"
    );
    assert_eq!(run.code, 130, "{}", run.stderr);
    assert!(run.stderr.contains("Stop pressed on the dashboard"));
    let rows = run.csv();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["interrupted"], "true");
    assert_eq!(
        rows[0]["in_flight_at_end"], "0",
        "the requests in flight finished within the grace and were counted"
    );
    let requests: u64 = rows[0]["requests"].parse().unwrap();
    assert_eq!(requests, sum(&rows, "ok"), "every request answered 2xx");
    let done = done.expect("the page got the final table");
    assert_eq!(done["signal"], 130);
    assert_eq!(done["rows"][0]["requests"].as_u64(), Some(requests));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scraper_that_first_comes_after_a_short_run_still_reads_its_final_counts() {
    // A run shorter than Prometheus's first scrape of it (check-dashboard's Stop run once ended
    // with Prometheus holding nothing): loadgen waits up to LINGER for one scrape after the end,
    // whether or not one came during the run.
    let target = Target::serve(slow(Duration::from_millis(20))).await;
    let dir = out_dir();
    let url = target.url("/");
    let live = start(
        &[
            "run",
            "-c",
            "2",
            "--duration",
            "1s",
            "-X",
            "GET",
            "--metrics-addr",
            "127.0.0.1:0",
            &url,
        ],
        &dir,
    )
    .await;
    let mut done = false;
    read_events(&format!("{}/events", live.base()), |kind, _| {
        done |= kind == "done";
    })
    .await;
    assert!(done, "the page got the end of the run");
    // Well past the moment loadgen would stop serving if it waited for no scraper.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let text = reqwest::get(live.metrics.clone().unwrap())
        .await
        .expect("loadgen still serves /metrics for the first scrape after the run")
        .text()
        .await
        .unwrap();
    let run = live.wait(dir).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let ok = sum(&run.csv(), "ok");
    assert!(ok > 0);
    assert_eq!(
        sample(&text, "loadgen_requests_total", &[("outcome", "ok")]),
        Some(ok as f64),
        "the first scrape holds the final counts:\n{text}"
    );
}
