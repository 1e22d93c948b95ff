//! Thinking users on one machine: 10,000 thinking users all start, hold their connections
//! through their thinks and finish without an error (`--close-between` is tested in the shared
//! binary, `it/close_between.rs`).
//!
//! A test binary of its own, against STYLE's one-binary habit, for process isolation: the
//! 10,000-user test holds 10,000 sockets in this process (and as many in loadgen's) and spends a
//! burst of CPU that the timing-sensitive tests of a shared binary, run in parallel with it,
//! would feel; cargo runs test binaries one after another. The speed goal itself (KB and % of a
//! core per idle user) is `make bench-users`, never asserted here.

// The integration binary's helpers, shared by path; not every one is used here.
#[path = "it/common.rs"]
#[allow(dead_code)]
mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::{column, loadgen, read_request, Target, OK_RESPONSE};
use tokio::io::AsyncWriteExt;

/// The soft limit on open files of this process (loadgen inherits it).
fn open_files_limit() -> u64 {
    let limits = std::fs::read_to_string("/proc/self/limits").expect("/proc/self/limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("a 'Max open files' line");
    line.split_whitespace()
        .nth(3)
        .and_then(|v| v.parse().ok())
        .unwrap_or(u64::MAX) // "unlimited"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_thinking_users_all_start_and_hold_their_connections() {
    const USERS: u64 = 10_000;
    let limit = open_files_limit();
    assert!(
        limit >= USERS + 1_000,
        "this test holds {USERS} sockets in this process and as many in loadgen's, and the open \
         files limit is {limit}: raise it (ulimit -n 20000) and run again"
    );
    // A raw target that answers at once and counts: the mock's hyper stack, unoptimized in a
    // test build, falls behind 10,000 connects and turns them into connect timeouts.
    let accepted = Arc::new(AtomicU64::new(0));
    let answered = Arc::new(AtomicU64::new(0));
    let target = {
        let (accepted, answered) = (accepted.clone(), answered.clone());
        Target::raw(move |mut s, _| {
            accepted.fetch_add(1, Ordering::SeqCst);
            let answered = answered.clone();
            async move {
                while read_request(&mut s).await {
                    answered.fetch_add(1, Ordering::SeqCst);
                    if s.write_all(OK_RESPONSE).await.is_err() {
                        return;
                    }
                }
            }
        })
        .await
    };
    // Users start spread over 4 s and think 4 s after each answer: every user sends a first
    // request, about half of them a second one on the same connection, within the 6 s step.
    let users = USERS.to_string();
    let run = loadgen(&[
        "run",
        "-X",
        "GET",
        "-c",
        &users,
        "-d",
        "6s",
        "--spawn-over",
        "4s",
        "--think-time",
        "4s",
        &target.url("/"),
    ])
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let requests = column(&run, "requests");
    assert_eq!(column(&run, "ok"), requests, "{:?}", run.csv());
    for errors in ["timeouts", "connect_errors", "io_errors"] {
        assert_eq!(column(&run, errors), 0, "{errors}: {:?}", run.csv());
    }
    // Every user connected once and kept its connection through its think: a second request
    // reused it, and no user reconnected.
    assert_eq!(column(&run, "connections_opened"), USERS);
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        USERS + 1,
        "one connection per user + the preflight's"
    );
    assert_eq!(answered.load(Ordering::SeqCst), requests);
    assert!(
        requests > USERS,
        "some users sent a second request on their kept connection: {requests}"
    );
}
