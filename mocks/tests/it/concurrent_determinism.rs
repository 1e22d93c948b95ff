//! The same concurrent workload with the same seed gives the same outcome per request, however
//! the requests interleave: every draw comes from the request's own RNG (seed, fingerprint,
//! occurrence), never from a shared one drawn in arrival order.

use std::time::Duration;

use tokio::time::Instant;

use mocks::LatencyDist;
use serde_json::Value;

use crate::support::*;

/// What one request ended as: its body's question, the status (0 = connection reset), the
/// message id of a 200, and how long it took.
#[derive(Debug, Clone)]
struct Outcome {
    question: String,
    status: u16,
    id: String,
    latency: Duration,
}

const SYMBOLS: [&str; 8] = ["AAPL", "MSFT", "NVDA", "AMZN", "META", "TSLA", "JPM", "KO"];

/// 32 clients × 2 sequential requests; clients i and i+24 ask the same questions, so some
/// fingerprints arrive twice and race each other.
async fn run(seed: u64) -> Vec<Outcome> {
    let c = claude(|s| {
        s.seed = seed;
        s.latency.latency_ms = 1000;
        s.latency.latency_dist = LatencyDist::Uniform;
        s.latency.latency_jitter = 1.0;
        s.faults.error_rate = 0.1;
        s.faults.stall_rate = 0.2;
        s.faults.stall_ms = 400;
        s.faults.reset_rate = 0.05;
        s.overload_rate = 0.1;
        s.billing_error_rate = 0.05;
    })
    .await;
    let client = reqwest::Client::new();
    // Open the 32 keep-alive connections first, so connection setup is not timed.
    let warm: Vec<_> = (0..32)
        .map(|_| {
            let (client, url) = (client.clone(), c.url());
            tokio::spawn(async move { client.get(format!("{url}/__stats")).send().await })
        })
        .collect();
    for w in warm {
        w.await.unwrap().unwrap();
    }
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let (client, url) = (client.clone(), c.url());
            tokio::spawn(async move {
                let mut out = Vec::new();
                for round in 0..2 {
                    let question = format!(
                        "Client {} round {round}: how is {}?",
                        i % 24,
                        SYMBOLS[(i + round) % SYMBOLS.len()]
                    );
                    let started = Instant::now();
                    let sent = client
                        .post(format!("{url}/v1/messages"))
                        .header("x-api-key", "sk-test")
                        .header("anthropic-version", "2023-06-01")
                        .json(&first_turn(&question))
                        .send()
                        .await;
                    let (status, id) = match sent {
                        Err(_) => (0, String::new()),
                        Ok(r) => {
                            let status = r.status().as_u16();
                            let body: Value = r.json().await.unwrap();
                            (status, body["id"].as_str().unwrap_or("").to_string())
                        }
                    };
                    out.push(Outcome {
                        question,
                        status,
                        id,
                        latency: started.elapsed(),
                    });
                }
                out
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_by(|a, b| (&a.question, a.status, &a.id).cmp(&(&b.question, b.status, &b.id)));
    all
}

// Paused time: the mock runs in this runtime and its latencies, stalls and the test's timer are
// all on tokio's clock, which moves only when every task waits for a timer. A latency measured
// here is then the mock's drawn delay, not the drawn delay plus however busy the machine is.
#[tokio::test(start_paused = true)]
async fn the_same_concurrent_workload_and_seed_give_the_same_outcome_per_request() {
    let (a, b) = (run(7).await, run(7).await);
    assert_eq!(a.len(), 64);
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(
            (&x.question, x.status, &x.id),
            (&y.question, y.status, &y.id),
            "same request, same outcome"
        );
        // On the paused clock nothing but the drawn delays moves time: the same request takes
        // the same time in both runs (the draws span 0–2400 ms).
        assert_eq!(
            x.latency, y.latency,
            "{}: same request, same drawn latency",
            x.question
        );
    }
    // The comparison means something: varied outcomes, spread latencies, unique ids.
    let statuses: std::collections::BTreeSet<u16> = a.iter().map(|o| o.status).collect();
    assert!(statuses.len() >= 4, "{statuses:?}");
    let ok: Vec<&Outcome> = a.iter().filter(|o| o.status == 200).collect();
    let spread =
        ok.iter().map(|o| o.latency).max().unwrap() - ok.iter().map(|o| o.latency).min().unwrap();
    assert!(spread > Duration::from_millis(1000), "{spread:?}");
    let mut ids: Vec<&str> = ok.iter().map(|o| o.id.as_str()).collect();
    ids.dedup();
    assert_eq!(
        ids.len(),
        ok.len(),
        "identical requests still get distinct ids"
    );
    // And the seed matters.
    let c = run(8).await;
    assert!(a
        .iter()
        .zip(&c)
        .any(|(x, y)| x.status != y.status || x.id != y.id));
}
