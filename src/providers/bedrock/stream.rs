//! Bedrock ConverseStream (`application/vnd.amazon.eventstream`) → OpenAI chunks. Each
//! event-stream message is an `event` named by `:event-type` whose payload is that event's JSON
//! body: `messageStart`, `contentBlockStart` (a tool call's id and name), `contentBlockDelta`
//! (text, a tool call's argument fragment, or reasoning text), `contentBlockStop`,
//! `messageStop` (the stop reason) and last `metadata` (usage). There is no terminator: a stream
//! is complete when both `messageStop` and `metadata` came. An `exception` message
//! (`:exception-type`, payload `{"message": …}`) or an `error` message (`:error-code`) ends
//! the client stream with an in-band error and `[DONE]`; broken framing (a bad CRC, an oversize
//! message) is a stream fault.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;

use super::errors::{from_exception, stream_error};
use super::response::{finish_reason, usage};
use super::wire::{
    ContentBlockDeltaEvent, ContentBlockStartEvent, ContentBlockStopEvent, MessageStopEvent,
    MetadataEvent, ReasoningDelta,
};
use crate::clock::unix_now;
use crate::error::GatewayError;
use crate::providers::translate::new_completion_id;
use crate::stream::eventstream::{
    Decoder, ERROR_CODE, ERROR_MESSAGE, EVENT_TYPE, EXCEPTION_TYPE, FrameError, MESSAGE_TYPE,
    Message,
};
use crate::stream::openai::{ChunkWriter, error_events};
use crate::stream::{StreamFault, Tally, Translate};
use crate::types::chat::{REDACTED_THINKING, THINKING};

/// The tool call being streamed (Converse streams one content block at a time).
#[derive(Debug, Clone, Copy)]
struct ToolBlock {
    /// Converse's `contentBlockIndex`.
    block: u32,
    /// OpenAI's per-message tool index (0, 1, …).
    index: u32,
    /// Whether any argument text was sent.
    has_arguments: bool,
}

/// Translates one ConverseStream into OpenAI chunks.
#[derive(Debug)]
pub struct ConverseStream {
    decoder: Decoder,
    writer: ChunkWriter,
    provider: String,
    tally: Tally,
    /// The role chunk went out.
    started: bool,
    tool: Option<ToolBlock>,
    /// Tool calls so far (the OpenAI index of the next one).
    tools: u32,
    /// `messageStop` came (the finish chunk went out).
    finished: bool,
    /// `metadata` came.
    metadata: bool,
    /// `[DONE]` went out (after the end or an error): everything else is ignored.
    closed: bool,
}

impl ConverseStream {
    /// A translator for `provider`'s stream of `model`; the usage chunk goes to the client only
    /// when it asked (`include_usage`), the tally always has it.
    pub fn new(provider: &str, model: &str, include_usage: bool) -> Self {
        Self {
            decoder: Decoder::default(),
            writer: ChunkWriter::new(new_completion_id(), model, unix_now(), include_usage),
            provider: provider.to_owned(),
            tally: Tally::default(),
            started: false,
            tool: None,
            tools: 0,
            finished: false,
            metadata: false,
            closed: false,
        }
    }

    fn message(&mut self, message: &Message, out: &mut Vec<Bytes>) {
        if self.closed {
            return;
        }
        match message.header_str(MESSAGE_TYPE) {
            Some("event") => {
                let kind = message.header_str(EVENT_TYPE).unwrap_or_default();
                self.event(kind, &message.payload, out);
            }
            Some("exception") => {
                let kind = message.header_str(EXCEPTION_TYPE).unwrap_or_default();
                let error = from_exception(&self.provider, kind, &message.payload);
                self.upstream_failed(&error, out);
            }
            Some("error") => {
                let code = message.header_str(ERROR_CODE).unwrap_or_default();
                let text = message.header_str(ERROR_MESSAGE).map(str::to_owned);
                let error = stream_error(&self.provider, code, text);
                self.upstream_failed(&error, out);
            }
            // Other message types carry nothing for the client.
            _ => {}
        }
    }

    fn event(&mut self, kind: &str, payload: &[u8], out: &mut Vec<Bytes>) {
        match kind {
            "messageStart" => self.start(out),
            "contentBlockStart" => {
                if let Some(event) = self.parse::<ContentBlockStartEvent>(kind, payload, out) {
                    self.block_start(&event, out);
                }
            }
            "contentBlockDelta" => {
                if let Some(event) = self.parse::<ContentBlockDeltaEvent>(kind, payload, out) {
                    self.block_delta(&event, out);
                }
            }
            "contentBlockStop" => {
                if let Some(event) = self.parse::<ContentBlockStopEvent>(kind, payload, out) {
                    self.block_stop(event.content_block_index, out);
                }
            }
            "messageStop" => {
                if let Some(event) = self.parse::<MessageStopEvent>(kind, payload, out) {
                    self.start(out);
                    self.finished = true;
                    out.push(
                        self.writer
                            .finish(finish_reason(event.stop_reason.as_deref())),
                    );
                }
            }
            "metadata" => {
                if let Some(event) = self.parse::<MetadataEvent>(kind, payload, out) {
                    self.metadata = true;
                    if let Some(reported) = &event.usage {
                        self.tally.usage = Some(usage(reported));
                    }
                }
            }
            // New event types are new Bedrock features; skipping them keeps the stream alive.
            _ => {}
        }
    }

    /// An event's body, or `None` after ending the stream with a protocol error.
    fn parse<'p, T: Deserialize<'p>>(
        &mut self,
        kind: &str,
        payload: &'p [u8],
        out: &mut Vec<Bytes>,
    ) -> Option<T> {
        match serde_json::from_slice(payload) {
            Ok(event) => Some(event),
            Err(e) => {
                let error = GatewayError::UpstreamProtocol {
                    provider: self.provider.clone(),
                    detail: format!("a {kind} event could not be read: {e}"),
                };
                self.upstream_failed(&error, out);
                None
            }
        }
    }

    /// The role chunk, once, before anything else.
    fn start(&mut self, out: &mut Vec<Bytes>) {
        if !self.started {
            self.started = true;
            out.push(self.writer.role());
        }
    }

    fn block_start(&mut self, event: &ContentBlockStartEvent, out: &mut Vec<Bytes>) {
        self.start(out);
        let Some(call) = &event.start.tool_use else {
            return;
        };
        let index = self.tools;
        self.tools += 1;
        self.tool = Some(ToolBlock {
            block: event.content_block_index,
            index,
            has_arguments: false,
        });
        out.push(self.writer.tool_start(index, &call.tool_use_id, &call.name));
    }

    fn block_delta(&mut self, event: &ContentBlockDeltaEvent<'_>, out: &mut Vec<Bytes>) {
        self.start(out);
        let delta = &event.delta;
        if let Some(text) = delta.text.as_deref().filter(|t| !t.is_empty()) {
            self.tally.add_text(text.as_bytes());
            out.push(self.writer.text(text));
        }
        if let Some(call) = &delta.tool_use
            && let Some(tool) = self
                .tool
                .as_mut()
                .filter(|t| t.block == event.content_block_index)
            && !call.input.is_empty()
        {
            tool.has_arguments = true;
            let index = tool.index;
            self.tally.add_text(call.input.as_bytes());
            out.push(self.writer.tool_arguments(index, &call.input));
        }
        if let Some(reasoning) = &delta.reasoning_content {
            self.reasoning(reasoning, out);
        }
    }

    /// Reasoning text as `reasoning_content`; its signature and redacted reasoning as
    /// `thinking_blocks` entries, which a client must send back to continue the conversation.
    fn reasoning(&mut self, reasoning: &ReasoningDelta<'_>, out: &mut Vec<Bytes>) {
        if let Some(text) = reasoning.text.as_deref().filter(|t| !t.is_empty()) {
            self.tally.add_text(text.as_bytes());
            out.push(self.writer.reasoning(text));
        }
        if let Some(signature) = reasoning.signature.as_deref().filter(|s| !s.is_empty()) {
            let block = json!({"type": THINKING, "thinking": "", "signature": signature});
            out.push(self.writer.thinking_block(block));
        }
        if let Some(data) = reasoning.redacted_content.as_deref() {
            let block = json!({"type": REDACTED_THINKING, "data": data});
            out.push(self.writer.thinking_block(block));
        }
    }

    /// The end of a block; a tool call that sent no argument text gets `{}`, which OpenAI
    /// clients parse.
    fn block_stop(&mut self, block: u32, out: &mut Vec<Bytes>) {
        if let Some(tool) = self.tool.filter(|t| t.block == block) {
            self.tool = None;
            if !tool.has_arguments {
                out.push(self.writer.tool_arguments(tool.index, "{}"));
            }
        }
    }

    fn upstream_failed(&mut self, error: &GatewayError, out: &mut Vec<Bytes>) {
        self.tally.upstream_error = true;
        self.close_with_error(error, out);
    }

    fn close_with_error(&mut self, error: &GatewayError, out: &mut Vec<Bytes>) {
        self.closed = true;
        error_events(error, out);
    }
}

impl Translate for ConverseStream {
    fn on_chunk(&mut self, chunk: Bytes, out: &mut Vec<Bytes>) -> Result<(), StreamFault> {
        if self.closed {
            return Ok(());
        }
        // The messages before a framing error still reach the client, so where the upstream
        // cut its chunks never changes what the client sees.
        let mut messages = Vec::new();
        let framed = self.decoder.push(chunk, &mut messages);
        for message in &messages {
            self.message(message, out);
        }
        if self.closed {
            return Ok(());
        }
        framed.map_err(FrameError::fault)
    }

    fn on_end(&mut self, out: &mut Vec<Bytes>) -> Result<(), StreamFault> {
        if self.closed {
            return Ok(());
        }
        self.decoder.finish().map_err(|e| e.fault())?;
        // Without a terminator, both closing events are the sign the stream was complete.
        if !(self.finished && self.metadata) {
            return Err(StreamFault::Truncated);
        }
        self.writer.end(&mut self.tally, out);
        self.closed = true;
        Ok(())
    }

    fn on_error(&mut self, error: &GatewayError, out: &mut Vec<Bytes>) {
        if self.closed {
            return;
        }
        self.tally.gateway_error = true;
        self.close_with_error(error, out);
    }

    fn tally(&self) -> &Tally {
        &self.tally
    }
}

#[cfg(test)]
mod tests;
