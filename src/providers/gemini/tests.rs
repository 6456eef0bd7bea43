//! Tests of the Gemini adapter's own functions, and the fixture helpers its translators' tests
//! (each module's sibling `tests.rs`) share: every Gemini fixture and the translation fixtures
//! that apply (`tests/fixtures/reference/{gemini,translations}`), plus tables for edge cases.

use serde_json::Value;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/reference");

/// A fixture file's text.
pub(super) fn text(path: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{path}")).unwrap()
}

/// A fixture file as JSON.
pub(super) fn json(path: &str) -> Value {
    serde_json::from_str(&text(path)).unwrap()
}

/// `1` and `1.0` are the same JSON number; a typed round trip may turn one into the other.
pub(super) fn numbers_as_f64(v: Value) -> Value {
    match v {
        Value::Number(n) => n.as_f64().map_or(Value::Null, Value::from),
        Value::Array(a) => Value::Array(a.into_iter().map(numbers_as_f64).collect()),
        Value::Object(o) => {
            Value::Object(o.into_iter().map(|(k, v)| (k, numbers_as_f64(v))).collect())
        }
        other => other,
    }
}

/// Makes synthesized values comparable: `created` becomes 0, a generated `call_<hex>` id becomes
/// `call_*` (a thought-signature suffix is kept), a generated `chatcmpl-<hex>` id becomes
/// `chatcmpl-*`, and `arguments` strings are parsed (Python's `json.dumps` spaces differ).
pub(super) fn normalize(v: Value) -> Value {
    match v {
        Value::Array(a) => Value::Array(a.into_iter().map(normalize).collect()),
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("created", Value::Number(_)) => Value::from(0),
                        ("id", Value::String(id)) => Value::String(normalize_id(&id)),
                        ("arguments", Value::String(args)) => {
                            serde_json::from_str(&args).unwrap_or(Value::String(args))
                        }
                        (_, v) => normalize(v),
                    };
                    (k, v)
                })
                .collect(),
        ),
        other => other,
    }
}

pub(super) fn normalize_id(id: &str) -> String {
    for prefix in ["call_", "chatcmpl-"] {
        if let Some(rest) = id.strip_prefix(prefix) {
            let (random, suffix) = match rest.find("__") {
                Some(at) => rest.split_at(at),
                None => (rest, ""),
            };
            if !random.is_empty() && random.chars().all(|c| c.is_ascii_hexdigit()) {
                return format!("{prefix}*{suffix}");
            }
        }
    }
    id.to_owned()
}

/// RFC 7396 merge patch: fills in fields a fixture leaves out.
pub(super) fn merge(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                merge(t.entry(k).or_insert(Value::Null), v);
            }
        }
        (t, p) => *t = p,
    }
}

/// Model names become resource names; anything that could leave the path segment is refused
/// (model names may come from clients through the default provider).
#[test]
fn model_names_become_resource_names() {
    use crate::providers::gemini::resource;
    let cases = [
        ("gemini-2.5-flash", "models/gemini-2.5-flash"),
        ("models/gemini-2.5-flash", "models/gemini-2.5-flash"),
        ("tunedModels/my-model_1", "tunedModels/my-model_1"),
    ];
    for (model, want) in cases {
        assert_eq!(resource(model).unwrap(), want);
    }
    let long = "m".repeat(crate::providers::path::MAX_SEGMENT_BYTES + 1);
    for bad in [
        "",
        "a b",
        "m:generateContent?key=x",
        "../x",
        "models//x",
        "m#f",
        "/m",
        "models/./x",
        "tunedModels/.",
        long.as_str(),
    ] {
        let error = resource(bad).unwrap_err();
        assert_eq!(error.status().as_u16(), 400, "{bad}");
        assert_eq!(error.param(), Some("model"), "{bad}");
    }
}
