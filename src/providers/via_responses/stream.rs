//! Responses API stream events → OpenAI chat chunks: text, refusal and reasoning deltas as they
//! come, each function call started by its `output_item.added` and continued by its argument
//! deltas, and the end (`response.completed` / `response.incomplete`) as the finish reason, the
//! usage chunk when the client asked for it, and `[DONE]`. `response.failed` and `error` end the
//! stream with the client's in-band error. A pure [`Translate`] driven by
//! [`crate::stream::Translated`].

use std::borrow::Cow;
use std::collections::HashMap;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;

use super::response::{Parts, ResponseObject, failure_error, with_total};
use crate::error::GatewayError;
use crate::stream::openai::{ChunkWriter, error_events};
use crate::stream::sse::{self, Framer};
use crate::stream::{StreamFault, Tally, Translate};
use crate::types::Usage;
use crate::types::chat::Delta;

/// The fields of a stream event this translator reads.
#[derive(Debug, Deserialize)]
struct Event<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    delta: Option<Cow<'a, str>>,
    #[serde(default)]
    output_index: Option<u64>,
    #[serde(default)]
    item: Option<Value>,
    #[serde(default)]
    response: Option<ResponseObject>,
    /// `error` events: the code and message at the top level.
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// Translates a Responses stream into chat chunks.
#[derive(Debug)]
pub struct FromResponses {
    framer: Framer,
    writer: ChunkWriter,
    provider: String,
    /// Chat tool index of each function call, by its output index.
    tools: HashMap<u64, u32>,
    started: bool,
    finished: bool,
    tally: Tally,
}

impl FromResponses {
    /// A translator writing chunks with `writer` for `provider`.
    pub fn new(writer: ChunkWriter, provider: &str) -> Self {
        Self {
            framer: Framer::default(),
            writer,
            provider: provider.to_owned(),
            tools: HashMap::new(),
            started: false,
            finished: false,
            tally: Tally::default(),
        }
    }

    fn event(&mut self, raw: &[u8], out: &mut Vec<Bytes>) {
        let event = sse::parse_event(raw);
        if self.finished || event.data.is_empty() {
            return;
        }
        let Ok(event) = serde_json::from_slice::<Event<'_>>(&event.data) else {
            // Events this translator does not know (new API features) keep the stream alive.
            return;
        };
        self.start(event.response.as_ref(), out);
        let delta = event.delta.as_deref().unwrap_or_default();
        match event.kind.as_ref() {
            "response.output_text.delta" if !delta.is_empty() => {
                self.tally.add_text(delta.as_bytes());
                out.push(self.writer.text(delta));
            }
            "response.refusal.delta" if !delta.is_empty() => {
                self.tally.add_text(delta.as_bytes());
                let refusal = Delta {
                    refusal: Some(Cow::Borrowed(delta)),
                    ..Delta::default()
                };
                out.push(self.writer.delta(refusal, None));
            }
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta"
                if !delta.is_empty() =>
            {
                self.tally.add_text(delta.as_bytes());
                out.push(self.writer.reasoning(delta));
            }
            "response.output_item.added" => self.item_added(&event, out),
            "response.function_call_arguments.delta" if !delta.is_empty() => {
                let tool = event.output_index.and_then(|i| self.tools.get(&i));
                if let Some(&index) = tool {
                    self.tally.add_text(delta.as_bytes());
                    out.push(self.writer.tool_arguments(index, delta));
                }
            }
            "response.completed" | "response.incomplete" => {
                self.finish(event.response.unwrap_or_default(), out);
            }
            "response.failed" => {
                let response = event.response.unwrap_or_default();
                let error = response
                    .failure(&self.provider)
                    .unwrap_or_else(|| failure_error(&self.provider, None, None));
                self.fail(&error, out);
            }
            "error" => {
                let error = failure_error(&self.provider, event.code, event.message);
                self.fail(&error, out);
            }
            _ => {}
        }
    }

    /// The role chunk, once, with the model the upstream names.
    fn start(&mut self, response: Option<&ResponseObject>, out: &mut Vec<Bytes>) {
        if self.started {
            return;
        }
        if let Some(model) = response.and_then(|r| r.model.as_deref()) {
            let id = self.writer.id().to_owned();
            self.writer.set_identity(&id, model);
        }
        self.started = true;
        out.push(self.writer.role());
    }

    /// A function call starts a tool call; other items start nothing of their own.
    fn item_added(&mut self, event: &Event<'_>, out: &mut Vec<Bytes>) {
        let Some(item) = &event.item else { return };
        if item.get("type").and_then(Value::as_str) != Some("function_call") {
            return;
        }
        let field = |key: &str| item.get(key).and_then(Value::as_str).unwrap_or_default();
        let index = u32::try_from(self.tools.len()).unwrap_or(u32::MAX);
        self.tools
            .insert(event.output_index.unwrap_or_default(), index);
        out.push(
            self.writer
                .tool_start(index, field("call_id"), field("name")),
        );
        let arguments = field("arguments");
        if !arguments.is_empty() {
            out.push(self.writer.tool_arguments(index, arguments));
        }
    }

    /// The finish reason, the usage chunk (when asked), `[DONE]`.
    fn finish(&mut self, response: ResponseObject, out: &mut Vec<Bytes>) {
        let mut parts = Parts::default();
        response.output.iter().for_each(|item| parts.add(item));
        let calls_tools = !self.tools.is_empty() || !parts.calls.is_empty();
        out.push(self.writer.finish(response.finish_reason(calls_tools)));
        if let Some(usage) = response.usage.map(with_total) {
            let usage = Usage::from(&usage);
            self.tally.usage = Some(usage);
            out.extend(self.writer.usage(usage));
        }
        out.push(self.writer.done());
        self.tally.done = true;
        self.finished = true;
    }

    fn fail(&mut self, error: &GatewayError, out: &mut Vec<Bytes>) {
        self.tally.upstream_error = true;
        self.finished = true;
        error_events(error, out);
    }
}

impl Translate for FromResponses {
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
        if self.finished {
            Ok(())
        } else {
            Err(StreamFault::Truncated)
        }
    }

    fn on_error(&mut self, error: &GatewayError, out: &mut Vec<Bytes>) {
        if self.finished {
            return;
        }
        self.tally.gateway_error = true;
        self.finished = true;
        error_events(error, out);
    }

    fn tally(&self) -> &Tally {
        &self.tally
    }
}

#[cfg(test)]
mod tests;
