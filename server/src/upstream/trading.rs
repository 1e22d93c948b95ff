//! The Trading API client. Pooled mode shares one keep-alive `reqwest::Client` built at start-up;
//! legacy mode builds a new client (a new connection) for every call, as the pre-ticket service did.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::transport::error_chain;
use crate::instruments::semconv::{CallEnd, Peer};
use crate::instruments::Instruments;

const API: &str = "trading";

/// How connections are managed.
#[derive(Debug, Clone)]
enum Connections {
    Pooled(reqwest::Client),
    PerCall,
}

/// Trading API client.
#[derive(Debug, Clone)]
pub struct TradingClient {
    connections: Connections,
    base_url: String,
    /// `server.address`/`server.port` of `base_url`, for the OpenTelemetry client metric.
    peer: Peer,
    timeout: Duration,
    instruments: Arc<Instruments>,
    max_body_bytes: usize,
}

/// Trading API answers larger than this are not passed to the model (`TRADING_MAX_BODY_BYTES`).
pub const DEFAULT_MAX_BODY_BYTES: usize = 256 * 1024;

impl TradingClient {
    /// A pooled client keeping up to `max_idle_per_host` idle connections.
    pub fn pooled(
        base_url: &str,
        max_idle_per_host: usize,
        timeout: Duration,
        instruments: Arc<Instruments>,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(max_idle_per_host)
            .pool_idle_timeout(Duration::from_secs(90))
            .connect_timeout(Duration::from_secs(2).min(timeout))
            .timeout(timeout)
            .tcp_nodelay(true)
            .build()?;
        Ok(TradingClient {
            connections: Connections::Pooled(client),
            base_url: base_url.to_string(),
            peer: Peer::of_url(base_url),
            timeout,
            instruments,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        })
    }

    /// Legacy: a fresh client per call.
    pub fn per_call(base_url: &str, timeout: Duration, instruments: Arc<Instruments>) -> Self {
        TradingClient {
            connections: Connections::PerCall,
            base_url: base_url.to_string(),
            peer: Peer::of_url(base_url),
            timeout,
            instruments,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }

    /// Caps the body read from one answer; a longer answer fails the call.
    pub fn with_max_body_bytes(mut self, max_body_bytes: usize) -> Self {
        self.max_body_bytes = max_body_bytes;
        self
    }

    /// The base URL calls go to (for the log).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// GET `path_and_query`; the body text on 2xx, else what failed.
    pub async fn get(&self, path_and_query: &str) -> Result<String, TradingError> {
        let started = Instant::now();
        let url = format!("{}{}", self.base_url, path_and_query);
        let mut status = None;
        let result = self.fetch(&url, &mut status).await;
        let (outcome, end) = match &result {
            Ok(_) => ("ok", CallEnd::answered(status.unwrap_or(200))),
            Err(TradingFailure::Status { status, .. }) => ("error", CallEnd::answered(*status)),
            Err(TradingFailure::Timeout(_)) => ("timeout", CallEnd::failed(status, "timeout")),
            Err(TradingFailure::Network(_)) => {
                ("network_error", CallEnd::failed(status, "connection_error"))
            }
            Err(TradingFailure::TooLarge(_)) => {
                ("body_too_large", CallEnd::failed(status, "body_too_large"))
            }
        };
        let took = started.elapsed();
        self.instruments.upstream_call(API, outcome, took);
        self.instruments
            .http_client_request("GET", &self.peer, end, took);
        result.map_err(|failure| TradingError {
            url,
            timeout: self.timeout,
            failure,
        })
    }

    /// GET `url`; `status` is set once the response's headers arrived.
    async fn fetch(&self, url: &str, status: &mut Option<u16>) -> Result<String, TradingFailure> {
        let client = match &self.connections {
            Connections::Pooled(client) => client.clone(),
            Connections::PerCall => reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .timeout(self.timeout)
                .build()
                .map_err(|e| TradingFailure::Network(error_chain(&e)))?,
        };
        let response = client
            .get(url)
            .send()
            .await
            .map_err(TradingFailure::from_reqwest)?;
        let status_code = response.status();
        *status = Some(status_code.as_u16());
        let body = read_capped(response, self.max_body_bytes).await?;
        if status_code.is_success() {
            Ok(body)
        } else {
            Err(TradingFailure::Status {
                status: status_code.as_u16(),
                code: error_code(&body),
                body: body.chars().take(200).collect(),
            })
        }
    }
}

/// Reads at most `limit` bytes, chunk by chunk, so an endless or huge answer costs no more
/// memory than the cap (and never reaches the model's context).
async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<String, TradingFailure> {
    if response
        .content_length()
        .is_some_and(|len| len > limit as u64)
    {
        return Err(TradingFailure::TooLarge(limit));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(TradingFailure::from_reqwest)?
    {
        if body.len() + chunk.len() > limit {
            return Err(TradingFailure::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// A failed Trading API call. [`TradingError::for_model`] is what the model reads (and may
/// repeat to the client), in stable terms; [`Display`](std::fmt::Display) is the detail for the
/// log: the URL, the status and body or the transport error.
#[derive(Debug)]
pub struct TradingError {
    url: String,
    timeout: Duration,
    failure: TradingFailure,
}

#[derive(Debug)]
enum TradingFailure {
    Status {
        status: u16,
        /// The contract's `error.code`, when it is a plain identifier.
        code: Option<String>,
        /// The start of the body, for the log.
        body: String,
    },
    Timeout(String),
    Network(String),
    TooLarge(usize),
}

impl TradingFailure {
    fn from_reqwest(e: reqwest::Error) -> Self {
        if e.is_timeout() {
            TradingFailure::Timeout(error_chain(&e))
        } else {
            TradingFailure::Network(error_chain(&e))
        }
    }
}

impl TradingError {
    /// The tool result text: what failed, without the service's address, its body or library
    /// error text. The model quotes tool errors in its answer, and the answer goes to the client.
    pub fn for_model(&self) -> String {
        match &self.failure {
            TradingFailure::Status { status, code, .. } => {
                let what = if *status >= 500 {
                    "failed"
                } else {
                    "refused the request"
                };
                match code {
                    Some(code) => {
                        format!("the trading data service {what} (HTTP {status}, {code})")
                    }
                    None => format!("the trading data service {what} (HTTP {status})"),
                }
            }
            TradingFailure::Timeout(_) => format!(
                "the trading data service timed out after {} ms",
                self.timeout.as_millis()
            ),
            TradingFailure::Network(_) => "the trading data service could not be reached".into(),
            TradingFailure::TooLarge(limit) => {
                format!("the trading data service's answer is larger than {limit} bytes; not used")
            }
        }
    }
}

impl std::fmt::Display for TradingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = &self.url;
        match &self.failure {
            TradingFailure::Status { status, body, .. } => {
                write!(f, "GET {url}: HTTP {status}: {body}")
            }
            TradingFailure::Timeout(e) => write!(
                f,
                "GET {url}: no answer within {} ms: {e}",
                self.timeout.as_millis()
            ),
            TradingFailure::Network(e) => write!(f, "GET {url}: {e}"),
            TradingFailure::TooLarge(limit) => {
                write!(f, "GET {url}: the answer is larger than {limit} bytes")
            }
        }
    }
}

/// The contract's error body is `{"error": {"code": "unknown_symbol", "message": …}}`; the code
/// tells the model what went wrong. Anything but a short lower-case identifier is not passed on.
fn error_code(body: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let code = value.get("error")?.get("code")?.as_str()?;
    let plain = (1..=40).contains(&code.len())
        && code.starts_with(|c: char| c.is_ascii_lowercase())
        && code
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    plain.then(|| code.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(failure: TradingFailure) -> TradingError {
        TradingError {
            url: "http://10.0.0.5:8080/v1/quotes/AAPL".into(),
            timeout: Duration::from_millis(2000),
            failure,
        }
    }

    #[test]
    fn the_model_reads_what_failed_and_the_log_reads_where() {
        let cases = [
            (
                TradingFailure::Network("error sending request: Connection refused".into()),
                "the trading data service could not be reached",
            ),
            (
                TradingFailure::Timeout("operation timed out".into()),
                "the trading data service timed out after 2000 ms",
            ),
            (
                TradingFailure::Status {
                    status: 500,
                    code: None,
                    body: "Traceback at /srv/app.py".into(),
                },
                "the trading data service failed (HTTP 500)",
            ),
            (
                TradingFailure::Status {
                    status: 404,
                    code: error_code(r#"{"error":{"code":"unknown_symbol","message":"x"}}"#),
                    body: "{}".into(),
                },
                "the trading data service refused the request (HTTP 404, unknown_symbol)",
            ),
            (
                TradingFailure::TooLarge(4096),
                "the trading data service's answer is larger than 4096 bytes; not used",
            ),
        ];
        for (failure, for_model) in cases {
            let e = error(failure);
            assert_eq!(e.for_model(), for_model);
            assert!(
                e.to_string()
                    .starts_with("GET http://10.0.0.5:8080/v1/quotes/AAPL: "),
                "{e}"
            );
        }
    }

    #[test]
    fn only_a_plain_error_code_is_passed_on() {
        assert_eq!(
            error_code(r#"{"error":{"code":"bad_parameter"}}"#).as_deref(),
            Some("bad_parameter")
        );
        for body in [
            r#"{"error":{"code":"see http://10.0.0.5/"}}"#,
            r#"{"error":{"code":""}}"#,
            r#"{"error":"unknown_symbol"}"#,
            "<html>",
        ] {
            assert_eq!(error_code(body), None, "{body}");
        }
    }
}
