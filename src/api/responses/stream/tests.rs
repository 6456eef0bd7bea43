//! OpenAI chunks → Responses events: the event sequence the SDKs check (fed in awkward chunk
//! sizes), item switching, usage deferral, length, in-band errors, faults and truncation.

use serde_json::{Value, json};

use super::*;
use crate::types::responses::Echo;

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/reference/openai"
);
/// `usage.input_tokens` when the upstream reports none, in these tests.
const ESTIMATE: u64 = 9;

fn translator() -> ToResponses {
    ToResponses::new(
        Skeleton::new("client-model".into(), Echo::default()),
        ESTIMATE,
    )
}

/// `(event name, data)` of each event; every event has both, the name repeats the data's
/// `type`, and sequence numbers count up from 0.
fn events(text: &str) -> Vec<(String, Value)> {
    let events: Vec<(String, Value)> = text
        .split("\n\n")
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
        .collect();
    for (i, (_, data)) in events.iter().enumerate() {
        assert_eq!(data["sequence_number"], i as u64, "{data}");
    }
    events
}

fn names(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(name, _)| name.as_str()).collect()
}

/// Runs `input` through a translator in chunks of `chunk_size` bytes.
fn run(input: &str, chunk_size: usize) -> (Vec<(String, Value)>, Tally, Result<(), StreamFault>) {
    let mut translate = translator();
    let mut out = Vec::new();
    for piece in input.as_bytes().chunks(chunk_size) {
        translate
            .on_chunk(Bytes::copy_from_slice(piece), &mut out)
            .unwrap();
    }
    let end = translate.on_end(&mut out);
    let text: String = out
        .iter()
        .map(|b| String::from_utf8(b.to_vec()).unwrap())
        .collect();
    (events(&text), translate.tally().clone(), end)
}

fn chunk(delta: &Value, finish: Option<&str>) -> String {
    let chunk = json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "up-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
    format!("data: {chunk}\n\n")
}

fn usage_chunk() -> String {
    let chunk = json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "up-model",
        "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}});
    format!("data: {chunk}\n\n")
}

const DONE: &str = "data: [DONE]\n\n";

#[test]
fn text_streams_as_one_message_item() {
    let input = [
        chunk(&json!({"role": "assistant", "content": ""}), None),
        chunk(&json!({"content": "Hel"}), None),
        chunk(&json!({"content": "lo!"}), None),
        chunk(&json!({}), Some("stop")),
        usage_chunk(),
        DONE.to_owned(),
    ]
    .concat();
    for size in [input.len(), 7, 1] {
        let (events, tally, end) = run(&input, size);
        assert_eq!(end, Ok(()));
        assert!(tally.done && tally.usage.is_some());
        assert_eq!(
            names(&events),
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed",
            ],
            "chunks of {size}"
        );
        let created = &events[0].1["response"];
        assert_eq!(created["status"], "in_progress");
        assert_eq!(created["model"], "up-model");
        assert!(created["id"].as_str().unwrap().starts_with("resp_"));
        let item_id = &events[2].1["item"]["id"];
        assert_eq!(events[2].1["item"]["status"], "in_progress");
        assert_eq!(events[4].1["item_id"], *item_id);
        assert_eq!(events[6].1["text"], "Hello!");
        assert_eq!(events[7].1["part"]["text"], "Hello!");
        let done = &events[8].1["item"];
        assert_eq!(done["id"], *item_id);
        assert_eq!(done["content"][0]["text"], "Hello!");
        let completed = &events[9].1["response"];
        assert_eq!(completed["id"], created["id"]);
        assert_eq!(completed["status"], "completed");
        assert_eq!(completed["output"], json!([done]));
        assert_eq!(completed["usage"]["total_tokens"], 8);
    }
}

#[test]
fn tool_calls_stream_as_function_call_items() {
    let input =
        std::fs::read_to_string(format!("{FIXTURES}/chat_stream_tool_calls_with_usage.sse"))
            .unwrap();
    for size in [input.len(), 5] {
        let (events, _, end) = run(&input, size);
        assert_eq!(end, Ok(()));
        let added: Vec<&Value> = events
            .iter()
            .filter(|(n, _)| n == "response.output_item.added")
            .map(|(_, d)| d)
            .collect();
        assert_eq!(added.len(), 2, "{events:?}");
        assert_eq!(added[0]["item"]["type"], "function_call");
        assert_eq!(added[0]["item"]["call_id"], "call_AAA111");
        assert_eq!(added[1]["item"]["call_id"], "call_BBB222");
        assert_eq!(added[1]["output_index"], 1);
        let args_done: Vec<&Value> = events
            .iter()
            .filter(|(n, _)| n == "response.function_call_arguments.done")
            .map(|(_, d)| d)
            .collect();
        assert_eq!(args_done[0]["arguments"], "{\"location\": \"Boston, MA\"}");
        assert_eq!(args_done[0]["name"], "get_current_weather");
        let (last, completed) = events.last().unwrap();
        assert_eq!(last, "response.completed");
        let output = completed["response"]["output"].as_array().unwrap();
        assert_eq!(output.len(), 2);
        assert!(output[0]["id"].as_str().unwrap().starts_with("fc_"));
        assert_eq!(output[0]["id"], added[0]["item"]["id"]);
        assert!(
            completed["response"]["usage"]["input_tokens"]
                .as_u64()
                .unwrap()
                > 0
        );
    }
}

#[test]
fn text_then_a_call_are_two_items_and_length_is_incomplete() {
    let input = [
        chunk(&json!({"content": "Let me check."}), None),
        chunk(
            &json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}),
            None,
        ),
        chunk(&json!({}), Some("length")),
        DONE.to_owned(),
    ]
    .concat();
    let (events, tally, end) = run(&input, input.len());
    assert_eq!(end, Ok(()));
    let (last, data) = events.last().unwrap();
    assert_eq!(last, "response.incomplete");
    let response = &data["response"];
    assert_eq!(response["status"], "incomplete");
    assert_eq!(
        response["incomplete_details"]["reason"],
        "max_output_tokens"
    );
    assert_eq!(response["output"][0]["type"], "message");
    assert_eq!(response["output"][1]["type"], "function_call");
    // No usage from upstream: the estimate.
    assert_eq!(response["usage"]["input_tokens"], ESTIMATE);
    assert!(tally.usage.is_none() && tally.done);
}

#[test]
fn an_in_band_error_ends_with_error_and_response_failed() {
    let input =
        std::fs::read_to_string(format!("{FIXTURES}/chat_stream_midstream_error.sse")).unwrap();
    let (events, tally, end) = run(&input, 3);
    assert_eq!(end, Ok(()));
    assert!(tally.upstream_error);
    let names = names(&events);
    assert_eq!(names[names.len() - 2..], ["error", "response.failed"]);
    let error = &events[events.len() - 2].1;
    assert_eq!(error["message"], "Upstream provider overloaded");
    assert_eq!(error["code"], "server_error");
    let failed = &events.last().unwrap().1["response"];
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"]["code"], "server_error");
}

#[test]
fn truncation_and_gateway_errors_fail_the_response() {
    let input = chunk(&json!({"content": "Hi"}), None);
    let (_, _, end) = run(&input, input.len());
    assert_eq!(end, Err(StreamFault::Truncated));

    let mut translate = translator();
    let mut out = Vec::new();
    translate
        .on_chunk(Bytes::from(input.clone()), &mut out)
        .unwrap();
    translate.on_error(&StreamFault::Truncated.to_error("up"), &mut out);
    // Only once, and nothing after it.
    translate.on_error(&StreamFault::Truncated.to_error("up"), &mut out);
    translate.on_chunk(Bytes::from(DONE), &mut out).unwrap();
    let text: String = out
        .iter()
        .map(|b| String::from_utf8(b.to_vec()).unwrap())
        .collect();
    let failed = events(&text);
    assert_eq!(names(&failed).last(), Some(&"response.failed"));
    assert_eq!(names(&failed).iter().filter(|n| **n == "error").count(), 1);
    assert!(translate.tally().gateway_error);

    // A failure before any chunk still opens the response first (the SDKs expect it).
    let mut translate = translator();
    let mut out = Vec::new();
    let limited = GatewayError::RateLimited {
        message: "slow down".into(),
        retry_after: std::time::Duration::from_secs(1),
        headers: Vec::new(),
    };
    translate.on_error(&limited, &mut out);
    let text: String = out
        .iter()
        .map(|b| String::from_utf8(b.to_vec()).unwrap())
        .collect();
    let events = events(&text);
    assert_eq!(
        names(&events),
        [
            "response.created",
            "response.in_progress",
            "error",
            "response.failed"
        ]
    );
    assert_eq!(events[2].1["code"], "rate_limit_exceeded");
}

#[test]
fn a_payload_that_is_not_a_chunk_is_a_fault() {
    let mut translate = translator();
    let mut out = Vec::new();
    let fault = translate.on_chunk(Bytes::from("data: [1,2]\n\n"), &mut out);
    assert_eq!(fault, Err(StreamFault::Malformed));
}

#[test]
fn reasoning_streams_as_its_own_item_before_the_message() {
    let input = [
        chunk(&json!({"reasoning_content": "Think"}), None),
        chunk(&json!({"reasoning_content": "ing."}), None),
        chunk(&json!({"content": "Hi"}), Some("stop")),
        usage_chunk(),
    ]
    .concat();
    let (events, _, end) = run(&input, 4);
    assert_eq!(end, Ok(()));
    assert_eq!(
        names(&events)[..7],
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.reasoning_text.delta",
            "response.reasoning_text.delta",
            "response.reasoning_text.done",
            "response.output_item.done",
        ]
    );
    assert_eq!(events[2].1["item"]["type"], "reasoning");
    assert_eq!(events[5].1["text"], "Thinking.");
    let reasoning = &events[6].1["item"];
    assert_eq!(reasoning["content"][0]["text"], "Thinking.");
    assert_eq!(events[7].1["output_index"], 1);
    let completed = &events.last().unwrap().1["response"];
    assert_eq!(completed["output"][0], *reasoning);
    assert_eq!(completed["output"][1]["content"][0]["text"], "Hi");
}

#[test]
fn a_refusal_streams_as_refusal_events_in_its_own_part() {
    let input = [
        chunk(&json!({"role": "assistant", "refusal": "I can't"}), None),
        chunk(&json!({"refusal": " help."}), None),
        chunk(&json!({}), Some("stop")),
        DONE.to_owned(),
    ]
    .concat();
    for size in [1, 9, input.len()] {
        let (events, _, end) = run(&input, size);
        assert_eq!(end, Ok(()));
        let named: Vec<&str> = names(&events)
            .into_iter()
            .filter(|n| n.contains("refusal") || n.contains("part") || n.contains("text"))
            .collect();
        assert_eq!(
            named,
            [
                "response.content_part.added",
                "response.refusal.delta",
                "response.refusal.delta",
                "response.refusal.done",
                "response.content_part.done",
            ],
            "chunks of {size}"
        );
        let added = events
            .iter()
            .find(|(n, _)| n == "response.content_part.added")
            .unwrap();
        assert_eq!(added.1["part"], json!({"type": "refusal", "refusal": ""}));
        let done = events
            .iter()
            .find(|(n, _)| n == "response.refusal.done")
            .unwrap();
        assert_eq!(done.1["refusal"], "I can't help.");
        let (_, completed) = events.last().unwrap();
        assert_eq!(
            completed["response"]["output"][0]["content"],
            json!([{"type": "refusal", "refusal": "I can't help."}])
        );
    }
}
