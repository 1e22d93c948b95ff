//! Clients of the two upstream APIs and the protections around them: the Messages API client
//! ([`claude`], wire types in [`messages`], each attempt's outcome decided apart from its side
//! effects in `outcome`) with retries ([`retry`]) and a circuit breaker ([`breaker`]), the shared
//! cool-down ([`cooldown`]), tier pacing ([`pacing`]), and the Trading API client ([`trading`]).
//! The client reports each attempt through [`crate::signals`] to the concurrency limit, which it
//! does not import. Their errors reach clients in stable terms; URLs and transport errors go to
//! the log only.

pub mod breaker;
pub mod claude;
pub mod cooldown;
pub mod messages;
mod outcome;
pub mod pacing;
pub mod retry;
pub mod trading;
mod transport;
