//! The `mocks` binary: profiles, flags overriding them, exit code 2 on bad input, the
//! "listening" line, graceful stop on SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use mocks::cli::profile;
use mocks::LatencyDist;
use serde_json::json;

fn profiles_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("profiles")
}

/// Runs one analysis the way the server does (model call, its tools against the Trading API,
/// the next turn with their results, until the model stops asking) and answers how long it took
/// and how many model calls it made.
async fn one_analysis(claude: &str, trading: &str, question: &str) -> (Duration, usize) {
    let client = reqwest::Client::new();
    let mut request = crate::support::first_turn(question);
    let started = tokio::time::Instant::now();
    for calls in 1..=6 {
        let (status, reply) = crate::support::status_json(
            crate::support::post_messages(&client, claude, &request).await,
        )
        .await;
        assert_eq!(status, 200, "{reply}");
        if reply["stop_reason"] != "tool_use" {
            return (started.elapsed(), calls);
        }
        let mut results = Vec::new();
        for block in reply["content"].as_array().unwrap() {
            if block["type"] != "tool_use" {
                continue;
            }
            let symbol = block["input"]["symbol"].as_str().unwrap_or("AAPL");
            let path = match block["name"].as_str().unwrap() {
                "get_quote" => format!("/v1/quotes/{symbol}"),
                "get_price_history" => format!("/v1/history/{symbol}?days=30"),
                _ => "/v1/market/status".to_string(),
            };
            let text = client
                .get(format!("{trading}{path}"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            results
                .push(json!({"type": "tool_result", "tool_use_id": block["id"], "content": text}));
        }
        let messages = request["messages"].as_array_mut().unwrap();
        messages.push(json!({"role": "assistant", "content": reply["content"]}));
        messages.push(json!({"role": "user", "content": results}));
    }
    panic!("no final answer after 6 model calls");
}

// Paused time: both mocks run in this runtime with their delays on tokio's clock, so the
// measured time is the profile's modelled time, not this machine's speed.
#[tokio::test(start_paused = true)]
async fn every_shipped_profile_loads_and_demo_is_realistic() {
    for name in ["demo.toml", "acceptance.toml", "fast.toml"] {
        profile::load(&profiles_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let cli = <mocks::cli::Cli as clap::Parser>::try_parse_from([
        "mocks",
        "all",
        "--profile",
        profiles_dir().join("demo.toml").to_str().unwrap(),
        "--trading-port",
        "0",
    ])
    .unwrap();
    let (claude, trading) = profile::resolve(&cli.command).unwrap();
    let (mut claude, trading) = (claude.unwrap(), trading.unwrap());
    assert_eq!(
        (claude.ttft_ms, claude.max_concurrent, claude.port),
        (300, 20, 9100)
    );
    assert_eq!((trading.connect_delay_ms, trading.port), (30, 0));
    assert_eq!(trading.latency.latency_dist, LatencyDist::Lognormal);
    // A mid-level tier, as the profile documents: 2000 RPM, 80k output tokens per minute.
    assert_eq!(
        (claude.rpm, claude.otpm, claude.capacity),
        (2000, 80_000, 0)
    );
    // Realistic: an analysis (two model calls with tool calls between them) takes about 1.5 s of
    // upstream time, as the profile's comment and the README's demo numbers (S ≈ 1.44 s) say.
    claude.port = 0;
    let claude = mocks::spawn_claude(claude).await.unwrap();
    let trading = mocks::spawn_trading(trading).await.unwrap();
    for question in ["Should I buy AAPL?", "Compare MSFT and NVDA"] {
        let (took, calls) = one_analysis(&claude.url(), &trading.url(), question).await;
        assert_eq!(calls, 2, "{question}: model calls per analysis");
        assert!(
            (1.3..=2.0).contains(&took.as_secs_f64()),
            "{question}: an analysis took {took:?} of modelled time, want ≈ 1.5 s"
        );
    }
}

#[test]
fn flags_override_the_profile() {
    let cli = <mocks::cli::Cli as clap::Parser>::try_parse_from([
        "mocks",
        "claude",
        "--profile",
        profiles_dir().join("demo.toml").to_str().unwrap(),
        "--ttft-ms",
        "7",
        "--seed",
        "9",
        "--latency-dist",
        "uniform",
        "--should-retry",
        "false",
    ])
    .unwrap();
    let (claude, trading) = profile::resolve(&cli.command).unwrap();
    let claude = claude.unwrap();
    assert!(trading.is_none());
    assert_eq!(
        (claude.ttft_ms, claude.seed, claude.tokens_per_sec),
        (7, 9, 80.0)
    );
    assert_eq!(claude.latency.latency_dist, LatencyDist::Uniform);
    assert_eq!(claude.should_retry, Some(false));
}

#[test]
fn models_come_from_a_file_flag_or_a_profile_table() {
    let dir = std::env::temp_dir().join(format!("mocks-models-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("models.toml");
    std::fs::write(&file, "\"claude-next-1\" = 2048\n").unwrap();
    let cli = <mocks::cli::Cli as clap::Parser>::try_parse_from([
        "mocks",
        "claude",
        "--models",
        file.to_str().unwrap(),
        "--capacity",
        "12",
        "--billing-error-rate",
        "0.01",
        "--stream-error-event",
        "5",
        "--stall-event",
        "2",
    ])
    .unwrap();
    let claude = profile::resolve(&cli.command).unwrap().0.unwrap();
    assert_eq!(claude.models["claude-next-1"], 2048);
    assert_eq!(
        (
            claude.capacity,
            claude.billing_error_rate,
            claude.stream_error_event,
            claude.stall_event
        ),
        (12, 0.01, 5, 2)
    );
    std::fs::write(&file, "\"claude-next-1\" = \"big\"\n").unwrap();
    let cli = <mocks::cli::Cli as clap::Parser>::try_parse_from([
        "mocks",
        "claude",
        "--models",
        file.to_str().unwrap(),
    ])
    .unwrap();
    assert!(profile::resolve(&cli.command)
        .unwrap_err()
        .contains("claude-next-1"));
    let p =
        profile::parse("[claude]\ncapacity = 8\n[claude.models]\n\"claude-x-1\" = 10\n").unwrap();
    assert_eq!(p.claude["models"]["claude-x-1"], 10);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn profile_typos_and_bad_values_name_the_key() {
    assert!(profile::parse("[claude]\nttf_ms = 3\n")
        .unwrap_err()
        .contains("unknown setting \"ttf_ms\""));
    assert!(profile::parse("[claude]\nrpm = \"x\"\n")
        .unwrap_err()
        .contains("rpm"));
    assert!(profile::parse("[trading]\nreset_rate = 3.0\n")
        .unwrap_err()
        .contains("reset_rate must be between 0 and 1"));
    assert!(profile::parse("[other]\n")
        .unwrap_err()
        .contains("unknown table [other]"));
}

#[test]
fn bad_input_exits_2_with_a_message() {
    for args in [
        vec!["claude", "--profile", "/definitely/not/here.toml"],
        vec!["trading", "--error-rate", "2"],
        vec!["trading", "--latency-dist", "gaussian"],
        vec!["claude", "--port", "notaport"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_mocks"))
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?} explains itself");
    }
}

#[test]
fn the_binary_logs_its_address_serves_and_stops_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mocks"))
        .args(["all", "--claude-port", "0", "--trading-port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let claude_line = lines.next().unwrap().unwrap();
    let trading_line = lines.next().unwrap().unwrap();
    assert!(
        claude_line.starts_with("mock claude listening on http://127.0.0.1:"),
        "{claude_line}"
    );
    assert!(
        trading_line.starts_with("mock trading listening on http://127.0.0.1:"),
        "{trading_line}"
    );
    let url = trading_line.rsplit(' ').next().unwrap().to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = rt.block_on(async {
        reqwest::get(format!("{url}/v1/market/status"))
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 200);
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let exit = child.wait().unwrap();
    assert_eq!(exit.code(), Some(0), "graceful exit");
}
