//! Pieces every translating adapter (Anthropic, Gemini, Ollama) needs, written once: the typed
//! request, data URLs, tool-call arguments as objects, tool-call ids, system text, and the
//! function name a tool result answers.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use crate::error::GatewayError;
use crate::telemetry::ids;
use crate::types::ChatRequest;
use crate::types::chat::{ChatCompletionRequest, Message, Role};

/// The request as typed canonical structs (400 naming the problem when it does not fit).
pub fn typed_request(request: &ChatRequest<'_>) -> Result<ChatCompletionRequest, GatewayError> {
    serde_json::from_slice(request.raw)
        .map_err(|e| GatewayError::invalid(format!("Invalid chat completion request: {e}"), None))
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

/// A fresh completion id.
pub fn new_completion_id() -> String {
    format!(
        "chatcmpl-{:016x}{:016x}",
        ids::random_u64(),
        ids::random_u64()
    )
}

/// Seconds since the epoch, for `created`.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
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

/// The standard base64 alphabet (RFC 4648).
const BASE64_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (e.g. OpenAI's `encoding_format: base64` embeddings).
pub fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    // Every 3 bytes become 4 six-bit digits; a short last group is padded with `=`.
    for chunk in bytes.chunks(3) {
        let byte = |i: usize| chunk.get(i).copied().unwrap_or(0);
        let digits = [
            byte(0) >> 2,
            (byte(0) & 0x03) << 4 | byte(1) >> 4,
            (byte(1) & 0x0f) << 2 | byte(2) >> 6,
            byte(2) & 0x3f,
        ];
        for (i, digit) in digits.into_iter().enumerate() {
            out.push(if i <= chunk.len() {
                char::from(BASE64_ALPHABET[usize::from(digit)])
            } else {
                '='
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::chat::{FunctionCall, ToolCall};

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
    fn base64_matches_rfc_4648() {
        let cases: [(&[u8], &str); 6] = [
            (b"", ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foobar", "Zm9vYmFy"),
            (&[0xff, 0xfe, 0x00, 0x80], "//4AgA=="),
        ];
        for (input, want) in cases {
            assert_eq!(base64_encode(input), want, "{input:?}");
        }
    }
}
