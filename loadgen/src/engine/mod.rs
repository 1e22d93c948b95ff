//! Runs a whole run: virtual users (closed loop) or the pacer and its workers (open loop) live
//! across every step; each step is finalized into a [`StepResult`] once its sending is over and
//! every one of its requests has resolved, while the next step's traffic already runs.

pub mod client;
pub mod h1;
pub mod head;
pub mod pacer;
pub mod step_state;
pub mod timeline;
pub mod worker;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::Uri;
use tokio::sync::{mpsc, Mutex};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::Unreachable;

/// Share of an open-loop step's measured window by which its sending may end past the window
/// (the pacer's own scheduling jitter) before the step counts as overrun: above it, the step's
/// duration runs to its last send and the run warns (see [`crate::hints::overrun_warning`]).
pub const OVERRUN_TOLERANCE: f64 = 0.01;
use crate::plan::{Load, Plan};
use crate::record::{Interval, Recorder, SharedRecorders, StepResult};
use client::{Connector, Prepared};
use step_state::{bump, StepState};
use timeline::Timeline;
use worker::{run_closed_user, run_open_worker, OpenFeed, RunContext};

/// `host:port` of a URI, the scheme's default port filled in.
pub fn authority_of(uri: &Uri) -> Option<String> {
    let a = uri.authority()?;
    let port = a
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        });
    let host = a.host();
    Some(if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    })
}

/// The engine of one run: the plan, the resolved targets, the tokens that stop it (`cancel`:
/// no new requests; `cut`: abandon those in flight).
pub struct Engine {
    plan: Arc<Plan>,
    connectors: Vec<Connector>,
    conn_slot: Vec<usize>,
    requests: Vec<Prepared>,
    cancel: CancellationToken,
    cut: CancellationToken,
    warmup_requests: Arc<AtomicU64>,
}

/// What the reachability check before a run did.
#[derive(Debug, Clone, Default)]
pub struct Preflight {
    /// Requests it sent (0 unless `--preflight-request`): they reach the target uncounted by
    /// any step, so the JSON reports them.
    pub requests: u64,
    /// With `--preflight-request`: each target's URL and the status it answered.
    pub answers: Vec<(Uri, u16)>,
}

/// A connect error as a user can act on it: a TLS handshake answered by plain HTTP says so.
pub fn describe_connect_error(e: &std::io::Error, uri: &Uri) -> String {
    let text = e.to_string();
    if uri.scheme_str() == Some("https")
        && (text.contains("InvalidContentType") || text.contains("corrupt message"))
    {
        let plain = uri.to_string().replacen("https://", "http://", 1);
        return format!(
            "the server answered the TLS handshake with plain HTTP: it does not speak TLS on \
             this port; use {plain}"
        );
    }
    format!("connect failed: {text}")
}

/// A run in progress: finalize its steps in order with [`Running::finish_step`].
pub struct Running {
    ctx: Arc<RunContext>,
    tasks: JoinSet<()>,
    names: Vec<String>,
    cancelled_at: Arc<std::sync::Mutex<Option<Instant>>>,
    /// One reading of both clocks, to date steps in wall-clock time.
    clock: (Instant, std::time::SystemTime),
}

impl Engine {
    /// Resolves every authority the requests go to (each keeps all its addresses, in order).
    pub async fn new(plan: Arc<Plan>, cancel: CancellationToken) -> Result<Engine, Unreachable> {
        let mut authorities: Vec<String> = Vec::new();
        let mut connectors = Vec::new();
        let mut conn_slot = Vec::new();
        for r in &plan.requests {
            let auth = authority_of(&r.uri).ok_or_else(|| Unreachable {
                url: r.uri.to_string(),
                reason: "no host".into(),
            })?;
            let slot = match authorities.iter().position(|a| *a == auth) {
                Some(i) => i,
                None => {
                    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(auth.as_str())
                        .await
                        .map_err(|e| Unreachable {
                            url: r.uri.to_string(),
                            reason: format!("cannot resolve {auth}: {e}"),
                        })?
                        .collect();
                    if addrs.is_empty() {
                        return Err(Unreachable {
                            url: r.uri.to_string(),
                            reason: format!("{auth} resolves to no address"),
                        });
                    }
                    let tls = match (r.uri.scheme_str(), &plan.tls) {
                        (Some("https"), Some(config)) => {
                            let host = r.uri.host().unwrap_or_default();
                            let host = host.trim_start_matches('[').trim_end_matches(']');
                            let name = rustls_pki_types::ServerName::try_from(host.to_string())
                                .map_err(|e| Unreachable {
                                    url: r.uri.to_string(),
                                    reason: format!("{host} is not a valid TLS server name: {e}"),
                                })?;
                            Some(client::TlsTarget {
                                connector: tokio_rustls::TlsConnector::from(config.clone()),
                                name,
                            })
                        }
                        _ => None,
                    };
                    connectors.push(Connector::new(addrs, plan.http2, plan.connect_timeout, tls));
                    authorities.push(auth);
                    authorities.len() - 1
                }
            };
            conn_slot.push(slot);
        }
        let requests = plan
            .requests
            .iter()
            .map(|t| Prepared::new(t, plan.http2))
            .collect();
        Ok(Engine {
            plan,
            connectors,
            conn_slot,
            requests,
            cancel,
            cut: CancellationToken::new(),
            warmup_requests: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The token that abandons the requests in flight (after the stop's grace).
    pub fn cut_token(&self) -> CancellationToken {
        self.cut.clone()
    }

    /// Requests sent during warm-ups so far (over every run started on this engine): they
    /// reach the target but no step counts them.
    pub fn warmup_requests(&self) -> u64 {
        self.warmup_requests.load(Ordering::SeqCst)
    }

    /// Checks each distinct target is reachable: connects (TCP, the TLS handshake for https,
    /// the HTTP/2 handshake with `--http2`), and with `--preflight-request` also sends its first
    /// request once (any HTTP response means reachable).
    pub async fn preflight(&self) -> Result<Preflight, Unreachable> {
        let mut done = Preflight::default();
        for (slot, connector) in self.connectors.iter().enumerate() {
            let which = self.conn_slot.iter().position(|&s| s == slot).unwrap_or(0);
            let uri = &self.plan.requests[which].uri;
            let unreachable = |reason: String| Unreachable {
                url: uri.to_string(),
                reason,
            };
            let mut conn = connector
                .connect()
                .await
                .map_err(|e| unreachable(describe_connect_error(&e, uri)))?;
            if !self.plan.preflight_request {
                continue;
            }
            done.requests += 1;
            let status = match tokio::time::timeout(
                self.plan.timeout,
                conn.exchange(&self.requests[which], 0),
            )
            .await
            {
                Ok(Ok(reply)) => reply.status,
                Ok(Err(_)) => {
                    return Err(unreachable(
                        "the connection failed before a response".into(),
                    ))
                }
                Err(_) => {
                    return Err(unreachable(format!(
                        "no response within --timeout {}",
                        humantime::format_duration(self.plan.timeout)
                    )))
                }
            };
            done.answers.push((uri.clone(), status));
        }
        Ok(done)
    }

    /// Resolves when the run is stopped (SIGINT/SIGTERM): no new requests from then on.
    pub fn cancelled(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.cancel.cancelled()
    }

    /// Histogram range: a latency never exceeds the timeout (a request is resolved by then);
    /// corrected open-loop latency may add the wait for a permit, itself capped by the timeout.
    fn high_us(&self) -> u64 {
        (self.plan.timeout * 2 + Duration::from_secs(1))
            .as_micros()
            .min(u128::from(u64::MAX >> 1)) as u64
    }

    /// Starts the run on `timeline`; step `i`'s per-second intervals go to `intervals[i]`.
    pub fn start(
        &self,
        timeline: Timeline,
        intervals: Vec<mpsc::UnboundedSender<Interval>>,
    ) -> Running {
        let plan = &self.plan;
        let shards = tokio::runtime::Handle::current().metrics().num_workers();
        let high_us = self.high_us();
        let steps = intervals
            .into_iter()
            .map(|tx| {
                Arc::new(StepState::new(SharedRecorders::new(
                    shards,
                    plan.requests.len(),
                    high_us,
                    tx,
                )))
            })
            .collect();
        let ctx = Arc::new(RunContext {
            requests: self.requests.clone(),
            connectors: self.connectors.clone(),
            conn_slot: self.conn_slot.clone(),
            flows: crate::plan::flow::FlowTable::new(plan.flows.clone()),
            timeout: plan.timeout,
            timeline,
            steps,
            honor_retry_after: plan.honor_retry_after,
            cancel: self.cancel.clone(),
            cut: self.cut.clone(),
            seed: plan.seed,
            instance: plan.instance.map_or(0, |i| i.index),
            spread: plan.spawn_over.unwrap_or(plan.warmup),
            think: plan.think_time,
            close_between: plan.close_between,
            warmup_requests: self.warmup_requests.clone(),
        });
        let mut tasks = JoinSet::new();
        let open = ctx
            .timeline
            .windows
            .iter()
            .any(|w| matches!(w.load, Load::Open { .. }));
        if open {
            let c = ctx.clone();
            tasks.spawn(async move {
                let (tx, rx) = mpsc::unbounded_channel();
                let feed = Arc::new(OpenFeed {
                    rx: Mutex::new(rx),
                    idle: AtomicUsize::new(0),
                });
                let mut workers = JoinSet::new();
                let mut next_id = 0u64;
                pacer::pace(&c, &feed, tx, || {
                    workers.spawn(run_open_worker(c.clone(), feed.clone(), next_id));
                    next_id += 1;
                })
                .await;
                while workers.join_next().await.is_some() {}
                // Slots still queued when the workers stopped (interrupted): never sent.
                let mut rx = feed.rx.lock().await;
                while let Ok(slot) = rx.try_recv() {
                    if slot.pending.is_some() {
                        bump(&c.steps[slot.step].unsent);
                    }
                }
            });
        } else {
            // One task per virtual user; it waits for the first step that needs it.
            for id in 0..ctx.timeline.max_concurrency() {
                tasks.spawn(run_closed_user(ctx.clone(), id));
            }
        }
        let cancelled_at = Arc::new(std::sync::Mutex::new(None));
        {
            let (cancel, at) = (self.cancel.clone(), cancelled_at.clone());
            tokio::spawn(async move {
                cancel.cancelled().await;
                *at.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
            });
        }
        Running {
            ctx,
            tasks,
            names: plan.requests.iter().map(|r| r.name.clone()).collect(),
            cancelled_at,
            clock: (Instant::now(), std::time::SystemTime::now()),
        }
    }
}

/// A read-only view of a running run's steps for the live view: what each step has recorded so
/// far, its requests in flight and its late sends, read about once a second.
#[derive(Clone)]
pub struct Probe {
    steps: Vec<Arc<StepState>>,
    names: usize,
}

impl Probe {
    /// Steps in the run this probe watches.
    pub fn steps(&self) -> usize {
        self.steps.len()
    }

    /// Attempts of step `index` (0-based) per request name and outcome class so far.
    pub fn counts(&self, index: usize) -> Vec<[u64; crate::record::CLASSES]> {
        self.steps
            .get(index)
            .map(|s| s.recorders.peek_counts(self.names))
            .unwrap_or_default()
    }

    /// Requests sent in the steps' measured parts and not yet resolved, over every step (a
    /// warm-up's requests join no step, so they are not counted).
    pub fn in_flight(&self) -> u64 {
        self.steps.iter().map(|s| s.unresolved()).sum()
    }

    /// Open loop: sends that waited for a free connection, over every step.
    pub fn late_sends(&self) -> u64 {
        self.steps
            .iter()
            .map(|s| s.late_sends.load(Ordering::Relaxed))
            .sum()
    }
}

impl Running {
    /// The live view's read-only handle on the run's steps.
    pub fn probe(&self) -> Probe {
        Probe {
            steps: self.ctx.steps.clone(),
            names: self.names.len(),
        }
    }

    /// The run's step windows.
    pub fn timeline(&self) -> &Timeline {
        &self.ctx.timeline
    }

    fn cancelled_at(&self) -> Option<Instant> {
        *self.cancelled_at.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until step `index` (0-based) has ended and every request of it is resolved, and
    /// returns its result; `None` when the run was interrupted before the step began.
    pub async fn finish_step(&self, index: usize) -> Option<StepResult> {
        let ctx = &self.ctx;
        let w = ctx.timeline.windows[index];
        let step = &ctx.steps[index];
        tokio::select! {
            _ = tokio::time::sleep_until(w.end) => {}
            _ = ctx.cancel.cancelled() => {}
        }
        if matches!(w.load, Load::Closed { .. }) || ctx.cancel.is_cancelled() {
            step.close();
        }
        // The watcher that stamps the stop's time may not have run yet: the stop is then no
        // later than now, and a step whose start is still ahead never began (issue 33: it was
        // written as cut when step 1's warm-up resolved before the watcher ran).
        let cut_before_start = || {
            self.cancelled_at()
                .unwrap_or_else(Instant::now)
                .lt(&w.start)
        };
        if ctx.cancel.is_cancelled() && cut_before_start() {
            step.recorders.finish(0);
            return None;
        }
        // After a stop, the requests in flight finish within the grace or are cut at its end:
        // this never waits past the timeout.
        step.resolved().await;
        // Interrupted: the stop came while the step was sending, or one of the step's requests
        // was still unresolved when the grace ended. A step whose sending was over keeps its
        // result when its requests finish in the grace. The watcher that stamps the stop's time
        // may not have run yet: then the stop is no later than now.
        let cut_at = self
            .cancelled_at()
            .or_else(|| ctx.cancel.is_cancelled().then(Instant::now));
        let mut merged: Recorder = step.recorders.finish(self.names.len());
        step.add_counters(&mut merged);
        let interrupted = merged.in_flight_at_end > 0 || cut_at.is_some_and(|c| c < w.end);
        let overrun = match w.load {
            Load::Open { .. } if !interrupted => step
                .closed_at()
                .map(|t| t.saturating_duration_since(w.end))
                .filter(|d| {
                    d.as_secs_f64() > OVERRUN_TOLERANCE * (w.end - w.measure_start).as_secs_f64()
                }),
            _ => None,
        };
        let ended = match (cut_at, overrun) {
            (Some(t), _) if interrupted => t.min(w.end),
            (_, Some(d)) => w.end + d,
            _ => w.end,
        };
        if overrun.is_some() {
            // The window's flow covers the window only, not the overrun: no in-flight mean and
            // no Little's law for this step, rather than figures over the wrong time.
            merged.flow = None;
        }
        let duration_s = ended
            .saturating_duration_since(w.measure_start)
            .as_secs_f64();
        let mut result = StepResult::from_recorder(
            index + 1,
            w.load,
            duration_s,
            &merged,
            &self.names,
            interrupted,
        );
        result.overrun_s = overrun.map(|d| d.as_secs_f64());
        let (i0, s0) = self.clock;
        result.started_at = Some(if w.measure_start >= i0 {
            s0 + (w.measure_start - i0)
        } else {
            s0 - (i0 - w.measure_start)
        });
        Some(result)
    }

    /// Closes every step left unfinalized and waits for every virtual user to stop.
    pub async fn join(mut self) {
        for step in &self.ctx.steps {
            step.close();
            // Ends the collectors of steps that never began (an interrupted run).
            step.recorders.finish(0);
        }
        while self.tasks.join_next().await.is_some() {}
    }
}
