//! The one worker loop. Pacing is data: in closed loop the next request goes out when the last
//! one ends; in open loop the worker takes the next intended send time from the pacer. Latency
//! is measured from the intended time (coordinated-omission corrected) and, in open loop, also
//! from the actual send. The worker records into its shard of the step's [`SharedRecorders`]
//! (one short lock per attempt) and keeps only its counters to itself.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::sync::{mpsc, Mutex, OwnedSemaphorePermit};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::client::{Conn, Connector, ExchangeError, Prepared, Reply};
use crate::record::{parse_retry_after, OutcomeClass, Recorder, Sample, SharedRecorders};

/// A connect failure is retried after this pause, so a dead target is not hammered in a spin.
const CONNECT_RETRY_PAUSE: Duration = Duration::from_millis(10);

/// Open loop: the slots handed out by the pacer, shared by the step's workers.
pub struct OpenFeed {
    /// Intended send times, each with an in-flight permit held until the request ends.
    pub rx: Mutex<mpsc::UnboundedReceiver<(Instant, OwnedSemaphorePermit)>>,
    /// Workers waiting for a slot that the pacer has not yet reserved.
    pub idle: AtomicUsize,
}

/// How a worker decides when to send.
#[derive(Clone)]
pub enum Pacing {
    /// Send the next request as soon as the last one ends.
    Closed,
    /// Take intended send times from the pacer.
    Open(Arc<OpenFeed>),
}

/// What every worker of one step shares.
pub struct StepContext {
    /// Requests, indexed like the plan's.
    pub requests: Vec<Prepared>,
    /// Cumulative weights for the weighted choice (empty when there is one request).
    pub cumulative_weights: Vec<u32>,
    /// Opens connections.
    pub connector: Connector,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Samples completing before this are warmup: sent, not counted.
    pub measure_start: Instant,
    /// No request starts after this; those in flight are cut.
    pub step_end: Instant,
    /// Last second index of the measured part (a response landing right at the end joins it).
    pub last_second: u64,
    /// Wait out Retry-After on 429/503.
    pub honor_retry_after: bool,
    /// Ctrl-C.
    pub cancel: CancellationToken,
    /// Where attempts are recorded (and per-second flushes sent from).
    pub recorders: SharedRecorders,
    /// Seed of the weighted choice.
    pub seed: u64,
}

enum Ended {
    Done(Result<Reply, OutcomeClass>),
    Timer,
    Cut,
}

/// Runs one worker until the step ends, is cancelled, or (open loop) the pacer is done.
pub async fn run_worker(ctx: Arc<StepContext>, pacing: Pacing, id: u64) {
    // Counters only (no histograms): added to the shard when the worker ends.
    let mut rec = Recorder::new(0);
    let shard = ctx.recorders.shard_of(id);
    let mut conn: Option<Conn> = None;
    let mut rng = SmallRng::seed_from_u64(
        ctx.seed
            .wrapping_add(id.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
    );
    let total_weight = ctx.cumulative_weights.last().copied().unwrap_or(0);
    let open = matches!(pacing, Pacing::Open(_));
    let timer = tokio::time::sleep_until(ctx.step_end);
    tokio::pin!(timer);
    let cancelled = ctx.cancel.cancelled();
    tokio::pin!(cancelled);
    let mut now = Instant::now();
    let mut first_slot = true;
    // Open loop: the in-flight permit of the last request, released only after this worker is
    // counted idle again, so the pacer never spawns a worker it does not need.
    let mut held: Option<OwnedSemaphorePermit> = None;

    loop {
        let intended = match &pacing {
            Pacing::Closed => {
                if now >= ctx.step_end || ctx.cancel.is_cancelled() {
                    break;
                }
                now
            }
            Pacing::Open(feed) => {
                if !first_slot {
                    feed.idle.fetch_add(1, Ordering::AcqRel);
                }
                first_slot = false;
                drop(held.take());
                let slot = tokio::select! {
                    s = async { feed.rx.lock().await.recv().await } => s,
                    _ = &mut cancelled => None,
                };
                match slot {
                    // A slot still queued when the step ends is not sent: it could not complete.
                    Some(_) if Instant::now() >= ctx.step_end => {
                        rec.unsent += 1;
                        break;
                    }
                    Some((t, permit)) => {
                        held = Some(permit);
                        t
                    }
                    None => break,
                }
            }
        };
        let start = if open { Instant::now() } else { intended };
        let which = if total_weight == 0 {
            0
        } else {
            let r = rng.random_range(0..total_weight);
            ctx.cumulative_weights.partition_point(|&w| w <= r)
        };
        let timeout_at = start + ctx.timeout;
        let limit = timeout_at.min(ctx.step_end);
        // The timer is only pulled in, never pushed out per request: an early firing re-arms it
        // to this request's limit. Saves a timer-wheel update on every request.
        if timer.deadline() > limit {
            timer.as_mut().reset(limit);
        }
        let ended = {
            let exchange = attempt(
                &mut conn,
                &ctx.connector,
                &ctx.requests[which],
                &mut rec.connections_opened,
            );
            tokio::pin!(exchange);
            loop {
                tokio::select! {
                    biased;
                    r = &mut exchange => break Ended::Done(r),
                    _ = &mut timer => {
                        if Instant::now() >= limit {
                            break Ended::Timer;
                        }
                        timer.as_mut().reset(limit);
                    }
                    _ = &mut cancelled => break Ended::Cut,
                }
            }
        };
        now = Instant::now();
        let result = match ended {
            Ended::Done(r) => r,
            Ended::Timer if timeout_at <= ctx.step_end => {
                conn = None;
                Err(OutcomeClass::Timeout)
            }
            Ended::Timer | Ended::Cut => {
                rec.in_flight_at_end += 1;
                break;
            }
        };
        let class = match &result {
            Ok(reply) => OutcomeClass::from_status(reply.status),
            Err(c) => *c,
        };
        let retry_after = match &result {
            Ok(Reply {
                retry_after: Some(v),
                ..
            }) => parse_retry_after(v.as_bytes()),
            _ => None,
        };
        if now >= ctx.measure_start {
            let server_timing = match &result {
                Ok(Reply {
                    server_timing: Some(st),
                    ..
                }) => Some(st.as_bytes()),
                _ => None,
            };
            let sample = Sample {
                name: which,
                class,
                corrected_us: (now - intended).as_micros() as u64,
                uncorrected_us: open.then(|| (now - start).as_micros() as u64),
                retry_after_s: retry_after,
                server_timing,
                second: (now - ctx.measure_start).as_secs().min(ctx.last_second),
            };
            ctx.recorders.record(shard, &sample);
        }
        let pause = match (class, retry_after) {
            (OutcomeClass::ConnectError, _) => Some(CONNECT_RETRY_PAUSE),
            (_, Some(ra)) if ctx.honor_retry_after => Some(Duration::from_secs_f64(ra.min(3600.0))),
            _ => None,
        };
        if let Some(p) = pause {
            let until = (now + p).min(ctx.step_end);
            tokio::select! {
                _ = tokio::time::sleep_until(until) => {}
                _ = &mut cancelled => break,
            }
            now = Instant::now();
        }
    }
    ctx.recorders.absorb(shard, &rec);
}

/// One attempt on the worker's connection, opening one if needed. A stale keep-alive connection
/// (closed before the request went out) is replaced once without counting an error.
async fn attempt(
    conn: &mut Option<Conn>,
    connector: &Connector,
    req: &Prepared,
    opened: &mut u64,
) -> Result<Reply, OutcomeClass> {
    for _ in 0..2 {
        let c = match conn {
            Some(c) => c,
            None => match connector.connect().await {
                Ok(c) => {
                    *opened += 1;
                    conn.insert(c)
                }
                Err(_) => return Err(OutcomeClass::ConnectError),
            },
        };
        match c.exchange(req).await {
            Ok(reply) => {
                if !c.reusable() {
                    *conn = None;
                }
                return Ok(reply);
            }
            Err(ExchangeError::NotReady) => *conn = None,
            Err(ExchangeError::Io) => {
                *conn = None;
                return Err(OutcomeClass::IoError);
            }
        }
    }
    Err(OutcomeClass::IoError)
}
