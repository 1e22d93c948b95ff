//! Scenario sessions: a user runs a session's requests in order, each followed by its own think
//! time, then picks again among single requests and sessions; every request is reported by name.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{loadgen, out_dir, Target};
use axum::extract::Path;
use axum::routing::get;
use axum::Router;

/// A target that records the path and arrival instant of every request.
async fn recording_target() -> (Target, Arc<Mutex<Vec<(String, Instant)>>>) {
    let seen: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let router = {
        let seen = seen.clone();
        Router::new().route(
            "/{page}",
            get(move |Path(page): Path<String>| {
                let seen = seen.clone();
                async move {
                    seen.lock().unwrap().push((page, Instant::now()));
                    "ok"
                }
            }),
        )
    };
    (Target::serve(router).await, seen)
}

fn scenario(text: &str) -> String {
    let path = out_dir().join("scenario.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

#[tokio::test]
async fn a_session_runs_in_order_and_a_user_picks_again_after_it() {
    let (target, seen) = recording_target().await;
    let file = scenario(
        r#"
[[request]]
name = "single"
path = "/h"

[[session]]
name = "browse"
[[session.request]]
name = "first"
path = "/a"
[[session.request]]
name = "second"
path = "/b"
[[session.request]]
name = "third"
path = "/c"
"#,
    );
    let url = target.url("/");
    let run = loadgen(&[
        "run",
        "-c",
        "1",
        "-d",
        "2s",
        "--warmup",
        "0s",
        "--url",
        &url,
        "--scenario",
        &file,
    ])
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let order: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(p, _)| p.clone())
        .collect();
    // One user: the target sees its sequence. Every run of session pages is a, b, c repeated;
    // only the very last session may be cut by the end of the run.
    let text = order.join(" ");
    let runs: Vec<&str> = text.split('h').map(str::trim).collect();
    let (last, whole) = runs.split_last().unwrap();
    for r in whole.iter().filter(|r| !r.is_empty()) {
        assert!(
            r.split(' ')
                .collect::<Vec<_>>()
                .chunks(3)
                .all(|c| c == ["a", "b", "c"]),
            "a session out of order: '{r}' in {text}"
        );
    }
    let tail: Vec<&str> = last.split(' ').filter(|p| !p.is_empty()).collect();
    assert!(
        tail.chunks(3).all(|c| ["a", "b", "c"].starts_with(c)),
        "the last session out of order: '{last}'"
    );
    let singles = order.iter().filter(|p| *p == "h").count();
    let sessions = order.iter().filter(|p| *p == "a").count();
    assert!(
        singles >= 10 && sessions >= 10,
        "both picked: {singles} singles, {sessions} sessions"
    );
    // Every request reported under its own name, and the sessions listed in the JSON.
    let names: Vec<String> = run.csv().iter().map(|r| r["name"].clone()).collect();
    for n in ["*", "single", "first", "second", "third"] {
        assert!(names.iter().any(|x| x == n), "row {n} in {names:?}");
    }
    let sessions = &run.json()["config"]["sessions"];
    assert_eq!(sessions[0]["name"], "browse");
    assert_eq!(sessions[0]["requests"][2]["name"], "third");
}

#[tokio::test]
async fn each_session_request_keeps_its_own_think_time() {
    let (target, seen) = recording_target().await;
    // After /a the user thinks 400 ms; after /b, --think-time applies (none).
    let file = scenario(
        r#"
[[session]]
name = "s"
[[session.request]]
name = "a"
path = "/a"
think_time = "400ms"
[[session.request]]
name = "b"
path = "/b"
"#,
    );
    let url = target.url("/");
    let run = loadgen(&[
        "run",
        "-c",
        "1",
        "-d",
        "3s",
        "--warmup",
        "0s",
        "--url",
        &url,
        "--scenario",
        &file,
    ])
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let seen = seen.lock().unwrap().clone();
    let (mut after_a, mut after_b) = (Vec::new(), Vec::new());
    for w in seen.windows(2) {
        let gap = w[1].1 - w[0].1;
        match w[0].0.as_str() {
            "a" => after_a.push(gap),
            _ => after_b.push(gap),
        }
    }
    assert!(after_a.len() >= 3, "sessions ran: {seen:?}");
    // A fixed think time is a lower bound on the gap; with none, the next request follows the
    // answer (far below 400 ms on loopback).
    assert!(
        after_a.iter().all(|g| *g >= Duration::from_millis(400)),
        "{after_a:?}"
    );
    let mean_b = after_b.iter().sum::<Duration>() / after_b.len() as u32;
    assert!(mean_b < Duration::from_millis(200), "{after_b:?}");
}

#[tokio::test]
async fn a_session_in_open_loop_is_refused_naming_it() {
    let file = scenario(
        r#"
[[session]]
name = "checkout"
[[session.request]]
name = "a"
path = "/a"
"#,
    );
    let run = loadgen(&[
        "run",
        "--rate",
        "5",
        "-d",
        "1s",
        "--url",
        "http://127.0.0.1:9/",
        "--scenario",
        &file,
    ])
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("session 'checkout' needs virtual users"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn a_weight_inside_a_session_is_refused() {
    let file = scenario(
        r#"
[[session]]
name = "checkout"
[[session.request]]
name = "a"
path = "/a"
weight = 3
"#,
    );
    let run = loadgen(&[
        "run",
        "-c",
        "1",
        "-d",
        "1s",
        "--url",
        "http://127.0.0.1:9/",
        "--scenario",
        &file,
    ])
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("weight the session instead"),
        "{}",
        run.stderr
    );
}

/// A server's keep-alive timeout shorter than the think time closes the user's connection while
/// it thinks: the user reconnects before its next request (as an HTTP client's pool does) instead
/// of sending a POST into a closed connection and counting an I/O error.
#[tokio::test]
async fn a_connection_the_server_closed_during_the_think_is_replaced_not_an_error() {
    use tokio::io::AsyncWriteExt;
    let target = Target::raw(|mut stream, _| async move {
        // Serve requests while they come within 100 ms of the last answer, then close.
        while tokio::time::timeout(
            Duration::from_millis(100),
            crate::common::read_request(&mut stream),
        )
        .await
        .unwrap_or(false)
        {
            if stream.write_all(crate::common::OK_RESPONSE).await.is_err() {
                return;
            }
        }
    })
    .await;
    let url = target.url("/analyze");
    let run = loadgen(&[
        "run",
        "-c",
        "2",
        "-d",
        "3s",
        "--warmup",
        "0s",
        "--think-time",
        "300ms",
        "-X",
        "POST",
        "--url",
        &url,
    ])
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let step = run.step();
    let requests = step["requests"].as_u64().unwrap();
    assert!(requests >= 10, "{step}");
    assert_eq!(step["io_errors"].as_u64(), Some(0), "{step}");
    // One connection per request: each was closed during the think before it.
    assert!(
        step["connections_opened"].as_u64().unwrap() >= requests,
        "{step}"
    );
}
