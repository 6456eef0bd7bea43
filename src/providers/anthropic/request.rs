//! OpenAI chat request → Anthropic Messages request. System and developer messages become the
//! top-level `system`; tool results become `tool_result` blocks in a user turn; consecutive
//! turns of the same role merge (Anthropic requires alternation); images become base64 or URL
//! sources; `max_tokens`, which Anthropic requires, comes from the request, the provider's
//! `default_max_tokens`, or the model's known output limit.

use serde_json::{Value, json};

use crate::error::GatewayError;
use crate::providers::translate::{
    arguments_object, claude_thinking_budget, is_system, parse_data_url, system_texts, tool_id,
};
use crate::types::anthropic::{
    AnthropicContent, AnthropicMessage, AnthropicTool, AnthropicToolChoice, Block, MessagesRequest,
    Source, System,
};
use crate::types::chat::{ChatCompletionRequest, ContentPart, Message, Role, ToolChoice};

/// Output limit used when neither the request, the config nor the model table gives one.
pub const FALLBACK_MAX_TOKENS: u64 = 4096;

/// Known output limits by model-name prefix (most specific first).
const MODEL_MAX_TOKENS: [(&str, u64); 9] = [
    ("claude-3-5-haiku", 8192),
    ("claude-3-5-sonnet", 8192),
    ("claude-3-7-sonnet", 64_000),
    ("claude-3-haiku", 4096),
    ("claude-3-opus", 4096),
    ("claude-3-sonnet", 4096),
    ("claude-sonnet-4", 64_000),
    ("claude-haiku-4", 64_000),
    ("claude-opus-4", 32_000),
];

/// The model's output limit from the table.
pub fn model_max_tokens(model: &str) -> u64 {
    MODEL_MAX_TOKENS
        .iter()
        .find(|(prefix, _)| model.starts_with(prefix))
        .map_or(FALLBACK_MAX_TOKENS, |(_, n)| *n)
}

/// Translates a canonical request for an Anthropic upstream.
pub fn translate(
    request: &ChatCompletionRequest,
    model: &str,
    default_max_tokens: Option<u64>,
) -> Result<MessagesRequest, GatewayError> {
    let texts = system_texts(&request.messages);
    let system =
        (!texts.is_empty()).then(|| System::Blocks(texts.into_iter().map(Block::text).collect()));
    let mut max_tokens = request
        .max_output_tokens()
        .or(default_max_tokens)
        .unwrap_or_else(|| model_max_tokens(model));
    let budget = request
        .reasoning_effort
        .as_deref()
        .and_then(claude_thinking_budget);
    if let Some(budget) = budget
        && max_tokens <= budget
    {
        // Anthropic wants the thinking budget below max_tokens; keep the answer's room too.
        max_tokens = max_tokens.saturating_add(budget);
    }
    Ok(MessagesRequest {
        model: model.to_owned(),
        max_tokens,
        messages: turns(&request.messages)?,
        system,
        stop_sequences: request
            .stop
            .as_ref()
            .map(|s| s.to_vec())
            .filter(|v| !v.is_empty()),
        // Thinking is incompatible with a modified temperature.
        temperature: if budget.is_some() {
            None
        } else {
            request.temperature
        },
        top_p: request.top_p,
        top_k: request.extra.get("top_k").and_then(Value::as_u64),
        metadata: request.user.as_ref().map(|user| json!({ "user_id": user })),
        tools: tools(request),
        tool_choice: tool_choice(request),
        thinking: budget
            .map(|budget_tokens| json!({"type": "enabled", "budget_tokens": budget_tokens})),
        stream: request.stream.filter(|s| *s),
        extra: Default::default(),
    })
}

/// The user/assistant turns, merged so roles alternate.
fn turns(messages: &[Message]) -> Result<Vec<AnthropicMessage>, GatewayError> {
    let mut turns: Vec<(&'static str, Vec<Block>)> = Vec::new();
    for message in messages.iter().filter(|m| !is_system(m)) {
        let (role, blocks) = match message.role {
            Role::Assistant => ("assistant", assistant_blocks(message)),
            Role::Tool | Role::Function => ("user", vec![tool_result(message)]),
            _ => ("user", user_blocks(message)?),
        };
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((last, existing)) if *last == role => existing.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    if turns.is_empty() {
        return Err(GatewayError::invalid(
            "messages must contain at least one user or assistant message",
            Some("messages"),
        ));
    }
    // Anthropic rejects a final assistant prefill that ends with whitespace.
    if let Some(("assistant", blocks)) = turns.last_mut()
        && let Some(Block::Text { text, .. }) = blocks.last_mut()
    {
        text.truncate(text.trim_end().len());
    }
    Ok(turns
        .into_iter()
        .map(|(role, blocks)| AnthropicMessage {
            role: role.to_owned(),
            content: AnthropicContent::Blocks(blocks),
        })
        .collect())
}

fn user_blocks(message: &Message) -> Result<Vec<Block>, GatewayError> {
    let Some(content) = &message.content else {
        return Ok(Vec::new());
    };
    let mut blocks = Vec::new();
    for part in content.parts() {
        match part {
            ContentPart::Text {
                text,
                cache_control,
            } if !text.is_empty() => blocks.push(Block::Text {
                text,
                cache_control,
            }),
            ContentPart::Text { .. } | ContentPart::Refusal { .. } => {}
            ContentPart::ImageUrl { image_url } => blocks.push(Block::Image {
                source: match parse_data_url(&image_url.url) {
                    Some(data) => Source::Base64 {
                        media_type: data.mime.to_owned(),
                        data: data.data.to_owned(),
                    },
                    None => Source::Url { url: image_url.url },
                },
            }),
            ContentPart::File { file } => blocks.push(document(&file)?),
            ContentPart::InputAudio { .. } => {
                return Err(GatewayError::invalid(
                    "Audio input is not supported by Anthropic models.",
                    Some("messages"),
                ));
            }
        }
    }
    Ok(blocks)
}

/// A `file` part carrying a data URL (e.g. a PDF) as a document block.
fn document(file: &Value) -> Result<Block, GatewayError> {
    let field = |key: &str| file.get(key).and_then(Value::as_str);
    if let Some(data) = field("file_data").and_then(parse_data_url) {
        return Ok(Block::Document {
            source: json!({"type": "base64", "media_type": data.mime, "data": data.data}),
        });
    }
    // A document by URL, which Anthropic fetches itself (file_id as a URL: LiteLLM's convention,
    // and what a Responses `input_file` with `file_url` becomes).
    match field("file_id").filter(|id| id.starts_with(HTTPS_PREFIX)) {
        Some(url) => Ok(Block::Document {
            source: json!({"type": "url", "url": url}),
        }),
        None => Err(GatewayError::invalid(
            "Anthropic models accept files inline as file_data data URLs or by https URL.",
            Some("messages"),
        )),
    }
}

/// What a document URL Anthropic fetches starts with.
const HTTPS_PREFIX: &str = "https://";

fn assistant_blocks(message: &Message) -> Vec<Block> {
    let text = message.text_content();
    let mut blocks = Vec::new();
    if !text.is_empty() {
        blocks.push(Block::text(text));
    }
    for call in message.tool_calls.iter().flatten() {
        blocks.push(Block::ToolUse {
            id: tool_id(&call.id),
            name: call.function.name.clone(),
            input: arguments_object(&call.function.arguments),
        });
    }
    blocks
}

fn tool_result(message: &Message) -> Block {
    Block::ToolResult {
        tool_use_id: tool_id(message.tool_call_id.as_deref().unwrap_or_default()),
        content: Some(AnthropicContent::Text(message.text_content())),
        is_error: None,
    }
}

fn tools(request: &ChatCompletionRequest) -> Option<Vec<AnthropicTool>> {
    if matches!(&request.tool_choice, Some(ToolChoice::Mode(mode)) if mode == "none")
        && request.tools.is_none()
    {
        return None;
    }
    let tools: Vec<AnthropicTool> = request
        .tools
        .iter()
        .flatten()
        .filter_map(|tool| tool.function.as_ref())
        .map(|f| AnthropicTool {
            name: f.name.clone(),
            description: f.description.clone(),
            input_schema: Some(
                f.parameters
                    .clone()
                    .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
            ),
            extra: Default::default(),
        })
        .collect();
    (!tools.is_empty()).then_some(tools)
}

fn tool_choice(request: &ChatCompletionRequest) -> Option<AnthropicToolChoice> {
    let sequential = (request.parallel_tool_calls == Some(false)).then_some(true);
    let (kind, name) = match &request.tool_choice {
        None if request.tools.is_some() && sequential.is_some() => ("auto", None),
        None => return None,
        Some(ToolChoice::Mode(mode)) => match mode.as_str() {
            "none" => return Some(choice("none", None, None)),
            "required" => ("any", None),
            _ => ("auto", None),
        },
        Some(ToolChoice::Named(named)) => ("tool", named.function.as_ref().map(|f| f.name.clone())),
    };
    Some(choice(kind, name, sequential))
}

fn choice(
    kind: &str,
    name: Option<String>,
    disable_parallel_tool_use: Option<bool>,
) -> AnthropicToolChoice {
    AnthropicToolChoice {
        kind: kind.to_owned(),
        name,
        disable_parallel_tool_use,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: Value, expected: Value, default_max_tokens: Option<u64>) {
        let request: ChatCompletionRequest = serde_json::from_value(input).unwrap();
        let got = translate(&request, &request.model, default_max_tokens).unwrap();
        assert_eq!(serde_json::to_value(&got).unwrap(), expected);
    }

    #[test]
    fn matches_the_translation_fixture() {
        let fixture: Value = serde_json::from_str(
            &std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/reference/translations/openai_to_anthropic_request.json"
            ))
            .unwrap(),
        )
        .unwrap();
        check(
            fixture["input_openai"].clone(),
            fixture["expected_anthropic"].clone(),
            None,
        );
    }

    #[test]
    fn documents_go_inline_or_by_https_url() {
        let user = |file: Value| {
            json!({"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": [
                {"role": "user", "content": [{"type": "file", "file": file}]}]})
        };
        let cases = [
            (
                json!({"file_data": "data:application/pdf;base64,JVBE"}),
                json!({"type": "base64", "media_type": "application/pdf", "data": "JVBE"}),
            ),
            (
                json!({"file_id": "https://example.com/a.pdf"}),
                json!({"type": "url", "url": "https://example.com/a.pdf"}),
            ),
        ];
        for (file, source) in cases {
            let request: ChatCompletionRequest = serde_json::from_value(user(file)).unwrap();
            let got = serde_json::to_value(translate(&request, "m", None).unwrap()).unwrap();
            assert_eq!(got["messages"][0]["content"][0]["source"], source);
        }
        for file in [
            json!({"file_id": "file-abc"}),
            json!({"file_id": "http://plain.example/a.pdf"}),
        ] {
            let request: ChatCompletionRequest = serde_json::from_value(user(file)).unwrap();
            assert_eq!(translate(&request, "m", None).unwrap_err().status(), 400);
        }
    }

    #[test]
    fn table() {
        let cases = [
            (
                json!({"model": "claude-3-5-sonnet-latest", "messages": [{"role": "user", "content": "hi"}]}),
                json!({"model": "claude-3-5-sonnet-latest", "max_tokens": 8192, "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}),
                None,
            ),
            (
                json!({"model": "claude-x", "messages": [{"role": "developer", "content": "be kind"}, {"role": "user", "content": "a"}, {"role": "assistant", "content": "b  "}], "tool_choice": "none", "stream": true, "stop": ["X"]}),
                json!({"model": "claude-x", "max_tokens": 77, "system": [{"type": "text", "text": "be kind"}],
                       "messages": [{"role": "user", "content": [{"type": "text", "text": "a"}]}, {"role": "assistant", "content": [{"type": "text", "text": "b"}]}],
                       "stop_sequences": ["X"], "tool_choice": {"type": "none"}, "stream": true}),
                Some(77),
            ),
            (
                json!({"model": "claude-opus-4-1", "messages": [{"role": "user", "content": "think"}], "reasoning_effort": "medium", "max_tokens": 1000, "temperature": 0.3}),
                json!({"model": "claude-opus-4-1", "max_tokens": 3048, "messages": [{"role": "user", "content": [{"type": "text", "text": "think"}]}],
                       "thinking": {"type": "enabled", "budget_tokens": 2048}}),
                None,
            ),
            (
                json!({"model": "c", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function", "function": {"name": "f"}}],
                       "tool_choice": {"type": "function", "function": {"name": "f"}}, "parallel_tool_calls": false}),
                json!({"model": "c", "max_tokens": 4096, "messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}],
                       "tools": [{"name": "f", "input_schema": {"type": "object", "properties": {}}}],
                       "tool_choice": {"type": "tool", "name": "f", "disable_parallel_tool_use": true}}),
                None,
            ),
        ];
        for (input, expected, default) in cases {
            check(input, expected, default);
        }
    }

    #[test]
    fn rejects_what_anthropic_cannot_take() {
        let cases = [
            json!({"model": "c", "messages": [{"role": "system", "content": "only system"}]}),
            json!({"model": "c", "messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}}]}]}),
        ];
        for input in cases {
            let request: ChatCompletionRequest = serde_json::from_value(input.clone()).unwrap();
            assert_eq!(
                translate(&request, "c", None)
                    .unwrap_err()
                    .status()
                    .as_u16(),
                400,
                "{input}"
            );
        }
    }
}
