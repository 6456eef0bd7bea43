use bytes::Bytes;
use serde_json::{Value, json};

use super::*;

/// Every event of `events` as one SSE frame, in OpenAI's form (`event:` line, then `data:`).
fn sse(events: &[Value]) -> String {
    events
        .iter()
        .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap()))
        .collect()
}

/// Feeds `input` in chunks of `size` bytes; returns the client events' payloads, the end and
/// the tally.
fn run(
    input: &str,
    size: usize,
    include_usage: bool,
) -> (Vec<Value>, Result<(), StreamFault>, Tally) {
    let writer = ChunkWriter::new("chatcmpl-1", "up", 1, include_usage);
    let mut t = FromResponses::new(writer, "oa");
    let mut out = Vec::new();
    for chunk in input.as_bytes().chunks(size) {
        t.on_chunk(Bytes::copy_from_slice(chunk), &mut out).unwrap();
    }
    let end = t.on_end(&mut out);
    if let Err(fault) = &end {
        t.on_error(&fault.to_error("oa"), &mut out);
    }
    let events = out
        .iter()
        .map(|b| {
            let text = std::str::from_utf8(b).unwrap();
            let data = text.strip_prefix("data: ").unwrap().trim_end();
            serde_json::from_str(data).unwrap_or_else(|_| Value::from(data))
        })
        .collect();
    (events, end, t.tally().clone())
}

fn created() -> Value {
    json!({"type": "response.created", "sequence_number": 0,
        "response": {"id": "resp_1", "object": "response", "status": "in_progress", "model": "gpt-5-pro-2025", "output": []}})
}

fn usage() -> Value {
    json!({"input_tokens": 7, "output_tokens": 3, "total_tokens": 10})
}

/// The delta of each chunk (or `[DONE]`).
fn deltas(events: &[Value]) -> Vec<Value> {
    events
        .iter()
        .map(|e| match e {
            Value::String(done) => Value::from(done.as_str()),
            chunk => chunk["choices"].get(0).map_or_else(
                || json!({"usage": chunk["usage"]}),
                |c| json!({"delta": c["delta"], "finish_reason": c["finish_reason"]}),
            ),
        })
        .collect()
}

#[test]
fn text_streams_as_chunks_whatever_the_chunking() {
    let input = sse(&[
        created(),
        json!({"type": "response.in_progress", "sequence_number": 1, "response": {"status": "in_progress"}}),
        json!({"type": "response.output_item.added", "output_index": 0, "item": {"type": "message", "id": "msg_1", "role": "assistant", "content": []}}),
        json!({"type": "response.content_part.added", "output_index": 0, "content_index": 0, "part": {"type": "output_text", "text": ""}}),
        json!({"type": "response.reasoning_summary_text.delta", "output_index": 0, "delta": "Hm."}),
        json!({"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "delta": "Hel"}),
        json!({"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "delta": "lo"}),
        json!({"type": "response.output_text.done", "output_index": 0, "text": "Hello"}),
        json!({"type": "response.completed", "response": {"status": "completed", "model": "gpt-5-pro-2025",
            "output": [{"type": "message", "content": [{"type": "output_text", "text": "Hello"}]}], "usage": usage()}}),
    ]);
    for size in [1, 7, input.len()] {
        let (events, end, tally) = run(&input, size, true);
        assert!(end.is_ok());
        assert!(tally.done);
        assert_eq!(tally.usage.map(|u| (u.input, u.output)), Some((7, 3)));
        assert_eq!(events[0]["model"], "gpt-5-pro-2025");
        assert_eq!(events[0]["id"], "chatcmpl-1");
        assert_eq!(
            deltas(&events),
            [
                json!({"delta": {"role": "assistant", "content": ""}, "finish_reason": null}),
                json!({"delta": {"reasoning_content": "Hm."}, "finish_reason": null}),
                json!({"delta": {"content": "Hel"}, "finish_reason": null}),
                json!({"delta": {"content": "lo"}, "finish_reason": null}),
                json!({"delta": {}, "finish_reason": "stop"}),
                json!({"usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10,
                    "prompt_tokens_details": {"cached_tokens": 0},
                    "completion_tokens_details": {"reasoning_tokens": 0}}}),
                Value::from("[DONE]"),
            ],
            "chunks of {size}"
        );
    }
    // Without include_usage the usage chunk is left out, the usage is still counted.
    let (events, _, tally) = run(&input, 64, false);
    assert_eq!(events.len(), 6);
    assert!(tally.usage.is_some());
}

#[test]
fn function_calls_stream_as_tool_calls() {
    let input = sse(&[
        created(),
        json!({"type": "response.output_item.added", "output_index": 0, "item": {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "weather", "arguments": ""}}),
        json!({"type": "response.function_call_arguments.delta", "output_index": 0, "delta": "{\"city\":"}),
        json!({"type": "response.function_call_arguments.delta", "output_index": 0, "delta": "\"Paris\"}"}),
        json!({"type": "response.output_item.added", "output_index": 1, "item": {"type": "function_call", "id": "fc_2", "call_id": "call_2", "name": "time", "arguments": "{}"}}),
        json!({"type": "response.incomplete", "response": {"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}, "output": []}}),
    ]);
    let (events, end, _) = run(&input, 16, false);
    assert!(end.is_ok());
    let tool = |i: usize| events[i]["choices"][0]["delta"]["tool_calls"][0].clone();
    assert_eq!(tool(1)["index"], 0);
    assert_eq!(tool(1)["id"], "call_1");
    assert_eq!(tool(1)["function"]["name"], "weather");
    assert_eq!(tool(2)["function"]["arguments"], "{\"city\":");
    assert_eq!(tool(3)["function"]["arguments"], "\"Paris\"}");
    assert_eq!(tool(4)["index"], 1);
    assert_eq!(tool(5)["function"]["arguments"], "{}");
    assert_eq!(events[6]["choices"][0]["finish_reason"], "length");
    assert_eq!(events[7], "[DONE]");
}

#[test]
fn failures_end_the_stream_in_band() {
    let cases = [
        (
            json!({"type": "response.failed", "response": {"status": "failed", "error": {"code": "server_error", "message": "boom"}}}),
            "boom",
        ),
        (
            json!({"type": "error", "code": "rate_limit_exceeded", "message": "slow down"}),
            "slow down",
        ),
    ];
    for (failure, message) in cases {
        let input = sse(&[created(), failure.clone()]);
        let (events, end, tally) = run(&input, 64, false);
        assert!(end.is_ok(), "{failure}");
        assert!(tally.upstream_error);
        let error = events.iter().find(|e| e.get("error").is_some()).unwrap();
        assert_eq!(error["error"]["message"], message);
    }
    // A stream that stops before its end is an in-band error too, never a silent stop.
    let (events, end, tally) = run(&sse(&[created()]), 64, false);
    assert!(end.is_err());
    assert!(tally.gateway_error);
    assert!(events.iter().any(|e| e.get("error").is_some()));
}
