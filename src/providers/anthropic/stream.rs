//! Anthropic SSE → OpenAI chunks (for OpenAI clients), and the Anthropic passthrough scanner
//! (for Anthropic clients: events forwarded untouched, usage read on the way). Both are pure
//! `Translate` impls driven by `stream::Translated`.

use std::collections::HashMap;
use std::sync::LazyLock;

use bytes::Bytes;

use super::response::{error, finish_reason, status_of};
use crate::error::GatewayError;
use crate::stream::openai::{ChunkWriter, TextKeys, error_events};
use crate::stream::sse::{self, Framer};
use crate::stream::{StreamFault, Tally, Translate};
use crate::types::anthropic::{AnthropicUsage, Block, BlockDelta, StreamEvent};

/// A tool_use block being streamed.
#[derive(Debug)]
struct ToolBlock {
    /// OpenAI's per-message tool index (0, 1, …), not Anthropic's block index.
    index: u32,
    /// Whether any argument text was sent.
    has_arguments: bool,
}

/// Translates an Anthropic Messages stream into OpenAI chat-completion chunks.
#[derive(Debug)]
pub struct ToOpenAi {
    framer: Framer,
    writer: ChunkWriter,
    provider: String,
    tools: HashMap<u32, ToolBlock>,
    next_tool: u32,
    usage: AnthropicUsage,
    tally: Tally,
    finished: bool,
}

impl ToOpenAi {
    /// A translator writing chunks with `writer` (which knows whether usage was asked for).
    pub fn new(writer: ChunkWriter, provider: &str) -> Self {
        Self {
            framer: Framer::default(),
            writer,
            provider: provider.to_owned(),
            tools: HashMap::new(),
            next_tool: 0,
            usage: AnthropicUsage::default(),
            tally: Tally::default(),
            finished: false,
        }
    }

    fn event(&mut self, raw: &[u8], out: &mut Vec<Bytes>) {
        let event = sse::parse_event(raw);
        if self.finished || event.data.is_empty() {
            return;
        }
        let Ok(parsed) = serde_json::from_slice::<StreamEvent<'_>>(&event.data) else {
            // Unknown event types are new API features; skipping them keeps the stream alive.
            return;
        };
        match parsed {
            StreamEvent::MessageStart { message } => {
                self.writer.set_identity(&message.id, &message.model);
                self.record_usage(message.usage);
                out.push(self.writer.role());
            }
            StreamEvent::ContentBlockStart {
                index,
                content_block,
            } => self.block_start(index, content_block, out),
            StreamEvent::ContentBlockDelta { index, delta } => self.block_delta(index, delta, out),
            StreamEvent::ContentBlockStop { index } => {
                if let Some(tool) = self.tools.get(&index)
                    && !tool.has_arguments
                {
                    out.push(self.writer.tool_arguments(tool.index, "{}"));
                }
            }
            StreamEvent::MessageDelta { delta, usage } => {
                self.record_usage(usage);
                out.push(
                    self.writer
                        .finish(finish_reason(delta.stop_reason.as_deref())),
                );
            }
            StreamEvent::MessageStop => {
                out.extend(self.writer.usage(self.usage.to_usage()));
                out.push(self.writer.done());
                self.tally.done = true;
                self.finished = true;
            }
            StreamEvent::Ping => {}
            StreamEvent::Error { error: detail } => {
                self.tally.upstream_error = true;
                let e = error(
                    &self.provider,
                    status_of(&detail.kind),
                    &detail.kind,
                    &detail.message,
                    None,
                );
                error_events(&e, out);
                self.finished = true;
            }
        }
    }

    fn block_start(&mut self, index: u32, block: Block, out: &mut Vec<Bytes>) {
        match block {
            Block::ToolUse { id, name, .. } => {
                let tool_index = self.next_tool;
                self.next_tool += 1;
                self.tools.insert(
                    index,
                    ToolBlock {
                        index: tool_index,
                        has_arguments: false,
                    },
                );
                out.push(self.writer.tool_start(tool_index, &id, &name));
            }
            Block::Text { text, .. } if !text.is_empty() => {
                self.tally.add_text(text.as_bytes());
                out.push(self.writer.text(&text));
            }
            _ => {}
        }
    }

    fn block_delta(&mut self, index: u32, delta: BlockDelta<'_>, out: &mut Vec<Bytes>) {
        match delta {
            BlockDelta::TextDelta { text } => {
                self.tally.add_text(text.as_bytes());
                out.push(self.writer.text(&text));
            }
            BlockDelta::ThinkingDelta { thinking } => {
                self.tally.add_text(thinking.as_bytes());
                out.push(self.writer.reasoning(&thinking));
            }
            BlockDelta::InputJsonDelta { partial_json } if !partial_json.is_empty() => {
                self.tally.add_text(partial_json.as_bytes());
                if let Some(tool) = self.tools.get_mut(&index) {
                    tool.has_arguments = true;
                    out.push(self.writer.tool_arguments(tool.index, &partial_json));
                }
            }
            _ => {}
        }
    }

    fn record_usage(&mut self, usage: AnthropicUsage) {
        self.usage.merge(usage);
        self.tally.usage = Some(self.usage.to_usage());
    }
}

impl Translate for ToOpenAi {
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

/// Forwards an Anthropic stream to an Anthropic client untouched, reading usage and the end.
#[derive(Debug, Default)]
pub struct Passthrough {
    framer: Framer,
    usage: AnthropicUsage,
    tally: Tally,
}

/// Event names whose payload the passthrough needs to read.
const ACCOUNTED_EVENTS: [&str; 4] = ["message_start", "message_delta", "message_stop", "error"];

impl Passthrough {
    fn forward(&mut self, raw: Bytes, out: &mut Vec<Bytes>) {
        let event = sse::parse_event(&raw);
        match event.name {
            Some(name) if ACCOUNTED_EVENTS.contains(&name) => self.account(name, &event.data),
            _ => TEXT_KEYS.add_to(&event.data, &mut self.tally),
        }
        out.push(raw);
    }

    /// Reads an accounted event. The end counts only when the event's name (what clients act
    /// on) and its data's `type` agree: a `message_start` whose data says `message_stop` is not
    /// an end the client saw.
    fn account(&mut self, name: &str, data: &[u8]) {
        match (name, serde_json::from_slice::<StreamEvent<'_>>(data)) {
            ("message_start", Ok(StreamEvent::MessageStart { message })) => {
                self.merge(message.usage);
            }
            ("message_delta", Ok(StreamEvent::MessageDelta { usage, .. })) => self.merge(usage),
            ("message_stop", Ok(StreamEvent::MessageStop)) => self.tally.done = true,
            ("error", Ok(StreamEvent::Error { .. })) => self.tally.upstream_error = true,
            _ => {}
        }
    }

    fn merge(&mut self, usage: AnthropicUsage) {
        self.usage.merge(usage);
        self.tally.usage = Some(self.usage.to_usage());
    }
}

/// String fields of Anthropic deltas whose values are generated text.
static TEXT_KEYS: LazyLock<TextKeys<3>> =
    LazyLock::new(|| TextKeys::new([b"\"text\":\"", b"\"partial_json\":\"", b"\"thinking\":\""]));

impl Translate for Passthrough {
    fn on_chunk(&mut self, chunk: Bytes, out: &mut Vec<Bytes>) -> Result<(), StreamFault> {
        for event in self.framer.split(chunk)? {
            self.forward(event, out);
        }
        Ok(())
    }

    fn on_end(&mut self, out: &mut Vec<Bytes>) -> Result<(), StreamFault> {
        if let Some(rest) = self.framer.finish() {
            // Forwarded whole, so an error the gateway sends next is an event of its own.
            self.forward(sse::complete_event(rest), out);
        }
        if self.tally.done || self.tally.upstream_error {
            Ok(())
        } else {
            Err(StreamFault::Truncated)
        }
    }

    fn on_error(&mut self, error: &GatewayError, out: &mut Vec<Bytes>) {
        // After `message_stop` (or the upstream's own error) the stream is over for the client.
        if self.tally.done || self.tally.upstream_error {
            return;
        }
        self.tally.gateway_error = true;
        let body = serde_json::json!({
            "type": "error",
            "error": {"type": "api_error", "message": error.to_string()},
        });
        out.push(sse::named_event("error", body.to_string().as_bytes()));
    }

    fn tally(&self) -> &Tally {
        &self.tally
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Usage;
    use serde_json::{Value, json};

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/reference");

    fn run(fixture: &str, include_usage: bool) -> (Vec<Value>, Tally, Result<(), StreamFault>) {
        let text = std::fs::read(format!("{FIXTURES}/anthropic/{fixture}")).unwrap();
        let mut t = ToOpenAi::new(ChunkWriter::new("id", "m", 1, include_usage), "anthropic");
        let mut out = Vec::new();
        // Feed in small pieces: event boundaries must not matter.
        for piece in text.chunks(37) {
            t.on_chunk(Bytes::copy_from_slice(piece), &mut out).unwrap();
        }
        let end = t.on_end(&mut out);
        let data = out
            .iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .map(|s| s.strip_prefix("data: ").unwrap().trim_end().to_owned())
            .map(|d| {
                if d == "[DONE]" {
                    json!("[DONE]")
                } else {
                    serde_json::from_str(&d).unwrap()
                }
            })
            .collect();
        (data, t.tally().clone(), end)
    }

    /// The deltas (choices[0]) and finish reasons, for comparison with the fixture's mapping.
    fn deltas(chunks: &[Value]) -> Vec<Value> {
        chunks
            .iter()
            .map(|c| match c.get("choices").and_then(|ch| ch.get(0)) {
                Some(choice) => {
                    json!({"delta": choice["delta"], "finish_reason": choice["finish_reason"]})
                }
                None => c.get("usage").map_or(c.clone(), |u| json!({"usage": u})),
            })
            .collect()
    }

    #[test]
    fn thinking_and_tool_use_stream_matches_the_translation_fixture() {
        let (chunks, tally, end) = run("messages_stream_thinking_tool_use.sse", true);
        assert_eq!(end, Ok(()));
        let expected: Value = serde_json::from_str(
            &std::fs::read_to_string(format!(
                "{FIXTURES}/translations/anthropic_stream_to_openai_chunks.json"
            ))
            .unwrap(),
        )
        .unwrap();
        let want: Vec<Value> = expected["mapping"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|row| {
                if let Some(delta) = row.get("openai_delta").filter(|d| !d.is_null()) {
                    // We skip the empty input_json_delta the fixture marks "may be skipped".
                    let empty_args = delta["tool_calls"][0]["function"]["arguments"] == "" && delta["tool_calls"][0].get("id").is_none();
                    (!empty_args).then(|| json!({"delta": delta, "finish_reason": row.get("finish_reason").cloned().unwrap_or(Value::Null)}))
                } else if let Some(chunk) = row.get("openai_chunk") {
                    let mut usage = chunk["usage"].clone();
                    usage["completion_tokens_details"] = json!({"reasoning_tokens": 0});
                    Some(json!({"usage": usage}))
                } else {
                    row.get("openai_line").map(|_| json!("[DONE]"))
                }
            })
            .collect();
        assert_eq!(deltas(&chunks), want);
        assert_eq!(chunks[0]["id"], "msg_01XYZstream2");
        assert_eq!(
            tally.usage,
            Some(Usage {
                input: 2520,
                output: 89,
                cached: 2048,
                reasoning: 0
            })
        );
    }

    #[test]
    fn usage_chunk_only_when_asked_but_always_tallied() {
        let (chunks, tally, _) = run("messages_stream_text.sse", false);
        assert!(chunks.iter().all(|c| c.get("usage").is_none()));
        let text: String = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert_eq!(text, "Hello!");
        assert_eq!(tally.usage.map(|u| (u.input, u.output)), Some((25, 15)));
        assert_eq!(chunks.last(), Some(&json!("[DONE]")));
    }

    #[test]
    fn a_midstream_error_becomes_an_error_event_and_done() {
        let (chunks, tally, end) = run("messages_stream_error_midstream.sse", false);
        assert_eq!(end, Ok(()));
        assert!(tally.upstream_error);
        let error = &chunks[chunks.len() - 2]["error"];
        assert_eq!(error["code"], "overloaded_error");
        assert_eq!(chunks.last(), Some(&json!("[DONE]")));
    }

    #[test]
    fn passthrough_forwards_bytes_and_reads_usage() {
        let text = std::fs::read(format!("{FIXTURES}/anthropic/messages_stream_text.sse")).unwrap();
        let mut p = Passthrough::default();
        let mut out = Vec::new();
        p.on_chunk(Bytes::from(text.clone()), &mut out).unwrap();
        assert_eq!(p.on_end(&mut out), Ok(()));
        assert_eq!(out.concat(), text);
        assert_eq!(p.tally().usage.map(|u| (u.input, u.output)), Some((25, 15)));
        assert!(p.tally().content_bytes >= 6);
    }
}
