//! The open-loop pacer, one for the whole run: intended send times on absolute deadlines,
//! `step start + i / rate` (never a relative sleep, which drifts), each handed to an idle worker
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
        let Load::Open { rate, .. } = w.load else {
            step.close();
            continue;
        };
        let period = 1.0 / rate;
        let mut i: u64 = 0;
        while let Some(intended) = send_time(w.start, w.end, i, period) {
            i += 1;
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

/// The intended time of the `i`-th send of a window from `start` to `end`, `period` seconds
/// apart; `None` once it falls at or past `end`. Compared as an offset first, so a rate so low
/// that `i × period` exceeds what a `Duration` or an `Instant` can hold ends the window instead
/// of overflowing.
pub fn send_time(start: Instant, end: Instant, i: u64, period: f64) -> Option<Instant> {
    // `0 × ∞` is NaN: the first send is at the start whatever the period.
    let offset = if i == 0 { 0.0 } else { i as f64 * period };
    if offset >= end.saturating_duration_since(start).as_secs_f64() {
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
        let times: Vec<_> = (0..10)
            .map_while(|i| send_time(start, end, i, 0.25))
            .collect();
        assert_eq!(times.len(), 4);
        assert_eq!(times[3] - start, Duration::from_millis(750));
    }

    #[test]
    fn a_rate_too_low_for_a_second_send_ends_the_window_without_overflow() {
        let start = Instant::now();
        let end = start + Duration::from_secs(10);
        // 1e300 s and ∞ s periods: beyond any Duration, let alone an Instant.
        for period in [1e300, f64::INFINITY] {
            assert_eq!(send_time(start, end, 0, period), Some(start), "{period}");
            assert_eq!(send_time(start, end, 1, period), None, "{period}");
        }
    }
}
