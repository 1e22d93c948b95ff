//! Per-analysis distributions: the shipped dataset of varied questions, answered by a mock
//! Claude that looks up two tickers per turn and writes replies of lognormal length, gives
//! analyses with different numbers of model calls and tokens, and `/metrics` shows the spread
//! in the `analyze_model_calls`, `analyze_input_tokens` and `analyze_output_tokens` histograms.

use std::collections::BTreeSet;

use futures_util::stream::{self, StreamExt};
use serde_json::Value;

use crate::support::{mocks_with, settings, TestServer};

/// The dataset `make demo` sends (`scripts/make_questions.py`).
fn dataset() -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../reports/data/questions.jsonl"
    );
    let text = std::fs::read_to_string(path).expect("reports/data/questions.jsonl");
    text.lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// Sends every body, eight at a time; returns each answer's JSON.
async fn analyze_all(server: &TestServer, bodies: &[Value]) -> Vec<Value> {
    let client = reqwest::Client::new();
    stream::iter(bodies.iter().cloned())
        .map(|body| {
            let client = client.clone();
            async move {
                let response = server.analyze(&client, body).await;
                assert_eq!(response.status(), 200);
                response.json::<Value>().await.expect("json")
            }
        })
        .buffer_unordered(8)
        .collect()
        .await
}

/// The sample of one series (exact name and labels) in a Prometheus text exposition.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{series} missing in {text}"))
}

#[tokio::test]
async fn the_dataset_gives_more_than_one_number_of_model_calls_per_analysis() {
    let (trading, claude) = mocks_with(|c| {
        c.verbosity.symbols_per_turn = 2;
        c.verbosity.reply_tokens_median = 120;
        c.verbosity.reply_tokens_sigma = 0.5;
    })
    .await;
    let server = TestServer::start(settings(&trading.url(), &claude.url())).await;
    let bodies = dataset();
    assert!(bodies.len() >= 200, "{} questions", bodies.len());
    let answers = analyze_all(&server, &bodies[..80]).await;
    let turns: BTreeSet<u64> = answers
        .iter()
        .map(|a| a["turns"].as_u64().unwrap())
        .collect();
    let output: BTreeSet<u64> = answers
        .iter()
        .map(|a| a["usage"]["output_tokens"].as_u64().unwrap())
        .collect();
    assert!(turns.len() > 1, "model calls per analysis: {turns:?}");
    assert!(
        turns.contains(&2) && turns.iter().any(|&t| t >= 3),
        "{turns:?}"
    );
    assert!(output.len() > 20, "output tokens per analysis: {output:?}");

    let text = reqwest::get(format!("{}/metrics", server.url()))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let count = sample(&text, "analyze_model_calls_count");
    assert_eq!(count, 80.0);
    let two = sample(&text, "analyze_model_calls_bucket{le=\"2\"}");
    let sum = sample(&text, "analyze_model_calls_sum");
    let expected: u64 = answers.iter().map(|a| a["turns"].as_u64().unwrap()).sum();
    assert_eq!(sum, expected as f64);
    assert!(two > 0.0 && two < count, "le=2: {two} of {count}");
    let input_sum: u64 = answers
        .iter()
        .map(|a| a["usage"]["input_tokens"].as_u64().unwrap())
        .sum();
    assert_eq!(sample(&text, "analyze_input_tokens_sum"), input_sum as f64);
    assert_eq!(sample(&text, "analyze_output_tokens_count"), 80.0);
}

#[tokio::test]
async fn the_default_mock_answers_every_question_in_two_calls() {
    // The spread above comes from the profile knobs: without them the script is the fixed one.
    let (trading, claude) = mocks_with(|_| {}).await;
    let server = TestServer::start(settings(&trading.url(), &claude.url())).await;
    let answers = analyze_all(&server, &dataset()[..20]).await;
    let turns: BTreeSet<u64> = answers
        .iter()
        .map(|a| a["turns"].as_u64().unwrap())
        .collect();
    assert_eq!(turns, BTreeSet::from([2]));
}
