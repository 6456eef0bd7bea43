//! An OpenAI chat completion → a Responses API `response` object: output items (the assistant
//! message, function calls), status and usage. Pure functions, shared with the stream
//! translator.

use crate::error::GatewayError;
use crate::providers::Complete;
use crate::telemetry::ids;
use crate::types::Usage;
use crate::types::chat::{ChatCompletion, ResponseMessage};
use crate::types::responses::{
    COMPLETED, Echo, FAILED, INCOMPLETE, IncompleteDetails, OutputContent, OutputItem,
    RESPONSE_OBJECT, ReasoningContent, ResponseError, ResponseObject, ResponseUsage,
};

/// Prefix of response ids.
const RESPONSE_ID_PREFIX: &str = "resp_";
/// Prefix of output message ids.
const MESSAGE_ID_PREFIX: &str = "msg_";
/// Prefix of reasoning item ids.
const REASONING_ID_PREFIX: &str = "rs_";
/// Prefix of function call item ids.
const CALL_ITEM_ID_PREFIX: &str = "fc_";
/// Prefix of the ids of other input items (function call outputs).
const ITEM_ID_PREFIX: &str = "item_";
/// The role of every output message.
pub const ASSISTANT: &str = "assistant";

/// A fresh id with `prefix`, in OpenAI's style (hex after the prefix).
fn new_id(prefix: &str) -> String {
    format!(
        "{prefix}{:016x}{:016x}",
        ids::random_u64(),
        ids::random_u64()
    )
}

/// A fresh `resp_…` id.
pub fn response_id() -> String {
    new_id(RESPONSE_ID_PREFIX)
}

/// A fresh `msg_…` id for an output message.
pub fn message_id() -> String {
    new_id(MESSAGE_ID_PREFIX)
}

/// A fresh `rs_…` id for a reasoning item.
pub fn reasoning_id() -> String {
    new_id(REASONING_ID_PREFIX)
}

/// A fresh `fc_…` id for a function call item.
pub fn call_item_id() -> String {
    new_id(CALL_ITEM_ID_PREFIX)
}

/// A fresh `item_…` id for an input item of another type.
pub fn item_id() -> String {
    new_id(ITEM_ID_PREFIX)
}

/// The response `status` and `incomplete_details` for a chat `finish_reason`.
pub fn status(finish_reason: Option<&str>) -> (&'static str, Option<IncompleteDetails>) {
    let reason = match finish_reason {
        Some("length") => "max_output_tokens",
        Some("content_filter") => "content_filter",
        _ => return (COMPLETED, None),
    };
    (INCOMPLETE, Some(IncompleteDetails { reason }))
}

/// The spec's `ResponseErrorCode` for a failure: rate limits keep their code, everything else
/// is the server's.
pub fn error_code(status: http::StatusCode) -> &'static str {
    if status == http::StatusCode::TOO_MANY_REQUESTS {
        "rate_limit_exceeded"
    } else {
        "server_error"
    }
}

/// What a response is made of besides its output: the parts known before the answer.
#[derive(Debug, Clone)]
pub struct Skeleton {
    /// `resp_…`.
    pub id: String,
    /// Unix seconds.
    pub created_at: u64,
    /// The model the client asked for (used when the upstream names none).
    pub model: String,
    /// The request's settings.
    pub echo: Echo,
}

impl Skeleton {
    /// A skeleton for a response of `model` starting now.
    pub fn new(model: String, echo: Echo) -> Self {
        Self {
            id: response_id(),
            created_at: crate::clock::unix_now(),
            model,
            echo,
        }
    }

    /// The response object with `status`, `output` and `usage`.
    pub fn response(
        &self,
        status: &'static str,
        output: Vec<OutputItem>,
        usage: Option<Usage>,
    ) -> ResponseObject {
        ResponseObject {
            id: self.id.clone(),
            object: RESPONSE_OBJECT,
            created_at: self.created_at,
            status,
            completed_at: (status == COMPLETED).then(crate::clock::unix_now),
            error: None,
            incomplete_details: None,
            model: self.model.clone(),
            output,
            usage: usage.map(ResponseUsage::from),
            echo: self.echo.clone(),
        }
    }

    /// A failed response carrying `error`.
    pub fn failed(&self, output: Vec<OutputItem>, error: ResponseError) -> ResponseObject {
        ResponseObject {
            error: Some(error),
            ..self.response(FAILED, output, None)
        }
    }
}

/// A reasoning item holding `text`.
pub fn reasoning_item(id: String, text: String, status: &'static str) -> OutputItem {
    OutputItem::Reasoning {
        id,
        summary: Vec::new(),
        content: vec![ReasoningContent::ReasoningText { text }],
        status,
    }
}

/// The output items of an assistant message in the order they were generated: its reasoning,
/// the message (text, refusal), then its calls.
fn output_items(message: ResponseMessage) -> Vec<OutputItem> {
    let mut items = Vec::new();
    if let Some(reasoning) = message.reasoning_content.filter(|r| !r.is_empty()) {
        items.push(reasoning_item(reasoning_id(), reasoning, COMPLETED));
    }
    let mut content = Vec::new();
    if let Some(text) = message.content.filter(|t| !t.is_empty()) {
        content.push(OutputContent::text(text));
    }
    if let Some(refusal) = message.refusal.filter(|t| !t.is_empty()) {
        content.push(OutputContent::Refusal { refusal });
    }
    if !content.is_empty() {
        items.push(OutputItem::Message {
            id: message_id(),
            status: COMPLETED,
            role: ASSISTANT,
            content,
        });
    }
    for call in message.tool_calls.unwrap_or_default() {
        items.push(OutputItem::FunctionCall {
            id: call_item_id(),
            call_id: call.id,
            name: call.function.name,
            arguments: call.function.arguments,
            status: COMPLETED,
        });
    }
    items
}

/// The response object for a whole chat completion (its first choice).
pub fn from_completion(completion: ChatCompletion, skeleton: &Skeleton) -> ResponseObject {
    let usage = completion.usage.as_ref().map(Usage::from);
    let (output, finish_reason) = match completion.choices.into_iter().next() {
        Some(choice) => (output_items(choice.message), choice.finish_reason),
        None => (Vec::new(), None),
    };
    let (status, incomplete_details) = status(finish_reason.as_deref());
    let model = if completion.model.is_empty() {
        skeleton.model.clone()
    } else {
        completion.model
    };
    ResponseObject {
        incomplete_details,
        model,
        ..skeleton.response(status, output, Some(usage.unwrap_or_default()))
    }
}

/// Translates a whole chat answer from `provider` into the `response` body the client gets.
pub fn complete(
    complete: Complete,
    skeleton: &Skeleton,
    provider: &str,
) -> Result<Complete, GatewayError> {
    let completion: ChatCompletion =
        serde_json::from_slice(&complete.body).map_err(|e| GatewayError::UpstreamProtocol {
            provider: provider.to_owned(),
            detail: format!("the answer is not a chat completion: {e}"),
        })?;
    let usage = completion.usage.as_ref().map(Usage::from);
    let response = from_completion(completion, skeleton);
    let body = serde_json::to_vec(&response).map_err(|e| GatewayError::Internal(e.to_string()))?;
    Ok(Complete {
        status: complete.status,
        body: body.into(),
        usage: usage.or(complete.usage),
    })
}

#[cfg(test)]
mod tests;
