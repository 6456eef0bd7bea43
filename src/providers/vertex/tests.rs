//! Publishers and paths from model names, and the Claude body Vertex takes.

use super::*;

#[test]
fn models_name_their_publisher() {
    let cases = [
        (
            "gemini-2.5-flash",
            None,
            Ok((Publisher::Google, "gemini-2.5-flash")),
        ),
        (
            "claude-sonnet-4@20250514",
            None,
            Ok((Publisher::Anthropic, "claude-sonnet-4@20250514")),
        ),
        (
            "my-claude-tune",
            Some(Publisher::Anthropic),
            Ok((Publisher::Anthropic, "my-claude-tune")),
        ),
        (
            "publishers/anthropic/models/x",
            Some(Publisher::Google),
            Ok((Publisher::Anthropic, "x")),
        ),
        (
            "publishers/google/models/text-embedding-005",
            None,
            Ok((Publisher::Google, "text-embedding-005")),
        ),
        ("publishers/meta/models/llama", None, Err(())),
        ("publishers/google/llama", None, Err(())),
    ];
    for (model, configured, want) in cases {
        let got =
            split_publisher(model, configured).map_err(|e| assert_eq!(e.status().as_u16(), 400));
        assert_eq!(got, want, "{model}");
    }
}

#[test]
fn claude_bodies_name_the_version_and_no_model() {
    let request: MessagesRequest = serde_json::from_value(serde_json::json!({
        "model": "claude-sonnet-4",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "hi"}],
        "stream": true
    }))
    .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&claude_body(&request).unwrap()).unwrap();
    assert_eq!(body["anthropic_version"], ANTHROPIC_VERSION);
    assert!(body.get("model").is_none());
    assert_eq!(body["stream"], true);
    assert_eq!(raw_predict("/m", true), "/m:streamRawPredict");
    assert_eq!(raw_predict("/m", false), "/m:rawPredict");
}
