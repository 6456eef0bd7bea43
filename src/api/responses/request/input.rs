//! `input` (and `instructions`) as chat messages: message items with their content parts,
//! function calls joined to the assistant turn they belong to, function call outputs as tool
//! messages; earlier reasoning dropped.

use serde_json::{Value, json};

use super::{FUNCTION, Input, invalid, string_field};
use crate::error::GatewayError;
use crate::types::chat::{Content, ContentPart, FunctionCall, ImageUrl, Message, Role, ToolCall};

/// The name of a file sent without one.
const DEFAULT_FILENAME: &str = "document";

/// The conversation: `instructions` as the system message, then `input`. A request with
/// nothing for the model to answer is refused.
pub(super) fn messages(
    instructions: Option<String>,
    input: Option<Input>,
) -> Result<Vec<Message>, GatewayError> {
    let mut messages = Vec::new();
    if let Some(instructions) = instructions.filter(|i| !i.is_empty()) {
        messages.push(Message::text(Role::System, instructions));
    }
    match input {
        Some(Input::Text(text)) => messages.push(Message::text(Role::User, text)),
        Some(Input::Items(items)) => {
            for (i, item) in items.into_iter().enumerate() {
                item_messages(i, item, &mut messages)?;
            }
        }
        None => {}
    }
    if messages.iter().all(|m| m.role == Role::System) {
        return Err(invalid(
            "input",
            "the request has no input for the model to answer.",
        ));
    }
    Ok(messages)
}

/// Appends the chat messages of input item `i`.
fn item_messages(i: usize, item: Value, out: &mut Vec<Message>) -> Result<(), GatewayError> {
    let path = format!("input[{i}]");
    // A message may leave out its `type` (the "easy" input message).
    let kind = match item.get("type") {
        None => "message",
        Some(kind) => kind
            .as_str()
            .ok_or_else(|| invalid(&format!("{path}.type"), "expected a string."))?,
    };
    match kind {
        "message" => out.push(message(&path, &item)?),
        "function_call" => {
            let call = ToolCall {
                id: string_field(&item, &path, "call_id")?,
                kind: FUNCTION.to_owned(),
                function: FunctionCall {
                    name: string_field(&item, &path, "name")?,
                    arguments: string_field(&item, &path, "arguments")?,
                },
            };
            push_call(call, out);
        }
        "function_call_output" => {
            let mut message = Message::text(Role::Tool, call_output(&path, &item)?);
            message.tool_call_id = Some(string_field(&item, &path, "call_id")?);
            out.push(message);
        }
        // Earlier reasoning is the upstream's own: a chat request has no place for it.
        "reasoning" => {}
        other => {
            return Err(invalid(
                &format!("{path}.type"),
                &format!(
                    "the item type '{other}' is not available for this model's upstream (it takes message, function_call, function_call_output and reasoning items)."
                ),
            ));
        }
    }
    Ok(())
}

/// A function call joins the assistant turn before it (OpenAI wants a turn's calls in one
/// message, answered by the tool messages that follow).
fn push_call(call: ToolCall, out: &mut Vec<Message>) {
    if let Some(last) = out.last_mut()
        && last.role == Role::Assistant
    {
        last.tool_calls.get_or_insert_with(Vec::new).push(call);
        return;
    }
    out.push(Message {
        content: None,
        tool_calls: Some(vec![call]),
        ..Message::text(Role::Assistant, "")
    });
}

/// A `function_call_output`'s text: a string, or the text of its parts.
fn call_output(path: &str, item: &Value) -> Result<String, GatewayError> {
    match item.get("output") {
        Some(Value::String(text)) => Ok(text.clone()),
        Some(Value::Array(parts)) => Ok(parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n")),
        _ => Err(invalid(
            &format!("{path}.output"),
            "expected a string or an array of content parts.",
        )),
    }
}

/// A `message` item.
fn message(path: &str, item: &Value) -> Result<Message, GatewayError> {
    let role = match item.get("role").and_then(Value::as_str) {
        Some("user") => Role::User,
        Some("assistant") => Role::Assistant,
        // vLLM's chat templates and the translating adapters all know `system`.
        Some("system" | "developer") => Role::System,
        _ => {
            return Err(invalid(
                &format!("{path}.role"),
                "expected 'user', 'assistant', 'system' or 'developer'.",
            ));
        }
    };
    let content = match item.get("content") {
        Some(Value::String(text)) => Content::Text(text.clone()),
        Some(Value::Array(parts)) => {
            let parts = parts
                .iter()
                .enumerate()
                .map(|(j, part)| content_part(&format!("{path}.content[{j}]"), part))
                .collect::<Result<Vec<_>, _>>()?;
            match role {
                // Assistant and system turns are text in every chat dialect.
                Role::User => Content::Parts(parts),
                _ => Content::Text(Content::Parts(parts).joined_text()),
            }
        }
        _ => {
            return Err(invalid(
                &format!("{path}.content"),
                "expected a string or an array of content parts.",
            ));
        }
    };
    Ok(Message {
        content: Some(content),
        ..Message::text(role, "")
    })
}

/// One content part of a message.
fn content_part(path: &str, part: &Value) -> Result<ContentPart, GatewayError> {
    let field = |key: &str| part.get(key).and_then(Value::as_str);
    let kind = field("type").unwrap_or_default();
    match kind {
        "input_text" | "output_text" => Ok(ContentPart::text(string_field(part, path, "text")?)),
        "refusal" => Ok(ContentPart::text(string_field(part, path, "refusal")?)),
        "input_image" => match field("image_url") {
            Some(url) => Ok(ContentPart::ImageUrl {
                image_url: ImageUrl {
                    url: url.to_owned(),
                    detail: field("detail").map(str::to_owned),
                },
            }),
            None => Err(invalid(
                &format!("{path}.image_url"),
                "only images given by URL or data URL can be sent to this model (not file ids).",
            )),
        },
        // A URL or a file id travels as the chat file part's `file_id` (LiteLLM's convention,
        // which the Gemini and Anthropic translations read as a file URI or a document URL).
        "input_file" => {
            let filename = field("filename").unwrap_or(DEFAULT_FILENAME);
            let file = match (field("file_data"), field("file_url").or(field("file_id"))) {
                (Some(data), _) => json!({"file_data": data, "filename": filename}),
                (None, Some(reference)) => json!({"file_id": reference, "filename": filename}),
                (None, None) => {
                    return Err(invalid(
                        &format!("{path}.file_data"),
                        "an input_file needs file_data, file_url or file_id.",
                    ));
                }
            };
            Ok(ContentPart::File { file })
        }
        other => Err(invalid(
            &format!("{path}.type"),
            &format!("the content type '{other}' is not available for this model's upstream."),
        )),
    }
}
