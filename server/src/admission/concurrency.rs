//! The process-wide permit pool: at most `limit` agent loops at once, excess requests wait FIFO in
//! a bounded queue (tokio's semaphore is FIFO-fair). A request that is dropped while waiting
//! (client gone) leaves the queue because its acquire future is dropped.
//!
//! The limit is live: a [`LimitAlgorithm`] fed by the model-call signals ([`crate::signals`])
//! moves it between the floor and the ceiling (`MAX_CONCURRENT_ANALYSES`). Lowering it forgets
//! free permits at once and retires held ones as they are released; raising it first cancels
//! that debt.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::limit::{LimitAlgorithm, Sample};
use super::retry_after::ServiceTimeEwma;
use crate::error::AppError;
use crate::signals::{CallObserver, CallSignal};

/// The algorithm and the permits still to retire.
#[derive(Debug)]
struct Control {
    algorithm: Box<dyn LimitAlgorithm>,
    /// Held permits to forget instead of release (the limit went down while they were out).
    debt: usize,
}

/// A live number of permits plus a bounded waiting line; shared by every request of the process.
#[derive(Debug)]
pub struct ConcurrencyGate {
    /// None in legacy mode: no limit, only counting.
    semaphore: Option<Arc<Semaphore>>,
    /// The ceiling (N).
    permits: usize,
    /// The live limit.
    limit: AtomicUsize,
    max_queue: usize,
    queued: AtomicUsize,
    in_flight: AtomicUsize,
    service_time: ServiceTimeEwma,
    control: Mutex<Control>,
    origin: Instant,
}

/// Proof of admission; the slot is released (and the service time recorded) on drop.
#[derive(Debug)]
pub struct Permit {
    permit: Option<OwnedSemaphorePermit>,
    gate: Arc<ConcurrencyGate>,
    started: Instant,
    /// Time spent waiting in the queue.
    pub waited: Duration,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.gate.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.gate.service_time.observe(self.started.elapsed());
        if let Some(permit) = self.permit.take() {
            let mut control = self.gate.lock();
            if control.debt > 0 {
                control.debt -= 1;
                permit.forget();
            }
        }
    }
}

/// Holds a queue slot; leaving the queue by any path (admitted, timed out, dropped) frees it.
struct QueueSlot<'a>(&'a AtomicUsize);

impl Drop for QueueSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl ConcurrencyGate {
    /// A fixed pool of `permits` slots with up to `max_queue` waiters.
    pub fn new(permits: usize, max_queue: usize) -> Arc<Self> {
        let permits = permits.max(1);
        Self::with_algorithm(
            Box::new(super::limit::FixedLimit(permits)),
            permits,
            max_queue,
        )
    }

    /// A pool whose limit `algorithm` moves, at most `ceiling`, with up to `max_queue` waiters
    /// (scaled down with the limit).
    pub fn with_algorithm(
        algorithm: Box<dyn LimitAlgorithm>,
        ceiling: usize,
        max_queue: usize,
    ) -> Arc<Self> {
        let ceiling = ceiling.max(1);
        let limit = algorithm.limit().clamp(1, ceiling);
        Arc::new(ConcurrencyGate {
            semaphore: Some(Arc::new(Semaphore::new(limit))),
            permits: ceiling,
            limit: AtomicUsize::new(limit),
            max_queue,
            queued: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            service_time: ServiceTimeEwma::new(Duration::from_secs(1), 0.2),
            control: Mutex::new(Control { algorithm, debt: 0 }),
            origin: Instant::now(),
        })
    }

    /// Legacy mode: admits everyone at once and only counts.
    pub fn unlimited() -> Arc<Self> {
        Arc::new(ConcurrencyGate {
            semaphore: None,
            permits: 0,
            limit: AtomicUsize::new(0),
            max_queue: 0,
            queued: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            service_time: ServiceTimeEwma::new(Duration::from_secs(1), 0.2),
            control: Mutex::new(Control {
                algorithm: Box::new(super::limit::FixedLimit(0)),
                debt: 0,
            }),
            origin: Instant::now(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Control> {
        self.control
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// N, the ceiling (0 when unlimited).
    pub fn capacity(&self) -> usize {
        self.permits
    }

    /// The live limit (0 when unlimited).
    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::Acquire)
    }

    /// Queue bound at the live limit: `MAX_QUEUE_DEPTH` × limit / ceiling (at least 1 when the
    /// configured bound is not 0), so the expected wait in a full line stays what it was sized for.
    pub fn queue_capacity(&self) -> usize {
        if self.permits == 0 || self.max_queue == 0 {
            return self.max_queue;
        }
        (self.max_queue * self.limit())
            .div_ceil(self.permits)
            .max(1)
    }

    /// Analyses holding a permit now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Requests waiting now.
    pub fn queue_depth(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// Recent average time an analysis holds a permit.
    pub fn service_time(&self) -> Duration {
        self.service_time.current()
    }

    /// Recent average time an analysis holds a permit, `None` until one has finished (the
    /// Retry-After estimate meanwhile assumes [`Self::service_time`]'s initial guess).
    pub fn measured_service_time(&self) -> Option<Duration> {
        self.service_time.measured()
    }

    /// Estimated wait for the request at `position` in line, at the live limit.
    pub fn estimated_wait(&self, position: usize) -> Duration {
        self.service_time
            .estimate_wait(position, self.limit().max(1))
    }

    /// Feeds one sample to the algorithm and applies the limit it answers.
    pub fn observe(&self, sample: Sample) {
        let Some(semaphore) = &self.semaphore else {
            return;
        };
        let now = Instant::now().duration_since(self.origin);
        let mut control = self.lock();
        let old = self.limit();
        let new = control
            .algorithm
            .on_sample(now, sample)
            .clamp(1, self.permits);
        if new == old {
            return;
        }
        if new < old {
            let cut = old - new;
            let forgotten = semaphore.forget_permits(cut);
            control.debt += cut - forgotten;
        } else {
            let raise = new - old;
            let cancelled = control.debt.min(raise);
            control.debt -= cancelled;
            semaphore.add_permits(raise - cancelled);
        }
        self.limit.store(new, Ordering::Release);
        drop(control);
        tracing::debug!(
            old,
            new,
            dropped = sample.dropped,
            rtt_ms = sample.rtt.as_millis() as u64,
            in_flight = sample.in_flight,
            "concurrency limit changed"
        );
    }

    fn admitted(
        self: &Arc<Self>,
        permit: Option<OwnedSemaphorePermit>,
        waited: Duration,
    ) -> Permit {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        Permit {
            permit,
            gate: Arc::clone(self),
            started: Instant::now(),
            waited,
        }
    }

    /// Takes a permit now, or waits in line up to `max_wait`; refuses when the line is full,
    /// the wait runs out, or `shutdown` fires while waiting.
    pub async fn acquire(
        self: &Arc<Self>,
        max_wait: Duration,
        shutdown: &CancellationToken,
    ) -> Result<Permit, AppError> {
        if shutdown.is_cancelled() {
            return Err(AppError::ShuttingDown);
        }
        let Some(semaphore) = &self.semaphore else {
            return Ok(self.admitted(None, Duration::ZERO));
        };
        // Permits go to waiters first on release, so this never jumps the line.
        if let Ok(permit) = Arc::clone(semaphore).try_acquire_owned() {
            return Ok(self.admitted(Some(permit), Duration::ZERO));
        }
        let bound = self.queue_capacity();
        let position = self
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| {
                (q < bound).then_some(q + 1)
            })
            .map_err(|queued| AppError::OverCapacity {
                retry_after: self.estimated_wait(queued + 1),
                in_flight: self.in_flight(),
                queued,
            })?
            + 1;
        let slot = QueueSlot(&self.queued);
        let start = Instant::now();
        let outcome = tokio::select! {
            permit = Arc::clone(semaphore).acquire_owned() => permit.map_err(|_| AppError::ShuttingDown),
            () = tokio::time::sleep(max_wait) => Err(AppError::QueueTimeout {
                waited: start.elapsed(),
                retry_after: self.estimated_wait(position),
            }),
            () = shutdown.cancelled() => Err(AppError::ShuttingDown),
        };
        drop(slot);
        outcome.map(|permit| self.admitted(Some(permit), start.elapsed()))
    }
}

impl CallObserver for ConcurrencyGate {
    fn on_call(&self, signal: CallSignal) {
        let started = signal.started.saturating_duration_since(self.origin);
        self.observe(Sample {
            started,
            rtt: signal.ended.saturating_duration_since(signal.started),
            in_flight: self.in_flight(),
            dropped: signal.dropped,
            throttled: signal.throttled,
        });
    }

    fn adapts_to_push_back(&self) -> bool {
        self.semaphore.is_some() && self.lock().algorithm.adapts()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never() -> CancellationToken {
        CancellationToken::new()
    }

    #[tokio::test(start_paused = true)]
    async fn queue_full_refuses_at_once_with_capacity_numbers() {
        let gate = ConcurrencyGate::new(1, 1);
        let _held = gate
            .acquire(Duration::from_secs(5), &never())
            .await
            .expect("first");
        let g = Arc::clone(&gate);
        let waiter = tokio::spawn(async move {
            g.acquire(Duration::from_secs(5), &never())
                .await
                .map(|p| p.waited)
        });
        while gate.queue_depth() < 1 {
            tokio::task::yield_now().await;
        }
        let refused = gate
            .acquire(Duration::from_secs(5), &never())
            .await
            .unwrap_err();
        assert!(
            matches!(
                refused,
                AppError::OverCapacity {
                    in_flight: 1,
                    queued: 1,
                    ..
                }
            ),
            "{refused:?}"
        );
        waiter.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn queue_timeout_after_max_wait_and_slot_is_freed() {
        let gate = ConcurrencyGate::new(1, 4);
        let _held = gate
            .acquire(Duration::from_secs(5), &never())
            .await
            .expect("first");
        let err = gate
            .acquire(Duration::from_millis(300), &never())
            .await
            .unwrap_err();
        match err {
            AppError::QueueTimeout { waited, .. } => assert!(waited >= Duration::from_millis(300)),
            other => panic!("expected timeout, got {other:?}"),
        }
        assert_eq!(gate.queue_depth(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn dropped_waiter_leaves_the_queue() {
        let gate = ConcurrencyGate::new(1, 4);
        let held = gate
            .acquire(Duration::from_secs(5), &never())
            .await
            .expect("first");
        let g = Arc::clone(&gate);
        let waiter =
            tokio::spawn(async move { g.acquire(Duration::from_secs(60), &never()).await.is_ok() });
        while gate.queue_depth() < 1 {
            tokio::task::yield_now().await;
        }
        waiter.abort();
        let _ = waiter.await;
        assert_eq!(gate.queue_depth(), 0);
        drop(held);
        let again = gate
            .acquire(Duration::from_millis(1), &never())
            .await
            .expect("permit is free again");
        assert_eq!(again.waited, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_answers_waiters() {
        let gate = ConcurrencyGate::new(1, 4);
        let _held = gate
            .acquire(Duration::from_secs(5), &never())
            .await
            .expect("first");
        let token = CancellationToken::new();
        let (g, t) = (Arc::clone(&gate), token.clone());
        let waiter = tokio::spawn(async move { g.acquire(Duration::from_secs(60), &t).await });
        while gate.queue_depth() < 1 {
            tokio::task::yield_now().await;
        }
        token.cancel();
        assert!(matches!(
            waiter.await.expect("join"),
            Err(AppError::ShuttingDown)
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn waiters_are_served_first_in_first_out() {
        let gate = ConcurrencyGate::new(1, 8);
        let held = gate
            .acquire(Duration::from_secs(5), &never())
            .await
            .expect("first");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for i in 0..5 {
            let (g, tx) = (Arc::clone(&gate), tx.clone());
            tokio::spawn(async move {
                let permit = g
                    .acquire(Duration::from_secs(60), &never())
                    .await
                    .expect("admitted");
                tx.send(i).expect("send");
                drop(permit);
            });
            while gate.queue_depth() < i + 1 {
                tokio::task::yield_now().await;
            }
        }
        drop(held);
        let mut order = Vec::new();
        for _ in 0..5 {
            order.push(rx.recv().await.expect("recv"));
        }
        assert_eq!(order, vec![0, 1, 2, 3, 4]);
    }

    #[derive(Debug)]
    struct Scripted(usize);

    impl LimitAlgorithm for Scripted {
        fn limit(&self) -> usize {
            self.0
        }
        fn on_sample(&mut self, _now: Duration, sample: Sample) -> usize {
            // The rtt in milliseconds carries the limit the test wants next.
            self.0 = sample.rtt.as_millis() as usize;
            self.0
        }
    }

    fn set_limit(gate: &ConcurrencyGate, to: usize) {
        gate.observe(Sample {
            started: Duration::ZERO,
            rtt: Duration::from_millis(to as u64),
            in_flight: 0,
            dropped: false,
            throttled: false,
        });
    }

    #[tokio::test(start_paused = true)]
    async fn a_lower_limit_retires_held_permits_and_a_higher_one_restores_them() {
        let gate = ConcurrencyGate::with_algorithm(Box::new(Scripted(4)), 8, 8);
        let token = never();
        let held: Vec<_> = futures_util::future::join_all(
            (0..4).map(|_| gate.acquire(Duration::from_secs(1), &token)),
        )
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .expect("4 admitted");
        set_limit(&gate, 2);
        assert_eq!(gate.limit(), 2);
        assert_eq!(
            gate.queue_capacity(),
            2,
            "queue bound scales with the limit"
        );
        let mut held = held.into_iter();
        drop(held.next());
        drop(held.next());
        assert!(
            gate.acquire(Duration::from_millis(10), &never())
                .await
                .is_err(),
            "two released permits were retired, the other two are still out"
        );
        drop(held.next());
        let third = gate
            .acquire(Duration::from_millis(10), &never())
            .await
            .expect("one below the new limit of 2");
        set_limit(&gate, 5);
        let more: Vec<_> = futures_util::future::join_all(
            (0..3).map(|_| gate.acquire(Duration::from_millis(10), &token)),
        )
        .await;
        assert!(more.iter().all(Result::is_ok), "5 in flight at limit 5");
        assert_eq!(gate.in_flight(), 5);
        assert!(gate
            .acquire(Duration::from_millis(10), &never())
            .await
            .is_err());
        drop((third, more, held));
    }

    #[tokio::test]
    async fn unlimited_gate_admits_everyone_and_counts() {
        let gate = ConcurrencyGate::unlimited();
        let token = never();
        let permits: Vec<_> =
            futures_util::future::join_all((0..50).map(|_| gate.acquire(Duration::ZERO, &token)))
                .await
                .into_iter()
                .collect::<Result<_, _>>()
                .expect("all admitted");
        assert_eq!(gate.in_flight(), 50);
        drop(permits);
        assert_eq!(gate.in_flight(), 0);
    }
}
