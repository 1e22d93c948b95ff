//! A newcomer's mistakes (issue 20), run as a user would: the real binary against in-process
//! targets. A 4xx target, a rate limiter answering 429, defaults that must not warn.

use crate::common;

use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use common::{loadgen, num, Target};

/// `/analyze` answers 200; anything else 404 (the typo `/analyse` included).
async fn analyze_target() -> Target {
    Target::serve(Router::new().route("/analyze", post(|| async { "ok" }))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typo_in_the_path_warns_with_status_and_path_and_the_table_breaks_errors_down() {
    let target = analyze_target().await;
    let run = loadgen(&["run", "-c", "2", "-d", "300ms", &target.url("/analyse")]).await;
    assert_eq!(run.code, 0, "no objective: the run itself passes");
    assert!(
        run.stderr
            .contains("warning: step 1: 100% of answers were 404 Not Found")
            && run.stderr.contains("POST /analyse"),
        "{}",
        run.stderr
    );
    let requests = num(&run.step(), "requests") as u64;
    assert!(requests > 0);
    assert!(
        run.stdout
            .contains(&format!("step 1 errors: 404 Not Found ×{requests}")),
        "{}",
        run.stdout
    );
    assert_eq!(run.step()["error_statuses"]["404"], requests);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preflight_request_answered_404_warns_before_the_run() {
    let target = analyze_target().await;
    let run = loadgen(&[
        "run",
        "-c",
        "1",
        "-d",
        "200ms",
        "--preflight-request",
        &target.url("/analyse"),
    ])
    .await;
    assert_eq!(run.code, 0);
    assert!(
        run.stderr
            .contains("warning: the preflight request got 404 Not Found from http://")
            && run.stderr.contains("(path /analyse)"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_target_draws_no_error_warning_and_no_breakdown() {
    let target = analyze_target().await;
    let run = loadgen(&["run", "-c", "2", "-d", "300ms", &target.url("/analyze")]).await;
    assert_eq!(run.code, 0);
    assert!(!run.stderr.contains("of answers were"), "{}", run.stderr);
    assert!(!run.stdout.contains("errors:"), "{}", run.stdout);
    assert!(num(&run.step(), "ok") > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limiter_answering_429_draws_the_retry_after_hint() {
    let limiter = Router::new().route(
        "/analyze",
        post(|| async {
            let mut h = HeaderMap::new();
            h.insert("retry-after", "1".parse().unwrap());
            (StatusCode::TOO_MANY_REQUESTS, h, "slow down")
        }),
    );
    let target = Target::serve(limiter).await;
    let run = loadgen(&["run", "-c", "2", "-d", "300ms", &target.url("/analyze")]).await;
    assert_eq!(run.code, 0);
    assert!(
        run.stderr.contains("429 Too Many Requests")
            && run.stderr.contains("per-client rate limit")
            && run.stderr.contains("--honor-retry-after"),
        "{}",
        run.stderr
    );
    // Honouring Retry-After, the hint is not repeated: the user chose what to measure.
    let honoured = loadgen(&[
        "run",
        "-c",
        "1",
        "-d",
        "300ms",
        "--honor-retry-after",
        &target.url("/analyze"),
    ])
    .await;
    assert!(
        !honoured.stderr.contains("--honor-retry-after"),
        "{}",
        honoured.stderr
    );
    assert!(honoured.stderr.contains("429 Too Many Requests"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_to_a_get_route_is_counted_as_405() {
    // loadgen POSTs by default; the route takes GET only: counted in error_statuses like any other status.
    let target = Target::serve(Router::new().route("/h", get(|| async { "ok" }))).await;
    let run = loadgen(&["run", "-c", "1", "-d", "200ms", &target.url("/h")]).await;
    assert_eq!(run.code, 0);
    assert!(run.step()["error_statuses"]["405"].as_u64().unwrap() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_timings_do_not_warn_about_each_other() {
    // The warning is printed before the target is tried: a refused port ends the run at once.
    let url = format!("http://127.0.0.1:{}/analyze", common::refused_port());
    let defaults = loadgen(&["ramp", "--to", "50", &url]).await;
    assert_eq!(defaults.code, 3, "{}", defaults.stderr);
    assert!(
        !defaults.stderr.contains("is longer than a step"),
        "{}",
        defaults.stderr
    );
    let short = loadgen(&["ramp", "--to", "50", "--step-duration", "1s", &url]).await;
    assert_eq!(short.code, 3);
    assert!(
        short
            .stderr
            .contains("warning: --timeout 30s is longer than a step (3s)"),
        "a step the user shortened still warns: {}",
        short.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_against_a_plain_http_port_says_use_http() {
    let target = analyze_target().await;
    let url = format!("https://{}/analyze", target.addr);
    let run = loadgen(&["run", "-c", "1", "-d", "200ms", "--insecure", &url]).await;
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "plain HTTP: it does not speak TLS on this port; use http://{}/analyze",
            target.addr
        )),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("InvalidContentType"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bare_host_and_port_suggests_the_url() {
    let target = analyze_target().await;
    let bare = target.addr.to_string();
    let run = loadgen(&["run", "-c", "1", "-d", "200ms", &bare]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("e.g. http://{bare}/")),
        "{}",
        run.stderr
    );
    let with_path = format!("{bare}/analyze");
    let run = loadgen(&["run", "-c", "1", "-d", "200ms", &with_path]).await;
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains(&format!("e.g. http://{bare}/analyze")),
        "{}",
        run.stderr
    );
}

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn loadgen_sync(args: &[&std::ffi::OsStr]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn report_on_a_csv_that_is_not_a_step_csv_says_what_it_should_be() {
    let dir = common::out_dir();
    let ts = fixture("ramp/timeseries.csv");
    let out = dir.join("rep");
    let o = loadgen_sync(&[
        "report".as_ref(),
        ts.as_os_str(),
        "--out-dir".as_ref(),
        out.as_os_str(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("timeseries.csv: line 1: not a loadgen step CSV"),
        "{err}"
    );
    assert!(err.contains("--out CSV of `loadgen ramp`"), "{err}");
    assert!(!out.exists());
}

#[test]
fn compare_warns_when_the_runs_steps_differ_in_length() {
    let dir = common::out_dir();
    // The same run with 3 s steps instead of 10 s.
    let text = std::fs::read_to_string(fixture("before.csv")).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let col = header.split(',').position(|h| h == "duration_s").unwrap();
    let mut short = String::from(header);
    for l in lines {
        let mut cells: Vec<&str> = l.split(',').collect();
        cells[col] = "3.0";
        short += "\n";
        short += &cells.join(",");
    }
    let short_csv = dir.join("short.csv");
    std::fs::write(&short_csv, short + "\n").unwrap();
    let before = fixture("before.csv");
    let out = dir.join("cmp");
    let o = loadgen_sync(&[
        "compare".as_ref(),
        before.as_os_str(),
        short_csv.as_os_str(),
        "--out-dir".as_ref(),
        out.as_os_str(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("warning: the runs' steps differ in length (10.0 s before, 3.0 s after)"),
        "{err}"
    );
    let md = std::fs::read_to_string(out.join("compare.md")).unwrap();
    assert!(md.contains("steps differ in length"));
    // Same lengths: no warning.
    let out2 = dir.join("cmp2");
    let o = loadgen_sync(&[
        "compare".as_ref(),
        before.as_os_str(),
        before.as_os_str(),
        "--out-dir".as_ref(),
        out2.as_os_str(),
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert!(!String::from_utf8_lossy(&o.stderr).contains("differ in length"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_loop_table_shows_the_rate_not_max_in_flight_as_concurrency() {
    let target = analyze_target().await;
    let run = loadgen(&["run", "-r", "20", "-d", "300ms", &target.url("/analyze")]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let row: Vec<&str> = run
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("1 "))
        .expect("a table row")
        .split_whitespace()
        .collect();
    assert_eq!(&row[..3], &["1", "-", "20/s"], "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_probe_says_which_objective_failed() {
    let target = analyze_target().await;
    let run = loadgen(&[
        "find-capacity",
        "--min",
        "1",
        "--max",
        "1",
        "--step-duration",
        "200ms",
        "--warmup",
        "0s",
        "--confirm",
        "0",
        "--slo",
        "p99<1us",
        "--slo",
        "success>=50%",
        &target.url("/analyze"),
    ])
    .await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("probe 1 grow 1: failed: p99<1us (measured"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("success>=50% (measured"),
        "{}",
        run.stderr
    );
}

/// One meaning per flag name: `--rate` always takes a value, `-d` is a duration in `run`, `ramp`
/// and `find-capacity`, `--out` is always a file (directories are `--out-dir`), and
/// `find-capacity --help` lists no `--slo-until` (which it refuses).
#[test]
fn each_flag_name_has_one_meaning_across_subcommands() {
    let text = |args: &[&str]| {
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
        let out = loadgen_sync(&args);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, help, _) = text(&["find-capacity", "--help"]);
    assert_eq!(code, Some(0));
    assert!(!help.contains("--slo-until"), "{help}");
    assert!(help.contains("--search <SEARCH>"), "{help}");
    assert!(help.contains("-d, --step-duration"), "{help}");
    let (_, ramp_help, _) = text(&["ramp", "--help"]);
    assert!(ramp_help.contains("-d, --step-duration"), "{ramp_help}");
    // The old switch is now a value everywhere: a bare `--rate` is refused by clap.
    let (code, _, err) = text(&["find-capacity", "--rate", "--slo", "p99<1s"]);
    assert_eq!(code, Some(2), "{err}");
    let (code, _, err) = text(&[
        "find-capacity",
        "--slo",
        "p99<1s",
        "--slo-until",
        "5",
        "http://127.0.0.1:9/",
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("--slo-until: does not apply to find-capacity"),
        "{err}"
    );
    for cmd in ["report", "compare"] {
        let (_, h, _) = text(&[cmd, "--help"]);
        assert!(
            h.contains("--out-dir <DIR>") && !h.contains("--out <"),
            "{cmd}: {h}"
        );
    }
    let (_, h, _) = text(&["report", "--help"]);
    assert!(
        h.contains("--from-json <PATH>") && !h.contains("--json <"),
        "{h}"
    );
}
