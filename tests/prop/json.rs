//! The top-level JSON view `types::TopLevel` (`parse`, `get`, `iter`, `write_with`): arbitrary and
//! mutated bytes never panic; an object it reads is written back to the same value; replacing
//! `model` changes `model` and nothing else; an object with a key given twice (however the key is
//! spelled) is refused. `types::usage::usage_in`, which reads only the top level, reads the
//! same `usage` a full parse does.

use llm_sidecar::types::TopLevel;
use llm_sidecar::types::json::json_string;
use llm_sidecar::types::usage::{OpenAiUsage, Usage, usage_in};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Map, Value};

use crate::support::{config, framing_bytes};

/// Longest arbitrary input.
const MAX_GARBAGE: usize = 512;
/// Most top-level fields of a generated object: past the view's pairwise duplicate check
/// (32 fields), so its sorting path runs too.
const MAX_FIELDS: usize = 40;
/// Nesting depth, total nodes and branching of generated field values.
const VALUE_DEPTH: u32 = 3;
const VALUE_NODES: u32 = 16;
const VALUE_BRANCH: u32 = 4;
/// Longest generated key (in characters).
const MAX_KEY_CHARS: usize = 8;
/// Choices of whitespace and key escaping a spelling cycles through.
const SPELLING_CYCLE: usize = 16;
/// Most byte edits applied to a valid document.
const MAX_MUTATIONS: usize = 4;
/// Nesting depth of the deep-document test: far past any recursion limit a parser could have.
const DEEP_NESTING: usize = 1 << 16;

/// An object key: usually a plain identifier, sometimes any text (quotes, backslashes, control
/// characters, astral code points), sometimes `model`.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z_]{1,10}",
        2 => prop::collection::vec(any::<char>(), 0..=MAX_KEY_CHARS).prop_map(String::from_iter),
        1 => Just("model".to_owned()),
    ]
}

/// Any JSON value (non-finite floats become `null`, as JSON has no such numbers).
pub fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        key().prop_map(Value::from),
    ];
    leaf.prop_recursive(VALUE_DEPTH, VALUE_NODES, VALUE_BRANCH, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..VALUE_BRANCH as usize).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..VALUE_BRANCH as usize)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

/// Top-level fields with unique keys, in order.
fn fields() -> impl Strategy<Value = Vec<(String, Value)>> {
    prop::collection::vec((key(), value()), 0..=MAX_FIELDS).prop_map(|fields| {
        let unique: Map<String, Value> = fields.into_iter().collect();
        unique.into_iter().collect()
    })
}

/// Top-level fields with unique keys, at least one.
fn some_fields() -> impl Strategy<Value = Vec<(String, Value)>> {
    (key(), value(), fields()).prop_map(|(key, value, rest)| {
        let mut unique = Map::new();
        unique.insert(key, value);
        for (key, value) in rest {
            unique.entry(key).or_insert(value);
        }
        unique.into_iter().collect()
    })
}

/// The object a full parser reads from `text` (floats are compared as parsed, not as generated:
/// the parser's rounding is not under test).
fn parsed_object(text: &str) -> Map<String, Value> {
    match serde_json::from_str(text) {
        Ok(Value::Object(object)) => object,
        other => panic!("not an object: {other:?} from {text}"),
    }
}

/// Whitespace JSON allows between tokens.
fn space() -> impl Strategy<Value = &'static str> {
    prop::sample::select(&["", "", " ", "\n", "\t", "\r\n "][..])
}

/// How a document is written: the whitespace around each token, and which characters of the
/// keys are written as `\u` escapes.
#[derive(Debug, Clone)]
struct Spelling {
    spaces: Vec<&'static str>,
    escapes: Vec<bool>,
}

fn spelling() -> impl Strategy<Value = Spelling> {
    (
        prop::collection::vec(space(), 1..=SPELLING_CYCLE),
        prop::collection::vec(any::<bool>(), 1..=SPELLING_CYCLE),
    )
        .prop_map(|(spaces, escapes)| Spelling { spaces, escapes })
}

impl Spelling {
    fn space(&self, at: usize) -> &'static str {
        self.spaces[at % self.spaces.len()]
    }

    /// `key` as a JSON string, each character written as itself or as a `\u` escape (always
    /// escaped where JSON requires it).
    fn key(&self, key: &str) -> String {
        let mut out = String::from("\"");
        for (i, c) in key.chars().enumerate() {
            let must = c == '"' || c == '\\' || u32::from(c) < 0x20;
            if must || self.escapes[i % self.escapes.len()] {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            } else {
                out.push(c);
            }
        }
        out.push('"');
        out
    }

    /// The object of `fields` as JSON text.
    fn render(&self, fields: &[(String, Value)]) -> String {
        let mut out = format!("{}{{", self.space(0));
        for (i, (key, value)) in fields.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(self.space(i + 1));
            out.push_str(&self.key(key));
            out.push_str(self.space(i + 2));
            out.push(':');
            out.push_str(self.space(i + 3));
            out.push_str(&value.to_string());
            out.push_str(self.space(i + 4));
        }
        out.push('}');
        out.push_str(self.space(fields.len() + 1));
        out
    }
}

/// The fields of a view as (key, raw value text) pairs.
fn raw_fields(top: &TopLevel<'_>) -> Vec<(String, String)> {
    top.iter()
        .map(|(k, v)| (k.to_owned(), v.get().to_owned()))
        .collect()
}

/// Whatever the view accepted, every field reads back and writing it unchanged gives a document
/// the view reads as the same fields, and that a full parser reads as the same value.
fn check_accepted(input: &[u8], top: &TopLevel<'_>) -> Result<(), TestCaseError> {
    for (key, raw) in top.iter() {
        prop_assert_eq!(top.get(key).map(|v| v.get()), Some(raw.get()));
    }
    let written = top.write_with(&[]);
    let again = TopLevel::parse(&written);
    prop_assert!(again.is_ok(), "{:?}", String::from_utf8_lossy(&written));
    prop_assert_eq!(raw_fields(&again.unwrap()), raw_fields(top));
    // A full parse may refuse what the view takes (nesting deeper than its recursion limit);
    // when it reads the input, it reads the rewrite the same.
    if let Ok(value) = serde_json::from_slice::<Value>(input) {
        prop_assert_eq!(serde_json::from_slice::<Value>(&written).ok(), Some(value));
    }
    Ok(())
}

/// One edit of a byte string.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(Index, u8),
    Insert(Index, u8),
    Delete(Index),
    Truncate(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let byte = prop_oneof![any::<u8>(), prop::sample::select(&b"{}[]\",:\\ 0e-."[..]),];
    prop_oneof![
        (any::<Index>(), byte.clone()).prop_map(|(at, b)| Mutation::Flip(at, b)),
        (any::<Index>(), byte).prop_map(|(at, b)| Mutation::Insert(at, b)),
        any::<Index>().prop_map(Mutation::Delete),
        any::<Index>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        if bytes.is_empty() {
            break;
        }
        match *m {
            Mutation::Flip(at, b) => {
                let at = at.index(bytes.len());
                bytes[at] = b;
            }
            Mutation::Insert(at, b) => bytes.insert(at.index(bytes.len() + 1), b),
            Mutation::Delete(at) => {
                bytes.remove(at.index(bytes.len()));
            }
            Mutation::Truncate(at) => bytes.truncate(at.index(bytes.len())),
        }
    }
    bytes
}

proptest! {
    #![proptest_config(config())]

    /// Arbitrary bytes never panic; whatever is accepted survives a rewrite.
    #[test]
    fn any_bytes_parse_or_fail_cleanly(input in framing_bytes(MAX_GARBAGE)) {
        if let Ok(top) = TopLevel::parse(&input) {
            check_accepted(&input, &top)?;
        }
    }

    /// A valid object with a few bytes edited never panics; whatever is accepted survives a
    /// rewrite.
    #[test]
    fn mutated_objects_parse_or_fail_cleanly(
        fields in fields(),
        spelling in spelling(),
        mutations in prop::collection::vec(mutation(), 1..=MAX_MUTATIONS),
    ) {
        let input = mutate(spelling.render(&fields).into_bytes(), &mutations);
        if let Ok(top) = TopLevel::parse(&input) {
            check_accepted(&input, &top)?;
        }
    }

    /// An object with unique keys: every field is read in order with its value, and
    /// `write_with(&[])` writes the same value back.
    #[test]
    fn objects_round_trip(fields in fields(), spelling in spelling()) {
        let text = spelling.render(&fields);
        let top = TopLevel::parse(text.as_bytes());
        prop_assert!(top.is_ok(), "{}: {:?}", text, top.err());
        let top = top.unwrap();
        let keys: Vec<&str> = top.iter().map(|(k, _)| k).collect();
        let want: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
        prop_assert_eq!(keys, want);
        for (key, value) in &parsed_object(&text) {
            let raw = top.get(key).map(|raw| serde_json::from_str::<Value>(raw.get()).unwrap());
            prop_assert_eq!(raw.as_ref(), Some(value));
            prop_assert_eq!(top.has(key), !value.is_null());
        }
        check_accepted(text.as_bytes(), &top)?;
    }

    /// Replacing `model` yields an object whose `model` is the replacement, in the same place
    /// (or last when it was absent), with every other field unchanged.
    #[test]
    fn replacing_model_changes_only_model(
        fields in fields(),
        spelling in spelling(),
        model in prop::collection::vec(any::<char>(), 0..=MAX_KEY_CHARS).prop_map(String::from_iter),
    ) {
        let text = spelling.render(&fields);
        let top = TopLevel::parse(text.as_bytes()).unwrap();
        let written = top.write_with(&[("model", &json_string(&model))]);
        let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(&written) else {
            return Err(TestCaseError::fail(format!("not an object: {}", String::from_utf8_lossy(&written))));
        };
        let mut want = parsed_object(&text);
        want.insert("model".to_owned(), Value::from(model));
        let keys: Vec<&String> = object.keys().collect();
        let want_keys: Vec<&String> = want.keys().collect();
        prop_assert_eq!(keys, want_keys);
        prop_assert_eq!(object, want);
    }

    /// A key given twice at the top level is refused, whatever the spelling of either copy and
    /// wherever the second one is; the error names the key.
    #[test]
    fn a_repeated_key_is_refused(
        fields in some_fields(),
        spelling in spelling(),
        repeat in any::<Index>(),
        at in any::<Index>(),
        value in value(),
    ) {
        let key = fields[repeat.index(fields.len())].0.clone();
        let mut doubled = fields.clone();
        doubled.insert(at.index(fields.len() + 1), (key.clone(), value));
        let text = spelling.render(&doubled);
        let error = TopLevel::parse(text.as_bytes()).map(|top| raw_fields(&top));
        prop_assert!(error.is_err(), "accepted {}", text);
        let message = error.unwrap_err().to_string();
        prop_assert!(message.contains(&format!("duplicate key `{key}`")), "{}", message);
    }

    /// The same key nested inside a value is not a repeat: only the top level is checked.
    #[test]
    fn repeated_keys_below_the_top_level_are_accepted(key in key(), a in value(), b in value()) {
        let text = format!(
            "{{\"outer\":{{{k}:{a},{k}:{b}}}}}",
            k = json_string(&key),
        );
        prop_assert!(TopLevel::parse(text.as_bytes()).is_ok(), "{}", text);
    }
}

/// Deeply nested values (arrays, objects, both) never overflow the stack: each document is
/// accepted or refused, and an accepted one survives a rewrite.
#[test]
fn deep_nesting_is_refused_or_read_without_overflow() {
    let cases = [("[", "]"), ("{\"a\":", "}"), ("[{\"a\":", "}]")];
    for (open, close) in cases {
        let text = format!(
            "{{\"deep\":{}0{}}}",
            open.repeat(DEEP_NESTING),
            close.repeat(DEEP_NESTING)
        );
        if let Ok(top) = TopLevel::parse(text.as_bytes()) {
            check_accepted(text.as_bytes(), &top).unwrap();
        }
    }
}

/// A `usage` value: a well-formed one, `null`, or any value at all.
fn usage_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        2 => (any::<u32>(), any::<u32>(), prop::option::of(any::<u32>())).prop_map(
            |(prompt, completion, cached)| {
                let mut usage = serde_json::json!({
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": u64::from(prompt) + u64::from(completion),
                });
                if let Some(cached) = cached {
                    usage["prompt_tokens_details"] = serde_json::json!({"cached_tokens": cached});
                }
                usage
            }
        ),
        1 => Just(Value::Null),
        1 => value(),
    ]
}

/// The top-level usage a full parse of `text` reads (what `usage_in` did before it scanned).
fn usage_by_full_parse(text: &str) -> Option<Usage> {
    #[derive(serde::Deserialize)]
    struct WithUsage {
        #[serde(default)]
        usage: Option<OpenAiUsage>,
    }
    let parsed: WithUsage = serde_json::from_str(text).ok()?;
    parsed.usage.map(|u| Usage::from(&u))
}

/// The key of a generated field that holds a nested `usage` (which must not count).
const NESTED: &str = "nested";

proptest! {
    #![proptest_config(config())]

    /// On a valid answer, reading `usage` from the top level alone agrees with a full parse,
    /// wherever the key is, however it is spelled, whatever nests elsewhere (another `usage`
    /// included).
    #[test]
    fn usage_is_read_as_a_full_parse_reads_it(
        fields in fields(),
        spelling in spelling(),
        usage in prop::option::of(usage_value()),
        nested in usage_value(),
        at in any::<Index>(),
    ) {
        let mut fields: Vec<(String, Value)> =
            fields.into_iter().filter(|(k, _)| k != "usage" && k != NESTED).collect();
        fields.push((NESTED.to_owned(), serde_json::json!({"usage": nested})));
        if let Some(usage) = usage {
            fields.insert(at.index(fields.len() + 1), ("usage".to_owned(), usage));
        }
        let text = spelling.render(&fields);
        prop_assert_eq!(usage_in(text.as_bytes()), usage_by_full_parse(&text), "{}", text);
    }

    /// Arbitrary and mutated bytes never panic the scan.
    #[test]
    fn usage_scans_of_any_bytes_end_cleanly(
        input in framing_bytes(MAX_GARBAGE),
        fields in fields(),
        spelling in spelling(),
        mutations in prop::collection::vec(mutation(), 1..=MAX_MUTATIONS),
    ) {
        let _ = usage_in(&input);
        let mut with_usage = fields;
        with_usage.push(("usage".to_owned(), serde_json::json!({"prompt_tokens": 1})));
        let _ = usage_in(&mutate(spelling.render(&with_usage).into_bytes(), &mutations));
    }
}
