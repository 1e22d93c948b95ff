//! Connections that never send a request: silent sockets and stalled HTTP/2 prefaces are closed
//! after `HEADER_READ_TIMEOUT_MS`, `/health` keeps answering while they are open, and one IP
//! cannot hold more than `MAX_CONNECTIONS_PER_IP` connections.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::support::TestServer;

/// The HTTP/2 connection preface is 24 bytes; these are the first 23.
const H2_PREFACE_LESS_ONE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r";

fn settings(header_read_timeout: Duration) -> server::Settings {
    let mut s = crate::support::settings("http://127.0.0.1:9", "http://127.0.0.1:9");
    s.listener.header_read_timeout = header_read_timeout;
    s.listener.max_connections = 64;
    s
}

/// Waits for the server to close `socket` (EOF or reset); returns how long that took.
async fn time_until_closed(mut socket: TcpStream, opened: Instant) -> Duration {
    let mut buf = [0u8; 64];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), socket.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return opened.elapsed(),
            Ok(Ok(_)) => continue,
            Err(_) => panic!("socket still open after 10 s"),
        }
    }
}

// Paused time: the server runs in this runtime, so its header timeout is on tokio's clock, which
// stands still while the 40 sockets connect and /health answers, and moves to the timeout only
// once every task waits. "/health answered while they were open" and "closed at the timeout"
// are then facts about order, whatever else the machine is doing.
#[tokio::test(start_paused = true)]
async fn silent_sockets_and_h2_preface_stalls_are_closed_after_the_header_timeout() {
    let timeout = Duration::from_millis(500);
    let server = TestServer::start(settings(timeout)).await;
    let opened = Instant::now();
    let mut hostile = Vec::new();
    for i in 0..40 {
        let mut socket = TcpStream::connect(server.addr).await.expect("connect");
        if i % 2 == 1 {
            socket.write_all(H2_PREFACE_LESS_ONE).await.expect("write");
        }
        hostile.push(socket);
    }
    // 40 of 64 slots held by clients that send nothing useful: /health still answers.
    let health = server.health().await;
    assert_eq!(health["status"], "ok");
    assert!(
        opened.elapsed() < timeout,
        "health must be checked while the hostile sockets are open"
    );
    let closes = futures_util::future::join_all(
        hostile
            .into_iter()
            .map(|socket| time_until_closed(socket, opened)),
    )
    .await;
    for (i, closed_after) in closes.iter().enumerate() {
        assert!(
            *closed_after >= timeout - Duration::from_millis(50)
                && *closed_after < timeout + Duration::from_secs(2),
            "socket {i} closed after {closed_after:?}, timeout {timeout:?}"
        );
    }
    assert_eq!(server.health().await["status"], "ok");
}

#[tokio::test]
async fn a_fourth_connection_from_one_ip_is_closed_when_the_cap_is_three() {
    let mut s = settings(Duration::from_secs(30));
    s.listener.max_connections_per_ip = 3;
    let server = TestServer::start(s).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(server.addr).await.expect("connect"));
    }
    let opened = Instant::now();
    let fourth = TcpStream::connect(server.addr).await.expect("connect");
    let closed_after = time_until_closed(fourth, opened).await;
    assert!(
        closed_after < Duration::from_secs(5),
        "over-cap connection closed at once, not after the 30 s header timeout ({closed_after:?})"
    );
    drop(held);
    crate::support::wait_until("a slot is free again for 127.0.0.1", || async {
        reqwest::get(format!("{}/health", server.url()))
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
}

#[tokio::test]
async fn an_http2_client_is_served_after_the_preface() {
    let server = TestServer::start(settings(Duration::from_millis(500))).await;
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .expect("client");
    let response = client
        .get(format!("{}/health", server.url()))
        .send()
        .await
        .expect("h2 request");
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let timeout = Duration::from_millis(500);
    let server = TestServer::start(settings(timeout)).await;
    let mut socket = TcpStream::connect(server.addr).await.expect("connect");
    socket
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut buf = vec![0u8; 4096];
    let n = socket.read(&mut buf).await.expect("read");
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    // Answered and kept alive; now silent, it holds the slot only until the header timeout.
    let idle_since = Instant::now();
    let closed_after = time_until_closed(socket, idle_since).await;
    assert!(
        closed_after < timeout + Duration::from_secs(2),
        "idle keep-alive connection closed after {closed_after:?}"
    );
}

/// An HTTP/2 connection (hyper's client) to `server`; resolves the connection task's end.
async fn h2_connection(
    server: &TestServer,
) -> (
    hyper::client::conn::http2::SendRequest<String>,
    tokio::task::JoinHandle<Instant>,
) {
    let stream = TcpStream::connect(server.addr).await.expect("connect");
    let (send, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .expect("h2 handshake");
    let ended = tokio::spawn(async move {
        let _ = connection.await;
        Instant::now()
    });
    (send, ended)
}

fn h2_request(method: &str, path: &str, body: &str) -> hyper::Request<String> {
    hyper::Request::builder()
        .method(method)
        .uri(format!("http://localhost{path}"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .expect("request")
}

#[tokio::test]
async fn an_idle_http2_connection_is_shut_down_after_the_idle_timeout_but_not_mid_request() {
    // Model calls take 600 ms, so an analysis (two turns) outlasts the 500 ms idle timeout.
    let (trading, claude) = crate::support::mocks(600).await;
    let mut s = crate::support::settings(&trading.url(), &claude.url());
    s.listener.header_read_timeout = Duration::from_secs(5);
    s.listener.idle_timeout = Duration::from_millis(500);
    let server = TestServer::start(s).await;
    let (mut send, ended) = h2_connection(&server).await;
    let response = send
        .send_request(h2_request(
            "POST",
            "/analyze",
            r#"{"query":"Should I buy AAPL?"}"#,
        ))
        .await
        .expect("a request longer than the idle timeout is served");
    assert_eq!(response.status(), 200);
    let answered = Instant::now();
    // Now idle: closed after about the idle timeout, long before the 5 s header timeout.
    let closed = tokio::time::timeout(Duration::from_secs(4), ended)
        .await
        .expect("idle h2 connection still open after 4 s")
        .expect("join");
    let idle = closed - answered;
    assert!(
        idle >= Duration::from_millis(400) && idle < Duration::from_secs(2),
        "idle connection closed {idle:?} after its last answer (idle timeout 500 ms)"
    );
}
