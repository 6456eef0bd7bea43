//! Inbound OpenAI requests read at the top level only: the fields the gateway needs (`model`,
//! `stream`, `max_tokens`, …) are checked and extracted, everything else stays raw.

use std::borrow::Cow;

use serde::Deserialize;

use super::json::TopLevel;
use crate::error::GatewayError;

/// The roles OpenAI accepts in `messages`.
const ROLES: [&str; 6] = [
    "system",
    "developer",
    "user",
    "assistant",
    "tool",
    "function",
];

/// Longest model name a client may send: model IDs, deployment names and inference-profile ARNs
/// are far shorter, and the name goes into logs, errors and (as one segment) upstream URLs.
pub const MAX_MODEL_BYTES: usize = 256;

/// Largest `max_tokens` (or `max_completion_tokens`) accepted: well beyond what any model
/// generates in one answer (the largest output limits are a few hundred thousand tokens), and
/// small enough that sums of client numbers stay meaningful.
pub const MAX_OUTPUT_TOKENS: u64 = 1 << 24;

/// Checks a model name a client sent: 1 to [`MAX_MODEL_BYTES`] bytes without control
/// characters. Whatever an upstream accepts beyond that is its adapter's check.
pub fn check_model(model: &str) -> Result<(), GatewayError> {
    if model.is_empty() {
        return Err(GatewayError::invalid(
            "you must provide a model parameter",
            Some("model"),
        ));
    }
    if model.len() > MAX_MODEL_BYTES || model.chars().any(char::is_control) {
        return Err(GatewayError::invalid(
            format!(
                "Invalid 'model': a model name has 1 to {MAX_MODEL_BYTES} bytes and no control characters."
            ),
            Some("model"),
        ));
    }
    Ok(())
}

/// Checks a client's output token limit against [`MAX_OUTPUT_TOKENS`].
pub fn check_max_tokens(value: Option<u64>, key: &str) -> Result<Option<u64>, GatewayError> {
    match value {
        Some(n) if n > MAX_OUTPUT_TOKENS => Err(GatewayError::invalid(
            format!(
                "Invalid '{key}': {n} is more than any model generates (at most {MAX_OUTPUT_TOKENS})."
            ),
            Some(key),
        )),
        _ => Ok(value),
    }
}

/// Most inputs one embeddings request may carry (OpenAI's own limit): each becomes work and
/// memory for the adapter (a batch, a vector), so a body of ten million `[]`s is refused here.
pub const MAX_EMBEDDING_INPUTS: usize = 2048;

/// Checks that an embeddings `input` array holds at most [`MAX_EMBEDDING_INPUTS`] inputs. A
/// token array (an array of integers) is one input.
fn check_input_count(input: &str) -> Result<(), GatewayError> {
    let Some(inner) = input.strip_prefix('[') else {
        return Ok(());
    };
    let one_token_array = inner
        .trim_start()
        .starts_with(|c: char| c.is_ascii_digit() || c == '-');
    if one_token_array {
        return Ok(());
    }
    // Counted without building anything (the elements are ignored, zero-sized).
    let items: Vec<serde::de::IgnoredAny> = serde_json::from_str(input).map_err(|_| {
        GatewayError::invalid(
            "Invalid 'input': expected a string or an array.",
            Some("input"),
        )
    })?;
    if items.len() > MAX_EMBEDDING_INPUTS {
        return Err(GatewayError::invalid(
            format!(
                "Invalid 'input': {} inputs; at most {MAX_EMBEDDING_INPUTS} per request.",
                items.len()
            ),
            Some("input"),
        ));
    }
    Ok(())
}

/// A chat completion request, checked at the top level.
#[derive(Debug)]
pub struct ChatRequest<'a> {
    /// The whole body as received.
    pub raw: &'a [u8],
    /// The request object with raw values.
    pub top: TopLevel<'a>,
    /// The model the client asked for.
    pub model: Cow<'a, str>,
    /// Whether the client wants SSE.
    pub stream: bool,
    /// Whether the client asked for the final usage chunk itself.
    pub include_usage: bool,
    /// `max_completion_tokens`, else `max_tokens`.
    pub max_tokens: Option<u64>,
}

/// An embeddings request, checked at the top level.
#[derive(Debug)]
pub struct EmbeddingsRequest<'a> {
    /// The request object with raw values.
    pub top: TopLevel<'a>,
    /// The model the client asked for.
    pub model: Cow<'a, str>,
}

#[derive(Deserialize)]
struct MessageHead<'a> {
    #[serde(borrow)]
    role: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

/// Parses the body as a JSON object, with OpenAI's wording when it is not one.
pub fn parse_object(body: &[u8]) -> Result<TopLevel<'_>, GatewayError> {
    TopLevel::parse(body).map_err(|e| {
        GatewayError::invalid(
            format!(
                "We could not parse the JSON body of your request ({e}). The request body must be a JSON object."
            ),
            None,
        )
    })
}

/// Reads an optional field as `T`; `null` counts as absent. `expected` names the type for the
/// error message.
fn field<'a, T: Deserialize<'a>>(
    top: &TopLevel<'a>,
    key: &str,
    expected: &str,
) -> Result<Option<T>, GatewayError> {
    match top.get(key) {
        None => Ok(None),
        Some(raw) if raw.get() == "null" => Ok(None),
        Some(raw) => serde_json::from_str(raw.get()).map(Some).map_err(|_| {
            GatewayError::invalid(
                format!("Invalid type for '{key}': expected {expected}."),
                Some(key),
            )
        }),
    }
}

/// Reads the required string `model`.
fn model<'a>(top: &TopLevel<'a>) -> Result<Cow<'a, str>, GatewayError> {
    let model = field::<Cow<'a, str>>(top, "model", "a string")?.unwrap_or_default();
    check_model(&model)?;
    Ok(model)
}

impl<'a> ChatRequest<'a> {
    /// Parses and checks a `/v1/chat/completions` body.
    pub fn parse(body: &'a [u8]) -> Result<Self, GatewayError> {
        let top = parse_object(body)?;
        let model = model(&top)?;
        let messages: Vec<MessageHead<'_>> =
            field(&top, "messages", "an array of message objects")?.ok_or_else(|| {
                GatewayError::invalid("Missing required parameter: 'messages'.", Some("messages"))
            })?;
        if messages.is_empty() {
            return Err(GatewayError::invalid(
                "Invalid 'messages': empty array. Expected an array with minimum length 1.",
                Some("messages"),
            ));
        }
        for (i, message) in messages.iter().enumerate() {
            match message.role.as_deref() {
                Some(role) if ROLES.contains(&role) => {}
                Some(role) => {
                    return Err(GatewayError::invalid(
                        format!(
                            "Invalid value for 'messages[{i}].role': '{role}' is not one of {ROLES:?}."
                        ),
                        Some(&format!("messages[{i}].role")),
                    ));
                }
                None => {
                    return Err(GatewayError::invalid(
                        format!("Missing required parameter: 'messages[{i}].role'."),
                        Some(&format!("messages[{i}].role")),
                    ));
                }
            }
        }
        let stream = field::<bool>(&top, "stream", "a boolean")?.unwrap_or(false);
        let options = field::<StreamOptions>(&top, "stream_options", "an object")?;
        let include_usage = options.and_then(|o| o.include_usage).unwrap_or(false);
        let mut max_tokens = None;
        for key in ["max_completion_tokens", "max_tokens"] {
            let value = field::<u64>(&top, key, "a non-negative integer")?;
            max_tokens = max_tokens.or(check_max_tokens(value, key)?);
        }
        for (key, expected) in [("temperature", "a number"), ("top_p", "a number")] {
            field::<f64>(&top, key, expected)?;
        }
        if field::<u64>(&top, "n", "a positive integer")? == Some(0) {
            return Err(GatewayError::invalid(
                "Invalid 'n': must be at least 1.",
                Some("n"),
            ));
        }
        Ok(Self {
            raw: body,
            top,
            model,
            stream,
            include_usage,
            max_tokens,
        })
    }
}

impl<'a> EmbeddingsRequest<'a> {
    /// Parses and checks a `/v1/embeddings` body.
    pub fn parse(body: &'a [u8]) -> Result<Self, GatewayError> {
        let top = parse_object(body)?;
        let model = model(&top)?;
        let input = top
            .get("input")
            .filter(|raw| raw.get() != "null")
            .ok_or_else(|| {
                GatewayError::invalid("Missing required parameter: 'input'.", Some("input"))
            })?;
        if !matches!(input.get().as_bytes().first(), Some(b'"' | b'[')) {
            return Err(GatewayError::invalid(
                "Invalid type for 'input': expected a string or an array.",
                Some("input"),
            ));
        }
        check_input_count(input.get())?;
        Ok(Self { top, model })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_requests() {
        let ok = [
            (
                r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#,
                false,
                false,
                None,
            ),
            (
                r#"{"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":"u"}],"stream":true,"stream_options":{"include_usage":true},"max_tokens":5}"#,
                true,
                true,
                Some(5),
            ),
            (
                r#"{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":5,"max_completion_tokens":9,"stream":null}"#,
                false,
                false,
                Some(9),
            ),
        ];
        for (body, stream, include_usage, max_tokens) in ok {
            let req = ChatRequest::parse(body.as_bytes()).unwrap();
            assert_eq!(req.model, "m");
            assert_eq!(
                (req.stream, req.include_usage, req.max_tokens),
                (stream, include_usage, max_tokens),
                "{body}"
            );
        }
    }

    #[test]
    fn bad_chat_requests_name_the_param() {
        let cases = [
            ("{not json", None),
            ("[]", None),
            (
                r#"{"messages":[{"role":"user","content":"x"}]}"#,
                Some("model"),
            ),
            (r#"{"model":7,"messages":[]}"#, Some("model")),
            (r#"{"model":"m"}"#, Some("messages")),
            (r#"{"model":"m","messages":"hi"}"#, Some("messages")),
            (r#"{"model":"m","messages":[]}"#, Some("messages")),
            (
                r#"{"model":"m","messages":[{"content":"x"}]}"#,
                Some("messages[0].role"),
            ),
            (
                r#"{"model":"m","messages":[{"role":"wizard"}]}"#,
                Some("messages[0].role"),
            ),
            (
                r#"{"model":"m","messages":[{"role":"user"}],"stream":"yes"}"#,
                Some("stream"),
            ),
            (
                r#"{"model":"m","messages":[{"role":"user"}],"max_tokens":-1}"#,
                Some("max_tokens"),
            ),
            (
                r#"{"model":"m","messages":[{"role":"user"}],"temperature":"hot"}"#,
                Some("temperature"),
            ),
            (
                r#"{"model":"m","messages":[{"role":"user"}],"n":0}"#,
                Some("n"),
            ),
            (
                r#"{"model":"m","messages":[{"role":"user"}],"stream_options":3}"#,
                Some("stream_options"),
            ),
            (
                r#"{"model":"m","messages":[{"role":"user"}],"max_tokens":18446744073709551615}"#,
                Some("max_tokens"),
            ),
            (
                r#"{"model":"m","messages":[{"role":"user"}],"max_completion_tokens":16777217}"#,
                Some("max_completion_tokens"),
            ),
            (
                r#"{"model":"","messages":[{"role":"user"}]}"#,
                Some("model"),
            ),
            (
                r#"{"model":"a\nb","messages":[{"role":"user"}]}"#,
                Some("model"),
            ),
        ];
        for (body, param) in cases {
            let err = ChatRequest::parse(body.as_bytes()).unwrap_err();
            assert_eq!(err.status().as_u16(), 400, "{body}");
            assert_eq!(err.param(), param, "{body}");
        }
        let long = serde_json::json!({"model": "m".repeat(MAX_MODEL_BYTES + 1),
            "messages": [{"role": "user"}]})
        .to_string();
        let err = ChatRequest::parse(long.as_bytes()).unwrap_err();
        assert_eq!(err.param(), Some("model"));
        let longest = serde_json::json!({"model": "m".repeat(MAX_MODEL_BYTES),
            "messages": [{"role": "user"}], "max_tokens": MAX_OUTPUT_TOKENS})
        .to_string();
        assert!(ChatRequest::parse(longest.as_bytes()).is_ok());
    }

    #[test]
    fn embeddings_requests() {
        assert!(EmbeddingsRequest::parse(br#"{"model":"e","input":"hi"}"#).is_ok());
        assert!(EmbeddingsRequest::parse(br#"{"model":"e","input":["a","b"]}"#).is_ok());
        let tokens = format!(
            r#"{{"model":"e","input":[{}1]}}"#,
            "1,".repeat(3 * MAX_EMBEDDING_INPUTS)
        );
        assert!(
            EmbeddingsRequest::parse(tokens.as_bytes()).is_ok(),
            "one token array"
        );
        let most = format!(
            r#"{{"model":"e","input":[{}"x"]}}"#,
            "\"x\",".repeat(MAX_EMBEDDING_INPUTS - 1)
        );
        assert!(EmbeddingsRequest::parse(most.as_bytes()).is_ok());
        let too_many = format!(
            r#"{{"model":"e","input":[{}[]]}}"#,
            "[],".repeat(MAX_EMBEDDING_INPUTS)
        );
        for body in [
            r#"{"model":"e"}"#,
            r#"{"model":"e","input":5}"#,
            r#"{"input":"x"}"#,
            r#"{"model":"e","input":null}"#,
            too_many.as_str(),
        ] {
            assert_eq!(
                EmbeddingsRequest::parse(body.as_bytes())
                    .unwrap_err()
                    .status()
                    .as_u16(),
                400,
                "{body}"
            );
        }
    }
}
