//! Request validation with the official API's rules and precise `invalid_request_error`s.

use serde_json::{Map, Value};

use super::api::tokens;
use super::error::ApiError;
use super::request::{Block, MessagesRequest, Role, ToolChoice, Turn};
use super::tool_rules;
use crate::common::fnv::{canonical_json, fnv1a};

const TOP_LEVEL: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "system",
    "tools",
    "tool_choice",
    "stream",
    "temperature",
    "top_p",
    "top_k",
    "metadata",
    "stop_sequences",
    "thinking",
    "service_tier",
    "container",
    "mcp_servers",
    "context_management",
    "output_config",
    "output_format",
    "inference_geo",
];

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::InvalidRequest(message.into())
}

/// Parses and validates a request body.
pub fn parse(body: &[u8]) -> Result<MessagesRequest, ApiError> {
    parse_for(body, false)
}

/// Parses a body of `POST /v1/messages` (`count_only` false) or of `count_tokens` (true).
pub fn parse_for(body: &[u8], count_only: bool) -> Result<MessagesRequest, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        bad(format!(
            "There was an error parsing the body of your request: {e}"
        ))
    })?;
    let Value::Object(mut obj) = value else {
        return Err(bad("The request body must be a JSON object"));
    };
    if count_only {
        // `count_tokens` takes the same body without `max_tokens`.
        obj.entry("max_tokens").or_insert(Value::from(1));
    }
    if let Some(extra) = obj.keys().find(|k| !TOP_LEVEL.contains(&k.as_str())) {
        return Err(bad(format!("{extra}: Extra inputs are not permitted")));
    }
    let model = match obj.get("model") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(_) => return Err(bad("model: Input should be a valid string")),
        None => return Err(bad("model: Field required")),
    };
    let max_tokens = match obj.get("max_tokens") {
        None => return Err(bad("max_tokens: Field required")),
        Some(v) => match v.as_u64() {
            Some(n) if n >= 1 => n,
            Some(_) => {
                return Err(bad(
                    "max_tokens: Input should be greater than or equal to 1",
                ))
            }
            None => return Err(bad("max_tokens: Input should be a valid integer")),
        },
    };
    let stream_value = obj.remove("stream");
    let fingerprint = fnv1a(canonical_json(&Value::Object(obj.clone())).as_bytes());
    let stream = match stream_value.as_ref() {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(bad("stream: Input should be a valid boolean")),
    };
    check_optional_numbers(&obj)?;
    let system = parse_system(obj.get("system"))?;
    let (tools, tools_text) = parse_tools(obj.get("tools"))?;
    let tool_choice = parse_tool_choice(obj.get("tool_choice"), &tools)?;
    let turns = parse_messages(obj.get("messages"))?;
    tool_rules::check(&turns, &tools)?;
    let text: usize = turns.iter().flat_map(|t| &t.blocks).map(block_chars).sum();
    let input_tokens =
        tokens(&system) + tokens(&tools_text) + (text as u64).div_ceil(4) + 3 * turns.len() as u64;
    Ok(MessagesRequest {
        model,
        max_tokens,
        stream,
        system,
        turns,
        tools,
        tool_choice,
        input_tokens,
        fingerprint,
    })
}

fn block_chars(b: &Block) -> usize {
    match b {
        Block::Text(t) => t.chars().count(),
        Block::ToolUse { name, input, .. } => name.len() + input.to_string().len(),
        Block::ToolResult { content, .. } => content.chars().count(),
        Block::Other => 0,
    }
}

fn check_optional_numbers(obj: &Map<String, Value>) -> Result<(), ApiError> {
    if let Some(t) = obj.get("temperature") {
        match t.as_f64() {
            Some(x) if (0.0..=1.0).contains(&x) => {}
            Some(x) if x > 1.0 => {
                return Err(bad("temperature: Input should be less than or equal to 1"))
            }
            Some(_) => {
                return Err(bad(
                    "temperature: Input should be greater than or equal to 0",
                ))
            }
            None => return Err(bad("temperature: Input should be a valid number")),
        }
    }
    if let Some(p) = obj.get("top_p") {
        if !p.as_f64().is_some_and(|x| (0.0..=1.0).contains(&x)) {
            return Err(bad("top_p: Input should be a number between 0 and 1"));
        }
    }
    if let Some(k) = obj.get("top_k") {
        if k.as_u64().is_none() {
            return Err(bad("top_k: Input should be a valid non-negative integer"));
        }
    }
    if let Some(m) = obj.get("metadata") {
        let ok = match m {
            Value::Object(m) => m
                .iter()
                .all(|(k, v)| k == "user_id" && (v.is_string() || v.is_null())),
            Value::Null => true,
            _ => false,
        };
        if !ok {
            return Err(bad(
                "metadata: Input should be an object with an optional string user_id",
            ));
        }
    }
    if let Some(s) = obj.get("stop_sequences") {
        if !s.as_array().is_some_and(|a| a.iter().all(Value::is_string)) {
            return Err(bad("stop_sequences: Input should be a list of strings"));
        }
    }
    Ok(())
}

fn parse_system(system: Option<&Value>) -> Result<String, ApiError> {
    match system {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(blocks)) => {
            let mut out = String::new();
            for (i, b) in blocks.iter().enumerate() {
                match (
                    b.get("type").and_then(Value::as_str),
                    b.get("text").and_then(Value::as_str),
                ) {
                    (Some("text"), Some(t)) => out.push_str(t),
                    _ => {
                        return Err(bad(format!(
                            "system.{i}: Input should be a text block with a string `text`"
                        )))
                    }
                }
            }
            Ok(out)
        }
        Some(_) => Err(bad(
            "system: Input should be a string or a list of text blocks",
        )),
    }
}

fn valid_tool_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn parse_tools(tools: Option<&Value>) -> Result<(Vec<String>, String), ApiError> {
    let list = match tools {
        None | Some(Value::Null) => return Ok((Vec::new(), String::new())),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(bad("tools: Input should be a valid list")),
    };
    let mut names = Vec::new();
    for (i, tool) in list.iter().enumerate() {
        let name = tool
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(format!("tools.{i}.name: Field required")))?;
        if !valid_tool_name(name) {
            return Err(bad(format!(
                "tools.{i}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'"
            )));
        }
        let custom = matches!(
            tool.get("type").and_then(Value::as_str),
            None | Some("custom")
        );
        if custom {
            match tool.get("input_schema") {
                Some(Value::Object(schema))
                    if schema.get("type").and_then(Value::as_str) == Some("object") => {}
                Some(_) => {
                    return Err(bad(format!(
                        "tools.{i}.input_schema.type: Input should be 'object'"
                    )))
                }
                None => return Err(bad(format!("tools.{i}.input_schema: Field required"))),
            }
            if tool.get("description").is_some_and(|d| !d.is_string()) {
                return Err(bad(format!(
                    "tools.{i}.description: Input should be a valid string"
                )));
            }
        }
        if names.iter().any(|n| n == name) {
            return Err(bad("tools: Tool names must be unique."));
        }
        names.push(name.to_string());
    }
    Ok((names, Value::Array(list.clone()).to_string()))
}

fn parse_tool_choice(choice: Option<&Value>, tools: &[String]) -> Result<ToolChoice, ApiError> {
    let Some(choice) = choice.filter(|c| !c.is_null()) else {
        return Ok(ToolChoice::Auto);
    };
    let kind = choice
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("tool_choice.type: Field required"))?;
    let parsed = match kind {
        "auto" => ToolChoice::Auto,
        "any" => ToolChoice::Any,
        "none" => ToolChoice::None,
        "tool" => {
            let name = choice
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("tool_choice.name: Field required"))?;
            if !tools.iter().any(|t| t == name) {
                return Err(bad(format!(
                    "tool_choice.name: Tool '{name}' not found in provided tools"
                )));
            }
            ToolChoice::Tool(name.to_string())
        }
        other => {
            return Err(bad(format!(
                "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none', got '{other}'"
            )))
        }
    };
    if tools.is_empty() && parsed != ToolChoice::None && parsed != ToolChoice::Auto {
        return Err(bad(
            "tool_choice may only be specified while providing tools.",
        ));
    }
    Ok(parsed)
}

fn parse_messages(messages: Option<&Value>) -> Result<Vec<Turn>, ApiError> {
    let list = match messages {
        None => return Err(bad("messages: Field required")),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(bad("messages: Input should be a valid list")),
    };
    if list.is_empty() {
        return Err(bad("messages: at least one message is required"));
    }
    let mut turns: Vec<Turn> = Vec::with_capacity(list.len());
    for (i, msg) in list.iter().enumerate() {
        let role = match msg.get("role").and_then(Value::as_str) {
            Some("user") => Role::User,
            Some("assistant") => Role::Assistant,
            Some(_) => {
                return Err(bad(format!(
                    "messages.{i}.role: Input should be 'user' or 'assistant'"
                )))
            }
            None => return Err(bad(format!("messages.{i}.role: Field required"))),
        };
        if i == 0 && role != Role::User {
            return Err(bad("messages: first message must use the \"user\" role"));
        }
        let blocks = parse_content(i, role, msg.get("content"))?;
        let is_final_assistant = i + 1 == list.len() && role == Role::Assistant;
        if blocks.is_empty() && !is_final_assistant {
            return Err(bad(format!(
                "messages.{i}: all messages must have non-empty content except for the optional final assistant message"
            )));
        }
        // Consecutive turns of one role are combined into a single turn, as the API does.
        match turns.last_mut() {
            Some(prev) if prev.role == role => prev.blocks.extend(blocks),
            _ => turns.push(Turn { role, blocks }),
        }
    }
    Ok(turns)
}

fn parse_content(i: usize, role: Role, content: Option<&Value>) -> Result<Vec<Block>, ApiError> {
    let list = match content {
        None => return Err(bad(format!("messages.{i}.content: Field required"))),
        Some(Value::String(s)) if s.is_empty() => return Ok(Vec::new()),
        Some(Value::String(s)) => return Ok(vec![Block::Text(s.clone())]),
        Some(Value::Array(list)) => list,
        Some(_) => {
            return Err(bad(format!(
                "messages.{i}.content: Input should be a string or a list of content blocks"
            )))
        }
    };
    let mut blocks = Vec::with_capacity(list.len());
    for (j, b) in list.iter().enumerate() {
        let at = format!("messages.{i}.content.{j}");
        let kind = b
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(format!("{at}.type: Field required")))?;
        let block = match kind {
            "text" => Block::Text(
                b.get("text").and_then(Value::as_str).ok_or_else(|| bad(format!("{at}.text: Field required")))?.to_string(),
            ),
            "tool_use" => {
                if role != Role::Assistant {
                    return Err(bad(format!("{at}: tool_use blocks are only allowed in assistant messages")));
                }
                let id = b.get("id").and_then(Value::as_str).ok_or_else(|| bad(format!("{at}.id: Field required")))?;
                let name = b.get("name").and_then(Value::as_str).ok_or_else(|| bad(format!("{at}.name: Field required")))?;
                let input = b.get("input").filter(|v| v.is_object()).ok_or_else(|| bad(format!("{at}.input: Input should be a valid dictionary")))?;
                Block::ToolUse { id: id.to_string(), name: name.to_string(), input: input.clone() }
            }
            "tool_result" => {
                if role != Role::User {
                    return Err(bad(format!("{at}: tool_result blocks are only allowed in user messages")));
                }
                let id = b.get("tool_use_id").and_then(Value::as_str).ok_or_else(|| bad(format!("{at}.tool_use_id: Field required")))?;
                let is_error = match b.get("is_error") {
                    None | Some(Value::Null) => false,
                    Some(Value::Bool(e)) => *e,
                    Some(_) => return Err(bad(format!("{at}.is_error: Input should be a valid boolean"))),
                };
                Block::ToolResult { tool_use_id: id.to_string(), content: result_text(&at, b.get("content"))?, is_error }
            }
            "image" | "document" | "thinking" | "redacted_thinking" | "search_result" => Block::Other,
            other => return Err(bad(format!("{at}.type: Input tag '{other}' found using 'type' does not match any of the expected tags"))),
        };
        blocks.push(block);
    }
    Ok(blocks)
}

fn result_text(at: &str, content: Option<&Value>) -> Result<String, ApiError> {
    match content {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(parts)) => Ok(parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n")),
        Some(_) => Err(bad(format!(
            "{at}.content: Input should be a string or a list of content blocks"
        ))),
    }
}
