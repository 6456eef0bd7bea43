//! Prompt and completion text in the log, for `logging.log_content: true` only (off by default:
//! prompts are the most sensitive data a gateway sees). The text is pulled out of the request
//! body and the response the client got, bounded, and logged once per request on the `content`
//! target; like every log line it then passes the redaction layer (keys, secrets, personal data).
//!
//! Nothing here runs when the option is off: the request record holds no transcript, so the hot
//! path pays one branch.

use serde_json::Value;

/// Most bytes of prompt, and of completion, text one log line carries.
pub const MAX_TEXT_BYTES: usize = 16 * 1024;
/// Most response bytes kept to pull the completion from: stream framing (`data: {…}` around
/// each delta) is several times the text it carries.
const MAX_CAPTURE_BYTES: usize = 8 * MAX_TEXT_BYTES;
/// Object keys whose string values are text a person wrote or a model generated, in the OpenAI,
/// Anthropic and embeddings formats (requests, responses and stream deltas alike).
const TEXT_KEYS: [&str; 9] = [
    "content",
    "text",
    "input",
    "prompt",
    "system",
    "arguments",
    "partial_json",
    "thinking",
    "refusal",
];
/// Marks where text was cut at [`MAX_TEXT_BYTES`].
const ELLIPSIS: &str = "…";

/// One request's prompt and the response bytes seen so far.
#[derive(Debug, Default)]
pub struct Transcript {
    prompt: String,
    response: Vec<u8>,
    response_cut: bool,
}

impl Transcript {
    /// Keeps the text of a request body (JSON; other bodies, e.g. audio uploads, have none).
    pub fn of_request(body: &[u8]) -> Self {
        let prompt = serde_json::from_slice::<Value>(body)
            .map(|value| text_of(&value))
            .unwrap_or_default();
        Self {
            prompt,
            ..Self::default()
        }
    }

    /// Keeps response bytes (a whole body or a stream frame) up to the capture bound.
    pub fn observe(&mut self, bytes: &[u8]) {
        let room = MAX_CAPTURE_BYTES.saturating_sub(self.response.len());
        self.response_cut |= bytes.len() > room;
        self.response
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// Logs the prompt and completion of request `request_id`.
    pub fn log(&self, request_id: &str, trace_id: Option<&str>) {
        let completion = completion_text(&self.response);
        let (prompt, prompt_cut) = bounded(&self.prompt);
        let (completion, completion_cut) = bounded(&completion);
        tracing::info!(
            target: "content",
            request_id,
            trace_id,
            prompt = %prompt,
            completion = %completion,
            truncated = prompt_cut || completion_cut || self.response_cut,
            "request content"
        );
    }
}

/// The generated text of a response: a JSON body, or the `data:` events of a stream (OpenAI or
/// Anthropic), joined in order.
fn completion_text(response: &[u8]) -> String {
    if let Ok(value) = serde_json::from_slice::<Value>(response) {
        return text_of(&value);
    }
    let mut text = String::new();
    for line in response.split(|&b| b == b'\n') {
        let Some(data) = line.strip_prefix(b"data:") else {
            continue;
        };
        if let Ok(value) = serde_json::from_slice::<Value>(data.trim_ascii()) {
            collect(&value, false, &mut text, "");
        }
    }
    text
}

/// Every text value in `value`, one per line.
fn text_of(value: &Value) -> String {
    let mut text = String::new();
    collect(value, false, &mut text, "\n");
    text
}

/// Appends the strings under [`TEXT_KEYS`] (at any depth) to `out`, each after `separator`.
fn collect(value: &Value, is_text: bool, out: &mut String, separator: &str) {
    match value {
        Value::String(s) if is_text => {
            if !out.is_empty() {
                out.push_str(separator);
            }
            out.push_str(s);
        }
        Value::Array(items) => items
            .iter()
            .for_each(|item| collect(item, is_text, out, separator)),
        Value::Object(fields) => {
            for (key, field) in fields {
                collect(field, TEXT_KEYS.contains(&key.as_str()), out, separator);
            }
        }
        _ => {}
    }
}

/// `text` cut to [`MAX_TEXT_BYTES`] at a character boundary; and whether it was cut.
fn bounded(text: &str) -> (std::borrow::Cow<'_, str>, bool) {
    if text.len() <= MAX_TEXT_BYTES {
        return (text.into(), false);
    }
    let mut end = MAX_TEXT_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (format!("{}{ELLIPSIS}", &text[..end]).into(), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_text_comes_from_every_request_format() {
        let cases = [
            (
                r#"{"model":"m","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"Hi"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]}]}"#,
                "Be brief.\nHi",
            ),
            (
                r#"{"model":"m","system":"Be kind.","messages":[{"role":"user","content":"Hello"}],"max_tokens":5}"#,
                "Be kind.\nHello",
            ),
            (r#"{"model":"e","input":["one","two"]}"#, "one\ntwo"),
            (
                r#"{"messages":[{"role":"assistant","tool_calls":[{"id":"c1","function":{"name":"f","arguments":"{\"x\":1}"}}]}]}"#,
                "{\"x\":1}",
            ),
            ("not json", ""),
        ];
        for (body, want) in cases {
            assert_eq!(
                Transcript::of_request(body.as_bytes()).prompt,
                want,
                "{body}"
            );
        }
    }

    #[test]
    fn completion_text_comes_from_bodies_and_streams() {
        let cases = [
            (
                r#"{"choices":[{"message":{"role":"assistant","content":"Hello there"}}],"usage":{"prompt_tokens":3}}"#,
                "Hello there",
            ),
            (
                "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"Hel\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\ndata: [DONE]\n\n",
                "Hello",
            ),
            (
                "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"Bonjour\"}}\n\n",
                "Bonjour",
            ),
            ("", ""),
        ];
        for (response, want) in cases {
            assert_eq!(completion_text(response.as_bytes()), want, "{response}");
        }
    }

    #[test]
    fn text_is_bounded_at_a_character_boundary() {
        let long = "é".repeat(MAX_TEXT_BYTES);
        let (cut, was_cut) = bounded(&long);
        assert!(was_cut);
        assert!(cut.len() <= MAX_TEXT_BYTES + ELLIPSIS.len());
        assert!(cut.ends_with(ELLIPSIS));
        assert_eq!(bounded("short"), ("short".into(), false));
    }

    #[test]
    fn capture_stops_at_its_bound() {
        let mut transcript = Transcript::default();
        transcript.observe(&vec![b'x'; MAX_CAPTURE_BYTES - 1]);
        assert!(!transcript.response_cut);
        transcript.observe(b"yz");
        assert!(transcript.response_cut);
        assert_eq!(transcript.response.len(), MAX_CAPTURE_BYTES);
    }
}
