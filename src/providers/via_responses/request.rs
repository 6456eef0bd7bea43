//! An OpenAI chat completion request → a Responses API request: messages as input items (system
//! and developer turns as messages of that role, assistant tool calls as `function_call` items,
//! tool results as `function_call_output`), function tools flattened, `response_format` →
//! `text.format`, `reasoning_effort` → `reasoning.effort`, `store: false` (a chat client keeps
//! its own history). Chat parameters the Responses API has no place for are refused by name,
//! never dropped. Pure functions, no I/O.

use serde_json::{Map, Value, json};

use crate::error::GatewayError;
use crate::types::chat::{
    ChatCompletionRequest, Content, ContentPart, Message, ResponseFormat, Role, Tool, ToolChoice,
};

/// Function tools and tool calls, on both sides.
const FUNCTION: &str = "function";
/// Chat parameters with no Responses API counterpart.
const UNSUPPORTED_EXTRA: [&str; 5] = [
    "logprobs",
    "top_logprobs",
    "logit_bias",
    "audio",
    "modalities",
];
/// Chat parameters the Responses API takes as they are.
const PASSED_EXTRA: [&str; 5] = [
    "metadata",
    "service_tier",
    "prompt_cache_key",
    "safety_identifier",
    "truncation",
];

/// A 400 naming a chat parameter this upstream API cannot take.
fn unsupported(param: &str) -> GatewayError {
    GatewayError::invalid(
        format!(
            "'{param}' is not supported for this model: its upstream serves it through the Responses API, which has no such parameter."
        ),
        Some(param),
    )
}

/// The Responses request body for `request`, sent to `upstream_model`.
pub fn to_responses(
    request: ChatCompletionRequest,
    upstream_model: &str,
) -> Result<Vec<u8>, GatewayError> {
    refuse_unsupported(&request)?;
    let mut body = Map::new();
    body.insert("model".into(), Value::from(upstream_model));
    body.insert(
        "input".into(),
        Value::Array(input_items(&request.messages)?),
    );
    body.insert("store".into(), Value::Bool(false));
    let max_output_tokens = request.max_output_tokens();
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            body.insert(key.to_owned(), value);
        }
    };
    let has_tools = request.tools.as_ref().is_some_and(|t| !t.is_empty());
    put("tools", request.tools.map(function_tools).transpose()?);
    if has_tools {
        put("tool_choice", request.tool_choice.map(tool_choice));
        put(
            "parallel_tool_calls",
            request.parallel_tool_calls.map(Value::from),
        );
    }
    put("text", request.response_format.and_then(text_format));
    put("max_output_tokens", max_output_tokens.map(Value::from));
    put("temperature", request.temperature.map(Value::from));
    put("top_p", request.top_p.map(Value::from));
    put("user", request.user.map(Value::from));
    put(
        "reasoning",
        request
            .reasoning_effort
            .map(|effort| json!({"effort": effort})),
    );
    put(
        "stream",
        (request.stream == Some(true)).then_some(Value::Bool(true)),
    );
    for key in PASSED_EXTRA {
        put(
            key,
            request.extra.get(key).filter(|v| !v.is_null()).cloned(),
        );
    }
    serde_json::to_vec(&body).map_err(|e| GatewayError::Internal(e.to_string()))
}

/// Refuses what the Responses API cannot do.
fn refuse_unsupported(request: &ChatCompletionRequest) -> Result<(), GatewayError> {
    if request.n.is_some_and(|n| n > 1) {
        return Err(unsupported("n"));
    }
    let present = [
        ("stop", request.stop.is_some()),
        ("seed", request.seed.is_some()),
        ("presence_penalty", request.presence_penalty.is_some()),
        ("frequency_penalty", request.frequency_penalty.is_some()),
    ];
    if let Some((param, _)) = present.iter().find(|(_, set)| *set) {
        return Err(unsupported(param));
    }
    let extra = UNSUPPORTED_EXTRA.iter().find(|key| {
        request
            .extra
            .get(**key)
            .is_some_and(|v| !v.is_null() && v != false)
    });
    extra.map_or(Ok(()), |key| Err(unsupported(key)))
}

/// The conversation as input items.
fn input_items(messages: &[Message]) -> Result<Vec<Value>, GatewayError> {
    let mut items = Vec::with_capacity(messages.len());
    for (i, message) in messages.iter().enumerate() {
        let text = || message.content.as_ref().map(Content::joined_text);
        match message.role {
            Role::System | Role::Developer => {
                let role = if message.role == Role::System {
                    "system"
                } else {
                    "developer"
                };
                items.push(
                    json!({"type": "message", "role": role, "content": text().unwrap_or_default()}),
                );
            }
            Role::User => items.push(json!({
                "type": "message",
                "role": "user",
                "content": user_content(i, message.content.as_ref())?,
            })),
            Role::Assistant => assistant_items(message, &mut items),
            Role::Tool => items.push(json!({
                "type": "function_call_output",
                "call_id": message.tool_call_id.clone().unwrap_or_default(),
                "output": text().unwrap_or_default(),
            })),
            Role::Function => return Err(unsupported(&format!("messages[{i}].role"))),
        }
    }
    Ok(items)
}

/// A user turn's content as input parts.
fn user_content(i: usize, content: Option<&Content>) -> Result<Vec<Value>, GatewayError> {
    let parts = match content {
        None => return Ok(Vec::new()),
        Some(Content::Text(text)) => return Ok(vec![json!({"type": "input_text", "text": text})]),
        Some(Content::Parts(parts)) => parts,
    };
    parts
        .iter()
        .enumerate()
        .map(|(j, part)| match part {
            ContentPart::Text { text, .. } => Ok(json!({"type": "input_text", "text": text})),
            ContentPart::ImageUrl { image_url } => Ok(json!({
                "type": "input_image",
                "image_url": image_url.url,
                "detail": image_url.detail.as_deref().unwrap_or("auto"),
            })),
            ContentPart::File { file } => {
                let mut part = file.as_object().cloned().unwrap_or_default();
                part.insert("type".into(), Value::from("input_file"));
                Ok(Value::Object(part))
            }
            ContentPart::Refusal { refusal } => Ok(json!({"type": "input_text", "text": refusal})),
            ContentPart::InputAudio { .. } => Err(unsupported(&format!(
                "messages[{i}].content[{j}].input_audio"
            ))),
        })
        .collect()
}

/// An assistant turn: its text as an output message, then its calls.
fn assistant_items(message: &Message, items: &mut Vec<Value>) {
    let text = message
        .content
        .as_ref()
        .map(Content::joined_text)
        .unwrap_or_default();
    if !text.is_empty() {
        items.push(json!({
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }));
    }
    for call in message.tool_calls.iter().flatten() {
        items.push(json!({
            "type": "function_call",
            "call_id": call.id,
            "name": call.function.name,
            "arguments": call.function.arguments,
        }));
    }
}

/// Chat tools (`{type, function: {…}}`) as Responses function tools (`{type, name, …}`).
fn function_tools(tools: Vec<Tool>) -> Result<Value, GatewayError> {
    tools
        .into_iter()
        .enumerate()
        .map(|(i, tool)| match tool.function {
            Some(function) if tool.kind == FUNCTION => {
                let mut out = json!({"type": FUNCTION, "name": function.name});
                let fields = [
                    ("description", function.description.map(Value::from)),
                    ("parameters", function.parameters),
                    ("strict", function.strict.map(Value::from)),
                ];
                for (key, value) in fields {
                    if let Some(value) = value {
                        out[key] = value;
                    }
                }
                Ok(out)
            }
            _ => Err(unsupported(&format!("tools[{i}].type"))),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

/// `tool_choice`: modes as they are, a named function flattened.
fn tool_choice(choice: ToolChoice) -> Value {
    match choice {
        ToolChoice::Mode(mode) => Value::from(mode),
        ToolChoice::Named(named) => match named.function {
            Some(function) => json!({"type": FUNCTION, "name": function.name}),
            None => json!({"type": named.kind}),
        },
    }
}

/// `response_format` as `text` (`None` for plain text).
fn text_format(format: ResponseFormat) -> Option<Value> {
    let format = match format {
        ResponseFormat::Text => return None,
        ResponseFormat::JsonObject => json!({"type": "json_object"}),
        ResponseFormat::JsonSchema { json_schema } => {
            let mut out = json!({"type": "json_schema", "name": json_schema.name});
            let fields = [
                ("schema", json_schema.schema),
                ("strict", json_schema.strict.map(Value::from)),
                ("description", json_schema.description.map(Value::from)),
            ];
            for (key, value) in fields {
                if let Some(value) = value {
                    out[key] = value;
                }
            }
            out
        }
    };
    Some(json!({"format": format}))
}

#[cfg(test)]
mod tests;
