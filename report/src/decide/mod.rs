//! The decisions made from the models: what binds each step, which request the permits serve,
//! whether there is a recommendation and the recommendation itself (its whole reasoning
//! included), and the open-loop rate it takes. Made once, never edited after. Imports only the
//! layers below and its own modules.

pub mod binding;
pub mod classify;
pub mod decision;
pub mod open_rate;
pub mod recommend;
pub mod recommendation;
pub mod served;
