//! `--close-between`: a thinking user reconnects for each request (the target sees one connection
//! per request, not one per user), and the flag is refused where it cannot apply.

use crate::common;

use common::{column, loadgen, trading};

/// 4 users, 20 ms answers, 50 ms thinks for 1 s: about 55 requests. Returns the run's requests
/// and the connections the target accepted.
async fn four_thinking_users(extra: &[&str]) -> (u64, u64, common::Run) {
    let (mock, url) = trading().await;
    let mut args = vec![
        "run",
        "-X",
        "GET",
        "-c",
        "4",
        "-d",
        "1s",
        "--think-time",
        "50ms",
        &url,
    ];
    args.extend_from_slice(extra);
    let run = loadgen(&args).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let requests = column(&run, "requests");
    assert_eq!(column(&run, "ok"), requests, "{:?}", run.csv());
    let seen = mock.stats();
    // No warm-up and a preflight that only connects: the target saw exactly the step's requests.
    assert_eq!(seen.requests_total, requests, "{seen:?}");
    (requests, seen.connections_accepted, run)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thinking_user_keeps_its_connection_by_default() {
    let (requests, accepted, run) = four_thinking_users(&[]).await;
    assert!(requests > 20, "each user sent several requests: {requests}");
    // One connection per user, plus the preflight's, which only connects.
    assert_eq!(accepted, 4 + 1, "{requests} requests");
    assert_eq!(column(&run, "connections_opened"), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_close_between_each_request_opens_its_own_connection() {
    let (requests, accepted, run) = four_thinking_users(&["--close-between"]).await;
    assert!(requests > 20, "each user sent several requests: {requests}");
    assert_eq!(
        accepted,
        requests + 1,
        "one connection per request + the preflight's"
    );
    assert_eq!(column(&run, "connections_opened"), requests);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_between_without_think_time_is_a_usage_error() {
    let run = loadgen(&[
        "run",
        "-c",
        "1",
        "-d",
        "1s",
        "--close-between",
        "http://127.0.0.1:9/",
    ])
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--think-time"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_between_in_open_loop_is_a_usage_error_naming_the_flag() {
    for mut args in [
        vec!["run", "--rate", "10", "-d", "1s"],
        vec!["ramp", "--rate-steps", "5,10", "--step-duration", "1s"],
        vec![
            "find-capacity",
            "--search",
            "rate",
            "--slo",
            "p99<1s",
            "--step-duration",
            "1s",
        ],
    ] {
        args.extend([
            "--think-time",
            "1s",
            "--close-between",
            "http://127.0.0.1:9/",
        ]);
        let run = loadgen(&args).await;
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr
                .contains("--close-between: applies to closed-loop users"),
            "{args:?}: {}",
            run.stderr
        );
    }
}
