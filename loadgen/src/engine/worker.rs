//! Virtual users. A closed-loop user lives for the whole run: it keeps its connection across
//! steps, sends its next request when the last one ends, sits out the steps whose concurrency is
//! below its id, and stops when the last step ends. An open-loop worker takes intended send
//! times from the pacer. Every request belongs to the step in which it was (intended to be)
//! sent and is recorded there whenever it resolves: answered, failed, or timed out at
//! `--timeout`, whatever the step boundaries.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::sync::{mpsc, Mutex, OwnedSemaphorePermit};
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use super::client::{Conn, Connector, ExchangeError, Prepared, Reply};
use super::step_state::{bump, Pending, StepState};
use super::timeline::{Phase, Timeline};
use crate::plan::flow::{Cursor, FlowStep};
use crate::plan::Load;
use crate::record::{parse_retry_after, OutcomeClass, Sample, WindowFlow};

/// A connect failure is retried after this pause, so a dead target is not hammered in a spin.
const CONNECT_RETRY_PAUSE: Duration = Duration::from_millis(10);

/// One open-loop send handed from the pacer to a worker.
pub struct Slot {
    /// Intended send time (latency runs from here).
    pub intended: Instant,
    /// In-flight permit, held until the request ends.
    pub permit: OwnedSemaphorePermit,
    /// 0-based step the send belongs to.
    pub step: usize,
    /// The step's hold on this request (`None` during a warm-up: not counted).
    pub pending: Option<Pending>,
}

/// Open loop: the slots handed out by the pacer, shared by the workers.
pub struct OpenFeed {
    /// Slots in intended order.
    pub rx: Mutex<mpsc::UnboundedReceiver<Slot>>,
    /// Workers waiting for a slot that the pacer has not yet reserved.
    pub idle: AtomicUsize,
}

/// What every virtual user of the run shares.
pub struct RunContext {
    /// Requests, indexed like the plan's.
    pub requests: Vec<Prepared>,
    /// Connector per request (its own authority).
    pub connectors: Vec<Connector>,
    /// Index of each request's connector; a user keeps one connection per connector.
    pub conn_slot: Vec<usize>,
    /// Single requests and sessions, with the weights of the choice among them.
    pub flows: crate::plan::flow::FlowTable,
    /// Per-request timeout.
    pub timeout: Duration,
    /// The steps' windows.
    pub timeline: Timeline,
    /// The steps' live state.
    pub steps: Vec<Arc<StepState>>,
    /// Wait out Retry-After on 429/503.
    pub honor_retry_after: bool,
    /// Ctrl-C / SIGTERM: send no new request.
    pub cancel: CancellationToken,
    /// The stop's grace is over (or a second Ctrl-C): abandon the requests in flight.
    pub cut: CancellationToken,
    /// Seed of the weighted choice, the users' start offsets and the arrivals.
    pub seed: u64,
    /// This generator's `--instance` index (0 alone): its arrivals are a stream of their own.
    pub instance: u32,
    /// Closed loop: users that start together (a run, a step adding users) start spread
    /// uniformly over this long, so they do not run in lockstep.
    pub spread: Duration,
    /// Closed loop: the pause after each answer (`--think-time`).
    pub think: Option<crate::think::ThinkTime>,
    /// Closed loop: a user closes its connections before thinking (`--close-between`).
    pub close_between: bool,
    /// Requests sent during warm-ups (not counted by any step), for the JSON.
    pub warmup_requests: Arc<AtomicU64>,
}

enum Ended {
    Done(Result<Reply, OutcomeClass>),
    Timer,
    Cut,
}

/// One user's connections and per-request choice.
struct User {
    id: u64,
    conns: Vec<Option<Conn>>,
    rng: SmallRng,
    /// Where the user is in its current single request or session.
    cursor: Cursor,
    /// The user paused after its last answer: its connections may have been closed meanwhile.
    paused: bool,
    timer: std::pin::Pin<Box<tokio::time::Sleep>>,
    /// Resolves when the run is cut. Made once per user, not per request: a fresh `cancelled()`
    /// future joins the token's waiter list on every request and leaves it again, two more
    /// locks on the hot path.
    cut: std::pin::Pin<Box<WaitForCancellationFutureOwned>>,
}

impl User {
    fn new(ctx: &RunContext, id: u64) -> Self {
        Self {
            id,
            conns: (0..ctx.connectors.len()).map(|_| None).collect(),
            rng: SmallRng::seed_from_u64(
                ctx.seed
                    .wrapping_add(id.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            ),
            cursor: Cursor::default(),
            paused: false,
            timer: Box::pin(tokio::time::sleep_until(ctx.timeline.end() + ctx.timeout)),
            cut: Box::pin(ctx.cut.clone().cancelled_owned()),
        }
    }

    /// The next request: the session's next, or a new single request or session drawn by weight.
    fn choose(&mut self, ctx: &RunContext) -> FlowStep {
        let rng = &mut self.rng;
        ctx.flows
            .next(&mut self.cursor, |total| rng.random_range(0..total))
    }

    /// Sends one request of step `index` sent at `start` (latency from `intended`) and records
    /// it when `pending` holds it for the step. Returns the pause before the next request, or
    /// `None` when the run was cut.
    async fn send(
        &mut self,
        ctx: &RunContext,
        index: usize,
        intended: Instant,
        start: Instant,
        open: bool,
        pending: Option<Pending>,
    ) -> Option<Option<Duration>> {
        let step = &ctx.steps[index];
        let shard = step.recorders.shard_of(self.id);
        let FlowStep {
            request: which,
            think: step_think,
        } = self.choose(ctx);
        if pending.is_none() {
            bump(&ctx.warmup_requests);
        }
        let limit = start + ctx.timeout;
        // The timer is only pulled in, never pushed out per request: an early firing re-arms it
        // to this request's limit. Saves a timer-wheel update on every request.
        if self.timer.deadline() > limit {
            self.timer.as_mut().reset(limit);
        }
        let ended = {
            let slot = ctx.conn_slot[which];
            let request = &ctx.requests[which];
            let exchange = attempt(
                &mut self.conns[slot],
                &ctx.connectors[slot],
                request,
                request.pick(),
                step,
                shard,
                self.paused,
            );
            tokio::pin!(exchange);
            loop {
                tokio::select! {
                    biased;
                    r = &mut exchange => break Ended::Done(r),
                    _ = &mut self.timer => {
                        if Instant::now() >= limit {
                            break Ended::Timer;
                        }
                        self.timer.as_mut().reset(limit);
                    }
                    _ = &mut self.cut => break Ended::Cut,
                }
            }
        };
        let now = Instant::now();
        let result = match ended {
            Ended::Done(r) => r,
            Ended::Timer => {
                self.conns[ctx.conn_slot[which]] = None;
                Err(OutcomeClass::Timeout)
            }
            Ended::Cut => {
                if pending.is_some() {
                    bump(&step.in_flight_at_end);
                }
                return None;
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
        let wait = match (class, retry_after) {
            (OutcomeClass::ConnectError, _) => Some(CONNECT_RETRY_PAUSE),
            (_, Some(ra)) if ctx.honor_retry_after => Some(Duration::from_secs_f64(ra.min(3600.0))),
            _ => None,
        };
        // A closed-loop user thinks after every answer (after any Retry-After wait): the
        // session request's own think time, else `--think-time`.
        let think = match step_think.or(ctx.think).filter(|_| !open) {
            Some(t) => Some(t.sample(&mut self.rng)),
            None => None,
        };
        // A thinking user holds no connection with --close-between: its next request opens one,
        // as a real client idle that long would, so the target sees many users' reconnects.
        if think.is_some() && ctx.close_between {
            self.conns.iter_mut().for_each(|c| *c = None);
        }
        let pause = match (wait, think) {
            (None, None) => None,
            (w, t) => Some(w.unwrap_or_default() + t.unwrap_or_default()),
        };
        // Before `pending` resolves the step: the next step is finalized only after this one,
        // so every overlap of a window is in before that window's step is read.
        let own = record_flow(ctx, self.id, start, now, pending.is_some().then_some(index));
        if pending.is_some() {
            let server_timing = match &result {
                Ok(Reply {
                    server_timing: Some(st),
                    ..
                }) => Some(st.as_bytes()),
                _ => None,
            };
            let w = &ctx.timeline.windows[index];
            let sample = Sample {
                name: which,
                class,
                corrected_us: (now - intended).as_micros() as u64,
                uncorrected_us: open.then(|| (now - start).as_micros() as u64),
                retry_after_s: retry_after,
                server_timing,
                second: now.saturating_duration_since(w.measure_start).as_secs(),
                status: result.as_ref().ok().map(|r| r.status),
                flow: WindowFlow {
                    busy_s: own.as_secs_f64(),
                    pause_s: pause.unwrap_or_default().as_secs_f64(),
                    think_s: think.unwrap_or_default().as_secs_f64(),
                },
            };
            step.recorders.record(shard, &sample);
        }
        drop(pending);
        self.paused = pause.is_some();
        Some(pause)
    }

    /// Closed loop: a uniform offset in `0..spread` from the user's own seeded stream.
    fn start_offset(&mut self, spread: Duration) -> Duration {
        if spread.is_zero() {
            Duration::ZERO
        } else {
            spread.mul_f64(self.rng.random::<f64>())
        }
    }
}

/// Adds the time a request was in flight (`sent..answered`) to each measured window it overlaps,
/// except the share of step `own`'s window, which it returns for the caller to record with the
/// request's own sample: one shard lock per request, not two, when a request stays in its step.
fn record_flow(
    ctx: &RunContext,
    user: u64,
    sent: Instant,
    answered: Instant,
    own: Option<usize>,
) -> Duration {
    if let Some(busy) = own.and_then(|i| ctx.timeline.inside_measured(i, sent, answered)) {
        return busy;
    }
    let mut own_busy = Duration::ZERO;
    for (j, busy) in ctx.timeline.measured_overlaps(sent, answered) {
        if Some(j) == own {
            own_busy = busy;
            continue;
        }
        let step = &ctx.steps[j];
        step.recorders.record_flow(
            step.recorders.shard_of(user),
            WindowFlow {
                busy_s: busy.as_secs_f64(),
                ..Default::default()
            },
        );
    }
    own_busy
}

/// Runs closed-loop virtual user `id` until the last step ends or the run is cut.
pub async fn run_closed_user(ctx: Arc<RunContext>, id: u32) {
    let mut user = User::new(&ctx, u64::from(id));
    let mut now = Instant::now();
    // Wait for the first step that needs this user; a user retired by a step comes back the
    // same way. Users joining together at a step's start spread over `ctx.spread`.
    let mut waiting = true;
    while !ctx.cancel.is_cancelled() {
        if waiting {
            waiting = false;
            let Some(back) = ctx.timeline.next_active(id, now) else {
                break;
            };
            let w = ctx.timeline.windows[ctx.timeline.phase(back).index().unwrap_or(0)];
            let spread = ctx.spread.min(w.end.saturating_duration_since(back));
            let at = back + user.start_offset(spread);
            if at > now {
                tokio::select! {
                    _ = tokio::time::sleep_until(at) => {}
                    _ = ctx.cancel.cancelled() => break,
                }
            }
            now = Instant::now();
            continue;
        }
        let (index, measured) = match ctx.timeline.phase(now) {
            Phase::Over => break,
            Phase::Step { index, measured } => (index, measured),
        };
        let active = matches!(ctx.timeline.windows[index].load,
            Load::Closed { concurrency } if id < concurrency);
        if !active {
            // Retired for this step: close the connections, come back when a step needs us.
            user.conns.iter_mut().for_each(|c| *c = None);
            waiting = true;
            continue;
        }
        let pending = if measured {
            match ctx.steps[index].begin() {
                Some(p) => Some(p),
                // The step closed between reading the clock and joining it: the send belongs to
                // the next step.
                None => {
                    tokio::task::yield_now().await;
                    now = Instant::now();
                    continue;
                }
            }
        } else {
            None
        };
        let Some(pause) = user.send(&ctx, index, now, now, false, pending).await else {
            break;
        };
        now = Instant::now();
        if let Some(p) = pause {
            let until = (now + p).min(ctx.timeline.end());
            tokio::select! {
                _ = tokio::time::sleep_until(until) => {}
                _ = ctx.cancel.cancelled() => break,
            }
            now = Instant::now();
        }
    }
}

/// An open-loop worker that waited at least this long for its slot checks that the server has
/// not closed its idle keep-alive connection before sending on it (servers time idle
/// connections out after a second or more: nginx 75 s by default, hyper's header-read timeout
/// 10 s).
const IDLE_CHECK_AFTER: Duration = Duration::from_millis(100);

/// Runs one open-loop worker until the pacer is done or the run is cut.
pub async fn run_open_worker(ctx: Arc<RunContext>, feed: Arc<OpenFeed>, id: u64) {
    let mut user = User::new(&ctx, id);
    let mut first_slot = true;
    loop {
        if !first_slot {
            feed.idle.fetch_add(1, Ordering::AcqRel);
        }
        first_slot = false;
        let waiting = Instant::now();
        let slot = tokio::select! {
            s = async { feed.rx.lock().await.recv().await } => s,
            _ = ctx.cancel.cancelled() => None,
        };
        let Some(slot) = slot else { break };
        // A worker that waited for its slot left its connection idle that long: the server may
        // have closed it (its keep-alive timeout), so it is checked before a POST goes out on it,
        // as after a closed-loop user's think time. Short waits skip the check (a syscall).
        if waiting.elapsed() >= IDLE_CHECK_AFTER {
            user.paused = true;
        }
        let Slot {
            intended,
            permit,
            step,
            pending,
        } = slot;
        let start = Instant::now();
        let pause = user.send(&ctx, step, intended, start, true, pending).await;
        let Some(pause) = pause else { break };
        if let Some(p) = pause {
            // The connection waits (Retry-After), holding its permit as a busy connection would.
            let until = Instant::now() + p;
            tokio::select! {
                _ = tokio::time::sleep_until(until) => {}
                _ = ctx.cancel.cancelled() => break,
            }
        }
        // Released only now, after the wait: the pacer never hands a slot to a waiting worker.
        drop(permit);
    }
}

/// One attempt on the user's connection to the request's authority, opening one if needed. A
/// reused keep-alive connection found closed before any response byte is replaced and the
/// request resent once only when its method is idempotent (counted in `resent`); a POST or
/// PATCH is an I/O error then, never sent twice.
///
/// After the user paused (`idle`: think time, a Retry-After wait), a connection the server
/// closed meanwhile (its keep-alive timeout) is replaced before sending: nothing was sent, so
/// nothing is resent; it shows in `connections_opened`.
async fn attempt(
    conn: &mut Option<Conn>,
    connector: &Connector,
    req: &Prepared,
    variant: usize,
    step: &StepState,
    shard: usize,
    idle: bool,
) -> Result<Reply, OutcomeClass> {
    if idle && conn.as_ref().is_some_and(Conn::peer_closed) {
        *conn = None;
    }
    for round in 0..2 {
        let c = match conn {
            Some(c) => c,
            None => {
                let t0 = Instant::now();
                match connector.connect().await {
                    Ok(c) => {
                        bump(&step.connections_opened);
                        step.recorders
                            .record_connect(shard, t0.elapsed().as_micros() as u64);
                        conn.insert(c)
                    }
                    Err(_) => return Err(OutcomeClass::ConnectError),
                }
            }
        };
        match c.exchange(req, variant).await {
            Ok(reply) => {
                if !c.reusable() {
                    *conn = None;
                }
                return Ok(reply);
            }
            Err(ExchangeError::NotReady) if round == 0 && req.idempotent() => {
                *conn = None;
                bump(&step.resent);
            }
            Err(_) => {
                *conn = None;
                return Err(OutcomeClass::IoError);
            }
        }
    }
    Err(OutcomeClass::IoError)
}
