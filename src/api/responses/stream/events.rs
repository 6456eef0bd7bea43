//! The Responses stream events the translator writes, and their SSE encoding: each event
//! named by its `type` and numbered with the stream's next `sequence_number`.

use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;

use crate::stream::sse;
use crate::types::responses::{OutputContent, OutputItem, ResponseObject};

/// One Responses stream event (its `type` is the SSE event name).
#[derive(Serialize)]
#[serde(tag = "type")]
pub(super) enum Event<'a> {
    #[serde(rename = "response.created")]
    Created { response: ResponseObject },
    #[serde(rename = "response.in_progress")]
    InProgress { response: ResponseObject },
    #[serde(rename = "response.completed")]
    Completed { response: ResponseObject },
    #[serde(rename = "response.incomplete")]
    Incomplete { response: ResponseObject },
    #[serde(rename = "response.failed")]
    Failed { response: ResponseObject },
    #[serde(rename = "response.output_item.added")]
    ItemAdded {
        output_index: usize,
        item: OutputItem,
    },
    #[serde(rename = "response.output_item.done")]
    ItemDone {
        output_index: usize,
        item: OutputItem,
    },
    #[serde(rename = "response.content_part.added")]
    PartAdded {
        item_id: &'a str,
        output_index: usize,
        content_index: u32,
        part: OutputContent,
    },
    #[serde(rename = "response.content_part.done")]
    PartDone {
        item_id: &'a str,
        output_index: usize,
        content_index: u32,
        part: OutputContent,
    },
    #[serde(rename = "response.output_text.delta")]
    TextDelta {
        item_id: &'a str,
        output_index: usize,
        content_index: u32,
        delta: &'a str,
        logprobs: [Value; 0],
    },
    #[serde(rename = "response.output_text.done")]
    TextDone {
        item_id: &'a str,
        output_index: usize,
        content_index: u32,
        text: &'a str,
        logprobs: [Value; 0],
    },
    #[serde(rename = "response.refusal.delta")]
    RefusalDelta {
        item_id: &'a str,
        output_index: usize,
        content_index: u32,
        delta: &'a str,
    },
    #[serde(rename = "response.refusal.done")]
    RefusalDone {
        item_id: &'a str,
        output_index: usize,
        content_index: u32,
        refusal: &'a str,
    },
    #[serde(rename = "response.reasoning_text.delta")]
    ReasoningDelta {
        item_id: &'a str,
        output_index: usize,
        content_index: u32,
        delta: &'a str,
    },
    #[serde(rename = "response.reasoning_text.done")]
    ReasoningDone {
        item_id: &'a str,
        output_index: usize,
        content_index: u32,
        text: &'a str,
    },
    #[serde(rename = "response.function_call_arguments.delta")]
    ArgumentsDelta {
        item_id: &'a str,
        output_index: usize,
        delta: &'a str,
    },
    #[serde(rename = "response.function_call_arguments.done")]
    ArgumentsDone {
        item_id: &'a str,
        output_index: usize,
        name: &'a str,
        arguments: &'a str,
    },
    #[serde(rename = "error")]
    Error {
        code: &'static str,
        message: &'a str,
        param: Option<&'a str>,
    },
}

/// Writes `event` as an SSE event named by its `type`, numbered with the next `sequence`.
pub(super) fn emit_numbered(sequence: &mut u64, event: &Event<'_>, out: &mut Vec<Bytes>) {
    let Ok(Value::Object(mut object)) = serde_json::to_value(event) else {
        return;
    };
    object.insert("sequence_number".to_owned(), Value::from(*sequence));
    *sequence += 1;
    let name = object
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let payload = serde_json::to_vec(&object).unwrap_or_default();
    out.push(sse::named_event(&name, &payload));
}
