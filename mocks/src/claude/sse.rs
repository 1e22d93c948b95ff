//! The official server-sent event sequence for a message, paced by the token model.

use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use futures_util::stream;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::api::{ContentBlock, Message};
use super::limits::Permit;

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
    /// Output tokens produced once this event is sent (cumulative): ⌊output_tokens × at⌋ for
    /// content, all of them from `message_delta` on.
    pub tokens: u64,
}

fn chunks(s: &str, size: usize) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

/// The events for `msg`: message_start, per block start/ping/deltas/stop, message_delta,
/// message_stop. With `fail_at = Some(i)`, an overloaded `error` event replaces event `i`
/// (clamped to 1..=last) and nothing follows it.
pub fn events(msg: &Message, fail_at: Option<u64>) -> Vec<Event> {
    let mut out = all_events(msg);
    if let Some(i) = fail_at {
        let i = usize::try_from(i)
            .unwrap_or(usize::MAX)
            .clamp(1, out.len() - 1);
        out.truncate(i);
        let (at, tokens) = out.last().map_or((0.0, 0), |e| (e.at, e.tokens));
        out.push(Event {
            name: "error",
            data: json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
            at,
            tokens,
        });
    }
    out
}

fn all_events(msg: &Message) -> Vec<Event> {
    let total_tokens = msg.usage.output_tokens;
    let produced = |at: f64| (total_tokens as f64 * at).floor() as u64;
    let mut start = serde_json::to_value(msg).unwrap_or(Value::Null);
    start["content"] = json!([]);
    start["stop_reason"] = Value::Null;
    start["stop_sequence"] = Value::Null;
    start["usage"]["output_tokens"] = json!(1);
    let mut out = vec![Event {
        name: "message_start",
        data: json!({"type": "message_start", "message": start}),
        at: 0.0,
        tokens: 0,
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
            tokens: produced(at),
        });
        if index == 0 {
            out.push(Event {
                name: "ping",
                data: json!({"type": "ping"}),
                at,
                tokens: produced(at),
            });
        }
        for piece in pieces {
            sent += piece.chars().count();
            let at = sent as f64 / total_chars as f64;
            out.push(Event {
                name: "content_block_delta",
                data: json!({"type": "content_block_delta", "index": index, "delta": {"type": delta_kind, field: piece}}),
                at,
                tokens: produced(at),
            });
        }
        let at = sent as f64 / total_chars as f64;
        out.push(Event {
            name: "content_block_stop",
            data: json!({"type": "content_block_stop", "index": index}),
            at,
            tokens: produced(at),
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
        tokens: total_tokens,
    });
    out.push(Event {
        name: "message_stop",
        data: json!({"type": "message_stop"}),
        at: 1.0,
        tokens: total_tokens,
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

/// When each event is due and what may delay it.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    /// When the headers went out (`message_start` is sent at once).
    pub start: Instant,
    /// Time to first token.
    pub ttft: Duration,
    /// Time to generate every output token.
    pub generation: Duration,
    /// A stall of this length before event number `.0` (and every event after it moves too).
    pub stall: Option<(usize, Duration)>,
}

impl Pace {
    fn due(&self, index: usize, e: &Event) -> Instant {
        let mut due = self.start + self.ttft + self.generation.mul_f64(e.at.clamp(0.0, 1.0));
        if let Some((at, stall)) = self.stall {
            if index >= at {
                due += stall;
            }
        }
        due
    }
}

/// Waits for each event's deadline and charges the output tokens it produces, without sending
/// anything: the generation of a non-streaming reply, charged as it happens.
pub async fn produce(events: &[Event], pace: Pace, permit: &mut Permit) {
    for (i, e) in events.iter().enumerate().skip(1) {
        tokio::time::sleep_until(pace.due(i, e)).await;
        permit.charge_output(e.tokens.saturating_sub(permit.output_charged()));
    }
}

/// A body that sends `events`: message_start at once, the first content after `ttft`, the rest
/// spread over `generation` by absolute deadlines, charging output tokens to `permit` as each
/// event goes out. The permit (the concurrency slot) is held until the body ends or is dropped.
pub fn body(events: Vec<Event>, pace: Pace, permit: Permit) -> Body {
    let stream = stream::unfold(
        (events.into_iter().enumerate(), permit),
        move |(mut it, mut permit)| async move {
            let (i, event) = it.next()?;
            if i > 0 {
                tokio::time::sleep_until(pace.due(i, &event)).await;
            }
            permit.charge_output(event.tokens.saturating_sub(permit.output_charged()));
            Some((
                Ok::<Bytes, std::convert::Infallible>(encode(&event)),
                (it, permit),
            ))
        },
    );
    Body::from_stream(stream)
}
