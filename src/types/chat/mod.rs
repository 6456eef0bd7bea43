//! Canonical chat types in OpenAI's shape: the request, the whole response and the stream chunk.
//! Translating adapters parse the request into these types and build their answers from them;
//! same-format traffic never goes through them (see `TopLevel`). Unknown request fields are kept
//! in `extra` so nothing a client sends is silently lost on the way through a translation.
//!
//! The types are split by concern into private submodules and re-exported here, so every type
//! keeps its `crate::types::chat::X` path.

mod message;
mod request;
mod response;
mod stream;
mod tools;

pub use message::{Content, ContentPart, ImageUrl, Message, Role};
pub use request::{
    ChatCompletionRequest, JsonSchemaFormat, ResponseFormat, Stop, StreamOptions, THINKING_SETTINGS,
};
pub use response::{
    ChatCompletion, Choice, REDACTED_THINKING, ResponseMessage, THINKING, THINKING_BLOCKS,
};
pub use stream::{ChatChunk, ChunkChoice, Delta, FunctionDelta, ToolCallDelta};
pub use tools::{
    FunctionCall, FunctionDef, NamedFunction, NamedToolChoice, Tool, ToolCall, ToolChoice,
};

/// Which OpenAI chat dialect an upstream speaks, for requests built by translation. Only the
/// adapter knows its upstream: it says which, so translating code never looks at provider types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChatDialect {
    /// OpenAI itself (and Azure): `max_completion_tokens` (o-series models refuse
    /// `max_tokens`), and unknown fields such as `top_k` are rejected.
    Native,
    /// OpenAI-compatible servers (vLLM, Ollama's `/v1`, …): `max_tokens`, and extensions such
    /// as `top_k` are understood.
    #[default]
    Compatible,
    /// No OpenAI server: the adapter translates the request to its upstream's own API
    /// (Anthropic, Gemini, Ollama, Bedrock), so it gets everything the gateway read, including
    /// markers only some APIs have (prompt-cache markers), as `Compatible` otherwise.
    Translated,
}

/// Fixture access shared by the submodules' tests, which all read the same reference captures.
#[cfg(test)]
mod test_support {
    use serde_json::Value;

    /// Reference OpenAI requests, responses and streams.
    pub(super) const FIXTURES: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/reference/openai"
    );

    /// `1` and `1.0` are the same JSON number; a typed round trip may turn one into the other.
    pub(super) fn numbers_as_f64(v: Value) -> Value {
        match v {
            Value::Number(n) => n.as_f64().map_or(Value::Null, Value::from),
            Value::Array(a) => Value::Array(a.into_iter().map(numbers_as_f64).collect()),
            Value::Object(o) => {
                Value::Object(o.into_iter().map(|(k, v)| (k, numbers_as_f64(v))).collect())
            }
            other => other,
        }
    }
}
