//! Connection accounting is exact: keep-alive reuses one connection, `Connection: close` and
//! fresh clients open one each; connect delay is paid once per connection; the cap refuses.

use std::time::{Duration, Instant};

use crate::support::*;

#[tokio::test]
async fn keep_alive_serves_n_requests_on_one_connection() {
    let t = trading(|_| {}).await;
    let client = reqwest::Client::new();
    for _ in 0..20 {
        let r = client
            .get(format!("{}/v1/quotes/AAPL", t.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
    }
    let s = t.stats();
    assert_eq!(s.requests_total, 20);
    assert_eq!(s.connections_accepted, 1);
    assert_eq!(s.connections_open, 1);
    assert_eq!(s.responses_by_status["200"], 20);
}

#[tokio::test]
async fn connection_close_and_fresh_clients_open_one_connection_each() {
    let t = trading(|_| {}).await;
    let client = reqwest::Client::new();
    for _ in 0..5 {
        let r = client
            .get(format!("{}/v1/quotes/AAPL", t.url()))
            .header("connection", "close")
            .send()
            .await
            .unwrap();
        r.bytes().await.unwrap();
    }
    for _ in 0..5 {
        let r = reqwest::Client::new()
            .get(format!("{}/v1/market/status", t.url()))
            .send()
            .await
            .unwrap();
        r.bytes().await.unwrap();
    }
    let s = t.stats();
    assert_eq!(s.requests_total, 10);
    assert_eq!(s.connections_accepted, 10);
}

#[tokio::test]
async fn connect_delay_is_paid_once_per_connection() {
    let t = trading(|s| s.connect_delay_ms = 300).await;
    let client = reqwest::Client::new();
    let get = |c: reqwest::Client, url: String| async move {
        let start = Instant::now();
        c.get(format!("{url}/v1/quotes/AAPL"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        start.elapsed()
    };
    let first = get(client.clone(), t.url()).await;
    let second = get(client.clone(), t.url()).await;
    assert!(first >= Duration::from_millis(300), "first {first:?}");
    assert!(
        second < first / 2,
        "reused connection pays nothing: {second:?} vs {first:?}"
    );
    let fresh = get(reqwest::Client::new(), t.url()).await;
    assert!(
        fresh >= Duration::from_millis(300),
        "new connection pays again: {fresh:?}"
    );
    assert_eq!(t.stats().connections_accepted, 2);
}

#[tokio::test]
async fn connections_beyond_the_cap_are_refused_and_counted() {
    let t = trading(|s| s.max_connections = 2).await;
    let keep: Vec<reqwest::Client> = (0..2).map(|_| reqwest::Client::new()).collect();
    for c in &keep {
        c.get(format!("{}/v1/quotes/AAPL", t.url()))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
    }
    assert_eq!(t.stats().connections_open, 2);
    let third = reqwest::Client::new()
        .get(format!("{}/v1/quotes/AAPL", t.url()))
        .send()
        .await;
    assert!(third.is_err(), "third connection refused");
    let s = t.stats();
    assert_eq!(s.connections_refused, 1);
    assert_eq!(s.connections_accepted, 2);
    assert_eq!(s.requests_total, 2);
}

#[tokio::test]
async fn closing_the_client_closes_the_connection() {
    let t = trading(|_| {}).await;
    let client = reqwest::Client::new();
    client
        .get(format!("{}/v1/quotes/AAPL", t.url()))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(t.stats().connections_open, 1);
    drop(client);
    // The server notices the close asynchronously; poll the counter rather than sleeping blind.
    let deadline = Instant::now() + Duration::from_secs(5);
    while t.stats().connections_open != 0 {
        assert!(Instant::now() < deadline, "connection still counted open");
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
