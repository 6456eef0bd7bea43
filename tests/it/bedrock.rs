//! The Bedrock adapter end to end: the real gateway in front of a fake Bedrock runtime that
//! checks what Bedrock checks — every request's SigV4 signature recomputed with the secret of
//! the key that signed it (service `bedrock`, the region's scope, the session token signed), the
//! operation paths with the model id as one encoded segment, Converse bodies with alternating
//! turns — and answers Converse, ConverseStream in real event-stream framing (including an
//! exception event and a frame with a bad CRC) and InvokeModel for embeddings. Credentials come
//! from static keys in the config and, in one test, from IRSA through a fake STS.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use llm_sidecar::stream::eventstream::{encode_event, encode_exception};

use crate::common::aws::{FakeSts, StsState, verify_recorded};
use crate::common::client::{Via, post, sse_data};
use crate::common::gateway::Options;
use crate::common::upstream::{Canned, Recorded};
use crate::common::{Gateway, Upstream, WAIT, fixtures};

const REGION: &str = "us-east-1";
const KEY_ID: &str = "AKIDBEDROCKTEST";
const SECRET: &str = "bedrock/secret+KEY0123456789";
const CLAUDE: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";
const TITAN: &str = "amazon.titan-embed-text-v2:0";
const PROFILE_ARN: &str =
    "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc";
/// Model ids that make the fake misbehave.
const THROTTLED: &str = "meta.llama3-throttled-v1:0";
const EXCEPTION: &str = "meta.llama3-exception-v1:0";
const BAD_CRC: &str = "meta.llama3-bad-crc-v1:0";
const EVENT_STREAM: &str = "application/vnd.amazon.eventstream";

/// The secret (and session token) of an access key allowed to sign, by its id.
type Keys = Arc<dyn Fn(&str) -> Option<(String, Option<String>)> + Send + Sync>;

fn keys_of(secret: &'static str) -> Keys {
    Arc::new(move |id: &str| (id == KEY_ID).then(|| (secret.to_owned(), None)))
}

fn static_keys() -> Keys {
    keys_of(SECRET)
}

/// The keys a fake STS issued.
fn issued_by(sts: &FakeSts) -> Keys {
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
fn check_signature(r: &Recorded, keys: &Keys) -> Result<(), String> {
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

/// Converse's rules for a body: no `model`, turns alternating from `user`, every block known.
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

fn embeddings_answer(body: &Value) -> Canned {
    if body.get("inputText").and_then(Value::as_str).is_none() {
        return error(400, "ValidationException", "inputText is required");
    }
    Canned::Json(
        200,
        fixtures::json("../bedrock/titan_embed_v2_response.json"),
    )
}

/// The fake Bedrock runtime.
fn bedrock(keys: Keys) -> impl Fn(&Recorded) -> Canned + Send + Sync + 'static {
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
        if op == "invoke" {
            return embeddings_answer(&body);
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

fn providers(base_url: &str, credentials: &str) -> String {
    format!(
        "providers:
  - name: aws
    type: bedrock
    region: {REGION}
    base_url: '{base_url}'
{credentials}    models: [{CLAUDE}, {TITAN}, {THROTTLED}, {EXCEPTION}, {BAD_CRC}]
models:
  - {{name: profile, deployments: [{{provider: aws, model: '{PROFILE_ARN}'}}]}}
"
    )
}

fn static_credentials() -> String {
    format!("    aws_access_key_id: {KEY_ID}\n    aws_secret_access_key: '{SECRET}'\n")
}

async fn gateway(keys: Keys) -> (Upstream, Gateway) {
    let upstream = Upstream::start(bedrock(keys)).await;
    let base = format!("http://{}", upstream.addr);
    let gw = Gateway::start(&providers(&base, &static_credentials())).await;
    (upstream, gw)
}

#[tokio::test]
async fn the_openai_sdk_against_bedrock() {
    let (upstream, gw) = gateway(static_keys()).await;
    let scenarios = [
        "chat",
        "stream",
        "stream_usage",
        "tools",
        "tool_stream",
        "image",
        "throttled",
        "embeddings",
        "models",
    ];
    let env = [
        ("MODEL", CLAUDE),
        ("EMBEDDING_MODEL", TITAN),
        ("THROTTLED_MODEL", THROTTLED),
    ];
    crate::sdk::run("openai_scenarios.py", &gw, &env, &scenarios).await;
    let requests = upstream.requests.lock().unwrap().clone();
    assert!(requests.len() >= 7, "{} requests", requests.len());
    // Every request reached the fake signed (it answers 403 otherwise, failing the SDK).
    assert!(
        requests
            .iter()
            .all(|r| check_signature(r, &static_keys()).is_ok())
    );
    // Titan embeds one text per call: the SDK's two inputs are two signed invocations.
    let invokes = requests
        .iter()
        .filter(|r| r.path.ends_with("/invoke"))
        .count();
    assert_eq!(invokes, 2);
    let image = requests
        .iter()
        .find_map(|r| r.json()["messages"][0]["content"][1].get("image").cloned())
        .expect("the image reached Bedrock");
    assert_eq!(image["format"], "png");
    assert!(
        image["source"]["bytes"]
            .as_str()
            .unwrap()
            .starts_with("iVBORw0KGgo")
    );
}

#[tokio::test]
async fn the_anthropic_sdk_against_bedrock() {
    let (upstream, gw) = gateway(static_keys()).await;
    let scenarios = ["create", "stream", "tools", "count_tokens"];
    crate::sdk::run(
        "anthropic_scenarios.py",
        &gw,
        &[("MODEL", CLAUDE)],
        &scenarios,
    )
    .await;
    let requests = upstream.requests.lock().unwrap().clone();
    assert!(
        requests
            .iter()
            .all(|r| check_signature(r, &static_keys()).is_ok())
    );
    assert!(
        requests
            .iter()
            .any(|r| r.path.ends_with("/converse-stream"))
    );
}

#[tokio::test]
async fn tool_calls_stream_from_converse_events() {
    let (_upstream, gw) = gateway(static_keys()).await;
    let body = json!({
        "model": CLAUDE,
        "stream": true,
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
    });
    let reply = post(&Via::Unix(gw.unix.clone()), "/v1/chat/completions", &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let events = sse_data(&reply.text());
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    let arguments: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str())
        .collect();
    assert_eq!(arguments, "{\"city\": \"Paris\"}");
    let call = chunks
        .iter()
        .find_map(|c| c["choices"][0]["delta"]["tool_calls"][0]["id"].as_str())
        .unwrap();
    assert_eq!(call, "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q");
    let finish = chunks
        .iter()
        .find_map(|c| c["choices"][0]["finish_reason"].as_str());
    assert_eq!(finish, Some("tool_calls"));
}

#[tokio::test]
async fn an_inference_profile_arn_is_one_signed_path_segment() {
    let (upstream, gw) = gateway(static_keys()).await;
    let body = json!({"model": "profile", "messages": [{"role": "user", "content": "Hi"}]});
    let reply = post(&Via::Tcp(gw.tcp), "/v1/chat/completions", &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        upstream.last().path,
        "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile%2Fabc/converse"
    );
    assert_eq!(reply.json()["usage"]["total_tokens"], 23);
}

#[tokio::test]
async fn stream_failures_end_in_band() {
    let (_upstream, gw) = gateway(static_keys()).await;
    for (model, want) in [
        (EXCEPTION, "Too many tokens"),
        (BAD_CRC, "could not be read"),
    ] {
        let body = json!({"model": model, "stream": true, "messages": [{"role": "user", "content": "Hi"}]});
        let reply = post(&Via::Unix(gw.unix.clone()), "/v1/chat/completions", &body).await;
        assert_eq!(reply.status, 200, "{model}: {}", reply.text());
        let events = sse_data(&reply.text());
        assert_eq!(events.last().map(String::as_str), Some("[DONE]"), "{model}");
        let error = events
            .iter()
            .filter_map(|e| serde_json::from_str::<Value>(e).ok())
            .find_map(|e| e.get("error").cloned())
            .unwrap_or_else(|| panic!("{model}: no in-band error in {events:?}"));
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(want), "{model}: {message}");
    }
}

#[tokio::test]
async fn throttling_is_a_429_the_client_can_retry() {
    let (upstream, gw) = gateway(static_keys()).await;
    let body = json!({"model": THROTTLED, "messages": [{"role": "user", "content": "Hi"}]});
    let reply = post(&Via::Unix(gw.unix.clone()), "/v1/chat/completions", &body).await;
    assert_eq!(reply.status, 429, "{}", reply.text());
    let message = reply.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("Too many requests"), "{message}");
    assert!(upstream.count() >= 1);
}

#[tokio::test]
async fn a_wrong_secret_is_the_gateways_credential_problem() {
    let (_upstream, gw) = gateway(keys_of("another secret")).await;
    let body = json!({"model": CLAUDE, "messages": [{"role": "user", "content": "Hi"}]});
    let reply = post(&Via::Unix(gw.unix.clone()), "/v1/chat/completions", &body).await;
    assert_eq!(reply.status, 502, "{}", reply.text());
    assert!(!reply.text().contains(SECRET));
}

/// IRSA: the pod's projected token exchanged at a fake STS for short-lived credentials, which
/// are refreshed (with the rotated token) before they expire while requests keep flowing.
#[tokio::test]
async fn irsa_credentials_are_exchanged_and_refreshed_with_the_rotated_token() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "projected-token-1").unwrap();
    let sts = FakeSts::start(
        StsState {
            web_identity_role: "arn:aws:iam::123456789012:role/bedrock-caller".into(),
            web_identity_session: "llm-sidecar".into(),
            token_file: token_file.clone(),
            assume_role: (String::new(), String::new(), None),
            // Inside the 5-minute refresh window from the start: every use refreshes ahead.
            lifetime: Duration::from_secs(240),
            error: None,
            secrets: HashMap::new(),
            issued: Vec::new(),
            tokens_seen: Vec::new(),
        },
        Duration::ZERO,
    )
    .await;
    // The fake Bedrock accepts exactly the keys the fake STS issued.
    let upstream = Upstream::start(bedrock(issued_by(&sts))).await;
    let env = vec![
        (
            "AWS_ROLE_ARN",
            "arn:aws:iam::123456789012:role/bedrock-caller".to_owned(),
        ),
        (
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            token_file.display().to_string(),
        ),
        ("AWS_ROLE_SESSION_NAME", "llm-sidecar".to_owned()),
        ("AWS_ENDPOINT_URL_STS", sts.url()),
    ];
    let base = format!("http://{}", upstream.addr);
    let gw = Gateway::start_with(
        &providers(&base, ""),
        Options {
            env,
            ..Options::default()
        },
    )
    .await;
    let body = json!({"model": CLAUDE, "messages": [{"role": "user", "content": "Hi"}]});
    // The first request waits for the exchange.
    let reply = post(&Via::Unix(gw.unix.clone()), "/v1/chat/completions", &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    // The kubelet rotates the token; the next use starts a refresh that must read the new one.
    std::fs::write(&token_file, "projected-token-2").unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let reply = post(&Via::Unix(gw.unix.clone()), "/v1/chat/completions", &body).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let seen = sts.state.lock().unwrap().tokens_seen.clone();
        if seen.last().map(String::as_str) == Some("projected-token-2") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no refresh with the new token: {seen:?}"
        );
    }
    assert_eq!(
        sts.state.lock().unwrap().tokens_seen[0],
        "projected-token-1"
    );
}
