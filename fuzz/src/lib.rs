//! The invariants of the `/analyze` request-body path, checked on any input: the server's
//! [`server::routes::analyze::parse_body`] never panics, every rejection is a 4xx, and every
//! acceptance is a request the rest of the server may trust. A library so that the libFuzzer
//! target (`fuzz_targets/analyze_body.rs`) and a stable `cargo test` replay of the seed corpus
//! run the same checks.

use std::sync::OnceLock;

use http::{HeaderValue, StatusCode};
use server::agent::agent_loop::AnalysisInput;
use server::agent::tools::is_valid_symbol;
use server::error::AppError;
use server::routes::analyze::{parse_body, MAX_QUERY_CHARS, MAX_SYMBOLS};
use server::Settings;

/// Content types the server must treat exactly as `application/json`.
const JSON_TYPES: [&str; 4] = [
    "application/json; charset=utf-8",
    "Application/JSON",
    " application/json ;foo=bar",
    "application/problem+json",
];

/// Content types the server must refuse with 415 whatever the body.
const NOT_JSON: [Option<&str>; 5] = [
    None,
    Some(""),
    Some("text/plain"),
    Some("application/x-www-form-urlencoded"),
    Some("application/jsonx"),
];

/// The server's defaults, and a tight variant (64-byte bodies, one turn) so that short inputs
/// reach the size and turn limits too.
fn settings() -> &'static [Settings; 2] {
    static SETTINGS: OnceLock<[Settings; 2]> = OnceLock::new();
    SETTINGS.get_or_init(|| {
        let default = Settings::for_upstreams("http://127.0.0.1:9", "http://127.0.0.1:9");
        let mut tight = default.clone();
        tight.listener.max_body_bytes = 64;
        tight.claude.max_turns = 1;
        [default, tight]
    })
}

/// Runs the body path on `data` under every content type and both settings, panicking on any
/// broken invariant. Returns the status of each outcome (200 for an accepted body), so a replay
/// can tell which answers its corpus reaches.
pub fn check_analyze_body(data: &[u8]) -> Vec<StatusCode> {
    let mut seen = Vec::new();
    let json = HeaderValue::from_static("application/json");
    for settings in settings() {
        let reference = parse_body(settings, Some(&json), data);
        seen.push(check_outcome(settings, &reference, data));
        for ct in JSON_TYPES {
            let got = parse_body(settings, Some(&HeaderValue::from_static(ct)), data);
            assert_eq!(
                summary(&got),
                summary(&reference),
                "content type {ct:?} is JSON but was treated differently"
            );
        }
        for ct in NOT_JSON {
            let header = ct.map(HeaderValue::from_static);
            let got = parse_body(settings, header.as_ref(), data);
            assert_eq!(
                status(&got),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "content type {ct:?} must be refused before the body is looked at"
            );
        }
        // The input's first line as the content type, so the fuzzer explores that parse too.
        let first_line = data.split(|&b| b == b'\n').next().unwrap_or_default();
        if let Ok(header) = HeaderValue::from_bytes(first_line) {
            let got = parse_body(settings, Some(&header), data);
            seen.push(check_outcome(settings, &got, data));
        }
    }
    seen
}

fn status(outcome: &Result<AnalysisInput, AppError>) -> StatusCode {
    match outcome {
        Ok(_) => StatusCode::OK,
        Err(e) => e.status(),
    }
}

/// What must match between two content types: the status, and for an acceptance the request.
fn summary(outcome: &Result<AnalysisInput, AppError>) -> (StatusCode, Option<String>) {
    let accepted = outcome
        .as_ref()
        .ok()
        .map(|i| format!("{:?} {:?} {}", i.query, i.symbols, i.max_turns));
    (status(outcome), accepted)
}

/// Checks one outcome: a rejection is a 4xx with a message; an acceptance holds only values the
/// agent may trust and reads back the same when re-sent in canonical form.
fn check_outcome(
    settings: &Settings,
    outcome: &Result<AnalysisInput, AppError>,
    data: &[u8],
) -> StatusCode {
    let input = match outcome {
        Err(e) => {
            let status = e.status();
            assert!(
                status.is_client_error(),
                "rejected with {status} ({e}), not a 4xx: {:?}",
                String::from_utf8_lossy(data)
            );
            assert!(!e.to_string().is_empty(), "a rejection without a message");
            return status;
        }
        Ok(input) => input,
    };
    assert!(
        data.len() <= settings.listener.max_body_bytes,
        "accepted over the size limit"
    );
    assert!(!input.query.is_empty(), "accepted an empty query");
    assert_eq!(input.query, input.query.trim(), "query not trimmed");
    assert!(
        input.query.chars().count() <= MAX_QUERY_CHARS,
        "query too long"
    );
    assert!(input.symbols.len() <= MAX_SYMBOLS, "too many symbols");
    for (i, s) in input.symbols.iter().enumerate() {
        assert!(is_valid_symbol(s), "accepted symbol {s:?}");
        assert!(!input.symbols[..i].contains(s), "duplicate symbol {s:?}");
    }
    assert!(
        (1..=settings.claude.max_turns).contains(&input.max_turns),
        "max_turns {} outside 1..={}",
        input.max_turns,
        settings.claude.max_turns
    );
    // The validated request, sent again, is accepted as the same request.
    let again = serde_json::json!({
        "query": input.query,
        "symbols": input.symbols,
        "max_turns": input.max_turns,
    })
    .to_string();
    if again.len() <= settings.listener.max_body_bytes {
        let json = HeaderValue::from_static("application/json");
        let reread = parse_body(settings, Some(&json), again.as_bytes());
        assert_eq!(
            summary(&reread),
            summary(outcome),
            "the accepted request does not read back the same"
        );
    }
    StatusCode::OK
}
