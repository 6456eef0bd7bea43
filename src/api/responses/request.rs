//! Reading a Responses API request for an upstream that does not speak it: the typed parse and
//! the translation into an OpenAI chat completion request (`input` items → messages,
//! `instructions` → system, function tools, `text.format` → `response_format`, …), plus the
//! settings the response echoes. Pure functions, no I/O.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::GatewayError;
use crate::providers::translate::too_many_values;
use crate::types::chat::{
    ChatCompletionRequest, ChatDialect, FunctionDef, JsonSchemaFormat, NamedFunction,
    NamedToolChoice, ResponseFormat, StreamOptions, Tool, ToolChoice,
};
use crate::types::json::{MAX_REQUEST_VALUES, values_within};
use crate::types::request::check_max_tokens;
use crate::types::responses::{
    DEFAULT_SERVICE_TIER, DEFAULT_TEMPERATURE, DEFAULT_TOP_P, Echo, ReasoningEcho,
};

/// The function tool (and tool call) type, on both sides.
const FUNCTION: &str = "function";
/// Most `metadata` pairs a request may carry (OpenAI's limit).
const MAX_METADATA_PAIRS: usize = 16;
/// Longest `metadata` key, in characters (OpenAI's limit).
const MAX_METADATA_KEY_CHARS: usize = 64;
/// Longest `metadata` value, in characters (OpenAI's limit).
const MAX_METADATA_VALUE_CHARS: usize = 512;
/// The `reasoning.effort` values OpenAI documents.
const EFFORTS: [&str; 6] = ["none", "minimal", "low", "medium", "high", "xhigh"];
/// Request fields that need state the gateway does not keep (OpenAI's conversations and stored
/// prompts): refused rather than silently ignored. `previous_response_id` is kept (`state`).
const STATEFUL_FIELDS: [&str; 2] = ["conversation", "prompt"];

/// A Responses request, typed.
#[allow(
    missing_docs,
    reason = "fields mirror OpenAI's documented request fields one for one: a doc that restates a name says nothing"
)]
#[derive(Debug, Deserialize)]
pub struct ResponsesRequest {
    pub model: String,
    #[serde(default)]
    pub input: Option<Input>,
    #[serde(default)]
    pub instructions: Option<String>,
    #[serde(default)]
    pub tools: Option<Vec<Value>>,
    #[serde(default)]
    pub tool_choice: Option<Value>,
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    #[serde(default)]
    pub text: Option<TextConfig>,
    #[serde(default)]
    pub reasoning: Option<Reasoning>,
    #[serde(default)]
    pub max_output_tokens: Option<u64>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    #[serde(default)]
    pub metadata: Option<Map<String, Value>>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub background: Option<bool>,
    #[serde(default)]
    pub previous_response_id: Option<String>,
    #[serde(default)]
    pub store: Option<bool>,
    /// Every other field: read only to refuse what needs state.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `input`: a string (one user message) or items.
#[allow(
    missing_docs,
    reason = "fields mirror OpenAI's documented request fields one for one: a doc that restates a name says nothing"
)]
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Input {
    Text(String),
    Items(Vec<Value>),
}

/// `text`.
#[allow(
    missing_docs,
    reason = "fields mirror OpenAI's documented request fields one for one: a doc that restates a name says nothing"
)]
#[derive(Debug, Clone, Deserialize)]
pub struct TextConfig {
    #[serde(default)]
    pub format: Option<Value>,
}

/// `reasoning`.
#[allow(
    missing_docs,
    reason = "fields mirror OpenAI's documented request fields one for one: a doc that restates a name says nothing"
)]
#[derive(Debug, Clone, Deserialize)]
pub struct Reasoning {
    #[serde(default)]
    pub effort: Option<String>,
    #[serde(default)]
    pub summary: Option<String>,
}

/// A 400 about `param`.
fn invalid(param: &str, problem: &str) -> GatewayError {
    GatewayError::invalid(format!("Invalid '{param}': {problem}"), Some(param))
}

/// The whole body as a typed request; a 400 names the field that does not fit.
pub fn typed(body: &[u8]) -> Result<ResponsesRequest, GatewayError> {
    if !values_within(body, MAX_REQUEST_VALUES) {
        return Err(too_many_values());
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let request: ResponsesRequest = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        GatewayError::invalid(format!("Invalid '{path}': {}", e.inner()), Some(&path))
    })?;
    for key in STATEFUL_FIELDS {
        if request.extra.get(key).is_some_and(|v| !v.is_null()) {
            return Err(invalid(
                key,
                "conversation state is not available for this model's upstream; send the earlier turns in 'input'.",
            ));
        }
    }
    if request.background == Some(true) {
        return Err(invalid(
            "background",
            "background responses are not available for this model's upstream.",
        ));
    }
    check_max_tokens(request.max_output_tokens, "max_output_tokens")?;
    check_metadata(request.metadata.as_ref())?;
    Ok(request)
}

/// `metadata`: at most 16 string pairs, keys up to 64 and values up to 512 characters.
fn check_metadata(metadata: Option<&Map<String, Value>>) -> Result<(), GatewayError> {
    let Some(metadata) = metadata else {
        return Ok(());
    };
    if metadata.len() > MAX_METADATA_PAIRS {
        return Err(invalid(
            "metadata",
            &format!("at most {MAX_METADATA_PAIRS} key-value pairs."),
        ));
    }
    for (key, value) in metadata {
        let fits = key.chars().count() <= MAX_METADATA_KEY_CHARS
            && value
                .as_str()
                .is_some_and(|v| v.chars().count() <= MAX_METADATA_VALUE_CHARS);
        if !fits {
            return Err(invalid(
                "metadata",
                &format!(
                    "keys are strings of at most {MAX_METADATA_KEY_CHARS} characters and values strings of at most {MAX_METADATA_VALUE_CHARS}."
                ),
            ));
        }
    }
    Ok(())
}

/// What the response repeats of `request` (read before it is consumed by [`to_chat`]); `store`
/// says whether the gateway keeps it.
pub fn echo(request: &ResponsesRequest, store: bool) -> Echo {
    let extra = |key: &str| {
        request
            .extra
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    Echo {
        background: false,
        frequency_penalty: 0.0,
        instructions: request.instructions.clone(),
        max_output_tokens: request.max_output_tokens,
        max_tool_calls: request.extra.get("max_tool_calls").and_then(Value::as_u64),
        metadata: request.metadata.clone().unwrap_or_default(),
        presence_penalty: 0.0,
        prompt_cache_key: extra("prompt_cache_key"),
        safety_identifier: extra("safety_identifier"),
        service_tier: DEFAULT_SERVICE_TIER,
        top_logprobs: 0,
        parallel_tool_calls: request.parallel_tool_calls.unwrap_or(true),
        previous_response_id: request.previous_response_id.clone(),
        reasoning: ReasoningEcho {
            effort: request.reasoning.as_ref().and_then(|r| r.effort.clone()),
            summary: request.reasoning.as_ref().and_then(|r| r.summary.clone()),
        },
        store,
        temperature: request.temperature.unwrap_or(DEFAULT_TEMPERATURE),
        text: serde_json::json!({
            "format": request.text.as_ref().and_then(|t| t.format.clone())
                .unwrap_or_else(|| serde_json::json!({"type": "text"}))
        }),
        tool_choice: request
            .tool_choice
            .clone()
            .unwrap_or_else(|| Value::from("auto")),
        tools: request.tools.iter().flatten().map(echoed_tool).collect(),
        top_p: request.top_p.unwrap_or(DEFAULT_TOP_P),
        truncation: "disabled",
        user: request.user.clone(),
    }
}

/// A tool as the response repeats it: a function tool with the `strict` and `parameters` the
/// spec's `FunctionTool` always carries (null when the request left them out).
fn echoed_tool(tool: &Value) -> Value {
    let mut tool = tool.clone();
    if tool.get("type").and_then(Value::as_str) == Some(FUNCTION)
        && let Value::Object(fields) = &mut tool
    {
        for key in ["strict", "parameters"] {
            fields.entry(key).or_insert(Value::Null);
        }
    }
    tool
}

/// The OpenAI chat completion request for `request` to an upstream speaking `dialect`.
pub fn to_chat(
    request: ResponsesRequest,
    dialect: ChatDialect,
) -> Result<ChatCompletionRequest, GatewayError> {
    let messages = input::messages(request.instructions, request.input)?;
    let tools = request
        .tools
        .map(function_tools)
        .transpose()?
        .filter(|t| !t.is_empty());
    // OpenAI rejects `tool_choice` and `parallel_tool_calls` without tools.
    let (tool_choice, parallel_tool_calls) = match &tools {
        Some(_) => (
            request.tool_choice.map(tool_choice).transpose()?,
            request.parallel_tool_calls,
        ),
        None => (None, None),
    };
    let response_format = request
        .text
        .and_then(|t| t.format)
        .map(response_format)
        .transpose()?
        .flatten();
    let reasoning_effort = request
        .reasoning
        .and_then(|r| r.effort)
        .map(reasoning_effort)
        .transpose()?;
    let stream = request.stream == Some(true);
    let native = dialect == ChatDialect::Native;
    Ok(ChatCompletionRequest {
        model: request.model,
        messages,
        max_tokens: request.max_output_tokens.filter(|_| !native),
        max_completion_tokens: request.max_output_tokens.filter(|_| native),
        temperature: request.temperature,
        top_p: request.top_p,
        // The stream translator needs the usage chunk for the final `usage`.
        stream: stream.then_some(true),
        stream_options: stream.then(|| StreamOptions {
            include_usage: Some(true),
            extra: Map::new(),
        }),
        tools,
        tool_choice,
        parallel_tool_calls,
        response_format,
        user: request.user,
        reasoning_effort,
        ..ChatCompletionRequest::default()
    })
}

/// A string field of an item, or a 400 naming it.
fn string_field(item: &Value, path: &str, key: &str) -> Result<String, GatewayError> {
    item.get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| invalid(&format!("{path}.{key}"), "expected a string."))
}

/// Function tools as chat tools. Built-in tools (web search, file search, code interpreter…)
/// run inside OpenAI's Responses API: refused, never silently dropped.
fn function_tools(tools: Vec<Value>) -> Result<Vec<Tool>, GatewayError> {
    tools
        .into_iter()
        .enumerate()
        .map(|(i, tool)| {
            let path = format!("tools[{i}]");
            match tool.get("type").and_then(Value::as_str) {
                Some(FUNCTION) => {}
                Some(kind) => {
                    return Err(invalid(
                        &format!("{path}.type"),
                        &format!("the built-in tool '{kind}' is only available from OpenAI's Responses API; this model's upstream takes function tools only."),
                    ));
                }
                None => return Err(invalid(&format!("{path}.type"), "expected a string.")),
            }
            Ok(Tool {
                kind: FUNCTION.to_owned(),
                function: Some(FunctionDef {
                    name: string_field(&tool, &path, "name")?,
                    description: tool
                        .get("description")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    parameters: Some(
                        tool.get("parameters")
                            .filter(|p| !p.is_null())
                            .cloned()
                            .unwrap_or_else(|| serde_json::json!({"type": "object"})),
                    ),
                    strict: tool.get("strict").and_then(Value::as_bool),
                }),
                extra: Map::new(),
            })
        })
        .collect()
}

/// `tool_choice`: a mode, or `{"type": "function", "name"}`.
fn tool_choice(choice: Value) -> Result<ToolChoice, GatewayError> {
    match &choice {
        Value::String(mode) if matches!(mode.as_str(), "auto" | "none" | "required") => {
            Ok(ToolChoice::Mode(mode.clone()))
        }
        Value::Object(named) if named.get("type").and_then(Value::as_str) == Some(FUNCTION) => {
            Ok(ToolChoice::Named(NamedToolChoice {
                kind: FUNCTION.to_owned(),
                function: Some(NamedFunction {
                    name: string_field(&choice, "tool_choice", "name")?,
                }),
            }))
        }
        _ => Err(invalid(
            "tool_choice",
            "expected 'auto', 'none', 'required' or {\"type\": \"function\", \"name\": …} for this model's upstream.",
        )),
    }
}

/// `text.format` as `response_format` (`None` for plain text).
fn response_format(format: Value) -> Result<Option<ResponseFormat>, GatewayError> {
    let field = |key: &str| format.get(key).and_then(Value::as_str);
    match field("type") {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(ResponseFormat::JsonObject)),
        Some("json_schema") => Ok(Some(ResponseFormat::JsonSchema {
            json_schema: JsonSchemaFormat {
                name: string_field(&format, "text.format", "name")?,
                schema: format.get("schema").cloned(),
                strict: format.get("strict").and_then(Value::as_bool),
                description: field("description").map(str::to_owned),
            },
        })),
        _ => Err(invalid(
            "text.format.type",
            "expected 'text', 'json_object' or 'json_schema'.",
        )),
    }
}

/// `reasoning.effort`, one of OpenAI's values.
fn reasoning_effort(effort: String) -> Result<String, GatewayError> {
    check_effort(&effort).map(|()| effort)
}

/// A 400 unless `effort` is one of OpenAI's `reasoning.effort` values.
pub fn check_effort(effort: &str) -> Result<(), GatewayError> {
    if EFFORTS.contains(&effort) {
        Ok(())
    } else {
        Err(invalid(
            "reasoning.effort",
            &format!("expected one of {EFFORTS:?}."),
        ))
    }
}

mod input;

#[cfg(test)]
mod tests;
