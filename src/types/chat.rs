//! Canonical chat types in OpenAI's shape: the request, the whole response and the stream chunk.
//! Translating adapters parse the request into these types and build their answers from them;
//! same-format traffic never goes through them (see `TopLevel`). Unknown request fields are kept
//! in `extra` so nothing a client sends is silently lost on the way through a translation.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::usage::OpenAiUsage;

/// `POST /v1/chat/completions` body.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct ChatCompletionRequest {
    /// Model name.
    pub model: String,
    /// The conversation.
    pub messages: Vec<Message>,
    /// Deprecated completion limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    /// Completion limit (reasoning included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u64>,
    /// Sampling temperature (0–2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Number of choices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// Stop sequences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    /// Whether to stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Stream options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    /// Tools the model may call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    /// How the model picks tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// Whether several tool calls may come in one turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    /// Output format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    /// End-user id (deprecated in favour of `safety_identifier`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Reproducibility seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// Presence penalty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    /// Frequency penalty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    /// Reasoning effort for reasoning models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<String>,
    /// Every other field, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ChatCompletionRequest {
    /// `max_completion_tokens`, else `max_tokens`.
    pub fn max_output_tokens(&self) -> Option<u64> {
        self.max_completion_tokens.or(self.max_tokens)
    }

    /// Whether the client wants SSE.
    pub fn is_stream(&self) -> bool {
        self.stream == Some(true)
    }

    /// Whether the client asked for the final usage chunk.
    pub fn wants_usage(&self) -> bool {
        self.stream_options.as_ref().and_then(|o| o.include_usage) == Some(true)
    }
}

/// `stop`: one string or several.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Stop {
    /// A single sequence.
    One(String),
    /// Several sequences.
    Many(Vec<String>),
}

impl Stop {
    /// The sequences as a list.
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            Self::One(s) => vec![s.clone()],
            Self::Many(v) => v.clone(),
        }
    }
}

/// `stream_options`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct StreamOptions {
    /// Send a final chunk with usage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_usage: Option<bool>,
    /// Every other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Message roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// System instructions.
    System,
    /// Developer instructions (newer name for system).
    Developer,
    /// The user.
    User,
    /// The model.
    Assistant,
    /// A tool result.
    Tool,
    /// A legacy function result.
    Function,
}

/// One message of the conversation.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Message {
    /// Who speaks.
    pub role: Role,
    /// What is said (null for an assistant turn that only calls tools).
    #[serde(default)]
    pub content: Option<Content>,
    /// Participant name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Tool calls of an assistant turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// The call a `tool` message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// Every other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Message {
    /// A message with text content.
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Self {
            role,
            content: Some(Content::Text(text.into())),
            name: None,
            tool_calls: None,
            tool_call_id: None,
            extra: Map::new(),
        }
    }

    /// The text of the content: a string, or the text parts joined.
    pub fn text_content(&self) -> String {
        self.content
            .as_ref()
            .map(Content::joined_text)
            .unwrap_or_default()
    }
}

/// Message content: a string or typed parts.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// Text, images, audio, files.
    Parts(Vec<ContentPart>),
}

impl Content {
    /// All text in the content, parts joined with newlines.
    pub fn joined_text(&self) -> String {
        match self {
            Self::Text(t) => t.clone(),
            Self::Parts(parts) => parts
                .iter()
                .filter_map(|p| match p {
                    ContentPart::Text { text } => Some(text.as_str()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    /// The content as parts (a string becomes one text part).
    pub fn parts(&self) -> Vec<ContentPart> {
        match self {
            Self::Text(t) => vec![ContentPart::Text { text: t.clone() }],
            Self::Parts(parts) => parts.clone(),
        }
    }
}

/// One part of message content.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    /// Text.
    Text {
        /// The text.
        text: String,
    },
    /// An image by URL or data URL.
    ImageUrl {
        /// The image.
        image_url: ImageUrl,
    },
    /// Base64 audio.
    InputAudio {
        /// `{data, format}`.
        input_audio: Value,
    },
    /// A file by id or data.
    File {
        /// `{file_id | file_data, filename}`.
        file: Value,
    },
    /// An assistant refusal.
    Refusal {
        /// The refusal text.
        refusal: String,
    },
}

/// `image_url` of an image part.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ImageUrl {
    /// `https://…` or `data:<mime>;base64,<data>`.
    pub url: String,
    /// `auto`, `low`, `high`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A tool call of an assistant turn (request and response share it).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ToolCall {
    /// Call id, echoed by the `tool` message that answers it.
    pub id: String,
    /// Always `function`.
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    /// The call.
    pub function: FunctionCall,
}

fn function_type() -> String {
    "function".to_owned()
}

/// Name and arguments of a function call.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct FunctionCall {
    /// Function name.
    pub name: String,
    /// Arguments as a JSON string (which may be invalid JSON).
    #[serde(default)]
    pub arguments: String,
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Tool {
    /// `function` (or a custom tool type, passed on where supported).
    #[serde(rename = "type")]
    pub kind: String,
    /// The function definition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionDef>,
    /// Every other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A function definition.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct FunctionDef {
    /// Name.
    pub name: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    /// Strict schema adherence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// `tool_choice`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum ToolChoice {
    /// `none`, `auto` or `required`.
    Mode(String),
    /// A named function (or another typed choice such as `allowed_tools`).
    Named(NamedToolChoice),
}

/// `{"type":"function","function":{"name":…}}`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct NamedToolChoice {
    /// `function`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The function to call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<NamedFunction>,
}

/// The function of a named tool choice.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct NamedFunction {
    /// Function name.
    pub name: String,
}

/// `response_format`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseFormat {
    /// Free text.
    Text,
    /// Any JSON object.
    JsonObject,
    /// JSON matching a schema.
    JsonSchema {
        /// The schema.
        json_schema: JsonSchemaFormat,
    },
}

/// `response_format.json_schema`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct JsonSchemaFormat {
    /// Schema name.
    pub name: String,
    /// The JSON Schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
    /// Strict adherence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A whole (non-stream) chat completion.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ChatCompletion {
    /// Completion id.
    pub id: String,
    /// `chat.completion`.
    pub object: String,
    /// Unix seconds.
    pub created: u64,
    /// The model that answered.
    pub model: String,
    /// The answers.
    pub choices: Vec<Choice>,
    /// Tokens used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<OpenAiUsage>,
}

/// One answer.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Choice {
    /// Position.
    pub index: u32,
    /// The assistant message.
    pub message: ResponseMessage,
    /// `stop`, `length`, `tool_calls`, `content_filter`.
    pub finish_reason: Option<String>,
    /// Log probabilities (null unless asked).
    #[serde(default)]
    pub logprobs: Option<Value>,
}

/// The assistant message of an answer.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct ResponseMessage {
    /// `assistant`.
    pub role: String,
    /// Text (null when the turn only calls tools).
    pub content: Option<String>,
    /// A refusal.
    #[serde(default)]
    pub refusal: Option<String>,
    /// Tool calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// Reasoning text (a common non-standard extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
}

/// One stream chunk.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ChatChunk<'a> {
    /// Completion id (the same on every chunk).
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    /// `chat.completion.chunk`.
    #[serde(borrow)]
    pub object: Cow<'a, str>,
    /// Unix seconds.
    pub created: u64,
    /// The model.
    #[serde(borrow)]
    pub model: Cow<'a, str>,
    /// Choice deltas.
    #[serde(borrow)]
    pub choices: Vec<ChunkChoice<'a>>,
    /// Usage, on the final chunk when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<OpenAiUsage>,
}

/// One choice's delta in a chunk.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ChunkChoice<'a> {
    /// Choice position.
    pub index: u32,
    /// What is new.
    #[serde(borrow)]
    pub delta: Delta<'a>,
    /// Set on the choice's last chunk.
    #[serde(default, borrow)]
    pub finish_reason: Option<Cow<'a, str>>,
}

/// New content of a choice.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct Delta<'a> {
    /// `assistant` on the first chunk.
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    pub role: Option<Cow<'a, str>>,
    /// New text.
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    pub content: Option<Cow<'a, str>>,
    /// New reasoning text (non-standard extension).
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    pub reasoning_content: Option<Cow<'a, str>>,
    /// New refusal text.
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    pub refusal: Option<Cow<'a, str>>,
    /// Tool call fragments.
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    pub tool_calls: Option<Vec<ToolCallDelta<'a>>>,
}

/// A fragment of a tool call; only `index` is always present.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct ToolCallDelta<'a> {
    /// Which call of the turn (0, 1, …).
    pub index: u32,
    /// Call id (first fragment only).
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    pub id: Option<Cow<'a, str>>,
    /// `function` (first fragment only).
    #[serde(
        rename = "type",
        default,
        skip_serializing_if = "Option::is_none",
        borrow
    )]
    pub kind: Option<Cow<'a, str>>,
    /// Name and/or argument fragment.
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    pub function: Option<FunctionDelta<'a>>,
}

/// Function name (first fragment) and argument text fragment.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct FunctionDelta<'a> {
    /// Function name.
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    pub name: Option<Cow<'a, str>>,
    /// A raw piece of the arguments string.
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    pub arguments: Option<Cow<'a, str>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/reference/openai"
    );

    /// `1` and `1.0` are the same JSON number; a typed round trip may turn one into the other.
    fn numbers_as_f64(v: Value) -> Value {
        match v {
            Value::Number(n) => n.as_f64().map_or(Value::Null, Value::from),
            Value::Array(a) => Value::Array(a.into_iter().map(numbers_as_f64).collect()),
            Value::Object(o) => {
                Value::Object(o.into_iter().map(|(k, v)| (k, numbers_as_f64(v))).collect())
            }
            other => other,
        }
    }

    #[test]
    fn every_openai_request_fixture_round_trips() {
        for name in [
            "chat_request_basic",
            "chat_request_full",
            "chat_request_image",
            "chat_request_tools",
        ] {
            let text = std::fs::read_to_string(format!("{FIXTURES}/{name}.json")).unwrap();
            let original: Value = serde_json::from_str(&text).unwrap();
            let parsed: ChatCompletionRequest = serde_json::from_value(original.clone()).unwrap();
            let again = serde_json::to_value(&parsed).unwrap();
            assert_eq!(numbers_as_f64(again), numbers_as_f64(original), "{name}");
        }
    }

    #[test]
    fn response_and_chunk_fixtures_parse() {
        for name in ["chat_response_basic", "chat_response_tool_calls"] {
            let text = std::fs::read_to_string(format!("{FIXTURES}/{name}.json")).unwrap();
            let parsed: ChatCompletion = serde_json::from_str(&text).unwrap();
            assert_eq!(parsed.object, "chat.completion", "{name}");
        }
        let sse =
            std::fs::read_to_string(format!("{FIXTURES}/chat_stream_tool_calls_with_usage.sse"))
                .unwrap();
        let chunks: Vec<ChatChunk<'_>> = sse
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
            .map(|d| serde_json::from_str(d).unwrap())
            .collect();
        assert!(
            chunks
                .iter()
                .any(|c| c.usage.is_some() && c.choices.is_empty())
        );
        let calls: usize = chunks
            .iter()
            .flat_map(|c| &c.choices)
            .filter_map(|c| c.delta.tool_calls.as_ref())
            .map(Vec::len)
            .sum();
        assert!(calls >= 2);
    }

    #[test]
    fn content_helpers() {
        let parts = Content::Parts(vec![
            ContentPart::Text { text: "a".into() },
            ContentPart::ImageUrl {
                image_url: ImageUrl {
                    url: "https://x".into(),
                    detail: None,
                },
            },
            ContentPart::Text { text: "b".into() },
        ]);
        assert_eq!(parts.joined_text(), "a\nb");
        assert_eq!(Content::Text("t".into()).parts().len(), 1);
        assert_eq!(Stop::One("x".into()).to_vec(), ["x"]);
    }
}
