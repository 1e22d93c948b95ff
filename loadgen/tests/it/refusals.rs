//! What a newcomer's second pass found accepted that should not be (issue 33): each is refused
//! with exit 2 and a message naming what is at fault, before a request is sent.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::Router;

use crate::common::{loadgen, out_dir, Target};

/// A target counting the requests it gets.
async fn counting_target() -> (Target, Arc<AtomicU64>) {
    let seen = Arc::new(AtomicU64::new(0));
    let counter = seen.clone();
    let target = Target::serve(Router::new().fallback(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        async { "ok" }
    }))
    .await;
    (target, seen)
}

/// Writes `text` to a scenario file of a fresh directory.
fn scenario(text: &str) -> String {
    let path = out_dir().join("scenario.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_out_of_range_is_a_usage_error_naming_the_url() {
    // http::Uri keeps `:99999` but reports no port, and the requests went to port 80.
    let run = loadgen(&["run", "-c", "1", "-d", "200ms", "http://127.0.0.1:99999/"]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("--url: 'http://127.0.0.1:99999/' is not a URL")
            && run.stderr.contains("port 99999 is not 1 to 65535"),
        "{}",
        run.stderr
    );
    // In a scenario's full URL as well.
    let (target, seen) = counting_target().await;
    let file = scenario(
        "[[request]]\nname = \"far\"\npath = \"http://127.0.0.1:70000/x\"\n\n\
         [[request]]\nname = \"near\"\npath = \"/\"\n",
    );
    let run = loadgen(&[
        "run",
        "-c",
        "1",
        "-d",
        "200ms",
        "--scenario",
        &file,
        &target.url("/"),
    ])
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("--scenario: 'http://127.0.0.1:70000/x'"),
        "{}",
        run.stderr
    );
    assert_eq!(seen.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_slash_after_the_scheme_gets_the_url_with_two() {
    let run = loadgen(&[
        "run",
        "-c",
        "1",
        "-d",
        "200ms",
        "http:/127.0.0.1:27001/analyze",
    ])
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("the scheme needs two slashes, e.g. http://127.0.0.1:27001/analyze"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("http://http:"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_request_names_are_refused_naming_both() {
    let (target, seen) = counting_target().await;
    let file = scenario(
        "[[request]]\nname = \"a\"\npath = \"/x\"\n\n\
         [[request]]\nname = \"b\"\npath = \"/y\"\n\n\
         [[session]]\nname = \"s\"\n\n\
         [[session.request]]\nname = \"a\"\npath = \"/z\"\n",
    );
    let run = loadgen(&[
        "run",
        "-c",
        "1",
        "-d",
        "200ms",
        "--slo",
        "a:p99<1s",
        "--scenario",
        &file,
        &target.url("/"),
    ])
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "request name 'a' is used twice, by [[request]] 1 and by request 1 of [[session]] 's'"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(seen.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scenario_request_without_a_path_is_refused_not_sent_to_the_root() {
    let (target, seen) = counting_target().await;
    let file = scenario("[[request]]\nname = \"forgot\"\nmethod = \"GET\"\n");
    let run = loadgen(&[
        "run",
        "-c",
        "1",
        "-d",
        "200ms",
        "--scenario",
        &file,
        &target.url("/"),
    ])
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("--scenario: request 'forgot' has no path: give path = \"/\""),
        "{}",
        run.stderr
    );
    assert_eq!(seen.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_think_time_with_an_arrival_rate_is_refused_like_close_between() {
    let (target, seen) = counting_target().await;
    let url = target.url("/");
    let run = loadgen(&[
        "run",
        "-X",
        "GET",
        "-r",
        "10",
        "-d",
        "200ms",
        "--think-time",
        "1s",
        &url,
    ])
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("--think-time: applies to closed-loop users"),
        "{}",
        run.stderr
    );
    let file = scenario(
        "[[request]]\nname = \"slow\"\npath = \"/\"\nthink_time = \"2s\"\n\n\
         [[request]]\nname = \"quick\"\npath = \"/\"\n",
    );
    let run = loadgen(&[
        "ramp",
        "--rate-steps",
        "5,10",
        "-d",
        "200ms",
        "--scenario",
        &file,
        &url,
    ])
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "--scenario: request 'slow' has a think_time, which applies to closed-loop users"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(seen.load(Ordering::SeqCst), 0);
}
