//! Per-connection activity, for the idle timeout: how many requests of a connection are in
//! progress, and a future that resolves once none has been for a given time. hyper closes idle
//! HTTP/1 keep-alive connections itself (`header_read_timeout`) but has no idle timeout for
//! HTTP/2, where a client can hold a connection (and a slot of `MAX_CONNECTIONS`) forever.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

/// Requests in progress on one connection.
#[derive(Debug, Default)]
pub struct ConnectionActivity {
    active: AtomicUsize,
    changed: Notify,
}

/// One request in progress; ends (and may start the idle clock) when dropped.
#[derive(Debug)]
pub struct ActiveRequest(Arc<ConnectionActivity>);

impl Drop for ActiveRequest {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
        self.0.changed.notify_waiters();
    }
}

impl ConnectionActivity {
    /// No request yet.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// A request started; it lasts until the returned guard is dropped.
    pub fn begin(self: &Arc<Self>) -> ActiveRequest {
        self.active.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_waiters();
        ActiveRequest(Arc::clone(self))
    }

    /// Requests in progress now.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }

    /// Resolves once no request has been in progress for `idle`.
    pub async fn idle_for(&self, idle: Duration) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            // Registered before the check, so a change in between is not missed.
            changed.as_mut().enable();
            if self.active() == 0 {
                tokio::select! {
                    () = tokio::time::sleep(idle) => return,
                    () = &mut changed => {}
                }
            } else {
                changed.await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn idle_only_after_the_last_request_ended_and_the_time_passed() {
        let activity = ConnectionActivity::new();
        let start = tokio::time::Instant::now();
        let first = activity.begin();
        let second = activity.begin();
        let idle = tokio::spawn({
            let activity = Arc::clone(&activity);
            async move {
                activity.idle_for(Duration::from_secs(10)).await;
                tokio::time::Instant::now()
            }
        });
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(first);
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(second); // idle from t = 35 s
        tokio::time::sleep(Duration::from_secs(5)).await;
        let third = activity.begin(); // busy again at 40 s: the clock restarts after it
        tokio::time::sleep(Duration::from_secs(1)).await;
        drop(third); // idle from t = 41 s
        let idle_at = idle.await.expect("join") - start;
        assert_eq!(idle_at, Duration::from_secs(51));
        assert_eq!(activity.active(), 0);
    }
}
