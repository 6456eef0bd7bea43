//! Pieces every translating adapter (Anthropic, Gemini, Ollama, Bedrock) needs, written once: the
//! typed request, data URLs, tool-call arguments as objects, tool-call ids, system text, the
//! function name a tool result answers, Claude's thinking budgets, upstream timestamps, and
//! OpenAI's embeddings answer.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::error::GatewayError;
use crate::telemetry::ids;
use crate::types::chat::{ChatCompletionRequest, Message, ResponseMessage, Role, ToolCall};
use crate::types::json::{MAX_REQUEST_VALUES, values_within};
use crate::types::{ChatRequest, TopLevel};

/// The request as typed canonical structs (400 naming the problem when it does not fit).
pub fn typed_request(request: &ChatRequest<'_>) -> Result<ChatCompletionRequest, GatewayError> {
    if !values_within(request.raw, MAX_REQUEST_VALUES) {
        return Err(too_many_values());
    }
    serde_json::from_slice(request.raw)
        .map_err(|e| GatewayError::invalid(format!("Invalid chat completion request: {e}"), None))
}

/// A request with more JSON values than a translation reads (see [`MAX_REQUEST_VALUES`]).
pub fn too_many_values() -> GatewayError {
    GatewayError::invalid(
        format!(
            "The request holds more than {MAX_REQUEST_VALUES} JSON values, more than this gateway translates for this provider."
        ),
        None,
    )
}

/// A `data:` URL's parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataUrl<'a> {
    /// MIME type, e.g. `image/png`.
    pub mime: &'a str,
    /// Base64 payload.
    pub data: &'a str,
}

/// Splits `data:<mime>;base64,<data>`; `None` for anything else (e.g. an `https://` URL).
pub fn parse_data_url(url: &str) -> Option<DataUrl<'_>> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let mime = meta.strip_suffix(";base64")?;
    Some(DataUrl {
        mime: if mime.is_empty() {
            "application/octet-stream"
        } else {
            mime
        },
        data,
    })
}

/// Claude's thinking budgets for OpenAI's `reasoning_effort` (LiteLLM's table).
const CLAUDE_THINKING_BUDGETS: [(&str, u64); 6] = [
    ("minimal", 1024),
    ("low", 1024),
    ("medium", 2048),
    ("high", 4096),
    ("xhigh", 8192),
    ("max", 16_384),
];

/// The thinking budget in tokens for `reasoning_effort` on a Claude model, whichever API reaches
/// it (Anthropic's, Bedrock's); `None` for efforts with no budget (`none`, unknown values).
pub fn claude_thinking_budget(effort: &str) -> Option<u64> {
    CLAUDE_THINKING_BUDGETS
        .iter()
        .find(|(name, _)| *name == effort)
        .map(|(_, budget)| *budget)
}

/// Whether Claude has a thinking setting for `effort` (a budget, or `none`: no thinking).
pub fn claude_takes_effort(effort: &str) -> bool {
    effort == NO_REASONING || claude_thinking_budget(effort).is_some()
}

/// The `reasoning_effort` that turns reasoning off.
pub const NO_REASONING: &str = "none";

/// A MIME type guessed from a URL's file extension (for upstreams that want one with a URL).
pub fn mime_from_url(url: &str) -> &'static str {
    let path = url
        .split(['?', '#'])
        .next()
        .unwrap_or(url)
        .to_ascii_lowercase();
    let ext = path.rsplit('.').next().unwrap_or("");
    match ext {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "pdf" => "application/pdf",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        _ => "application/octet-stream",
    }
}

/// Tool-call arguments as the JSON object Anthropic, Gemini and Ollama want. `arguments` is a
/// model-written string that may not parse: a non-object value is wrapped as `{"value": …}` and
/// unparsable text as `{"_raw_arguments": "…"}`, so nothing is silently dropped.
pub fn arguments_object(arguments: &str) -> Value {
    if arguments.trim().is_empty() {
        return Value::Object(Map::new());
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(Value::Object(object)) => Value::Object(object),
        Ok(other) => serde_json::json!({ "value": other }),
        Err(_) => serde_json::json!({ "_raw_arguments": arguments }),
    }
}

/// A fresh tool-call id in OpenAI's style, for upstreams that return calls without ids.
pub fn new_call_id() -> String {
    format!(
        "call_{:016x}{:08x}",
        ids::random_u64(),
        ids::random_u64() as u32
    )
}

/// A tool-call id as Anthropic (`^[a-zA-Z0-9_-]+$`) and Bedrock (`[a-zA-Z0-9_.:-]+`) take it:
/// other characters become `_`, the same way on the call and on its result, so they still match.
pub fn tool_id(id: &str) -> String {
    let cleaned: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.is_empty() {
        "_".to_owned()
    } else {
        cleaned
    }
}

/// A fresh completion id.
pub fn new_completion_id() -> String {
    format!(
        "chatcmpl-{:016x}{:016x}",
        ids::random_u64(),
        ids::random_u64()
    )
}

/// The assistant message of a whole answer from its parts, empty parts left out: `content` is
/// `null` only when the turn just calls tools (what OpenAI sends).
pub fn assistant_message(
    text: String,
    reasoning: String,
    tool_calls: Vec<ToolCall>,
) -> ResponseMessage {
    ResponseMessage {
        role: "assistant".to_owned(),
        content: (!text.is_empty() || tool_calls.is_empty()).then_some(text),
        refusal: None,
        tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
        reasoning_content: (!reasoning.is_empty()).then_some(reasoning),
        thinking_blocks: None,
    }
}

/// `tool_choice` values an upstream has no form for: a 400 naming the field; `models` names
/// the upstream's models (`"Gemini"`, `"Bedrock"`).
pub fn unsupported_tool_choice(value: &str, models: &str) -> GatewayError {
    GatewayError::invalid(
        format!(
            "tool_choice '{value}' is not supported for {models} models; use none, auto, required or a named function."
        ),
        Some("tool_choice"),
    )
}

/// Whether a message carries system instructions (`system` or `developer`).
pub fn is_system(message: &Message) -> bool {
    matches!(message.role, Role::System | Role::Developer)
}

/// The text of every system/developer message, in order, empty ones left out.
pub fn system_texts(messages: &[Message]) -> Vec<String> {
    messages
        .iter()
        .filter(|m| is_system(m))
        .map(Message::text_content)
        .filter(|t| !t.is_empty())
        .collect()
}

/// Tool-call id → function name, from every assistant turn (Gemini's function responses name
/// the function, OpenAI's tool messages only name the call).
pub fn tool_names(messages: &[Message]) -> HashMap<&str, &str> {
    messages
        .iter()
        .filter_map(|m| m.tool_calls.as_ref())
        .flatten()
        .map(|call| (call.id.as_str(), call.function.name.as_str()))
        .collect()
}

pub use crate::types::base64::encode as base64_encode;

/// How the client wants embedding vectors (`encoding_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbeddingEncoding {
    /// JSON arrays of numbers (the default).
    Float,
    /// Base64 of little-endian float32 bytes (the OpenAI SDKs ask for this by default).
    Base64,
}

impl EmbeddingEncoding {
    /// The encoding an embeddings request asks for (400 for an unknown one).
    pub fn of(top: &TopLevel<'_>) -> Result<Self, GatewayError> {
        match top.get("encoding_format").map(|raw| raw.get()) {
            None | Some("null" | "\"float\"") => Ok(Self::Float),
            Some("\"base64\"") => Ok(Self::Base64),
            Some(other) => Err(GatewayError::invalid(
                format!(
                    "Invalid value for 'encoding_format': {other}. Supported values are: 'float' and 'base64'."
                ),
                Some("encoding_format"),
            )),
        }
    }
}

/// A top-level field of a request read through [`TopLevel`] as a JSON value; `None` when it
/// is absent or `null`, a 400 naming the field when it is not JSON.
pub fn top_field(top: &TopLevel<'_>, key: &str) -> Result<Option<Value>, GatewayError> {
    top.get(key)
        .map(|raw| serde_json::from_str::<Value>(raw.get()))
        .transpose()
        .map(|v| v.filter(|v| !v.is_null()))
        .map_err(|e| GatewayError::invalid(format!("Invalid '{key}': {e}"), Some(key)))
}

/// An embeddings `input` as texts: a string or an array of strings. Token arrays (arrays of
/// integers) have no form at upstreams that embed text only; `models` names them in the error
/// (`"Gemini"`, `"Bedrock"`).
pub fn embedding_texts(input: Value, models: &str) -> Result<Vec<String>, GatewayError> {
    let invalid = |message: &str| GatewayError::invalid(message, Some("input"));
    match input {
        Value::String(text) => Ok(vec![text]),
        Value::Array(items) if items.is_empty() => Err(invalid(
            "Invalid 'input': empty array. Expected an array with minimum length 1.",
        )),
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::String(text) => Ok(text),
                Value::Number(_) | Value::Array(_) => Err(invalid(&format!(
                    "Invalid 'input': {models} embedding models take text only; token arrays (arrays of integers) are not supported."
                ))),
                _ => Err(invalid(
                    "Invalid 'input': expected a string or an array of strings.",
                )),
            })
            .collect(),
        _ => Err(invalid(
            "Invalid 'input': expected a string or an array of strings.",
        )),
    }
}

/// OpenAI's embeddings answer (`{"object":"list","data":[…],"model","usage"}`) from vectors given
/// as raw JSON arrays, which are copied as they are unless base64 was asked for.
pub fn embeddings_body(
    model: &str,
    vectors: &[&RawValue],
    encoding: EmbeddingEncoding,
    prompt_tokens: u64,
) -> Result<Vec<u8>, serde_json::Error> {
    #[derive(Serialize)]
    struct Item<'a> {
        object: &'static str,
        index: usize,
        embedding: &'a RawValue,
    }
    #[derive(Serialize)]
    struct Usage {
        prompt_tokens: u64,
        total_tokens: u64,
    }
    #[derive(Serialize)]
    struct List<'a> {
        object: &'static str,
        data: Vec<Item<'a>>,
        model: &'a str,
        usage: Usage,
    }
    // Base64 strings are new values; float vectors are borrowed as the upstream wrote them.
    let encoded: Vec<Box<RawValue>>;
    let vectors: Vec<&RawValue> = match encoding {
        EmbeddingEncoding::Float => vectors.to_vec(),
        EmbeddingEncoding::Base64 => {
            encoded = vectors
                .iter()
                .map(|raw| {
                    let floats: Vec<f32> = serde_json::from_str(raw.get())?;
                    serde_json::value::to_raw_value(&embedding_base64(&floats))
                })
                .collect::<Result<_, _>>()?;
            encoded.iter().map(AsRef::as_ref).collect()
        }
    };
    let data = vectors
        .into_iter()
        .enumerate()
        .map(|(index, embedding)| Item {
            object: "embedding",
            index,
            embedding,
        })
        .collect();
    serde_json::to_vec(&List {
        object: "list",
        data,
        model,
        usage: Usage {
            prompt_tokens,
            total_tokens: prompt_tokens,
        },
    })
}

/// Base64 of a vector's little-endian float32 bytes, as OpenAI sends `encoding_format: base64`
/// embeddings.
pub fn embedding_base64(vector: &[f32]) -> String {
    let bytes: Vec<u8> = vector.iter().flat_map(|f| f.to_le_bytes()).collect();
    base64_encode(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::chat::{FunctionCall, ToolCall};

    #[test]
    fn claude_takes_the_efforts_it_has_a_budget_for_and_none() {
        let cases = [
            ("none", true),
            ("minimal", true),
            ("high", true),
            ("xhigh", true),
            ("max", true),
            ("extreme", false),
            ("", false),
        ];
        for (effort, want) in cases {
            assert_eq!(claude_takes_effort(effort), want, "{effort}");
        }
    }

    #[test]
    fn data_urls() {
        let cases = [
            (
                "data:image/png;base64,iVBOR=",
                Some(("image/png", "iVBOR=")),
            ),
            (
                "data:;base64,AAAA",
                Some(("application/octet-stream", "AAAA")),
            ),
            ("data:text/plain,hello", None),
            ("https://example.com/a.png", None),
        ];
        for (url, want) in cases {
            assert_eq!(parse_data_url(url).map(|d| (d.mime, d.data)), want, "{url}");
        }
        assert_eq!(mime_from_url("https://x/a.JPG?x=1"), "image/jpeg");
        assert_eq!(mime_from_url("gs://b/doc.pdf"), "application/pdf");
        assert_eq!(mime_from_url("https://x/blob"), "application/octet-stream");
    }

    #[test]
    fn arguments_become_objects() {
        let cases = [
            (
                r#"{"location": "Boston"}"#,
                serde_json::json!({"location": "Boston"}),
            ),
            ("", serde_json::json!({})),
            ("[1,2]", serde_json::json!({"value": [1, 2]})),
            (
                r#"{"location": "Bos"#,
                serde_json::json!({"_raw_arguments": r#"{"location": "Bos"#}),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(arguments_object(input), want, "{input}");
        }
    }

    #[test]
    fn ids_systems_and_tool_names() {
        let id = new_call_id();
        assert!(id.starts_with("call_") && id.len() == 29, "{id}");
        assert_ne!(new_call_id(), id);
        let mut assistant = Message::text(Role::Assistant, "");
        assistant.tool_calls = Some(vec![ToolCall {
            id: "call_1".into(),
            kind: "function".into(),
            function: FunctionCall {
                name: "weather".into(),
                arguments: "{}".into(),
            },
        }]);
        let messages = vec![
            Message::text(Role::System, "be terse"),
            Message::text(Role::Developer, ""),
            Message::text(Role::User, "hi"),
            assistant,
        ];
        assert_eq!(system_texts(&messages), ["be terse"]);
        assert_eq!(tool_names(&messages).get("call_1"), Some(&"weather"));
    }

    #[test]
    fn tool_ids_are_sanitized_consistently() {
        assert_eq!(tool_id("call.1/x"), "call_1_x");
        assert_eq!(tool_id("toolu_01A-b"), "toolu_01A-b");
        assert_eq!(tool_id(""), "_");
    }

    #[test]
    fn embeddings_answers_in_both_encodings() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/reference/openai/embeddings_response_base64.json"
        ))
        .unwrap();
        let want: Value = serde_json::from_str(&text).unwrap();
        let vectors: Vec<Box<RawValue>> = ["[1,2,3]", "[4.0, 5.0, 6.0]"]
            .iter()
            .map(|v| RawValue::from_string((*v).to_owned()).unwrap())
            .collect();
        let vectors: Vec<&RawValue> = vectors.iter().map(AsRef::as_ref).collect();
        let model = "text-embedding-3-small";
        let body = embeddings_body(model, &vectors, EmbeddingEncoding::Base64, 4).unwrap();
        assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), want);
        let body = embeddings_body(model, &vectors, EmbeddingEncoding::Float, 4).unwrap();
        // Float vectors are copied byte for byte.
        assert!(
            String::from_utf8(body)
                .unwrap()
                .contains(r#""embedding":[4.0, 5.0, 6.0]"#)
        );
        assert_eq!(embedding_base64(&[]), "");
        assert_eq!(embedding_base64(&[1.0]), "AACAPw==");
    }

    #[test]
    fn embedding_encodings() {
        let cases = [
            (r#"{"input":"x"}"#, Some(EmbeddingEncoding::Float)),
            (
                r#"{"encoding_format":null}"#,
                Some(EmbeddingEncoding::Float),
            ),
            (
                r#"{"encoding_format":"float"}"#,
                Some(EmbeddingEncoding::Float),
            ),
            (
                r#"{"encoding_format":"base64"}"#,
                Some(EmbeddingEncoding::Base64),
            ),
            (r#"{"encoding_format":"int8"}"#, None),
        ];
        for (body, want) in cases {
            let top = TopLevel::parse(body.as_bytes()).unwrap();
            assert_eq!(EmbeddingEncoding::of(&top).ok(), want, "{body}");
        }
    }
}
