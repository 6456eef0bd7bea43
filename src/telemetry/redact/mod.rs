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
//!
//! Layout: this module owns the pass itself ([`Redactor`], the process-wide instance, masking
//! by configured value, and applying the found spans); `credentials` finds keys and credential
//! values, `pii` finds personal data. The scanners reach this module's private helpers
//! (`Span`, `run`, `starts_token`) directly, as a child module may, so those stay private to
//! the redaction pass instead of being widened to `pub(super)`.

use std::borrow::Cow;
use std::sync::{Arc, LazyLock};

use aho_corasick::{AhoCorasick, MatchKind};
use arc_swap::ArcSwap;

use crate::config::Config;
use crate::config::schema::DEFAULT_REDACT_PII;

mod credentials;
mod pii;

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

/// Leftmost-longest matching: the kind that can use the SIMD prefilter (overlapping
/// matches cannot), and of a trigger and a secret starting at the same byte the longer wins.
const MATCH_KIND: MatchKind = MatchKind::LeftmostLongest;

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
        credentials::find(text, spans);
        if let Some(secrets) = &self.secrets {
            spans.extend(secrets.find_iter(text).map(|m| Span {
                start: m.start(),
                end: m.end(),
                mask: Mask::Secret,
            }));
        }
        if self.pii {
            pii::find(text, spans);
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

/// Inputs and checks shared by the tests here and in the scanner modules, so every table runs
/// against the same redactor.
#[cfg(test)]
mod fixtures {
    use super::Redactor;

    /// An OpenAI project key.
    pub(super) const SK: &str = "sk-proj-Ab3dEfGh1jKlMnOpQrStUvWxYz0123456789";

    /// PII on, one secret long enough to mask by value and one too short to.
    pub(super) fn redactor() -> Redactor {
        Redactor::new(["configured-secret-42", "short"], true)
    }

    /// Each input redacts to its expected line.
    #[track_caller]
    pub(super) fn assert_redacts<I: AsRef<str>, W: AsRef<str>>(
        cases: impl IntoIterator<Item = (I, W)>,
    ) {
        let r = redactor();
        for (input, want) in cases {
            let input = input.as_ref();
            assert_eq!(r.redact(input), want.as_ref(), "{input}");
        }
    }

    /// Each input comes back unchanged.
    #[track_caller]
    pub(super) fn assert_untouched(cases: &[&str]) {
        let r = redactor();
        for &input in cases {
            assert_eq!(r.redact(input), input, "{input}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{SK, assert_redacts, assert_untouched, redactor};
    use super::*;

    #[test]
    fn masks_configured_secrets_anywhere() {
        assert_redacts([
            (
                "redis://user:configured-secret-42@host",
                "redis://user:***@host",
            ),
            ("xxconfigured-secret-42yy", "xx***yy"),
        ]);
    }

    #[test]
    fn leaves_short_secrets_alone() {
        assert_untouched(&["short secret stays"]);
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
}
