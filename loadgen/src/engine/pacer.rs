//! The open-loop pacer: intended send times on absolute deadlines, `start + i / rate` (never a
//! relative sleep, which drifts), each handed to an idle worker with an in-flight permit. When
//! `--max-in-flight` permits are all taken the send is counted late and waits; its latency still
//! runs from the intended time. Waiting for a permit ends with the step: the intended sends
//! left then are counted as unsent, never waited for (their permits cannot come back once the
//! workers have stopped).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::worker::OpenFeed;

/// Open-loop schedule of one step.
pub struct Schedule {
    /// Arrivals per second.
    pub rate: f64,
    /// First intended send.
    pub start: Instant,
    /// No intended send at or after this.
    pub end: Instant,
    /// Most requests in flight (and workers) at once.
    pub max_in_flight: u32,
}

/// What the pacer counted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Paced {
    /// Sends that waited for an in-flight permit.
    pub late: u64,
    /// Intended sends still waiting for a permit (or not yet due) when the step ended.
    pub unsent: u64,
}

/// Paces one step; calls `spawn_worker` whenever a slot finds no idle worker.
pub async fn pace(
    schedule: &Schedule,
    feed: &Arc<OpenFeed>,
    tx: mpsc::UnboundedSender<(Instant, tokio::sync::OwnedSemaphorePermit)>,
    cancel: &CancellationToken,
    mut spawn_worker: impl FnMut(),
) -> Paced {
    let permits = Arc::new(Semaphore::new(schedule.max_in_flight as usize));
    let period = 1.0 / schedule.rate;
    let mut spawned: u32 = 0;
    let mut late = 0u64;
    let mut i: u64 = 0;
    let step_over = tokio::time::sleep_until(schedule.end);
    tokio::pin!(step_over);
    let mut ended = false;
    loop {
        let intended = schedule.start + Duration::from_secs_f64(i as f64 * period);
        if intended >= schedule.end {
            break;
        }
        if intended > Instant::now() {
            tokio::select! {
                _ = tokio::time::sleep_until(intended) => {}
                _ = cancel.cancelled() => break,
            }
        }
        let permit = match permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                late += 1;
                tokio::select! {
                    p = permits.clone().acquire_owned() => match p {
                        Ok(p) => p,
                        Err(_) => break,
                    },
                    _ = cancel.cancelled() => break,
                    _ = &mut step_over => {
                        ended = true;
                        break;
                    }
                }
            }
        };
        // Only the pacer decrements `idle`, so a non-zero read cannot go stale downwards.
        if feed.idle.load(Ordering::Acquire) > 0 {
            feed.idle.fetch_sub(1, Ordering::AcqRel);
        } else if spawned < schedule.max_in_flight {
            spawned += 1;
            spawn_worker();
        }
        if tx.send((intended, permit)).is_err() {
            break;
        }
        i += 1;
    }
    let mut unsent = 0;
    if ended {
        // The one that waited and every later intended send of the step.
        while schedule.start + Duration::from_secs_f64(i as f64 * period) < schedule.end {
            unsent += 1;
            i += 1;
        }
    }
    Paced { late, unsent }
}
