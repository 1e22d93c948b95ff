//! The Messages API client: one shared `reqwest::Client`, and around each model call the shared
//! cool-down, tier pacing, per-attempt timeouts, retries with backoff under a budget and the
//! circuit breaker, all inside the request's deadline. Every attempt's latency and outcome is
//! recorded and reported to the [`CallObserver`] (the adaptive concurrency limit).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;
use tokio::time::Instant;

use super::breaker::{CircuitBreaker, Verdict};
use super::cooldown::Cooldown;
use super::messages::{ErrorResponse, MessagesRequest, MessagesResponse};
use super::pacing::{budgets_have_headroom, reset_hint, TierPacer};
use super::retry::{hinted_wait, is_retryable, RetryBudget, RetryPolicy};
use super::signals::{CallObserver, CallSignal};
use crate::error::AppError;
use crate::instruments::Instruments;

/// The `anthropic-version` header value.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

const API: &str = "claude";

/// How one attempt ended.
enum Attempt {
    Done(MessagesResponse, HeaderMap),
    /// An error status, with the server's hint and whether it may be retried.
    Failed {
        status: u16,
        hint: Option<Duration>,
        detail: String,
        retryable: bool,
        headers: HeaderMap,
    },
    /// No response byte came back (refused, reset before the headers, attempt timed out before
    /// the headers): the provider did not answer, so the POST may be sent again.
    NoResponse(String),
    /// A response started but was cut off, stalled or could not be read: not retried (the call
    /// may have been served and billed), and a failure of the upstream.
    Broken(String),
    /// A 4xx other than 429: our request's fault, not the upstream's health.
    Rejected(AppError),
}

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
            throttled |= cooldown
                .wait(deadline)
                .await
                .map_err(|left| AppError::UpstreamCoolingDown { retry_after: left })?;
        }
        if let Some(pacer) = &self.protections.pacer {
            let now = Instant::now();
            let at = pacer
                .reserve(now, deadline)
                .map_err(|_| AppError::UpstreamTimeout {
                    deadline: deadline_total,
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
            Some(breaker) => Some(
                breaker
                    .try_pass()
                    .map_err(|wait| AppError::CircuitOpen { retry_after: wait })?,
            ),
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
        let timed_out = || AppError::UpstreamTimeout {
            deadline: deadline_total,
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
                return (Verdict::Neutral, Err(timed_out()));
            }
            let per_attempt = self
                .protections
                .attempt_timeout
                .map_or(remaining, |t| t.min(remaining));
            let started = Instant::now();
            let answered = AtomicBool::new(false);
            let attempt = match tokio::time::timeout(per_attempt, self.attempt(request, &answered))
                .await
            {
                Ok(attempt) => attempt,
                Err(_) if per_attempt < remaining => {
                    let took = per_attempt.as_millis();
                    if answered.load(Ordering::Acquire) {
                        Attempt::Broken(format!(
                            "the model API response stalled for {took} ms after it started"
                        ))
                    } else {
                        Attempt::NoResponse(format!(
                                "the model API did not answer within {took} ms (CLAUDE_ATTEMPT_TIMEOUT_MS)"
                            ))
                    }
                }
                Err(_) => {
                    // Our own deadline, not a judgement on the upstream.
                    self.instruments
                        .upstream_call(API, "timeout", started.elapsed());
                    return (Verdict::Neutral, Err(timed_out()));
                }
            };
            let took = started.elapsed();
            let (status, hint, detail, verdict) = match attempt {
                Attempt::Done(response, headers) => {
                    self.instruments.upstream_call(API, "ok", took);
                    self.instruments.upstream_tokens(
                        API,
                        response.usage.input_tokens,
                        response.usage.output_tokens,
                    );
                    self.instruments.upstream_ratelimit(API, &headers);
                    if let Some(pacer) = &self.protections.pacer {
                        pacer.observe_headers(&headers);
                        pacer.observe_call_tokens(
                            response.usage.input_tokens,
                            response.usage.output_tokens,
                        );
                    }
                    self.signal(started, false, throttled);
                    return (Verdict::Success, Ok(response));
                }
                Attempt::Rejected(err) => {
                    self.instruments.upstream_call(API, "rejected", took);
                    return (Verdict::Neutral, Err(err));
                }
                Attempt::Broken(detail) => {
                    let timeout = took >= per_attempt;
                    self.instruments.upstream_call(
                        API,
                        if timeout { "timeout" } else { "error" },
                        took,
                    );
                    self.signal(started, timeout, throttled);
                    return (
                        Verdict::Failure,
                        Err(AppError::UpstreamFailed {
                            detail: format!("{detail} (not retried: it may have been served)"),
                        }),
                    );
                }
                Attempt::Failed {
                    status,
                    hint,
                    detail,
                    retryable,
                    headers,
                } => {
                    let overloaded = matches!(status, 429 | 529 | 503);
                    self.instruments.upstream_call(
                        API,
                        if overloaded { "overloaded" } else { "error" },
                        took,
                    );
                    self.instruments.upstream_ratelimit(API, &headers);
                    if let Some(pacer) = &self.protections.pacer {
                        pacer.observe_headers(&headers);
                    }
                    let pushed_back = matches!(status, 429 | 529);
                    self.signal(started, pushed_back, throttled);
                    // A 429 whose budgets all have headroom is a concurrency limit: when the
                    // adaptive limit answers it by lowering concurrency, only this call waits
                    // its hint; a spent budget, an overload (529), or a fixed limit (nothing
                    // else slows down) pauses every call.
                    let adapts = self
                        .protections
                        .observer
                        .as_ref()
                        .is_some_and(|o| o.adapts_to_push_back());
                    let shared = pushed_back
                        && !(status == 429 && adapts && budgets_have_headroom(&headers));
                    if let (true, Some(wait), Some(cooldown)) =
                        (shared, hint, &self.protections.cooldown)
                    {
                        if cooldown.extend(Instant::now(), wait) {
                            self.instruments.upstream_cooldown(API);
                            tracing::debug!(
                                status,
                                wait_ms = wait.as_millis() as u64,
                                "model API asked to wait: pausing new model calls"
                            );
                        }
                    }
                    // 429 is our rate tier, not an outage.
                    let verdict = if status == 429 {
                        Verdict::Neutral
                    } else {
                        Verdict::Failure
                    };
                    if !retryable {
                        return (
                            verdict,
                            Err(self.final_error(status, retries + 1, hint, &detail)),
                        );
                    }
                    (status, hint, detail, verdict)
                }
                Attempt::NoResponse(detail) => {
                    let timeout = took >= per_attempt;
                    self.instruments.upstream_call(
                        API,
                        if timeout { "timeout" } else { "network_error" },
                        took,
                    );
                    self.signal(started, timeout, throttled);
                    (0, None, detail, Verdict::Failure)
                }
            };
            let give_up = |hint| {
                (
                    verdict,
                    Err(self.final_error(status, retries + 1, hint, &detail)),
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

    async fn attempt(&self, request: &MessagesRequest, answered: &AtomicBool) -> Attempt {
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
            Err(e) => return Attempt::NoResponse(format!("could not reach the model API: {e}")),
        };
        answered.store(true, Ordering::Release);
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = match response.bytes().await {
            Ok(b) => b,
            Err(e) => return Attempt::Broken(format!("model API response was cut off: {e}")),
        };
        if (200..300).contains(&status) {
            return match serde_json::from_slice::<MessagesResponse>(&body) {
                Ok(parsed) => Attempt::Done(parsed, headers),
                Err(e) => Attempt::Broken(format!(
                    "the model API sent a response this server cannot read ({e})"
                )),
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
                hint: hinted_wait(&headers).or_else(|| reset_hint(&headers, SystemTime::now())),
                detail,
                retryable,
                headers,
            }
        } else {
            Attempt::Rejected(AppError::UpstreamFailed { detail })
        }
    }

    /// The error after the last attempt: overload → 503 with guidance (covering any cool-down),
    /// anything else → 502.
    fn final_error(
        &self,
        status: u16,
        attempts: u32,
        hint: Option<Duration>,
        detail: &str,
    ) -> AppError {
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
            }
        } else {
            AppError::UpstreamFailed {
                detail: format!("{detail} (after {attempts} attempt(s))"),
            }
        }
    }
}
