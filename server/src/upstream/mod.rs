//! Clients of the two upstream APIs and the protections around them: the Messages API client
//! ([`claude`], wire types in [`messages`]) with retries ([`retry`]) and a circuit breaker
//! ([`breaker`]), and the Trading API client ([`trading`]).

pub mod breaker;
pub mod claude;
pub mod messages;
pub mod retry;
pub mod trading;
