//! Trigger-driven credential masking: key-shaped tokens (`sk-…`, Google `AIza…`), the token
//! after an auth scheme (`Bearer …`), the values of credential headers and `key=` query
//! parameters.
//!
//! One Aho-Corasick pass over fixed trigger words finds the few places worth a closer look;
//! each trigger then checks its own shape around the match, so a clean line costs one
//! SIMD-prefiltered scan. Configured secrets are masked by value in the parent module, not
//! here: they have no shape to trigger on.

use std::sync::LazyLock;

use aho_corasick::AhoCorasick;

use super::{MATCH_KIND, Mask, Span, is_word, run, starts_token};

/// Characters after `sk-` that make an OpenAI/Anthropic key (real ones have 48 or more); fewer
/// is a word like `sk-learn`.
const MIN_SK_KEY_BODY: usize = 20;
/// Google API keys: `AIza` and 35 more characters.
const GOOGLE_KEY_PREFIX: &[u8] = b"AIza";
/// Characters after `AIza` that make a Google key (35 in practice).
const MIN_GOOGLE_KEY_BODY: usize = 30;
/// Shortest token after `Bearer` that is masked: prose such as "a Bearer token" stays readable.
const MIN_BEARER_TOKEN: usize = 8;
/// Auth schemes that stay readable in front of a masked credential.
const AUTH_SCHEMES: [&str; 4] = ["bearer", "basic", "token", "digest"];

/// What a trigger word asks to look at.
#[derive(Debug, Clone, Copy)]
enum Trigger {
    SkKey,
    GoogleKey,
    Bearer,
    Header,
    KeyParam,
}

/// Words whose presence makes a line worth a closer look, in the spellings that occur
/// (lowercase as HTTP/2 sends header names, capitalised as HTTP/1 clients do, upper case).
/// Matching them case-sensitively keeps the automaton's SIMD prefilter: case-insensitive
/// matching disables it and made a clean line ten times slower.
const TRIGGERS: [(&str, Trigger); 14] = [
    ("sk-", Trigger::SkKey),
    ("AIza", Trigger::GoogleKey),
    ("bearer", Trigger::Bearer),
    ("Bearer", Trigger::Bearer),
    ("BEARER", Trigger::Bearer),
    // Also finds `x-api-key`, `X-Api-Key`, `x-goog-api-key`, `X-Goog-Api-Key`, `X-API-Key`.
    ("api-key", Trigger::Header),
    ("Api-Key", Trigger::Header),
    ("Api-key", Trigger::Header),
    ("API-Key", Trigger::Header),
    ("API-KEY", Trigger::Header),
    ("authorization", Trigger::Header),
    ("Authorization", Trigger::Header),
    ("AUTHORIZATION", Trigger::Header),
    ("key=", Trigger::KeyParam),
];

/// The trigger automaton, built once. `None` only if it could not be built, which fixed
/// patterns cannot cause; the other scans still run then.
static TRIGGER_MATCHER: LazyLock<Option<AhoCorasick>> = LazyLock::new(|| {
    AhoCorasick::builder()
        .match_kind(MATCH_KIND)
        .build(TRIGGERS.iter().map(|(word, _)| word))
        .ok()
});

/// Pushes a [`Mask::Secret`] span for every credential in `text`. A trigger inside a value an
/// earlier trigger already read is skipped: it is masked with that value, or too short to be a
/// credential, and reading it again from every such trigger (`api-key=api-key=…`) would cost
/// quadratic time in the line's length.
pub(super) fn find(text: &[u8], spans: &mut Vec<Span>) {
    let Some(triggers) = TRIGGER_MATCHER.as_ref() else {
        return;
    };
    let mut read_until = 0;
    for m in triggers.find_iter(text) {
        if m.start() < read_until {
            continue;
        }
        if let Some(&(_, trigger)) = TRIGGERS.get(m.pattern().as_usize()) {
            let pushed = spans.len();
            let read = on_trigger(trigger, text, m.start(), m.end(), spans);
            let masked = spans[pushed..].iter().map(|s| s.end).max();
            read_until = read_until.max(read).max(masked.unwrap_or(0));
        }
    }
}

/// Characters of API keys and of the words around them.
fn is_key_char(b: u8) -> bool {
    is_word(b) || b == b'-'
}

/// Characters of a bearer token (RFC 6750 `b64token`).
fn is_token_char(b: u8) -> bool {
    is_key_char(b) || matches!(b, b'.' | b'~' | b'+' | b'/' | b'=')
}

/// Characters of an unquoted header or query parameter value.
fn is_value_char(b: u8) -> bool {
    is_token_char(b) || matches!(b, b'%' | b':')
}

/// Hands a trigger match to the check for its shape; the match alone proves nothing (`sk-`
/// also starts `sk-learn`). Returns where the header value it read ends (0 for the others,
/// whose reads stop at their token's end).
fn on_trigger(
    trigger: Trigger,
    text: &[u8],
    start: usize,
    end: usize,
    spans: &mut Vec<Span>,
) -> usize {
    match trigger {
        Trigger::SkKey => prefixed_key(text, start, end, b"sk-", MIN_SK_KEY_BODY, spans),
        Trigger::GoogleKey => {
            prefixed_key(
                text,
                start,
                end,
                GOOGLE_KEY_PREFIX,
                MIN_GOOGLE_KEY_BODY,
                spans,
            );
        }
        Trigger::Bearer => bearer(text, start, end, spans),
        Trigger::Header => return header_value(text, end, spans),
        Trigger::KeyParam => key_param(text, start, end, spans),
    }
    0
}

/// `sk-…` / `AIza…`: the exact prefix at a token start, then a long body that looks random
/// (some digit or capital), so hyphenated words are left alone.
fn prefixed_key(
    text: &[u8],
    start: usize,
    end: usize,
    prefix: &[u8],
    min_body: usize,
    spans: &mut Vec<Span>,
) {
    if text.get(start..end) != Some(prefix) || !starts_token(text, start, is_key_char) {
        return;
    }
    let body = &text[end..end + run(text, end, is_key_char)];
    if body.len() >= min_body
        && body
            .iter()
            .any(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
    {
        spans.push(Span {
            start,
            end: end + body.len(),
            mask: Mask::Secret,
        });
    }
}

/// `Bearer <token>`: the token is masked, the scheme stays.
fn bearer(text: &[u8], start: usize, end: usize, spans: &mut Vec<Span>) {
    if !starts_token(text, start, is_word) {
        return;
    }
    let spaces = run(text, end, |b| b == b' ');
    if spaces == 0 {
        return;
    }
    let token = end + spaces;
    let len = run(text, token, is_token_char);
    if len >= MIN_BEARER_TOKEN {
        spans.push(Span {
            start: token,
            end: token + len,
            mask: Mask::Secret,
        });
    }
}

/// The value after a credential header name: `name: value`, `name=value`, `"name":"value"`,
/// with JSON-escaped quotes too. Returns where the value ends.
fn header_value(text: &[u8], name_end: usize, spans: &mut Vec<Span>) -> usize {
    let mut i = skip_quote(text, name_end).map_or(name_end, |(_, next)| next);
    i += run(text, i, |b| b == b' ');
    if !matches!(text.get(i), Some(b':' | b'=')) {
        return i;
    }
    i += 1;
    i += run(text, i, |b| b == b' ');
    let (value_start, value_end) = match skip_quote(text, i) {
        Some((quote, start)) => {
            let close = |b: u8| b != quote && b != b'\\' && b != b'\n' && b != b'\r';
            (start, start + run(text, start, close))
        }
        None => {
            let first = run(text, i, is_value_char);
            let scheme = is_auth_scheme(&text[i..i + first]);
            let spaces = run(text, i + first, |b| b == b' ');
            let second = run(text, i + first + spaces, is_value_char);
            if scheme && spaces > 0 && second > 0 {
                (i, i + first + spaces + second)
            } else {
                (i, i + first)
            }
        }
    };
    mask_credential(text, value_start, value_end, spans);
    value_end
}

/// An opening or closing quote at `i` (`"`, `\"` or `'`): the quote byte and what follows it.
fn skip_quote(text: &[u8], i: usize) -> Option<(u8, usize)> {
    match (text.get(i), text.get(i + 1)) {
        (Some(b'"'), _) => Some((b'"', i + 1)),
        (Some(b'\\'), Some(b'"')) => Some((b'"', i + 2)),
        (Some(b'\''), _) => Some((b'\'', i + 1)),
        _ => None,
    }
}

fn is_auth_scheme(word: &[u8]) -> bool {
    AUTH_SCHEMES
        .iter()
        .any(|s| s.as_bytes().eq_ignore_ascii_case(word))
}

/// Masks the credential `text[start..end]`, keeping a leading auth scheme (`Bearer ***`); a
/// scheme alone (`Authorization: Bearer <key>` in a help text) is not a credential.
fn mask_credential(text: &[u8], start: usize, end: usize, spans: &mut Vec<Span>) {
    let value = &text[start..end];
    let scheme = run(value, 0, |b| b.is_ascii_alphabetic());
    let mut from = start;
    if is_auth_scheme(&value[..scheme]) {
        let spaces = run(value, scheme, |b| b == b' ');
        if spaces == 0 && scheme < value.len() {
            // A word that merely starts like a scheme (`Tokenless`): mask it whole.
        } else {
            from = start + scheme + spaces;
        }
    }
    if from < end {
        spans.push(Span {
            start: from,
            end,
            mask: Mask::Secret,
        });
    }
}

/// `?key=…` / `&key=…` in a URL.
fn key_param(text: &[u8], start: usize, end: usize, spans: &mut Vec<Span>) {
    if start == 0 || !matches!(text[start - 1], b'?' | b'&' | b';') {
        return;
    }
    let len = run(text, end, |b| is_value_char(b) && b != b'&');
    if len > 0 {
        spans.push(Span {
            start: end,
            end: end + len,
            mask: Mask::Secret,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{SK, assert_redacts, assert_untouched};

    /// An Anthropic key.
    const ANT: &str = "sk-ant-api03-AbCdEf0123456789AbCdEf0123456789_xyz-QRS";
    /// A Google API key.
    const GOOGLE: &str = "AIzaSyA1bC2dE3fG4hI5jK6lM7nO8pQ9rS0tU1v";

    #[test]
    fn repeated_triggers_cost_linear_time() {
        // Each `api-key=` starts a value that runs to the end of the line: read once, not once
        // per trigger (quadratic: minutes for this line).
        let line = "api-key=".repeat(200_000);
        let redacted = super::super::global().redact(&line);
        assert!(
            redacted.len() < 100,
            "{}",
            &redacted[..100.min(redacted.len())]
        );
    }

    #[test]
    fn masks_key_shaped_tokens() {
        assert_redacts([
            (format!("key {SK} used"), "key *** used"),
            (format!("\"api_key\":\"{ANT}\""), "\"api_key\":\"***\""),
            (format!("google={GOOGLE}&x=1"), "google=***&x=1"),
            (
                "Authorization: Bearer abc.DEF-123_xyz".to_owned(),
                "Authorization: Bearer ***",
            ),
            ("auth=bearer  tok3n-tok3n".to_owned(), "auth=bearer  ***"),
        ]);
    }

    #[test]
    fn masks_credential_headers_in_every_shape() {
        assert_redacts([
            ("x-api-key: 0123abcd", "x-api-key: ***"),
            ("X-Goog-Api-Key=abc", "X-Goog-Api-Key=***"),
            (
                r#"{"api-key":"azure-key-1","n":1}"#,
                r#"{"api-key":"***","n":1}"#,
            ),
            (
                r#"{"msg":"headers {\"authorization\": \"Basic dXNlcjpwYXNz\"}"}"#,
                r#"{"msg":"headers {\"authorization\": \"Basic ***\"}"}"#,
            ),
            ("authorization='Token abcdef'", "authorization='Token ***'"),
        ]);
    }

    #[test]
    fn masks_key_query_parameters() {
        assert_redacts([
            (
                "GET /v1beta/models/g:generateContent?alt=sse&key=xyz123#f",
                "GET /v1beta/models/g:generateContent?alt=sse&key=***#f",
            ),
            ("https://h/p?key=abc", "https://h/p?key=***"),
        ]);
    }

    #[test]
    fn leaves_credential_lookalikes_alone() {
        assert_untouched(&[
            "request_id=req_3f2a9c0d1e4b5a69c8d7e6f5a4b3c2d1",
            "task-list sk-learn risk-free ask-me-anything sk-short-lowercase-words-only",
            "xsk-Ab3dEfGh1jKlMnOpQrStUvWxYz0123456789",
            "a Bearer token is needed; see Authorization: Bearer <key>",
            "monkey=banana turkey=abc key=value",
        ]);
    }
}
