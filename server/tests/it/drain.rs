//! The drain window: after the shutdown signal `/health/ready` answers 503 for
//! `SHUTDOWN_DRAIN_MS` while the listener still accepts and serves; then the listener closes.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{mocks, settings, wait_until, TestServer};

async fn ready_status(client: &reqwest::Client, server: &TestServer) -> Option<u16> {
    client
        .get(format!("{}/health/ready", server.url()))
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

#[tokio::test]
async fn readiness_is_503_while_new_connections_are_still_served_during_the_drain_window() {
    let (trading, claude) = mocks(0).await;
    let mut s = settings(&trading.url(), &claude.url());
    let drain = Duration::from_millis(1500);
    s.shutdown.drain = drain;
    let mut server = TestServer::start(s).await;
    // A fresh connection per request: proves the listener itself still accepts.
    let fresh = || {
        reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("client")
    };
    assert_eq!(ready_status(&fresh(), &server).await, Some(200));

    let signalled = Instant::now();
    server.signal_shutdown();
    wait_until("/health/ready turns 503", || async {
        ready_status(&fresh(), &server).await == Some(503)
    })
    .await;
    let body: serde_json::Value = fresh()
        .get(format!("{}/health/ready", server.url()))
        .send()
        .await
        .expect("ready")
        .json()
        .await
        .expect("json");
    assert_eq!(body["reason"], "draining before shutdown");
    let analysis = server
        .analyze(&fresh(), json!({"query": "Should I buy AAPL?"}))
        .await;
    assert_eq!(
        analysis.status(),
        200,
        "analyses are still served while draining"
    );
    assert!(
        signalled.elapsed() < drain,
        "checks ran inside the drain window ({:?})",
        signalled.elapsed()
    );

    wait_until("the listener closes after the drain window", || async {
        ready_status(&fresh(), &server).await.is_none()
    })
    .await;
    let closed_after = signalled.elapsed();
    assert!(
        closed_after >= drain && closed_after < drain + Duration::from_secs(3),
        "listener closed {closed_after:?} after the signal, drain {drain:?}"
    );
    server.shutdown().await.expect("serve returns Ok");
}
