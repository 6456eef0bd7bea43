//! JSON Schema (as OpenAI tools carry it) → the OpenAPI-3 subset Gemini accepts in
//! `functionDeclarations[].parameters`. Gemini answers 400 ("Unknown name …") for any keyword
//! outside its subset, so the schema is rebuilt from an allowlist, recursively: `$ref`s to local
//! `$defs`/`definitions` are inlined (Gemini has no references), `oneOf` becomes `anyOf`, `const`
//! a one-value `enum`, and a type list such as `["string","null"]` a type plus `nullable`.

use serde_json::{Map, Value};

/// Keywords of Gemini's `Schema` copied as they are.
const KEPT: [&str; 19] = [
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "propertyOrdering",
    "default",
    "minimum",
    "maximum",
    "type",
];

/// How deep references may nest before the rest is left open: recursive schemas (a tree node
/// whose children are nodes) would otherwise expand forever.
const MAX_DEPTH: usize = 32;
/// Most schema nodes one cleaned schema may hold. `$ref`s are expanded inline, and a definition
/// that refers to itself several times would otherwise grow exponentially with the depth (a
/// 200-byte schema into gigabytes); past the budget, nodes become open schemas.
const MAX_NODES: usize = 10_000;

/// The `parameters` for a function declaration, or `None` when the schema declares no
/// properties: Gemini rejects an `OBJECT` with empty `properties` ("should be non-empty for
/// OBJECT type"), and a function without parameters is declared by leaving them out.
pub fn parameters(schema: &Value) -> Option<Value> {
    let mut budget = MAX_NODES;
    let mut cleaned = clean(schema, &definitions(schema), 0, &mut budget);
    let object = cleaned.as_object_mut()?;
    let declares = object
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|p| !p.is_empty());
    if !declares {
        return None;
    }
    // `ANY` mode fails on parameters without an explicit object type.
    object
        .entry("type")
        .or_insert_with(|| Value::from("object"));
    Some(cleaned)
}

/// The local definitions `$ref`s may point at.
fn definitions(schema: &Value) -> Map<String, Value> {
    ["$defs", "definitions"]
        .iter()
        .filter_map(|key| schema.get(key).and_then(Value::as_object))
        .flat_map(|defs| defs.iter().map(|(k, v)| (k.clone(), v.clone())))
        .collect()
}

/// The definition a local reference (`#/$defs/Name`, `#/definitions/Name`) names.
fn resolve<'a>(reference: &str, defs: &'a Map<String, Value>) -> Option<&'a Value> {
    let name = reference
        .strip_prefix("#/$defs/")
        .or_else(|| reference.strip_prefix("#/definitions/"))?;
    defs.get(name)
}

/// One schema node rebuilt from the allowlist, taking one node from `budget`.
fn clean(schema: &Value, defs: &Map<String, Value>, depth: usize, budget: &mut usize) -> Value {
    let mut out = Map::new();
    // `true`/`false` schemas, nodes past the depth limit and past the budget become open schemas.
    let Some(node) = schema
        .as_object()
        .filter(|_| depth <= MAX_DEPTH && *budget > 0)
    else {
        return Value::Object(out);
    };
    *budget -= 1;
    let referenced = node
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| resolve(r, defs));
    let single_all_of = node
        .get("allOf")
        .and_then(Value::as_array)
        .filter(|all| all.len() == 1)
        .and_then(|all| all.first());
    for base in [referenced, single_all_of].into_iter().flatten() {
        if let Value::Object(resolved) = clean(base, defs, depth + 1, budget) {
            out.extend(resolved);
        }
    }
    for (key, value) in node {
        match key.as_str() {
            "properties" => {
                if let Some(properties) = value.as_object() {
                    let cleaned = properties
                        .iter()
                        .map(|(name, s)| (name.clone(), clean(s, defs, depth + 1, budget)))
                        .collect();
                    out.insert(key.clone(), Value::Object(cleaned));
                }
            }
            "items" => {
                out.insert(key.clone(), clean(value, defs, depth + 1, budget));
            }
            "anyOf" | "oneOf" => {
                if let Some(options) = value.as_array() {
                    let cleaned = options
                        .iter()
                        .map(|s| clean(s, defs, depth + 1, budget))
                        .collect();
                    out.insert("anyOf".to_owned(), Value::Array(cleaned));
                }
            }
            "const" => {
                out.insert("enum".to_owned(), Value::Array(vec![value.clone()]));
            }
            "type" => set_type(value, &mut out),
            other if KEPT.contains(&other) => {
                out.insert(key.clone(), value.clone());
            }
            _ => {}
        }
    }
    Value::Object(out)
}

/// `type`: a single name is kept; a list keeps its one non-null name and sets `nullable`
/// (several non-null names become an `anyOf` of single types).
fn set_type(value: &Value, out: &mut Map<String, Value>) {
    let Some(names) = value.as_array() else {
        out.insert("type".to_owned(), value.clone());
        return;
    };
    let nullable = names.iter().any(|n| n == "null");
    let mut types: Vec<&Value> = names.iter().filter(|n| *n != "null").collect();
    if nullable {
        out.insert("nullable".to_owned(), Value::Bool(true));
    }
    match (types.pop(), types.is_empty()) {
        (Some(only), true) => {
            out.insert("type".to_owned(), only.clone());
        }
        (Some(last), false) => {
            types.push(last);
            let options = types
                .into_iter()
                .map(|t| serde_json::json!({ "type": t }))
                .collect();
            out.insert("anyOf".to_owned(), Value::Array(options));
        }
        (None, _) => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn cleans_schemas_for_gemini() {
        let cases = [
            (
                json!({"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"], "additionalProperties": false, "strict": true, "$schema": "http://json-schema.org/draft-07/schema#"}),
                Some(
                    json!({"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}),
                ),
            ),
            (json!({"type": "object", "properties": {}}), None),
            (json!({"type": "object"}), None),
            (
                json!({"properties": {"n": {"type": ["integer", "null"], "exclusiveMinimum": 0}}}),
                Some(
                    json!({"type": "object", "properties": {"n": {"type": "integer", "nullable": true}}}),
                ),
            ),
            (
                json!({"type": "object", "properties": {"v": {"type": ["string", "number"]}, "k": {"const": "x"}, "u": {"oneOf": [{"type": "string", "additionalProperties": false}, {"type": "integer"}]}}}),
                Some(
                    json!({"type": "object", "properties": {"v": {"anyOf": [{"type": "string"}, {"type": "number"}]}, "k": {"enum": ["x"]}, "u": {"anyOf": [{"type": "string"}, {"type": "integer"}]}}}),
                ),
            ),
            (
                json!({"type": "object", "$defs": {"Pet": {"type": "object", "properties": {"name": {"type": "string"}}, "additionalProperties": false}},
                       "properties": {"pets": {"type": "array", "items": {"$ref": "#/$defs/Pet"}}, "best": {"allOf": [{"$ref": "#/$defs/Pet"}], "description": "favourite"}}}),
                Some(
                    json!({"type": "object", "properties": {"pets": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
                           "best": {"type": "object", "properties": {"name": {"type": "string"}}, "description": "favourite"}}}),
                ),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(parameters(&input), want, "{input}");
        }
    }

    #[test]
    fn fanned_out_references_stop_at_the_node_budget() {
        // Each node refers to itself three times: 3^32 nodes by depth alone (gigabytes).
        let fan = json!({"type": "object", "$defs": {"N": {"type": "object", "properties": {
            "a": {"$ref": "#/$defs/N"}, "b": {"$ref": "#/$defs/N"}, "c": {"$ref": "#/$defs/N"}}}},
            "properties": {"r": {"$ref": "#/$defs/N"}}});
        let cleaned = parameters(&fan).unwrap();
        let nodes = cleaned.to_string().matches("\"type\"").count();
        assert!(nodes <= MAX_NODES, "{nodes} nodes");
    }

    #[test]
    fn recursive_references_stop_at_the_depth_limit() {
        let tree = json!({"type": "object", "$defs": {"Node": {"type": "object", "properties": {"child": {"$ref": "#/$defs/Node"}}}},
                          "properties": {"root": {"$ref": "#/$defs/Node"}}});
        let cleaned = parameters(&tree).unwrap();
        let text = cleaned.to_string();
        assert!(!text.contains("$ref"), "{text}");
        assert!(text.len() < 10_000, "{}", text.len());
    }
}
