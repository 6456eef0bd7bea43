//! Every stream translator (`stream::Translate`): OpenAI passthrough, Anthropic → OpenAI,
//! Anthropic passthrough, Gemini → OpenAI, Ollama → OpenAI, OpenAI → Anthropic, and the sniffing
//! passthrough (SSE and raw). Each is fed arbitrary sequences of its upstream's events (taken
//! from `tests/fixtures/reference`, some with fields replaced by edge values) mixed with garbage,
//! cut at arbitrary points, and driven as `stream::Translated` drives it (a fault from a chunk or
//! the end goes to `on_error`). Properties: it never panics; what it writes is whole events of
//! its client's format; the client stream ends with the format's terminator or error event (for
//! passthroughs: the upstream's bytes, then the gateway's error as whole events); where the
//! chunks were cut does not change the output; and once the stream has ended properly, a late
//! fault adds nothing after the terminator.

use std::sync::LazyLock;

use bytes::Bytes;
use llm_sidecar::api::anthropic::stream::ToAnthropic;
use llm_sidecar::error::GatewayError;
use llm_sidecar::providers::anthropic::stream::{Passthrough as AnthropicPassthrough, ToOpenAi};
use llm_sidecar::providers::gemini::stream::GeminiStream;
use llm_sidecar::providers::ollama::stream::ChatStream;
use llm_sidecar::providers::via_responses::stream::FromResponses;
use llm_sidecar::stream::openai::{ChunkWriter, Passthrough as OpenAiPassthrough};
use llm_sidecar::stream::sniff::Sniff;
use llm_sidecar::stream::sse::{self, DONE};
use llm_sidecar::stream::{StreamFault, Tally, Translate};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;

use crate::support::{chunks, config, cuts, framing_bytes};

/// The provider name in in-band errors.
const PROVIDER: &str = "prop";
/// `created` of the chunks translators write with a fixed clock.
const CREATED: u64 = 1_700_000_000;
/// `input_tokens` estimate handed to the OpenAI → Anthropic translator.
const INPUT_ESTIMATE: u64 = 9;
/// Most pieces (events or garbage) in one generated upstream stream.
const MAX_PIECES: usize = 16;
/// Longest garbage piece.
const MAX_GARBAGE: usize = 48;
/// Most leaf edits in one mutated fixture event.
const MAX_LEAF_EDITS: usize = 3;
/// Bytes of a chunk too large to be one event (the framers' limit is 8 MiB).
const OVERSIZED_CHUNK: usize = (8 << 20) + 1;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/reference");

/// Responses API events (the sniffing passthrough's usual upstream), as the sniff unit tests
/// write them.
const RESPONSES_EVENTS: &[&str] = &[
    "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"Hi!\"}\n\n",
    "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":5,\"output_tokens\":2}}}\n\n",
];

/// A Responses API upstream's events, as `api: responses` deployments read them: every kind the
/// translator acts on, ends of all three sorts, and a top-level `error`.
const RESPONSES_API_EVENTS: &[&str] = &[
    "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"status\":\"in_progress\",\"model\":\"up\",\"output\":[]}}\n\n",
    "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"output_index\":0,\"delta\":\"Hi!\"}\n\n",
    "event: response.refusal.delta\ndata: {\"type\":\"response.refusal.delta\",\"output_index\":0,\"delta\":\"No.\"}\n\n",
    "event: response.reasoning_summary_text.delta\ndata: {\"type\":\"response.reasoning_summary_text.delta\",\"output_index\":0,\"delta\":\"Hm.\"}\n\n",
    "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"output_index\":1,\"item\":{\"type\":\"function_call\",\"call_id\":\"call_1\",\"name\":\"f\",\"arguments\":\"\"}}\n\n",
    "event: response.function_call_arguments.delta\ndata: {\"type\":\"response.function_call_arguments.delta\",\"output_index\":1,\"delta\":\"{}\"}\n\n",
    "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"status\":\"completed\",\"output\":[],\"usage\":{\"input_tokens\":5,\"output_tokens\":2}}}\n\n",
    "event: response.incomplete\ndata: {\"type\":\"response.incomplete\",\"response\":{\"status\":\"incomplete\",\"incomplete_details\":{\"reason\":\"max_output_tokens\"}}}\n\n",
    "event: response.failed\ndata: {\"type\":\"response.failed\",\"response\":{\"status\":\"failed\",\"error\":{\"code\":\"server_error\",\"message\":\"boom\"}}}\n\n",
    "event: error\ndata: {\"type\":\"error\",\"code\":\"rate_limit_exceeded\",\"message\":\"slow\"}\n\n",
];

/// Whole Responses API streams (indexes into [`RESPONSES_API_EVENTS`]) that end properly.
const RESPONSES_API_STREAMS: &[&[usize]] = &[&[0, 3, 1, 6], &[0, 4, 5, 7], &[0, 2, 8], &[0, 9]];

fn read(path: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The raw events of SSE fixture files, each with its blank line.
fn sse_events(paths: &[&str]) -> Vec<Bytes> {
    let mut events = Vec::new();
    for path in paths {
        let mut framer = sse::Framer::default();
        framer.push(Bytes::from(read(path)), &mut events).unwrap();
        assert_eq!(framer.finish(), None, "{path} ends mid-event");
    }
    events
}

/// JSON fixture files as one `data:` event each (compact), with `ending` after each line.
fn json_events(paths: &[&str], ending: &str) -> Vec<Bytes> {
    paths
        .iter()
        .map(|path| {
            let value: Value = serde_json::from_slice(&read(path)).unwrap();
            Bytes::from(format!("data: {value}{ending}{ending}"))
        })
        .collect()
}

/// The lines of NDJSON fixture files, and JSON files as one line each, each with its LF.
fn ndjson_lines(ndjson: &[&str], json: &[&str]) -> Vec<Bytes> {
    let mut lines: Vec<Bytes> = ndjson
        .iter()
        .flat_map(|path| {
            String::from_utf8(read(path))
                .unwrap()
                .lines()
                .map(|l| Bytes::from(format!("{l}\n")))
                .collect::<Vec<_>>()
        })
        .collect();
    lines.extend(json.iter().map(|path| {
        let value: Value = serde_json::from_slice(&read(path)).unwrap();
        Bytes::from(format!("{value}\n"))
    }));
    lines
}

/// What an upstream sends: its format and its fixture events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Upstream {
    OpenAi,
    Responses,
    ResponsesApi,
    Anthropic,
    Gemini,
    Ollama,
}

static OPENAI: LazyLock<Vec<Bytes>> = LazyLock::new(|| {
    sse_events(&[
        "openai/chat_stream_basic.sse",
        "openai/chat_stream_midstream_error.sse",
        "openai/chat_stream_tool_calls_with_usage.sse",
        "azure/chat_stream_with_prompt_filter.sse",
    ])
});
static RESPONSES: LazyLock<Vec<Bytes>> = LazyLock::new(|| {
    let mut events: Vec<Bytes> = RESPONSES_EVENTS
        .iter()
        .map(|e| Bytes::from_static(e.as_bytes()))
        .collect();
    events.extend(OPENAI.iter().cloned());
    events
});
static RESPONSES_API: LazyLock<Vec<Bytes>> = LazyLock::new(|| {
    RESPONSES_API_EVENTS
        .iter()
        .map(|e| Bytes::from_static(e.as_bytes()))
        .collect()
});
static ANTHROPIC: LazyLock<Vec<Bytes>> = LazyLock::new(|| {
    sse_events(&[
        "anthropic/messages_stream_text.sse",
        "anthropic/messages_stream_thinking_tool_use.sse",
        "anthropic/messages_stream_error_midstream.sse",
    ])
});
static GEMINI: LazyLock<Vec<Bytes>> = LazyLock::new(|| {
    let mut events = sse_events(&["gemini/stream_generate_content.sse"]);
    events.extend(json_events(
        &[
            "gemini/generate_content_response_text.json",
            "gemini/generate_content_response_function_call.json",
            "gemini/generate_content_response_prompt_blocked.json",
            "gemini/error_429_resource_exhausted.json",
        ],
        "\r\n",
    ));
    events
});
static OLLAMA: LazyLock<Vec<Bytes>> = LazyLock::new(|| {
    ndjson_lines(
        &["ollama/chat_stream.ndjson", "ollama/error_midstream.ndjson"],
        &["ollama/chat_response_tool_calls.json", "ollama/error.json"],
    )
});

impl Upstream {
    fn events(self) -> &'static [Bytes] {
        match self {
            Self::OpenAi => &OPENAI,
            Self::Responses => &RESPONSES,
            Self::ResponsesApi => &RESPONSES_API,
            Self::Anthropic => &ANTHROPIC,
            Self::Gemini => &GEMINI,
            Self::Ollama => &OLLAMA,
        }
    }

    /// The fixture streams that end properly, whole.
    fn complete_streams(self) -> Vec<Vec<u8>> {
        if self == Self::ResponsesApi {
            return RESPONSES_API_STREAMS
                .iter()
                .map(|stream| {
                    stream
                        .iter()
                        .flat_map(|&i| RESPONSES_API_EVENTS[i].bytes())
                        .collect()
                })
                .collect();
        }
        let files: &[&str] = match self {
            Self::ResponsesApi => &[],
            Self::OpenAi | Self::Responses => &[
                "openai/chat_stream_basic.sse",
                "openai/chat_stream_midstream_error.sse",
                "openai/chat_stream_tool_calls_with_usage.sse",
            ],
            Self::Anthropic => &[
                "anthropic/messages_stream_text.sse",
                "anthropic/messages_stream_thinking_tool_use.sse",
                "anthropic/messages_stream_error_midstream.sse",
            ],
            Self::Gemini => &["gemini/stream_generate_content.sse"],
            Self::Ollama => &["ollama/chat_stream.ndjson", "ollama/error_midstream.ndjson"],
        };
        files.iter().map(|f| read(f)).collect()
    }

    /// An event re-encoded after its JSON was edited (non-JSON payloads stay as they were).
    fn encode(self, raw: &Bytes, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
        if self == Self::Ollama {
            let Ok(mut value) = serde_json::from_slice::<Value>(raw) else {
                return raw.to_vec();
            };
            edit(&mut value);
            return format!("{value}\n").into_bytes();
        }
        let event = sse::parse_event(raw);
        let Ok(mut value) = serde_json::from_slice::<Value>(&event.data) else {
            return raw.to_vec();
        };
        edit(&mut value);
        match event.name {
            Some(name) => sse::named_event(name, value.to_string().as_bytes()).to_vec(),
            None => sse::data_event(value.to_string().as_bytes()).to_vec(),
        }
    }
}

/// JSON values that sit on the edges of what the translators read: overflowing counts,
/// wrong types, every event and block type name of the formats.
static EDGE_VALUES: LazyLock<Vec<Value>> = LazyLock::new(|| {
    let mut values = vec![
        Value::Null,
        Value::Bool(true),
        Value::from(0),
        Value::from(-1),
        Value::from(u32::MAX),
        Value::from(u64::MAX),
        Value::from(i64::MIN),
        Value::from(1e308),
        Value::from(""),
        Value::from("[DONE]"),
        Value::Array(Vec::new()),
        serde_json::json!({}),
        serde_json::json!({"message": "m", "type": "t", "code": 1}),
    ];
    let names = [
        "message_start",
        "message_delta",
        "message_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "ping",
        "error",
        "text",
        "tool_use",
        "thinking",
        "text_delta",
        "input_json_delta",
        "thinking_delta",
        "signature_delta",
        "STOP",
        "MAX_TOKENS",
        "SAFETY",
        "stop",
        "length",
        "tool_calls",
        "content_filter",
        "function",
        "assistant",
        "response.output_text.delta",
        "response.output_item.added",
        "response.completed",
        "response.incomplete",
        "response.failed",
        "function_call",
        "incomplete",
        "failed",
        "rate_limit_exceeded",
    ];
    values.extend(names.iter().map(|n| Value::from(*n)));
    values
});

/// Replaces the `at`-th leaf (depth first) of `value` with `with`.
fn replace_leaf(value: &mut Value, at: usize, seen: &mut usize, with: &Value) -> bool {
    match value {
        Value::Array(items) => items.iter_mut().any(|v| replace_leaf(v, at, seen, with)),
        Value::Object(map) => map.values_mut().any(|v| replace_leaf(v, at, seen, with)),
        leaf => {
            if *seen == at {
                *leaf = with.clone();
                return true;
            }
            *seen += 1;
            false
        }
    }
}

fn leaves(value: &Value) -> usize {
    match value {
        Value::Array(items) => items.iter().map(leaves).sum(),
        Value::Object(map) => map.values().map(leaves).sum(),
        _ => 1,
    }
}

/// One piece of a generated upstream stream.
#[derive(Debug, Clone)]
enum Piece {
    /// A fixture event as it is.
    Event(Index),
    /// A fixture event with some JSON leaves replaced by edge values.
    Edited(Index, Vec<(Index, Index)>),
    /// Bytes of no format.
    Garbage(Vec<u8>),
}

fn piece() -> impl Strategy<Value = Piece> {
    prop_oneof![
        6 => any::<Index>().prop_map(Piece::Event),
        3 => (any::<Index>(), prop::collection::vec((any::<Index>(), any::<Index>()), 1..=MAX_LEAF_EDITS))
            .prop_map(|(at, edits)| Piece::Edited(at, edits)),
        1 => framing_bytes(MAX_GARBAGE).prop_map(Piece::Garbage),
    ]
}

/// The bytes of `pieces` for `upstream`.
fn render(upstream: Upstream, pieces: &[Piece]) -> Vec<u8> {
    let events = upstream.events();
    let mut out = Vec::new();
    for piece in pieces {
        match piece {
            Piece::Event(at) => out.extend_from_slice(&events[at.index(events.len())]),
            Piece::Edited(at, edits) => {
                let raw = &events[at.index(events.len())];
                out.extend(upstream.encode(raw, |value| {
                    for (leaf, with) in edits {
                        let count = leaves(value);
                        if count == 0 {
                            return;
                        }
                        let leaf = leaf.index(count);
                        let with = &EDGE_VALUES[with.index(EDGE_VALUES.len())];
                        replace_leaf(value, leaf, &mut 0, with);
                    }
                }));
            }
            Piece::Garbage(bytes) => out.extend_from_slice(bytes),
        }
    }
    out
}

/// What the translator writes for its client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    /// OpenAI chunks the translator writes itself.
    OpenAiWritten,
    /// The upstream's OpenAI-format events, forwarded.
    OpenAiForwarded,
    /// Anthropic events the translator writes itself.
    AnthropicWritten,
    /// The upstream's Anthropic events, forwarded.
    AnthropicForwarded,
    /// The upstream's events, forwarded; the stream ends when the upstream closes.
    SseForwarded,
    /// The upstream's bytes, forwarded.
    Raw,
}

/// A translator under test.
#[derive(Clone, Copy)]
struct Subject {
    make: fn() -> Box<dyn Translate>,
    upstream: Upstream,
    client: Client,
    /// Forwards every upstream byte in order (no chunk is dropped on purpose).
    forwards_all: bool,
}

impl Subject {
    /// Whether the stream has ended properly by itself: its terminator (or the upstream's
    /// terminating error) went to the client.
    fn finished(&self, tally: &Tally) -> bool {
        match self.client {
            // An OpenAI in-band error is followed by `[DONE]`; only that ends the stream.
            Client::OpenAiForwarded => tally.done,
            Client::Raw | Client::SseForwarded => false,
            _ => tally.done || tally.upstream_error,
        }
    }
}

/// What a translator did with one stream.
#[derive(Debug)]
struct Run {
    out: Vec<Bytes>,
    /// How many frames were out when `on_error` was called, if it was.
    before_error: Option<usize>,
    tally: Tally,
}

impl Run {
    fn bytes(&self) -> Vec<u8> {
        self.out.concat()
    }

    /// The frames `on_error` wrote.
    fn error_frames(&self) -> &[Bytes] {
        self.before_error.map_or(&[], |n| &self.out[n..])
    }

    /// The frames before `on_error`.
    fn forwarded(&self) -> Vec<u8> {
        self.out[..self.before_error.unwrap_or(self.out.len())].concat()
    }
}

/// Drives `translate` over `chunks` the way `stream::Translated` does: chunks until one fails,
/// then the end, and a fault from either goes to `on_error`.
fn drive(translate: &mut dyn Translate, chunks: Vec<Bytes>) -> Run {
    let mut out = Vec::new();
    let mut fault = None;
    for chunk in chunks {
        if let Err(f) = translate.on_chunk(chunk, &mut out) {
            fault = Some(f);
            break;
        }
    }
    if fault.is_none() {
        fault = translate.on_end(&mut out).err();
    }
    let before_error = fault.map(|f: StreamFault| {
        let before = out.len();
        translate.on_error(&f.to_error(PROVIDER), &mut out);
        before
    });
    Run {
        out,
        before_error,
        tally: translate.tally().clone(),
    }
}

/// The events a conforming SSE client reads from `bytes` (an unterminated last event is
/// dropped, as the SSE spec says), and that leftover.
fn client_events(bytes: &[u8]) -> (Vec<Bytes>, Option<Bytes>) {
    let mut framer = sse::Framer::default();
    let mut events = Vec::new();
    framer
        .push(Bytes::copy_from_slice(bytes), &mut events)
        .unwrap();
    (events, framer.finish())
}

fn is_done(event: &[u8]) -> bool {
    sse::parse_event(event).data.trim_ascii() == b"[DONE]"
}

fn is_openai_error(event: &[u8]) -> bool {
    serde_json::from_slice::<Value>(&sse::parse_event(event).data)
        .is_ok_and(|v| v.get("error").is_some_and(Value::is_object))
}

fn anthropic_name(event: &[u8]) -> Option<String> {
    sse::parse_event(event).name.map(str::to_owned)
}

fn is_anthropic_end(event: &[u8]) -> bool {
    matches!(
        anthropic_name(event).as_deref(),
        Some("message_stop" | "error")
    )
}

/// Every frame a translator writes itself is one whole event of its client's format: OpenAI
/// `data: <JSON or [DONE]>`, Anthropic `event: <type>` + `data: <JSON of that type>`.
fn check_written_events(client: Client, run: &Run) -> Result<(), TestCaseError> {
    let bytes = run.bytes();
    let (events, rest) = client_events(&bytes);
    prop_assert_eq!(rest, None, "output ends mid-event");
    prop_assert_eq!(events.len(), run.out.len(), "a frame is not one event");
    for event in &events {
        let text = std::str::from_utf8(event);
        prop_assert!(text.is_ok(), "not UTF-8: {:?}", event);
        let text = text.unwrap();
        match client {
            Client::OpenAiWritten => {
                let payload = text
                    .strip_prefix("data: ")
                    .and_then(|t| t.strip_suffix("\n\n"));
                prop_assert!(payload.is_some(), "{:?}", text);
                let payload = payload.unwrap();
                prop_assert!(
                    payload == "[DONE]" || serde_json::from_str::<Value>(payload).is_ok(),
                    "{:?}",
                    text
                );
            }
            Client::AnthropicWritten => {
                let parsed = sse::parse_event(event);
                let data: Result<Value, _> = serde_json::from_slice(&parsed.data);
                prop_assert!(data.is_ok(), "{:?}", text);
                let data = data.unwrap();
                prop_assert_eq!(
                    parsed.name,
                    data.get("type").and_then(Value::as_str),
                    "{:?}",
                    text
                );
            }
            _ => {}
        }
    }
    Ok(())
}

/// The client stream ends properly: written formats end with their terminator (and nothing
/// follows the first one); forwarded formats carry a terminator the client can read and, when
/// the gateway added an error, end with that error as whole events.
fn check_ending(subject: &Subject, input: &[u8], run: &Run) -> Result<(), TestCaseError> {
    let bytes = run.bytes();
    let (events, _) = client_events(&bytes);
    match subject.client {
        Client::OpenAiWritten => {
            prop_assert!(
                bytes.ends_with(DONE),
                "no [DONE] at the end: {:?}",
                String::from_utf8_lossy(&bytes)
            );
            let first = events.iter().position(|e| is_done(e));
            prop_assert_eq!(first, Some(events.len() - 1), "events after [DONE]");
        }
        Client::AnthropicWritten => {
            let first = events.iter().position(|e| is_anthropic_end(e));
            prop_assert_eq!(
                first.map(|i| i + 1),
                Some(events.len()),
                "the last event is not message_stop or error: {:?}",
                String::from_utf8_lossy(&bytes)
            );
        }
        Client::OpenAiForwarded | Client::AnthropicForwarded | Client::SseForwarded => {
            let errors = run.error_frames();
            if !errors.is_empty() {
                // The gateway's error frames are whole events at the end of what the client reads.
                let tail = &events[events.len().saturating_sub(errors.len())..];
                prop_assert_eq!(
                    tail,
                    errors,
                    "the gateway's error is not whole events at the end: {:?}",
                    String::from_utf8_lossy(&bytes)
                );
            }
            match subject.client {
                Client::OpenAiForwarded => prop_assert!(
                    events.iter().any(|e| is_done(e)),
                    "no [DONE] a client can read: {:?}",
                    String::from_utf8_lossy(&bytes)
                ),
                Client::AnthropicForwarded => prop_assert!(
                    events.iter().any(|e| is_anthropic_end(e)),
                    "no message_stop or error a client can read: {:?}",
                    String::from_utf8_lossy(&bytes)
                ),
                _ => {}
            }
            if !errors.is_empty() && subject.client == Client::OpenAiForwarded {
                prop_assert!(
                    errors.len() == 2 && is_openai_error(&errors[0]) && is_done(&errors[1])
                );
            }
        }
        Client::Raw => prop_assert_eq!(&bytes[..], input),
    }
    if subject.forwards_all {
        // Every upstream byte went out, in order (the framer drops a whitespace-only tail, and
        // completes a last event that lacked its blank line, so nothing sent after it reads as
        // more of its lines).
        let forwarded = run.forwarded();
        let common = forwarded.len().min(input.len());
        prop_assert!(
            forwarded[..common] == input[..common],
            "forwarded bytes differ from the input"
        );
        let added = &forwarded[common..];
        prop_assert!(
            added.len() <= 2 && added.iter().all(|b| *b == b'\n'),
            "forwarded more than the input and a blank line: {:?}",
            String::from_utf8_lossy(added)
        );
        prop_assert!(input[common..].iter().all(u8::is_ascii_whitespace));
    }
    Ok(())
}

/// Output with what changes from run to run (random ids, the clock) blanked: each event's
/// name and its JSON with every `id` and `created` set to null.
fn normalized(run: &Run) -> Vec<(Option<String>, Value)> {
    fn blank(value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (key, v) in map.iter_mut() {
                    if key == "id" || key == "created" {
                        *v = Value::Null;
                    } else {
                        blank(v);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(blank),
            _ => {}
        }
    }
    let (events, rest) = client_events(&run.bytes());
    events
        .iter()
        .chain(&rest)
        .map(|raw| {
            let event = sse::parse_event(raw);
            let mut value = serde_json::from_slice(&event.data)
                .unwrap_or_else(|_| Value::from(String::from_utf8_lossy(raw).into_owned()));
            blank(&mut value);
            (event.name.map(str::to_owned), value)
        })
        .collect()
}

/// Never panics, writes whole events, ends properly.
fn check_stream(subject: &Subject, pieces: &[Piece], cuts: &[Index]) -> Result<(), TestCaseError> {
    let input = render(subject.upstream, pieces);
    let run = drive((subject.make)().as_mut(), chunks(&input, cuts));
    if matches!(
        subject.client,
        Client::OpenAiWritten | Client::AnthropicWritten
    ) {
        check_written_events(subject.client, &run)?;
    }
    check_ending(subject, &input, &run)
}

/// Where the chunks are cut does not change what the client gets.
fn check_split_invariance(
    subject: &Subject,
    pieces: &[Piece],
    cuts: &[Index],
) -> Result<(), TestCaseError> {
    let input = render(subject.upstream, pieces);
    let whole = drive((subject.make)().as_mut(), vec![Bytes::from(input.clone())]);
    let split = drive((subject.make)().as_mut(), chunks(&input, cuts));
    if subject.client == Client::Raw {
        prop_assert_eq!(whole.bytes(), split.bytes());
    } else {
        prop_assert_eq!(normalized(&whole), normalized(&split));
    }
    prop_assert_eq!(whole.tally.done, split.tally.done);
    prop_assert_eq!(whole.tally.usage, split.tally.usage);
    Ok(())
}

/// A complete fixture stream, then a late fault (the upstream connection breaks, or sends an
/// oversized event) before it closes: once the stream has ended properly, `on_error` adds
/// nothing after the terminator.
fn check_fault_after_end(
    subject: &Subject,
    input: &[u8],
    cuts: &[Index],
    oversized: bool,
) -> Result<(), TestCaseError> {
    let mut translate = (subject.make)();
    let mut out = Vec::new();
    for chunk in chunks(input, cuts) {
        prop_assert!(translate.on_chunk(chunk, &mut out).is_ok());
    }
    if !subject.finished(translate.tally()) {
        return Ok(());
    }
    let before = out.len();
    let error = if oversized {
        let fault = translate.on_chunk(Bytes::from(vec![b'x'; OVERSIZED_CHUNK]), &mut out);
        prop_assert_eq!(fault, Err(StreamFault::EventTooLarge));
        fault.unwrap_err().to_error(PROVIDER)
    } else {
        GatewayError::UpstreamProtocol {
            provider: PROVIDER.to_owned(),
            detail: "the stream broke: connection reset".to_owned(),
        }
    };
    translate.on_error(&error, &mut out);
    prop_assert!(
        out.len() == before,
        "after the stream ended, on_error wrote {:?}",
        out[before..]
            .iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect::<Vec<_>>()
    );
    Ok(())
}

fn openai_writer() -> ChunkWriter {
    ChunkWriter::new("chatcmpl-prop", "prop-model", CREATED, true)
}

/// The translators, by name: (module, constructor, upstream, client, forwards every byte).
macro_rules! translators {
    ($($name:ident: $make:expr, $upstream:ident, $client:ident, $forwards_all:expr;)*) => {$(
        mod $name {
            use super::*;

            pub(super) const SUBJECT: Subject = Subject {
                make: $make,
                upstream: Upstream::$upstream,
                client: Client::$client,
                forwards_all: $forwards_all,
            };

            proptest! {
                #![proptest_config(config())]

                /// Fixture events, edited events and garbage, cut anywhere: never panics, writes
                /// whole events, ends with the format's terminator or error.
                #[test]
                fn ends_properly(pieces in prop::collection::vec(piece(), 0..=MAX_PIECES), cuts in cuts()) {
                    check_stream(&SUBJECT, &pieces, &cuts)?;
                }

                /// The same stream whole and cut anywhere gives the same client events.
                #[test]
                fn cuts_do_not_matter(pieces in prop::collection::vec(piece(), 0..=MAX_PIECES), cuts in cuts()) {
                    check_split_invariance(&SUBJECT, &pieces, &cuts)?;
                }

                /// A complete stream then a broken connection: nothing after the terminator.
                #[test]
                fn a_broken_connection_after_the_end_adds_nothing(stream in any::<Index>(), cuts in cuts()) {
                    let streams = SUBJECT.upstream.complete_streams();
                    check_fault_after_end(&SUBJECT, &streams[stream.index(streams.len())], &cuts, false)?;
                }
            }

            /// Each complete stream then an oversized event: nothing after the terminator.
            #[test]
            fn an_oversized_event_after_the_end_adds_nothing() {
                for stream in SUBJECT.upstream.complete_streams() {
                    if let Err(failure) = check_fault_after_end(&SUBJECT, &stream, &[], true) {
                        panic!("{failure}");
                    }
                }
            }
        }
    )*};
}

translators! {
    openai_passthrough: || Box::new(OpenAiPassthrough::new(false)), OpenAi, OpenAiForwarded, true;
    openai_passthrough_stripping_usage: || Box::new(OpenAiPassthrough::new(true)), OpenAi, OpenAiForwarded, false;
    anthropic_to_openai: || Box::new(ToOpenAi::new(openai_writer(), PROVIDER)), Anthropic, OpenAiWritten, false;
    anthropic_passthrough: || Box::new(AnthropicPassthrough::default()), Anthropic, AnthropicForwarded, true;
    gemini_to_openai: || Box::new(GeminiStream::new(PROVIDER, "prop-model", true)), Gemini, OpenAiWritten, false;
    ollama_to_openai: || Box::new(ChatStream::new(openai_writer(), PROVIDER)), Ollama, OpenAiWritten, false;
    openai_to_anthropic: || Box::new(ToAnthropic::new("prop-model", INPUT_ESTIMATE)), OpenAi, AnthropicWritten, false;
    responses_api_to_openai: || Box::new(FromResponses::new(openai_writer(), PROVIDER)), ResponsesApi, OpenAiWritten, false;
    sniff_sse: || Box::new(Sniff::sse()), Responses, SseForwarded, true;
    sniff_raw: || Box::new(Sniff::raw()), Responses, Raw, true;
}

/// The smallest streams the passthrough properties found, made realistic: the upstream's last
/// event lacks its blank line and the upstream closes. The passthrough forwards the partial
/// event as it is and then writes its in-band error, which the client's SSE parser reads as
/// more lines of that same event: the error never arrives as an event of its own.
#[test]
fn regression_an_unterminated_last_event_does_not_swallow_the_error() {
    let cases: [(&str, Subject, &str); 2] = [
        (
            "openai",
            openai_passthrough::SUBJECT,
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n",
        ),
        (
            "anthropic",
            anthropic_passthrough::SUBJECT,
            "event: ping\ndata: {\"type\":\"ping\"}\n",
        ),
    ];
    let failures: Vec<String> = cases
        .into_iter()
        .filter_map(|(name, subject, input)| {
            let run = drive(
                (subject.make)().as_mut(),
                vec![Bytes::from_static(input.as_bytes())],
            );
            assert!(
                run.before_error.is_some(),
                "{name}: the stream is truncated"
            );
            check_ending(&subject, input.as_bytes(), &run)
                .err()
                .map(|failure| format!("{name}: {failure}"))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// What the unterminated-event finding hid in the Anthropic passthrough's `ends_properly`: an
/// event named `message_start` whose data says `"type":"message_stop"`. The passthrough reads
/// the data and counts the stream as done; the client goes by the event name, never sees a
/// `message_stop`, and gets no in-band error either: a silent truncation.
#[test]
fn regression_the_anthropic_passthrough_ends_on_the_event_the_client_reads() {
    let subject = anthropic_passthrough::SUBJECT;
    let input = "event: message_start\ndata: {\"type\":\"message_stop\"}\n\n";
    let run = drive(
        (subject.make)().as_mut(),
        vec![Bytes::from_static(input.as_bytes())],
    );
    if let Err(failure) = check_ending(&subject, input.as_bytes(), &run) {
        panic!("{failure}");
    }
}
