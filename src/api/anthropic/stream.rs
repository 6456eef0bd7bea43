//! OpenAI chat-completion chunks → Anthropic Messages stream events, in Anthropic's order:
//! `message_start`, then per content block `content_block_start`, its deltas and
//! `content_block_stop`, then `message_delta` (stop reason and usage) and `message_stop`. Every
//! event carries its `event:` line. A pure [`Translate`]: the one async loop is
//! [`crate::stream::Translated`].

use std::borrow::Cow;

use bytes::Bytes;
use serde_json::Value;

use super::error::ERROR as ERROR_EVENT;
use super::response::{ASSISTANT, END_TURN, MESSAGE_TYPE, empty_input, message_id, stop_reason};
use crate::error::GatewayError;
use crate::providers::translate::new_call_id;
use crate::stream::lenient::{Chunk, InBandDetail};
use crate::stream::openai::{sample_chunk, scan_chunk};
use crate::stream::sse::{self, Framer};
use crate::stream::{StreamFault, Tally, Translate};
use crate::tokens;
use crate::types::Usage;
use crate::types::anthropic::{
    AnthropicUsage, Block, BlockDelta, ErrorBody, ErrorDetail, MessageDeltaBody, MessagesResponse,
    StreamEvent,
};
use crate::types::chat::{Delta, REDACTED_THINKING, THINKING, ToolCallDelta};

/// `output_tokens` of `message_start`, before anything was generated (Anthropic sends 1 too).
const INITIAL_OUTPUT_TOKENS: u64 = 1;

/// The content block being streamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    /// A text block at this index.
    Text(u32),
    /// A thinking block (from `reasoning_content`) at this index.
    Thinking(u32),
    /// A redacted thinking block (whole at its start) at this index.
    Redacted(u32),
    /// A `tool_use` block at `index` for OpenAI tool call `call`.
    Tool { index: u32, call: u32 },
}

impl Open {
    fn index(self) -> u32 {
        match self {
            Self::Text(index)
            | Self::Thinking(index)
            | Self::Redacted(index)
            | Self::Tool { index, .. } => index,
        }
    }
}

/// Turns an OpenAI-format stream (any provider's `chat` stream) into an Anthropic one.
#[derive(Debug)]
pub struct ToAnthropic {
    framer: Framer,
    events: Vec<Bytes>,
    /// The model for `message_start` when the upstream names none.
    model: String,
    /// `input_tokens` of `message_start` (the real count only comes with the last chunk).
    input_estimate: u64,
    started: bool,
    open: Option<Open>,
    next_index: u32,
    stop_reason: Option<&'static str>,
    usage: Option<Usage>,
    /// `message_stop` or an error went out: nothing more may follow.
    ended: bool,
    tally: Tally,
}

impl ToAnthropic {
    /// A translator for one stream of `model`, whose prompt is about `input_estimate` tokens.
    pub fn new(model: impl Into<String>, input_estimate: u64) -> Self {
        Self {
            framer: Framer::default(),
            events: Vec::new(),
            model: model.into(),
            input_estimate,
            started: false,
            open: None,
            next_index: 0,
            stop_reason: None,
            usage: None,
            ended: false,
            tally: Tally::default(),
        }
    }

    /// Translates one upstream event; a payload that is not a chunk object is a fault (the
    /// stream then ends with an error event, never as a quiet `end_turn`).
    fn event(&mut self, raw: &[u8], out: &mut Vec<Bytes>) -> Result<(), StreamFault> {
        if self.ended {
            return Ok(());
        }
        let event = sse::parse_event(raw);
        let data = event.data.trim_ascii();
        if data.is_empty() {
            return Ok(());
        }
        let scan = scan_chunk(data);
        self.tally.content_bytes += scan.content_bytes;
        sample_chunk(data, &mut self.tally);
        if scan.done {
            self.finish(out);
            return Ok(());
        }
        if scan.error {
            self.upstream_error(data, out);
            return Ok(());
        }
        let chunk =
            serde_json::from_slice::<Chunk<'_>>(data).map_err(|_| StreamFault::Malformed)?;
        // Anthropic has no `n`: only the first choice is streamed.
        for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
            self.start(&chunk.id, &chunk.model, out);
            self.delta(choice.delta, out);
            if let Some(reason) = choice.finish_reason {
                self.stop_reason = Some(stop_reason(Some(&reason)));
                self.close(out);
            }
        }
        if let Some(usage) = scan.usage {
            self.usage = Some(usage);
            self.tally.usage = Some(usage);
        }
        // OpenAI sends usage in a chunk of its own after the finish chunk; the message ends
        // when both are in (or at `[DONE]`).
        if self.stop_reason.is_some() && self.usage.is_some() {
            self.finish(out);
        }
        Ok(())
    }

    fn start(&mut self, id: &str, model: &str, out: &mut Vec<Bytes>) {
        if self.started {
            return;
        }
        self.started = true;
        let message = MessagesResponse {
            id: message_id(id),
            kind: MESSAGE_TYPE.to_owned(),
            role: ASSISTANT.to_owned(),
            model: if model.is_empty() { &self.model } else { model }.to_owned(),
            content: Vec::new(),
            stop_reason: None,
            stop_sequence: None,
            usage: AnthropicUsage {
                input_tokens: self.input_estimate,
                output_tokens: INITIAL_OUTPUT_TOKENS,
                ..AnthropicUsage::default()
            },
        };
        emit(out, &StreamEvent::MessageStart { message });
    }

    fn delta(&mut self, delta: Delta<'_>, out: &mut Vec<Bytes>) {
        if let Some(thinking) = delta.reasoning_content.filter(|t| !t.is_empty()) {
            let index = self.open_block(Open::Thinking(self.next_index), out);
            let delta = BlockDelta::ThinkingDelta { thinking };
            emit(out, &StreamEvent::ContentBlockDelta { index, delta });
        }
        for block in delta.thinking_blocks.unwrap_or_default() {
            self.thinking_block(&block, out);
        }
        for text in [delta.content, delta.refusal].into_iter().flatten() {
            if !text.is_empty() {
                let index = self.open_block(Open::Text(self.next_index), out);
                let delta = BlockDelta::TextDelta { text };
                emit(out, &StreamEvent::ContentBlockDelta { index, delta });
            }
        }
        for call in delta.tool_calls.unwrap_or_default() {
            self.tool_call(call, out);
        }
    }

    /// A `thinking_blocks` entry: a signature ends the open thinking block's text (Anthropic's
    /// `signature_delta`); redacted thinking is a block of its own, whole at its start.
    fn thinking_block(&mut self, block: &Value, out: &mut Vec<Bytes>) {
        match block["type"].as_str() {
            Some(THINKING) => {
                let Some(signature) = block["signature"].as_str().filter(|s| !s.is_empty()) else {
                    return;
                };
                let index = self.open_block(Open::Thinking(self.next_index), out);
                let delta = BlockDelta::SignatureDelta {
                    signature: Cow::Borrowed(signature),
                };
                emit(out, &StreamEvent::ContentBlockDelta { index, delta });
            }
            Some(REDACTED_THINKING) => {
                let Some(data) = block["data"].as_str() else {
                    return;
                };
                let content_block = Block::RedactedThinking {
                    data: data.to_owned(),
                };
                self.open_new(Open::Redacted(self.next_index), content_block, out);
                self.close(out);
            }
            _ => {}
        }
    }

    /// The index of the open text or thinking block, opening `wanted` (closing any other block)
    /// when the kind changes.
    fn open_block(&mut self, wanted: Open, out: &mut Vec<Bytes>) -> u32 {
        match (self.open, wanted) {
            (Some(Open::Text(index)), Open::Text(_))
            | (Some(Open::Thinking(index)), Open::Thinking(_)) => return index,
            _ => {}
        }
        let content_block = match wanted {
            Open::Thinking(_) => Block::Thinking {
                thinking: String::new(),
                signature: String::new(),
            },
            _ => Block::text(""),
        };
        self.open_new(wanted, content_block, out)
    }

    fn open_new(&mut self, open: Open, content_block: Block, out: &mut Vec<Bytes>) -> u32 {
        self.close(out);
        let index = open.index();
        self.next_index = index + 1;
        self.open = Some(open);
        emit(
            out,
            &StreamEvent::ContentBlockStart {
                index,
                content_block,
            },
        );
        index
    }

    /// A tool call fragment: a new OpenAI call index opens a new `tool_use` block (servers that
    /// repeat the id on every fragment stay in one block); arguments become `input_json_delta`s.
    fn tool_call(&mut self, call: ToolCallDelta<'_>, out: &mut Vec<Bytes>) {
        let index = match self.open {
            Some(Open::Tool { index, call: open }) if open == call.index => index,
            _ => {
                let name = call.function.as_ref().and_then(|f| f.name.as_deref());
                let content_block = Block::ToolUse {
                    id: call.id.as_deref().map_or_else(new_call_id, str::to_owned),
                    name: name.unwrap_or_default().to_owned(),
                    input: empty_input(),
                };
                let open = Open::Tool {
                    index: self.next_index,
                    call: call.index,
                };
                self.open_new(open, content_block, out)
            }
        };
        if let Some(partial_json) = call
            .function
            .and_then(|f| f.arguments)
            .filter(|a| !a.is_empty())
        {
            let delta = BlockDelta::InputJsonDelta { partial_json };
            emit(out, &StreamEvent::ContentBlockDelta { index, delta });
        }
    }

    fn close(&mut self, out: &mut Vec<Bytes>) {
        if let Some(open) = self.open.take() {
            let index = open.index();
            emit(out, &StreamEvent::ContentBlockStop { index });
        }
    }

    /// `message_delta` with the stop reason and the usage (the upstream's, else an estimate),
    /// then `message_stop`.
    fn finish(&mut self, out: &mut Vec<Bytes>) {
        if self.ended {
            return;
        }
        self.start("", "", out);
        self.close(out);
        let usage = self.usage.map_or_else(
            || AnthropicUsage {
                input_tokens: self.input_estimate,
                output_tokens: tokens::estimate_scaled(
                    &self.tally.sample,
                    self.tally.content_bytes,
                ),
                ..AnthropicUsage::default()
            },
            AnthropicUsage::from_usage,
        );
        let delta = MessageDeltaBody {
            stop_reason: Some(self.stop_reason.unwrap_or(END_TURN).to_owned()),
            stop_sequence: None,
        };
        emit(out, &StreamEvent::MessageDelta { delta, usage });
        emit(out, &StreamEvent::MessageStop);
        self.ended = true;
        self.tally.done = true;
    }

    /// The upstream's in-band error as Anthropic's `error` event, which ends the stream.
    fn upstream_error(&mut self, data: &[u8], out: &mut Vec<Bytes>) {
        let detail = InBandDetail::of(data);
        let body = ErrorBody {
            kind: ERROR_EVENT.to_owned(),
            error: ErrorDetail {
                kind: in_band_type(detail.kind.as_deref(), detail.code.as_deref()).to_owned(),
                message: detail
                    .message
                    .map(|m| crate::providers::errors::bounded_message(&m))
                    .unwrap_or_else(|| "The upstream stream failed.".to_owned()),
            },
        };
        out.push(sse::named_event(
            ERROR_EVENT,
            &serde_json::to_vec(&body).unwrap_or_default(),
        ));
        self.tally.upstream_error = true;
        self.ended = true;
    }
}

/// The Anthropic error `type` for an OpenAI in-band error (it has no status to go by).
fn in_band_type(kind: Option<&str>, code: Option<&str>) -> &'static str {
    match (kind.unwrap_or_default(), code.unwrap_or_default()) {
        ("rate_limit_error" | "requests" | "tokens", _) | (_, "rate_limit_exceeded") => {
            "rate_limit_error"
        }
        ("overloaded" | "overloaded_error", _)
        | (_, "service_unavailable" | "server_is_overloaded" | "upstream_overloaded") => {
            "overloaded_error"
        }
        ("invalid_request_error", _) => "invalid_request_error",
        _ => "api_error",
    }
}

/// The `event:` name of an event (its `type`).
fn event_name(event: &StreamEvent<'_>) -> &'static str {
    match event {
        StreamEvent::MessageStart { .. } => "message_start",
        StreamEvent::ContentBlockStart { .. } => "content_block_start",
        StreamEvent::ContentBlockDelta { .. } => "content_block_delta",
        StreamEvent::ContentBlockStop { .. } => "content_block_stop",
        StreamEvent::MessageDelta { .. } => "message_delta",
        StreamEvent::MessageStop => "message_stop",
        StreamEvent::Ping => "ping",
        StreamEvent::Error { .. } => ERROR_EVENT,
    }
}

fn emit(out: &mut Vec<Bytes>, event: &StreamEvent<'_>) {
    let payload = serde_json::to_vec(event).unwrap_or_default();
    out.push(sse::named_event(event_name(event), &payload));
}

impl Translate for ToAnthropic {
    fn on_chunk(&mut self, chunk: Bytes, out: &mut Vec<Bytes>) -> Result<(), StreamFault> {
        let mut events = std::mem::take(&mut self.events);
        let framed = self.framer.push(chunk, &mut events);
        let translated = events
            .drain(..)
            .try_for_each(|event| self.event(&event, out));
        self.events = events;
        translated?;
        framed.map_err(|_| StreamFault::EventTooLarge)
    }

    fn on_end(&mut self, out: &mut Vec<Bytes>) -> Result<(), StreamFault> {
        if let Some(rest) = self.framer.finish() {
            self.event(&rest, out)?;
        }
        if self.ended {
            Ok(())
        } else {
            Err(StreamFault::Truncated)
        }
    }

    fn on_error(&mut self, error: &GatewayError, out: &mut Vec<Bytes>) {
        if self.ended {
            return;
        }
        out.push(sse::named_event(ERROR_EVENT, &super::error::body(error)));
        self.tally.gateway_error = true;
        self.ended = true;
    }

    fn tally(&self) -> &Tally {
        &self.tally
    }
}

#[cfg(test)]
mod tests;
