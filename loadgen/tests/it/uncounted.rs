//! No request reaches the target uncounted: the reachability check only connects unless
//! `--preflight-request` is given, and the JSON reports the preflight's and the warm-ups'
//! requests, so preflight + warm-up + the steps' requests = the target's own `/__stats` count.

use crate::common;

use common::{loadgen, num, trading};
use mocks::MockHandle;

/// The target's own count, read over HTTP as a user would (`GET /__stats`).
async fn stats_total(mock: &MockHandle) -> u64 {
    let body = http_get(&format!("{}/__stats", mock.url())).await;
    let v: serde_json::Value = serde_json::from_str(&body).expect("/__stats is JSON");
    v["requests_total"].as_u64().expect("requests_total")
}

async fn http_get(url: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
    // Chunked or not, the JSON object is the part between the outer braces.
    body[body.find('{').unwrap()..=body.rfind('}').unwrap()].to_string()
}

async fn ramp(extra: &[&str]) -> (u64, serde_json::Value, u64) {
    let (mock, url) = trading().await;
    let mut args = vec![
        "ramp",
        "--steps",
        "1,3",
        "--step-duration",
        "400ms",
        "--warmup",
        "200ms",
        "-X",
        "GET",
        &url,
    ];
    args.extend_from_slice(extra);
    let run = loadgen(&args).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json = run.json();
    let steps: u64 = run
        .csv()
        .iter()
        .map(|r| r["requests"].parse::<u64>().unwrap())
        .sum();
    let seen = stats_total(&mock).await;
    // The /__stats request itself is not an API request.
    (steps, json, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_the_preflight_only_connects_and_warmups_are_reported() {
    let (steps, json, seen) = ramp(&[]).await;
    assert_eq!(num(&json, "preflight_requests"), 0.0);
    let warmup = num(&json, "warmup_requests") as u64;
    assert!(warmup > 0, "two 200 ms warm-ups at 20 ms sent requests");
    assert_eq!(
        steps + warmup,
        seen,
        "steps {steps} + warm-up {warmup} = the target's count {seen}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preflight_request_is_sent_once_and_reported() {
    let (steps, json, seen) = ramp(&["--preflight-request"]).await;
    assert_eq!(num(&json, "preflight_requests"), 1.0);
    let warmup = num(&json, "warmup_requests") as u64;
    assert_eq!(
        1 + warmup + steps,
        seen,
        "preflight 1 + warm-up {warmup} + steps {steps} = the target's count {seen}"
    );
}
