//! A top-level-only view of a JSON object: keys with their raw values, in order. It lets the hot
//! path read a few fields and rewrite `model` without building a typed tree of the whole body,
//! so unknown fields pass through byte for byte.

use std::borrow::Cow;
use std::fmt;

use serde::Deserializer;
use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde_json::value::RawValue;

/// A parsed JSON object whose values are still raw text.
#[derive(Debug)]
pub struct TopLevel<'a> {
    fields: Vec<(Cow<'a, str>, &'a RawValue)>,
}

/// Expected number of top-level fields in a chat request; avoids regrowing the vector.
const TYPICAL_FIELDS: usize = 16;

impl<'a> TopLevel<'a> {
    /// Parses `bytes` as a JSON object (the whole document is validated). A key given twice is
    /// an error: parsers disagree on which value wins (the first, the last), so a body the
    /// gateway reads one way could reach the upstream read the other way.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let fields = de.deserialize_map(FieldsVisitor)?;
        de.end()?;
        Ok(Self { fields })
    }

    /// The raw value of `key`.
    pub fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.fields
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| *v)
    }

    /// Whether `key` is present with a non-null value.
    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some_and(|v| v.get() != "null")
    }

    /// Iterates the fields in document order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &'a RawValue)> {
        self.fields.iter().map(|(k, v)| (k.as_ref(), *v))
    }

    /// Serializes the object again with some fields replaced (or appended when absent). Each
    /// replacement is raw JSON text; every other field is copied byte for byte.
    pub fn write_with(&self, replacements: &[(&str, &str)]) -> Vec<u8> {
        self.write_edited(&[], replacements)
    }

    /// [`TopLevel::write_with`] that also leaves out the fields named in `removed` (an upstream
    /// that names the model in its URL refuses a `model` field).
    pub fn write_edited(&self, removed: &[&str], replacements: &[(&str, &str)]) -> Vec<u8> {
        let capacity = self
            .fields
            .iter()
            .map(|(k, v)| k.len() + v.get().len() + 4)
            .sum::<usize>()
            + replacements
                .iter()
                .map(|(k, v)| k.len() + v.len() + 4)
                .sum::<usize>()
            + 2;
        let mut out = Vec::with_capacity(capacity);
        out.push(b'{');
        let mut first = true;
        let mut push = |out: &mut Vec<u8>, key: &str, value: &str| {
            if !first {
                out.push(b',');
            }
            first = false;
            write_key(out, key);
            out.push(b':');
            out.extend_from_slice(value.as_bytes());
        };
        for (key, value) in &self.fields {
            if removed.contains(&key.as_ref()) {
                continue;
            }
            match replacements.iter().find(|(k, _)| k == key) {
                Some((_, replacement)) => push(&mut out, key, replacement),
                None => push(&mut out, key, value.get()),
            }
        }
        for (key, value) in replacements {
            if !self.fields.iter().any(|(k, _)| k == key) {
                push(&mut out, key, value);
            }
        }
        out.push(b'}');
        out
    }
}

/// Writes a JSON string (quoted, escaped) for an object key.
fn write_key(out: &mut Vec<u8>, key: &str) {
    if key.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(key.as_bytes());
        out.push(b'"');
    } else {
        // Serializing a &str into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, key);
    }
}

/// Most JSON values a request that is translated (parsed whole) may hold. A typed parse costs
/// tens of bytes per value, whatever the value's size in the text: 10 MB of `[0,0,0,…]` would
/// take hundreds of MB, while real requests (text, images as base64 strings, tools, long
/// conversations) hold at most a few thousand values.
pub const MAX_REQUEST_VALUES: usize = 1 << 16;

/// Most JSON values an upstream answer that is parsed whole may hold: the largest real ones
/// (embedding batches) hold a few hundred thousand numbers.
pub const MAX_ANSWER_VALUES: usize = 1 << 20;

/// Whether the JSON text `bytes` holds at most `limit` values (counted from its structure:
/// one per value separator or opening bracket, string contents skipped). Linear, no
/// allocation; the text need not be valid (a parse will say so).
pub fn values_within(bytes: &[u8], limit: usize) -> bool {
    let mut count = 1usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b',' | b'[' | b'{' => {
                count += 1;
                if count > limit {
                    return false;
                }
            }
            _ => {}
        }
    }
    true
}

/// Where the value of the top-level `key` of the JSON object `bytes` starts: the rest of the
/// document from that value on (a parser reads one value from it and stops). `None` when the
/// key is absent, given twice (which value counts is ambiguous), or the text is not an object.
///
/// One pass over the structure, string contents skipped with `memchr`: reading an upstream's
/// `usage` this way cost a fifth of a full validating parse of its answer, which the gateway
/// forwards as it came anyway. Text that is not valid JSON may still yield a value; the caller
/// parses that value and gets an error if it is not one.
pub fn top_level<'a>(bytes: &'a [u8], key: &str) -> Option<&'a [u8]> {
    let mut depth = 0usize;
    let mut found = None;
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        match byte {
            b'"' => {
                let end = string_end(bytes, at)?;
                if depth == 1 && key_matches(&bytes[at..=end], key) {
                    let after = end + 1 + whitespace(&bytes[end + 1..]);
                    if bytes.get(after) == Some(&b':') {
                        if found.is_some() {
                            return None;
                        }
                        found = Some(after + 1);
                    }
                }
                at = end + 1;
            }
            b'{' | b'[' => {
                if depth == 0 && byte == b'[' {
                    return None;
                }
                depth += 1;
                at += 1;
            }
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                at += 1;
            }
            _ => at += 1,
        }
    }
    let value = found?;
    Some(&bytes[value + whitespace(&bytes[value..])..])
}

/// The index of the quote that closes the string opening at `start`.
fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut at = start + 1;
    loop {
        let next = at + memchr::memchr2(b'"', b'\\', bytes.get(at..)?)?;
        if bytes[next] == b'"' {
            return Some(next);
        }
        // A backslash escapes the byte after it (`\u` escapes have no quote to hide).
        at = next + 2;
    }
}

/// Whether the JSON string `quoted` (quotes included) spells `key`; escapes are decoded only
/// when there are any, which an upstream's keys never have.
fn key_matches(quoted: &[u8], key: &str) -> bool {
    let raw = &quoted[1..quoted.len() - 1];
    if !raw.contains(&b'\\') {
        return raw == key.as_bytes();
    }
    serde_json::from_slice::<Cow<'_, str>>(quoted).is_ok_and(|decoded| decoded == key)
}

/// Bytes of JSON whitespace at the start of `bytes`.
fn whitespace(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .count()
}

/// Encodes a string as a JSON string literal.
pub fn json_string(value: &str) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| String::from("\"\""))
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = Vec<(Cow<'de, str>, &'de RawValue)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = Vec::with_capacity(TYPICAL_FIELDS);
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let value: &'de RawValue = map.next_value()?;
            fields.push((key, value));
        }
        match repeated_key(&fields) {
            Some(key) => Err(de::Error::custom(format_args!("duplicate key `{key}`"))),
            None => Ok(fields),
        }
    }
}

/// Fields past which the duplicate check sorts instead of comparing every pair (a body with many
/// keys must not cost quadratic time).
const PAIRWISE_FIELDS: usize = 32;

/// A key that occurs more than once, if any.
fn repeated_key<'f, V>(fields: &'f [(Cow<'_, str>, V)]) -> Option<&'f str> {
    if fields.len() <= PAIRWISE_FIELDS {
        return fields.iter().enumerate().find_map(|(i, (key, _))| {
            fields[..i]
                .iter()
                .any(|(earlier, _)| earlier == key)
                .then_some(key.as_ref())
        });
    }
    let mut keys: Vec<&str> = fields.iter().map(|(key, _)| key.as_ref()).collect();
    keys.sort_unstable();
    keys.windows(2)
        .find(|pair| pair[0] == pair[1])
        .map(|pair| pair[0])
}

/// Borrows keys from the input when they contain no escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_only_what_it_is_told() {
        let cases = [
            (
                r#"{"model":"a","messages":[{"role":"user","content":"hi"}],"x_unknown":{"k":[1,2]}}"#,
                vec![("model", r#""b""#)],
                r#"{"model":"b","messages":[{"role":"user","content":"hi"}],"x_unknown":{"k":[1,2]}}"#,
            ),
            (
                r#"{ "stream" : true , "model":"a" }"#,
                vec![
                    ("model", r#""b""#),
                    ("stream_options", r#"{"include_usage":true}"#),
                ],
                r#"{"stream":true,"model":"b","stream_options":{"include_usage":true}}"#,
            ),
            (r#"{"a\"b":1}"#, vec![], r#"{"a\"b":1}"#),
            (r#"{}"#, vec![("model", r#""m""#)], r#"{"model":"m"}"#),
        ];
        for (input, replacements, want) in cases {
            let top = TopLevel::parse(input.as_bytes()).unwrap();
            let out = top.write_with(&replacements);
            assert_eq!(std::str::from_utf8(&out).unwrap(), want, "{input}");
        }
    }

    #[test]
    fn removes_fields_it_is_told_to() {
        let top = TopLevel::parse(br#"{"model":"a","max_tokens":5,"stream":true}"#).unwrap();
        let out = top.write_edited(&["model"], &[("anthropic_version", r#""v""#)]);
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"{"max_tokens":5,"stream":true,"anthropic_version":"v"}"#
        );
    }

    #[test]
    fn values_are_counted_from_the_structure() {
        let cases: [(&str, usize, bool); 7] = [
            ("{}", 2, true),
            (r#"{"a":[1,2,3]}"#, 5, true),
            (r#"{"a":[1,2,3]}"#, 4, false),
            (r#"{"a":"[,,,{{{"}"#, 2, true),
            (r#"{"a":"\",[,,,"}"#, 2, true),
            (r#"["a\\",1,2]"#, 4, true),
            (r#"["a\\",1,2]"#, 3, false),
        ];
        for (text, limit, want) in cases {
            assert_eq!(
                values_within(text.as_bytes(), limit),
                want,
                "{text} within {limit}"
            );
        }
        let zeros = format!("[{}0]", "0,".repeat(MAX_ANSWER_VALUES));
        assert!(!values_within(zeros.as_bytes(), MAX_ANSWER_VALUES));
    }

    #[test]
    fn rejects_non_objects_and_garbage() {
        for input in ["[1]", "\"s\"", "{", "{\"a\":1} x", "", "{\"a\":}"] {
            assert!(TopLevel::parse(input.as_bytes()).is_err(), "{input}");
        }
    }

    #[test]
    fn reads_fields() {
        let top = TopLevel::parse(br#"{"model":"m","stream":null,"n":2}"#).unwrap();
        assert_eq!(top.get("model").map(RawValue::get), Some(r#""m""#));
        assert!(!top.has("stream"));
        assert!(!top.has("absent"));
        assert_eq!(top.iter().count(), 3);
    }

    #[test]
    fn a_key_given_twice_is_refused() {
        let many: String = (0..PAIRWISE_FIELDS * 4)
            .map(|i| format!(r#""k{i}":{i},"#))
            .collect();
        let cases = [
            (
                r#"{"model":"cheap","model":"expensive"}"#.to_owned(),
                Some("model"),
            ),
            (
                r#"{"model":"a","m\u006fdel":"b"}"#.to_owned(),
                Some("model"),
            ),
            (format!(r#"{{{many}"k7":0}}"#), Some("k7")),
            (format!(r#"{{{many}"last":0}}"#), None),
            (r#"{"a":{"x":1,"x":2}}"#.to_owned(), None),
        ];
        for (body, repeated) in cases {
            let parsed = TopLevel::parse(body.as_bytes());
            match repeated {
                Some(key) => {
                    let error = parsed.unwrap_err().to_string();
                    assert!(error.contains(&format!("duplicate key `{key}`")), "{error}");
                }
                None => assert!(parsed.is_ok(), "{body}"),
            }
        }
    }
}
