//! Redaction of everything the gateway logs: one pass per formatted log line (wired into the
//! log writer by `telemetry::logging`) that masks
//!
//! - key-shaped tokens: OpenAI/Anthropic `sk-…` (`sk-proj-…`, `sk-ant-…`), Google `AIza…`, the
//!   token after `Bearer`;
//! - the values of credential headers (`authorization`, `x-api-key`, `api-key`,
//!   `x-goog-api-key`, any name ending in `api-key`) written `name: value`, `name=value` or
//!   `"name":"value"` (also JSON-escaped inside another string), and `key=` query parameters;
//! - the running config's secrets, by value, wherever they appear (at least
//!   [`MIN_SECRET_LEN`] bytes, so that a short dummy key cannot mask half of every line);
//! - with `logging.redact_pii` (the default): e-mail addresses, phone numbers (`+` and a country
//!   code, `(555) 123-4567`, `555-123-4567`, `555.123.4567`) and payment card numbers (13–19
//!   digits, contiguous or in groups of four, Luhn-checked).
//!
//! Masks: credentials become [`SECRET_MASK`] (`***`, what `config::Secret` prints); personal
//! data becomes a typed placeholder ([`EMAIL_MASK`], [`PHONE_MASK`], [`CARD_MASK`]) so a reader
//! still sees what kind of value was there. A credential's auth scheme stays readable
//! (`Bearer ***`). Masks never split an escape sequence, so a JSON line stays valid JSON.
//!
//! Cost: a line with nothing to mask takes two Aho-Corasick passes (trigger words; secrets),
//! one `memchr2` pass (`@`, `+`) and a digit scan that samples every twelfth byte, and comes
//! back borrowed: nothing is allocated. `benches/redact.rs` measures it.
//!
//! The config-dependent part (secrets, the PII switch) sits behind an `ArcSwap`, so a config
//! reload swaps it without stopping a writer: [`configure`] is called at start and after every
//! applied reload.

use std::borrow::Cow;
use std::ops::RangeInclusive;
use std::sync::{Arc, LazyLock};

use aho_corasick::{AhoCorasick, MatchKind};
use arc_swap::ArcSwap;

use crate::config::Config;
use crate::config::schema::DEFAULT_REDACT_PII;

/// What a credential (key, token, configured secret) is replaced with.
pub const SECRET_MASK: &str = crate::config::expand::REDACTED;
/// What an e-mail address is replaced with.
pub const EMAIL_MASK: &str = "[email]";
/// What a phone number is replaced with.
pub const PHONE_MASK: &str = "[phone]";
/// What a payment card number is replaced with.
pub const CARD_MASK: &str = "[card]";
/// Configured secrets shorter than this are not masked by value: a dummy key such as `none`
/// would otherwise mask that word in every line.
pub const MIN_SECRET_LEN: usize = 8;

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
/// Digits of an international number after `+` (E.164 allows at most 15).
const PHONE_DIGITS: RangeInclusive<usize> = 8..=15;
/// Separators allowed in a row inside a phone number (`) ` in `+1 (555) 123-4567`).
const PHONE_MAX_SEPARATOR_RUN: usize = 2;
/// Group sizes of a North American number written `555-123-4567`.
const NANP_GROUPS: [usize; 3] = [3, 3, 4];
/// Digits of a payment card number.
const CARD_DIGITS: RangeInclusive<usize> = 13..=19;
/// First digit of a card number (Visa 4, Mastercard 2/5, Amex/JCB/Diners 3, Discover and
/// UnionPay 6); it also keeps epoch timestamps in milliseconds or nanoseconds (which start
/// with 1) from being taken for cards.
const CARD_FIRST_DIGIT: RangeInclusive<u8> = b'2'..=b'6';
/// A card written in groups starts with a group of four (4-4-4-4, Amex 4-6-5, Diners 4-6-4).
const CARD_FIRST_GROUP: usize = 4;
/// Shortest later group of a grouped card (the final group of 4-4-4-4-3).
const CARD_MIN_GROUP: usize = 3;
/// Longest later group of a grouped card (the middle group of Amex 4-6-5).
const CARD_MAX_GROUP: usize = 6;
/// Bytes of the shortest number shape the digit scan looks for (`555-123-4567`; a card has at
/// least 13): the scan samples one byte in this many.
const MIN_NUMERIC_RUN: usize = 12;
/// Shortest top-level domain of an e-mail address.
const MIN_TLD_LEN: usize = 2;
/// Bytes of a `\uXXXX` escape after its backslash.
const UNICODE_ESCAPE_LEN: usize = 5;

/// What a masked span held; a span that overlaps another takes the stronger (later) kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Mask {
    Email,
    Phone,
    Card,
    Secret,
}

impl Mask {
    fn text(self) -> &'static str {
        match self {
            Self::Email => EMAIL_MASK,
            Self::Phone => PHONE_MASK,
            Self::Card => CARD_MASK,
            Self::Secret => SECRET_MASK,
        }
    }
}

/// A byte range of the line to replace.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    mask: Mask,
}

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

/// Leftmost-longest matching: the kind that can use the SIMD prefilter (overlapping
/// matches cannot), and of a trigger and a secret starting at the same byte the longer wins.
const MATCH_KIND: MatchKind = MatchKind::LeftmostLongest;

/// The trigger automaton, built once. `None` only if it could not be built, which fixed
/// patterns cannot cause; the other scans still run then.
static TRIGGER_MATCHER: LazyLock<Option<AhoCorasick>> = LazyLock::new(|| {
    AhoCorasick::builder()
        .match_kind(MATCH_KIND)
        .build(TRIGGERS.iter().map(|(word, _)| word))
        .ok()
});

/// The config-dependent state.
struct Rules {
    /// The configured secrets (and their JSON-escaped forms). `None` when there are none, or
    /// if the automaton could not be built, which config-sized input cannot cause.
    secrets: Option<AhoCorasick>,
    /// Whether e-mail addresses, phone numbers and card numbers are masked.
    pii: bool,
}

impl Rules {
    fn new<S: AsRef<str>>(secrets: impl IntoIterator<Item = S>, pii: bool) -> Self {
        let mut values: Vec<String> = Vec::new();
        for secret in secrets {
            let secret = secret.as_ref();
            if secret.len() < MIN_SECRET_LEN {
                continue;
            }
            // A secret with a quote or backslash appears escaped inside a JSON log line.
            if let Some(escaped) = json_escaped(secret).filter(|e| e != secret) {
                values.push(escaped);
            }
            values.push(secret.to_owned());
        }
        values.sort_unstable();
        values.dedup();
        // A separate automaton from the triggers: many secrets would make the combined one
        // lose its SIMD prefilter, while secrets alone have rare bytes to look for.
        let secrets = (!values.is_empty())
            .then(|| {
                AhoCorasick::builder()
                    .match_kind(MATCH_KIND)
                    .build(&values)
                    .ok()
            })
            .flatten();
        Self { secrets, pii }
    }

    /// Every span of `text` to mask, in no particular order and possibly overlapping.
    fn find(&self, text: &[u8], spans: &mut Vec<Span>) {
        if let Some(triggers) = TRIGGER_MATCHER.as_ref() {
            for m in triggers.find_iter(text) {
                if let Some(&(_, trigger)) = TRIGGERS.get(m.pattern().as_usize()) {
                    on_trigger(trigger, text, m.start(), m.end(), spans);
                }
            }
        }
        if let Some(secrets) = &self.secrets {
            spans.extend(secrets.find_iter(text).map(|m| Span {
                start: m.start(),
                end: m.end(),
                mask: Mask::Secret,
            }));
        }
        if self.pii {
            for at in memchr::memchr2_iter(b'@', b'+', text) {
                if text[at] == b'@' {
                    email(text, at, spans);
                } else {
                    plus_phone(text, at, spans);
                }
            }
            numeric_runs(text, spans);
        }
    }
}

/// The JSON string form of `text` without its quotes.
fn json_escaped(text: &str) -> Option<String> {
    let quoted = serde_json::to_string(text).ok()?;
    quoted.get(1..quoted.len() - 1).map(str::to_owned)
}

/// Masks secrets, keys and (when enabled) personal data in log text. Cheap to call from any
/// thread; [`Redactor::reconfigure`] swaps its settings without blocking callers.
pub struct Redactor {
    rules: ArcSwap<Rules>,
}

impl Redactor {
    /// A redactor that masks `secrets` by value (those shorter than [`MIN_SECRET_LEN`] are
    /// ignored) and, when `redact_pii`, personal data.
    pub fn new<S: AsRef<str>>(secrets: impl IntoIterator<Item = S>, redact_pii: bool) -> Self {
        Self {
            rules: ArcSwap::from_pointee(Rules::new(secrets, redact_pii)),
        }
    }

    /// Replaces the secrets and the PII switch; lines being redacted finish with the old ones.
    pub fn reconfigure<S: AsRef<str>>(
        &self,
        secrets: impl IntoIterator<Item = S>,
        redact_pii: bool,
    ) {
        self.rules.store(Arc::new(Rules::new(secrets, redact_pii)));
    }

    /// `text` with everything sensitive masked; borrowed when there was nothing to mask.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match self.redact_bytes(text.as_bytes()) {
            Cow::Borrowed(_) => Cow::Borrowed(text),
            // Spans start and end at ASCII bytes or at whole secrets, so UTF-8 stays valid.
            Cow::Owned(bytes) => Cow::Owned(
                String::from_utf8(bytes)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
            ),
        }
    }

    /// [`Redactor::redact`] for bytes (a formatted log line).
    pub fn redact_bytes<'a>(&self, text: &'a [u8]) -> Cow<'a, [u8]> {
        let mut spans = Vec::new();
        self.rules.load().find(text, &mut spans);
        if spans.is_empty() {
            Cow::Borrowed(text)
        } else {
            Cow::Owned(apply(text, spans))
        }
    }
}

/// The process-wide redactor, before [`configure`]: no secrets, PII masked.
static GLOBAL: LazyLock<Redactor> =
    LazyLock::new(|| Redactor::new(std::iter::empty::<&str>(), DEFAULT_REDACT_PII));

/// The process-wide redactor every log line goes through.
pub fn global() -> &'static Redactor {
    &GLOBAL
}

/// Points the process-wide redactor at `config`'s secrets and `logging.redact_pii`; called at
/// start and after every applied reload (a rotated key is masked from then on).
pub fn configure(config: &Config) {
    GLOBAL.reconfigure(config.secret_values(), config.raw.logging.redact_pii);
}

/// Masks `spans` in `text`: escapes kept whole, overlaps merged.
fn apply(text: &[u8], mut spans: Vec<Span>) -> Vec<u8> {
    for span in &mut spans {
        keep_escapes_whole(text, span);
    }
    spans.retain(|s| s.start < s.end);
    spans.sort_unstable_by_key(|s| s.start);
    let mut out = Vec::with_capacity(text.len());
    let mut pos = 0;
    let mut current: Option<Span> = None;
    for span in spans {
        match &mut current {
            Some(open) if span.start < open.end => {
                open.end = open.end.max(span.end);
                open.mask = open.mask.max(span.mask);
            }
            _ => {
                if let Some(done) = current.replace(span) {
                    pos = emit(text, pos, done, &mut out);
                }
            }
        }
    }
    if let Some(done) = current {
        pos = emit(text, pos, done, &mut out);
    }
    out.extend_from_slice(&text[pos..]);
    out
}

/// Copies `text[pos..span.start]` and the mask; returns where copying resumes.
fn emit(text: &[u8], pos: usize, span: Span, out: &mut Vec<u8>) -> usize {
    out.extend_from_slice(&text[pos..span.start]);
    out.extend_from_slice(span.mask.text().as_bytes());
    span.end
}

/// Moves a span's ends off the middle of an escape sequence (`\n`, `\"`, `\u001b`): masking
/// half of one would leave a dangling backslash and break the JSON line.
fn keep_escapes_whole(text: &[u8], span: &mut Span) {
    if is_escaped(text, span.start) {
        span.start = (span.start + escape_len(text, span.start)).min(text.len());
    }
    if span.end < text.len() && is_escaped(text, span.end) {
        span.end = (span.end + escape_len(text, span.end)).min(text.len());
    }
}

/// Whether the byte at `i` follows an unpaired backslash (is the letter of an escape).
fn is_escaped(text: &[u8], i: usize) -> bool {
    let backslashes = text[..i.min(text.len())]
        .iter()
        .rev()
        .take_while(|&&b| b == b'\\')
        .count();
    backslashes % 2 == 1
}

/// Length of the escape whose letter is at `i`.
fn escape_len(text: &[u8], i: usize) -> usize {
    if text.get(i) == Some(&b'u') {
        UNICODE_ESCAPE_LEN
    } else {
        1
    }
}

/// Whether a token may start at `i`: the byte before is not part of a token (per `inner`), or
/// is the letter of an escape (`\nsk-…`).
fn starts_token(text: &[u8], i: usize, inner: fn(u8) -> bool) -> bool {
    i == 0 || !inner(text[i - 1]) || is_escaped(text, i - 1)
}

/// Length of the run of `class` bytes starting at `from`.
fn run(text: &[u8], from: usize, class: impl Fn(u8) -> bool) -> usize {
    text.get(from..)
        .map_or(0, |rest| rest.iter().take_while(|&&b| class(b)).count())
}

/// Letters, digits and `_`: what makes a neighbouring number part of a word.
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
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

fn on_trigger(trigger: Trigger, text: &[u8], start: usize, end: usize, spans: &mut Vec<Span>) {
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
        Trigger::Header => header_value(text, end, spans),
        Trigger::KeyParam => key_param(text, start, end, spans),
    }
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
/// with JSON-escaped quotes too.
fn header_value(text: &[u8], name_end: usize, spans: &mut Vec<Span>) {
    let mut i = skip_quote(text, name_end).map_or(name_end, |(_, next)| next);
    i += run(text, i, |b| b == b' ');
    if !matches!(text.get(i), Some(b':' | b'=')) {
        return;
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

/// `local@domain.tld` around the `@` at `at`.
fn email(text: &[u8], at: usize, spans: &mut Vec<Span>) {
    let is_local = |b: u8| is_word(b) || matches!(b, b'.' | b'%' | b'+' | b'-');
    let mut start = at;
    while start > 0 && is_local(text[start - 1]) {
        start -= 1;
    }
    start += run(&text[..at], start, |b| b == b'.');
    if start == at {
        return;
    }
    let is_label = |b: u8| b.is_ascii_alphanumeric() || b == b'-';
    let mut i = at + 1;
    let mut labels = 0;
    let mut last = (i, i);
    loop {
        let len = run(text, i, is_label);
        if len == 0 || text[i] == b'-' {
            break;
        }
        labels += 1;
        last = (i, i + len);
        i += len;
        if text.get(i) == Some(&b'.') && text.get(i + 1).is_some_and(|&b| is_label(b)) {
            i += 1;
        } else {
            break;
        }
    }
    let tld = &text[last.0..last.1];
    if labels >= 2 && tld.len() >= MIN_TLD_LEN && tld.iter().all(u8::is_ascii_alphabetic) {
        spans.push(Span {
            start,
            end: last.1,
            mask: Mask::Email,
        });
    }
}

/// Separators inside a phone number.
fn is_phone_separator(b: u8) -> bool {
    matches!(b, b' ' | b'-' | b'.' | b'(' | b')')
}

/// `+<country code> <number>` at the `+` at `plus`: 8 to 15 digits with light punctuation.
/// Time zone offsets (`+02:00`), exponents (`1e+10`) and sums (`a+1`) are too short or glued
/// to a word.
fn plus_phone(text: &[u8], plus: usize, spans: &mut Vec<Span>) {
    if !starts_token(text, plus, |b| is_word(b) || b == b'+')
        || !matches!(text.get(plus + 1), Some(b'1'..=b'9'))
    {
        return;
    }
    let mut digits = 0;
    let mut separators = 0;
    let mut end = plus + 1;
    for (i, &b) in text.iter().enumerate().skip(plus + 1) {
        if b.is_ascii_digit() {
            digits += 1;
            separators = 0;
            end = i + 1;
        } else if is_phone_separator(b) && separators < PHONE_MAX_SEPARATOR_RUN {
            separators += 1;
        } else {
            break;
        }
    }
    if PHONE_DIGITS.contains(&digits) && !text.get(end).is_some_and(|&b| is_word(b)) {
        spans.push(Span {
            start: plus,
            end,
            mask: Mask::Phone,
        });
    }
}

/// Bytes that can be part of a card or phone number written without `+`.
fn is_numeric(b: u8) -> bool {
    b.is_ascii_digit() || is_phone_separator(b)
}

/// Finds the runs of number-ish bytes long enough to hold a card or a phone number, sampling
/// one byte in [`MIN_NUMERIC_RUN`]: any such run contains a sampled byte, and a line of
/// words and short numbers costs a few comparisons per sample.
fn numeric_runs(text: &[u8], spans: &mut Vec<Span>) {
    let mut probe = MIN_NUMERIC_RUN - 1;
    let mut covered = 0;
    while let Some(&b) = text.get(probe) {
        if !is_numeric(b) {
            probe += MIN_NUMERIC_RUN;
            continue;
        }
        let mut start = probe;
        while start > covered && is_numeric(text[start - 1]) {
            start -= 1;
        }
        let end = probe + run(text, probe, is_numeric);
        if end - start >= MIN_NUMERIC_RUN {
            numbers_in(text, start, end, spans);
        }
        covered = end;
        probe = end + MIN_NUMERIC_RUN;
    }
}

/// Card and phone numbers inside the number-ish run `text[start..end]`.
fn numbers_in(text: &[u8], start: usize, end: usize, spans: &mut Vec<Span>) {
    let mut i = start;
    while i < end {
        let found = match text[i] {
            b'(' => paren_phone(text, i).map(|stop| (stop, Mask::Phone)),
            b if b.is_ascii_digit() => card(text, i)
                .map(|stop| (stop, Mask::Card))
                .or_else(|| dashed_phone(text, i).map(|stop| (stop, Mask::Phone))),
            _ => None,
        };
        match found {
            Some((stop, mask)) => {
                spans.push(Span {
                    start: i,
                    end: stop,
                    mask,
                });
                i = stop;
            }
            None if text[i].is_ascii_digit() => i += run(text, i, |b| b.is_ascii_digit()),
            None => i += 1,
        }
    }
}

/// Whether the number ending at `end` stops there: no word byte and no decimal or further
/// group right after it.
fn number_ends(text: &[u8], end: usize) -> bool {
    match text.get(end) {
        None => true,
        Some(&b) if is_word(b) => false,
        Some(b'.' | b'-') => !text.get(end + 1).is_some_and(u8::is_ascii_digit),
        Some(_) => true,
    }
}

/// A card number starting at the digit at `start`: one run of 13–19 digits, or groups
/// (the first of four) joined by one kind of separator, space or dash; Luhn-valid.
fn card(text: &[u8], start: usize) -> Option<usize> {
    if !starts_token(text, start, is_word)
        || !CARD_FIRST_DIGIT.contains(&text[start])
        || (start >= 2 && text[start - 1] == b'.' && text[start - 2].is_ascii_digit())
    {
        return None;
    }
    let mut separator = None;
    let mut digits = 0;
    let mut group = start;
    let mut groups = 0;
    loop {
        let len = run(text, group, |b| b.is_ascii_digit());
        let grouped_ok = match groups {
            0 => len == CARD_FIRST_GROUP || CARD_DIGITS.contains(&len),
            _ => (CARD_MIN_GROUP..=CARD_MAX_GROUP).contains(&len),
        };
        if !grouped_ok {
            return None;
        }
        digits += len;
        groups += 1;
        let end = group + len;
        if digits > *CARD_DIGITS.end() {
            return None;
        }
        if CARD_DIGITS.contains(&digits) && number_ends(text, end) && luhn(&text[start..end]) {
            return Some(end);
        }
        // Only a leading group of four continues into more groups.
        if groups == 1 && len != CARD_FIRST_GROUP {
            return None;
        }
        match (text.get(end), text.get(end + 1)) {
            (Some(&sep @ (b' ' | b'-')), Some(next))
                if next.is_ascii_digit() && separator.is_none_or(|s| s == sep) =>
            {
                separator = Some(sep);
                group = end + 1;
            }
            _ => return None,
        }
    }
}

/// The Luhn checksum over the digits of `number` (separators skipped).
fn luhn(number: &[u8]) -> bool {
    let mut sum = 0;
    let mut double = false;
    for &b in number.iter().rev().filter(|b| b.is_ascii_digit()) {
        let mut d = u32::from(b - b'0');
        if double {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
        double = !double;
    }
    sum % 10 == 0
}

/// `555-123-4567` or `555.123.4567` starting at `start` (one kind of separator).
fn dashed_phone(text: &[u8], start: usize) -> Option<usize> {
    let glued = start >= 1 && matches!(text[start - 1], b'-' | b'.');
    if !starts_token(text, start, is_word) || glued {
        return None;
    }
    let separator = *text.get(start + NANP_GROUPS[0])?;
    if !matches!(separator, b'-' | b'.') {
        return None;
    }
    let mut i = start;
    for (n, &len) in NANP_GROUPS.iter().enumerate() {
        if n > 0 {
            if text.get(i) != Some(&separator) {
                return None;
            }
            i += 1;
        }
        if run(text, i, |b| b.is_ascii_digit()) != len {
            return None;
        }
        i += len;
    }
    number_ends(text, i).then_some(i)
}

/// `(555) 123-4567`, `(555)123-4567`, `(555) 123 4567` or `(555) 123.4567` at the `(` at
/// `start`.
fn paren_phone(text: &[u8], start: usize) -> Option<usize> {
    if !starts_token(text, start, is_word) {
        return None;
    }
    let digits = |i: usize, n: usize| (run(text, i, |b| b.is_ascii_digit()) == n).then_some(i + n);
    let mut i = digits(start + 1, NANP_GROUPS[0])?;
    if text.get(i) != Some(&b')') {
        return None;
    }
    i += 1;
    if text.get(i) == Some(&b' ') {
        i += 1;
    }
    i = digits(i, NANP_GROUPS[1])?;
    if !matches!(text.get(i), Some(b'-' | b'.' | b' ')) {
        return None;
    }
    i = digits(i + 1, NANP_GROUPS[2])?;
    number_ends(text, i).then_some(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SK: &str = "sk-proj-Ab3dEfGh1jKlMnOpQrStUvWxYz0123456789";
    const ANT: &str = "sk-ant-api03-AbCdEf0123456789AbCdEf0123456789_xyz-QRS";
    const GOOGLE: &str = "AIzaSyA1bC2dE3fG4hI5jK6lM7nO8pQ9rS0tU1v";

    fn redactor() -> Redactor {
        Redactor::new(["configured-secret-42", "short"], true)
    }

    #[test]
    fn masks_every_pattern() {
        let cases = [
            // Key-shaped tokens.
            (format!("key {SK} used"), "key *** used".to_owned()),
            (
                format!("\"api_key\":\"{ANT}\""),
                "\"api_key\":\"***\"".to_owned(),
            ),
            (format!("google={GOOGLE}&x=1"), "google=***&x=1".to_owned()),
            (
                "Authorization: Bearer abc.DEF-123_xyz".to_owned(),
                "Authorization: Bearer ***".to_owned(),
            ),
            (
                "auth=bearer  tok3n-tok3n".to_owned(),
                "auth=bearer  ***".to_owned(),
            ),
            // Credential headers, every shape.
            (
                "x-api-key: 0123abcd".to_owned(),
                "x-api-key: ***".to_owned(),
            ),
            (
                "X-Goog-Api-Key=abc".to_owned(),
                "X-Goog-Api-Key=***".to_owned(),
            ),
            (
                r#"{"api-key":"azure-key-1","n":1}"#.to_owned(),
                r#"{"api-key":"***","n":1}"#.to_owned(),
            ),
            (
                r#"{"msg":"headers {\"authorization\": \"Basic dXNlcjpwYXNz\"}"}"#.to_owned(),
                r#"{"msg":"headers {\"authorization\": \"Basic ***\"}"}"#.to_owned(),
            ),
            (
                "authorization='Token abcdef'".to_owned(),
                "authorization='Token ***'".to_owned(),
            ),
            // `key=` query parameters.
            (
                "GET /v1beta/models/g:generateContent?alt=sse&key=xyz123#f".to_owned(),
                "GET /v1beta/models/g:generateContent?alt=sse&key=***#f".to_owned(),
            ),
            (
                "https://h/p?key=abc".to_owned(),
                "https://h/p?key=***".to_owned(),
            ),
            // Configured secrets by value, anywhere.
            (
                "redis://user:configured-secret-42@host".to_owned(),
                "redis://user:***@host".to_owned(),
            ),
            ("xxconfigured-secret-42yy".to_owned(), "xx***yy".to_owned()),
            // Personal data.
            (
                "mail john.doe+tag@example.co.uk now".to_owned(),
                "mail [email] now".to_owned(),
            ),
            (
                r#"{"to":"a@b.io"}"#.to_owned(),
                r#"{"to":"[email]"}"#.to_owned(),
            ),
            (
                "call +1 (555) 123-4567 or +44 20 7946 0958".to_owned(),
                "call [phone] or [phone]".to_owned(),
            ),
            ("tel:+14155552671.".to_owned(), "tel:[phone].".to_owned()),
            (
                "(555) 123-4567, 555-123-4567".to_owned(),
                "[phone], [phone]".to_owned(),
            ),
            ("at 555.123.4567".to_owned(), "at [phone]".to_owned()),
            (
                "card 4111111111111111.".to_owned(),
                "card [card].".to_owned(),
            ),
            (
                "4111 1111 1111 1111 exp".to_owned(),
                "[card] exp".to_owned(),
            ),
            ("4111-1111-1111-1111".to_owned(), "[card]".to_owned()),
            (
                "amex 3782 822463 10005".to_owned(),
                "amex [card]".to_owned(),
            ),
            (
                "visa 4111111111111111 123".to_owned(),
                "visa [card] 123".to_owned(),
            ),
            (
                "2026-11-26 4111 1111 1111 1111".to_owned(),
                "2026-11-26 [card]".to_owned(),
            ),
            (
                r#"{"n":5500005555555559}"#.to_owned(),
                r#"{"n":[card]}"#.to_owned(),
            ),
        ];
        let r = redactor();
        for (input, want) in cases {
            assert_eq!(r.redact(&input), want, "{input}");
        }
    }

    #[test]
    fn leaves_near_misses_alone() {
        let cases = [
            r#"{"timestamp":"2026-11-26T13:05:01.123456Z","level":"INFO"}"#,
            "2026-11-26T13:05:01+02:00 took 1.234567890123s",
            "request_id=req_3f2a9c0d1e4b5a69c8d7e6f5a4b3c2d1",
            "id 123e4567-e89b-12d3-a456-426614174000 and 12345678-1234-1234-1234-123456789012",
            "peer 10.244.123.45:8080 ip 192.168.100.200 and [::1]:9901",
            "duration_ms=12.345678901234 cost_usd=0.0000412345678901",
            "epoch_ms 1764162301123 epoch_ns 1764162301123456789",
            // 16 digits that fail Luhn.
            "order 4111111111111112",
            // Too many digits for a card.
            "big 41111111111111111111111",
            "task-list sk-learn risk-free ask-me-anything sk-short-lowercase-words-only",
            "xsk-Ab3dEfGh1jKlMnOpQrStUvWxYz0123456789",
            "a Bearer token is needed; see Authorization: Bearer <key>",
            "monkey=banana turkey=abc key=value",
            "user@localhost scope @types/node model@2024 x@1.2.3.4",
            "1e+10 a+123456789 +12345 +0123456789",
            "version 1.2.3 port 8080 pid 12345 bytes 10485760",
            "phone-ish 1234-567-8901 and 555-1234",
            "short secret stays",
        ];
        let r = redactor();
        for input in cases {
            assert_eq!(r.redact(input), input, "{input}");
        }
    }

    #[test]
    fn nothing_to_mask_is_borrowed() {
        let r = redactor();
        let line = r#"{"timestamp":"2026-11-26T13:05:01.123Z","message":"request finished"}"#;
        assert!(matches!(r.redact(line), Cow::Borrowed(_)));
        assert!(matches!(r.redact_bytes(line.as_bytes()), Cow::Borrowed(_)));
    }

    #[test]
    fn json_lines_stay_json() {
        let r = redactor();
        let message = format!(
            "line\nuser@example.com\tBearer {SK}\u{1b}x-api-key: k\"q configured-secret-42"
        );
        let line = serde_json::json!({ "message": message, "n": 1 }).to_string();
        let out = r.redact(&line);
        let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
        let text = parsed["message"].as_str().unwrap();
        assert_eq!(
            text, "line\n[email]\tBearer ***\u{1b}x-api-key: ***\"q ***",
            "{out}"
        );
    }

    #[test]
    fn escaped_neighbours_do_not_hide_tokens() {
        let r = redactor();
        let line = serde_json::json!({ "m": format!("a\n{SK}\n+14155552671") }).to_string();
        let out = r.redact(&line);
        assert_eq!(out, r#"{"m":"a\n***\n[phone]"}"#);
    }

    #[test]
    fn secrets_with_quotes_match_escaped() {
        let r = Redactor::new(["pa\"ss\\word-1"], false);
        let line = serde_json::json!({ "m": "x pa\"ss\\word-1 y" }).to_string();
        assert_eq!(r.redact(&line), r#"{"m":"x *** y"}"#);
    }

    #[test]
    fn pii_switch_and_reconfigure() {
        let r = Redactor::new(["first-secret-value"], false);
        let text = "first-secret-value second-secret-value a@b.io";
        assert_eq!(r.redact(text), "*** second-secret-value a@b.io");
        r.reconfigure(["second-secret-value"], true);
        assert_eq!(r.redact(text), "first-secret-value *** [email]");
    }

    #[test]
    fn overlapping_spans_merge_to_the_stronger_mask() {
        let r = Redactor::new(["mailbox-secret@example.com"], true);
        assert_eq!(r.redact("to mailbox-secret@example.com."), "to ***.");
    }

    #[test]
    fn configure_reads_the_config() {
        let yaml = "providers:\n  - name: m\n    type: mock\n    api_key: provider-key-123\n    models: [x]\nauth:\n  master_key: master-key-456\nlogging:\n  redact_pii: false\n";
        let config = crate::config::parse(yaml, None).unwrap();
        let r = Redactor::new(std::iter::empty::<&str>(), true);
        r.reconfigure(config.secret_values(), config.raw.logging.redact_pii);
        assert_eq!(
            r.redact("provider-key-123 master-key-456 a@b.io"),
            "*** *** a@b.io"
        );
    }

    #[test]
    fn luhn_checks() {
        for (number, valid) in [
            ("4111111111111111", true),
            ("4111 1111 1111 1111", true),
            ("378282246310005", true),
            ("4111111111111112", false),
            ("0", true),
        ] {
            assert_eq!(luhn(number.as_bytes()), valid, "{number}");
        }
    }
}
