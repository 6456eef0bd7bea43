//! The fake Bedrock runtime: checks every request's SigV4 signature with the secret of the key
//! that signed it, the operation path (the model id as one encoded segment) and Converse's body
//! rules, and answers Converse, ConverseStream (real event-stream frames, and on request an
//! exception or a frame with a bad CRC) and InvokeModel for Titan embeddings.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use llm_sidecar::stream::eventstream::{encode_event, encode_exception};

use super::{BAD_CRC, EXCEPTION, KEY_ID, NOT_READY, REGION, SECRET, THROTTLED};
use crate::common::aws::{FakeSts, verify_recorded};
use crate::common::fixtures;
use crate::common::upstream::{Canned, Recorded};

/// Bedrock's stream content type.
const EVENT_STREAM: &str = "application/vnd.amazon.eventstream";

/// The secret (and session token) of an access key allowed to sign, by its id.
pub type Keys = Arc<dyn Fn(&str) -> Option<(String, Option<String>)> + Send + Sync>;

pub fn keys_of(secret: &'static str) -> Keys {
    Arc::new(move |id: &str| (id == KEY_ID).then(|| (secret.to_owned(), None)))
}

pub fn static_keys() -> Keys {
    keys_of(SECRET)
}

/// The keys a fake STS issued.
pub fn issued_by(sts: &FakeSts) -> Keys {
    let state = sts.state.clone();
    Arc::new(move |id: &str| {
        let state = state.lock().unwrap();
        let issued = state.issued.iter().find(|i| i.access_key_id == id)?;
        Some((issued.secret.clone(), Some(issued.token.clone())))
    })
}

fn error(status: u16, kind: &'static str, message: &str) -> Canned {
    Canned::JsonHeaders(
        status,
        json!({"message": message}),
        vec![(
            "x-amzn-errortype",
            format!("{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"),
        )],
    )
}

/// Checks the signature the way AWS would: by the key's own secret, in Bedrock's scope, with
/// the session token of temporary credentials signed.
pub fn check_signature(r: &Recorded, keys: &Keys) -> Result<(), String> {
    let authorization = r.header("authorization").ok_or("unsigned request")?;
    let key_id = authorization
        .split("Credential=")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .ok_or("no credential in the authorization")?;
    let (secret, token) = keys(key_id).ok_or_else(|| format!("unknown access key {key_id}"))?;
    let signed = verify_recorded(r, &secret)?;
    if (signed.service.as_str(), signed.region.as_str()) != ("bedrock", REGION) {
        return Err(format!(
            "signed for {} in {}",
            signed.service, signed.region
        ));
    }
    if r.header("x-amz-security-token") != token.as_deref() {
        return Err("wrong or missing session token".into());
    }
    Ok(())
}

/// `/model/{id}/{operation}` with the id decoded (it must be one encoded segment).
fn operation(path: &str) -> Result<(String, String), String> {
    let rest = path
        .strip_prefix("/model/")
        .ok_or(format!("unknown path {path}"))?;
    let (model, op) = rest
        .rsplit_once('/')
        .ok_or(format!("no operation in {path}"))?;
    if model.contains('/') || model.contains(':') {
        return Err(format!("the model id is not one encoded segment: {model}"));
    }
    let decoded = percent_decode(model)?;
    Ok((decoded, op.to_owned()))
}

fn percent_decode(text: &str) -> Result<String, String> {
    let mut out = Vec::new();
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        if b != b'%' {
            out.push(b);
            continue;
        }
        let hex: String = [bytes.next(), bytes.next()]
            .iter()
            .map(|c| c.map(char::from).unwrap_or('!'))
            .collect();
        out.push(u8::from_str_radix(&hex, 16).map_err(|_| format!("bad escape in {text}"))?);
    }
    String::from_utf8(out).map_err(|e| e.to_string())
}

/// Converse's rules for a body: no `model`, turns alternating from `user`, every block known,
/// and with Claude's thinking on, every assistant turn that called a tool starts with the
/// signed thinking that led to the call (Claude refuses the request otherwise).
fn check_converse(body: &Value) -> Result<(), String> {
    for key in ["model", "stream", "max_tokens", "tools"] {
        if body.get(key).is_some() {
            return Err(format!("unknown field {key}"));
        }
    }
    let messages = body["messages"].as_array().filter(|m| !m.is_empty());
    let messages = messages.ok_or("messages must be a non-empty list")?;
    for (i, message) in messages.iter().enumerate() {
        let want = if i % 2 == 0 { "user" } else { "assistant" };
        if message["role"] != want {
            return Err(format!("messages[{i}] must be {want}"));
        }
        let blocks = message["content"]
            .as_array()
            .ok_or("content must be a list")?;
        for block in blocks {
            let known = ["text", "image", "toolUse", "toolResult", "reasoningContent"];
            if !block
                .as_object()
                .is_some_and(|o| o.keys().all(|k| known.contains(&k.as_str())))
            {
                return Err(format!("unknown content block {block}"));
            }
        }
    }
    if thinking_on(body) {
        check_thinking_replayed(messages)?;
    }
    Ok(())
}

/// Whether the request turns Claude's thinking on.
fn thinking_on(body: &Value) -> bool {
    body["additionalModelRequestFields"]["thinking"]["type"] == "enabled"
}

fn check_thinking_replayed(messages: &[Value]) -> Result<(), String> {
    for (i, message) in messages.iter().enumerate() {
        let blocks = message["content"]
            .as_array()
            .ok_or("content must be a list")?;
        let calls = blocks.iter().any(|b| b.get("toolUse").is_some());
        let signature = &blocks[0]["reasoningContent"]["reasoningText"]["signature"];
        if calls && signature.as_str().is_none_or(str::is_empty) {
            return Err(format!(
                "messages[{i}]: a turn with tool use must start with its signed thinking"
            ));
        }
    }
    Ok(())
}

/// The first tool the request offers (the one the fake "calls").
fn tool_name(body: &Value) -> Value {
    body["toolConfig"]["tools"][0]["toolSpec"]["name"].clone()
}

fn wants_tool_call(body: &Value) -> bool {
    let last = body["messages"].as_array().and_then(|m| m.last()).cloned();
    let answering_tool = last.is_some_and(|m| m["content"][0].get("toolResult").is_some());
    body.get("toolConfig").is_some() && !answering_tool
}

/// A ConverseStream answer: the fixture's events framed, one frame per chunk.
fn frames(events: &[(String, Value)]) -> Vec<Vec<u8>> {
    events
        .iter()
        .map(|(kind, payload)| encode_event(kind, payload.to_string().as_bytes()).unwrap())
        .collect()
}

fn text_events(text: &[&str]) -> Vec<(String, Value)> {
    let mut events = vec![("messageStart".to_owned(), json!({"role": "assistant"}))];
    for piece in text {
        let delta = json!({"contentBlockIndex": 0, "delta": {"text": piece}});
        events.push(("contentBlockDelta".to_owned(), delta));
    }
    events.push((
        "contentBlockStop".to_owned(),
        json!({"contentBlockIndex": 0}),
    ));
    events.push(("messageStop".to_owned(), json!({"stopReason": "end_turn"})));
    let usage = json!({"inputTokens": 9, "outputTokens": 2, "totalTokens": 11});
    events.push((
        "metadata".to_owned(),
        json!({"usage": usage, "metrics": {"latencyMs": 5}}),
    ));
    events
}

fn fixture_events(name: &str) -> Vec<(String, Value)> {
    let list = fixtures::json(&format!("../bedrock/{name}"));
    list.as_array()
        .unwrap()
        .iter()
        .map(|pair| (pair[0].as_str().unwrap().to_owned(), pair[1].clone()))
        .collect()
}

fn stream_answer(model: &str, body: &Value) -> Canned {
    let mut chunks = match model {
        _ if wants_tool_call(body) => {
            let mut events = fixture_events("converse_stream_tool_use.json");
            for (kind, payload) in &mut events {
                if kind == "contentBlockStart" {
                    payload["start"]["toolUse"]["name"] = tool_name(body);
                }
            }
            frames(&events)
        }
        _ if thinking_on(body) => frames(&fixture_events("converse_stream_reasoning.json")),
        _ => frames(&text_events(&["Hel", "lo!"])),
    };
    if model == EXCEPTION {
        chunks.truncate(2);
        let payload = json!({"message": "Too many tokens, please wait"}).to_string();
        chunks.push(encode_exception("throttlingException", payload.as_bytes()).unwrap());
    }
    if model == BAD_CRC {
        chunks.truncate(2);
        let mut broken = encode_event("contentBlockDelta", b"{}").unwrap();
        let last = broken.len() - 1;
        broken[last] ^= 0xff;
        chunks.push(broken);
    }
    Canned::Binary(200, EVENT_STREAM, chunks, Duration::ZERO)
}

/// InvokeModel for embeddings: Titan takes one `inputText`, Cohere a batch of `texts` (and
/// answers one vector per text).
fn embeddings_answer(model: &str, body: &Value) -> Canned {
    if model.starts_with("cohere.") {
        let Some(texts) = body["texts"].as_array().filter(|t| !t.is_empty()) else {
            return error(400, "ValidationException", "texts is required");
        };
        if body["input_type"].as_str().is_none() {
            return error(400, "ValidationException", "input_type is required");
        }
        let vectors: Vec<Value> = texts.iter().map(|_| json!([0.1, 0.2, 0.3])).collect();
        let answer =
            json!({"embeddings": vectors, "id": "e-1", "response_type": "embeddings_floats"});
        return Canned::Json(200, answer);
    }
    if body.get("inputText").and_then(Value::as_str).is_none() {
        return error(400, "ValidationException", "inputText is required");
    }
    Canned::Json(
        200,
        fixtures::json("../bedrock/titan_embed_v2_response.json"),
    )
}

/// The fake Bedrock runtime.
pub fn bedrock(keys: Keys) -> impl Fn(&Recorded) -> Canned + Send + Sync + 'static {
    move |r| {
        if let Err(e) = check_signature(r, &keys) {
            return error(403, "AccessDeniedException", &format!("signature: {e}"));
        }
        let (model, op) = match operation(&r.path) {
            Ok(found) => found,
            Err(e) => return error(404, "UnknownOperationException", &e),
        };
        let body = r.json();
        if model == THROTTLED {
            return error(429, "ThrottlingException", "Too many requests, please wait");
        }
        if model == NOT_READY {
            // Bedrock's status for a model being loaded is 429: only the type says otherwise.
            return error(
                429,
                "ModelNotReadyException",
                "Model is not ready for inference",
            );
        }
        if op == "invoke" {
            return embeddings_answer(&model, &body);
        }
        if let Err(e) = check_converse(&body) {
            return error(400, "ValidationException", &e);
        }
        match op.as_str() {
            "converse-stream" => stream_answer(&model, &body),
            "converse" if wants_tool_call(&body) => {
                let mut answer = fixtures::json("../bedrock/converse_response_tool_use.json");
                answer["output"]["message"]["content"][2]["toolUse"]["name"] = tool_name(&body);
                Canned::Json(200, answer)
            }
            "converse" => Canned::Json(
                200,
                fixtures::json("../bedrock/converse_response_text.json"),
            ),
            other => error(404, "UnknownOperationException", other),
        }
    }
}
