//! Ollama answers → OpenAI answers: a whole `/api/chat` body becomes a `chat.completion`, an
//! `/api/embed` body an embeddings list, an error body the client's error. Pure functions; the
//! stream translator reuses the finish-reason, usage and tool-call mappings from here.

use std::time::Duration;

use http::StatusCode;
use serde::Deserialize;

use super::wire::{ChatReply, EmbedReply, IncomingCall};
use crate::clock::unix_now;
use crate::error::GatewayError;
use crate::providers::errors::{self, UpstreamFailure};
use crate::providers::translate::{
    EmbeddingEncoding, embeddings_body, new_call_id, new_completion_id,
};
use crate::types::Usage;
use crate::types::chat::{ChatCompletion, Choice, FunctionCall, ResponseMessage, ToolCall};
use crate::types::usage::OpenAiUsage;

/// OpenAI's `finish_reason` for Ollama's `done_reason`. A turn that calls tools finishes with
/// `tool_calls` (Ollama says `stop`); `load`/`unload` (model management, no text) and anything
/// unknown count as `stop`, as LiteLLM and Ollama's own `/v1` layer do.
pub fn finish_reason(done_reason: Option<&str>, called_tools: bool) -> &'static str {
    match done_reason {
        Some("length") => "length",
        _ if called_tools => "tool_calls",
        _ => "stop",
    }
}

/// Usage from the token counts; `None` when the upstream sent neither (the gateway estimates).
/// A missing count alone is 0: Ollama leaves out `prompt_eval_count` for a cached prompt.
pub fn usage(reply: &ChatReply<'_>) -> Option<Usage> {
    if reply.prompt_eval_count.is_none() && reply.eval_count.is_none() {
        return None;
    }
    Some(Usage {
        input: reply.prompt_eval_count.unwrap_or(0),
        output: reply.eval_count.unwrap_or(0),
        ..Usage::default()
    })
}

/// An OpenAI tool call for an Ollama one: its id when it has one, else a fresh one; arguments
/// as a JSON string (objects are serialized, a string is kept as it is).
pub fn tool_call(call: &IncomingCall<'_>) -> ToolCall {
    let arguments = match &call.function.arguments {
        None => "{}".to_owned(),
        Some(serde_json::Value::String(text)) => text.clone(),
        Some(value) => value.to_string(),
    };
    ToolCall {
        id: call
            .id
            .as_deref()
            .filter(|id| !id.is_empty())
            .map_or_else(new_call_id, str::to_owned),
        kind: "function".to_owned(),
        function: FunctionCall {
            name: call.function.name.clone().into_owned(),
            arguments,
        },
    }
}

/// A whole `/api/chat` answer as a `chat.completion` with its usage. `model` is used when the
/// upstream does not name one.
pub fn chat_completion(
    body: &[u8],
    model: &str,
    provider: &str,
) -> Result<(ChatCompletion, Option<Usage>), GatewayError> {
    let reply: ChatReply<'_> = crate::providers::call::parse_answer(provider, body)?;
    if let Some(error) = &reply.error {
        return Err(in_band_error(provider, error));
    }
    let message = reply.message.as_ref();
    let tool_calls: Vec<ToolCall> = message
        .and_then(|m| m.tool_calls.as_ref())
        .into_iter()
        .flatten()
        .map(tool_call)
        .collect();
    let text = message.and_then(|m| m.content.as_deref()).unwrap_or("");
    let usage = usage(&reply);
    let completion = ChatCompletion {
        id: new_completion_id(),
        object: "chat.completion".to_owned(),
        created: reply
            .created_at
            .as_deref()
            .and_then(crate::clock::unix_from_rfc3339)
            .unwrap_or_else(unix_now),
        model: reply.model.as_deref().unwrap_or(model).to_owned(),
        choices: vec![Choice {
            index: 0,
            finish_reason: Some(
                finish_reason(reply.done_reason.as_deref(), !tool_calls.is_empty()).to_owned(),
            ),
            message: ResponseMessage {
                role: "assistant".to_owned(),
                // OpenAI's content is null for a turn that only calls tools.
                content: (!text.is_empty() || tool_calls.is_empty()).then(|| text.to_owned()),
                refusal: None,
                reasoning_content: message
                    .and_then(|m| m.thinking.as_deref())
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned),
                thinking_blocks: None,
                tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
            },
            logprobs: None,
        }],
        usage: Some(OpenAiUsage::from(usage.unwrap_or_default())),
    };
    Ok((completion, usage))
}

/// A whole `/api/embed` answer as OpenAI's embeddings list, with its usage.
pub fn embeddings(
    body: &[u8],
    model: &str,
    encoding: EmbeddingEncoding,
    provider: &str,
) -> Result<(Vec<u8>, Option<Usage>), GatewayError> {
    let reply: EmbedReply<'_> = crate::providers::call::parse_answer(provider, body)?;
    let tokens = reply.prompt_eval_count;
    let model = reply.model.as_deref().unwrap_or(model);
    let body = embeddings_body(model, &reply.embeddings, encoding, tokens.unwrap_or(0))
        .map_err(|e| invalid(provider, &e))?;
    let usage = tokens.map(|input| Usage {
        input,
        ..Usage::default()
    });
    Ok((body, usage))
}

/// Maps an `/api/*` error response. Ollama's body is `{"error":"text"}` (the OpenAI-format
/// parser reads it); its 404 means the model is not pulled, which OpenAI calls
/// `model_not_found`. A 404 without that body (e.g. a base URL that points at the wrong server)
/// keeps no code.
pub fn map_error(
    provider: &str,
    status: StatusCode,
    body: &[u8],
    retry_after: Option<Duration>,
) -> GatewayError {
    #[derive(Deserialize)]
    struct OllamaError {
        error: String,
    }
    match serde_json::from_slice::<OllamaError>(body) {
        Ok(parsed) if status == StatusCode::NOT_FOUND => UpstreamFailure {
            message: Some(parsed.error),
            code: Some("model_not_found".to_owned()),
            param: Some("model".to_owned()),
            kind: None,
        }
        .into_error(provider, status, retry_after),
        _ => errors::openai(provider, status, body, retry_after),
    }
}

/// The client's error for an `{"error": …}` the upstream sent after answering 200.
pub fn in_band_error(provider: &str, error: &serde_json::Value) -> GatewayError {
    let message = match error {
        serde_json::Value::String(text) => Some(text.clone()),
        other => other
            .get("message")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned),
    };
    UpstreamFailure {
        message,
        ..UpstreamFailure::default()
    }
    .into_error(provider, StatusCode::INTERNAL_SERVER_ERROR, None)
}

/// A body that is not Ollama's format.
fn invalid(provider: &str, error: &serde_json::Error) -> GatewayError {
    GatewayError::UpstreamProtocol {
        provider: provider.to_owned(),
        detail: format!("the body is not an Ollama answer: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::providers::ollama::testing::{fixture, fixture_json, normalize_ids};

    /// Translates a whole `/api/chat` answer and compares the completion (ids normalized) and
    /// the usage.
    fn check(ollama: &str, expected: &Value, want_usage: Option<(u64, u64)>) {
        let (completion, usage) = chat_completion(ollama.as_bytes(), "fallback", "local").unwrap();
        let mut got = serde_json::to_value(&completion).unwrap();
        normalize_ids(&mut got);
        assert_eq!(&got, expected, "{ollama}");
        let want_usage = want_usage.map(|(input, output)| Usage {
            input,
            output,
            ..Usage::default()
        });
        assert_eq!(usage, want_usage, "{ollama}");
    }

    fn openai_usage(prompt: u64, completion: u64) -> Value {
        json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0}})
    }

    fn completion(created: u64, model: &str, message: Value, finish: &str, usage: Value) -> Value {
        json!({"id": "<id>", "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": null}],
            "usage": usage})
    }

    #[test]
    fn tool_calls_fixture() {
        let message = json!({"role": "assistant", "content": null, "refusal": null, "tool_calls": [
            {"id": "<call>", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Tokyo\"}"}}]});
        check(
            &fixture("chat_response_tool_calls.json"),
            &completion(
                1_751_920_373,
                "llama3.2",
                message,
                "tool_calls",
                openai_usage(169, 18),
            ),
            Some((169, 18)),
        );
    }

    #[test]
    fn text_reasoning_limits_and_missing_counts() {
        let text =
            |content: &str| json!({"role": "assistant", "content": content, "refusal": null});
        let cases = [
            (
                r#"{"model":"qwen3","created_at":"2025-07-07T20:32:53Z","message":{"role":"assistant","content":"Hi","thinking":"greet"},"done":true,"done_reason":"length","prompt_eval_count":3,"eval_count":4}"#,
                completion(
                    1_751_920_373,
                    "qwen3",
                    json!({"role": "assistant", "content": "Hi", "refusal": null, "reasoning_content": "greet"}),
                    "length",
                    openai_usage(3, 4),
                ),
                Some((3, 4)),
            ),
            // A cached prompt has no prompt_eval_count; no counts at all leaves usage unknown.
            (
                r#"{"created_at":"2025-07-07T20:32:53Z","message":{"content":""},"done":true,"eval_count":2}"#,
                completion(
                    1_751_920_373,
                    "fallback",
                    text(""),
                    "stop",
                    openai_usage(0, 2),
                ),
                Some((0, 2)),
            ),
            (
                r#"{"model":"m","created_at":"2025-07-07T20:32:53Z","message":{"content":"x"},"done":true,"done_reason":"unload"}"#,
                completion(1_751_920_373, "m", text("x"), "stop", openai_usage(0, 0)),
                None,
            ),
            // Ids from newer servers are kept; string arguments pass as they are.
            (
                r#"{"model":"m","created_at":"2025-07-07T20:32:53Z","message":{"content":"calling","tool_calls":[{"id":"abc","function":{"name":"f","arguments":"{\"x\":1}"}},{"function":{"name":"g"}}]},"done":true,"done_reason":"stop"}"#,
                completion(
                    1_751_920_373,
                    "m",
                    json!({"role": "assistant", "content": "calling", "refusal": null, "tool_calls": [
                        {"id": "abc", "type": "function", "function": {"name": "f", "arguments": "{\"x\":1}"}},
                        {"id": "<call>", "type": "function", "function": {"name": "g", "arguments": "{}"}}]}),
                    "tool_calls",
                    openai_usage(0, 0),
                ),
                None,
            ),
        ];
        for (ollama, expected, usage) in cases {
            check(ollama, &expected, usage);
        }
    }

    #[test]
    fn created_falls_back_to_now() {
        let before = unix_now();
        let (completion, _) =
            chat_completion(br#"{"message":{"content":"x"},"done":true}"#, "m", "p").unwrap();
        assert!(completion.created >= before);
        assert!(completion.id.starts_with("chatcmpl-"));
    }

    #[test]
    fn finish_reasons_follow_the_reference_map() {
        let map = &fixture_json("../translations/finish_reason_maps.json")["ollama_done_reason_to_openai (Ollama's own /v1 layer, openai/openai.go)"];
        for (done_reason, openai) in map.as_object().unwrap() {
            let plain = openai.as_str().unwrap().split_whitespace().next().unwrap();
            assert_eq!(finish_reason(Some(done_reason), false), plain);
        }
        let cases = [
            (Some("stop"), true, "tool_calls"),
            (Some("length"), true, "length"),
            (Some("load"), false, "stop"),
            (Some("unload"), false, "stop"),
            (Some("something new"), false, "stop"),
            (None, false, "stop"),
            (None, true, "tool_calls"),
        ];
        for (done_reason, called, want) in cases {
            assert_eq!(finish_reason(done_reason, called), want, "{done_reason:?}");
        }
    }

    #[test]
    fn error_bodies() {
        let error_json = fixture("error.json");
        let cases: [(u16, &str, u16, Option<&str>, &str); 8] = [
            (
                404,
                r#"{"error":"model \"llama9\" not found, try pulling it first"}"#,
                404,
                Some("model_not_found"),
                "try pulling it first",
            ),
            (404, "404 page not found", 404, None, "404 page not found"),
            (
                400,
                r#"{"error":"invalid options"}"#,
                400,
                None,
                "invalid options",
            ),
            (
                429,
                r#"{"error":"too many requests"}"#,
                429,
                None,
                "too many",
            ),
            (
                500,
                &error_json,
                500,
                None,
                "the model failed to generate a response",
            ),
            (502, "", 502, None, "answered HTTP 502"),
            (
                401,
                r#"{"error":"unauthorized"}"#,
                502,
                Some("upstream_auth_failed"),
                "credentials",
            ),
            (
                403,
                r#"{"error":"forbidden"}"#,
                502,
                Some("upstream_auth_failed"),
                "credentials",
            ),
        ];
        for (status, body, want_status, want_code, words) in cases {
            let status = StatusCode::from_u16(status).unwrap();
            let error = map_error("local", status, body.as_bytes(), None);
            assert_eq!(error.status().as_u16(), want_status, "{body}");
            assert_eq!(error.code(), want_code, "{body}");
            assert!(error.to_string().contains(words), "{body}: {error}");
        }
    }

    #[test]
    fn retry_hints_are_kept() {
        let hinted = map_error(
            "local",
            StatusCode::TOO_MANY_REQUESTS,
            b"{\"error\":\"slow down\"}",
            Some(Duration::from_secs(2)),
        );
        assert_eq!(hinted.retry_after(), Some(Duration::from_secs(2)));
    }

    #[test]
    fn broken_whole_answers() {
        let cases: [(&[u8], u16, Option<&str>); 3] = [
            (b"{\"error\":\"out of memory\"}", 500, None),
            (b"not json", 502, Some("upstream_invalid_response")),
            (b"[1,2]", 502, Some("upstream_invalid_response")),
        ];
        for (body, status, code) in cases {
            let error = chat_completion(body, "m", "local").unwrap_err();
            assert_eq!(error.status().as_u16(), status);
            assert_eq!(error.code(), code);
        }
    }

    /// Translates an `/api/embed` answer and compares the OpenAI list and the usage.
    fn check_embed(
        ollama: &str,
        encoding: EmbeddingEncoding,
        expected: &Value,
        tokens: Option<u64>,
    ) {
        let (body, usage) = embeddings(ollama.as_bytes(), "fallback", encoding, "local").unwrap();
        let got: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(&got, expected);
        assert_eq!(usage.map(|u| u.input), tokens);
    }

    #[test]
    fn embed_answers() {
        let reply = fixture_json("embed_response.json");
        let data: Vec<Value> = reply["embeddings"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, v)| json!({"object": "embedding", "index": i, "embedding": v}))
            .collect();
        let usage = |n: u64| json!({"prompt_tokens": n, "total_tokens": n});
        check_embed(
            &fixture("embed_response.json"),
            EmbeddingEncoding::Float,
            &json!({"object": "list", "data": data, "model": "all-minilm", "usage": usage(0)}),
            None,
        );
        check_embed(
            r#"{"embeddings":[[1,2,3]],"prompt_eval_count":5}"#,
            EmbeddingEncoding::Base64,
            &json!({"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": "AACAPwAAAEAAAEBA"}],
                "model": "fallback", "usage": usage(5)}),
            Some(5),
        );
        let error = embeddings(
            b"{\"embeddings\":[[\"x\"]]}",
            "m",
            EmbeddingEncoding::Base64,
            "p",
        );
        assert_eq!(error.unwrap_err().status().as_u16(), 502);
    }
}
