//! Every outcome class is produced and counted: 429/503 with Retry-After, 404, 500, timeouts
//! (wiremock), refused connections and resets (raw TCP targets); a scenario is reported per name.

use crate::common;

use std::time::Duration;

use common::{loadgen, num, read_request, Target, OK_RESPONSE};
use tokio::io::AsyncWriteExt;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn status_server() -> MockServer {
    let server = MockServer::start().await;
    let routes = [
        (
            "/ok",
            ResponseTemplate::new(200)
                .insert_header("server-timing", "queue;dur=1.5, upstream;dur=4"),
        ),
        (
            "/limited",
            ResponseTemplate::new(429).insert_header("retry-after", "1"),
        ),
        (
            "/busy",
            ResponseTemplate::new(503).insert_header("retry-after", "2"),
        ),
        ("/missing", ResponseTemplate::new(404)),
        ("/broken", ResponseTemplate::new(500)),
        (
            "/slow",
            ResponseTemplate::new(200).set_delay(Duration::from_secs(3)),
        ),
    ];
    for (p, t) in routes {
        Mock::given(path(p)).respond_with(t).mount(&server).await;
    }
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_classes_and_timeouts_are_counted_per_request_name() {
    let server = status_server().await;
    let dir = common::out_dir();
    let scenario = dir.join("scenario.toml");
    let mut toml = String::new();
    for name in ["ok", "limited", "busy", "missing", "broken", "slow"] {
        toml += &format!("[[request]]\nname = \"{name}\"\npath = \"/{name}\"\nweight = 1\n\n");
    }
    std::fs::write(&scenario, toml).unwrap();
    let url = format!("{}/ok", server.uri());
    let run = loadgen(&[
        "run",
        "-c",
        "6",
        "-d",
        "1200ms",
        "--timeout",
        "300ms",
        "--url",
        &url,
        "--scenario",
        scenario.to_str().unwrap(),
    ])
    .await;
    assert_eq!(run.code, 0);
    let step = run.step();
    for key in [
        "ok",
        "rejected_429",
        "rejected_503",
        "other_4xx",
        "other_5xx",
        "timeouts",
    ] {
        assert!(num(&step, key) > 0.0, "{key} counted: {step}");
    }
    assert_eq!(num(&step, "connect_errors"), 0.0);
    assert_eq!(num(&step, "io_errors"), 0.0);
    let sum: f64 = [
        "ok",
        "rejected_429",
        "rejected_503",
        "other_4xx",
        "other_5xx",
        "timeouts",
    ]
    .iter()
    .map(|k| num(&step, k))
    .sum();
    assert_eq!(sum, num(&step, "requests"), "classes add up to attempts");
    let expected_success = num(&step, "ok") / num(&step, "requests");
    assert!((num(&step, "success_rate") - expected_success).abs() < 1e-9);

    let by_name = &step["by_name"];
    assert!(
        by_name["limited"]["outcomes"]["rejected_429"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert_eq!(by_name["limited"]["outcomes"]["ok"], 0);
    assert!(
        by_name["busy"]["outcomes"]["rejected_503"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(by_name["slow"]["outcomes"]["timeout"].as_u64().unwrap() > 0);
    // A timeout is recorded at about the timeout, never at the target's 3 s delay.
    let timeout_max = num(&step["by_class"]["timeout"], "max_ms");
    assert!(
        (290.0..1000.0).contains(&timeout_max),
        "timeout max {timeout_max} ms"
    );

    let ra = &step["retry_after"];
    assert!(num(ra, "count") > 0.0);
    assert_eq!((num(ra, "min_s"), num(ra, "max_s")), (1.0, 2.0));
    let queue = &step["server_timing"]["queue"];
    assert_eq!(num(queue, "p50_ms"), 1.5);
    let upstream = num(&step["server_timing"]["upstream"], "max_ms");
    assert!(
        (3.99..=4.01).contains(&upstream),
        "upstream {upstream} ms (3 significant digits)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weights_split_requests_in_proportion() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let dir = common::out_dir();
    let scenario = dir.join("scenario.json");
    std::fs::write(
        &scenario,
        r#"{"request": [{"name": "health", "path": "/health", "weight": 80},
                        {"name": "analyze", "method": "POST", "path": "/analyze", "weight": 20, "body": "{}"}]}"#,
    )
    .unwrap();
    let run = loadgen(&[
        "run",
        "-c",
        "4",
        "-d",
        "600ms",
        "--url",
        &server.uri(),
        "--scenario",
        scenario.to_str().unwrap(),
    ])
    .await;
    assert_eq!(run.code, 0);
    let step = run.step();
    let health = num(&step["by_name"]["health"], "requests");
    let analyze = num(&step["by_name"]["analyze"], "requests");
    assert_eq!(health + analyze, num(&step, "requests"));
    let share = health / (health + analyze);
    assert!((0.65..=0.92).contains(&share), "health share {share}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections_are_connect_errors() {
    // Answers the preflight on its first connection, then stops listening.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        if let Ok((mut s, _)) = listener.accept().await {
            drop(listener);
            if read_request(&mut s).await {
                let _ = s
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
            }
        }
    });
    let url = format!("http://{addr}/");
    let run = loadgen(&["run", "-c", "2", "-d", "300ms", "--url", &url, "-X", "GET"]).await;
    assert_eq!(run.code, 0);
    let step = run.step();
    assert!(num(&step, "connect_errors") >= 2.0, "{step}");
    assert_eq!(num(&step, "ok"), 0.0);
    assert_eq!(num(&step, "success_rate"), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_connections_are_io_errors_and_reconnects_are_counted() {
    // Connection 0 (the preflight) is answered; later ones are reset after their request.
    let target = Target::raw(|mut s, n| async move {
        if read_request(&mut s).await {
            if n == 0 {
                let _ = s.write_all(OK_RESPONSE).await;
                return;
            }
            let _ = s.set_zero_linger();
            drop(s);
        }
    })
    .await;
    let run = loadgen(&[
        "run",
        "-c",
        "2",
        "-d",
        "300ms",
        "--url",
        &target.url("/"),
        "-X",
        "GET",
    ])
    .await;
    assert_eq!(run.code, 0);
    let step = run.step();
    let io = num(&step, "io_errors");
    assert!(io >= 2.0, "{step}");
    assert_eq!(num(&step, "requests"), io);
    assert!(
        num(&step, "connections_opened") >= io,
        "every reset forces a new connection"
    );
}
