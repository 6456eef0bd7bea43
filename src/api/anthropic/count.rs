//! Token counts for a Messages request: its text (system, messages, tools), read by a serde
//! visitor that walks the raw JSON without building it and skips what is not text (block types,
//! base64 payloads, signatures). Admission uses the byte length; `count_tokens` answers with
//! the tokenizer's count once it is built (see `tokens`).

use std::borrow::Cow;
use std::fmt;

use serde::Deserializer;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::tokens;
use crate::types::TopLevel;

/// The request fields that hold prompt text.
const PROMPT_FIELDS: [&str; 3] = ["system", "messages", "tools"];
/// Keys whose string values are not read by the model as text: structure (`type`, `role`,
/// `media_type`), base64 payloads (`data`, which an image is not tokenized from) and opaque
/// thinking signatures.
const SKIPPED_KEYS: [&str; 5] = ["type", "role", "media_type", "data", "signature"];

/// Bytes of prompt text in a Messages request.
pub fn text_bytes(top: &TopLevel<'_>) -> usize {
    let mut bytes = 0;
    walk(top, &mut bytes);
    bytes
}

/// The prompt text of a Messages request, one line per text value.
pub fn prompt_text(top: &TopLevel<'_>) -> String {
    let mut text = String::new();
    walk(top, &mut text);
    text
}

/// Feeds every text value of the prompt fields to `sink`.
fn walk(top: &TopLevel<'_>, sink: &mut impl Sink) {
    for raw in PROMPT_FIELDS.iter().filter_map(|key| top.get(key)) {
        let mut de = serde_json::Deserializer::from_str(raw.get());
        // A malformed field adds nothing; the request's own parse reports it.
        let _ = Texts(&mut *sink).deserialize(&mut de);
    }
}

/// Estimated input tokens of a Messages request.
pub fn estimate(top: &TopLevel<'_>) -> u64 {
    tokens::estimate_from_bytes(text_bytes(top))
}

/// Prompt text counted on the request's own thread at most (about 0.3 ms of encoding); a longer
/// prompt is counted on the blocking pool so it never stalls other requests on this worker.
const INLINE_COUNT_BYTES: usize = 8 * 1024;

/// `{"input_tokens": N}`, the body of a `count_tokens` answer: the tokenizer's count of the
/// prompt text when it is built, else the calibrated estimate.
pub async fn count_tokens_body(top: &TopLevel<'_>) -> Vec<u8> {
    let text = prompt_text(top);
    let bytes = text.len();
    let tokens = if bytes <= INLINE_COUNT_BYTES {
        tokens::count_text(&text).tokens
    } else {
        tokio::task::spawn_blocking(move || tokens::count_text(&text).tokens)
            .await
            .unwrap_or_else(|_| tokens::estimate_from_bytes(bytes))
    };
    serde_json::to_vec(&serde_json::json!({ "input_tokens": tokens })).unwrap_or_default()
}

/// Where the walk puts the text values it finds.
trait Sink {
    fn text(&mut self, text: &str);
}

/// Counts bytes.
impl Sink for usize {
    fn text(&mut self, text: &str) {
        *self += text.len();
    }
}

/// Collects the text, one value per line (so words of two values do not merge into one token).
impl Sink for String {
    fn text(&mut self, text: &str) {
        if !self.is_empty() {
            self.push('\n');
        }
        self.push_str(text);
    }
}

/// Walks a JSON document, handing its string values to the sink.
struct Texts<'s, S>(&'s mut S);

impl<'de, S: Sink> DeserializeSeed<'de> for Texts<'_, S> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, S: Sink> Visitor<'de> for Texts<'_, S> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.0.text(v);
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Texts(&mut *self.0))?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if SKIPPED_KEYS.contains(&key.as_ref()) {
                map.next_value::<IgnoredAny>()?;
            } else {
                map.next_value_seed(Texts(&mut *self.0))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_text_only() {
        let cases = [
            (
                r#"{"model":"m","messages":[{"role":"user","content":"abcd"}]}"#,
                4,
            ),
            (
                r#"{"system":"12345678","messages":[{"role":"user","content":[{"type":"text","text":"abcd"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAAAAAAAAAAAAAA"}}]}]}"#,
                12,
            ),
            (
                r#"{"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":{"n":1,"ok":true,"x":null}}]}],"tools":[{"name":"f","description":"abc"}]}"#,
                "tff".len() + "abc".len(),
            ),
            (r#"{"messages":[]}"#, 0),
        ];
        for (body, want) in cases {
            let top = TopLevel::parse(body.as_bytes()).unwrap();
            assert_eq!(text_bytes(&top), want, "{body}");
        }
    }

    #[tokio::test]
    async fn count_tokens_uses_the_tokenizer_once_built() {
        assert!(tokens::warm_blocking());
        // Short prompts are counted inline, long ones on the blocking pool: same answer.
        let long = "word ".repeat(2 * INLINE_COUNT_BYTES / 5);
        for text in ["Hello, world!", long.as_str()] {
            let body = serde_json::json!({"model": "claude-sonnet-4-5", "system": "Be brief.",
                "messages": [{"role": "user", "content": [{"type": "text", "text": text}]}]});
            let body = body.to_string();
            let top = TopLevel::parse(body.as_bytes()).unwrap();
            let prompt = format!("Be brief.\n{text}");
            assert_eq!(prompt_text(&top), prompt);
            let want = tokens::count_text(&prompt);
            assert!(want.exact);
            assert_eq!(
                String::from_utf8(count_tokens_body(&top).await).unwrap(),
                format!(r#"{{"input_tokens":{}}}"#, want.tokens)
            );
        }
    }
}
