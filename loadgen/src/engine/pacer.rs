//! The open-loop pacer, one for the whole run: intended send times on absolute deadlines,
//! `step start + offset` where the step's arrival process ([`crate::arrivals`]) gives the
//! offsets (`i / rate` by default; never a relative sleep, which drifts), each handed to an idle worker
//! with an in-flight permit. When `--max-in-flight` permits are all taken the send is counted
//! late and waits; its latency still runs from the intended time. A send that finds no permit
//! before its own timeout (intended + `--timeout`) never goes out and is counted `unsent` in its
//! step, as is the send in hand when the run is interrupted. Sending for a step closes when
//! the pacer is past its last intended send.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;

use super::step_state::bump;
use super::worker::{OpenFeed, RunContext, Slot};
use crate::arrivals::step_seed;
use crate::plan::Load;

/// Paces every open-loop step of the run; calls `spawn_worker` whenever a slot finds no idle
/// worker and fewer than `max_in_flight` exist.
pub async fn pace(
    ctx: &RunContext,
    feed: &Arc<OpenFeed>,
    tx: mpsc::UnboundedSender<Slot>,
    mut spawn_worker: impl FnMut(),
) {
    let max_in_flight = ctx
        .timeline
        .windows
        .iter()
        .map(|w| match w.load {
            Load::Open { max_in_flight, .. } => max_in_flight,
            Load::Closed { .. } => 0,
        })
        .max()
        .unwrap_or(0);
    let permits = Arc::new(Semaphore::new(max_in_flight as usize));
    let mut spawned: u32 = 0;
    'steps: for (index, w) in ctx.timeline.windows.iter().enumerate() {
        let step = &ctx.steps[index];
        let Load::Open { rate, arrivals, .. } = w.load else {
            step.close();
            continue;
        };
        let mut schedule = arrivals.schedule(rate, step_seed(ctx.seed, index, ctx.instance));
        while let Some(intended) = send_time(w.start, w.end, schedule.next_offset()) {
            if intended > Instant::now() {
                tokio::select! {
                    _ = tokio::time::sleep_until(intended) => {}
                    _ = ctx.cancel.cancelled() => break 'steps,
                }
            }
            let pending = if intended >= w.measure_start {
                step.begin()
            } else {
                None
            };
            let counted = pending.is_some();
            let permit = match permits.clone().try_acquire_owned() {
                Ok(p) => p,
                Err(_) => {
                    if counted {
                        bump(&step.late_sends);
                    }
                    tokio::select! {
                        p = permits.clone().acquire_owned() => match p {
                            Ok(p) => p,
                            Err(_) => break 'steps,
                        },
                        _ = tokio::time::sleep_until(intended + ctx.timeout) => {
                            if counted {
                                bump(&step.unsent);
                            }
                            continue;
                        }
                        _ = ctx.cancel.cancelled() => {
                            if counted {
                                bump(&step.unsent);
                            }
                            break 'steps;
                        }
                    }
                }
            };
            // Only the pacer decrements `idle`, so a non-zero read cannot go stale downwards.
            if feed.idle.load(Ordering::Acquire) > 0 {
                feed.idle.fetch_sub(1, Ordering::AcqRel);
            } else if spawned < max_in_flight {
                spawned += 1;
                spawn_worker();
            }
            let slot = Slot {
                intended,
                permit,
                step: index,
                pending,
            };
            if let Err(mpsc::error::SendError(slot)) = tx.send(slot) {
                if slot.pending.is_some() {
                    bump(&step.unsent);
                }
                break 'steps;
            }
        }
        step.close();
    }
    // Interrupted: sends of the cut step not yet due are not counted (they were never due).
    for step in &ctx.steps {
        step.close();
    }
}

/// The intended time of a send `offset` seconds into a window from `start` to `end`; `None` once
/// it falls at or past `end`. Compared as an offset first, so a rate so low that the offset
/// exceeds what a `Duration` or an `Instant` can hold ends the window instead of overflowing.
pub fn send_time(start: Instant, end: Instant, offset: f64) -> Option<Instant> {
    if offset.is_nan() || offset >= end.saturating_duration_since(start).as_secs_f64() {
        return None;
    }
    let intended = start + Duration::from_secs_f64(offset);
    (intended < end).then_some(intended)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_are_spaced_by_the_period_within_the_window() {
        let start = Instant::now();
        let end = start + Duration::from_secs(1);
        let mut schedule = crate::arrivals::Arrivals::Constant.schedule(4.0, 0);
        let times: Vec<_> = (0..10)
            .map_while(|_| send_time(start, end, schedule.next_offset()))
            .collect();
        assert_eq!(times.len(), 4);
        assert_eq!(times[3] - start, Duration::from_millis(750));
    }

    #[test]
    fn a_rate_too_low_for_a_second_send_ends_the_window_without_overflow() {
        let start = Instant::now();
        let end = start + Duration::from_secs(10);
        // 1e300 s and ∞ s periods: beyond any Duration, let alone an Instant.
        for rate in [1e-300, 0.0] {
            let mut schedule = crate::arrivals::Arrivals::Constant.schedule(rate, 0);
            assert_eq!(
                send_time(start, end, schedule.next_offset()),
                Some(start),
                "{rate}"
            );
            assert_eq!(
                send_time(start, end, schedule.next_offset()),
                None,
                "{rate}"
            );
        }
    }
}
