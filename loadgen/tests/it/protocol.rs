//! Protocol handling. The lean HTTP/1.1 client frames responses right: chunked bodies, interim 1xx responses,
//! bodies ending at close, `Connection: close`, HEAD; every response on a reused connection is
//! read whole, so the next one parses. `--http2` speaks HTTP/2 with prior knowledge.

use crate::common;

use common::{loadgen, num, read_request, Target};
use std::time::Duration;

use tokio::io::AsyncWriteExt;

/// A target answering every request on a connection with `response`.
async fn answering(response: &'static [u8]) -> Target {
    Target::raw(move |mut s, _| async move {
        while read_request(&mut s).await {
            if s.write_all(response).await.is_err() {
                return;
            }
        }
    })
    .await
}

async fn one_user(target: &Target, method: &str) -> serde_json::Value {
    let url = target.url("/");
    let args = ["run", "-c", "1", "-d", "300ms", "--url", &url, "-X", method];
    let run = loadgen(&args).await;
    assert_eq!(run.code, 0);
    run.step()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_bodies_with_extensions_and_trailers_keep_the_connection_in_sync() {
    let target = answering(
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: 1\r\n\r\n",
    )
    .await;
    let step = one_user(&target, "GET").await;
    assert!(num(&step, "ok") >= 10.0, "{step}");
    assert_eq!(num(&step, "io_errors"), 0.0);
    assert_eq!(
        num(&step, "connections_opened"),
        1.0,
        "one keep-alive connection throughout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interim_100_continue_is_skipped_and_the_final_status_counted() {
    let target = answering(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\nretry-after: 3\r\n\r\nbusy").await;
    let step = one_user(&target, "GET").await;
    assert!(num(&step, "rejected_503") >= 10.0, "{step}");
    assert_eq!(num(&step, "requests"), num(&step, "rejected_503"));
    assert_eq!(num(&step["retry_after"], "max_s"), 3.0);
    assert_eq!(num(&step, "connections_opened"), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_close_and_bodies_until_eof_reconnect_without_errors() {
    let close = Target::raw(|mut s, _| async move {
        if read_request(&mut s).await {
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok")
                .await;
        }
    })
    .await;
    let eof = Target::raw(|mut s, _| async move {
        if read_request(&mut s).await {
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\n\r\nbody until the server closes")
                .await;
        }
    })
    .await;
    for target in [close, eof] {
        let step = one_user(&target, "GET").await;
        assert!(num(&step, "ok") >= 10.0, "{step}");
        assert_eq!(num(&step, "io_errors"), 0.0);
        assert_eq!(
            num(&step, "connections_opened"),
            num(&step, "ok") + num(&step, "in_flight_at_end"),
            "one connection per response (and one for a request cut at the step's end)"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_responses_have_no_body_even_with_a_content_length() {
    let target = answering(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n").await;
    let step = one_user(&target, "HEAD").await;
    assert!(num(&step, "ok") >= 10.0, "{step}");
    assert_eq!(num(&step, "timeouts"), 0.0);
    assert_eq!(num(&step, "connections_opened"), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_closing_idle_keep_alive_connections_causes_no_errors() {
    // Answers one request per connection, then closes without saying so.
    let target = answering_once().await;
    let step = one_user(&target, "GET").await;
    assert!(num(&step, "ok") >= 10.0, "{step}");
    assert_eq!(
        num(&step, "io_errors"),
        0.0,
        "a stale connection is replaced, the request resent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_posts_on_connections_the_server_closed_while_idle_are_not_errors() {
    // Keeps each connection alive 300 ms after an answer, then closes it without saying so (a
    // keep-alive timeout); Poisson arrivals at 4/s leave most connections idle longer than
    // that, and a POST found on a closed connection may not be resent.
    let target = Target::raw(|mut s, _| async move {
        while read_request(&mut s).await {
            if s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                .await
                .is_err()
            {
                return;
            }
            let mut probe = [0u8; 1];
            match tokio::time::timeout(Duration::from_millis(300), s.peek(&mut probe)).await {
                Ok(Ok(n)) if n > 0 => continue,
                _ => {
                    let _ = s.shutdown().await;
                    return;
                }
            }
        }
    })
    .await;
    let url = target.url("/analyze");
    let run = loadgen(&[
        "run",
        "--rate",
        "4",
        "--arrivals",
        "poisson",
        "-d",
        "4s",
        "--warmup",
        "0s",
        "--url",
        &url,
        "--method",
        "POST",
        "--body",
        "{}",
    ])
    .await;
    let step = run.step();
    assert!(num(&step, "requests") >= 6.0, "{step}");
    assert_eq!(num(&step, "io_errors"), 0.0, "{step}");
    assert_eq!(num(&step, "ok"), num(&step, "requests"), "{step}");
    assert!(num(&step, "connections_opened") > 1.0, "{step}");
}

async fn answering_once() -> Target {
    Target::raw(|mut s, _| async move {
        if read_request(&mut s).await {
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                .await;
            let _ = s.shutdown().await;
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_prior_knowledge_reuses_one_connection_per_user() {
    use axum::routing::post;
    let target = Target::serve(
        axum::Router::new().route("/analyze", post(|body: String| async move { body })),
    )
    .await;
    let url = target.url("/analyze");
    let run = loadgen(&["run", "-c", "2", "-d", "300ms", "--url", &url, "--http2"]).await;
    assert_eq!(run.code, 0);
    let step = run.step();
    assert!(num(&step, "ok") >= 10.0, "{step}");
    assert_eq!(num(&step, "requests"), num(&step, "ok"));
    assert_eq!(num(&step, "connections_opened"), 2.0);
}
