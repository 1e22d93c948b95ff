//! The Messages API client: one shared `reqwest::Client`, and around each model call the shared
//! cool-down, tier pacing, per-attempt timeouts, retries with backoff under a budget and the
//! circuit breaker, all inside the request's deadline. Every attempt's latency and outcome is
//! recorded and reported to the [`CallObserver`] (the adaptive concurrency limit).

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::breaker::{CircuitBreaker, Verdict};
use super::cooldown::Cooldown;
use super::messages::{MessagesRequest, MessagesResponse};
use super::outcome::{classify, Attempt, LimitSignal, Next};
use super::pacing::TierPacer;
use super::retry::{RetryBudget, RetryPolicy};
use super::transport::error_chain;
use crate::error::{AppError, Upstream, UpstreamFailure};
use crate::instruments::semconv::{CallEnd, Peer};
use crate::instruments::Instruments;
use crate::signals::{CallObserver, CallSignal};

/// The `anthropic-version` header value.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

const API: &str = "claude";

/// The protections around model calls; all off in legacy mode.
#[derive(Debug, Clone, Default)]
pub struct Protections {
    /// Retries (None: one attempt only).
    pub retry: Option<RetryPolicy>,
    /// Circuit breaker.
    pub breaker: Option<Arc<CircuitBreaker>>,
    /// Shared cool-down.
    pub cooldown: Option<Arc<Cooldown>>,
    /// Tier pacing.
    pub pacer: Option<Arc<TierPacer>>,
    /// Longest single attempt (None: the request's deadline only).
    pub attempt_timeout: Option<Duration>,
    /// Told about every finished attempt.
    pub observer: Option<Arc<dyn CallObserver>>,
}

/// Shared Messages API client.
#[derive(Debug, Clone)]
pub struct ClaudeClient {
    http: reqwest::Client,
    url: String,
    /// `server.address`/`server.port` of `url`, for the OpenTelemetry client metric.
    peer: Peer,
    api_key: String,
    budget: Arc<RetryBudget>,
    protections: Protections,
    instruments: Arc<Instruments>,
}

impl ClaudeClient {
    /// Builds the client for `base_url` (e.g. `https://api.anthropic.com`).
    pub fn new(
        base_url: &str,
        api_key: &str,
        protections: Protections,
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
            peer: Peer::of_url(base_url),
            api_key: api_key.to_string(),
            budget: Arc::new(RetryBudget::new(0.2, 3)),
            protections,
            instruments,
        })
    }

    /// The breaker, when there is one.
    pub fn breaker(&self) -> Option<&CircuitBreaker> {
        self.protections.breaker.as_deref()
    }

    /// The shared cool-down, when there is one.
    pub fn cooldown(&self) -> Option<&Cooldown> {
        self.protections.cooldown.as_deref()
    }

    /// The tier pacer, when there is one.
    pub fn pacer(&self) -> Option<&TierPacer> {
        self.protections.pacer.as_deref()
    }

    fn adapts_to_push_back(&self) -> bool {
        self.protections
            .observer
            .as_ref()
            .is_some_and(|o| o.adapts_to_push_back())
    }

    fn signal(&self, started: Instant, dropped: bool, throttled: bool) {
        if let Some(observer) = &self.protections.observer {
            observer.on_call(CallSignal {
                started,
                ended: Instant::now(),
                dropped,
                throttled,
            });
        }
    }

    /// Waits for the cool-down and the pacer's slot; true when either made the call wait.
    async fn wait_turn(
        &self,
        deadline: Instant,
        deadline_total: Duration,
    ) -> Result<bool, AppError> {
        let mut throttled = false;
        if let Some(cooldown) = &self.protections.cooldown {
            throttled |= cooldown.wait(deadline).await.map_err(|left| {
                let cause = format!(
                    "POST {}: {} ms of shared cool-down left, past the request's deadline",
                    self.url,
                    left.as_millis()
                );
                AppError::UpstreamCoolingDown {
                    retry_after: left,
                    cause,
                }
            })?;
        }
        if let Some(pacer) = &self.protections.pacer {
            let now = Instant::now();
            let at = pacer
                .reserve(now, deadline)
                .map_err(|_| AppError::UpstreamTimeout {
                    deadline: deadline_total,
                    upstream: Upstream::ModelApi,
                    cause: format!(
                        "POST {}: the tier pacer's next slot is past the request's deadline",
                        self.url
                    ),
                })?;
            if at > now {
                // Waiting for a slot or two is the pacer's normal spacing; a longer line means
                // the tier, not the permits, bounds throughput.
                let backlog = pacer.interval().unwrap_or_default() * 2;
                throttled |= at - now > backlog;
                tokio::time::sleep_until(at).await;
            }
        }
        Ok(throttled)
    }

    /// One model call with retries, finished by `deadline` (the request's). The breaker hears
    /// one verdict per call, whatever the number of attempts.
    pub async fn create_message(
        &self,
        request: &MessagesRequest,
        deadline: Instant,
        deadline_total: Duration,
    ) -> Result<MessagesResponse, AppError> {
        let pass = match &self.protections.breaker {
            Some(breaker) => Some(breaker.try_pass().map_err(|wait| AppError::CircuitOpen {
                retry_after: wait,
                cause: format!(
                    "POST {}: the circuit breaker is open; next probe in {} ms",
                    self.url,
                    wait.as_millis()
                ),
            })?),
            None => None,
        };
        let (verdict, result) = self.attempts(request, deadline, deadline_total).await;
        if let (Some(breaker), Some(pass)) = (&self.protections.breaker, pass) {
            breaker.record(pass, verdict);
        }
        result
    }

    async fn attempts(
        &self,
        request: &MessagesRequest,
        deadline: Instant,
        deadline_total: Duration,
    ) -> (Verdict, Result<MessagesResponse, AppError>) {
        let _active = self.budget.call();
        let timed_out = |attempts: u32| AppError::UpstreamTimeout {
            deadline: deadline_total,
            upstream: Upstream::ModelApi,
            cause: format!(
                "POST {}: the request's deadline passed at attempt {attempts}",
                self.url
            ),
        };
        let mut retries = 0u32;
        let mut _retry_token = None;
        loop {
            let throttled = match self.wait_turn(deadline, deadline_total).await {
                Ok(t) => t,
                Err(e) => return (Verdict::Neutral, Err(e)),
            };
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return (Verdict::Neutral, Err(timed_out(retries + 1)));
            }
            let per_attempt = self
                .protections
                .attempt_timeout
                .map_or(remaining, |t| t.min(remaining));
            let started = Instant::now();
            // The response's status once its headers arrived (0: not yet).
            let answered = AtomicU16::new(0);
            let mut cut = false;
            let attempt = tokio::time::timeout(per_attempt, self.attempt(request, &answered))
                .await
                .unwrap_or_else(|_| {
                    cut = true;
                    let answered = answered.load(Ordering::Acquire) != 0;
                    Attempt::timed_out(answered, per_attempt, remaining)
                });
            let took = started.elapsed();
            let status = Some(answered.load(Ordering::Acquire)).filter(|s| *s != 0);
            self.instruments.http_client_request(
                "POST",
                &self.peer,
                call_end(&attempt, status, cut),
                took,
            );
            // Asked only of an error status: the observer takes a lock to answer.
            let adapts = matches!(attempt, Attempt::Failed { .. }) && self.adapts_to_push_back();
            let outcome = classify(attempt, took, per_attempt, adapts);
            self.instruments.upstream_call(API, outcome.label, took);
            if let Some(usage) = outcome.usage {
                self.instruments
                    .upstream_tokens(API, usage.input_tokens, usage.output_tokens);
            }
            if let Some(headers) = &outcome.headers {
                self.instruments.upstream_ratelimit(API, headers);
                if let Some(pacer) = &self.protections.pacer {
                    pacer.observe_headers(headers);
                }
            }
            if let (Some(usage), Some(pacer)) = (outcome.usage, &self.protections.pacer) {
                pacer.observe_call_tokens(usage.input_tokens, usage.output_tokens);
            }
            match outcome.limit {
                LimitSignal::Silent => {}
                LimitSignal::Served => self.signal(started, false, throttled),
                LimitSignal::Dropped => self.signal(started, true, throttled),
            }
            let verdict = outcome.verdict;
            let (status, failure, hint, detail, retryable) = match outcome.next {
                Next::Respond(response) => return (verdict, Ok(response)),
                Next::Fail { failure, detail } => {
                    return (
                        verdict,
                        Err(AppError::UpstreamFailed {
                            failure,
                            attempts: retries + 1,
                            cause: self.cause(&detail, retries + 1),
                        }),
                    )
                }
                Next::Deadline => return (verdict, Err(timed_out(retries + 1))),
                Next::Upstream {
                    status,
                    failure,
                    hint,
                    detail,
                    retryable,
                } => (status, failure, hint, detail, retryable),
            };
            if let (Some(wait), Some(cooldown)) = (outcome.cooldown, &self.protections.cooldown) {
                if cooldown.extend(Instant::now(), wait) {
                    self.instruments.upstream_cooldown(API);
                    tracing::debug!(
                        status,
                        wait_ms = wait.as_millis() as u64,
                        "model API asked to wait: pausing new model calls"
                    );
                }
            }
            if !retryable {
                return (
                    verdict,
                    Err(self.final_error(status, failure, retries + 1, hint, &detail)),
                );
            }
            let give_up = |hint| {
                (
                    verdict,
                    Err(self.final_error(status, failure, retries + 1, hint, &detail)),
                )
            };
            let Some(policy) = self.protections.retry.filter(|p| retries < p.max_retries) else {
                return give_up(hint);
            };
            // With a cool-down the wait happens at the top of the loop, shared with everyone.
            let cooling = self
                .protections
                .cooldown
                .as_ref()
                .map_or(Duration::ZERO, |c| c.remaining(Instant::now()));
            let wait = if cooling.is_zero() {
                hint.unwrap_or_else(|| policy.backoff(retries))
            } else {
                Duration::ZERO
            };
            if Instant::now()
                .checked_add(wait.max(cooling))
                .is_none_or(|at| at >= deadline)
            {
                return give_up(hint);
            }
            let Some(token) = self.budget.try_retry() else {
                return give_up(hint);
            };
            _retry_token = Some(token);
            self.instruments.upstream_retry(API);
            tracing::debug!(
                status,
                retry = retries + 1,
                wait_ms = wait.max(cooling).as_millis() as u64,
                "retrying model call"
            );
            tokio::time::sleep(wait).await;
            retries += 1;
        }
    }

    /// One POST; `answered` is set to the status once the response's headers arrived.
    async fn attempt(&self, request: &MessagesRequest, answered: &AtomicU16) -> Attempt {
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
            Err(e) => {
                return Attempt::NoResponse(format!(
                    "could not reach the model API: {}",
                    error_chain(&e)
                ))
            }
        };
        let status = response.status().as_u16();
        answered.store(status, Ordering::Release);
        let headers = response.headers().clone();
        match response.bytes().await {
            Ok(body) => Attempt::from_response(status, headers, &body, SystemTime::now()),
            Err(e) => Attempt::Broken(format!(
                "model API response was cut off: {}",
                error_chain(&e)
            )),
        }
    }

    /// What the log says of a failed call: the URL, the last attempt's error, the attempts.
    fn cause(&self, detail: &str, attempts: u32) -> String {
        format!(
            "POST {} failed after {attempts} attempt(s): {detail}",
            self.url
        )
    }

    /// The error after the last attempt: overload → 503 with guidance (covering any cool-down),
    /// anything else → 502.
    fn final_error(
        &self,
        status: u16,
        failure: UpstreamFailure,
        attempts: u32,
        hint: Option<Duration>,
        detail: &str,
    ) -> AppError {
        let cause = self.cause(detail, attempts);
        if matches!(status, 429 | 529 | 503) {
            let cooling = self
                .protections
                .cooldown
                .as_ref()
                .map_or(Duration::ZERO, |c| c.remaining(Instant::now()));
            AppError::UpstreamOverloaded {
                status,
                attempts,
                retry_after: hint.unwrap_or(Duration::from_secs(1)).max(cooling),
                cause,
            }
        } else {
            AppError::UpstreamFailed {
                failure,
                attempts,
                cause,
            }
        }
    }
}

/// How an attempt ended in the OpenTelemetry client metric's terms: the status when headers
/// came (`status`), and what failed otherwise; `cut`: a timer ended the attempt.
fn call_end(attempt: &Attempt, status: Option<u16>, cut: bool) -> CallEnd {
    match attempt {
        _ if cut => CallEnd::failed(status, "timeout"),
        Attempt::Done(..) => CallEnd::answered(status.unwrap_or(200)),
        Attempt::Failed { status, .. } | Attempt::Rejected { status, .. } => {
            CallEnd::answered(*status)
        }
        Attempt::NoResponse(_) => CallEnd::failed(status, "connection_error"),
        Attempt::Broken(_) => CallEnd::failed(status, "response_broken"),
        Attempt::Deadline => CallEnd::failed(status, "timeout"),
    }
}
