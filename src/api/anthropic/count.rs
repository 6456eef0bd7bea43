//! A token estimate for a Messages request without a tokenizer: the bytes of its text (system,
//! messages, tools), read by a serde visitor that walks the raw JSON without building it, and
//! skips what is not text (block types, base64 payloads, signatures).

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
    PROMPT_FIELDS
        .iter()
        .filter_map(|key| top.get(key))
        .map(|raw| {
            let mut de = serde_json::Deserializer::from_str(raw.get());
            TextBytes.deserialize(&mut de).unwrap_or(0)
        })
        .sum()
}

/// Estimated input tokens of a Messages request.
pub fn estimate(top: &TopLevel<'_>) -> u64 {
    tokens::estimate_from_bytes(text_bytes(top))
}

/// `{"input_tokens": N}`, the body of a `count_tokens` answer.
pub fn count_tokens_body(top: &TopLevel<'_>) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "input_tokens": estimate(top) })).unwrap_or_default()
}

/// Sums the lengths of the string values of a JSON document.
struct TextBytes;

impl<'de> DeserializeSeed<'de> for TextBytes {
    type Value = usize;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TextBytes {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E>(self, v: &str) -> Result<usize, E> {
        Ok(v.len())
    }

    fn visit_bool<E>(self, _: bool) -> Result<usize, E> {
        Ok(0)
    }

    fn visit_i64<E>(self, _: i64) -> Result<usize, E> {
        Ok(0)
    }

    fn visit_u64<E>(self, _: u64) -> Result<usize, E> {
        Ok(0)
    }

    fn visit_f64<E>(self, _: f64) -> Result<usize, E> {
        Ok(0)
    }

    fn visit_unit<E>(self) -> Result<usize, E> {
        Ok(0)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
        let mut total = 0;
        while let Some(bytes) = seq.next_element_seed(TextBytes)? {
            total += bytes;
        }
        Ok(total)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<usize, A::Error> {
        let mut total = 0;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if SKIPPED_KEYS.contains(&key.as_ref()) {
                map.next_value::<IgnoredAny>()?;
            } else {
                total += map.next_value_seed(TextBytes)?;
            }
        }
        Ok(total)
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
        let top =
            TopLevel::parse(br#"{"messages":[{"role":"user","content":"abcdefgh"}]}"#).unwrap();
        assert_eq!(
            String::from_utf8(count_tokens_body(&top)).unwrap(),
            r#"{"input_tokens":2}"#
        );
    }
}
