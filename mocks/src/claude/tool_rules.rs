//! The real API's tool-use rules across turns: results answer the previous turn's calls.

use std::collections::HashSet;

use super::error::ApiError;
use super::request::{Block, Role, Turn};

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::InvalidRequest(message.into())
}

/// The real API's tool rules: results answer the previous turn's calls, come first, and every
/// call is answered; calls and results need tools to be defined.
pub fn check(turns: &[Turn], tools: &[String]) -> Result<(), ApiError> {
    let mut pending: Vec<String> = Vec::new();
    for (i, turn) in turns.iter().enumerate() {
        let mut answered = HashSet::new();
        let mut seen_other = false;
        for (j, block) in turn.blocks.iter().enumerate() {
            match block {
                Block::ToolUse { .. } | Block::ToolResult { .. } if tools.is_empty() => {
                    return Err(bad("Requests which include `tool_use` or `tool_result` blocks must define tools."));
                }
                Block::ToolUse { name, .. } if !tools.contains(name) => {
                    return Err(bad(format!("messages.{i}.content.{j}.name: tool '{name}' is not among the provided tools")));
                }
                Block::ToolResult { tool_use_id, .. } => {
                    if seen_other {
                        return Err(bad(format!(
                            "messages.{i}.content.{j}: tool_result blocks must come first in the content of a user message, before any other blocks"
                        )));
                    }
                    if !pending.contains(tool_use_id) {
                        return Err(bad(format!(
                            "messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: {tool_use_id}. Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
                        )));
                    }
                    answered.insert(tool_use_id.clone());
                }
                _ => seen_other = true,
            }
        }
        if turn.role == Role::User && !pending.is_empty() {
            let missing: Vec<&str> = pending
                .iter()
                .filter(|id| !answered.contains(*id))
                .map(String::as_str)
                .collect();
            if !missing.is_empty() {
                return Err(bad(format!(
                    "messages.{}: `tool_use` ids were found without `tool_result` blocks immediately after: {}. Each `tool_use` block must have a corresponding `tool_result` block in the next message.",
                    i - 1,
                    missing.join(", ")
                )));
            }
        }
        pending = turn
            .blocks
            .iter()
            .filter_map(|b| match b {
                Block::ToolUse { id, .. } => Some(id.clone()),
                _ => None,
            })
            .collect();
    }
    Ok(())
}
