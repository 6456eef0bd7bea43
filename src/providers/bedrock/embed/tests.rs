//! OpenAI embeddings requests ↔ Titan and Cohere InvokeModel bodies.

use serde_json::{Value, json};

use super::*;
use crate::providers::bedrock::tests::fixture;

fn input(body: &Value, family: Family) -> Result<EmbedInput, GatewayError> {
    let text = body.to_string();
    let top = TopLevel::parse(text.as_bytes()).unwrap();
    parse(&top, family)
}

#[test]
fn families_from_ids_profiles_and_arns() {
    let cases = [
        ("amazon.titan-embed-text-v2:0", Some(Family::TitanV2)),
        ("amazon.titan-embed-text-v1", Some(Family::TitanV1)),
        ("amazon.titan-embed-g1-text-02", Some(Family::TitanV1)),
        ("cohere.embed-english-v3", Some(Family::Cohere)),
        ("us.cohere.embed-multilingual-v3", Some(Family::Cohere)),
        ("cohere.embed-v4:0", Some(Family::Cohere)),
        (
            "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0",
            Some(Family::TitanV2),
        ),
        (
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.cohere.embed-v4:0",
            Some(Family::Cohere),
        ),
        (
            "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6",
            None,
        ),
        ("amazon.titan-embed-image-v1", None),
        ("anthropic.claude-3-haiku-20240307-v1:0", None),
    ];
    for (id, want) in cases {
        assert_eq!(family(id).ok(), want, "{id}");
    }
    assert_eq!(family("x").unwrap_err().param(), Some("model"));
}

#[test]
fn titan_bodies_one_per_text() {
    let parsed = input(
        &json!({"model": "m", "input": ["a", "b"], "dimensions": 256}),
        Family::TitanV2,
    )
    .unwrap();
    let bodies: Vec<Value> = invoke_bodies(&parsed)
        .iter()
        .map(|b| serde_json::to_value(b).unwrap())
        .collect();
    assert_eq!(
        bodies,
        [
            json!({"inputText": "a", "dimensions": 256}),
            json!({"inputText": "b", "dimensions": 256})
        ]
    );
    let v1 = input(&json!({"model": "m", "input": "a"}), Family::TitanV1).unwrap();
    assert_eq!(
        serde_json::to_value(&invoke_bodies(&v1)[0]).unwrap(),
        json!({"inputText": "a"})
    );
}

#[test]
fn cohere_bodies_batch_and_carry_their_options() {
    let texts: Vec<String> = (0..COHERE_MAX_BATCH + 1).map(|i| format!("t{i}")).collect();
    let parsed = input(
        &json!({"model": "m", "input": texts, "input_type": "search_query", "truncate": "END"}),
        Family::Cohere,
    )
    .unwrap();
    let bodies = invoke_bodies(&parsed);
    assert_eq!(bodies.len(), 2);
    let first = serde_json::to_value(&bodies[0]).unwrap();
    assert_eq!(first["texts"].as_array().unwrap().len(), COHERE_MAX_BATCH);
    assert_eq!(
        (&first["input_type"], &first["truncate"]),
        (&json!("search_query"), &json!("END"))
    );
    let plain = input(&json!({"model": "m", "input": "x"}), Family::Cohere).unwrap();
    assert_eq!(
        serde_json::to_value(&invoke_bodies(&plain)[0]).unwrap(),
        json!({"texts": ["x"], "input_type": "search_document"})
    );
}

#[test]
fn refuses_what_the_family_cannot_take() {
    let cases = [
        (
            json!({"input": "x", "dimensions": 256}),
            Family::Cohere,
            "dimensions",
        ),
        (
            json!({"input": "x", "dimensions": 256}),
            Family::TitanV1,
            "dimensions",
        ),
        (
            json!({"input": "x", "dimensions": -1}),
            Family::TitanV2,
            "dimensions",
        ),
        (json!({"input": [[1, 2]]}), Family::TitanV2, "input"),
        (json!({"input": []}), Family::Cohere, "input"),
        (
            json!({"input": "x", "input_type": 3}),
            Family::Cohere,
            "input_type",
        ),
        (
            json!({"input": "x", "encoding_format": "int8"}),
            Family::Cohere,
            "encoding_format",
        ),
    ];
    for (body, family, param) in cases {
        let error = input(&body, family).unwrap_err();
        assert_eq!(
            (error.status().as_u16(), error.param()),
            (400, Some(param)),
            "{body}"
        );
    }
}

#[test]
fn titan_answers_report_tokens() {
    let parsed = input(&json!({"input": ["a", "b"]}), Family::TitanV2).unwrap();
    let bytes = fixture("titan_embed_v2_response.json");
    let answers = [
        read_answer(Family::TitanV2, bytes.as_bytes(), 1, "b").unwrap(),
        read_answer(Family::TitanV2, bytes.as_bytes(), 1, "b").unwrap(),
    ];
    let (body, usage) = to_openai("titan", &answers, &parsed, "b").unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["object"], "list");
    assert_eq!(body["data"][1]["index"], 1);
    assert_eq!(
        body["data"][0]["embedding"],
        json!([0.0123, -0.0456, 0.0789, 0.1011])
    );
    assert_eq!(
        body["usage"],
        json!({"prompt_tokens": 14, "total_tokens": 14})
    );
    assert_eq!(usage.input, 14);
}

#[test]
fn cohere_answers_estimate_tokens_and_honour_base64() {
    let parsed = input(
        &json!({"input": ["hello world", "goodbye"], "encoding_format": "base64"}),
        Family::Cohere,
    )
    .unwrap();
    let bytes = fixture("cohere_embed_response.json");
    let answers = [read_answer(Family::Cohere, bytes.as_bytes(), 2, "b").unwrap()];
    let (body, usage) = to_openai("cohere", &answers, &parsed, "b").unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert!(body["data"][0]["embedding"].is_string());
    assert_eq!(usage.input, estimate_from_bytes("hello worldgoodbye".len()));
    // Typed answers, and answers that do not fit.
    let typed =
        br#"{"embeddings": {"float": [[1.0], [2.0]]}, "response_type": "embeddings_by_type"}"#;
    assert_eq!(
        read_answer(Family::Cohere, typed, 2, "b")
            .unwrap()
            .vectors
            .len(),
        2
    );
    for (bad, expected) in [(bytes.as_bytes(), 3), (&br#"{"nope": 1}"#[..], 1)] {
        let error = read_answer(Family::Cohere, bad, expected, "b").unwrap_err();
        assert_eq!(error.code(), Some("upstream_invalid_response"));
    }
    let words = br#"{"embedding": ["x"], "inputTextTokenCount": 1}"#;
    let answer = [read_answer(Family::TitanV2, words, 1, "b").unwrap()];
    let base64 = input(
        &json!({"input": "x", "encoding_format": "base64"}),
        Family::TitanV2,
    )
    .unwrap();
    let error = to_openai("t", &answer, &base64, "b").unwrap_err();
    assert_eq!(error.code(), Some("upstream_invalid_response"));
}
