//! The Messages API client: one shared `reqwest::Client`, retries with backoff under a budget,
//! the circuit breaker, all inside the request's deadline. Every attempt's latency and outcome
//! is recorded (the raw material for an adaptive limit later).

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::breaker::CircuitBreaker;
use super::messages::{ErrorResponse, MessagesRequest, MessagesResponse};
use super::retry::{hinted_wait, is_retryable, RetryBudget, RetryPolicy};
use crate::error::AppError;
use crate::instruments::Instruments;

/// The `anthropic-version` header value.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

const API: &str = "claude";

/// How one attempt ended.
enum Attempt {
    Done(MessagesResponse),
    /// Overload or server error, with the server's hint and whether it may be retried.
    Failed {
        status: u16,
        hint: Option<Duration>,
        detail: String,
        retryable: bool,
    },
    /// Connection-level failure (refused, reset): retryable.
    Network(String),
    Fatal(AppError),
}

/// Shared Messages API client.
#[derive(Debug, Clone)]
pub struct ClaudeClient {
    http: reqwest::Client,
    url: String,
    api_key: String,
    /// None in legacy mode: one attempt only.
    retry: Option<RetryPolicy>,
    budget: Arc<RetryBudget>,
    /// None in legacy mode.
    breaker: Option<Arc<CircuitBreaker>>,
    instruments: Arc<Instruments>,
}

impl ClaudeClient {
    /// Builds the client for `base_url` (e.g. `https://api.anthropic.com`).
    pub fn new(
        base_url: &str,
        api_key: &str,
        retry: Option<RetryPolicy>,
        breaker: Option<Arc<CircuitBreaker>>,
        instruments: Arc<Instruments>,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .build()?;
        Ok(ClaudeClient {
            http,
            url: format!("{base_url}/v1/messages"),
            api_key: api_key.to_string(),
            retry,
            budget: Arc::new(RetryBudget::new(0.2, 3)),
            breaker,
            instruments,
        })
    }

    /// The breaker, when there is one.
    pub fn breaker(&self) -> Option<&CircuitBreaker> {
        self.breaker.as_deref()
    }

    /// One model call with retries, finished by `deadline` (the request's).
    pub async fn create_message(
        &self,
        request: &MessagesRequest,
        deadline: Instant,
        deadline_total: Duration,
    ) -> Result<MessagesResponse, AppError> {
        let _active = self.budget.call();
        let mut retries = 0u32;
        let mut _retry_token = None;
        loop {
            if let Some(breaker) = &self.breaker {
                breaker
                    .try_pass()
                    .map_err(|wait| AppError::CircuitOpen { retry_after: wait })?;
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(AppError::UpstreamTimeout {
                    deadline: deadline_total,
                });
            }
            let started = Instant::now();
            let attempt = match tokio::time::timeout(remaining, self.attempt(request)).await {
                Ok(attempt) => attempt,
                Err(_) => {
                    self.instruments
                        .upstream_call(API, "timeout", started.elapsed());
                    self.record_breaker(false);
                    return Err(AppError::UpstreamTimeout {
                        deadline: deadline_total,
                    });
                }
            };
            let took = started.elapsed();
            let (status, hint, detail) = match attempt {
                Attempt::Done(response) => {
                    self.instruments.upstream_call(API, "ok", took);
                    self.record_breaker(true);
                    return Ok(response);
                }
                Attempt::Fatal(err) => {
                    self.instruments.upstream_call(API, "rejected", took);
                    // A 4xx is our request's fault, not the upstream's health.
                    self.record_breaker(true);
                    return Err(err);
                }
                Attempt::Failed {
                    status,
                    hint,
                    detail,
                    retryable,
                } => {
                    let outcome = if matches!(status, 429 | 529 | 503) {
                        "overloaded"
                    } else {
                        "error"
                    };
                    self.instruments.upstream_call(API, outcome, took);
                    // 429 is our rate tier, not an outage: it does not trip the breaker.
                    if status != 429 {
                        self.record_breaker(false);
                    }
                    if !retryable {
                        return Err(final_error(status, retries + 1, hint, &detail));
                    }
                    (status, hint, detail)
                }
                Attempt::Network(detail) => {
                    self.instruments.upstream_call(API, "network_error", took);
                    self.record_breaker(false);
                    (0, None, detail)
                }
            };
            let give_up = |hint: Option<Duration>| final_error(status, retries + 1, hint, &detail);
            let Some(policy) = self.retry.filter(|p| retries < p.max_retries) else {
                return Err(give_up(hint));
            };
            let wait = hint.unwrap_or_else(|| policy.backoff(retries));
            if Instant::now()
                .checked_add(wait)
                .is_none_or(|at| at >= deadline)
            {
                return Err(give_up(hint));
            }
            let Some(token) = self.budget.try_retry() else {
                return Err(give_up(hint));
            };
            _retry_token = Some(token);
            self.instruments.upstream_retry(API);
            tracing::debug!(
                status,
                retry = retries + 1,
                wait_ms = wait.as_millis() as u64,
                "retrying model call"
            );
            tokio::time::sleep(wait).await;
            retries += 1;
        }
    }

    fn record_breaker(&self, ok: bool) {
        if let Some(breaker) = &self.breaker {
            if ok {
                breaker.on_success();
            } else {
                breaker.on_failure();
            }
        }
    }

    async fn attempt(&self, request: &MessagesRequest) -> Attempt {
        let sent = self
            .http
            .post(&self.url)
            .header("x-api-key", &self.api_key)
            .header("anthropic-version", ANTHROPIC_VERSION)
            .header("content-type", "application/json")
            .json(request)
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => return Attempt::Network(format!("could not reach the model API: {e}")),
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = match response.bytes().await {
            Ok(b) => b,
            Err(e) => return Attempt::Network(format!("model API response was cut off: {e}")),
        };
        if (200..300).contains(&status) {
            return match serde_json::from_slice::<MessagesResponse>(&body) {
                Ok(parsed) => Attempt::Done(parsed),
                Err(e) => Attempt::Fatal(AppError::UpstreamFailed {
                    detail: format!("the model API sent a response this server cannot read ({e})"),
                }),
            };
        }
        let detail = match serde_json::from_slice::<ErrorResponse>(&body) {
            Ok(err) => format!("HTTP {status} {}: {}", err.error.kind, err.error.message),
            Err(_) => format!("HTTP {status}"),
        };
        let retryable = is_retryable(status, &headers);
        if retryable || status >= 500 || status == 429 {
            Attempt::Failed {
                status,
                hint: hinted_wait(&headers),
                detail,
                retryable,
            }
        } else {
            Attempt::Fatal(AppError::UpstreamFailed { detail })
        }
    }
}

/// The error after the last attempt: overload → 503 with guidance, anything else → 502.
fn final_error(status: u16, attempts: u32, hint: Option<Duration>, detail: &str) -> AppError {
    if matches!(status, 429 | 529 | 503) {
        AppError::UpstreamOverloaded {
            status,
            attempts,
            retry_after: hint.unwrap_or(Duration::from_secs(1)),
        }
    } else {
        AppError::UpstreamFailed {
            detail: format!("{detail} (after {attempts} attempt(s))"),
        }
    }
}
