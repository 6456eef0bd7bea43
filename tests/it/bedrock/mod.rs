//! The Bedrock adapter end to end: the real gateway in front of a fake Bedrock runtime that
//! checks what Bedrock checks — every request's SigV4 signature recomputed with the secret of
//! the key that signed it (service `bedrock`, the region's scope, the session token signed), the
//! operation paths with the model id as one encoded segment, Converse bodies with alternating
//! turns — and answers Converse, ConverseStream in real event-stream framing (including an
//! exception event and a frame with a bad CRC) and InvokeModel for embeddings. Credentials come
//! from static keys in the config and, in one test, from IRSA through a fake STS.

mod fake;

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::aws::{FakeSts, StsState};
use crate::common::client::{Via, get, post, sse_data};
use crate::common::gateway::{Options, server_yaml};
use crate::common::{Gateway, Upstream, WAIT};
use fake::{Keys, bedrock, check_signature, issued_by, keys_of, static_keys};

const REGION: &str = "us-east-1";
const KEY_ID: &str = "AKIDBEDROCKTEST";
const SECRET: &str = "bedrock/secret+KEY0123456789";
const CLAUDE: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";
const TITAN: &str = "amazon.titan-embed-text-v2:0";
const COHERE: &str = "cohere.embed-multilingual-v3";
const PROFILE_ARN: &str =
    "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc";
/// Model ids that make the fake misbehave.
const THROTTLED: &str = "meta.llama3-throttled-v1:0";
const EXCEPTION: &str = "meta.llama3-exception-v1:0";
const BAD_CRC: &str = "meta.llama3-bad-crc-v1:0";
const NOT_READY: &str = "meta.llama3-not-ready-v1:0";

fn providers(base_url: &str, credentials: &str) -> String {
    format!(
        "providers:
  - name: aws
    type: bedrock
    region: {REGION}
    base_url: '{base_url}'
{credentials}    models: [{CLAUDE}, {TITAN}, {COHERE}, {THROTTLED}, {EXCEPTION}, {BAD_CRC}, {NOT_READY}]
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
async fn the_openai_sdk_speaks_responses_to_bedrock() {
    let (upstream, gw) = gateway(static_keys()).await;
    let scenarios = ["create", "stream", "tools", "chain", "tool_chain"];
    crate::sdk::run(
        "responses_scenarios.py",
        &gw,
        &[("MODEL", CLAUDE)],
        &scenarios,
    )
    .await;
    let requests = upstream.requests.lock().unwrap().clone();
    assert!(requests.iter().all(|r| r.path.contains("/converse")));
    assert!(
        requests
            .iter()
            .all(|r| check_signature(r, &static_keys()).is_ok())
    );
}

#[tokio::test]
async fn the_anthropic_sdk_against_bedrock() {
    let (upstream, gw) = gateway(static_keys()).await;
    let scenarios = [
        "create",
        "stream",
        "tools",
        "thinking_tools",
        "thinking_stream",
        "count_tokens",
    ];
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
async fn the_error_type_header_decides_the_status() {
    let (_upstream, gw) = gateway(static_keys()).await;
    let body = json!({"model": NOT_READY, "messages": [{"role": "user", "content": "Hi"}]});
    let reply = post(&Via::Unix(gw.unix.clone()), "/v1/chat/completions", &body).await;
    assert_eq!(reply.status, 503, "{}", reply.text());
    let message = reply.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("not ready"), "{message}");
}

/// A pod without any AWS identity still starts, stays ready and serves its other providers;
/// the Bedrock provider's requests get a 502 that says what is missing.
#[tokio::test]
async fn a_pod_without_an_aws_identity_serves_its_other_providers() {
    let upstream = Upstream::start(bedrock(static_keys())).await;
    let rest = format!(
        "providers:
  - {{name: aws, type: bedrock, region: {REGION}, base_url: 'http://{}', models: [{CLAUDE}]}}
  - {{name: local, type: mock, models: [local-model]}}
",
        upstream.addr
    );
    let gw = Gateway::start(&rest).await;
    let via = Via::Unix(gw.unix.clone());
    assert_eq!(get(&via, "/health/ready").await.status, 200);
    let body = json!({"model": CLAUDE, "messages": [{"role": "user", "content": "Hi"}]});
    let reply = post(&via, "/v1/chat/completions", &body).await;
    assert_eq!(reply.status, 502, "{}", reply.text());
    assert_eq!(
        reply.json()["error"]["code"],
        "upstream_credentials_unavailable"
    );
    assert!(reply.text().contains("AWS_ROLE_ARN"), "{}", reply.text());
    assert_eq!(upstream.count(), 0);
    let local = json!({"model": "local-model", "messages": [{"role": "user", "content": "Hi"}]});
    assert_eq!(post(&via, "/v1/chat/completions", &local).await.status, 200);
}

#[tokio::test]
async fn cohere_embeds_a_batch_in_one_call_with_estimated_usage() {
    let (upstream, gw) = gateway(static_keys()).await;
    let body = json!({"model": COHERE, "input": ["one", "two", "three"]});
    let reply = post(&Via::Unix(gw.unix.clone()), "/v1/embeddings", &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let answer = reply.json();
    assert_eq!(answer["data"].as_array().unwrap().len(), 3);
    assert_eq!(answer["data"][2]["index"], 2);
    assert!(answer["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    assert_eq!(upstream.count(), 1);
    assert_eq!(upstream.last().json()["input_type"], "search_document");
}

#[tokio::test]
async fn a_wrong_secret_is_the_gateways_credential_problem() {
    let (_upstream, gw) = gateway(keys_of("another secret")).await;
    let body = json!({"model": CLAUDE, "messages": [{"role": "user", "content": "Hi"}]});
    let reply = post(&Via::Unix(gw.unix.clone()), "/v1/chat/completions", &body).await;
    assert_eq!(reply.status, 502, "{}", reply.text());
    assert!(!reply.text().contains(SECRET));
}

/// A gateway whose Bedrock provider gets its credentials through IRSA from a fake STS that
/// issues credentials lasting `lifetime`; the fake Bedrock accepts exactly what STS issued.
struct Irsa {
    sts: FakeSts,
    gw: Gateway,
    token_file: std::path::PathBuf,
    rest: String,
    _upstream: Upstream,
    _dir: tempfile::TempDir,
}

const ROLE: &str = "arn:aws:iam::123456789012:role/bedrock-caller";

impl Irsa {
    async fn start(lifetime: Duration) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, "projected-token-1").unwrap();
        let state = StsState {
            web_identity_role: ROLE.into(),
            web_identity_session: "llm-sidecar".into(),
            token_file: token_file.clone(),
            assume_role: (String::new(), String::new(), None),
            lifetime,
            error: None,
            secrets: HashMap::new(),
            issued: Vec::new(),
            tokens_seen: Vec::new(),
        };
        let sts = FakeSts::start(state, Duration::ZERO).await;
        let upstream = Upstream::start(bedrock(issued_by(&sts))).await;
        let env = vec![
            ("AWS_ROLE_ARN", ROLE.to_owned()),
            (
                "AWS_WEB_IDENTITY_TOKEN_FILE",
                token_file.display().to_string(),
            ),
            ("AWS_ROLE_SESSION_NAME", "llm-sidecar".to_owned()),
            ("AWS_ENDPOINT_URL_STS", sts.url()),
        ];
        let rest = providers(&format!("http://{}", upstream.addr), "");
        let options = Options {
            env,
            ..Options::default()
        };
        let gw = Gateway::start_with(&rest, options).await;
        Self {
            sts,
            gw,
            token_file,
            rest,
            _upstream: upstream,
            _dir: dir,
        }
    }

    async fn chat(&self) {
        let body = json!({"model": CLAUDE, "messages": [{"role": "user", "content": "Hi"}]});
        let reply = post(
            &Via::Unix(self.gw.unix.clone()),
            "/v1/chat/completions",
            &body,
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
    }

    fn tokens_seen(&self) -> Vec<String> {
        self.sts.state.lock().unwrap().tokens_seen.clone()
    }
}

/// IRSA: the pod's projected token exchanged at a fake STS for short-lived credentials, which
/// are refreshed (with the rotated token) before they expire while requests keep flowing.
#[tokio::test]
async fn irsa_credentials_are_exchanged_and_refreshed_with_the_rotated_token() {
    // Inside the 5-minute refresh window from the start: every use refreshes ahead.
    let irsa = Irsa::start(Duration::from_secs(240)).await;
    // The first request waits for the exchange.
    irsa.chat().await;
    // The kubelet rotates the token; the next use starts a refresh that must read the new one.
    std::fs::write(&irsa.token_file, "projected-token-2").unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while irsa.tokens_seen().last().map(String::as_str) != Some("projected-token-2") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no refresh with the new token: {:?}",
            irsa.tokens_seen()
        );
        irsa.chat().await;
    }
    assert_eq!(irsa.tokens_seen()[0], "projected-token-1");
}

/// A config reload that leaves the provider's AWS settings as they were keeps its credentials:
/// no STS exchange (and no request waiting for one) after every config change.
#[tokio::test]
async fn a_reload_keeps_the_cached_credentials() {
    let mut irsa = Irsa::start(Duration::from_secs(3600)).await;
    irsa.chat().await;
    assert_eq!(irsa.tokens_seen().len(), 1);
    let config = irsa.gw.dir.path().join("config.yaml");
    let server = server_yaml(irsa.gw.dir.path(), &Options::default());
    let rest = irsa
        .rest
        .replace("models: [", "models: [meta.llama3-extra-v1:0, ");
    std::fs::write(&config, format!("{server}\n{rest}")).unwrap();
    irsa.gw.wait_log("\"generation\":2").await;
    irsa.chat().await;
    assert_eq!(
        irsa.tokens_seen().len(),
        1,
        "the reload fetched credentials again"
    );
}
