//! The decisions made from the models: what binds each step, the recommendation (its whole
//! reasoning included) and the open-loop rate it takes. Imports only the layers below.

pub mod binding;
pub mod classify;
pub mod decision;
pub mod open_rate;
pub mod recommend;
pub mod recommendation;
pub mod served;
