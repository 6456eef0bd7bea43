//! OpenAI chat-completion chunks → Responses API stream events, in the order the official
//! SDKs' stream helpers check: `response.created`, `response.in_progress`, then per output item
//! `response.output_item.added`, its parts and deltas and their `.done` events,
//! `response.output_item.done`, and last `response.completed` (or `response.incomplete`). A
//! failure ends with an `error` event and `response.failed`. Every event carries its `event:`
//! line and an increasing `sequence_number`. A pure [`Translate`]: the one async loop is
//! [`crate::stream::Translated`].

use bytes::Bytes;
use serde_json::Value;

use self::events::{Event, emit_numbered};
use super::response::{
    ASSISTANT, Skeleton, call_item_id, error_code, message_id, reasoning_id, reasoning_item,
    status as response_status,
};
use super::state::Shelf;
use crate::error::GatewayError;
use crate::providers::translate::new_call_id;
use crate::stream::lenient::{Chunk, InBandDetail};
use crate::stream::openai::{sample_chunk, scan_chunk};
use crate::stream::sse::{self, Framer};
use crate::stream::{StreamFault, Tally, Translate};
use crate::tokens;
use crate::types::Usage;
use crate::types::chat::{Delta, ToolCallDelta};
use crate::types::responses::{
    COMPLETED, IN_PROGRESS, OutputContent, OutputItem, ResponseError, ResponseObject,
};

/// The only content part of a streamed message.
const CONTENT_INDEX: u32 = 0;

/// The output item being streamed.
#[derive(Debug)]
enum Open {
    /// A reasoning item with one text part.
    Reasoning { id: String, text: String },
    /// An assistant message with one part: text, or a refusal.
    Text {
        id: String,
        text: String,
        refusal: bool,
    },
    /// A function call, for the upstream's tool call `call`.
    Call {
        id: String,
        call: u32,
        call_id: String,
        name: String,
        arguments: String,
    },
}

impl Open {
    /// The item as `status`, with what has streamed so far.
    fn item(&self, status: &'static str) -> OutputItem {
        match self {
            Self::Reasoning { id, text } => {
                let text = if status == COMPLETED { text } else { "" };
                reasoning_item(id.clone(), text.to_owned(), status)
            }
            Self::Text { id, text, refusal } => OutputItem::Message {
                id: id.clone(),
                status,
                role: ASSISTANT,
                content: if status == COMPLETED {
                    vec![part(text, *refusal)]
                } else {
                    Vec::new()
                },
            },
            Self::Call {
                id,
                call_id,
                name,
                arguments,
                ..
            } => OutputItem::FunctionCall {
                id: id.clone(),
                call_id: call_id.clone(),
                name: name.clone(),
                arguments: if status == COMPLETED {
                    arguments.clone()
                } else {
                    String::new()
                },
                status,
            },
        }
    }
}

/// A message's one content part: `text`, as output text or as a refusal.
fn part(text: &str, refusal: bool) -> OutputContent {
    if refusal {
        OutputContent::Refusal {
            refusal: text.to_owned(),
        }
    } else {
        OutputContent::text(text)
    }
}

/// Turns an OpenAI-format stream (any provider's `chat` stream) into a Responses one.
#[derive(Debug)]
pub struct ToResponses {
    framer: Framer,
    events: Vec<Bytes>,
    skeleton: Skeleton,
    /// `usage.input_tokens` when the upstream never reports usage.
    input_estimate: u64,
    sequence: u64,
    started: bool,
    open: Option<Open>,
    /// Finished output items, in order.
    output: Vec<OutputItem>,
    finish_reason: Option<String>,
    usage: Option<Usage>,
    /// The final (or failure) event went out: nothing more may follow.
    ended: bool,
    tally: Tally,
    /// Where the finished response is kept, with the input the model saw (`store: true`).
    keep: Option<(Shelf, Vec<Value>)>,
}

impl ToResponses {
    /// A translator for one response built on `skeleton`, whose prompt is about
    /// `input_estimate` tokens.
    pub fn new(skeleton: Skeleton, input_estimate: u64) -> Self {
        Self {
            framer: Framer::default(),
            events: Vec::new(),
            skeleton,
            input_estimate,
            sequence: 0,
            started: false,
            open: None,
            output: Vec::new(),
            finish_reason: None,
            usage: None,
            ended: false,
            tally: Tally::default(),
            keep: None,
        }
    }

    /// Keeps the finished response on `shelf` with the `input` the model saw.
    #[must_use]
    pub fn keeping(mut self, shelf: Shelf, input: Vec<Value>) -> Self {
        self.keep = Some((shelf, input));
        self
    }

    fn emit(&mut self, event: &Event<'_>, out: &mut Vec<Bytes>) {
        emit_numbered(&mut self.sequence, event, out);
    }

    /// Translates one upstream event; a payload that is not a chunk object is a fault (the
    /// stream then ends with `response.failed`, never as a quiet completion).
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
            let detail = InBandDetail::of(data);
            let message = detail.message.as_deref().map_or_else(
                || "The upstream stream failed.".to_owned(),
                crate::providers::errors::bounded_message,
            );
            let code = match detail.code.as_deref() {
                Some("rate_limit_exceeded") => "rate_limit_exceeded",
                _ => "server_error",
            };
            self.fail(code, &message, out);
            self.tally.upstream_error = true;
            return Ok(());
        }
        let chunk =
            serde_json::from_slice::<Chunk<'_>>(data).map_err(|_| StreamFault::Malformed)?;
        self.start(&chunk.model, out);
        // The Responses API has no `n`: only the first choice is streamed.
        for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
            self.delta(choice.delta, out);
            if let Some(reason) = choice.finish_reason {
                self.finish_reason = Some(reason.into_owned());
                self.close(out);
            }
        }
        if let Some(usage) = scan.usage {
            self.usage = Some(usage);
            self.tally.usage = Some(usage);
        }
        // Usage comes in a chunk of its own after the finish chunk; the response ends when
        // both are in (or at `[DONE]`).
        if self.finish_reason.is_some() && self.usage.is_some() {
            self.finish(out);
        }
        Ok(())
    }

    /// `response.created` and `response.in_progress`, once.
    fn start(&mut self, model: &str, out: &mut Vec<Bytes>) {
        if self.started {
            return;
        }
        self.started = true;
        if !model.is_empty() {
            model.clone_into(&mut self.skeleton.model);
        }
        let response = self.skeleton.response(IN_PROGRESS, Vec::new(), None);
        self.emit(
            &Event::Created {
                response: response.clone(),
            },
            out,
        );
        self.emit(&Event::InProgress { response }, out);
    }

    fn delta(&mut self, delta: Delta<'_>, out: &mut Vec<Bytes>) {
        if let Some(reasoning) = delta.reasoning_content.filter(|r| !r.is_empty()) {
            self.reasoning(&reasoning, out);
        }
        for (text, refusal) in [(delta.content, false), (delta.refusal, true)] {
            if let Some(text) = text.filter(|t| !t.is_empty()) {
                self.text(&text, refusal, out);
            }
        }
        for call in delta.tool_calls.unwrap_or_default() {
            self.tool_call(call, out);
        }
    }

    /// A reasoning fragment: opens the reasoning item when another item is open.
    fn reasoning(&mut self, fragment: &str, out: &mut Vec<Bytes>) {
        if !matches!(self.open, Some(Open::Reasoning { .. })) {
            self.close(out);
            let open = Open::Reasoning {
                id: reasoning_id(),
                text: String::new(),
            };
            let output_index = self.output.len();
            let item = open.item(IN_PROGRESS);
            self.open = Some(open);
            self.emit(&Event::ItemAdded { output_index, item }, out);
        }
        let output_index = self.output.len();
        if let Some(Open::Reasoning { id, text }) = &mut self.open {
            text.push_str(fragment);
            let event = Event::ReasoningDelta {
                item_id: id,
                output_index,
                content_index: CONTENT_INDEX,
                delta: fragment,
            };
            emit_numbered(&mut self.sequence, &event, out);
        }
    }

    /// A text (or refusal) fragment: opens a message item with a part of that kind when
    /// another item is open.
    fn text(&mut self, fragment: &str, refusal: bool, out: &mut Vec<Bytes>) {
        if !matches!(self.open, Some(Open::Text { refusal: open, .. }) if open == refusal) {
            self.close(out);
            let id = message_id();
            let open = Open::Text {
                id: id.clone(),
                text: String::new(),
                refusal,
            };
            let output_index = self.output.len();
            let item = open.item(IN_PROGRESS);
            self.open = Some(open);
            self.emit(&Event::ItemAdded { output_index, item }, out);
            let part = part("", refusal);
            let added = Event::PartAdded {
                item_id: &id,
                output_index,
                content_index: CONTENT_INDEX,
                part,
            };
            self.emit(&added, out);
        }
        let output_index = self.output.len();
        if let Some(Open::Text { id, text, refusal }) = &mut self.open {
            text.push_str(fragment);
            let event = if *refusal {
                Event::RefusalDelta {
                    item_id: id,
                    output_index,
                    content_index: CONTENT_INDEX,
                    delta: fragment,
                }
            } else {
                Event::TextDelta {
                    item_id: id,
                    output_index,
                    content_index: CONTENT_INDEX,
                    delta: fragment,
                    logprobs: [],
                }
            };
            emit_numbered(&mut self.sequence, &event, out);
        }
    }

    /// A tool call fragment: a new upstream call index opens a new function call item;
    /// argument text becomes `response.function_call_arguments.delta`s.
    fn tool_call(&mut self, call: ToolCallDelta<'_>, out: &mut Vec<Bytes>) {
        let same = matches!(&self.open, Some(Open::Call { call: open, .. }) if *open == call.index);
        if !same {
            self.close(out);
            let name = call.function.as_ref().and_then(|f| f.name.as_deref());
            let open = Open::Call {
                id: call_item_id(),
                call: call.index,
                call_id: call.id.as_deref().map_or_else(new_call_id, str::to_owned),
                name: name.unwrap_or_default().to_owned(),
                arguments: String::new(),
            };
            let item = open.item(IN_PROGRESS);
            self.open = Some(open);
            let output_index = self.output.len();
            self.emit(&Event::ItemAdded { output_index, item }, out);
        }
        let Some(fragment) = call
            .function
            .and_then(|f| f.arguments)
            .filter(|a| !a.is_empty())
        else {
            return;
        };
        let output_index = self.output.len();
        if let Some(Open::Call { id, arguments, .. }) = &mut self.open {
            arguments.push_str(&fragment);
            let event = Event::ArgumentsDelta {
                item_id: id,
                output_index,
                delta: &fragment,
            };
            emit_numbered(&mut self.sequence, &event, out);
        }
    }

    /// The `.done` events of the open item, which joins the output.
    fn close(&mut self, out: &mut Vec<Bytes>) {
        let Some(open) = self.open.take() else {
            return;
        };
        let output_index = self.output.len();
        match &open {
            Open::Reasoning { id, text } => {
                let done = Event::ReasoningDone {
                    item_id: id,
                    output_index,
                    content_index: CONTENT_INDEX,
                    text,
                };
                self.emit(&done, out);
            }
            Open::Text { id, text, refusal } => {
                let done = if *refusal {
                    Event::RefusalDone {
                        item_id: id,
                        output_index,
                        content_index: CONTENT_INDEX,
                        refusal: text,
                    }
                } else {
                    Event::TextDone {
                        item_id: id,
                        output_index,
                        content_index: CONTENT_INDEX,
                        text,
                        logprobs: [],
                    }
                };
                self.emit(&done, out);
                let part = part(text, *refusal);
                let done = Event::PartDone {
                    item_id: id,
                    output_index,
                    content_index: CONTENT_INDEX,
                    part,
                };
                self.emit(&done, out);
            }
            Open::Call {
                id,
                name,
                arguments,
                ..
            } => {
                let done = Event::ArgumentsDone {
                    item_id: id,
                    output_index,
                    name,
                    arguments,
                };
                self.emit(&done, out);
            }
        }
        let item = open.item(COMPLETED);
        self.emit(
            &Event::ItemDone {
                output_index,
                item: item.clone(),
            },
            out,
        );
        self.output.push(item);
    }

    /// `response.completed` (or `response.incomplete`) with the whole output and the usage (the
    /// upstream's, else an estimate).
    fn finish(&mut self, out: &mut Vec<Bytes>) {
        if self.ended {
            return;
        }
        self.start("", out);
        self.close(out);
        let usage = self.usage.unwrap_or_else(|| Usage {
            input: self.input_estimate,
            output: tokens::estimate_scaled(&self.tally.sample, self.tally.content_bytes),
            ..Usage::default()
        });
        let (status, incomplete_details) = response_status(self.finish_reason.as_deref());
        let response = ResponseObject {
            incomplete_details,
            ..self
                .skeleton
                .response(status, std::mem::take(&mut self.output), Some(usage))
        };
        // Kept before the client hears it is done, so its next request finds it.
        if let Some((shelf, input)) = &self.keep
            && let Ok(body) = serde_json::to_vec(&response)
        {
            shelf.keep(&self.skeleton.id, input, &body);
        }
        let event = if status == COMPLETED {
            Event::Completed { response }
        } else {
            Event::Incomplete { response }
        };
        self.emit(&event, out);
        self.ended = true;
        self.tally.done = true;
    }

    /// An `error` event, then `response.failed` with what was finished so far.
    fn fail(&mut self, code: &'static str, message: &str, out: &mut Vec<Bytes>) {
        if self.ended {
            return;
        }
        self.start("", out);
        let error = Event::Error {
            code,
            message,
            param: None,
        };
        self.emit(&error, out);
        let error = ResponseError {
            code,
            message: message.to_owned(),
        };
        let response = self
            .skeleton
            .failed(std::mem::take(&mut self.output), error);
        self.emit(&Event::Failed { response }, out);
        self.ended = true;
    }
}

impl Translate for ToResponses {
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
        self.fail(error_code(error.status()), &error.to_string(), out);
        self.tally.gateway_error = true;
    }

    fn tally(&self) -> &Tally {
        &self.tally
    }
}

mod events;

#[cfg(test)]
mod tests;
