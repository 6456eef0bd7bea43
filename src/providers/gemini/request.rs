//! OpenAI chat request → Gemini `GenerateContentRequest`. Pure: no I/O, errors are the client's
//! 400s. Gemini wants every system message in `systemInstruction`, strictly alternating
//! `user`/`model` turns (same-role messages are merged; tool results are `user` turns), function
//! results that name the function and are JSON objects, and schemas in its OpenAPI subset.

use serde_json::{Map, Value};

use super::schema;
use super::wire::{
    Blob, Content, FileData, FunctionCall, FunctionCallingConfig, FunctionDeclaration,
    FunctionResponse, GenerateContentRequest, GenerationConfig, Part, ThinkingConfig, Tool,
    ToolConfig,
};
use crate::error::GatewayError;
use crate::providers::translate::{
    arguments_object, mime_from_url, parse_data_url, system_texts, tool_names,
    unsupported_tool_choice,
};
use crate::types::chat::{
    ChatCompletionRequest, ContentPart, Message, ResponseFormat, Role, ToolCall, ToolChoice,
};

/// Gemini's role for the user's (and tool results') turns.
pub const USER: &str = "user";
/// Gemini's role for the model's turns.
pub const MODEL: &str = "model";
/// Separates a tool-call id from the thought signature it carries (LiteLLM's convention, so ids
/// written by either gateway round-trip). Gemini needs the signature back on the same call.
pub const THOUGHT_SEPARATOR: &str = "__thought__";
/// Gemini rejects a request without contents; a conversation of only system messages gets this
/// user turn (what LiteLLM sends).
const PLACEHOLDER_TURN: &str = ".";
/// MIME type for an image URL whose extension says nothing (Gemini needs one with `fileData`).
const DEFAULT_IMAGE_MIME: &str = "image/jpeg";
/// URL schemes Gemini can fetch by `fileData`.
const FILE_URI_SCHEMES: [&str; 3] = ["https://", "http://", "gs://"];

/// `reasoning_effort` → thinking budget in tokens (LiteLLM's defaults); `none` turns thinking off.
const THINKING_BUDGETS: [(&str, u64); 5] = [
    ("none", 0),
    ("minimal", 128),
    ("low", 1024),
    ("medium", 2048),
    ("high", 4096),
];

/// Whether Gemini has a thinking budget for `effort`.
pub fn takes_effort(effort: &str) -> bool {
    THINKING_BUDGETS.iter().any(|(name, _)| *name == effort)
}

/// Translates a canonical chat request into Gemini's body (the `stream` flag only picks the
/// endpoint, so it is not part of the body).
pub fn to_gemini(request: &ChatCompletionRequest) -> Result<GenerateContentRequest, GatewayError> {
    let system = system_texts(&request.messages);
    let mut contents = contents(&request.messages)?;
    if contents.is_empty() {
        contents.push(turn(USER, vec![Part::text(PLACEHOLDER_TURN)]));
    }
    Ok(GenerateContentRequest {
        system_instruction: (!system.is_empty()).then(|| Content {
            role: None,
            parts: system.into_iter().map(Part::text).collect(),
        }),
        contents,
        tools: tools(request.tools.as_deref())?,
        tool_config: request.tool_choice.as_ref().map(tool_config).transpose()?,
        generation_config: generation_config(request)?,
        extra: Map::new(),
    })
}

fn turn(role: &str, parts: Vec<Part>) -> Content {
    Content {
        role: Some(role.to_owned()),
        parts,
    }
}

/// The conversation as alternating turns: consecutive messages that map to the same role are
/// merged, and messages without any part are left out (Gemini rejects empty parts).
fn contents(messages: &[Message]) -> Result<Vec<Content>, GatewayError> {
    let names = tool_names(messages);
    let mut turns: Vec<Content> = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        let (role, parts) = match message.role {
            Role::System | Role::Developer => continue,
            Role::User => (USER, user_parts(message, i)?),
            Role::Assistant => (MODEL, model_parts(message)),
            Role::Tool | Role::Function => {
                let name = match message.role {
                    Role::Tool => tool_call_name(message, &names, i)?,
                    _ => message.name.clone().ok_or_else(|| {
                        GatewayError::invalid(
                            format!("messages[{i}]: a function message needs a name."),
                            Some(&format!("messages[{i}].name")),
                        )
                    })?,
                };
                (USER, vec![function_response(message, name)])
            }
        };
        if parts.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some(last) if last.role.as_deref() == Some(role) => last.parts.extend(parts),
            _ => turns.push(turn(role, parts)),
        }
    }
    Ok(turns)
}

/// The function a `tool` message answers, found through its `tool_call_id`.
fn tool_call_name(
    message: &Message,
    names: &std::collections::HashMap<&str, &str>,
    i: usize,
) -> Result<String, GatewayError> {
    let id = message.tool_call_id.as_deref().unwrap_or_default();
    names.get(id).map(|n| (*n).to_owned()).ok_or_else(|| {
        GatewayError::invalid(
            format!(
                "messages[{i}]: tool_call_id '{id}' does not match a tool call of an earlier assistant message (Gemini needs the function name)."
            ),
            Some(&format!("messages[{i}].tool_call_id")),
        )
    })
}

/// A tool result: content that is a JSON object is the response itself, anything else is
/// wrapped as `{"content": text}` (Gemini requires an object).
fn function_response(message: &Message, name: String) -> Part {
    let text = message.text_content();
    let response = match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(object)) => Value::Object(object),
        _ => serde_json::json!({ "content": text }),
    };
    Part {
        function_response: Some(FunctionResponse {
            id: None,
            name,
            response,
        }),
        ..Part::default()
    }
}

fn user_parts(message: &Message, i: usize) -> Result<Vec<Part>, GatewayError> {
    let Some(content) = &message.content else {
        return Ok(Vec::new());
    };
    let mut parts = Vec::new();
    for (j, part) in content.parts().into_iter().enumerate() {
        let param = format!("messages[{i}].content[{j}]");
        let part = match part {
            ContentPart::Text { text, .. } | ContentPart::Refusal { refusal: text } => {
                if text.is_empty() {
                    continue;
                }
                Part::text(text)
            }
            ContentPart::ImageUrl { image_url } => {
                let guess = match mime_from_url(&image_url.url) {
                    "application/octet-stream" => DEFAULT_IMAGE_MIME,
                    known => known,
                };
                media_part(&image_url.url, guess, &param)?
            }
            ContentPart::InputAudio { input_audio } => audio_part(&input_audio, &param)?,
            ContentPart::File { file } => file_part(&file, &param)?,
        };
        parts.push(part);
    }
    Ok(parts)
}

/// A data URL as `inlineData`, a fetchable URI as `fileData` with `mime` (Gemini downloads it).
fn media_part(url: &str, mime: &str, param: &str) -> Result<Part, GatewayError> {
    if let Some(data) = parse_data_url(url) {
        return Ok(Part {
            inline_data: Some(Blob {
                mime_type: data.mime.to_owned(),
                data: data.data.to_owned(),
            }),
            ..Part::default()
        });
    }
    if !FILE_URI_SCHEMES.iter().any(|s| url.starts_with(s)) {
        return Err(GatewayError::invalid(
            format!("{param}: expected a base64 data URL or an http(s):// or gs:// URL."),
            Some(param),
        ));
    }
    Ok(Part {
        file_data: Some(FileData {
            mime_type: Some(mime.to_owned()),
            file_uri: url.to_owned(),
        }),
        ..Part::default()
    })
}

/// `input_audio {data, format}` → `inlineData` with `audio/{format}`.
fn audio_part(audio: &Value, param: &str) -> Result<Part, GatewayError> {
    let data = audio.get("data").and_then(Value::as_str);
    let format = audio.get("format").and_then(Value::as_str);
    let (Some(data), Some(format)) = (data, format) else {
        return Err(GatewayError::invalid(
            format!("{param}: input_audio needs data and format."),
            Some(param),
        ));
    };
    Ok(Part {
        inline_data: Some(Blob {
            mime_type: format!("audio/{format}"),
            data: data.to_owned(),
        }),
        ..Part::default()
    })
}

/// `file {file_data | file_id, format?}`: inline data, or a file URI (a Gemini Files API URI,
/// `gs://` or `https://`); `format` (LiteLLM's extension) overrides the guessed MIME type.
fn file_part(file: &Value, param: &str) -> Result<Part, GatewayError> {
    let format = file.get("format").and_then(Value::as_str);
    if let Some(data) = file.get("file_data").and_then(Value::as_str) {
        return media_part(data, format.unwrap_or("application/octet-stream"), param);
    }
    match file.get("file_id").and_then(Value::as_str) {
        Some(uri) => media_part(uri, format.unwrap_or_else(|| mime_from_url(uri)), param),
        None => Err(GatewayError::invalid(
            format!("{param}: a file part needs file_data or file_id."),
            Some(param),
        )),
    }
}

/// The model's turn: its text, then one `functionCall` per tool call.
fn model_parts(message: &Message) -> Vec<Part> {
    let mut parts = Vec::new();
    let text = message.text_content();
    if !text.is_empty() {
        parts.push(Part::text(text));
    }
    let calls = message.tool_calls.iter().flatten();
    parts.extend(calls.map(function_call));
    // The legacy single `function_call` of older clients.
    if let Some(legacy) = message.extra.get("function_call")
        && let Some(name) = legacy.get("name").and_then(Value::as_str)
    {
        let arguments = legacy.get("arguments").and_then(Value::as_str);
        parts.push(Part {
            function_call: Some(FunctionCall {
                id: None,
                name: name.to_owned(),
                args: Some(arguments_object(arguments.unwrap_or_default())),
            }),
            ..Part::default()
        });
    }
    parts
}

/// A tool call as `functionCall`; a thought signature carried in the id goes back on the part.
/// The id itself stays here: Gemini's ids are optional and the name identifies the result.
fn function_call(call: &ToolCall) -> Part {
    let signature = call
        .id
        .split_once(THOUGHT_SEPARATOR)
        .map(|(_, signature)| signature.to_owned())
        .filter(|s| !s.is_empty());
    Part {
        thought_signature: signature,
        function_call: Some(FunctionCall {
            id: None,
            name: call.function.name.clone(),
            args: Some(arguments_object(&call.function.arguments)),
        }),
        ..Part::default()
    }
}

/// Function tools as one `functionDeclarations` entry; other tool types have no Gemini form.
fn tools(tools: Option<&[crate::types::chat::Tool]>) -> Result<Option<Vec<Tool>>, GatewayError> {
    let Some(tools) = tools.filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let mut declarations = Vec::with_capacity(tools.len());
    for (i, tool) in tools.iter().enumerate() {
        let Some(function) = tool.function.as_ref().filter(|_| tool.kind == "function") else {
            return Err(GatewayError::invalid(
                format!(
                    "tools[{i}]: tool type '{}' is not supported for Gemini models; only function tools (with a function definition) are.",
                    tool.kind
                ),
                Some(&format!("tools[{i}].type")),
            ));
        };
        declarations.push(FunctionDeclaration {
            name: function.name.clone(),
            description: function.description.clone(),
            parameters: function.parameters.as_ref().and_then(schema::parameters),
        });
    }
    Ok(Some(vec![Tool {
        function_declarations: Some(declarations),
        extra: Map::new(),
    }]))
}

/// `tool_choice` → `functionCallingConfig`.
fn tool_config(choice: &ToolChoice) -> Result<ToolConfig, GatewayError> {
    let (mode, allowed) = match choice {
        ToolChoice::Mode(mode) => match mode.as_str() {
            "none" => ("NONE", None),
            "auto" => ("AUTO", None),
            "required" => ("ANY", None),
            other => return Err(unsupported_tool_choice(other, "Gemini")),
        },
        ToolChoice::Named(named) => match (&named.function, named.kind.as_str()) {
            (Some(function), "function") => ("ANY", Some(vec![function.name.clone()])),
            (_, other) => return Err(unsupported_tool_choice(other, "Gemini")),
        },
    };
    Ok(ToolConfig {
        function_calling_config: FunctionCallingConfig {
            mode: mode.to_owned(),
            allowed_function_names: allowed,
        },
    })
}

/// Sampling, limits and output format; `None` when the client set none of them.
fn generation_config(
    request: &ChatCompletionRequest,
) -> Result<Option<GenerationConfig>, GatewayError> {
    let mut config = GenerationConfig {
        temperature: request.temperature,
        top_p: request.top_p,
        top_k: request.extra.get("top_k").and_then(Value::as_u64),
        max_output_tokens: request.max_output_tokens(),
        stop_sequences: request.stop.as_ref().map(|s| s.to_vec()),
        candidate_count: request.n,
        seed: request.seed,
        presence_penalty: request.presence_penalty,
        frequency_penalty: request.frequency_penalty,
        thinking_config: request
            .reasoning_effort
            .as_deref()
            .map(thinking_config)
            .transpose()?,
        ..GenerationConfig::default()
    };
    match &request.response_format {
        None | Some(ResponseFormat::Text) => {}
        Some(ResponseFormat::JsonObject) => {
            config.response_mime_type = Some(JSON_MIME.to_owned());
        }
        Some(ResponseFormat::JsonSchema { json_schema }) => {
            config.response_mime_type = Some(JSON_MIME.to_owned());
            config.response_json_schema = json_schema.schema.clone();
        }
    }
    Ok((config != GenerationConfig::default()).then_some(config))
}

/// The MIME type that asks Gemini for JSON output.
const JSON_MIME: &str = "application/json";

/// `reasoning_effort` → `thinkingConfig` (thought summaries on, so they come back as
/// `reasoning_content`, unless thinking is turned off).
fn thinking_config(effort: &str) -> Result<ThinkingConfig, GatewayError> {
    let budget = THINKING_BUDGETS
        .iter()
        .find(|(name, _)| *name == effort)
        .map(|(_, budget)| *budget)
        .ok_or_else(|| {
            GatewayError::invalid(
                format!(
                    "reasoning_effort '{effort}' is not supported for Gemini models; use none, minimal, low, medium or high."
                ),
                Some("reasoning_effort"),
            )
        })?;
    Ok(ThinkingConfig {
        thinking_budget: Some(budget),
        include_thoughts: Some(budget > 0),
    })
}

#[cfg(test)]
mod tests;
