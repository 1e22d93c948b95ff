//! The tool-use loop of one analysis: ask the model, run the turn's tool calls concurrently
//! against the Trading API, send the results back (`tool_result` blocks first in the next user
//! turn), until `end_turn` or the turn limit.

use serde::Serialize;
use serde_json::Value;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use utoipa::ToSchema;

use super::tools;
use crate::error::{AppError, Upstream};
use crate::upstream::claude::ClaudeClient;
use crate::upstream::messages::{ContentBlock, Message, MessagesRequest, Usage};
use crate::upstream::trading::TradingClient;

const SYSTEM_PROMPT: &str = "You are a careful stock analysis assistant. Use the tools to fetch current \
quotes, price history and market status before answering; quote the numbers you were given exactly; \
if a tool fails, say which data could not be retrieved. This is not financial advice.";

/// One tool call made during the analysis.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ToolCallRecord {
    /// Tool name.
    pub name: String,
    /// Input the model gave.
    #[schema(value_type = Object)]
    pub input: Value,
    /// Wall time of the Trading API call.
    pub duration_ms: u64,
    /// True when the call failed (the model was told so).
    pub is_error: bool,
}

/// What the caller asked for.
#[derive(Debug, Clone)]
pub struct AnalysisInput {
    /// The question.
    pub query: String,
    /// Symbols the caller named explicitly (validated, upper case).
    pub symbols: Vec<String>,
    /// Turn limit for this analysis.
    pub max_turns: u32,
    /// Model name.
    pub model: String,
    /// `max_tokens` per call.
    pub max_tokens: u32,
    /// Tool calls run per turn; the model's further calls in that turn get an error result.
    pub max_tool_calls_per_turn: usize,
}

/// The finished analysis.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// The model's final text.
    pub analysis: String,
    /// Symbols analysed: those given, then those the tools were called for.
    pub symbols: Vec<String>,
    /// Every tool call, in order.
    pub tool_calls: Vec<ToolCallRecord>,
    /// Summed token usage.
    pub usage: Usage,
    /// Model that answered.
    pub model: String,
    /// Model calls made.
    pub turns: u32,
    /// Why the loop stopped (`end_turn`, `max_tokens`, `max_turns`, ...).
    pub stop_reason: String,
}

/// The two upstreams an analysis uses.
#[derive(Debug, Clone)]
pub struct Upstreams {
    /// Messages API.
    pub claude: ClaudeClient,
    /// Trading API.
    pub trading: TradingClient,
}

fn first_user_message(input: &AnalysisInput) -> Message {
    let mut text = input.query.clone();
    if !input.symbols.is_empty() {
        text.push_str(&format!("\n\nSymbols: {}", input.symbols.join(", ")));
    }
    Message {
        role: "user".into(),
        content: vec![ContentBlock::Text { text }],
    }
}

/// Runs one tool call; a failure becomes an `is_error` result the model can read, in stable
/// terms, and a log line with the detail (inside the request's span, so under its id).
async fn run_tool(
    trading: &TradingClient,
    id: String,
    name: String,
    input: Value,
    over_limit: Option<usize>,
) -> (ContentBlock, ToolCallRecord) {
    let started = Instant::now();
    let result = match (over_limit, tools::trading_path(&name, &input)) {
        (Some(limit), _) => Err(format!(
            "not run: at most {limit} tool calls per turn; ask again in the next turn"
        )),
        (None, Ok(path)) => trading.get(&path).await.map_err(|e| {
            tracing::warn!(tool = %name, detail = %e, "trading data call failed");
            e.for_model()
        }),
        (None, Err(why)) => Err(format!("invalid tool call: {why}")),
    };
    let is_error = result.is_err();
    let content = result.unwrap_or_else(|message| message);
    let record = ToolCallRecord {
        name,
        input,
        duration_ms: started.elapsed().as_millis() as u64,
        is_error,
    };
    (
        ContentBlock::ToolResult {
            tool_use_id: id,
            content,
            is_error,
        },
        record,
    )
}

fn add_symbol(symbols: &mut Vec<String>, input: &Value) {
    if let Some(s) = input.get("symbol").and_then(Value::as_str) {
        let s = s.trim().to_ascii_uppercase();
        if tools::is_valid_symbol(&s) && !symbols.contains(&s) {
            symbols.push(s);
        }
    }
}

/// Runs the loop to completion or failure within `deadline`. Once `client_gone` is cancelled
/// no new model turn starts (the one in flight is allowed to finish) and the loop returns what
/// it has with `stop_reason: "client_closed"`.
pub async fn run(
    upstreams: &Upstreams,
    input: AnalysisInput,
    deadline: Instant,
    budget: Duration,
    client_gone: &CancellationToken,
) -> Result<Analysis, AppError> {
    let mut request = MessagesRequest {
        model: input.model.clone(),
        max_tokens: input.max_tokens,
        system: SYSTEM_PROMPT.into(),
        tools: tools::definitions(),
        messages: vec![first_user_message(&input)],
    };
    let mut usage = Usage::default();
    let mut tool_calls = Vec::new();
    let mut symbols = input.symbols.clone();
    let mut texts: Vec<String> = Vec::new();
    let mut model = input.model.clone();
    for turn in 1..=input.max_turns {
        if client_gone.is_cancelled() {
            return Ok(Analysis {
                analysis: texts.join("\n"),
                symbols,
                tool_calls,
                usage,
                model,
                turns: turn - 1,
                stop_reason: "client_closed".into(),
            });
        }
        let response = upstreams
            .claude
            .create_message(&request, deadline, budget)
            .await?;
        usage.input_tokens += response.usage.input_tokens;
        usage.output_tokens += response.usage.output_tokens;
        if let Some(m) = response.model.clone() {
            model = m;
        }
        let stop_reason = response
            .stop_reason
            .clone()
            .unwrap_or_else(|| "end_turn".into());
        texts = response
            .content
            .iter()
            .filter_map(|b| match b {
                ContentBlock::Text { text } => Some(text.clone()),
                _ => None,
            })
            .collect();
        let calls: Vec<(String, String, Value)> = response
            .content
            .iter()
            .filter_map(|b| match b {
                ContentBlock::ToolUse { id, name, input } => {
                    Some((id.clone(), name.clone(), input.clone()))
                }
                _ => None,
            })
            .collect();
        if stop_reason != "tool_use" || calls.is_empty() {
            return Ok(Analysis {
                analysis: texts.join("\n"),
                symbols,
                tool_calls,
                usage,
                model,
                turns: turn,
                stop_reason,
            });
        }
        let assistant: Vec<ContentBlock> = response
            .content
            .into_iter()
            .filter(|b| !matches!(b, ContentBlock::Other))
            .collect();
        request.messages.push(Message {
            role: "assistant".into(),
            content: assistant,
        });
        for (_, _, call_input) in &calls {
            add_symbol(&mut symbols, call_input);
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        // Every tool_use needs a tool_result, so calls over the cap are answered, not dropped.
        let limit = input.max_tool_calls_per_turn;
        let runs = futures_util::future::join_all(calls.into_iter().enumerate().map(
            |(i, (id, name, call_input))| {
                let over_limit = (i >= limit).then_some(limit);
                run_tool(&upstreams.trading, id, name, call_input, over_limit)
            },
        ));
        let results =
            tokio::time::timeout(remaining, runs)
                .await
                .map_err(|_| AppError::UpstreamTimeout {
                    deadline: budget,
                    upstream: Upstream::TradingData,
                    cause: format!(
                        "GET {}: the request's deadline passed during turn {turn}'s tool calls",
                        upstreams.trading.base_url()
                    ),
                })?;
        let mut blocks = Vec::with_capacity(results.len());
        for (block, record) in results {
            blocks.push(block);
            tool_calls.push(record);
        }
        request.messages.push(Message {
            role: "user".into(),
            content: blocks,
        });
    }
    Ok(Analysis {
        analysis: texts.join("\n"),
        symbols,
        tool_calls,
        usage,
        model,
        turns: input.max_turns,
        stop_reason: "max_turns".into(),
    })
}
