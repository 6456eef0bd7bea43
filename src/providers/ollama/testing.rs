//! Helpers shared by the Ollama translators' tests: reference fixtures and id normalization.

use serde_json::Value;

/// The reference fixture `ollama/{name}` as text.
pub fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/reference/ollama/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The reference fixture `ollama/{name}` as JSON.
pub fn fixture_json(name: &str) -> Value {
    serde_json::from_str(&fixture(name)).unwrap()
}

/// Replaces synthesized ids (`chatcmpl-…` completion ids, `call_…` tool-call ids) with
/// placeholders, so translated answers compare as plain JSON values.
pub fn normalize_ids(value: &mut Value) {
    match value {
        Value::Object(object) => {
            for (key, v) in object.iter_mut() {
                match (key.as_str(), v.as_str()) {
                    ("id", Some(id)) if id.starts_with("chatcmpl-") => *v = "<id>".into(),
                    ("id", Some(id)) if id.starts_with("call_") => *v = "<call>".into(),
                    _ => normalize_ids(v),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize_ids),
        _ => {}
    }
}
