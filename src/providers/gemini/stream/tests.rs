//! Gemini SSE → OpenAI chunks.

use bytes::Bytes;
use serde_json::{Value, json};

use crate::error::GatewayError;
use crate::providers::gemini::stream::GeminiStream;
use crate::providers::gemini::tests::{normalize, text};
use crate::stream::{StreamFault, Tally, Translate};
use crate::types::Usage;

const MODEL: &str = "gemini-upstream";

/// What a run produced: each client event's payload (JSON, or the string `[DONE]`), the end
/// result and the tally.
struct Run {
    events: Vec<Value>,
    end: Result<(), StreamFault>,
    tally: Tally,
}

/// Feeds `chunks` to a translator, then ends the stream; a fault at the end goes through
/// `on_error` as the stream loop does.
fn run(chunks: &[&[u8]], include_usage: bool) -> Run {
    let mut t = GeminiStream::new("g", MODEL, include_usage);
    let mut out = Vec::new();
    for chunk in chunks {
        t.on_chunk(Bytes::copy_from_slice(chunk), &mut out).unwrap();
    }
    let end = t.on_end(&mut out);
    if let Err(fault) = end {
        t.on_error(&fault.to_error("g"), &mut out);
    }
    let events = out
        .iter()
        .map(|b| {
            let text = std::str::from_utf8(b).unwrap();
            let data = text
                .strip_prefix("data: ")
                .unwrap()
                .strip_suffix("\n\n")
                .unwrap();
            serde_json::from_str(data).map_or_else(|_| Value::from(data), normalize)
        })
        .collect();
    Run {
        events,
        end,
        tally: t.tally().clone(),
    }
}

/// Runs `chunks` and compares every client event with `expected`.
fn check(chunks: &[&[u8]], include_usage: bool, expected: &[Value]) -> Run {
    let run = run(chunks, include_usage);
    assert_eq!(
        run.events,
        expected,
        "\n got: {}\nwant: {}",
        Value::from(run.events.clone()),
        Value::from(expected.to_vec())
    );
    run
}

/// An OpenAI chunk of the stream with `id` and `model`.
fn chunk(id: &str, model: &str, delta: Value, finish: Option<&str>) -> Value {
    json!({"id": id, "object": "chat.completion.chunk", "created": 0, "model": model,
           "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
}

fn fixture_chunk(delta: Value, finish: Option<&str>) -> Value {
    chunk("resp-test-0004", "gemini-2.5-flash", delta, finish)
}

fn fixture_events(include_usage: bool) -> Vec<Value> {
    let mut events = vec![
        fixture_chunk(json!({"role": "assistant", "content": ""}), None),
        fixture_chunk(json!({"content": "It is 21 "}), None),
        fixture_chunk(json!({"content": "°C and clear in Boston."}), None),
        fixture_chunk(json!({}), Some("stop")),
    ];
    if include_usage {
        events.push(json!({"id": "resp-test-0004", "object": "chat.completion.chunk", "created": 0, "model": "gemini-2.5-flash", "choices": [],
            "usage": {"prompt_tokens": 42, "completion_tokens": 11, "total_tokens": 53,
                      "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0}}}));
    }
    events.push(Value::from("[DONE]"));
    events
}

#[test]
fn crlf_fixture_without_done_becomes_an_openai_stream() {
    let sse = text("gemini/stream_generate_content.sse");
    for include_usage in [false, true] {
        let run = check(
            &[sse.as_bytes()],
            include_usage,
            &fixture_events(include_usage),
        );
        assert_eq!(run.end, Ok(()));
        let want = Tally {
            usage: Some(Usage {
                input: 42,
                output: 11,
                ..Usage::default()
            }),
            content_bytes: ("It is 21 °C and clear in Boston.".len()) as u64,
            sample: b"It is 21 \xc2\xb0C and clear in Boston.".to_vec(),
            done: true,
            ..Tally::default()
        };
        assert_eq!(run.tally, want);
    }
}

#[test]
fn any_split_of_the_fixture_gives_the_same_stream() {
    let sse = text("gemini/stream_generate_content.sse");
    let bytes = sse.as_bytes();
    let want = fixture_events(false);
    for at in 1..bytes.len() {
        let (a, b) = bytes.split_at(at);
        assert_eq!(run(&[a, b], false).events, want, "split at {at}");
    }
    // LF line endings and a last event without its blank line work too.
    let lf = sse.replace("\r\n", "\n");
    assert_eq!(run(&[lf.trim_end().as_bytes()], false).events, want);
}

#[test]
fn function_calls_arrive_whole_as_one_tool_call_each() {
    let events = concat!(
        "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Checking.\"}]}}],\"modelVersion\":\"gemini-2.5-pro\"}\r\n\r\n",
        "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[",
        "{\"functionCall\":{\"name\":\"weather\",\"args\":{\"city\":\"Paris\"}},\"thoughtSignature\":\"SIG\"},",
        "{\"functionCall\":{\"id\":\"fc-2\",\"name\":\"time\",\"args\":{}}}]},\"finishReason\":\"STOP\"}],",
        "\"usageMetadata\":{\"promptTokenCount\":5,\"candidatesTokenCount\":7,\"thoughtsTokenCount\":3,\"totalTokenCount\":15}}\r\n\r\n"
    );
    let c = |delta: Value, finish| chunk("chatcmpl-*", "gemini-2.5-pro", delta, finish);
    let tool =
        |index: u32, start: Value| json!({"tool_calls": [{"index": index, "function": start}]});
    let run = check(
        &[events.as_bytes()],
        false,
        &[
            c(json!({"role": "assistant", "content": ""}), None),
            c(json!({"content": "Checking."}), None),
            c(
                json!({"tool_calls": [{"index": 0, "id": "call_*__thought__SIG", "type": "function", "function": {"name": "weather", "arguments": ""}}]}),
                None,
            ),
            c(tool(0, json!({"arguments": {"city": "Paris"}})), None),
            c(
                json!({"tool_calls": [{"index": 1, "id": "fc-2", "type": "function", "function": {"name": "time", "arguments": ""}}]}),
                None,
            ),
            c(tool(1, json!({"arguments": {}})), None),
            c(json!({}), Some("tool_calls")),
            Value::from("[DONE]"),
        ],
    );
    let usage = run.tally.usage.unwrap();
    assert_eq!((usage.input, usage.output, usage.reasoning), (5, 10, 3));
}

#[test]
fn thoughts_stream_as_reasoning_and_a_blocked_prompt_is_filtered() {
    let thoughts = concat!(
        "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hmm\",\"thought\":true}]}}]}\n\n",
        "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Yes\"}]},\"finishReason\":\"MAX_TOKENS\"}]}\n\n"
    );
    let c = |delta: Value, finish| chunk("chatcmpl-*", MODEL, delta, finish);
    check(
        &[thoughts.as_bytes()],
        false,
        &[
            c(json!({"role": "assistant", "content": ""}), None),
            c(json!({"reasoning_content": "Hmm"}), None),
            c(json!({"content": "Yes"}), None),
            c(json!({}), Some("length")),
            Value::from("[DONE]"),
        ],
    );
    let blocked = "data: {\"promptFeedback\":{\"blockReason\":\"SAFETY\"},\"usageMetadata\":{\"promptTokenCount\":9,\"totalTokenCount\":9}}\n\n";
    check(
        &[blocked.as_bytes()],
        false,
        &[
            c(json!({"role": "assistant", "content": ""}), None),
            c(json!({}), Some("content_filter")),
            Value::from("[DONE]"),
        ],
    );
}

#[test]
fn an_error_event_ends_the_stream_in_band() {
    let events = concat!(
        "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hi\"}]}}]}\r\n\r\n",
        "data: {\"error\":{\"code\":503,\"message\":\"The model is overloaded.\",\"status\":\"UNAVAILABLE\"}}\r\n\r\n",
        "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"ignored\"}]},\"finishReason\":\"STOP\"}]}\r\n\r\n"
    );
    let c = |delta: Value| chunk("chatcmpl-*", MODEL, delta, None);
    let run = check(
        &[events.as_bytes()],
        true,
        &[
            c(json!({"role": "assistant", "content": ""})),
            c(json!({"content": "Hi"})),
            json!({"error": {"message": "The model is overloaded.", "type": "server_error", "param": null, "code": "unavailable"}}),
            Value::from("[DONE]"),
        ],
    );
    assert_eq!(run.end, Ok(()));
    assert!(run.tally.upstream_error && !run.tally.done);
    // The stream loop may still report a broken connection afterwards: nothing more is sent.
    let mut t = GeminiStream::new("g", MODEL, false);
    let mut out = Vec::new();
    t.on_chunk(Bytes::from_static(events.as_bytes()), &mut out)
        .unwrap();
    let sent = out.len();
    t.on_error(&GatewayError::Internal("late".into()), &mut out);
    assert_eq!(out.len(), sent);
}

#[test]
fn a_stream_without_a_finish_reason_or_with_garbage_is_an_error() {
    let cut = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hi\"}]}}]}\n\n";
    let run = run(&[cut.as_bytes()], false);
    assert_eq!(run.end, Err(StreamFault::Truncated));
    assert_eq!(run.events.len(), 4, "{:?}", run.events);
    assert_eq!(run.events[2]["error"]["code"], "upstream_invalid_response");
    assert_eq!(run.events[3], "[DONE]");
    assert!(run.tally.gateway_error && run.tally.content_bytes == 2);

    let garbage = self::run(&[b"data: {not json\n\n"], false);
    assert_eq!(garbage.end, Ok(()));
    assert_eq!(garbage.events.len(), 2);
    assert_eq!(
        garbage.events[0]["error"]["code"],
        "upstream_invalid_response"
    );
    assert!(garbage.tally.upstream_error);

    let empty = self::run(&[b": keep-alive\n\n"], false);
    assert_eq!(empty.end, Err(StreamFault::Truncated));
}

/// Early events report the prompt only: until the last one, the output is estimated from the
/// text forwarded, so a stream the client abandons is still charged for it.
#[test]
fn an_abandoned_stream_is_charged_an_output_estimate() {
    let mut t = GeminiStream::new("g", MODEL, false);
    let mut out = Vec::new();
    let first = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"It is 21 degrees\"}]}}],\"usageMetadata\":{\"promptTokenCount\":42,\"totalTokenCount\":42}}\n\n";
    t.on_chunk(Bytes::from_static(first.as_bytes()), &mut out)
        .unwrap();
    let want = Usage {
        input: 42,
        output: 4,
        ..Usage::default()
    };
    assert_eq!(t.tally().usage, Some(want));
    assert!(!t.tally().done);
}
