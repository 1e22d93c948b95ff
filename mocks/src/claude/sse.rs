//! The official server-sent event sequence for a message, paced by the token model.

use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use futures_util::stream;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::api::{ContentBlock, Message};

/// Characters per text delta (about three tokens) and per `input_json_delta`.
const TEXT_CHUNK: usize = 12;
const JSON_CHUNK: usize = 16;

/// One event and how far into the generation time it is sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// `event:` name.
    pub name: &'static str,
    /// `data:` JSON.
    pub data: Value,
    /// Fraction (0..=1) of the token generation time elapsed when this event is sent.
    pub at: f64,
}

fn chunks(s: &str, size: usize) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

/// The events for `msg`: message_start, per block start/ping/deltas/stop, message_delta,
/// message_stop. With `fail`, an overloaded `error` event replaces everything after the first
/// content_block_start.
pub fn events(msg: &Message, fail: bool) -> Vec<Event> {
    let mut start = serde_json::to_value(msg).unwrap_or(Value::Null);
    start["content"] = json!([]);
    start["stop_reason"] = Value::Null;
    start["stop_sequence"] = Value::Null;
    start["usage"]["output_tokens"] = json!(1);
    let mut out = vec![Event {
        name: "message_start",
        data: json!({"type": "message_start", "message": start}),
        at: 0.0,
    }];
    let total_chars: usize = msg.content.iter().map(block_chars).sum::<usize>().max(1);
    let mut sent = 0usize;
    for (index, block) in msg.content.iter().enumerate() {
        let at = sent as f64 / total_chars as f64;
        let (start_block, pieces, delta_kind, field) = match block {
            ContentBlock::Text { text } => (
                json!({"type": "text", "text": ""}),
                chunks(text, TEXT_CHUNK),
                "text_delta",
                "text",
            ),
            ContentBlock::ToolUse { id, name, input } => (
                json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
                chunks(&input.to_string(), JSON_CHUNK),
                "input_json_delta",
                "partial_json",
            ),
        };
        out.push(Event {
            name: "content_block_start",
            data: json!({"type": "content_block_start", "index": index, "content_block": start_block}),
            at,
        });
        if index == 0 {
            out.push(Event {
                name: "ping",
                data: json!({"type": "ping"}),
                at,
            });
        }
        if fail {
            out.push(Event {
                name: "error",
                data: json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
                at,
            });
            return out;
        }
        for piece in pieces {
            sent += piece.chars().count();
            out.push(Event {
                name: "content_block_delta",
                data: json!({"type": "content_block_delta", "index": index, "delta": {"type": delta_kind, field: piece}}),
                at: sent as f64 / total_chars as f64,
            });
        }
        out.push(Event {
            name: "content_block_stop",
            data: json!({"type": "content_block_stop", "index": index}),
            at: sent as f64 / total_chars as f64,
        });
    }
    out.push(Event {
        name: "message_delta",
        data: json!({
            "type": "message_delta",
            "delta": {"stop_reason": msg.stop_reason, "stop_sequence": msg.stop_sequence},
            "usage": {"output_tokens": msg.usage.output_tokens},
        }),
        at: 1.0,
    });
    out.push(Event {
        name: "message_stop",
        data: json!({"type": "message_stop"}),
        at: 1.0,
    });
    out
}

fn block_chars(b: &ContentBlock) -> usize {
    match b {
        ContentBlock::Text { text } => text.chars().count(),
        ContentBlock::ToolUse { input, .. } => input.to_string().chars().count(),
    }
}

/// Formats one event as SSE bytes.
pub fn encode(e: &Event) -> Bytes {
    Bytes::from(format!("event: {}\ndata: {}\n\n", e.name, e.data))
}

/// A body that sends `events`: message_start at once, the first content after `ttft`, the rest
/// spread over `generation` by absolute deadlines. `guard` (e.g. the concurrency permit) is held
/// until the body ends or is dropped.
pub fn body<G: Send + 'static>(
    events: Vec<Event>,
    ttft: Duration,
    generation: Duration,
    guard: G,
) -> Body {
    let start = Instant::now();
    let stream = stream::unfold(
        (events.into_iter(), guard),
        move |(mut it, guard)| async move {
            let event = it.next()?;
            if event.name != "message_start" {
                let due = start + ttft + generation.mul_f64(event.at.clamp(0.0, 1.0));
                tokio::time::sleep_until(due).await;
            }
            Some((
                Ok::<Bytes, std::convert::Infallible>(encode(&event)),
                (it, guard),
            ))
        },
    );
    Body::from_stream(stream)
}
