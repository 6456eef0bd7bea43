//! OpenAI requests → Ollama requests: the canonical chat request becomes an `/api/chat` body and
//! an embeddings request an `/api/embed` body. Pure functions; anything Ollama cannot express
//! natively is a 400 that names the provider, never a silent drop of content.

use std::borrow::Cow;
use std::collections::HashMap;

use serde_json::{Map, Value};

use super::wire::{ChatBody, EmbedBody, Message, OutgoingCall, OutgoingFunction};
use crate::error::GatewayError;
use crate::providers::translate::{arguments_object, parse_data_url, tool_names};
use crate::types::TopLevel;
use crate::types::chat::{
    ChatCompletionRequest, Content, ContentPart, Message as ChatMessage, ResponseFormat, Role,
    Tool, ToolChoice,
};

/// Extra top-level request fields read as Ollama `options`, for clients that know they talk to
/// Ollama and send its sampling knobs next to OpenAI's.
const OPTION_FIELDS: [&str; 4] = ["top_k", "min_p", "num_ctx", "repeat_penalty"];

/// The `/api/chat` body for `request`, asking for `model`; `provider` names the provider in
/// errors.
pub fn chat_body<'a>(
    request: &'a ChatCompletionRequest,
    model: &'a str,
    provider: &str,
) -> Result<ChatBody<'a>, GatewayError> {
    if request.n.is_some_and(|n| n > 1) {
        return Err(GatewayError::invalid(
            format!(
                "Provider `{provider}` (Ollama) returns one choice per request; 'n' must be 1."
            ),
            Some("n"),
        ));
    }
    Ok(ChatBody {
        model,
        messages: messages(request, provider)?,
        tools: tools(request),
        format: format(request.response_format.as_ref()),
        options: options(request),
        think: think(request),
        keep_alive: request.extra.get("keep_alive"),
        stream: request.is_stream(),
    })
}

/// The conversation in Ollama's roles.
fn messages<'a>(
    request: &'a ChatCompletionRequest,
    provider: &str,
) -> Result<Vec<Message<'a>>, GatewayError> {
    let names = tool_names(&request.messages);
    request
        .messages
        .iter()
        .enumerate()
        .map(|(i, message)| {
            let (content, images) = content(message.content.as_ref(), i, provider)?;
            let mut out = Message {
                role: role(message.role),
                content,
                images,
                ..Message::default()
            };
            match message.role {
                Role::Assistant => assistant_parts(message, &mut out),
                Role::Tool => out.tool_name = tool_name(message.tool_call_id.as_deref(), &names),
                Role::Function => out.tool_name = message.name.as_deref(),
                Role::System | Role::Developer | Role::User => {}
            }
            Ok(out)
        })
        .collect()
}

/// Ollama's name for an OpenAI role (it knows no `developer` and no legacy `function`).
fn role(role: Role) -> &'static str {
    match role {
        Role::System | Role::Developer => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool | Role::Function => "tool",
    }
}

/// The function name a `tool` message answers, found through its call id.
fn tool_name<'a>(call_id: Option<&str>, names: &HashMap<&'a str, &'a str>) -> Option<&'a str> {
    call_id.and_then(|id| names.get(id).copied())
}

/// An assistant turn's calls (arguments as objects) and earlier reasoning.
fn assistant_parts<'a>(message: &'a ChatMessage, out: &mut Message<'a>) {
    out.tool_calls = message
        .tool_calls
        .iter()
        .flatten()
        .map(|call| OutgoingCall {
            function: OutgoingFunction {
                name: &call.function.name,
                arguments: arguments_object(&call.function.arguments),
            },
        })
        .collect();
    out.thinking = ["reasoning_content", "reasoning"]
        .iter()
        .find_map(|key| message.extra.get(*key).and_then(Value::as_str));
}

/// Text (parts joined with newlines, as everywhere else) and bare base64 images.
fn content<'a>(
    content: Option<&'a Content>,
    index: usize,
    provider: &str,
) -> Result<(String, Vec<&'a str>), GatewayError> {
    let parts = match content {
        None => return Ok((String::new(), Vec::new())),
        Some(Content::Text(text)) => return Ok((text.clone(), Vec::new())),
        Some(Content::Parts(parts)) => parts,
    };
    let param = format!("messages[{index}].content");
    let mut texts = Vec::new();
    let mut images = Vec::new();
    for part in parts {
        match part {
            ContentPart::Text { text, .. } | ContentPart::Refusal { refusal: text } => {
                texts.push(text.as_str());
            }
            ContentPart::ImageUrl { image_url } => match parse_data_url(&image_url.url) {
                Some(data) => images.push(data.data),
                None => {
                    return Err(GatewayError::invalid(
                        format!(
                            "Provider `{provider}` (Ollama) accepts images only as base64 data URLs (data:image/png;base64,…), not as links."
                        ),
                        Some(&param),
                    ));
                }
            },
            ContentPart::InputAudio { .. } | ContentPart::File { .. } => {
                return Err(GatewayError::invalid(
                    format!("Provider `{provider}` (Ollama) accepts only text and image content."),
                    Some(&param),
                ));
            }
        }
    }
    Ok((texts.join("\n"), images))
}

/// Tools as they are, none when `tool_choice` is `none`, only the named one when one is named.
/// Ollama has no `tool_choice`: offering a single tool is the closest it gets to a named choice,
/// and `required` cannot be expressed at all (the model may still answer with text).
fn tools(request: &ChatCompletionRequest) -> Vec<&Tool> {
    let all = request.tools.iter().flatten();
    match &request.tool_choice {
        Some(ToolChoice::Mode(mode)) if mode == "none" => Vec::new(),
        Some(ToolChoice::Named(named)) => {
            let wanted = named.function.as_ref().map(|f| f.name.as_str());
            all.filter(|t| t.function.as_ref().map(|f| f.name.as_str()) == wanted)
                .collect()
        }
        _ => all.collect(),
    }
}

/// `response_format` → `format`: `"json"` for any object, the schema itself for a schema.
fn format(format: Option<&ResponseFormat>) -> Option<Value> {
    match format? {
        ResponseFormat::Text => None,
        ResponseFormat::JsonObject => Some(Value::from("json")),
        ResponseFormat::JsonSchema { json_schema } => Some(
            json_schema
                .schema
                .clone()
                .unwrap_or_else(|| Value::from("json")),
        ),
    }
}

/// Sampling parameters as Modelfile options. A client's own `options` object (and the few
/// option names it may send at the top level) win over the translated values: they are the
/// more specific request.
fn options(request: &ChatCompletionRequest) -> Map<String, Value> {
    let mut options = Map::new();
    let mut set = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            options.insert(key.to_owned(), value);
        }
    };
    set("temperature", request.temperature.map(Value::from));
    set("top_p", request.top_p.map(Value::from));
    set("num_predict", request.max_output_tokens().map(Value::from));
    set(
        "stop",
        request.stop.as_ref().map(|s| Value::from(s.to_vec())),
    );
    set("seed", request.seed.map(Value::from));
    set(
        "presence_penalty",
        request.presence_penalty.map(Value::from),
    );
    set(
        "frequency_penalty",
        request.frequency_penalty.map(Value::from),
    );
    for key in OPTION_FIELDS {
        set(key, request.extra.get(key).cloned());
    }
    if let Some(Value::Object(own)) = request.extra.get("options") {
        options.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    options
}

/// `think`: the client's own value, else one derived from `reasoning_effort` (`none` turns
/// thinking off; the levels pass as Ollama's level names, which models without levels read as
/// "on").
fn think(request: &ChatCompletionRequest) -> Option<Value> {
    if let Some(own) = request.extra.get("think") {
        return Some(own.clone());
    }
    let level = match request.reasoning_effort.as_deref()? {
        "none" => return Some(Value::Bool(false)),
        "minimal" | "low" => "low",
        "medium" => "medium",
        "high" | "xhigh" => "high",
        other => other,
    };
    Some(Value::from(level))
}

/// The `/api/embed` body for an OpenAI embeddings request (`input` a string or strings; token
/// arrays cannot be sent to Ollama).
pub fn embed_body<'a>(
    top: &TopLevel<'a>,
    model: &'a str,
    provider: &str,
) -> Result<EmbedBody<'a>, GatewayError> {
    let raw = top.get("input").map_or("null", |raw| raw.get());
    let input = match serde_json::from_str::<EmbedInput<'a>>(raw) {
        Ok(EmbedInput::One(text)) => vec![text],
        Ok(EmbedInput::Many(texts)) => texts,
        Err(_) => {
            return Err(GatewayError::invalid(
                format!(
                    "Provider `{provider}` (Ollama) embeds text only: 'input' must be a string or an array of strings."
                ),
                Some("input"),
            ));
        }
    };
    let present = |key: &str| top.get(key).filter(|raw| raw.get() != "null");
    Ok(EmbedBody {
        model,
        input,
        dimensions: present("dimensions"),
        truncate: present("truncate"),
        keep_alive: present("keep_alive"),
        options: present("options"),
    })
}

/// `input` of an embeddings request, when it is text.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum EmbedInput<'a> {
    One(#[serde(borrow)] Cow<'a, str>),
    Many(#[serde(borrow)] Vec<Cow<'a, str>>),
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::providers::ollama::testing::fixture_json;

    /// Translates an OpenAI chat request for `model` and compares the Ollama body.
    fn check(openai: Value, model: &str, expected: &Value) {
        let typed: ChatCompletionRequest = serde_json::from_value(openai.clone()).unwrap();
        let body = chat_body(&typed, model, "local").unwrap();
        assert_eq!(&serde_json::to_value(&body).unwrap(), expected, "{openai}");
    }

    fn rejected(openai: Value) -> GatewayError {
        let typed: ChatCompletionRequest = serde_json::from_value(openai).unwrap();
        chat_body(&typed, "m", "local").unwrap_err()
    }

    fn weather_tool() -> Value {
        fixture_json("chat_request_tools.json")["tools"][0].clone()
    }

    #[test]
    fn tools_fixture() {
        let openai = json!({
            "model": "client-name",
            "messages": [{"role": "user", "content": "what is the weather in tokyo?"}],
            "tools": [weather_tool()],
            "tool_choice": "auto",
            "parallel_tool_calls": true,
            "user": "u-1",
        });
        check(openai, "llama3.2", &fixture_json("chat_request_tools.json"));
    }

    #[test]
    fn options_fixture() {
        let schema = json!({"type": "object", "properties": {"summary": {"type": "string"}}, "required": ["summary"]});
        let openai = json!({
            "model": "client-name",
            "stream": true,
            "messages": [
                {"role": "developer", "content": "You are terse."},
                {"role": "user", "content": [
                    {"type": "text", "text": "Describe this image."},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
                ]},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Tokyo\"}"}},
                ]},
                {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp_c\": 21}"},
            ],
            "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": schema, "strict": true}},
            "temperature": 0.2,
            "top_p": 0.9,
            "top_k": 40,
            "max_completion_tokens": 256,
            "stop": "\n\n\n",
            "seed": 42,
            "options": {"num_ctx": 8192},
            "reasoning_effort": "none",
            "keep_alive": "5m",
        });
        check(
            openai,
            "llama3.2",
            &fixture_json("chat_request_options.json"),
        );
    }

    #[test]
    fn smaller_translations() {
        let user = json!([{"role": "user", "content": "hi"}]);
        let tools = json!([weather_tool(), {"type": "function", "function": {"name": "other"}}]);
        let cases = [
            // tool_choice none: no tools at all; a named choice keeps only that tool.
            (
                json!({"messages": user, "tools": tools, "tool_choice": "none"}),
                json!({"messages": user, "stream": false}),
            ),
            (
                json!({"messages": user, "tools": tools, "tool_choice": {"type": "function", "function": {"name": "other"}}}),
                json!({"messages": user, "tools": [tools[1]], "stream": false}),
            ),
            (
                json!({"messages": user, "response_format": {"type": "json_object"}, "max_tokens": 9,
                    "presence_penalty": 0.5, "frequency_penalty": 0.25, "stop": ["a", "b"]}),
                json!({"messages": user, "format": "json", "stream": false, "options":
                    {"num_predict": 9, "presence_penalty": 0.5, "frequency_penalty": 0.25, "stop": ["a", "b"]}}),
            ),
            (
                json!({"messages": user, "response_format": {"type": "text"}, "reasoning_effort": "xhigh"}),
                json!({"messages": user, "think": "high", "stream": false}),
            ),
            // The client's own Ollama knobs win over translated ones.
            (
                json!({"messages": user, "reasoning_effort": "low", "think": true,
                    "temperature": 1.0, "options": {"temperature": 0.0, "num_ctx": 4096}}),
                json!({"messages": user, "think": true, "stream": false,
                    "options": {"temperature": 0.0, "num_ctx": 4096}}),
            ),
            (
                json!({"messages": [
                    {"role": "system", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
                    {"role": "assistant", "content": "thought about it", "reasoning_content": "hmm"},
                    {"role": "function", "name": "lookup", "content": "42"},
                    {"role": "tool", "tool_call_id": "unknown", "content": "?"},
                    {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/"}}]},
                ]}),
                json!({"messages": [
                    {"role": "system", "content": "a\nb"},
                    {"role": "assistant", "content": "thought about it", "thinking": "hmm"},
                    {"role": "tool", "content": "42", "tool_name": "lookup"},
                    {"role": "tool", "content": "?"},
                    {"role": "user", "content": "", "images": ["/9j/"]},
                ], "stream": false}),
            ),
        ];
        for (mut openai, mut expected) in cases {
            openai["model"] = json!("client-name");
            expected["model"] = json!("up");
            check(openai, "up", &expected);
        }
    }

    #[test]
    fn what_ollama_cannot_take_is_a_400_naming_the_provider() {
        let image = |url: &str| {
            json!({"model": "m", "messages": [{"role": "user", "content": [
                {"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": url}}]}]})
        };
        let cases = [
            (
                image("https://example.com/cat.png"),
                "messages[0].content",
                "data URLs",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": [
                    {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]}]}),
                "messages[0].content",
                "only text and image",
            ),
            (
                json!({"model": "m", "n": 2, "messages": [{"role": "user", "content": "x"}]}),
                "n",
                "one choice",
            ),
        ];
        for (openai, param, words) in cases {
            let error = rejected(openai);
            assert_eq!(error.status().as_u16(), 400);
            assert_eq!(error.param(), Some(param));
            let message = error.to_string();
            assert!(
                message.contains("`local` (Ollama)") && message.contains(words),
                "{message}"
            );
        }
    }

    fn check_embed(openai: &Value, model: &str, expected: Result<Value, &str>) {
        let text = openai.to_string();
        let top = TopLevel::parse(text.as_bytes()).unwrap();
        let got = embed_body(&top, model, "local")
            .map(|body| serde_json::to_value(&body).unwrap())
            .map_err(|e| e.param().map(str::to_owned));
        match expected {
            Ok(want) => assert_eq!(got.unwrap(), want, "{openai}"),
            Err(param) => assert_eq!(got.unwrap_err().as_deref(), Some(param), "{openai}"),
        }
    }

    #[test]
    fn embed_requests() {
        let fixture = fixture_json("embed_request.json");
        let input = fixture["input"].clone();
        check_embed(
            &json!({"model": "e", "input": input, "encoding_format": "float", "user": "u"}),
            "all-minilm",
            Ok(fixture),
        );
        check_embed(
            &json!({"model": "e", "input": "one", "dimensions": 64, "truncate": false, "keep_alive": null}),
            "m",
            Ok(json!({"model": "m", "input": ["one"], "dimensions": 64, "truncate": false})),
        );
        for tokens in [json!([1, 2, 3]), json!([[1, 2], [3]]), json!(5)] {
            check_embed(&json!({"model": "e", "input": tokens}), "m", Err("input"));
        }
    }
}
