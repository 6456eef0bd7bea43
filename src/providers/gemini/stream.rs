//! Gemini's SSE stream (`:streamGenerateContent?alt=sse`) → OpenAI chunks. Each `data:` event
//! is a whole `GenerateContentResponse` holding only what is new; there is no `[DONE]`: the
//! last event carries `finishReason` (and the final usage), then the upstream closes. Function
//! calls arrive whole, so each becomes one tool-call start plus its full arguments. An `error`
//! object in an event ends the client stream with an in-band error and `[DONE]`.

use bytes::Bytes;

use super::errors::from_api_error;
use super::response::{
    CONTENT_FILTER, TOOL_CALLS, arguments_json, finish_reason, is_thought, tool_call, usage,
};
use super::wire::{GenerateContentResponse, Part};
use crate::clock::unix_now;
use crate::error::GatewayError;
use crate::providers::translate::new_completion_id;
use crate::stream::openai::{ChunkWriter, error_events};
use crate::stream::sse::{self, Framer};
use crate::stream::{StreamFault, Tally, Translate};
use crate::tokens::estimate_from_bytes;
use crate::types::Usage;

/// Translates one Gemini stream (a single candidate) into OpenAI chunks.
#[derive(Debug)]
pub struct GeminiStream {
    framer: Framer,
    writer: ChunkWriter,
    provider: String,
    id: String,
    model: String,
    tally: Tally,
    /// The latest usage Gemini reported.
    reported: Option<Usage>,
    /// The role chunk went out.
    started: bool,
    /// Tool calls so far (the OpenAI `index` of the next one).
    tools: u32,
    /// The finish chunk went out.
    finished: bool,
    /// `[DONE]` went out (after the end or an error): everything else is ignored.
    closed: bool,
}

impl GeminiStream {
    /// A translator for `provider`'s stream of `model`; the usage chunk goes to the client only
    /// when it asked (`include_usage`), the tally always has it.
    pub fn new(provider: &str, model: &str, include_usage: bool) -> Self {
        let id = new_completion_id();
        Self {
            framer: Framer::default(),
            writer: ChunkWriter::new(id.clone(), model, unix_now(), include_usage),
            provider: provider.to_owned(),
            id,
            model: model.to_owned(),
            tally: Tally::default(),
            reported: None,
            started: false,
            tools: 0,
            finished: false,
            closed: false,
        }
    }

    fn event(&mut self, raw: &[u8], out: &mut Vec<Bytes>) {
        if self.closed {
            return;
        }
        let event = sse::parse_event(raw);
        let data = event.data.trim_ascii();
        if data.is_empty() {
            return;
        }
        let response: GenerateContentResponse = match serde_json::from_slice(data) {
            Ok(response) => response,
            Err(e) => {
                let error = GatewayError::UpstreamProtocol {
                    provider: self.provider.clone(),
                    detail: format!("a stream event is not a GenerateContentResponse: {e}"),
                };
                self.tally.upstream_error = true;
                self.close_with_error(&error, out);
                return;
            }
        };
        if let Some(error) = &response.error {
            let error = from_api_error(&self.provider, None, error, None);
            self.tally.upstream_error = true;
            self.close_with_error(&error, out);
            return;
        }
        self.response(&response, out);
    }

    fn response(&mut self, response: &GenerateContentResponse, out: &mut Vec<Bytes>) {
        if let Some(meta) = &response.usage_metadata {
            // Later events carry the running total; the last one is final.
            self.reported = Some(usage(meta));
        }
        if !self.started {
            self.started = true;
            let id = response.response_id.as_deref().unwrap_or(&self.id);
            let model = response.model_version.as_deref().unwrap_or(&self.model);
            self.writer.set_identity(id, model);
            out.push(self.writer.role());
        }
        if !self.finished {
            self.candidate(response, out);
        }
        self.account();
    }

    /// The first (only) candidate's parts and finish reason; a blocked prompt has none.
    fn candidate(&mut self, response: &GenerateContentResponse, out: &mut Vec<Bytes>) {
        let Some(candidate) = response.candidates.first() else {
            let blocked = response
                .prompt_feedback
                .as_ref()
                .is_some_and(|f| f.block_reason.is_some());
            if blocked {
                self.finish(CONTENT_FILTER, out);
            }
            return;
        };
        for part in candidate.content.iter().flat_map(|c| &c.parts) {
            self.part(part, out);
        }
        if let Some(reason) = &candidate.finish_reason {
            // Calls end with STOP; OpenAI clients look for `tool_calls`.
            let reason = if self.tools > 0 {
                TOOL_CALLS
            } else {
                finish_reason(reason)
            };
            self.finish(reason, out);
        }
    }

    /// Keeps the tally's usage current. Before the last event Gemini reports the prompt but
    /// little or no output, so the output so far is estimated from the text forwarded: a client
    /// that walks away mid-stream is charged for what it got.
    fn account(&mut self) {
        let Some(mut usage) = self.reported else {
            return;
        };
        if !self.finished {
            let forwarded = usize::try_from(self.tally.content_bytes).unwrap_or(usize::MAX);
            usage.output = usage.output.max(estimate_from_bytes(forwarded));
        }
        self.tally.usage = Some(usage);
    }

    fn part(&mut self, part: &Part, out: &mut Vec<Bytes>) {
        if let Some(call) = &part.function_call {
            let id = tool_call(call, part.thought_signature.as_deref()).id;
            let arguments = arguments_json(call);
            out.push(self.writer.tool_start(self.tools, &id, &call.name));
            out.push(self.writer.tool_arguments(self.tools, &arguments));
            self.tally.add_text(arguments.as_bytes());
            self.tools += 1;
            return;
        }
        let Some(text) = part.text.as_deref().filter(|t| !t.is_empty()) else {
            return;
        };
        self.tally.add_text(text.as_bytes());
        out.push(if is_thought(part) {
            self.writer.reasoning(text)
        } else {
            self.writer.text(text)
        });
    }

    fn finish(&mut self, reason: &str, out: &mut Vec<Bytes>) {
        self.finished = true;
        out.push(self.writer.finish(reason));
    }

    fn close_with_error(&mut self, error: &GatewayError, out: &mut Vec<Bytes>) {
        self.closed = true;
        error_events(error, out);
    }
}

impl Translate for GeminiStream {
    fn on_chunk(&mut self, chunk: Bytes, out: &mut Vec<Bytes>) -> Result<(), StreamFault> {
        for event in self.framer.split(chunk)? {
            self.event(&event, out);
        }
        Ok(())
    }

    fn on_end(&mut self, out: &mut Vec<Bytes>) -> Result<(), StreamFault> {
        if let Some(rest) = self.framer.finish() {
            self.event(&rest, out);
        }
        if self.closed {
            return Ok(());
        }
        // Without `[DONE]`, the finish reason is the only sign the stream was complete.
        if !self.finished {
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
