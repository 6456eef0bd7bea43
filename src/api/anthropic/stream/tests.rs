//! OpenAI chunks → Anthropic events: fixtures (fed in awkward chunk sizes), block switching,
//! usage deferral, in-band errors and truncation.

use serde_json::{Value, json};

use super::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
/// `input_tokens` of `message_start` in these tests.
const ESTIMATE: u64 = 9;

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{path}")).unwrap()
}

/// `(event name, data)` of each event of an Anthropic SSE text; every event must have both, and
/// the name must repeat the data's `type`.
fn events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|event| {
            let mut lines = event.lines();
            let name = lines.next().unwrap().strip_prefix("event: ").unwrap();
            let data = lines.next().unwrap().strip_prefix("data: ").unwrap();
            assert_eq!(lines.next(), None, "{event}");
            let data: Value = serde_json::from_str(data).unwrap();
            assert_eq!(data["type"], name, "{event}");
            (name.to_owned(), data)
        })
        .collect()
}

/// Runs `input` through a translator in chunks of `chunk_size` bytes.
fn run(input: &str, chunk_size: usize) -> (String, Tally, Result<(), StreamFault>) {
    let mut translate = ToAnthropic::new("client-model", ESTIMATE);
    let mut out = Vec::new();
    for piece in input.as_bytes().chunks(chunk_size) {
        translate
            .on_chunk(Bytes::copy_from_slice(piece), &mut out)
            .unwrap();
    }
    let end = translate.on_end(&mut out);
    let text = out
        .iter()
        .map(|b| String::from_utf8(b.to_vec()).unwrap())
        .collect();
    (text, translate.tally().clone(), end)
}

/// Translates the OpenAI stream fixture `input` (whole, and split at odd places) and compares
/// the events with the expected Anthropic stream `expected`, in order.
fn check(input: &str, expected: &str) -> Tally {
    let input = read(&format!("reference/openai/{input}"));
    let want = events(&read(&format!("anthropic_inbound/{expected}")));
    let mut tally = None;
    for chunk_size in [input.len(), 7, 1] {
        let (text, t, end) = run(&input, chunk_size);
        assert_eq!(events(&text), want, "{expected}, chunks of {chunk_size}");
        assert_eq!(end, Ok(()));
        tally = Some(t);
    }
    tally.unwrap()
}

#[test]
fn stream_fixtures() {
    let tally = check("chat_stream_basic.sse", "chat_stream_basic.sse");
    assert!(tally.done && tally.usage.is_none());
    assert_eq!(tally.content_bytes, "Hello".len() as u64);
    let tally = check(
        "chat_stream_tool_calls_with_usage.sse",
        "chat_stream_tool_calls_with_usage.sse",
    );
    assert_eq!(
        tally.usage,
        Some(Usage {
            input: 82,
            output: 41,
            ..Usage::default()
        })
    );
    let tally = check(
        "chat_stream_midstream_error.sse",
        "chat_stream_midstream_error.sse",
    );
    assert!(tally.upstream_error && !tally.done);
}

fn chunk(delta: Value, finish: Value) -> String {
    let c = json!({"id": "chatcmpl-x", "object": "chat.completion.chunk", "created": 1, "model": "up",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
    format!("data: {c}\n\n")
}

/// The event names and, for deltas, their text, in order.
fn outline(text: &str) -> Vec<String> {
    events(text)
        .into_iter()
        .map(|(name, data)| {
            let d = &data["delta"];
            let detail = d["text"]
                .as_str()
                .or(d["thinking"].as_str())
                .or(d["partial_json"].as_str())
                .or(data["content_block"]["type"].as_str())
                .or(d["stop_reason"].as_str());
            match detail {
                Some(detail) => format!("{name}:{}:{detail}", data["index"]),
                None => name,
            }
        })
        .collect()
}

#[test]
fn thinking_signatures_and_redacted_thinking_reach_the_client() {
    let signed = json!({"type": "thinking", "thinking": "", "signature": "sig"});
    let redacted = json!({"type": "redacted_thinking", "data": "xyz"});
    let input = [
        chunk(
            json!({"role": "assistant", "reasoning_content": "hmm"}),
            Value::Null,
        ),
        chunk(json!({"thinking_blocks": [signed]}), Value::Null),
        chunk(json!({"thinking_blocks": [redacted]}), Value::Null),
        chunk(json!({"content": "Hi"}), Value::Null),
        chunk(json!({}), json!("stop")),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat();
    let (text, _, end) = run(&input, input.len());
    assert_eq!(end, Ok(()));
    assert_eq!(
        outline(&text),
        [
            "message_start",
            "content_block_start:0:thinking",
            "content_block_delta:0:hmm",
            "content_block_delta",
            "content_block_stop",
            "content_block_start:1:redacted_thinking",
            "content_block_stop",
            "content_block_start:2:text",
            "content_block_delta:2:Hi",
            "content_block_stop",
            "message_delta:null:end_turn",
            "message_stop",
        ]
    );
    let all = events(&text);
    assert_eq!(
        all[3].1["delta"],
        json!({"type": "signature_delta", "signature": "sig"})
    );
    assert_eq!(all[5].1["content_block"]["data"], "xyz");
}

#[test]
fn blocks_switch_with_the_content_kind() {
    let input = [
        chunk(json!({"role": "assistant", "reasoning_content": "think"}), Value::Null),
        chunk(json!({"reasoning_content": "ing"}), Value::Null),
        chunk(json!({"content": "Hi"}), Value::Null),
        chunk(json!({"content": " there"}), Value::Null),
        // vLLM repeats the id on every fragment of a call: still one block.
        chunk(json!({"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "f", "arguments": "{"}}]}), Value::Null),
        chunk(json!({"tool_calls": [{"index": 0, "id": "c1", "function": {"arguments": "}"}}]}), Value::Null),
        chunk(json!({"tool_calls": [{"index": 1, "function": {"name": "g"}}]}), Value::Null),
        chunk(json!({}), json!("tool_calls")),
        "data: {\"id\":\"chatcmpl-x\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":6,\"prompt_tokens_details\":{\"cached_tokens\":2}}}\n\n".to_owned(),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat();
    let (text, tally, end) = run(&input, input.len());
    assert_eq!(end, Ok(()));
    assert_eq!(
        outline(&text),
        [
            "message_start",
            "content_block_start:0:thinking",
            "content_block_delta:0:think",
            "content_block_delta:0:ing",
            "content_block_stop",
            "content_block_start:1:text",
            "content_block_delta:1:Hi",
            "content_block_delta:1: there",
            "content_block_stop",
            "content_block_start:2:tool_use",
            "content_block_delta:2:{",
            "content_block_delta:2:}",
            "content_block_stop",
            "content_block_start:3:tool_use",
            "content_block_stop",
            "message_delta:null:tool_use",
            "message_stop",
        ]
    );
    let all = events(&text);
    assert_eq!(all[0].1["message"]["model"], "up");
    assert_eq!(all[0].1["message"]["id"], "msg_x");
    // A call without an id gets one, so the client can answer it.
    assert!(
        all[13].1["content_block"]["id"]
            .as_str()
            .unwrap()
            .starts_with("call_")
    );
    assert_eq!(
        all[15].1["usage"],
        json!({"input_tokens": 3, "output_tokens": 6, "cache_read_input_tokens": 2})
    );
    assert!(tally.done);
}

#[test]
fn usage_on_the_finish_chunk_ends_the_message_at_once() {
    let mut input = chunk(json!({"content": "x"}), json!("length"));
    input = input.replace(
        "}]}",
        "}],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1}}",
    );
    let (text, _, end) = run(&input, input.len());
    // No `[DONE]` needed: the message is complete.
    assert_eq!(end, Ok(()));
    let outline = outline(&text);
    assert_eq!(outline[outline.len() - 2], "message_delta:null:max_tokens");
    assert_eq!(outline.last().unwrap(), "message_stop");
}

#[test]
fn a_done_without_chunks_is_still_a_whole_message() {
    let (text, _, end) = run("data: [DONE]\n\n", 100);
    assert_eq!(end, Ok(()));
    let all = events(&text);
    assert_eq!(all[0].1["message"]["model"], "client-model");
    assert_eq!(
        outline(&text),
        [
            "message_start",
            "message_delta:null:end_turn",
            "message_stop"
        ]
    );
}

#[test]
fn truncation_and_gateway_faults_end_with_an_error_event() {
    let input = chunk(json!({"content": "Hel"}), Value::Null);
    let mut translate = ToAnthropic::new("m", ESTIMATE);
    let mut out = Vec::new();
    translate.on_chunk(Bytes::from(input), &mut out).unwrap();
    assert_eq!(translate.on_end(&mut out), Err(StreamFault::Truncated));
    translate.on_error(&StreamFault::Truncated.to_error("up"), &mut out);
    // A second fault adds nothing after the error.
    translate.on_error(&StreamFault::Truncated.to_error("up"), &mut out);
    let text: String = out
        .iter()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect();
    let all = events(&text);
    let (name, data) = all.last().unwrap();
    assert_eq!(name, "error");
    assert_eq!(data["error"]["type"], "api_error");
    assert!(data["error"]["message"].as_str().unwrap().contains("`up`"));
    assert_eq!(all.iter().filter(|(n, _)| n == "error").count(), 1);
    assert!(translate.tally().gateway_error);
    // The error ends the stream: later input is ignored.
    translate
        .on_chunk(Bytes::from_static(b"data: [DONE]\n\n"), &mut out)
        .unwrap();
    assert_eq!(events(&text).len(), out.len());
}

#[test]
fn in_band_error_types() {
    let cases = [
        (
            (Some("requests"), Some("rate_limit_exceeded")),
            "rate_limit_error",
        ),
        (
            (Some("server_error"), Some("upstream_overloaded")),
            "overloaded_error",
        ),
        (
            (Some("invalid_request_error"), None),
            "invalid_request_error",
        ),
        (
            (Some("upstream_error"), Some("upstream_invalid_response")),
            "api_error",
        ),
        ((None, None), "api_error"),
    ];
    for ((kind, code), want) in cases {
        assert_eq!(in_band_type(kind, code), want, "{kind:?} {code:?}");
    }
}

/// A payload that is not a chunk ends the stream as a fault (the loop then sends the error
/// event); it never turns into a quiet, empty `end_turn` message.
#[test]
fn garbage_is_a_fault_not_an_empty_message() {
    let cases = [
        "data: garbage\n\ndata: [DONE]\n\n",
        "data: 42\n\ndata: [DONE]\n\n",
        "data: [1,2]\n\n",
    ];
    for input in cases {
        let mut translate = ToAnthropic::new("client-model", ESTIMATE);
        let mut out = Vec::new();
        let fault = translate.on_chunk(Bytes::copy_from_slice(input.as_bytes()), &mut out);
        assert_eq!(fault, Err(StreamFault::Malformed), "{input}");
        let error = fault.unwrap_err().to_error("up");
        translate.on_error(&error, &mut out);
        let text: String = out
            .iter()
            .map(|b| String::from_utf8(b.to_vec()).unwrap())
            .collect();
        let names: Vec<String> = events(&text).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["error"], "{input}");
        assert!(!translate.tally().done);
    }
    // A garbage tail without a blank line fails at the end, too.
    let mut translate = ToAnthropic::new("client-model", ESTIMATE);
    let mut out = Vec::new();
    translate
        .on_chunk(Bytes::from_static(b"data: nonsense"), &mut out)
        .unwrap();
    assert_eq!(translate.on_end(&mut out), Err(StreamFault::Malformed));
}
