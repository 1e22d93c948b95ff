//! Runs steps: spawns the workers (closed loop) or the pacer and its workers (open loop), waits
//! for the step to end or Ctrl-C, merges the workers' recorders into a [`StepResult`].

pub mod client;
pub mod h1;
pub mod pacer;
pub mod worker;

use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Mutex};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::plan::{Load, Plan};
use crate::record::{Interval, SharedRecorders, StepResult};
use client::{Connector, Prepared};
use pacer::Schedule;
use worker::{run_worker, OpenFeed, Pacing, StepContext};

/// The target could not be reached before the run (exit code 3).
#[derive(Debug, thiserror::Error)]
#[error("target {url} is unreachable: {reason}")]
pub struct Unreachable {
    /// The URL tried.
    pub url: String,
    /// Why.
    pub reason: String,
}

/// The engine of one run: the plan, the resolved target, the cancellation token.
pub struct Engine {
    plan: Arc<Plan>,
    connector: Connector,
    requests: Vec<Prepared>,
    cancel: CancellationToken,
}

impl Engine {
    /// Resolves the target address.
    pub async fn new(plan: Arc<Plan>, cancel: CancellationToken) -> Result<Engine, Unreachable> {
        let unreachable = |reason: String| Unreachable {
            url: plan.url.clone(),
            reason,
        };
        let addr: SocketAddr = tokio::net::lookup_host(plan.authority.as_str())
            .await
            .map_err(|e| unreachable(format!("cannot resolve {}: {e}", plan.authority)))?
            .next()
            .ok_or_else(|| unreachable(format!("{} resolves to no address", plan.authority)))?;
        let connector = Connector::new(addr, plan.http2, plan.connect_timeout);
        let requests = plan
            .requests
            .iter()
            .map(|t| Prepared::new(t, plan.http2))
            .collect();
        Ok(Engine {
            plan,
            connector,
            requests,
            cancel,
        })
    }

    /// Connects and sends the first request once: any HTTP response means reachable.
    pub async fn preflight(&self) -> Result<u16, Unreachable> {
        let unreachable = |reason: String| Unreachable {
            url: self.plan.url.clone(),
            reason,
        };
        let mut conn = self
            .connector
            .connect()
            .await
            .map_err(|e| unreachable(format!("connect failed: {e}")))?;
        match tokio::time::timeout(self.plan.timeout, conn.exchange(&self.requests[0])).await {
            Ok(Ok(reply)) => Ok(reply.status),
            Ok(Err(_)) => Err(unreachable(
                "the connection failed before a response".into(),
            )),
            Err(_) => Err(unreachable(format!(
                "no response within --timeout {}",
                humantime::format_duration(self.plan.timeout)
            ))),
        }
    }

    /// Runs step `step_no` (1-based) at `load`, sending per-second intervals to `intervals`.
    pub async fn run_step(
        &self,
        step_no: usize,
        load: Load,
        intervals: mpsc::UnboundedSender<Interval>,
    ) -> StepResult {
        let plan = &self.plan;
        let start = Instant::now();
        let measure_start = start + plan.warmup;
        let step_end = measure_start + plan.step_duration;
        // Fixed histogram range: a latency never exceeds the timeout (closed loop, uncorrected)
        // or the step's length (corrected: intended at the step's start, cut at its end).
        let high_us = (plan.timeout.max(plan.warmup + plan.step_duration) + Duration::from_secs(1))
            .as_micros()
            .min(u128::from(u64::MAX >> 1)) as u64;
        let shards = tokio::runtime::Handle::current().metrics().num_workers();
        let mut cumulative = Vec::new();
        if plan.requests.len() > 1 {
            let mut acc = 0;
            for r in &plan.requests {
                acc += r.weight;
                cumulative.push(acc);
            }
        }
        let ctx = Arc::new(StepContext {
            requests: self.requests.clone(),
            cumulative_weights: cumulative,
            connector: self.connector.clone(),
            timeout: plan.timeout,
            measure_start,
            step_end,
            last_second: (plan.step_duration.as_secs_f64().ceil() as u64).saturating_sub(1),
            honor_retry_after: plan.honor_retry_after,
            cancel: self.cancel.clone(),
            recorders: SharedRecorders::new(shards, plan.requests.len(), high_us, intervals),
            seed: plan.seed.wrapping_add(step_no as u64),
        });
        let mut workers: JoinSet<()> = JoinSet::new();
        let mut paced = pacer::Paced::default();
        let mut open_feed = None;
        match load {
            Load::Closed { concurrency } => {
                for id in 0..u64::from(concurrency) {
                    workers.spawn(run_worker(ctx.clone(), Pacing::Closed, id));
                }
            }
            Load::Open {
                rate,
                max_in_flight,
            } => {
                let (tx, rx) = mpsc::unbounded_channel();
                let feed = Arc::new(OpenFeed {
                    rx: Mutex::new(rx),
                    idle: AtomicUsize::new(0),
                });
                let schedule = Schedule {
                    rate,
                    start,
                    end: step_end,
                    max_in_flight,
                };
                let mut next_id = 0u64;
                paced = pacer::pace(&schedule, &feed, tx, &self.cancel, || {
                    workers.spawn(run_worker(ctx.clone(), Pacing::Open(feed.clone()), next_id));
                    next_id += 1;
                })
                .await;
                open_feed = Some(feed);
            }
        }
        while workers.join_next().await.is_some() {}
        let mut merged = ctx.recorders.finish(plan.requests.len());
        // Dropping the context drops the interval sender: the collector then ends.
        drop(ctx);
        merged.late_sends += paced.late;
        merged.unsent += paced.unsent;
        if let Some(feed) = open_feed {
            // Slots queued for workers that had already stopped.
            let mut rx = feed.rx.lock().await;
            while rx.try_recv().is_ok() {
                merged.unsent += 1;
            }
        }
        let ended = Instant::now().min(step_end);
        let duration_s = ended.saturating_duration_since(measure_start).as_secs_f64();
        let names: Vec<String> = plan.requests.iter().map(|r| r.name.clone()).collect();
        StepResult::from_recorder(
            step_no,
            load,
            duration_s,
            &merged,
            &names,
            self.cancel.is_cancelled(),
        )
    }
}
