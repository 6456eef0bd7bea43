//! ConverseStream (event-stream frames) → OpenAI chunks.

use bytes::Bytes;
use serde_json::{Value, json};

use super::ConverseStream;
use crate::error::GatewayError;
use crate::providers::bedrock::tests::fixture;
use crate::stream::eventstream::{encode_event, encode_exception};
use crate::stream::{StreamFault, Translate};
use crate::types::Usage;

/// A fixture's events framed as Bedrock sends them, back to back.
fn frames(name: &str) -> Vec<u8> {
    let events: Vec<(String, Value)> = serde_json::from_str(&fixture(name)).unwrap();
    events
        .iter()
        .flat_map(|(kind, payload)| encode_event(kind, payload.to_string().as_bytes()).unwrap())
        .collect()
}

/// What a client received: each `data:` payload (`[DONE]` kept as is), and the end's fault.
struct Received {
    data: Vec<String>,
    end: Result<(), StreamFault>,
    stream: ConverseStream,
}

fn run(chunks: &[&[u8]], include_usage: bool) -> Received {
    let mut stream = ConverseStream::new("bedrock", "anthropic.claude-x", include_usage);
    let mut out = Vec::new();
    for chunk in chunks {
        stream
            .on_chunk(Bytes::copy_from_slice(chunk), &mut out)
            .unwrap();
    }
    let end = stream.on_end(&mut out);
    Received {
        data: data_of(&out),
        end,
        stream,
    }
}

fn data_of(out: &[Bytes]) -> Vec<String> {
    out.iter()
        .map(|event| {
            let text = std::str::from_utf8(event).unwrap();
            text.strip_prefix("data: ").unwrap().trim_end().to_owned()
        })
        .collect()
}

/// The JSON chunks, with the generated id and the clock left out.
fn chunks(data: &[String]) -> Vec<Value> {
    data.iter()
        .filter(|d| *d != "[DONE]")
        .map(|d| {
            let mut chunk: Value = serde_json::from_str(d).unwrap();
            if let Some(object) = chunk.as_object_mut() {
                object.remove("id");
                object.remove("created");
            }
            chunk
        })
        .collect()
}

/// The concatenation of one delta field over every chunk.
fn joined(chunks: &[Value], pointer: &str) -> String {
    chunks
        .iter()
        .filter_map(|c| c.pointer(pointer).and_then(Value::as_str))
        .collect()
}

#[test]
fn a_tool_use_stream_becomes_openai_chunks() {
    let stream = frames("converse_stream_tool_use.json");
    let got = run(&[&stream], true);
    assert_eq!(got.end, Ok(()));
    let chunks = chunks(&got.data);
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(
        joined(&chunks, "/choices/0/delta/content"),
        "Let me check \"Paris\"."
    );
    let call = &chunks
        .iter()
        .find(|c| c.pointer("/choices/0/delta/tool_calls/0/id").is_some())
        .unwrap()["choices"][0]["delta"]["tool_calls"][0];
    assert_eq!(call["id"], "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q");
    assert_eq!(call["function"]["name"], "get_weather");
    assert_eq!(call["index"], 0);
    assert_eq!(
        joined(&chunks, "/choices/0/delta/tool_calls/0/function/arguments"),
        "{\"city\": \"Paris\"}"
    );
    let finish: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c.pointer("/choices/0/finish_reason"))
        .filter(|f| !f.is_null())
        .collect();
    assert_eq!(finish, ["tool_calls"]);
    let usage = &chunks.last().unwrap()["usage"];
    assert_eq!(usage["prompt_tokens"], 3088);
    assert_eq!(usage["prompt_tokens_details"]["cached_tokens"], 2048);
    assert_eq!(got.data.last().unwrap(), "[DONE]");
    let tally = got.stream.tally();
    assert!(tally.done && !tally.upstream_error);
    let want = Usage {
        input: 3088,
        output: 54,
        cached: 2048,
        reasoning: 0,
    };
    assert_eq!(tally.usage, Some(want));
}

#[test]
fn reasoning_streams_as_reasoning_content_and_usage_only_when_asked() {
    let stream = frames("converse_stream_reasoning.json");
    let got = run(&[&stream], false);
    assert_eq!(got.end, Ok(()));
    let chunks = chunks(&got.data);
    assert_eq!(
        joined(&chunks, "/choices/0/delta/reasoning_content"),
        "The user greets me."
    );
    assert_eq!(joined(&chunks, "/choices/0/delta/content"), "Hello!");
    // The signature follows the reasoning text, as a thinking block the client sends back.
    let signed: Vec<_> = chunks
        .iter()
        .filter_map(|c| c.pointer("/choices/0/delta/thinking_blocks/0"))
        .collect();
    assert_eq!(
        signed,
        [&json!({"type": "thinking", "thinking": "", "signature": "EqQBCkYIBxgCKkBfakeSignature"})]
    );
    assert!(chunks.iter().all(|c| c.get("usage").is_none()));
    assert_eq!(got.stream.tally().usage.map(|u| u.output), Some(30));
}

#[test]
fn where_the_upstream_cuts_its_chunks_does_not_matter() {
    let stream = frames("converse_stream_tool_use.json");
    let whole = chunks(&run(&[&stream], true).data);
    for cut in (0..=stream.len()).step_by(7) {
        let (a, b) = stream.split_at(cut);
        assert_eq!(chunks(&run(&[a, b], true).data), whole, "cut at {cut}");
    }
}

#[test]
fn an_exception_mid_stream_is_an_in_band_error() {
    let mut stream = frames("converse_stream_tool_use.json");
    stream.truncate(frames_len_of_first(2));
    stream.extend(
        encode_exception(
            "throttlingException",
            br#"{"message":"Too many tokens, please wait before trying again."}"#,
        )
        .unwrap(),
    );
    let got = run(&[&stream], true);
    assert_eq!(got.end, Ok(()));
    let error: Value = serde_json::from_str(&got.data[got.data.len() - 2]).unwrap();
    assert_eq!(error["error"]["code"], "ThrottlingException");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Too many tokens")
    );
    assert_eq!(got.data.last().unwrap(), "[DONE]");
    let tally = got.stream.tally();
    assert!(tally.upstream_error && !tally.done);
}

/// Bytes of the fixture's first `n` events.
fn frames_len_of_first(n: usize) -> usize {
    let events: Vec<(String, Value)> =
        serde_json::from_str(&fixture("converse_stream_tool_use.json")).unwrap();
    events[..n]
        .iter()
        .map(|(kind, payload)| {
            encode_event(kind, payload.to_string().as_bytes())
                .unwrap()
                .len()
        })
        .sum()
}

#[test]
fn broken_framing_and_early_ends_are_faults() {
    let stream = frames("converse_stream_tool_use.json");
    // A flipped payload byte: the message CRC no longer matches.
    let mut corrupt = stream.clone();
    corrupt[frames_len_of_first(1) + 20] ^= 1;
    let mut translator = ConverseStream::new("bedrock", "m", false);
    let fault = translator.on_chunk(Bytes::from(corrupt), &mut Vec::new());
    assert_eq!(fault, Err(StreamFault::Malformed));
    // Cut inside a message, and cut before `metadata`.
    let inside = run(&[&stream[..stream.len() - 3]], false);
    assert_eq!(inside.end, Err(StreamFault::Truncated));
    let before_metadata = run(&[&stream[..frames_len_of_first(10)]], false);
    assert_eq!(before_metadata.end, Err(StreamFault::Truncated));
}

#[test]
fn unreadable_events_and_gateway_errors_end_the_stream_in_band() {
    let bad = encode_event("contentBlockDelta", b"{not json").unwrap();
    let got = run(&[&bad], false);
    assert!(
        got.data[0].contains("upstream_invalid_response"),
        "{:?}",
        got.data
    );
    assert_eq!(got.data.last().unwrap(), "[DONE]");
    assert!(got.stream.tally().upstream_error);

    let mut translator = ConverseStream::new("bedrock", "m", false);
    let mut out = Vec::new();
    let error = GatewayError::UpstreamProtocol {
        provider: "bedrock".into(),
        detail: "x".into(),
    };
    translator.on_error(&error, &mut out);
    translator.on_error(&error, &mut out);
    assert_eq!(data_of(&out).len(), 2, "one error and one [DONE]");
    assert!(translator.tally().gateway_error);
}

#[test]
fn a_tool_call_without_arguments_gets_an_empty_object() {
    let events = [
        (
            "contentBlockStart",
            r#"{"contentBlockIndex":0,"start":{"toolUse":{"toolUseId":"t1","name":"now"}}}"#,
        ),
        ("contentBlockStop", r#"{"contentBlockIndex":0}"#),
        ("messageStop", r#"{"stopReason":"tool_use"}"#),
        (
            "metadata",
            r#"{"usage":{"inputTokens":1,"outputTokens":2,"totalTokens":3}}"#,
        ),
        ("somethingNew", r#"{"x":1}"#),
    ];
    let stream: Vec<u8> = events
        .iter()
        .flat_map(|(kind, payload)| encode_event(kind, payload.as_bytes()).unwrap())
        .collect();
    let got = run(&[&stream], false);
    assert_eq!(got.end, Ok(()));
    let chunks = chunks(&got.data);
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(
        joined(&chunks, "/choices/0/delta/tool_calls/0/function/arguments"),
        "{}"
    );
}
