//! Ollama's native wire format (`/api/chat`, `/api/embed`), as far as the gateway writes and
//! reads it. Requests borrow from the canonical request (images are not copied until they are
//! written); embedding vectors stay raw text, so they are copied, never re-formatted.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::types::chat::Tool;

/// `POST /api/chat` body.
#[derive(Debug, Serialize)]
pub struct ChatBody<'a> {
    /// Model name (`name:tag`).
    pub model: &'a str,
    /// The conversation.
    pub messages: Vec<Message<'a>>,
    /// Tools in OpenAI's function shape, which Ollama reads as they are.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<&'a Tool>,
    /// `"json"` or a JSON Schema.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<Value>,
    /// Modelfile parameters (`temperature`, `num_predict`, …).
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub options: Map<String, Value>,
    /// Thinking: a bool or a level (`"low"`, `"medium"`, `"high"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub think: Option<Value>,
    /// How long the model stays loaded after the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_alive: Option<&'a Value>,
    /// Always sent: Ollama streams unless told otherwise.
    pub stream: bool,
}

/// One message of an `/api/chat` request.
#[derive(Debug, Default, Serialize)]
pub struct Message<'a> {
    /// `system`, `user`, `assistant` or `tool`.
    pub role: &'static str,
    /// The text (never null).
    pub content: String,
    /// Reasoning of an earlier assistant turn.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking: Option<&'a str>,
    /// Bare base64 images (no `data:` prefix).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<&'a str>,
    /// Calls of an earlier assistant turn.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<OutgoingCall<'a>>,
    /// The function a `tool` message answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<&'a str>,
}

/// A tool call of an earlier assistant turn.
#[derive(Debug, Serialize)]
pub struct OutgoingCall<'a> {
    /// The call.
    pub function: OutgoingFunction<'a>,
}

/// Name and arguments of an earlier call.
#[derive(Debug, Serialize)]
pub struct OutgoingFunction<'a> {
    /// Function name.
    pub name: &'a str,
    /// Arguments as a JSON object (Ollama rejects a string here).
    pub arguments: Value,
}

/// An `/api/chat` answer: the whole body, or one line of a stream.
#[derive(Debug, Default, Deserialize)]
pub struct ChatReply<'a> {
    /// The model that answered.
    #[serde(default, borrow)]
    pub model: Option<Cow<'a, str>>,
    /// RFC 3339 time of the answer.
    #[serde(default, borrow)]
    pub created_at: Option<Cow<'a, str>>,
    /// The message (or this line's piece of it).
    #[serde(default, borrow)]
    pub message: Option<ReplyMessage<'a>>,
    /// Whether this is the last line.
    #[serde(default)]
    pub done: bool,
    /// `stop`, `length`, `load`, `unload`.
    #[serde(default, borrow)]
    pub done_reason: Option<Cow<'a, str>>,
    /// Prompt tokens evaluated (absent when the prompt was cached).
    #[serde(default)]
    pub prompt_eval_count: Option<u64>,
    /// Tokens generated.
    #[serde(default)]
    pub eval_count: Option<u64>,
    /// An error (a stream's in-band failure).
    #[serde(default)]
    pub error: Option<Value>,
}

/// The assistant message of an answer.
#[derive(Debug, Default, Deserialize)]
pub struct ReplyMessage<'a> {
    /// Text.
    #[serde(default, borrow)]
    pub content: Option<Cow<'a, str>>,
    /// Reasoning text.
    #[serde(default, borrow)]
    pub thinking: Option<Cow<'a, str>>,
    /// Calls, each whole (Ollama never splits one across lines).
    #[serde(default, borrow)]
    pub tool_calls: Option<Vec<IncomingCall<'a>>>,
}

/// A tool call in an answer.
#[derive(Debug, Deserialize)]
pub struct IncomingCall<'a> {
    /// Newer servers send an id; older ones do not.
    #[serde(default, borrow)]
    pub id: Option<Cow<'a, str>>,
    /// The call.
    #[serde(borrow)]
    pub function: IncomingFunction<'a>,
}

/// Name and arguments of a call in an answer.
#[derive(Debug, Deserialize)]
pub struct IncomingFunction<'a> {
    /// Function name.
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    /// Arguments: an object (some servers send a string; it is passed on as it is).
    #[serde(default)]
    pub arguments: Option<Value>,
}

/// `POST /api/embed` body.
#[derive(Debug, Serialize)]
pub struct EmbedBody<'a> {
    /// Model name.
    pub model: &'a str,
    /// Texts to embed.
    pub input: Vec<Cow<'a, str>>,
    /// Output vector length.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<&'a RawValue>,
    /// Cut inputs that exceed the context (Ollama's default is true).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncate: Option<&'a RawValue>,
    /// How long the model stays loaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_alive: Option<&'a RawValue>,
    /// Modelfile parameters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<&'a RawValue>,
}

/// An `/api/embed` answer; vectors stay raw so they are copied, not re-formatted.
#[derive(Debug, Deserialize)]
pub struct EmbedReply<'a> {
    /// The model that answered.
    #[serde(default, borrow)]
    pub model: Option<Cow<'a, str>>,
    /// One vector per input.
    #[serde(borrow)]
    pub embeddings: Vec<&'a RawValue>,
    /// Input tokens.
    #[serde(default)]
    pub prompt_eval_count: Option<u64>,
}
