//! The `analyze-server` binary as operators run it: bad configuration exits 2 naming the
//! variable; SIGTERM drains and exits 0.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

use crate::support::mocks;

const BIN: &str = env!("CARGO_BIN_EXE_analyze-server");

fn clean_command() -> Command {
    let mut cmd = Command::new(BIN);
    for var in [
        "TRADING_API_BASE_URL",
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_API_KEY",
        "PORT",
        "HOST",
        "LEGACY_MODE",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

#[test]
fn missing_trading_url_exits_2_naming_the_variable() {
    let out = clean_command().output().expect("ran");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("TRADING_API_BASE_URL"), "{stderr}");
}

#[test]
fn an_invalid_number_exits_2_naming_the_variable() {
    let out = clean_command()
        .env("TRADING_API_BASE_URL", "http://127.0.0.1:9")
        .env("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
        .env("MAX_CONCURRENT_ANALYSES", "0")
        .output()
        .expect("ran");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("MAX_CONCURRENT_ANALYSES"));
    let out = clean_command()
        .env("TRADING_API_BASE_URL", "http://127.0.0.1:9")
        .env("QUEUE_TIMEOUT_MS", "soon")
        .output()
        .expect("ran");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("QUEUE_TIMEOUT_MS"));
}

/// Runs the binary with a valid base configuration plus `env` and `args`; returns (code, stderr).
fn start_with(env: &[(&str, &str)], args: &[&str]) -> (Option<i32>, String) {
    let mut cmd = clean_command();
    cmd.env("TRADING_API_BASE_URL", "http://127.0.0.1:9")
        .env("ANTHROPIC_BASE_URL", "http://127.0.0.1:9");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.args(args).output().expect("ran");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_value_that_does_not_parse_names_the_variable_and_shows_a_valid_one() {
    let (code, err) = start_with(&[("MAX_CONCURRENT_ANALYSES", "ten")], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("MAX_CONCURRENT_ANALYSES=\"ten\": not a whole number from 1 to 18446744073709551615; e.g. MAX_CONCURRENT_ANALYSES=10"),
        "{err}"
    );
    assert!(
        !err.contains("--max-concurrent-analyses"),
        "names the variable, not the flag: {err}"
    );
    let (code, err) = start_with(&[("QUEUE_TIMEOUT_MS", "5s")], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(
            "QUEUE_TIMEOUT_MS=\"5s\": not a whole number of milliseconds, at least 1; e.g. QUEUE_TIMEOUT_MS=30000"
        ),
        "{err}"
    );
    let (code, err) = start_with(&[("TRUST_FORWARDED_FOR", "yes")], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("TRUST_FORWARDED_FOR=\"yes\"")
            && err.contains("e.g. TRUST_FORWARDED_FOR=false"),
        "{err}"
    );
}

#[test]
fn a_negative_value_says_the_range_the_setting_takes() {
    // Read as unsigned, `-1` used to say only "invalid digit found in string".
    let (code, err) = start_with(&[("MAX_TURNS", "-1")], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("MAX_TURNS=\"-1\": not a whole number from 1 to 50; e.g. MAX_TURNS=6"),
        "{err}"
    );
    let (code, err) = start_with(&[("RATE_LIMIT_BURST", "-5")], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("RATE_LIMIT_BURST=\"-5\": not a whole number from 1 to 4294967295"),
        "{err}"
    );
    let (code, err) = start_with(&[("REQUEST_TIMEOUT_MS", "-100")], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("REQUEST_TIMEOUT_MS=\"-100\": not a whole number of milliseconds, at least 1"),
        "{err}"
    );
    assert!(!err.contains("invalid digit"), "{err}");
}

#[test]
fn workers_beyond_the_documented_maximum_exit_2_naming_the_variable() {
    // WORKERS=100000 used to start ~15,000 threads, then abort with a fatal runtime error.
    let (code, err) = start_with(&[("WORKERS", "100000")], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("invalid configuration: WORKERS: must be between 1 and 1024; e.g. WORKERS=4"),
        "{err}"
    );
    let (code, err) = start_with(&[("WORKERS", "0")], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("WORKERS: must be between 1 and 1024"), "{err}");
}

#[test]
fn a_value_from_a_flag_names_the_flag() {
    let (code, err) = start_with(&[], &["--queue-timeout-ms", "5s"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("--queue-timeout-ms \"5s\": not a whole number of milliseconds, at least 1; e.g. --queue-timeout-ms 30000"),
        "{err}"
    );
}

#[test]
fn a_value_that_parses_but_is_invalid_names_the_variable_and_shows_a_valid_one() {
    let (code, err) = start_with(&[("MAX_CONCURRENT_ANALYSES", "0")], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("invalid configuration: MAX_CONCURRENT_ANALYSES: ")
            && err.contains("e.g. MAX_CONCURRENT_ANALYSES=10"),
        "{err}"
    );
    let (code, err) = start_with(&[("MAX_TURNS", "99")], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("MAX_TURNS: must be between 1 and 50; e.g. MAX_TURNS=6"),
        "{err}"
    );
    let (code, err) = start_with(&[], &["--max-turns", "99"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("--max-turns: must be between 1 and 50; e.g. --max-turns 6"),
        "{err}"
    );
}

#[tokio::test]
async fn sigterm_stops_the_server_with_exit_0_and_the_key_never_appears_in_logs() {
    let (trading, claude) = mocks(0).await;
    let mut child = clean_command()
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .env("TRADING_API_BASE_URL", trading.url())
        .env("ANTHROPIC_BASE_URL", claude.url())
        .env("ANTHROPIC_API_KEY", "sk-very-secret")
        .env("CLAUDE_MODEL", "claude-sonnet-4-5-20250929")
        .env("WORKERS", "2")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawned");
    let stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    // Both streams are logs an operator may ship; stderr is read to its end (the exit).
    let stderr_text = std::thread::spawn(move || {
        let mut text = String::new();
        stderr.read_to_string(&mut text).expect("stderr is UTF-8");
        text
    });
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let mut log = Vec::new();
    let addr = loop {
        let line = lines_rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("server logs 'listening'");
        log.push(line.clone());
        if line.contains("listening") {
            let at = line.find("addr=").expect("addr field") + 5;
            break line[at..]
                .split_whitespace()
                .next()
                .expect("addr")
                .to_string();
        }
    };
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/analyze"))
        .json(&serde_json::json!({"query": "AAPL?"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill ran");
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("waited");
    assert_eq!(exit.code(), Some(0));
    // Every stdout line up to the exit (the reader ends at EOF), not only those already read.
    log.extend(lines_rx.iter());
    let log = log.join("\n");
    let stderr_text = stderr_text.join().expect("stderr reader");
    assert!(
        !stderr_text.contains("sk-very-secret"),
        "API key leaked into stderr: {stderr_text}"
    );
    assert!(
        log.contains("effective configuration") && log.contains("<redacted>"),
        "{log}"
    );
    assert!(!log.contains("sk-very-secret"), "API key leaked into logs");
    assert!(
        log.contains("deprecated"),
        "warns about the deprecated model: {log}"
    );
    assert!(
        log.contains("turns=2"),
        "the access line carries the analysis summary: {log}"
    );
    assert!(
        log.contains("route=\"/analyze\"") || log.contains("route=/analyze"),
        "one line per request: {log}"
    );
}

#[test]
fn log_format_json_writes_one_json_object_per_line() {
    let mut child = clean_command()
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .env("TRADING_API_BASE_URL", "http://127.0.0.1:9")
        .env("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawned");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("a log line");
    let _ = child.kill();
    let _ = child.wait();
    let line: serde_json::Value = serde_json::from_str(&first).expect("JSON log line");
    assert_eq!(line["fields"]["message"], "effective configuration");
    assert!(line["fields"]["config"]
        .as_str()
        .expect("config")
        .contains("<unset: loopback placeholder>"));
}
