//! Vertex AI end to end: the real gateway in front of a fake Vertex AI that serves Gemini
//! (`generateContent`, `streamGenerateContent?alt=sse`, `predict`) and Claude (`rawPredict`,
//! `streamRawPredict`) under the project and location's paths, refuses any request without a
//! bearer token the fake identity endpoints issued, checks the Gemini bodies with the Gemini
//! mock's rules and the Claude bodies with the Anthropic mock's plus Vertex's own
//! (`anthropic_version: vertex-2023-10-16`, no `model`). Credentials come from a service-account
//! key (JWT verified by the fake OAuth2 endpoint), the metadata server, and workload identity
//! federation (STS and impersonation, with the subject token rotated); driven with the official
//! OpenAI and Anthropic SDKs over the Unix socket.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::client::{Via, get, post};
use crate::common::gateway::{Options, server_yaml};
use crate::common::identity::{FakeIdentity, State};
use crate::common::upstream::{Canned, Recorded};
use crate::common::{Gateway, Upstream};

const PROJECT: &str = "test-project";
const LOCATION: &str = "us-central1";
const GEMINI: &str = "gemini-2.5-flash";
const EMBEDDING: &str = "text-embedding-005";
const CLAUDE: &str = "claude-sonnet-4@20250514";
const ANTHROPIC_VERSION: &str = "vertex-2023-10-16";

fn unauthenticated() -> Canned {
    Canned::Json(
        401,
        json!({"error": {"code": 401, "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED"}}),
    )
}

fn bad_request(message: String) -> Canned {
    Canned::Json(
        400,
        json!({"error": {"code": 400, "message": format!("fake Vertex: {message}"), "status": "INVALID_ARGUMENT"}}),
    )
}

/// The fake Vertex AI, accepting the tokens `identity` issued.
fn fake_vertex(identity: Arc<Mutex<State>>) -> impl Fn(&Recorded) -> Canned + Send + Sync {
    move |r| {
        let bearer = r.header("authorization").unwrap_or_default();
        let known = identity
            .lock()
            .unwrap()
            .issued
            .iter()
            .any(|(_, token)| bearer == format!("Bearer {token}"));
        if !known || r.header("x-goog-api-key").is_some() {
            return unauthenticated();
        }
        let prefix = format!("/v1/projects/{PROJECT}/locations/{LOCATION}/publishers/");
        let Some(rest) = r.path.strip_prefix(&prefix) else {
            return bad_request(format!("path {}", r.path));
        };
        let Some((publisher, rest)) = rest.split_once("/models/") else {
            return bad_request(format!("path {}", r.path));
        };
        let Some((model, method)) = rest.split_once(':') else {
            return bad_request(format!("no method in {}", r.path));
        };
        match (publisher, method) {
            ("google", "predict") => predict(r),
            ("google", "generateContent" | "streamGenerateContent?alt=sse") => {
                let mut gemini = r.clone();
                gemini.path = format!("/v1beta/models/{model}:{method}");
                let key = crate::gemini::KEY.parse().unwrap();
                gemini.headers.insert("x-goog-api-key", key);
                gemini.headers.remove("authorization");
                crate::gemini::mock_gemini(&gemini)
            }
            ("anthropic", "rawPredict" | "streamRawPredict") if model == CLAUDE => {
                claude(r, method == "streamRawPredict")
            }
            ("anthropic", "rawPredict") if model == "count-tokens" => count_tokens(r),
            _ => bad_request(format!("{publisher} {model} {method}")),
        }
    }
}

/// `:predict` for an embedding model: one vector per instance.
fn predict(r: &Recorded) -> Canned {
    let body = r.json();
    let Some(instances) = body["instances"].as_array() else {
        return bad_request("instances".into());
    };
    if instances.iter().any(|i| !i["content"].is_string()) {
        return bad_request("instances[].content".into());
    }
    let predictions: Vec<Value> = instances
        .iter()
        .map(|_| json!({"embeddings": {"values": [0.25, -0.5, 1.0], "statistics": {"token_count": 1, "truncated": false}}}))
        .collect();
    Canned::Json(200, json!({"predictions": predictions}))
}

/// Claude on Vertex: Vertex's body rules, then the Anthropic mock's rules and answers.
fn claude(r: &Recorded, stream: bool) -> Canned {
    let body = r.json();
    if body["anthropic_version"] != ANTHROPIC_VERSION {
        return bad_request("anthropic_version must be vertex-2023-10-16".into());
    }
    if body.get("model").is_some() {
        return bad_request("model is not a valid field".into());
    }
    if (body["stream"] == true) != stream {
        return bad_request("stream does not match the method".into());
    }
    let mut anthropic = r.clone();
    anthropic
        .headers
        .insert("x-api-key", crate::anthropic::KEY.parse().unwrap());
    anthropic
        .headers
        .insert("anthropic-version", "2023-06-01".parse().unwrap());
    anthropic.headers.remove("authorization");
    anthropic.path = "/v1/messages".into();
    crate::anthropic::rules(crate::sdk::anthropic_answer)(&anthropic)
}

/// Claude's token counter: the model named in the body, with Vertex's version.
fn count_tokens(r: &Recorded) -> Canned {
    let body = r.json();
    if body["model"] != CLAUDE || body["anthropic_version"] != ANTHROPIC_VERSION {
        return bad_request(format!("count-tokens body {body}"));
    }
    if !body["messages"].is_array() {
        return bad_request("messages".into());
    }
    Canned::Json(200, json!({"input_tokens": 14}))
}

/// The fakes and a gateway whose Vertex provider gets its identity from `credentials` (a
/// provider key line) and `env`.
struct Setup {
    identity: FakeIdentity,
    vertex: Upstream,
    gw: Gateway,
    /// The config after `server:`.
    rest: String,
    /// Where the credentials files are, kept for reloads.
    files: Option<tempfile::TempDir>,
}

async fn setup(
    identity: FakeIdentity,
    credentials: &str,
    env: Vec<(&'static str, String)>,
) -> Setup {
    let vertex = Upstream::start(fake_vertex(identity.state.clone())).await;
    let rest = format!(
        "providers:
  - name: vertex
    type: vertex
    project: {PROJECT}
    location: {LOCATION}
    base_url: 'http://{}'
{credentials}    models: [{GEMINI}, {EMBEDDING}, '{CLAUDE}']
  - {{name: local, type: mock, models: [local-model]}}
models:
  - {{name: house-claude, deployments: [{{provider: vertex, model: '{CLAUDE}', publisher: anthropic}}]}}
routing:
  retry_count: 0
",
        vertex.addr
    );
    let gw = Gateway::start_with(
        &rest,
        Options {
            env,
            ..Options::default()
        },
    )
    .await;
    Setup {
        identity,
        vertex,
        gw,
        rest,
        files: None,
    }
}

/// Every request the fake Vertex got carried a token of `issuer`.
fn all_authorized_by(setup: &Setup, issuer: &str) {
    let state = setup.identity.state.lock().unwrap();
    for r in setup.vertex.requests.lock().unwrap().iter() {
        let bearer = r.header("authorization").unwrap_or_default();
        assert!(
            state
                .issued
                .iter()
                .any(|(e, t)| *e == issuer && bearer == format!("Bearer {t}")),
            "{} carried no {issuer} token",
            r.path
        );
    }
}

async fn with_service_account_key() -> Setup {
    let identity = FakeIdentity::start(Duration::from_secs(3600), None).await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("sa.json");
    std::fs::write(&key, identity.service_account_json()).unwrap();
    let credentials = format!("    credentials_file: '{}'\n", key.display());
    let mut setup = setup(identity, &credentials, vec![]).await;
    setup.files = Some(dir);
    setup
}

#[tokio::test]
async fn the_openai_sdk_against_gemini_on_vertex_with_a_service_account_key() {
    let setup = with_service_account_key().await;
    let scenarios = ["chat", "stream", "stream_usage", "tools", "embeddings"];
    let env = [("MODEL", GEMINI), ("EMBEDDING_MODEL", EMBEDDING)];
    crate::sdk::run("openai_scenarios.py", &setup.gw, &env, &scenarios).await;
    let responses = ["create", "stream", "chain"];
    crate::sdk::run("responses_scenarios.py", &setup.gw, &env, &responses).await;
    assert!(setup.vertex.count() >= 6);
    all_authorized_by(&setup, "google_oauth");
    assert_eq!(
        setup.identity.issuers(),
        ["google_oauth"],
        "one token for all requests"
    );
}

#[tokio::test]
async fn claude_on_vertex_through_the_metadata_server() {
    let identity = FakeIdentity::start(Duration::from_secs(3600), None).await;
    let host = identity.upstream.addr.to_string();
    let setup = setup(identity, "", vec![("GCE_METADATA_HOST", host)]).await;
    let env = [("MODEL", CLAUDE)];
    crate::sdk::run(
        "anthropic_scenarios.py",
        &setup.gw,
        &env,
        &["create", "stream", "tools", "count_tokens"],
    )
    .await;
    assert!(
        setup.vertex.requests.lock().unwrap().iter().any(|r| r
            .path
            .ends_with("/publishers/anthropic/models/count-tokens:rawPredict")),
        "count_tokens asked Vertex"
    );
    crate::sdk::run(
        "openai_scenarios.py",
        &setup.gw,
        &env,
        &["chat", "stream", "tools"],
    )
    .await;
    crate::sdk::run(
        "responses_scenarios.py",
        &setup.gw,
        &env,
        &["create", "stream", "chain", "tool_chain"],
    )
    .await;
    all_authorized_by(&setup, "metadata");
    // An Anthropic client's own fields pass through: cache_control, thinking, tools.
    let messages = json!({
        "model": CLAUDE,
        "max_tokens": 2048,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "system": [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}],
        "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
        "messages": [{"role": "user", "content": "Hi"}]
    });
    let via = Via::Unix(setup.gw.unix.clone());
    let reply = post(&via, "/v1/messages", &messages).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let sent = setup.vertex.last().json();
    assert!(setup.vertex.last().path.ends_with(":rawPredict"));
    assert_eq!(sent["system"], messages["system"]);
    assert_eq!(sent["thinking"], messages["thinking"]);
    assert_eq!(sent["tools"], messages["tools"]);
    assert_eq!(sent["anthropic_version"], ANTHROPIC_VERSION);
    assert!(sent.get("model").is_none());
    // A deployment's `publisher:` names the publisher in Vertex's own model form.
    let chat = json!({"model": "house-claude", "max_tokens": 64, "messages": [{"role": "user", "content": "Hi"}]});
    let reply = post(&via, "/v1/chat/completions", &chat).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(
        setup
            .vertex
            .last()
            .path
            .ends_with(&format!("/publishers/anthropic/models/{CLAUDE}:rawPredict"))
    );
}

/// Workload identity federation: the projected subject token exchanged at STS, then for the
/// service account's token; the subject file is rotated and the refresh (ahead of expiry, in
/// the background) presents the new one.
#[tokio::test]
async fn external_account_tokens_are_exchanged_impersonated_and_refreshed() {
    // Inside the five-minute refresh window: every use starts a background refresh.
    let identity = FakeIdentity::start(Duration::from_secs(240), None).await;
    let dir = tempfile::tempdir().unwrap();
    let subject = dir.path().join("subject-token");
    std::fs::write(&subject, "k8s-subject-1\n").unwrap();
    let config = dir.path().join("external.json");
    let text = identity.external_account_json(&subject.display().to_string(), true);
    std::fs::write(&config, text).unwrap();
    let env = vec![(
        "GOOGLE_APPLICATION_CREDENTIALS",
        config.display().to_string(),
    )];
    let setup = setup(identity, "", env).await;
    let via = Via::Unix(setup.gw.unix.clone());
    let chat = json!({"model": GEMINI, "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "hello"}
    ]});
    assert_eq!(post(&via, "/v1/chat/completions", &chat).await.status, 200);
    assert!(setup.identity.next_issue().await.starts_with("sts-"));
    assert!(
        setup
            .identity
            .next_issue()
            .await
            .starts_with("impersonation-")
    );
    std::fs::write(&subject, "k8s-subject-2").unwrap();
    // Served with the still-valid token while the refresh runs.
    assert_eq!(post(&via, "/v1/chat/completions", &chat).await.status, 200);
    assert!(setup.identity.next_issue().await.starts_with("sts-"));
    let refreshed = setup.identity.next_issue().await;
    assert!(refreshed.starts_with("impersonation-"), "{refreshed}");
    assert_eq!(
        setup.identity.state.lock().unwrap().assertions,
        ["k8s-subject-1", "k8s-subject-2"]
    );
    all_authorized_by(&setup, "impersonation");
}

/// An identity outage: the Vertex provider's requests are a 502 naming the provider and the
/// source, the pod stays ready, other providers serve, and the failure is counted.
#[tokio::test]
async fn a_credential_failure_is_a_502_naming_the_provider_and_source() {
    let identity = FakeIdentity::start(Duration::from_secs(3600), None).await;
    identity.state.lock().unwrap().down = true;
    let host = identity.upstream.addr.to_string();
    let setup = setup(identity, "", vec![("GCE_METADATA_HOST", host)]).await;
    let via = Via::Unix(setup.gw.unix.clone());
    let chat = json!({"model": GEMINI, "messages": [{"role": "user", "content": "hello"}]});
    let reply = post(&via, "/v1/chat/completions", &chat).await;
    assert_eq!(reply.status, 502, "{}", reply.text());
    let error = &reply.json()["error"];
    assert_eq!(error["code"], "upstream_credentials_unavailable");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("vertex") && message.contains("metadata"),
        "{message}"
    );
    assert_eq!(setup.vertex.count(), 0);
    assert_eq!(get(&via, "/health/ready").await.status, 200);
    let local = json!({"model": "local-model", "messages": [{"role": "user", "content": "Hi"}]});
    assert_eq!(post(&via, "/v1/chat/completions", &local).await.status, 200);
    let metrics = get(&via, "/metrics").await.text();
    let counted =
        "llm_credential_refresh_failures_total{provider=\"vertex\",source=\"metadata\"} 1";
    assert!(metrics.contains(counted), "{metrics}");
}

/// A reload that leaves the provider's identity settings as they were keeps its token: no
/// token request (and no request waiting for one) after a config change.
#[tokio::test]
async fn a_reload_keeps_the_cached_token() {
    let mut setup = with_service_account_key().await;
    let via = Via::Unix(setup.gw.unix.clone());
    let chat = json!({"model": GEMINI, "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "hello"}
    ]});
    assert_eq!(post(&via, "/v1/chat/completions", &chat).await.status, 200);
    let config = setup.gw.dir.path().join("config.yaml");
    let server = server_yaml(setup.gw.dir.path(), &Options::default());
    let rest = setup.rest.replace("models: [", "models: [gemini-2.5-pro, ");
    std::fs::write(&config, format!("{server}\n{rest}")).unwrap();
    setup.gw.wait_log("\"generation\":2").await;
    assert_eq!(post(&via, "/v1/chat/completions", &chat).await.status, 200);
    assert_eq!(
        setup.identity.issuers(),
        ["google_oauth"],
        "the reload fetched a token again"
    );
}

/// The fakes refuse what the real services refuse, so that the tests above prove the gateway
/// speaks the protocols: no or unknown bearer token, an API key, a Claude body with `model` or
/// without Vertex's version; a metadata request without `Metadata-Flavor`; a JWT whose
/// signature does not verify; an STS exchange with another audience.
#[tokio::test]
async fn the_fakes_refuse_what_google_refuses() {
    use crate::common::client::{call, json_request};
    let identity = FakeIdentity::start(Duration::from_secs(3600), None).await;
    let vertex = Upstream::start(fake_vertex(identity.state.clone())).await;
    let fake = Via::Tcp(identity.upstream.addr);
    let metadata = "/computeMetadata/v1/instance/service-accounts/default/token";
    assert_eq!(get(&fake, metadata).await.status, 403);
    let mut flavoured = json_request("GET", metadata, &Value::Null);
    flavoured
        .headers_mut()
        .insert("metadata-flavor", "Google".parse().unwrap());
    let token = call(&fake, flavoured).await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let form = |body: &str| {
        let mut request =
            crate::common::client::raw_request("POST", "/token", body.to_owned().into());
        request.headers_mut().insert(
            "content-type",
            "application/x-www-form-urlencoded".parse().unwrap(),
        );
        request
    };
    let forged = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=eyJhbGciOiJSUzI1NiIsImtpZCI6ImtpZC10ZXN0In0.e30.c2ln";
    let refused = call(&fake, form(forged)).await;
    assert_eq!(refused.status, 400, "{}", refused.text());
    let mut sts = crate::common::client::raw_request(
        "POST",
        "/v1/token",
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&audience=other"
            .into(),
    );
    sts.headers_mut().remove("content-type");
    assert_eq!(call(&fake, sts).await.status, 400);

    let via = Via::Tcp(vertex.addr);
    let root = format!("/v1/projects/{PROJECT}/locations/{LOCATION}/publishers");
    let claude = format!("{root}/anthropic/models/{CLAUDE}:rawPredict");
    let good = json!({"anthropic_version": ANTHROPIC_VERSION, "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]});
    let mut with_model = good.clone();
    with_model["model"] = json!(CLAUDE);
    let mut no_version = good.clone();
    no_version["anthropic_version"] = Value::Null;
    let cases = [
        (None, None, good.clone(), 401),
        (Some("Bearer forged"), None, good.clone(), 401),
        (Some(token.as_str()), Some("k"), good.clone(), 401),
        (Some(token.as_str()), None, with_model, 400),
        (Some(token.as_str()), None, no_version, 400),
        (Some(token.as_str()), None, good, 200),
    ];
    for (bearer, api_key, body, want) in cases {
        let mut request = json_request("POST", &claude, &body);
        if let Some(bearer) = bearer {
            let value = if bearer.starts_with("Bearer ") {
                bearer.to_owned()
            } else {
                format!("Bearer {bearer}")
            };
            request
                .headers_mut()
                .insert("authorization", value.parse().unwrap());
        }
        if let Some(key) = api_key {
            request
                .headers_mut()
                .insert("x-goog-api-key", key.parse().unwrap());
        }
        let reply = call(&via, request).await;
        assert_eq!(
            reply.status,
            want,
            "{bearer:?} {api_key:?} {}",
            reply.text()
        );
    }
}
