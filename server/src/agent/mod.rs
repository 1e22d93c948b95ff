//! The agent: the tool definitions offered to the model ([`tools`]) and the tool-use loop that
//! runs one analysis ([`agent_loop`]).

pub mod agent_loop;
pub mod tools;
