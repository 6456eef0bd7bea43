//! Ollama's NDJSON chat stream → OpenAI chunks. One line is one JSON object: text and reasoning
//! deltas become content chunks, tool calls (always whole in Ollama) become one start and one
//! arguments fragment each, the `done: true` line becomes the finish chunk, the usage chunk
//! (only when the client asked) and `[DONE]`. An `{"error": …}` line is an in-band error; a
//! stream that closes before `done` is truncated.

use bytes::Bytes;

use super::response::{finish_reason, in_band_error, tool_call, usage};
use super::wire::ChatReply;
use crate::error::GatewayError;
use crate::stream::ndjson::Framer;
use crate::stream::openai::{ChunkWriter, error_events};
use crate::stream::{StreamFault, Tally, Translate};

/// Translates one `/api/chat` stream.
#[derive(Debug)]
pub struct ChatStream {
    framer: Framer,
    writer: ChunkWriter,
    provider: String,
    tally: Tally,
    /// The role chunk went out.
    started: bool,
    /// Tool calls sent so far (the next call's OpenAI `index`).
    calls: u32,
    /// The client stream is complete (`[DONE]` sent, after `done` or an error line).
    ended: bool,
}

impl ChatStream {
    /// A translator writing chunks with `writer`; `provider` names the provider in errors.
    pub fn new(writer: ChunkWriter, provider: &str) -> Self {
        Self {
            framer: Framer::default(),
            writer,
            provider: provider.to_owned(),
            tally: Tally::default(),
            started: false,
            calls: 0,
            ended: false,
        }
    }

    fn line(&mut self, line: &[u8], out: &mut Vec<Bytes>) -> Result<(), StreamFault> {
        if self.ended {
            return Ok(());
        }
        let reply: ChatReply<'_> =
            serde_json::from_slice(line).map_err(|_| StreamFault::Malformed)?;
        if let Some(error) = &reply.error {
            self.tally.upstream_error = true;
            self.ended = true;
            error_events(&in_band_error(&self.provider, error), out);
            return Ok(());
        }
        if !self.started {
            self.started = true;
            out.push(self.writer.role());
        }
        self.message(&reply, out);
        if reply.done {
            self.done(&reply, out);
        }
        Ok(())
    }

    /// This line's piece of the message: reasoning, text, whole tool calls.
    fn message(&mut self, reply: &ChatReply<'_>, out: &mut Vec<Bytes>) {
        let Some(message) = &reply.message else {
            return;
        };
        if let Some(thinking) = message.thinking.as_deref().filter(|t| !t.is_empty()) {
            self.tally.add_text(thinking.as_bytes());
            out.push(self.writer.reasoning(thinking));
        }
        if let Some(text) = message.content.as_deref().filter(|t| !t.is_empty()) {
            self.tally.add_text(text.as_bytes());
            out.push(self.writer.text(text));
        }
        for call in message.tool_calls.iter().flatten() {
            let call = tool_call(call);
            let arguments = &call.function.arguments;
            self.tally.add_text(arguments.as_bytes());
            out.push(
                self.writer
                    .tool_start(self.calls, &call.id, &call.function.name),
            );
            out.push(self.writer.tool_arguments(self.calls, arguments));
            self.calls += 1;
        }
    }

    /// The last line: finish chunk, usage (when asked), `[DONE]`.
    fn done(&mut self, reply: &ChatReply<'_>, out: &mut Vec<Bytes>) {
        let reason = finish_reason(reply.done_reason.as_deref(), self.calls > 0);
        out.push(self.writer.finish(reason));
        if let Some(usage) = usage(reply) {
            self.tally.usage = Some(usage);
            out.extend(self.writer.usage(usage));
        }
        out.push(self.writer.done());
        self.tally.done = true;
        self.ended = true;
    }
}

impl Translate for ChatStream {
    fn on_chunk(&mut self, chunk: Bytes, out: &mut Vec<Bytes>) -> Result<(), StreamFault> {
        let lines = self.framer.split(chunk)?;
        lines.iter().try_for_each(|line| self.line(line, out))
    }

    fn on_end(&mut self, out: &mut Vec<Bytes>) -> Result<(), StreamFault> {
        if let Some(rest) = self.framer.finish() {
            self.line(&rest, out)?;
        }
        if self.ended {
            Ok(())
        } else {
            Err(StreamFault::Truncated)
        }
    }

    fn on_error(&mut self, error: &GatewayError, out: &mut Vec<Bytes>) {
        // A stream that already ended properly gets nothing after its `[DONE]`.
        if self.ended {
            return;
        }
        self.ended = true;
        self.tally.gateway_error = true;
        error_events(error, out);
    }

    fn tally(&self) -> &Tally {
        &self.tally
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::providers::ollama::testing::{fixture, normalize_ids};
    use crate::types::Usage;

    /// Runs the translator over `chunks` as `Translated` does (an end fault becomes the in-band
    /// error) and returns each client event's payload (JSON, or the string `[DONE]`), ids
    /// normalized, with the tally.
    fn run(chunks: &[&[u8]], include_usage: bool) -> (Vec<Value>, Tally) {
        let writer = ChunkWriter::new("stream-1", "llama3.2", 1, include_usage);
        let mut translator = ChatStream::new(writer, "local");
        let mut out = Vec::new();
        let mut fault = None;
        for chunk in chunks {
            if let Err(f) = translator.on_chunk(Bytes::copy_from_slice(chunk), &mut out) {
                fault = Some(f);
                break;
            }
        }
        if fault.is_none() {
            fault = translator.on_end(&mut out).err();
        }
        if let Some(fault) = fault {
            translator.on_error(&fault.to_error("local"), &mut out);
        }
        let events = out
            .iter()
            .map(|event| {
                let text = std::str::from_utf8(event).unwrap();
                let data = text
                    .strip_prefix("data: ")
                    .unwrap()
                    .strip_suffix("\n\n")
                    .unwrap();
                let mut value = serde_json::from_str(data).unwrap_or_else(|_| json!(data));
                normalize_ids(&mut value);
                value
            })
            .collect();
        (events, translator.tally().clone())
    }

    /// Runs `chunks` and compares the client events and the tally.
    fn check(chunks: &[&[u8]], include_usage: bool, expected: &[Value], tally: &Tally) {
        let (events, got) = run(chunks, include_usage);
        let input: Vec<_> = chunks.iter().map(|c| String::from_utf8_lossy(c)).collect();
        assert_eq!(events, expected, "{input:?}");
        assert_eq!(&got, tally, "{input:?}");
    }

    fn chunk(delta: Value, finish: Option<&str>) -> Value {
        json!({"id": "stream-1", "object": "chat.completion.chunk", "created": 1, "model": "llama3.2",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    }

    fn role() -> Value {
        chunk(json!({"role": "assistant", "content": ""}), None)
    }

    fn usage_chunk(prompt: u64, completion: u64) -> Value {
        json!({"id": "stream-1", "object": "chat.completion.chunk", "created": 1, "model": "llama3.2",
            "choices": [], "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion, "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0}}})
    }

    fn usage(input: u64, output: u64) -> Option<Usage> {
        Some(Usage {
            input,
            output,
            ..Usage::default()
        })
    }

    #[test]
    fn text_stream_fixture_with_and_without_usage() {
        let text = fixture("chat_stream.ndjson");
        let finished = Tally {
            usage: usage(26, 282),
            content_bytes: 3,
            sample: b"The".to_vec(),
            done: true,
            ..Tally::default()
        };
        let mut expected = vec![
            role(),
            chunk(json!({"content": "The"}), None),
            chunk(json!({}), Some("stop")),
            json!("[DONE]"),
        ];
        check(&[text.as_bytes()], false, &expected, &finished);
        expected.insert(3, usage_chunk(26, 282));
        check(&[text.as_bytes()], true, &expected, &finished);
    }

    #[test]
    fn output_does_not_depend_on_where_chunks_split() {
        let text = fixture("chat_stream.ndjson");
        let whole = run(&[text.as_bytes()], true);
        for at in 1..text.len() {
            let (head, tail) = text.as_bytes().split_at(at);
            assert_eq!(run(&[head, tail], true), whole, "split at {at}");
        }
    }

    #[test]
    fn tool_calls_and_reasoning() {
        let lines = concat!(
            r#"{"model":"qwen3","message":{"role":"assistant","content":"","thinking":"need weather"},"done":false}"#,
            "\n",
            r#"{"model":"qwen3","message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"get_weather","arguments":{"city":"Tokyo"}}},{"id":"c2","function":{"name":"get_time","arguments":{}}}]},"done":false}"#,
            "\r\n",
            r#"{"model":"qwen3","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","prompt_eval_count":10,"eval_count":5}"#,
        );
        let start = |index: u32, id: &str, name: &str| {
            chunk(
                json!({"tool_calls": [{"index": index, "id": id, "type": "function",
                "function": {"name": name, "arguments": ""}}]}),
                None,
            )
        };
        let arguments = |index: u32, text: &str| {
            chunk(
                json!({"tool_calls": [{"index": index, "function": {"arguments": text}}]}),
                None,
            )
        };
        let expected = [
            role(),
            chunk(json!({"reasoning_content": "need weather"}), None),
            start(0, "<call>", "get_weather"),
            arguments(0, r#"{"city":"Tokyo"}"#),
            start(1, "c2", "get_time"),
            arguments(1, "{}"),
            chunk(json!({}), Some("tool_calls")),
            json!("[DONE]"),
        ];
        let tally = Tally {
            usage: usage(10, 5),
            content_bytes: 12 + 16 + 2,
            sample: br#"need weather{"city":"Tokyo"}{}"#.to_vec(),
            done: true,
            ..Tally::default()
        };
        check(&[lines.as_bytes()], false, &expected, &tally);
    }

    fn error_event(message: &str, kind: &str, code: Option<&str>) -> Value {
        json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
    }

    #[test]
    fn an_error_line_ends_the_stream_in_band() {
        let text = fixture("error_midstream.ndjson");
        let expected = [
            // The fixture's first lines are /api/generate-shaped (`response`, no `message`):
            // they carry nothing a chat client reads.
            role(),
            error_event(
                "an error was encountered while running the model",
                "server_error",
                None,
            ),
            json!("[DONE]"),
        ];
        let tally = Tally {
            upstream_error: true,
            ..Tally::default()
        };
        check(&[text.as_bytes()], true, &expected, &tally);
        // An error before anything else, and lines after the error, add nothing.
        let (events, _) = run(&[b"{\"error\":\"boom\"}\n{\"done\":true}\n"], false);
        assert_eq!(
            events,
            [error_event("boom", "server_error", None), json!("[DONE]")]
        );
    }

    #[test]
    fn a_stream_without_done_is_truncated_and_garbage_is_malformed() {
        let text = fixture("chat_stream.ndjson");
        let first = text.lines().next().unwrap();
        let invalid = |detail: &str| {
            error_event(
                &format!("Upstream provider `local` sent an invalid response: {detail}"),
                "upstream_error",
                Some("upstream_invalid_response"),
            )
        };
        let truncated = invalid("the stream ended before it was complete");
        let malformed = invalid("a stream event could not be read");
        let cases: [(&[u8], Vec<Value>); 3] = [
            (
                first.as_bytes(),
                vec![
                    role(),
                    chunk(json!({"content": "The"}), None),
                    truncated.clone(),
                ],
            ),
            (b"", vec![truncated]),
            (b"{\"done\":false}\nnot json\n", vec![role(), malformed]),
        ];
        for (input, mut expected) in cases {
            let (events, tally) = run(&[input], false);
            expected.push(json!("[DONE]"));
            assert_eq!(events, expected, "{}", String::from_utf8_lossy(input));
            assert!(tally.gateway_error && !tally.done);
        }
    }

    #[test]
    fn nothing_follows_done() {
        let text = format!(
            "{}{{\"message\":{{\"content\":\"late\"}}}}\n",
            fixture("chat_stream.ndjson")
        );
        let mut translator = ChatStream::new(ChunkWriter::new("i", "m", 1, false), "local");
        let mut out = Vec::new();
        translator.on_chunk(Bytes::from(text), &mut out).unwrap();
        let before = out.len();
        translator.on_error(&GatewayError::Internal("late".into()), &mut out);
        assert_eq!(translator.on_end(&mut out), Ok(()));
        assert_eq!(out.len(), before);
        assert!(
            out.last()
                .is_some_and(|b| b.as_ref() == b"data: [DONE]\n\n")
        );
        assert!(!translator.tally().gateway_error);
    }
}
