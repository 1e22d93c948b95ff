//! Wire types of the Messages API response, as the official API sends them.
//!
//! The server keeps its own copy (`server/src/upstream/messages.rs`) on purpose: each side
//! is checked on its own against the official API (the mock by the official Python and
//! TypeScript SDKs, `make check-sdk`; the server by exact wire tests against wiremock,
//! `server/tests/it/wire_format.rs`), so a crate shared by both would let one misreading of
//! the API pass on both sides unnoticed.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A complete assistant message (`POST /v1/messages` without streaming).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Message {
    /// `msg_…`, deterministic from the seed and the request.
    pub id: String,
    /// Always `"message"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Always `"assistant"`.
    pub role: String,
    /// The model named in the request.
    pub model: String,
    /// Text and tool-use blocks.
    pub content: Vec<ContentBlock>,
    /// `end_turn`, `tool_use` or `max_tokens`.
    pub stop_reason: Option<String>,
    /// Always null: stop sequences are never matched by the mock.
    pub stop_sequence: Option<String>,
    /// Token accounting.
    pub usage: Usage,
}

/// One block of assistant content.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentBlock {
    /// Plain text.
    Text {
        /// The text.
        text: String,
    },
    /// A tool call.
    ToolUse {
        /// `toolu_…`.
        id: String,
        /// Tool name, one of the offered tools.
        name: String,
        /// Arguments, a JSON object.
        input: Value,
    },
}

/// Token usage, with the fields the official API reports.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct Usage {
    /// Tokens read from the request.
    pub input_tokens: u64,
    /// Prompt-cache writes (always 0 here).
    pub cache_creation_input_tokens: u64,
    /// Prompt-cache reads (always 0 here).
    pub cache_read_input_tokens: u64,
    /// Tokens generated.
    pub output_tokens: u64,
    /// Always `"standard"`.
    pub service_tier: String,
}

/// Deterministic token estimate: one token per four characters, at least one.
pub fn tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4).max(1)
}

impl ContentBlock {
    /// Output tokens this block costs.
    pub fn output_tokens(&self) -> u64 {
        match self {
            ContentBlock::Text { text } => tokens(text),
            ContentBlock::ToolUse { name, input, .. } => {
                tokens(name) + tokens(&input.to_string()) + 8
            }
        }
    }
}
