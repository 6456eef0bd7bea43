//! OpenAI chat request → Bedrock Converse request (the body of `/converse` and
//! `/converse-stream`). System and developer messages become `system`; turns alternate `user` /
//! `assistant` (neighbours of the same role merge); tool results are `toolResult` blocks in a
//! `user` turn; tool calls are `toolUse` blocks with object inputs; images travel as base64
//! bytes with their format (Bedrock cannot fetch URLs, so an image URL is a 400); sampling goes
//! to `inferenceConfig`, tools to `toolConfig`, a JSON schema to `outputConfig`, and
//! `reasoning_effort` to Claude's `thinking` (Claude models only: other models have no such
//! field). `n > 1`, audio and files have no Converse form (400); penalties, seeds, `user` and
//! `parallel_tool_calls` have none either and are dropped, as the other adapters drop them.

use serde_json::{Value, json};

use super::wire::{
    ContentBlock, ConverseRequest, Empty, ImageBlock, ImageSource, InferenceConfig, InputSchema,
    JsonSchema, Message, NamedTool, OutputConfig, OutputFormat, OutputStructure,
    ReasoningContentBlock, ReasoningText, SystemBlock, Tool, ToolChoice, ToolConfig,
    ToolResultBlock, ToolResultContent, ToolSpec, ToolUseBlock,
};
use crate::error::GatewayError;
use crate::providers::anthropic::request::FALLBACK_MAX_TOKENS;
use crate::providers::translate::{
    arguments_object, claude_thinking_budget, is_system, parse_data_url, tool_id,
    unsupported_tool_choice,
};
use crate::types::chat::{
    self, ChatCompletionRequest, ContentPart, REDACTED_THINKING, ResponseFormat, Role, THINKING,
    THINKING_BLOCKS, THINKING_SETTINGS,
};

/// Converse's role for the user's turns (and tool results).
pub const USER: &str = "user";
/// Converse's role for the model's turns.
pub const ASSISTANT: &str = "assistant";
/// What model ids of Anthropic's Claude contain (`anthropic.claude-…`, `us.anthropic.claude-…`,
/// `arn:…:foundation-model/anthropic.claude-…`). Application inference profile ARNs do not say
/// which model they route to, so they get no thinking.
const CLAUDE_MARKER: &str = "anthropic.claude";

/// Whether `model_id` names one of Anthropic's Claude models.
pub fn is_claude(model_id: &str) -> bool {
    model_id.contains(CLAUDE_MARKER)
}
/// The schema of a tool that declares no parameters (Converse requires one).
fn empty_schema() -> Value {
    json!({"type": "object", "properties": {}})
}

/// Translates a canonical chat request for the Bedrock model `model_id`.
pub fn to_converse(
    request: &ChatCompletionRequest,
    model_id: &str,
) -> Result<ConverseRequest, GatewayError> {
    if request.n.is_some_and(|n| n > 1) {
        return Err(GatewayError::invalid(
            "n > 1 is not supported for Bedrock models; Converse returns one answer.",
            Some("n"),
        ));
    }
    let messages = turns(&request.messages)?;
    let thinking = thinking_budget(request).filter(|_| is_claude(model_id));
    Ok(ConverseRequest {
        system: system(&request.messages),
        inference_config: inference_config(request, thinking),
        tool_config: tool_config(request, &messages)?,
        additional_model_request_fields: thinking
            .map(|budget| json!({"thinking": {"type": "enabled", "budget_tokens": budget}})),
        output_config: output_config(request.response_format.as_ref())?,
        messages,
    })
}

/// Claude's thinking budget: the client's own `thinking` settings (Anthropic's, which LiteLLM
/// takes too) when enabled, else its `reasoning_effort` by the shared table.
fn thinking_budget(request: &ChatCompletionRequest) -> Option<u64> {
    let settings = request.extra.get(THINKING_SETTINGS);
    let enabled = settings.is_some_and(|s| s["type"] == "enabled");
    match settings.and_then(|s| s["budget_tokens"].as_u64()) {
        Some(budget) if enabled => Some(budget),
        _ if settings.is_some() => None,
        _ => request
            .reasoning_effort
            .as_deref()
            .and_then(claude_thinking_budget),
    }
}

/// The system/developer messages' text, with a cache checkpoint after each part that carries
/// a cache marker.
fn system(messages: &[chat::Message]) -> Vec<SystemBlock> {
    let mut blocks = Vec::new();
    for message in messages.iter().filter(|m| is_system(m)) {
        for part in message.content.iter().flat_map(chat::Content::parts) {
            if let ContentPart::Text {
                text,
                cache_control,
            } = part
            {
                if !text.is_empty() {
                    blocks.push(SystemBlock::Text(text));
                }
                if cache_control.is_some() {
                    blocks.push(SystemBlock::cache_point());
                }
            }
        }
    }
    blocks
}

/// The user/assistant turns, merged so roles alternate.
fn turns(messages: &[chat::Message]) -> Result<Vec<Message>, GatewayError> {
    let mut turns: Vec<Message> = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        if is_system(message) {
            continue;
        }
        let (role, blocks) = match message.role {
            Role::Assistant => (ASSISTANT, assistant_blocks(message)),
            Role::Tool | Role::Function => (USER, vec![tool_result(message, i)?]),
            _ => (USER, user_blocks(message, i)?),
        };
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some(last) if last.role == role => last.content.extend(blocks),
            _ => turns.push(Message {
                role: role.to_owned(),
                content: blocks,
            }),
        }
    }
    if turns.is_empty() {
        return Err(GatewayError::invalid(
            "messages must contain at least one user or assistant message",
            Some("messages"),
        ));
    }
    // Claude on Bedrock rejects a final assistant prefill that ends with whitespace.
    if let Some(last) = turns.last_mut().filter(|t| t.role == ASSISTANT)
        && let Some(text) = last.content.last_mut().and_then(|b| b.text.as_mut())
    {
        text.truncate(text.trim_end().len());
    }
    Ok(turns)
}

fn user_blocks(message: &chat::Message, i: usize) -> Result<Vec<ContentBlock>, GatewayError> {
    let Some(content) = &message.content else {
        return Ok(Vec::new());
    };
    let mut blocks = Vec::new();
    for (j, part) in content.parts().into_iter().enumerate() {
        let param = format!("messages[{i}].content[{j}]");
        match part {
            ContentPart::Text {
                text,
                cache_control,
            } => {
                // Converse rejects blank text blocks.
                if !text.is_empty() {
                    blocks.push(ContentBlock::text(text));
                }
                if cache_control.is_some() {
                    blocks.push(ContentBlock::cache_point());
                }
            }
            ContentPart::Refusal { refusal } if !refusal.is_empty() => {
                blocks.push(ContentBlock::text(refusal));
            }
            ContentPart::Refusal { .. } => {}
            ContentPart::ImageUrl { image_url } => blocks.push(image(&image_url.url, &param)?),
            ContentPart::InputAudio { .. } | ContentPart::File { .. } => {
                return Err(GatewayError::invalid(
                    format!(
                        "{param}: audio and file parts are not supported for Bedrock models; send text or images."
                    ),
                    Some(&param),
                ));
            }
        }
    }
    Ok(blocks)
}

/// A data URL as an `image` block. Bedrock takes image bytes only (or S3 locations): an
/// `http(s)://` URL cannot be passed on, and the gateway does not download for the client.
fn image(url: &str, param: &str) -> Result<ContentBlock, GatewayError> {
    let field = format!("{param}.image_url.url");
    let Some(data) = parse_data_url(url) else {
        return Err(GatewayError::invalid(
            format!(
                "{field}: Bedrock models take images only as base64 data URLs (data:image/png;base64,…); Bedrock cannot fetch image URLs."
            ),
            Some(&field),
        ));
    };
    let Some(format) = image_format(data.mime) else {
        return Err(GatewayError::invalid(
            format!(
                "{field}: image type '{}' is not supported for Bedrock models; use png, jpeg, gif or webp.",
                data.mime
            ),
            Some(&field),
        ));
    };
    Ok(ContentBlock {
        image: Some(ImageBlock {
            format: format.to_owned(),
            source: ImageSource {
                bytes: data.data.to_owned(),
            },
        }),
        ..ContentBlock::default()
    })
}

/// Converse's image format for a MIME type.
fn image_format(mime: &str) -> Option<&'static str> {
    Some(match mime.to_ascii_lowercase().as_str() {
        "image/png" => "png",
        "image/jpeg" | "image/jpg" => "jpeg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        _ => return None,
    })
}

/// The model's turn: its text, then one `toolUse` per call.
fn assistant_blocks(message: &chat::Message) -> Vec<ContentBlock> {
    // Claude's signed thinking goes back first, as it was written (Claude checks it).
    let mut blocks: Vec<ContentBlock> = message
        .extra
        .get(THINKING_BLOCKS)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(reasoning_block)
        .collect();
    let text = message.text_content();
    if !text.is_empty() {
        blocks.push(ContentBlock::text(text));
    }
    blocks.extend(
        message
            .tool_calls
            .iter()
            .flatten()
            .map(|call| ContentBlock {
                tool_use: Some(ToolUseBlock {
                    tool_use_id: tool_id(&call.id),
                    name: call.function.name.clone(),
                    input: arguments_object(&call.function.arguments),
                }),
                ..ContentBlock::default()
            }),
    );
    blocks
}

/// A signed thinking block (`thinking_blocks`) as Converse's `reasoningContent`.
fn reasoning_block(block: &Value) -> Option<ContentBlock> {
    let text = |key: &str| block[key].as_str().map(str::to_owned);
    let reasoning = match block["type"].as_str()? {
        THINKING => ReasoningContentBlock {
            reasoning_text: Some(ReasoningText {
                text: text(THINKING)?,
                signature: text("signature").filter(|s| !s.is_empty()),
            }),
            redacted_content: None,
        },
        REDACTED_THINKING => ReasoningContentBlock {
            reasoning_text: None,
            redacted_content: Some(text("data")?),
        },
        _ => return None,
    };
    Some(ContentBlock {
        reasoning_content: Some(reasoning),
        ..ContentBlock::default()
    })
}

/// A tool message as a `toolResult`. Its text goes as `text`, never as `json`: not every model
/// behind Converse takes JSON result blocks, and the text is what the client wrote.
fn tool_result(message: &chat::Message, i: usize) -> Result<ContentBlock, GatewayError> {
    let Some(id) = message.tool_call_id.as_deref() else {
        let param = format!("messages[{i}].tool_call_id");
        return Err(GatewayError::invalid(
            format!("{param}: a tool result needs the id of the call it answers."),
            Some(&param),
        ));
    };
    Ok(ContentBlock {
        tool_result: Some(ToolResultBlock {
            tool_use_id: tool_id(id),
            content: vec![ToolResultContent {
                text: Some(message.text_content()),
                json: None,
            }],
            status: None,
        }),
        ..ContentBlock::default()
    })
}

/// `inferenceConfig`; `None` when the client set nothing. With thinking, the temperature is
/// left out (Claude refuses one with thinking) and `maxTokens` makes room for the budget.
fn inference_config(
    request: &ChatCompletionRequest,
    thinking: Option<u64>,
) -> Option<InferenceConfig> {
    let mut max_tokens = request.max_output_tokens();
    if let Some(budget) = thinking {
        max_tokens = Some(match max_tokens {
            Some(max) if max > budget => max,
            Some(max) => max.saturating_add(budget),
            None => FALLBACK_MAX_TOKENS.saturating_add(budget),
        });
    }
    let config = InferenceConfig {
        max_tokens,
        temperature: request.temperature.filter(|_| thinking.is_none()),
        top_p: request.top_p,
        stop_sequences: request
            .stop
            .as_ref()
            .map(chat::Stop::to_vec)
            .unwrap_or_default()
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect(),
    };
    (config != InferenceConfig::default()).then_some(config)
}

/// `toolConfig`. `tool_choice: none` has no Converse form: the tools are left out, unless the
/// history holds tool calls or results, which Bedrock accepts only with a `toolConfig`.
fn tool_config(
    request: &ChatCompletionRequest,
    turns: &[Message],
) -> Result<Option<ToolConfig>, GatewayError> {
    let tools = tools(request.tools.as_deref().unwrap_or_default())?;
    if tools.is_empty() {
        return Ok(None);
    }
    let choice = match &request.tool_choice {
        None => None,
        Some(chat::ToolChoice::Mode(mode)) => match mode.as_str() {
            "auto" => Some(ToolChoice::Auto(Empty {})),
            "required" => Some(ToolChoice::Any(Empty {})),
            "none" if has_tool_blocks(turns) => None,
            "none" => return Ok(None),
            other => return Err(unsupported_tool_choice(other, "Bedrock")),
        },
        Some(chat::ToolChoice::Named(named)) => match (&named.function, named.kind.as_str()) {
            (Some(function), "function") => Some(ToolChoice::Tool(NamedTool {
                name: function.name.clone(),
            })),
            (_, other) => return Err(unsupported_tool_choice(other, "Bedrock")),
        },
    };
    Ok(Some(ToolConfig {
        tools,
        tool_choice: choice,
    }))
}

fn has_tool_blocks(turns: &[Message]) -> bool {
    turns
        .iter()
        .flat_map(|t| &t.content)
        .any(|b| b.tool_use.is_some() || b.tool_result.is_some())
}

/// Function tools as `toolSpec`s; other tool types have no Converse form.
fn tools(tools: &[chat::Tool]) -> Result<Vec<Tool>, GatewayError> {
    tools
        .iter()
        .enumerate()
        .map(|(i, tool)| {
            let Some(function) = tool.function.as_ref().filter(|_| tool.kind == "function") else {
                return Err(GatewayError::invalid(
                    format!(
                        "tools[{i}]: tool type '{}' is not supported for Bedrock models; only function tools (with a function definition) are.",
                        tool.kind
                    ),
                    Some(&format!("tools[{i}].type")),
                ));
            };
            Ok(Tool {
                tool_spec: ToolSpec {
                    name: function.name.clone(),
                    description: function.description.clone().filter(|d| !d.is_empty()),
                    input_schema: InputSchema {
                        json: function.parameters.clone().unwrap_or_else(empty_schema),
                    },
                },
            })
        })
        .collect()
}

/// `response_format` → `outputConfig`: a JSON schema is Converse's structured output (the
/// schema as JSON text). Plain JSON mode has no Converse form: a 400 rather than an answer that
/// silently is not JSON.
fn output_config(format: Option<&ResponseFormat>) -> Result<Option<OutputConfig>, GatewayError> {
    let json_schema = match format {
        None | Some(ResponseFormat::Text) => return Ok(None),
        Some(ResponseFormat::JsonObject) => {
            return Err(GatewayError::invalid(
                "response_format 'json_object' is not supported for Bedrock models; use 'json_schema' with a schema.",
                Some("response_format"),
            ));
        }
        Some(ResponseFormat::JsonSchema { json_schema }) => json_schema,
    };
    let Some(schema) = &json_schema.schema else {
        return Err(GatewayError::invalid(
            "response_format.json_schema.schema is required for Bedrock models.",
            Some("response_format.json_schema.schema"),
        ));
    };
    Ok(Some(OutputConfig {
        text_format: OutputFormat {
            kind: "json_schema".to_owned(),
            structure: OutputStructure {
                json_schema: JsonSchema {
                    schema: schema.to_string(),
                    name: Some(json_schema.name.clone()),
                    description: json_schema.description.clone(),
                },
            },
        },
    }))
}

#[cfg(test)]
mod tests;
