//! The wire types read and write every Gemini fixture without losing a field.

use crate::providers::gemini::tests::{json, numbers_as_f64, text};
use crate::providers::gemini::wire::{
    BatchEmbedRequest, BatchEmbedResponse, ContentEmbedding, EmbedContentRequest,
    GenerateContentRequest, GenerateContentResponse,
};

/// Parses `fixture` as `T` and writes it again: the JSON must be the same.
fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(fixture: &str) {
    let original = json(fixture);
    let parsed: T = serde_json::from_value(original.clone()).unwrap();
    let again = serde_json::to_value(&parsed).unwrap();
    assert_eq!(numbers_as_f64(again), numbers_as_f64(original), "{fixture}");
}

#[test]
fn request_fixtures_round_trip() {
    round_trip::<GenerateContentRequest>("gemini/generate_content_request.json");
    round_trip::<GenerateContentRequest>("gemini/generate_content_request_json_schema.json");
    round_trip::<BatchEmbedRequest>("gemini/batch_embed_contents_request.json");
    round_trip::<EmbedContentRequest>("gemini/embed_content_request.json");
    let translated = json("translations/openai_to_gemini_request.json");
    let expected = translated["expected_gemini"].clone();
    let parsed: GenerateContentRequest = serde_json::from_value(expected.clone()).unwrap();
    assert_eq!(serde_json::to_value(&parsed).unwrap(), expected);
}

#[test]
fn response_fixtures_parse() {
    for name in [
        "generate_content_response_text",
        "generate_content_response_function_call",
        "generate_content_response_prompt_blocked",
    ] {
        let parsed: GenerateContentResponse =
            serde_json::from_str(&text(&format!("gemini/{name}.json"))).unwrap();
        assert!(parsed.usage_metadata.is_some(), "{name}");
        assert!(parsed.response_id.is_some(), "{name}");
    }
    let batch: BatchEmbedResponse =
        serde_json::from_str(&text("gemini/batch_embed_contents_response.json")).unwrap();
    assert_eq!(batch.embeddings.len(), 2);
    let single = json("gemini/embed_content_response.json");
    let embedding: ContentEmbedding = serde_json::from_value(single["embedding"].clone()).unwrap();
    assert_eq!(embedding.values, [0.0123, -0.0456, 0.0789]);
    let every_event_parses = text("gemini/stream_generate_content.sse")
        .split("\r\n\r\n")
        .filter_map(|e| e.trim().strip_prefix("data: "))
        .all(|d| serde_json::from_str::<GenerateContentResponse>(d).is_ok());
    assert!(every_event_parses);
}
