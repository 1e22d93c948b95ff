//! Wire types of the Claude Messages API (`POST /v1/messages`), as much of it as the agent loop uses.
//!
//! Mock Claude keeps its own copy (`mocks/src/claude/api.rs`) on purpose: each side
//! is checked on its own against the official API (the mock by the official Python and
//! TypeScript SDKs, `make check-sdk`; the server by exact wire tests against wiremock,
//! `server/tests/it/wire_format.rs`), so a crate shared by both would let one misreading of
//! the API pass on both sides unnoticed.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A tool offered to the model.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ToolDefinition {
    /// Tool name (`get_quote`, ...).
    pub name: String,
    /// What the tool does, for the model.
    pub description: String,
    /// JSON Schema of the tool's input.
    pub input_schema: Value,
}

/// One content block of a message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentBlock {
    /// Plain text.
    Text {
        /// The text.
        text: String,
    },
    /// The model asks for a tool call.
    ToolUse {
        /// Id the result must echo.
        id: String,
        /// Tool name.
        name: String,
        /// Tool input.
        input: Value,
    },
    /// The result of a tool call, sent back in the next user turn.
    ToolResult {
        /// The `tool_use` id this answers.
        tool_use_id: String,
        /// The result text (the Trading API's JSON, or an error message).
        content: String,
        /// True when the call failed.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        is_error: bool,
    },
    /// Block types this client does not use (thinking, ...); dropped from the history.
    #[serde(other)]
    Other,
}

/// One turn of the conversation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Message {
    /// `user` or `assistant`.
    pub role: String,
    /// The blocks.
    pub content: Vec<ContentBlock>,
}

/// Body of `POST /v1/messages`.
#[derive(Debug, Clone, Serialize)]
pub struct MessagesRequest {
    /// Model name.
    pub model: String,
    /// Output token cap.
    pub max_tokens: u32,
    /// System prompt.
    pub system: String,
    /// Offered tools.
    pub tools: Vec<ToolDefinition>,
    /// The conversation so far.
    pub messages: Vec<Message>,
}

/// Token usage of one call.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Usage {
    /// Input tokens.
    #[serde(default)]
    pub input_tokens: u64,
    /// Output tokens.
    #[serde(default)]
    pub output_tokens: u64,
}

/// Successful response body.
#[derive(Debug, Clone, Deserialize)]
pub struct MessagesResponse {
    /// The assistant's blocks.
    pub content: Vec<ContentBlock>,
    /// `end_turn`, `tool_use`, `max_tokens`, ...
    #[serde(default)]
    pub stop_reason: Option<String>,
    /// Usage of this call.
    #[serde(default)]
    pub usage: Usage,
    /// Model that answered.
    #[serde(default)]
    pub model: Option<String>,
}

/// Error body `{"type": "error", "error": {"type", "message"}}`.
#[derive(Debug, Clone, Deserialize)]
pub struct ErrorResponse {
    /// The error object.
    pub error: ErrorObject,
}

/// The provider's error object.
#[derive(Debug, Clone, Deserialize)]
pub struct ErrorObject {
    /// e.g. `overloaded_error`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Human message.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tool_result_serializes_in_wire_shape() {
        let block = ContentBlock::ToolResult {
            tool_use_id: "toolu_1".into(),
            content: "{}".into(),
            is_error: true,
        };
        assert_eq!(
            serde_json::to_value(&block).expect("json"),
            json!({"type": "tool_result", "tool_use_id": "toolu_1", "content": "{}", "is_error": true})
        );
    }

    #[test]
    fn unknown_blocks_parse_as_other() {
        let resp: MessagesResponse = serde_json::from_value(json!({
            "content": [{"type": "thinking", "thinking": "..."}, {"type": "text", "text": "hi"}],
            "stop_reason": "end_turn", "usage": {"input_tokens": 3, "output_tokens": 4}
        }))
        .expect("parses");
        assert_eq!(resp.content[0], ContentBlock::Other);
        assert_eq!(resp.usage.output_tokens, 4);
    }
}
