//! OpenAI embeddings ↔ `batchEmbedContents`.

use serde_json::{Value, json};

use crate::providers::gemini::embed::{EmbedInput, MAX_BATCH, batches, parse, to_openai};
use crate::providers::gemini::tests::{json, numbers_as_f64};
use crate::providers::gemini::wire::BatchEmbedResponse;
use crate::types::TopLevel;

const RESOURCE: &str = "models/gemini-embedding-001";

fn input(body: &Value) -> Result<EmbedInput, Option<String>> {
    let text = body.to_string();
    let top = TopLevel::parse(text.as_bytes()).unwrap();
    parse(&top).map_err(|e| {
        assert_eq!(e.status().as_u16(), 400, "{e}");
        e.param().map(str::to_owned)
    })
}

/// Translates an OpenAI body and compares the Gemini batches with `expected`.
fn check(openai: &Value, expected: &[Value]) {
    let input = input(openai).unwrap();
    let got: Vec<Value> = batches(&input, RESOURCE)
        .iter()
        .map(|b| serde_json::to_value(b).unwrap())
        .collect();
    assert_eq!(got, expected);
}

/// The OpenAI request fixture (with LiteLLM's `task_type`) gives the Gemini batch fixture.
#[test]
fn request_fixture_becomes_the_batch_fixture() {
    let mut openai = json("openai/embeddings_request_full.json");
    openai["task_type"] = json!("RETRIEVAL_DOCUMENT");
    check(&openai, &[json("gemini/batch_embed_contents_request.json")]);
    let one = json!({"model": "e", "input": "hello"});
    check(
        &one,
        &[json!({"requests": [{"model": RESOURCE, "content": {"parts": [{"text": "hello"}]}}]})],
    );
}

#[test]
fn large_inputs_are_split_in_order() {
    let texts: Vec<String> = (0..MAX_BATCH * 2 + 5).map(|i| format!("t{i}")).collect();
    let input = input(&json!({"model": "e", "input": texts})).unwrap();
    let sent: Vec<Vec<String>> = batches(&input, RESOURCE)
        .into_iter()
        .map(|b| {
            b.requests
                .into_iter()
                .map(|r| r.content.parts[0].text.clone().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(
        sent.iter().map(Vec::len).collect::<Vec<_>>(),
        [MAX_BATCH, MAX_BATCH, 5]
    );
    assert_eq!(sent.concat(), texts);
}

#[test]
fn bad_inputs_are_400_naming_the_param() {
    let cases = [
        (json!({"input": [1, 2, 3]}), "input"),
        (json!({"input": [[1, 2], [3]]}), "input"),
        (json!({"input": []}), "input"),
        (json!({"input": ["ok", {"text": "x"}]}), "input"),
        (json!({"input": 5}), "input"),
        (json!({"input": "x", "dimensions": 0}), "dimensions"),
        (
            json!({"input": "x", "encoding_format": "hex"}),
            "encoding_format",
        ),
    ];
    for (body, param) in cases {
        assert_eq!(input(&body).unwrap_err().as_deref(), Some(param), "{body}");
    }
}

#[test]
fn response_fixture_becomes_an_openai_list_with_estimated_usage() {
    let answer: BatchEmbedResponse =
        serde_json::from_value(json("gemini/batch_embed_contents_response.json")).unwrap();
    let request =
        input(&json!({"model": "e", "input": ["first document", "second document"]})).unwrap();
    let (body, usage) = to_openai(&answer.embeddings, &request, "gemini-embedding-001");
    let body = serde_json::to_value(&body).unwrap();
    let expected = json!({
        "object": "list",
        "data": [
            {"object": "embedding", "index": 0, "embedding": [0.0123, -0.0456, 0.0789]},
            {"object": "embedding", "index": 1, "embedding": [0.0321, -0.0654, 0.0987]}
        ],
        "model": "gemini-embedding-001",
        "usage": {"prompt_tokens": 8, "total_tokens": 8}
    });
    assert_eq!(numbers_as_f64(body), numbers_as_f64(expected));
    assert_eq!(usage.input, 8);
}

/// Float32 little-endian base64, byte for byte what OpenAI's base64 fixture holds for [1,2,3]
/// and [4,5,6].
#[test]
fn base64_vectors_match_openai() {
    let answer: BatchEmbedResponse = serde_json::from_value(
        json!({"embeddings": [{"values": [1.0, 2.0, 3.0]}, {"values": [4, 5, 6]}]}),
    )
    .unwrap();
    let request = input(&json("openai/embeddings_request_full.json")).unwrap();
    assert!(request.base64);
    let (body, _) = to_openai(&answer.embeddings, &request, "m");
    let body = serde_json::to_value(&body).unwrap();
    let fixture = json("openai/embeddings_response_base64.json");
    assert_eq!(body["data"], fixture["data"]);
}
