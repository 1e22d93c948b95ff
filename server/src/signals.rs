//! What the Messages API client reports about each finished attempt, to whoever adapts to it
//! (the permit pool's concurrency limit). It sits below both [`crate::upstream`] and
//! [`crate::admission`], so neither imports the other: the client calls a trait, admission
//! implements it, and `state` plugs one into the other.

use tokio::time::Instant;

/// One finished model-call attempt.
#[derive(Debug, Clone, Copy)]
pub struct CallSignal {
    /// When the attempt was sent.
    pub started: Instant,
    /// When it ended.
    pub ended: Instant,
    /// The upstream pushed back (429, 529) or the attempt timed out.
    pub dropped: bool,
    /// The call first waited for pacing or a cool-down.
    pub throttled: bool,
}

/// Receives [`CallSignal`]s; must be cheap (called on the request path).
pub trait CallObserver: Send + Sync + std::fmt::Debug {
    /// One attempt finished.
    fn on_call(&self, signal: CallSignal);
    /// True when a push-back makes the observer lower the concurrency of model calls.
    fn adapts_to_push_back(&self) -> bool {
        false
    }
}
