//! OpenAI chat-completion chunks: a cheap scan of each `data:` payload (usage, content bytes,
//! errors, `[DONE]`) and the passthrough translator that forwards chunks untouched, except the
//! usage-only chunk the gateway asked for on the client's behalf.

use std::borrow::Cow;
use std::sync::LazyLock;

use bytes::Bytes;
use memchr::memmem;
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::sse::{self, Framer};
use super::{StreamFault, Tally, Translate};
use crate::error::GatewayError;
use crate::types::chat::{ChatChunk, ChunkChoice, Delta, FunctionDelta, ToolCallDelta};
use crate::types::usage::{OpenAiUsage, Usage};

/// What one chunk's payload holds that the gateway cares about.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ChunkScan {
    /// The payload is `[DONE]`.
    pub done: bool,
    /// The chunk carries usage.
    pub usage: Option<Usage>,
    /// The chunk carries usage and no choices (the `include_usage` chunk).
    pub usage_only: bool,
    /// Bytes of generated text (content, reasoning, tool arguments) in the chunk.
    pub content_bytes: u64,
    /// The payload is an error object.
    pub error: bool,
}

/// String fields whose values are generated text.
static TEXT_KEYS: LazyLock<TextKeys<4>> = LazyLock::new(|| {
    TextKeys::new([
        b"\"content\":\"",
        b"\"arguments\":\"",
        b"\"reasoning_content\":\"",
        b"\"refusal\":\"",
    ])
});
/// `"usage":` and `"error":`, searched in every chunk.
static USAGE_KEY: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new(b"\"usage\":"));
static ERROR_KEY: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new(b"\"error\":"));

/// Keys whose string values are generated text, with searchers built once: building a SIMD
/// searcher costs more than running it over a typical chunk.
pub struct TextKeys<const N: usize> {
    finders: [memmem::Finder<'static>; N],
}

impl<const N: usize> TextKeys<N> {
    /// Searchers for `keys` (each written with its opening quote, e.g. `"text":"`).
    pub fn new(keys: [&'static [u8]; N]) -> Self {
        Self {
            finders: keys.map(memmem::Finder::new),
        }
    }

    /// Bytes of text in the values of every key in `data`, without parsing it.
    pub fn bytes_in(&self, data: &[u8]) -> u64 {
        self.values_in(data).map(|v| v.len() as u64).sum()
    }

    /// The (still JSON-escaped) values of every key in `data`.
    pub fn values_in<'d>(&'d self, data: &'d [u8]) -> impl Iterator<Item = &'d [u8]> {
        self.finders
            .iter()
            .flat_map(move |f| string_values_after(data, f))
    }

    /// Counts the text in `data` into `tally` and its sample.
    pub fn add_to(&self, data: &[u8], tally: &mut Tally) {
        for value in self.values_in(data) {
            tally.add_text(value);
        }
    }
}

/// Keeps the generated text of a chat chunk `data` in `tally`'s sample while it has room (the
/// bytes were counted by [`scan_chunk`]).
pub fn sample_chunk(data: &[u8], tally: &mut Tally) {
    if tally.wants_sample() {
        for value in TEXT_KEYS.values_in(data) {
            tally.sample_text(value);
        }
    }
}

/// Scans one `data:` payload without parsing it unless it holds usage or an error.
pub fn scan_chunk(data: &[u8]) -> ChunkScan {
    let data = data.trim_ascii();
    if data == b"[DONE]" {
        return ChunkScan {
            done: true,
            ..ChunkScan::default()
        };
    }
    let mut scan = ChunkScan {
        content_bytes: TEXT_KEYS.bytes_in(data),
        ..ChunkScan::default()
    };
    if has_object_after(data, &USAGE_KEY) {
        #[derive(Deserialize)]
        struct UsageChunk {
            #[serde(default)]
            choices: Vec<IgnoredAny>,
            usage: Option<OpenAiUsage>,
        }
        if let Ok(chunk) = serde_json::from_slice::<UsageChunk>(data) {
            scan.usage = chunk.usage.as_ref().map(Usage::from);
            scan.usage_only = scan.usage.is_some() && chunk.choices.is_empty();
        }
    }
    scan.error =
        data.starts_with(b"{") && has_object_after(data, &ERROR_KEY) && is_error_object(data);
    scan
}

/// Whether `key` is followed (after optional spaces) by an object.
fn has_object_after(data: &[u8], key: &memmem::Finder<'_>) -> bool {
    key.find_iter(data).any(|at| {
        data[at + key.needle().len()..]
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|&b| b == b'{')
    })
}

fn is_error_object(data: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct WithError {
        error: Option<serde_json::Value>,
    }
    serde_json::from_slice::<WithError>(data).is_ok_and(|w| w.error.is_some_and(|e| e.is_object()))
}

/// Sum of the (escaped) lengths of every string value that follows `key`: a cheap tally of
/// generated text in a JSON payload without parsing it.
fn string_values_after<'d>(
    data: &'d [u8],
    key: &'d memmem::Finder<'_>,
) -> impl Iterator<Item = &'d [u8]> {
    key.find_iter(data).map(move |at| {
        let value = &data[at + key.needle().len()..];
        let mut escaped = false;
        let len = value
            .iter()
            .position(|&b| {
                let end = b == b'"' && !escaped;
                escaped = b == b'\\' && !escaped;
                end
            })
            .unwrap_or(value.len());
        &value[..len]
    })
}

/// Ends an OpenAI stream with an in-band error: `data: {"error":{…}}` then `data: [DONE]` (the
/// OpenAI SDKs raise the error and stop at `[DONE]`).
pub fn error_events(error: &GatewayError, out: &mut Vec<Bytes>) {
    out.push(sse::data_event(&error.openai_body()));
    out.push(Bytes::from_static(sse::DONE));
}

/// Writes OpenAI `chat.completion.chunk` events for translating adapters: one choice (index 0),
/// the same id/model/created on every chunk, and the usage chunk only when the client asked.
#[derive(Debug, Clone)]
pub struct ChunkWriter {
    id: String,
    model: String,
    created: u64,
    include_usage: bool,
}

impl ChunkWriter {
    /// A writer for one stream.
    pub fn new(
        id: impl Into<String>,
        model: impl Into<String>,
        created: u64,
        include_usage: bool,
    ) -> Self {
        Self {
            id: id.into(),
            model: model.into(),
            created,
            include_usage,
        }
    }

    /// The completion id every chunk carries.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Changes the id and model once the upstream told them (e.g. Anthropic's `message_start`).
    /// Both are copied into every chunk, so a value longer than [`MAX_IDENTITY_BYTES`] (which no
    /// real id or model name is) is ignored: an upstream cannot multiply its bytes that way.
    pub fn set_identity(&mut self, id: &str, model: &str) {
        if id.len() <= MAX_IDENTITY_BYTES {
            id.clone_into(&mut self.id);
        }
        if model.len() <= MAX_IDENTITY_BYTES {
            model.clone_into(&mut self.model);
        }
    }

    /// A chunk with `delta` and, on the last one, `finish_reason`.
    pub fn delta(&self, delta: Delta<'_>, finish_reason: Option<&str>) -> Bytes {
        let chunk = ChatChunk {
            id: Cow::Borrowed(&self.id),
            object: Cow::Borrowed(CHUNK_OBJECT),
            created: self.created,
            model: Cow::Borrowed(&self.model),
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason: finish_reason.map(Cow::Borrowed),
            }],
            usage: None,
        };
        sse::data_event(&serde_json::to_vec(&chunk).unwrap_or_default())
    }

    /// The first chunk: `{"role":"assistant","content":""}`.
    pub fn role(&self) -> Bytes {
        self.delta(
            Delta {
                role: Some(Cow::Borrowed("assistant")),
                content: Some(Cow::Borrowed("")),
                ..Delta::default()
            },
            None,
        )
    }

    /// New text.
    pub fn text(&self, text: &str) -> Bytes {
        self.delta(
            Delta {
                content: Some(Cow::Borrowed(text)),
                ..Delta::default()
            },
            None,
        )
    }

    /// New reasoning text (`reasoning_content`, the common extension).
    pub fn reasoning(&self, text: &str) -> Bytes {
        self.delta(
            Delta {
                reasoning_content: Some(Cow::Borrowed(text)),
                ..Delta::default()
            },
            None,
        )
    }

    /// The signature of the thinking streamed so far, or a redacted thinking block: one
    /// `thinking_blocks` entry (see [`crate::types::chat::THINKING_BLOCKS`]).
    pub fn thinking_block(&self, block: serde_json::Value) -> Bytes {
        self.delta(
            Delta {
                thinking_blocks: Some(vec![block]),
                ..Delta::default()
            },
            None,
        )
    }

    /// The first fragment of tool call `index`: id, type, name and empty arguments.
    pub fn tool_start(&self, index: u32, id: &str, name: &str) -> Bytes {
        self.tool_delta(ToolCallDelta {
            index,
            id: Some(Cow::Borrowed(id)),
            kind: Some(Cow::Borrowed("function")),
            function: Some(FunctionDelta {
                name: Some(Cow::Borrowed(name)),
                arguments: Some(Cow::Borrowed("")),
            }),
        })
    }

    /// A piece of tool call `index`'s arguments.
    pub fn tool_arguments(&self, index: u32, fragment: &str) -> Bytes {
        self.tool_delta(ToolCallDelta {
            index,
            function: Some(FunctionDelta {
                name: None,
                arguments: Some(Cow::Borrowed(fragment)),
            }),
            ..ToolCallDelta::default()
        })
    }

    fn tool_delta(&self, call: ToolCallDelta<'_>) -> Bytes {
        self.delta(
            Delta {
                tool_calls: Some(vec![call]),
                ..Delta::default()
            },
            None,
        )
    }

    /// The last choice chunk: empty delta, `finish_reason` set.
    pub fn finish(&self, reason: &str) -> Bytes {
        self.delta(Delta::default(), Some(reason))
    }

    /// The usage chunk (`choices: []`), or nothing when the client did not ask for it.
    pub fn usage(&self, usage: Usage) -> Option<Bytes> {
        self.include_usage.then(|| {
            let chunk = ChatChunk {
                id: Cow::Borrowed(&self.id),
                object: Cow::Borrowed(CHUNK_OBJECT),
                created: self.created,
                model: Cow::Borrowed(&self.model),
                choices: Vec::new(),
                usage: Some(OpenAiUsage::from(usage)),
            };
            sse::data_event(&serde_json::to_vec(&chunk).unwrap_or_default())
        })
    }

    /// `data: [DONE]`.
    pub fn done(&self) -> Bytes {
        Bytes::from_static(sse::DONE)
    }

    /// The proper end of a translated stream: the usage chunk (when the client asked and the
    /// tally has usage), then `[DONE]`; the tally records that the stream is done.
    pub fn end(&self, tally: &mut Tally, out: &mut Vec<Bytes>) {
        if let Some(chunk) = tally.usage.and_then(|u| self.usage(u)) {
            out.push(chunk);
        }
        out.push(self.done());
        tally.done = true;
    }
}

/// Longest upstream id or model name a translated stream repeats in its chunks.
pub const MAX_IDENTITY_BYTES: usize = 256;

/// `object` of a stream chunk.
const CHUNK_OBJECT: &str = "chat.completion.chunk";

/// Forwards an OpenAI-format stream unchanged, reading usage as it passes.
#[derive(Debug)]
pub struct Passthrough {
    framer: Framer,
    strip_usage_chunk: bool,
    tally: Tally,
}

impl Passthrough {
    /// `strip_usage_chunk`: the gateway added `include_usage` and the client must not see it.
    pub fn new(strip_usage_chunk: bool) -> Self {
        Self {
            framer: Framer::default(),
            strip_usage_chunk,
            tally: Tally::default(),
        }
    }

    fn forward(&mut self, event: Bytes, out: &mut Vec<Bytes>) {
        let data = sse::parse_event(&event).data;
        let scan = scan_chunk(&data);
        self.tally.content_bytes += scan.content_bytes;
        sample_chunk(&data, &mut self.tally);
        if let Some(usage) = scan.usage {
            self.tally.usage = Some(usage);
        }
        if scan.error {
            self.tally.upstream_error = true;
        }
        self.tally.done |= scan.done;
        if !(scan.usage_only && self.strip_usage_chunk) {
            out.push(event);
        }
    }
}

impl Translate for Passthrough {
    fn on_chunk(&mut self, chunk: Bytes, out: &mut Vec<Bytes>) -> Result<(), StreamFault> {
        for event in self.framer.split(chunk)? {
            self.forward(event, out);
        }
        Ok(())
    }

    fn on_end(&mut self, out: &mut Vec<Bytes>) -> Result<(), StreamFault> {
        if let Some(rest) = self.framer.finish() {
            // The upstream's last event lacked its blank line: the client gets it whole, so
            // nothing the gateway sends next (an error) reads as more lines of it.
            self.forward(sse::complete_event(rest), out);
        }
        if self.tally.done {
            Ok(())
        } else {
            Err(StreamFault::Truncated)
        }
    }

    fn on_error(&mut self, error: &GatewayError, out: &mut Vec<Bytes>) {
        // After `[DONE]` the answer is whole: a later fault (a reset, an oversized trailer)
        // adds nothing and does not make it a failure.
        if self.tally.done {
            return;
        }
        self.tally.gateway_error = true;
        error_events(error, out);
    }

    fn tally(&self) -> &Tally {
        &self.tally
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_chunks() {
        let cases: [(&str, ChunkScan); 6] = [
            (
                "[DONE]",
                ChunkScan {
                    done: true,
                    ..Default::default()
                },
            ),
            (
                r#"{"choices":[{"index":0,"delta":{"content":"Hello"}}],"usage":null}"#,
                ChunkScan {
                    content_bytes: 5,
                    ..Default::default()
                },
            ),
            (
                r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}"#,
                ChunkScan {
                    usage: Some(Usage {
                        input: 3,
                        output: 4,
                        ..Default::default()
                    }),
                    usage_only: true,
                    ..Default::default()
                },
            ),
            (
                r#"{"choices":[{"delta":{"content":"a\"b"}}],"usage":{"prompt_tokens":1,"completion_tokens":1}}"#,
                ChunkScan {
                    usage: Some(Usage {
                        input: 1,
                        output: 1,
                        ..Default::default()
                    }),
                    content_bytes: 4,
                    ..Default::default()
                },
            ),
            (
                r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"x\":1}"}}]}}]}"#,
                ChunkScan {
                    content_bytes: 9,
                    ..Default::default()
                },
            ),
            (
                r#"{"error":{"message":"boom","type":"server_error","param":null,"code":null}}"#,
                ChunkScan {
                    error: true,
                    ..Default::default()
                },
            ),
        ];
        for (data, want) in cases {
            assert_eq!(scan_chunk(data.as_bytes()), want, "{data}");
        }
    }

    fn run(strip: bool, input: &[u8]) -> (String, Tally, Result<(), StreamFault>) {
        let mut p = Passthrough::new(strip);
        let mut out = Vec::new();
        p.on_chunk(Bytes::copy_from_slice(input), &mut out).unwrap();
        let end = p.on_end(&mut out);
        let text = out
            .iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect();
        (text, p.tally().clone(), end)
    }

    #[test]
    fn strips_only_the_injected_usage_chunk() {
        let input = concat!(
            "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}],\"usage\":null}\n\n",
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":2,\"completion_tokens\":1,\"total_tokens\":3}}\n\n",
            "data: [DONE]\n\n"
        );
        let (text, tally, end) = run(true, input.as_bytes());
        assert!(!text.contains("prompt_tokens"), "{text}");
        assert!(text.ends_with("data: [DONE]\n\n"));
        assert_eq!(
            tally.usage,
            Some(Usage {
                input: 2,
                output: 1,
                ..Default::default()
            })
        );
        assert_eq!(end, Ok(()));
        let (text, _, _) = run(false, input.as_bytes());
        assert!(text.contains("prompt_tokens"), "{text}");
    }

    #[test]
    fn an_oversized_upstream_identity_is_not_repeated_in_every_chunk() {
        let mut w = ChunkWriter::new("chatcmpl-1", "m", 7, false);
        w.set_identity(&"i".repeat(MAX_IDENTITY_BYTES + 1), &"m".repeat(1 << 20));
        assert!(
            w.text("a").len() < 200,
            "kept the gateway's own id and model"
        );
        w.set_identity("msg_1", "claude-x");
        let chunk = String::from_utf8(w.text("a").to_vec()).unwrap();
        assert!(
            chunk.contains("\"msg_1\"") && chunk.contains("\"claude-x\""),
            "{chunk}"
        );
    }

    #[test]
    fn chunk_writer_emits_openai_chunks() {
        let w = ChunkWriter::new("chatcmpl-1", "m", 7, true);
        let parse = |b: Bytes| -> serde_json::Value {
            let text = String::from_utf8(b.to_vec()).unwrap();
            serde_json::from_str(text.strip_prefix("data: ").unwrap().trim_end()).unwrap()
        };
        let role = parse(w.role());
        assert_eq!(
            role["choices"][0]["delta"],
            serde_json::json!({"role": "assistant", "content": ""})
        );
        assert_eq!(role["object"], "chat.completion.chunk");
        let start = parse(w.tool_start(1, "call_x", "f"));
        assert_eq!(
            start["choices"][0]["delta"]["tool_calls"][0],
            serde_json::json!({"index": 1, "id": "call_x", "type": "function", "function": {"name": "f", "arguments": ""}})
        );
        let args = parse(w.tool_arguments(1, "{\"a\""));
        assert_eq!(
            args["choices"][0]["delta"]["tool_calls"][0],
            serde_json::json!({"index": 1, "function": {"arguments": "{\"a\""}})
        );
        let finish = parse(w.finish("stop"));
        assert_eq!(finish["choices"][0]["finish_reason"], "stop");
        assert_eq!(finish["choices"][0]["delta"], serde_json::json!({}));
        let usage = parse(
            w.usage(Usage {
                input: 3,
                output: 2,
                cached: 1,
                reasoning: 0,
            })
            .unwrap(),
        );
        assert_eq!(usage["choices"], serde_json::json!([]));
        assert_eq!(usage["usage"]["total_tokens"], 5);
        assert!(
            ChunkWriter::new("i", "m", 0, false)
                .usage(Usage::default())
                .is_none()
        );
        assert_eq!(&w.done()[..], b"data: [DONE]\n\n");
    }

    #[test]
    fn a_stream_without_done_is_truncated() {
        let (_, tally, end) = run(
            false,
            b"data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n",
        );
        assert_eq!(end, Err(StreamFault::Truncated));
        assert_eq!(tally.content_bytes, 2);
    }
}
