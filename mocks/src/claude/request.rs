//! The parts of a Messages API request the mock acts on, after validation.

use serde_json::Value;

/// Who wrote a turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The caller.
    User,
    /// The model.
    Assistant,
}

/// One content block of a request turn.
#[derive(Clone, Debug, PartialEq)]
pub enum Block {
    /// Text.
    Text(String),
    /// A tool call the model made earlier.
    ToolUse {
        /// `toolu_…`.
        id: String,
        /// Tool name.
        name: String,
        /// Arguments.
        input: Value,
    },
    /// The caller's answer to a tool call.
    ToolResult {
        /// The `tool_use` this answers.
        tool_use_id: String,
        /// Result text (text blocks joined).
        content: String,
        /// The tool failed.
        is_error: bool,
    },
    /// Images, documents and other blocks the mock accepts but does not read.
    Other,
}

/// One turn.
#[derive(Clone, Debug, PartialEq)]
pub struct Turn {
    /// Author.
    pub role: Role,
    /// Blocks (a string content becomes one text block).
    pub blocks: Vec<Block>,
}

/// How the model may use tools.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum ToolChoice {
    /// The model decides.
    #[default]
    Auto,
    /// Must use some tool.
    Any,
    /// Must use this tool.
    Tool(String),
    /// Must not use tools.
    None,
}

/// A validated request.
#[derive(Clone, Debug, PartialEq)]
pub struct MessagesRequest {
    /// Model name.
    pub model: String,
    /// Output cap.
    pub max_tokens: u64,
    /// Answer as server-sent events.
    pub stream: bool,
    /// System prompt text.
    pub system: String,
    /// The conversation.
    pub turns: Vec<Turn>,
    /// Names of the offered tools, in order.
    pub tools: Vec<String>,
    /// Tool choice.
    pub tool_choice: ToolChoice,
    /// Input token count, deterministic from the request text.
    pub input_tokens: u64,
    /// Stable hash of the request without `stream`, so a streamed and a plain call of the same
    /// request get the same ids.
    pub fingerprint: u64,
}
