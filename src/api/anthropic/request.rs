//! Reading an Anthropic Messages request: the top-level checks every request gets (also those
//! passed through to an Anthropic upstream untouched), the typed parse, and the translation into
//! an OpenAI chat completion request for every other upstream. Pure functions, no I/O.

use std::borrow::Cow;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Map, Value};

use crate::error::GatewayError;
use crate::providers::MessagesCall;
use crate::types::TopLevel;
use crate::types::anthropic::{
    AnthropicContent, AnthropicMessage, AnthropicTool, AnthropicToolChoice, Block, MessagesRequest,
    Source, System,
};
use crate::types::chat::{
    ChatCompletionRequest, ChatDialect, Content, ContentPart, FunctionCall, FunctionDef, ImageUrl,
    Message, NamedFunction, NamedToolChoice, Role, Stop, StreamOptions, THINKING_BLOCKS,
    THINKING_SETTINGS, Tool, ToolCall, ToolChoice,
};
use crate::types::json::{MAX_REQUEST_VALUES, values_within};
use crate::types::request::{check_max_tokens, check_model};

/// Put in front of a tool result's text when the client marked it `is_error` (OpenAI's tool
/// messages have no such flag, so the model reads it in the text).
pub const TOOL_ERROR_PREFIX: &str = "Error: ";
/// The function tool type, on both sides.
const FUNCTION: &str = "function";
/// Anthropic's `type` for a client-defined tool (server tools carry a versioned type instead).
const CUSTOM_TOOL: &str = "custom";
/// File name OpenAI requires next to inline file data.
const PDF_FILENAME: &str = "document.pdf";
/// File name for inline documents of other types.
const DOCUMENT_FILENAME: &str = "document";

/// Whether a body must carry `max_tokens` (`/v1/messages`) or need not (`count_tokens`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxTokens {
    /// Messages: required.
    Required,
    /// `count_tokens`: not read.
    Optional,
}

/// A Messages body checked at the top level only: enough to route it and to pass it through.
#[derive(Debug)]
pub struct MessagesHead<'a> {
    /// The request object with raw values, as a provider's passthrough takes it.
    pub call: MessagesCall<'a>,
    /// The model the client asked for.
    pub model: Cow<'a, str>,
    /// Whether the client wants SSE.
    pub stream: bool,
    /// `max_tokens` (Messages only).
    pub max_tokens: Option<u64>,
}

impl<'a> MessagesHead<'a> {
    /// Checks what every request needs: a JSON object with `model`, a non-empty `messages` list,
    /// `max_tokens` (Messages only) and a boolean `stream`. Errors name the field like
    /// Anthropic's API does (`max_tokens: Field required`).
    pub fn parse(body: &'a [u8], max_tokens: MaxTokens) -> Result<Self, GatewayError> {
        let top = TopLevel::parse(body).map_err(|e| {
            GatewayError::invalid(
                format!("The request body is not a valid JSON object: {e}"),
                None,
            )
        })?;
        let model: Cow<'a, str> = required(&top, "model", "a valid string")?;
        if model.is_empty() {
            return Err(invalid("model", "String should have at least 1 character"));
        }
        check_model(&model)?;
        let messages: Vec<IgnoredAny> = required(&top, "messages", "a valid list")?;
        if messages.is_empty() {
            return Err(invalid("messages", "List should have at least 1 item"));
        }
        let max_tokens = match max_tokens {
            MaxTokens::Required => {
                let n = required::<u64>(&top, "max_tokens", "a valid non-negative integer")?;
                check_max_tokens(Some(n), "max_tokens")?
            }
            MaxTokens::Optional => None,
        };
        let stream = optional::<bool>(&top, "stream", "a valid boolean")?.unwrap_or(false);
        Ok(Self {
            call: MessagesCall { top, stream },
            model,
            stream,
            max_tokens,
        })
    }
}

/// A 400 about `field`, worded like Anthropic's validation errors.
fn invalid(field: &str, problem: &str) -> GatewayError {
    GatewayError::invalid(format!("{field}: {problem}"), Some(field))
}

fn optional<'a, T: Deserialize<'a>>(
    top: &TopLevel<'a>,
    key: &str,
    expected: &str,
) -> Result<Option<T>, GatewayError> {
    match top.get(key) {
        None => Ok(None),
        Some(raw) if raw.get() == "null" => Ok(None),
        Some(raw) => serde_json::from_str(raw.get())
            .map(Some)
            .map_err(|_| invalid(key, &format!("Input should be {expected}"))),
    }
}

fn required<'a, T: Deserialize<'a>>(
    top: &TopLevel<'a>,
    key: &str,
    expected: &str,
) -> Result<T, GatewayError> {
    optional(top, key, expected)?.ok_or_else(|| invalid(key, "Field required"))
}

/// The whole body as typed Messages structs; a 400 names the path of what does not fit.
pub fn typed(body: &[u8]) -> Result<MessagesRequest, GatewayError> {
    if !values_within(body, MAX_REQUEST_VALUES) {
        return Err(crate::providers::translate::too_many_values());
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = dotted(e.path());
        GatewayError::invalid(
            format!("{path}: {} (this gateway translates the block types text, image, document, tool_use, tool_result, thinking and redacted_thinking)", e.inner()),
            Some(&path),
        )
    })
}

/// A path in Anthropic's style, `messages.0.content.1`.
fn dotted(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let segments: Vec<String> = path
        .iter()
        .filter_map(|segment| match segment {
            Segment::Seq { index } => Some(index.to_string()),
            Segment::Map { key } => Some(key.clone()),
            Segment::Enum { variant } => Some(variant.clone()),
            Segment::Unknown => None,
        })
        .collect();
    segments.join(".")
}

/// The OpenAI chat completion request for a Messages request to an upstream speaking `dialect`.
pub fn to_openai(
    request: MessagesRequest,
    dialect: ChatDialect,
) -> Result<ChatCompletionRequest, GatewayError> {
    let mut messages = Vec::with_capacity(request.messages.len() + 1);
    // Only an adapter that translates further has a place for cache markers: OpenAI caches
    // prompts by itself and refuses fields it does not know.
    let markers = dialect == ChatDialect::Translated;
    if let Some(system) = &request.system {
        messages.extend(system_message(system, markers));
    }
    for (i, turn) in request.messages.into_iter().enumerate() {
        turn_messages(i, turn, &mut messages)?;
    }
    if !markers {
        strip_translated_only(&mut messages);
    }
    let tools = request
        .tools
        .map(function_tools)
        .transpose()?
        .filter(|t| !t.is_empty());
    // OpenAI rejects `tool_choice` and `parallel_tool_calls` without tools.
    let (tool_choice, parallel_tool_calls) = match (&tools, request.tool_choice) {
        (Some(_), Some(choice)) => tool_choice(choice)?,
        _ => (None, None),
    };
    let openai_native = dialect == ChatDialect::Native;
    let mut extra = Map::new();
    if let (Some(top_k), false) = (request.top_k, openai_native) {
        extra.insert("top_k".to_owned(), Value::from(top_k));
    }
    // Claude's own thinking settings, for an adapter that reaches Claude (LiteLLM's `thinking`).
    if let (Some(thinking), true) = (request.thinking, markers) {
        extra.insert(THINKING_SETTINGS.to_owned(), thinking);
    }
    let stream = request.stream == Some(true);
    Ok(ChatCompletionRequest {
        model: request.model,
        messages,
        max_tokens: (!openai_native).then_some(request.max_tokens),
        max_completion_tokens: openai_native.then_some(request.max_tokens),
        temperature: request.temperature,
        top_p: request.top_p,
        stop: request
            .stop_sequences
            .filter(|s| !s.is_empty())
            .map(Stop::Many),
        // The stream translator needs the usage chunk for `message_delta.usage`.
        stream: stream.then_some(true),
        stream_options: stream.then(|| StreamOptions {
            include_usage: Some(true),
            extra: Map::new(),
        }),
        tools,
        tool_choice,
        parallel_tool_calls,
        user: user_id(request.metadata.as_ref()),
        extra,
        ..ChatCompletionRequest::default()
    })
}

/// The system message: plain text, or (with `markers`) text parts when a block carries a cache
/// marker, which an upstream that caches prompts needs where the client put it.
fn system_message(system: &System, markers: bool) -> Option<Message> {
    let marked = |b: &Block| {
        matches!(
            b,
            Block::Text {
                cache_control: Some(_),
                ..
            }
        )
    };
    match system {
        System::Blocks(blocks) if markers && blocks.iter().any(marked) => {
            let parts = blocks
                .iter()
                .filter_map(|b| match b {
                    Block::Text {
                        text,
                        cache_control,
                    } => Some(ContentPart::Text {
                        text: text.clone(),
                        cache_control: cache_control.clone(),
                    }),
                    _ => None,
                })
                .collect();
            let mut message = Message::text(Role::System, "");
            message.content = Some(Content::Parts(parts));
            Some(message)
        }
        _ => {
            let text = system.text();
            (!text.is_empty()).then(|| Message::text(Role::System, text))
        }
    }
}

/// Removes what only a translating adapter has a place for: cache markers and signed thinking
/// blocks.
fn strip_translated_only(messages: &mut [Message]) {
    for message in messages {
        message.extra.remove(THINKING_BLOCKS);
        if let Some(Content::Parts(parts)) = &mut message.content {
            for part in parts {
                if let ContentPart::Text { cache_control, .. } = part {
                    *cache_control = None;
                }
            }
        }
    }
}

/// `metadata.user_id`, OpenAI's `user`.
fn user_id(metadata: Option<&Value>) -> Option<String> {
    metadata?.get("user_id")?.as_str().map(str::to_owned)
}

/// Appends the OpenAI messages of one Anthropic turn.
fn turn_messages(
    i: usize,
    turn: AnthropicMessage,
    out: &mut Vec<Message>,
) -> Result<(), GatewayError> {
    match turn.role.as_str() {
        "user" => user_turn(i, turn.content, out),
        "assistant" => assistant_turn(i, turn.content, out),
        other => Err(invalid(
            &format!("messages.{i}.role"),
            &format!("Input should be 'user' or 'assistant', not '{other}'"),
        )),
    }
}

/// A user turn: each `tool_result` becomes a `tool` message, placed before one user message
/// holding the rest of the turn (OpenAI wants tool answers right after the assistant's calls).
fn user_turn(
    i: usize,
    content: AnthropicContent,
    out: &mut Vec<Message>,
) -> Result<(), GatewayError> {
    let blocks = match content {
        AnthropicContent::Text(text) => {
            out.push(Message::text(Role::User, text));
            return Ok(());
        }
        AnthropicContent::Blocks(blocks) => blocks,
    };
    let mut parts = Vec::with_capacity(blocks.len());
    for (j, block) in blocks.into_iter().enumerate() {
        match block {
            Block::ToolResult {
                tool_use_id,
                content,
                is_error,
            } => {
                let text = tool_result_text(i, j, content, &mut parts)?;
                let text = if is_error == Some(true) {
                    format!("{TOOL_ERROR_PREFIX}{text}")
                } else {
                    text
                };
                let mut message = Message::text(Role::Tool, text);
                message.tool_call_id = Some(tool_use_id);
                out.push(message);
            }
            Block::ToolUse { .. } => {
                return Err(invalid(
                    &format!("messages.{i}.content.{j}"),
                    "tool_use blocks belong in assistant turns",
                ));
            }
            other => parts.extend(content_part(i, j, other)?),
        }
    }
    if !parts.is_empty() {
        out.push(Message {
            content: Some(Content::Parts(parts)),
            ..Message::text(Role::User, "")
        });
    }
    Ok(())
}

/// A tool result's text. OpenAI tool messages carry text only, so its images and documents go
/// to `parts`, the user message that follows the tool messages.
fn tool_result_text(
    i: usize,
    j: usize,
    content: Option<AnthropicContent>,
    parts: &mut Vec<ContentPart>,
) -> Result<String, GatewayError> {
    let blocks = match content {
        None => return Ok(String::new()),
        Some(AnthropicContent::Text(text)) => return Ok(text),
        Some(AnthropicContent::Blocks(blocks)) => blocks,
    };
    let mut texts = Vec::with_capacity(blocks.len());
    for block in blocks {
        match content_part(i, j, block)? {
            Some(ContentPart::Text { text, .. }) => texts.push(text),
            Some(part) => parts.push(part),
            None => {}
        }
    }
    Ok(texts.join("\n"))
}

/// The OpenAI part of a user content block; `None` for blocks OpenAI has no place for
/// (thinking, which only Anthropic models can read back).
fn content_part(i: usize, j: usize, block: Block) -> Result<Option<ContentPart>, GatewayError> {
    let part = match block {
        Block::Text {
            text,
            cache_control,
        } => ContentPart::Text {
            text,
            cache_control,
        },
        Block::Image { source } => ContentPart::ImageUrl {
            image_url: ImageUrl {
                url: match source {
                    Source::Base64 { media_type, data } => {
                        format!("data:{media_type};base64,{data}")
                    }
                    Source::Url { url } => url,
                },
                detail: None,
            },
        },
        Block::Document { source } => document_part(&source).ok_or_else(|| {
            invalid(
                &format!("messages.{i}.content.{j}.source"),
                "only base64 and text documents can be sent to this model",
            )
        })?,
        Block::Thinking { .. } | Block::RedactedThinking { .. } => return Ok(None),
        Block::ToolUse { .. } | Block::ToolResult { .. } => {
            return Err(invalid(
                &format!("messages.{i}.content.{j}"),
                "tool blocks cannot be nested here",
            ));
        }
    };
    Ok(Some(part))
}

/// A document: inline base64 becomes an OpenAI file part, plain text a text part. URLs and file
/// ids have no OpenAI equivalent.
fn document_part(source: &Value) -> Option<ContentPart> {
    let field = |key: &str| source.get(key).and_then(Value::as_str);
    match field("type")? {
        "base64" => {
            let media_type = field("media_type")?;
            let filename = if media_type == "application/pdf" {
                PDF_FILENAME
            } else {
                DOCUMENT_FILENAME
            };
            Some(ContentPart::File {
                file: serde_json::json!({
                    "filename": filename,
                    "file_data": format!("data:{media_type};base64,{}", field("data")?),
                }),
            })
        }
        "text" => Some(ContentPart::text(field("data")?)),
        _ => None,
    }
}

/// An assistant turn: text blocks become the content, `tool_use` blocks the tool calls (ids
/// kept, so the `tool_result`s that answer them still match), thinking blocks (with their
/// signatures) `thinking_blocks`, which only a translating adapter keeps.
fn assistant_turn(
    i: usize,
    content: AnthropicContent,
    out: &mut Vec<Message>,
) -> Result<(), GatewayError> {
    let mut texts = Vec::new();
    let mut calls = Vec::new();
    let mut thinking = Vec::new();
    for (j, block) in content.into_blocks().into_iter().enumerate() {
        match block {
            Block::Text { text, .. } => texts.push(text),
            block @ (Block::Thinking { .. } | Block::RedactedThinking { .. }) => {
                thinking.extend(serde_json::to_value(block).ok());
            }
            Block::ToolUse { id, name, input } => calls.push(ToolCall {
                id,
                kind: FUNCTION.to_owned(),
                function: FunctionCall {
                    name,
                    arguments: input.to_string(),
                },
            }),
            _ => {
                return Err(invalid(
                    &format!("messages.{i}.content.{j}"),
                    "assistant turns may only hold text, tool_use and thinking blocks",
                ));
            }
        }
    }
    if texts.is_empty() && calls.is_empty() {
        return Ok(());
    }
    let mut message = Message {
        content: (!texts.is_empty()).then(|| Content::Text(texts.join("\n"))),
        tool_calls: (!calls.is_empty()).then_some(calls),
        ..Message::text(Role::Assistant, "")
    };
    if !thinking.is_empty() {
        message
            .extra
            .insert(THINKING_BLOCKS.to_owned(), Value::Array(thinking));
    }
    out.push(message);
    Ok(())
}

/// Client tools as OpenAI function tools. Anthropic server tools (web search, code execution…)
/// run inside Anthropic's API and cannot be offered to another upstream.
fn function_tools(tools: Vec<AnthropicTool>) -> Result<Vec<Tool>, GatewayError> {
    tools
        .into_iter()
        .enumerate()
        .map(|(i, tool)| {
            if let Some(kind) = tool.extra.get("type").and_then(Value::as_str)
                && kind != CUSTOM_TOOL
            {
                return Err(invalid(
                    &format!("tools.{i}.type"),
                    &format!("the server tool `{kind}` is only available from Anthropic's API"),
                ));
            }
            Ok(Tool {
                kind: FUNCTION.to_owned(),
                function: Some(FunctionDef {
                    name: tool.name,
                    description: tool.description,
                    parameters: Some(
                        tool.input_schema
                            .unwrap_or_else(|| serde_json::json!({"type": "object"})),
                    ),
                    strict: tool.extra.get("strict").and_then(Value::as_bool),
                }),
                extra: Map::new(),
            })
        })
        .collect()
}

/// `tool_choice` and `parallel_tool_calls` for an Anthropic `tool_choice`.
fn tool_choice(
    choice: AnthropicToolChoice,
) -> Result<(Option<ToolChoice>, Option<bool>), GatewayError> {
    let mode = |m: &str| ToolChoice::Mode(m.to_owned());
    let openai = match choice.kind.as_str() {
        "auto" => mode("auto"),
        "any" => mode("required"),
        "none" => mode("none"),
        "tool" => ToolChoice::Named(NamedToolChoice {
            kind: FUNCTION.to_owned(),
            function: Some(NamedFunction {
                name: choice
                    .name
                    .ok_or_else(|| invalid("tool_choice.name", "Field required"))?,
            }),
        }),
        other => {
            return Err(invalid(
                "tool_choice.type",
                &format!("Input should be 'auto', 'any', 'tool' or 'none', not '{other}'"),
            ));
        }
    };
    let parallel = (choice.disable_parallel_tool_use == Some(true)).then_some(false);
    Ok((Some(openai), parallel))
}
#[cfg(test)]
mod tests;
