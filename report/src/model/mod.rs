//! Models fitted to or computed from the measures: the Universal Scalability Law and which
//! steps it is fitted to, a limit inferred from the curves and the queueing view past it,
//! open-loop (Erlang C) queues, the provider ceiling and its headroom, users with think time,
//! per request name. Imports only [`crate::input`], [`crate::measure`] and its own modules.

pub mod headroom;
pub mod limit;
pub mod names;
pub mod openloop;
pub mod provider;
pub mod queueing;
pub mod scaling;
pub mod tier;
pub mod users;
pub mod usl;
