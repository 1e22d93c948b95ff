//! The `mocks` binary: profiles, flags overriding them, exit code 2 on bad input, the
//! "listening" line, graceful stop on SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use mocks::cli::profile;
use mocks::LatencyDist;

fn profiles_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("profiles")
}

#[test]
fn every_shipped_profile_loads_and_demo_is_realistic() {
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
    let (claude, trading) = (claude.unwrap(), trading.unwrap());
    assert_eq!(
        (claude.ttft_ms, claude.max_concurrent, claude.port),
        (300, 20, 9100)
    );
    assert_eq!((trading.connect_delay_ms, trading.port), (30, 0));
    assert_eq!(trading.latency.latency_dist, LatencyDist::Lognormal);
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
