//! What one Messages API attempt means, decided without side effects so every documented status
//! and failure can be unit-tested: [`Attempt::from_response`] and [`Attempt::timed_out`] say how
//! an attempt ended, [`classify`] turns that into an [`Outcome`] (the metrics label, what the
//! concurrency limit hears, the breaker's verdict, the shared cool-down, and whether the call
//! ends or may be retried). The client's loop in [`super::claude`] only carries it out.

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;

use super::breaker::Verdict;
use super::messages::{ErrorResponse, MessagesResponse, Usage};
use super::pacing::{budgets_have_headroom, reset_hint};
use super::retry::{hinted_wait, is_retryable};
use crate::error::UpstreamFailure;

/// How one attempt ended.
#[derive(Debug)]
pub(super) enum Attempt {
    /// A readable 2xx.
    Done(MessagesResponse, HeaderMap),
    /// An error status, with the server's hint and whether it may be retried.
    Failed {
        /// HTTP status.
        status: u16,
        /// How long the server asked us to wait (`retry-after-ms`, `retry-after`, or the reset
        /// of a spent rate-limit budget).
        hint: Option<Duration>,
        /// What went wrong, for a person.
        detail: String,
        /// Whether the status (or `x-should-retry`) allows another attempt.
        retryable: bool,
        /// The response's headers (rate-limit budgets).
        headers: HeaderMap,
    },
    /// No response byte came back (refused, reset before the headers, attempt timed out before
    /// the headers): the provider did not answer, so the POST may be sent again.
    NoResponse(String),
    /// A response started but was cut off, stalled or could not be read: not retried (the call
    /// may have been served and billed), and a failure of the upstream.
    Broken(String),
    /// A 4xx other than 429: our request's fault, not the upstream's health.
    Rejected {
        /// HTTP status.
        status: u16,
        /// What the API said, for the log.
        detail: String,
    },
    /// The request's own deadline ran out during the attempt: not a judgement on the upstream.
    Deadline,
}

impl Attempt {
    /// Reads a response whose body arrived whole, at wall-clock `now` (for rate-limit resets).
    pub(super) fn from_response(
        status: u16,
        headers: HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Attempt {
        if (200..300).contains(&status) {
            return match serde_json::from_slice::<MessagesResponse>(body) {
                Ok(parsed) => Attempt::Done(parsed, headers),
                Err(e) => Attempt::Broken(format!(
                    "the model API sent a response this server cannot read ({e})"
                )),
            };
        }
        let detail = match serde_json::from_slice::<ErrorResponse>(body) {
            Ok(err) => format!("HTTP {status} {}: {}", err.error.kind, err.error.message),
            Err(_) => format!("HTTP {status}"),
        };
        let retryable = is_retryable(status, &headers);
        if retryable || status >= 500 || status == 429 {
            Attempt::Failed {
                status,
                hint: hinted_wait(&headers).or_else(|| reset_hint(&headers, now)),
                detail,
                retryable,
                headers,
            }
        } else {
            Attempt::Rejected { status, detail }
        }
    }

    /// An attempt its timer cut short: the per-attempt timeout when it was shorter than the
    /// `remaining` time to the request's deadline, else the deadline itself. `answered`: the
    /// response headers had arrived.
    pub(super) fn timed_out(answered: bool, per_attempt: Duration, remaining: Duration) -> Attempt {
        if per_attempt >= remaining {
            return Attempt::Deadline;
        }
        let took = per_attempt.as_millis();
        if answered {
            Attempt::Broken(format!(
                "the model API response stalled for {took} ms after it started"
            ))
        } else {
            Attempt::NoResponse(format!(
                "the model API did not answer within {took} ms (CLAUDE_ATTEMPT_TIMEOUT_MS)"
            ))
        }
    }
}

/// What the concurrency limit hears about an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LimitSignal {
    /// Nothing: the attempt says nothing about the upstream's capacity.
    Silent,
    /// A finished attempt with its latency.
    Served,
    /// The upstream pushed back (429, 529) or the attempt timed out.
    Dropped,
}

/// How the call goes on after an attempt.
#[derive(Debug)]
pub(super) enum Next {
    /// The call succeeded with this response.
    Respond(MessagesResponse),
    /// The call ends with this failure, without retrying.
    Fail {
        /// What went wrong, in client terms.
        failure: UpstreamFailure,
        /// What went wrong, for the log.
        detail: String,
    },
    /// The call ends because the request's deadline ran out.
    Deadline,
    /// The upstream failed: retried when `retryable` and the policy, deadline and budget allow,
    /// else the call ends with the overload or failure error for `status`.
    Upstream {
        /// HTTP status (0: no response).
        status: u16,
        /// What went wrong, in client terms.
        failure: UpstreamFailure,
        /// The server's wait hint.
        hint: Option<Duration>,
        /// What went wrong, for a person.
        detail: String,
        /// Whether another attempt may be sent.
        retryable: bool,
    },
}

/// Everything the client's loop does after an attempt.
#[derive(Debug)]
pub(super) struct Outcome {
    /// The `outcome` label of the upstream call metrics.
    pub label: &'static str,
    /// What the concurrency limit hears.
    pub limit: LimitSignal,
    /// What the breaker hears, should the call end here.
    pub verdict: Verdict,
    /// Pause every model call for this long (the shared cool-down).
    pub cooldown: Option<Duration>,
    /// Rate-limit headers to record and feed to the pacer.
    pub headers: Option<HeaderMap>,
    /// Tokens the call used, to record and feed to the pacer.
    pub usage: Option<Usage>,
    /// How the call goes on.
    pub next: Next,
}

/// Classifies an attempt that ran for `elapsed` under a `per_attempt` timeout; `adapts`: the
/// concurrency limit answers a push-back by lowering concurrency.
pub(super) fn classify(
    attempt: Attempt,
    elapsed: Duration,
    per_attempt: Duration,
    adapts: bool,
) -> Outcome {
    let outcome = |label, limit, verdict, next| Outcome {
        label,
        limit,
        verdict,
        cooldown: None,
        headers: None,
        usage: None,
        next,
    };
    // A timer firing, not an error the upstream sent.
    let timeout = elapsed >= per_attempt;
    let dropped_if = |timeout| {
        if timeout {
            LimitSignal::Dropped
        } else {
            LimitSignal::Served
        }
    };
    match attempt {
        Attempt::Done(response, headers) => Outcome {
            headers: Some(headers),
            usage: Some(response.usage),
            ..outcome(
                "ok",
                LimitSignal::Served,
                Verdict::Success,
                Next::Respond(response),
            )
        },
        Attempt::Rejected { status, detail } => outcome(
            "rejected",
            LimitSignal::Silent,
            Verdict::Neutral,
            Next::Fail {
                failure: UpstreamFailure::Rejected(status),
                detail,
            },
        ),
        Attempt::Deadline => outcome(
            "timeout",
            LimitSignal::Silent,
            Verdict::Neutral,
            Next::Deadline,
        ),
        Attempt::Broken(detail) => outcome(
            if timeout { "timeout" } else { "error" },
            dropped_if(timeout),
            Verdict::Failure,
            Next::Fail {
                failure: if timeout {
                    UpstreamFailure::Stalled
                } else {
                    UpstreamFailure::Unreadable
                },
                detail: format!("{detail} (not retried: it may have been served)"),
            },
        ),
        Attempt::NoResponse(detail) => outcome(
            if timeout { "timeout" } else { "network_error" },
            dropped_if(timeout),
            Verdict::Failure,
            Next::Upstream {
                status: 0,
                failure: if timeout {
                    UpstreamFailure::TimedOut
                } else {
                    UpstreamFailure::Unreachable
                },
                hint: None,
                detail,
                retryable: true,
            },
        ),
        Attempt::Failed {
            status,
            hint,
            detail,
            retryable,
            headers,
        } => {
            let overloaded = matches!(status, 429 | 529 | 503);
            let pushed_back = matches!(status, 429 | 529);
            // A 429 whose budgets all have headroom is a concurrency limit: when the adaptive
            // limit answers it by lowering concurrency, only this call waits its hint; a spent
            // budget, an overload (529), or a fixed limit (nothing else slows down) pauses every
            // call.
            let shared =
                pushed_back && !(status == 429 && adapts && budgets_have_headroom(&headers));
            Outcome {
                label: if overloaded { "overloaded" } else { "error" },
                limit: dropped_if(pushed_back),
                // 429 is our rate tier, not an outage.
                verdict: if status == 429 {
                    Verdict::Neutral
                } else {
                    Verdict::Failure
                },
                cooldown: hint.filter(|_| shared),
                headers: Some(headers),
                usage: None,
                next: Next::Upstream {
                    status,
                    failure: UpstreamFailure::Status(status),
                    hint,
                    detail,
                    retryable,
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SEC: Duration = Duration::from_secs(1);
    const TIMEOUT: Duration = Duration::from_secs(30);

    /// What a test expects of an outcome; `Retry`/`GiveUp`: `Next::Upstream` with `retryable`
    /// true/false.
    #[derive(Debug, PartialEq)]
    enum Then {
        Respond,
        Fail(&'static str),
        Deadline,
        Retry(u16, Option<Duration>),
        GiveUp(u16, Option<Duration>),
    }

    #[derive(Debug, PartialEq)]
    struct Expect {
        label: &'static str,
        limit: LimitSignal,
        verdict: Verdict,
        cooldown: Option<Duration>,
        then: Then,
    }

    fn expect(outcome: &Outcome) -> Expect {
        Expect {
            label: outcome.label,
            limit: outcome.limit,
            verdict: outcome.verdict,
            cooldown: outcome.cooldown,
            then: match &outcome.next {
                Next::Respond(_) => Then::Respond,
                Next::Fail { failure, .. } => Then::Fail(match failure {
                    UpstreamFailure::Rejected(_) => "rejected",
                    UpstreamFailure::Stalled => "stalled",
                    UpstreamFailure::Unreadable => "unreadable",
                    other => panic!("a call does not end on {other:?} without retries"),
                }),
                Next::Deadline => Then::Deadline,
                Next::Upstream {
                    status,
                    hint,
                    retryable: true,
                    ..
                } => Then::Retry(*status, *hint),
                Next::Upstream {
                    status,
                    hint,
                    retryable: false,
                    ..
                } => Then::GiveUp(*status, *hint),
            },
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    k.parse().expect("header name"),
                    v.parse().expect("header value"),
                )
            })
            .collect()
    }

    fn error_body(kind: &str) -> Vec<u8> {
        json!({"type": "error", "error": {"type": kind, "message": "m"}, "request_id": "req_1"})
            .to_string()
            .into_bytes()
    }

    const NOW: SystemTime = SystemTime::UNIX_EPOCH;
    const HEADROOM: &[(&str, &str)] = &[
        ("anthropic-ratelimit-requests-remaining", "40"),
        ("anthropic-ratelimit-input-tokens-remaining", "9000"),
    ];
    const SPENT: &[(&str, &str)] = &[
        ("anthropic-ratelimit-requests-remaining", "0"),
        ("anthropic-ratelimit-requests-reset", "1970-01-01T00:00:07Z"),
        ("anthropic-ratelimit-input-tokens-remaining", "9000"),
    ];

    fn row(
        label: &'static str,
        limit: LimitSignal,
        verdict: Verdict,
        cooldown: Option<Duration>,
        then: Then,
    ) -> Expect {
        Expect {
            label,
            limit,
            verdict,
            cooldown,
            then,
        }
    }

    /// Status, API error type, response headers, whether the limit adapts, and what follows.
    type StatusCase = (
        u16,
        &'static str,
        Vec<(&'static str, &'static str)>,
        bool,
        Expect,
    );

    /// Every status the Messages API documents (errors page: 400, 401, 402, 403, 404, 413, 429,
    /// 500, 504, 529), the 503 a proxy in front of it sends, and the `x-should-retry` override,
    /// each with the error body the API sends, through [`Attempt::from_response`] and
    /// [`classify`], with and without an adaptive limit.
    #[test]
    fn every_documented_status_classifies_as_the_loop_acts_on_it() {
        use LimitSignal::{Dropped, Served, Silent};
        use Verdict::{Failure, Neutral};
        let rejected = || row("rejected", Silent, Neutral, None, Then::Fail("rejected"));
        let ok_body = json!({
            "content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn",
            "usage": {"input_tokens": 3, "output_tokens": 4}
        })
        .to_string()
        .into_bytes();
        let table: Vec<StatusCase> = vec![
            (
                200,
                "",
                vec![],
                false,
                row("ok", Served, Verdict::Success, None, Then::Respond),
            ),
            (400, "invalid_request_error", vec![], false, rejected()),
            (401, "authentication_error", vec![], false, rejected()),
            (402, "billing_error", vec![], false, rejected()),
            (403, "permission_error", vec![], false, rejected()),
            (404, "not_found_error", vec![], false, rejected()),
            (413, "request_too_large", vec![], false, rejected()),
            (403, "permission_error", vec![], true, rejected()),
            // 408 and 409 are retried by the SDKs' rule, without pushing back.
            (
                408,
                "timeout_error",
                vec![],
                false,
                row("error", Served, Failure, None, Then::Retry(408, None)),
            ),
            (
                409,
                "conflict_error",
                vec![],
                false,
                row("error", Served, Failure, None, Then::Retry(409, None)),
            ),
            // 429 without any hint: retried on backoff, nothing to pause for.
            (
                429,
                "rate_limit_error",
                vec![],
                false,
                row("overloaded", Dropped, Neutral, None, Then::Retry(429, None)),
            ),
            // 429 with retry-after and no budgets: every call pauses, adaptive limit or not.
            (
                429,
                "rate_limit_error",
                vec![("retry-after", "2")],
                false,
                row(
                    "overloaded",
                    Dropped,
                    Neutral,
                    Some(2 * SEC),
                    Then::Retry(429, Some(2 * SEC)),
                ),
            ),
            (
                429,
                "rate_limit_error",
                vec![("retry-after", "2")],
                true,
                row(
                    "overloaded",
                    Dropped,
                    Neutral,
                    Some(2 * SEC),
                    Then::Retry(429, Some(2 * SEC)),
                ),
            ),
            // retry-after-ms wins over retry-after.
            (
                429,
                "rate_limit_error",
                vec![("retry-after-ms", "250"), ("retry-after", "2")],
                false,
                row(
                    "overloaded",
                    Dropped,
                    Neutral,
                    Some(SEC / 4),
                    Then::Retry(429, Some(SEC / 4)),
                ),
            ),
            // Budgets with headroom: a concurrency limit. With an adaptive limit only this
            // call waits; with a fixed one every call pauses.
            (
                429,
                "rate_limit_error",
                [HEADROOM, &[("retry-after", "3")]].concat(),
                true,
                row(
                    "overloaded",
                    Dropped,
                    Neutral,
                    None,
                    Then::Retry(429, Some(3 * SEC)),
                ),
            ),
            (
                429,
                "rate_limit_error",
                [HEADROOM, &[("retry-after", "3")]].concat(),
                false,
                row(
                    "overloaded",
                    Dropped,
                    Neutral,
                    Some(3 * SEC),
                    Then::Retry(429, Some(3 * SEC)),
                ),
            ),
            // A spent budget without retry-after: its reset is the hint, and every call pauses.
            (
                429,
                "rate_limit_error",
                SPENT.to_vec(),
                true,
                row(
                    "overloaded",
                    Dropped,
                    Neutral,
                    Some(7 * SEC),
                    Then::Retry(429, Some(7 * SEC)),
                ),
            ),
            // The spend limit: the server says not to retry.
            (
                429,
                "rate_limit_error",
                vec![("x-should-retry", "false")],
                false,
                row(
                    "overloaded",
                    Dropped,
                    Neutral,
                    None,
                    Then::GiveUp(429, None),
                ),
            ),
            (
                500,
                "api_error",
                vec![],
                false,
                row("error", Served, Failure, None, Then::Retry(500, None)),
            ),
            (
                500,
                "api_error",
                vec![("x-should-retry", "false")],
                false,
                row("error", Served, Failure, None, Then::GiveUp(500, None)),
            ),
            // 503 counts as overload in the metrics but is not a push-back: no cool-down.
            (
                503,
                "",
                vec![("retry-after", "1")],
                false,
                row(
                    "overloaded",
                    Served,
                    Failure,
                    None,
                    Then::Retry(503, Some(SEC)),
                ),
            ),
            (
                504,
                "timeout_error",
                vec![],
                false,
                row("error", Served, Failure, None, Then::Retry(504, None)),
            ),
            (
                529,
                "overloaded_error",
                vec![],
                false,
                row("overloaded", Dropped, Failure, None, Then::Retry(529, None)),
            ),
            // An overload pauses every call even when the limit adapts and budgets have room.
            (
                529,
                "overloaded_error",
                [HEADROOM, &[("retry-after", "4")]].concat(),
                true,
                row(
                    "overloaded",
                    Dropped,
                    Failure,
                    Some(4 * SEC),
                    Then::Retry(529, Some(4 * SEC)),
                ),
            ),
            // x-should-retry: true makes even a 400 an upstream failure worth retrying.
            (
                400,
                "invalid_request_error",
                vec![("x-should-retry", "true")],
                false,
                row("error", Served, Failure, None, Then::Retry(400, None)),
            ),
        ];
        for (status, kind, pairs, adapts, want) in table {
            let body = if status == 200 {
                ok_body.clone()
            } else {
                error_body(kind)
            };
            let attempt = Attempt::from_response(status, headers(&pairs), &body, NOW);
            let got = classify(attempt, SEC / 10, TIMEOUT, adapts);
            // Every answered status but a rejection reports its rate-limit headers.
            let reports_headers = !matches!(want.then, Then::Fail(_));
            assert_eq!(
                expect(&got),
                want,
                "HTTP {status} {kind} {pairs:?} adapts={adapts}"
            );
            assert_eq!(
                got.headers.is_some(),
                reports_headers,
                "HTTP {status} headers"
            );
            assert_eq!(got.usage.is_some(), status == 200, "HTTP {status} usage");
        }
    }

    #[test]
    fn a_success_reports_its_tokens_and_headers() {
        let body = json!({"content": [], "usage": {"input_tokens": 3, "output_tokens": 4}});
        let got = classify(
            Attempt::from_response(200, headers(HEADROOM), body.to_string().as_bytes(), NOW),
            SEC,
            TIMEOUT,
            false,
        );
        assert_eq!(
            got.usage,
            Some(Usage {
                input_tokens: 3,
                output_tokens: 4
            })
        );
        assert_eq!(got.headers.expect("headers").len(), HEADROOM.len());
    }

    #[test]
    fn error_details_name_the_status_and_the_api_error() {
        let detail = |body: &[u8]| match Attempt::from_response(500, HeaderMap::new(), body, NOW) {
            Attempt::Failed { detail, .. } => detail,
            other => panic!("{other:?}"),
        };
        assert_eq!(detail(&error_body("api_error")), "HTTP 500 api_error: m");
        assert_eq!(detail(b"<html>bad gateway</html>"), "HTTP 500");
    }

    /// Failures without a usable status: an unreadable 2xx, a stream cut off or stalled after
    /// the headers, no answer at all, and the request's own deadline.
    #[test]
    fn timeouts_and_broken_responses_classify_by_what_arrived() {
        use LimitSignal::{Dropped, Served, Silent};
        use Verdict::{Failure, Neutral};
        let short = Duration::from_millis(500);
        let table: Vec<(&str, Attempt, Duration, Expect)> = vec![
            (
                "unreadable 2xx",
                Attempt::from_response(200, HeaderMap::new(), b"{\"content\": 7}", NOW),
                SEC / 10,
                row("error", Served, Failure, None, Then::Fail("unreadable")),
            ),
            (
                "body cut off",
                Attempt::Broken("model API response was cut off".into()),
                SEC / 10,
                row("error", Served, Failure, None, Then::Fail("unreadable")),
            ),
            (
                "stalled after the headers",
                Attempt::timed_out(true, short, TIMEOUT),
                short,
                row("timeout", Dropped, Failure, None, Then::Fail("stalled")),
            ),
            (
                "connection refused",
                Attempt::NoResponse("could not reach the model API".into()),
                SEC / 10,
                row("network_error", Served, Failure, None, Then::Retry(0, None)),
            ),
            (
                "no answer within the attempt timeout",
                Attempt::timed_out(false, short, TIMEOUT),
                short,
                row("timeout", Dropped, Failure, None, Then::Retry(0, None)),
            ),
            (
                "the request's deadline",
                Attempt::timed_out(true, TIMEOUT, TIMEOUT),
                TIMEOUT,
                row("timeout", Silent, Neutral, None, Then::Deadline),
            ),
            (
                "the request's deadline before the attempt timeout",
                Attempt::timed_out(false, short, short / 2),
                short / 2,
                row("timeout", Silent, Neutral, None, Then::Deadline),
            ),
        ];
        for (case, attempt, elapsed, want) in table {
            assert_eq!(
                expect(&classify(attempt, elapsed, short, false)),
                want,
                "{case}"
            );
        }
    }

    #[test]
    fn timer_messages_say_which_timer_and_how_long() {
        let message = |answered| match Attempt::timed_out(answered, SEC, TIMEOUT) {
            Attempt::Broken(m) | Attempt::NoResponse(m) => m,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            message(true),
            "the model API response stalled for 1000 ms after it started"
        );
        assert_eq!(
            message(false),
            "the model API did not answer within 1000 ms (CLAUDE_ATTEMPT_TIMEOUT_MS)"
        );
    }

    #[test]
    fn no_answer_is_unreachable_or_timed_out_by_the_timer() {
        let failure = |attempt, elapsed| match classify(attempt, elapsed, SEC, false).next {
            Next::Upstream { failure, .. } => failure,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            failure(Attempt::NoResponse("refused".into()), SEC / 10),
            UpstreamFailure::Unreachable
        );
        assert_eq!(
            failure(Attempt::timed_out(false, SEC, TIMEOUT), SEC),
            UpstreamFailure::TimedOut
        );
        assert_eq!(
            failure(
                Attempt::from_response(502, HeaderMap::new(), b"", NOW),
                SEC / 10
            ),
            UpstreamFailure::Status(502)
        );
    }
}
