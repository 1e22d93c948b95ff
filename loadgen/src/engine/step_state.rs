//! What the run keeps per step while it sends and resolves: the step's recorders, its counters,
//! and how many of its requests are still unresolved. A step is final when its sending is over
//! and that count is zero; the next step's traffic runs meanwhile.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

use crate::record::{Recorder, SharedRecorders};

/// One step's live state, shared by every virtual user and the pacer.
pub struct StepState {
    /// Where the step's requests are recorded.
    pub recorders: SharedRecorders,
    /// Unresolved requests, plus one while sending for the step is open.
    outstanding: AtomicU64,
    /// Set once sending for the step is over: no request may join it after.
    closed: AtomicBool,
    resolved: Notify,
    resolved_at: std::sync::Mutex<Option<tokio::time::Instant>>,
    /// When sending for the step ended (the first [`StepState::close`]).
    closed_at: std::sync::Mutex<Option<tokio::time::Instant>>,
    /// Connections opened while this step was sending.
    pub connections_opened: AtomicU64,
    /// Open loop: sends that waited for an in-flight permit.
    pub late_sends: AtomicU64,
    /// Open loop: sends due in the step that never went out.
    pub unsent: AtomicU64,
    /// Idempotent requests resent after a reset on a reused connection.
    pub resent: AtomicU64,
    /// Requests cut by an interruption.
    pub in_flight_at_end: AtomicU64,
}

/// Holds one request of a step unresolved; dropping it resolves the request.
pub struct Pending {
    step: Arc<StepState>,
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.step.release();
    }
}

impl StepState {
    /// A step with sending open.
    pub fn new(recorders: SharedRecorders) -> Self {
        Self {
            recorders,
            outstanding: AtomicU64::new(1),
            closed: AtomicBool::new(false),
            resolved: Notify::new(),
            resolved_at: std::sync::Mutex::new(None),
            closed_at: std::sync::Mutex::new(None),
            connections_opened: AtomicU64::new(0),
            late_sends: AtomicU64::new(0),
            unsent: AtomicU64::new(0),
            resent: AtomicU64::new(0),
            in_flight_at_end: AtomicU64::new(0),
        }
    }

    /// When sending for the step ended; `None` while it is open.
    pub fn closed_at(&self) -> Option<tokio::time::Instant> {
        *self.closed_at.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Joins a request to the step, unless its sending is already over.
    pub fn begin(self: &Arc<Self>) -> Option<Pending> {
        // SeqCst on both sides: either this sees `closed`, or `close` sees this increment.
        self.outstanding.fetch_add(1, Ordering::SeqCst);
        if self.closed.load(Ordering::SeqCst) {
            self.release();
            return None;
        }
        Some(Pending { step: self.clone() })
    }

    /// Ends sending for the step (idempotent).
    pub fn close(&self) {
        if !self.closed.swap(true, Ordering::SeqCst) {
            *self.closed_at.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(tokio::time::Instant::now());
            self.release();
        }
    }

    fn release(&self) {
        if self.outstanding.fetch_sub(1, Ordering::SeqCst) == 1 {
            *self.resolved_at.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(tokio::time::Instant::now());
            self.resolved.notify_one();
        }
    }

    /// Waits until sending is over and every request of the step is resolved.
    pub async fn resolved(&self) {
        while self.outstanding.load(Ordering::SeqCst) > 0 {
            self.resolved.notified().await;
        }
    }

    /// When the step's last request resolved (after its sending closed).
    pub fn resolved_at(&self) -> Option<tokio::time::Instant> {
        *self.resolved_at.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Unresolved requests right now (sending token excluded).
    pub fn unresolved(&self) -> u64 {
        let n = self.outstanding.load(Ordering::SeqCst);
        if self.closed.load(Ordering::SeqCst) {
            n
        } else {
            n.saturating_sub(1)
        }
    }

    /// Adds the counters into `rec`.
    pub fn add_counters(&self, rec: &mut Recorder) {
        let get = |a: &AtomicU64| a.load(Ordering::SeqCst);
        rec.connections_opened += get(&self.connections_opened);
        rec.late_sends += get(&self.late_sends);
        rec.unsent += get(&self.unsent);
        rec.resent += get(&self.resent);
        rec.in_flight_at_end += get(&self.in_flight_at_end);
    }
}

/// Adds one to a counter.
pub fn bump(a: &AtomicU64) {
    a.fetch_add(1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn state() -> Arc<StepState> {
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        Arc::new(StepState::new(SharedRecorders::new(1, 1, 1_000_000, tx)))
    }

    #[tokio::test]
    async fn a_step_resolves_only_after_close_and_its_last_request() {
        let s = state();
        let p = s.begin().expect("open");
        s.close();
        assert!(s.begin().is_none(), "no request joins a closed step");
        assert_eq!(s.unresolved(), 1);
        let waited = tokio::time::timeout(Duration::from_millis(50), s.resolved()).await;
        assert!(waited.is_err(), "one request still unresolved");
        drop(p);
        tokio::time::timeout(Duration::from_secs(1), s.resolved())
            .await
            .expect("resolved once the last request ended");
    }
}
