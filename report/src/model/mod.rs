//! Models fitted to or computed from the measures: the Universal Scalability Law, queueing
//! (closed MVA, open Erlang C), the provider ceiling and its headroom, users with think time,
//! per request name. Imports only [`crate::input`] and [`crate::measure`].

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
