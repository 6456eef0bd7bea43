//! Token usage in the gateway's canonical (OpenAI) terms, and its OpenAI wire form.

#![allow(
    missing_docs,
    reason = "wire types mirror the providers' documented JSON field for field: a doc that restates a field's name says nothing"
)]

use serde::{Deserialize, Serialize};

/// Tokens one request used. `input` includes `cached`; `output` includes `reasoning`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Prompt tokens, cached ones included.
    pub input: u64,
    /// Completion tokens, reasoning included.
    pub output: u64,
    /// The cached subset of `input`.
    pub cached: u64,
    /// The reasoning subset of `output`.
    pub reasoning: u64,
}

/// OpenAI's `usage` object as it appears on the wire.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct OpenAiUsage {
    /// Prompt tokens (`input_tokens` in the Responses API).
    #[serde(default, alias = "input_tokens")]
    pub prompt_tokens: u64,
    /// Completion tokens (absent for embeddings; `output_tokens` in the Responses API).
    #[serde(default, alias = "output_tokens")]
    pub completion_tokens: u64,
    #[serde(default)]
    pub total_tokens: u64,
    /// Prompt breakdown.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "input_tokens_details"
    )]
    pub prompt_tokens_details: Option<PromptDetails>,
    /// Completion breakdown.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "output_tokens_details"
    )]
    pub completion_tokens_details: Option<CompletionDetails>,
}

/// `usage.prompt_tokens_details`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct PromptDetails {
    /// Cached prompt tokens.
    #[serde(default)]
    pub cached_tokens: Option<u64>,
}

/// `usage.completion_tokens_details`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct CompletionDetails {
    #[serde(default)]
    pub reasoning_tokens: Option<u64>,
}

impl From<&OpenAiUsage> for Usage {
    fn from(u: &OpenAiUsage) -> Self {
        Self {
            input: u.prompt_tokens,
            output: u.completion_tokens,
            cached: u
                .prompt_tokens_details
                .as_ref()
                .and_then(|d| d.cached_tokens)
                .unwrap_or(0),
            reasoning: u
                .completion_tokens_details
                .as_ref()
                .and_then(|d| d.reasoning_tokens)
                .unwrap_or(0),
        }
    }
}

impl From<Usage> for OpenAiUsage {
    fn from(u: Usage) -> Self {
        Self {
            prompt_tokens: u.input,
            completion_tokens: u.output,
            total_tokens: u.input.saturating_add(u.output),
            prompt_tokens_details: Some(PromptDetails {
                cached_tokens: Some(u.cached),
            }),
            completion_tokens_details: Some(CompletionDetails {
                reasoning_tokens: Some(u.reasoning),
            }),
        }
    }
}

/// Reads the first `"usage": {…}` object anywhere in a JSON payload (top level or nested, as in
/// the Responses API's `response.completed` event) without parsing the rest. Linear in the
/// payload: a parse that fails has read up to where it failed, and the search resumes there
/// (an upstream repeating `"usage":{` inside one object cannot make every match re-read the
/// rest of it).
pub fn usage_anywhere(data: &[u8]) -> Option<Usage> {
    const KEY: &[u8] = b"\"usage\":";
    let finder = memchr::memmem::Finder::new(KEY);
    let mut from = 0;
    while let Some(found) = data.get(from..).and_then(|rest| finder.find(rest)) {
        let value = from + found + KEY.len();
        let rest = &data[value..];
        let start = rest.iter().position(|b| !b.is_ascii_whitespace())?;
        if rest[start] != b'{' {
            from = value;
            continue;
        }
        let object = &rest[start..];
        let mut de = serde_json::Deserializer::from_slice(object);
        match <OpenAiUsage as Deserialize>::deserialize(&mut de) {
            Ok(usage) => return Some(Usage::from(&usage)),
            Err(e) => from = value + start + offset_of(object, e.line(), e.column()).max(1),
        }
    }
    None
}

/// The byte offset of 1-based `line` and `column` (serde_json's error position) in `data`.
fn offset_of(data: &[u8], line: usize, column: usize) -> usize {
    let line_start = if line <= 1 {
        0
    } else {
        match memchr::memchr_iter(b'\n', data).nth(line - 2) {
            Some(newline) => newline + 1,
            None => return data.len(),
        }
    };
    (line_start + column.saturating_sub(1)).min(data.len())
}

/// Finds the top-level `usage` of a JSON response body without parsing the rest of it.
pub fn usage_in(body: &[u8]) -> Option<Usage> {
    let value = super::json::top_level(body, "usage")?;
    serde_json::Deserializer::from_slice(value)
        .into_iter::<Option<OpenAiUsage>>()
        .next()?
        .ok()
        .flatten()
        .map(|u| Usage::from(&u))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_usage_from_bodies() {
        let cases = [
            (
                r#"{"id":"x","usage":{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":2}}}"#,
                Some(Usage {
                    input: 19,
                    output: 10,
                    cached: 4,
                    reasoning: 2,
                }),
            ),
            (
                r#"{"object":"list","usage":{"prompt_tokens":8,"total_tokens":8}}"#,
                Some(Usage {
                    input: 8,
                    ..Usage::default()
                }),
            ),
            (r#"{"usage":null}"#, None),
            (r#"{"choices":[]}"#, None),
            ("not json", None),
            // Only the top level counts, however the key is spelled.
            (r#"{"x":{"usage":{"prompt_tokens":1}}}"#, None),
            (r#"{"text":"\"usage\":{\"prompt_tokens\":1}"}"#, None),
            (r#"[{"usage":{"prompt_tokens":1}}]"#, None),
            (
                r#"{"\u0075sage" : {"prompt_tokens":2}}"#,
                Some(Usage {
                    input: 2,
                    ..Usage::default()
                }),
            ),
            (
                r#"{"a":["\\",{"b":"}"}], "usage":{"prompt_tokens":3}, "z":1}"#,
                Some(Usage {
                    input: 3,
                    ..Usage::default()
                }),
            ),
            // Given twice, neither counts; a malformed value is no usage.
            (
                r#"{"usage":{"prompt_tokens":1},"usage":{"prompt_tokens":2}}"#,
                None,
            ),
            (r#"{"usage":{"prompt_tokens":"many"}}"#, None),
            (r#"{"usage":{"prompt_tokens":1"#, None),
        ];
        for (body, want) in cases {
            assert_eq!(usage_in(body.as_bytes()), want, "{body}");
        }
    }

    #[test]
    fn error_positions_become_offsets() {
        let data = b"ab\ncde\nf";
        let cases = [
            ((1, 1), 0),
            ((1, 2), 1),
            ((2, 1), 3),
            ((2, 3), 5),
            ((3, 1), 7),
            ((9, 9), 8),
        ];
        for ((line, column), want) in cases {
            assert_eq!(offset_of(data, line, column), want, "{line}:{column}");
        }
    }

    #[test]
    fn a_payload_of_repeated_usage_keys_is_read_once() {
        // Every `"usage":{` opens an object that never closes: each failed parse used to read
        // to the end again (quadratic: hours for 8 MiB). Now the search resumes past it.
        let hostile = "\"usage\":{\"\\\"usage\":{".repeat(200_000);
        assert_eq!(usage_anywhere(hostile.as_bytes()), None);
        let after = format!("{hostile}\"usage\":{{\"prompt_tokens\":3}}");
        assert_eq!(
            usage_anywhere(after.as_bytes()),
            None,
            "inside the broken object"
        );
    }

    #[test]
    fn finds_usage_anywhere() {
        let cases = [
            (
                r#"{"type":"response.completed","response":{"id":"r","usage":{"input_tokens":9,"output_tokens":4,"input_tokens_details":{"cached_tokens":2},"total_tokens":13}}}"#,
                Some(Usage {
                    input: 9,
                    output: 4,
                    cached: 2,
                    reasoning: 0,
                }),
            ),
            (
                r#"{"usage":null,"x":{"usage": {"prompt_tokens":1}}}"#,
                Some(Usage {
                    input: 1,
                    ..Usage::default()
                }),
            ),
            (r#"{"text":"the \"usage\": {not json"}"#, None),
            ("{}", None),
        ];
        for (data, want) in cases {
            assert_eq!(usage_anywhere(data.as_bytes()), want, "{data}");
        }
    }

    #[test]
    fn round_trips_through_wire_form() {
        let u = Usage {
            input: 5,
            output: 7,
            cached: 1,
            reasoning: 3,
        };
        let wire = OpenAiUsage::from(u);
        assert_eq!(wire.total_tokens, 12);
        assert_eq!(Usage::from(&wire), u);
    }
}
