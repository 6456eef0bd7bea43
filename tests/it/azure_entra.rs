//! Azure OpenAI with Entra ID: the real gateway in front of a fake Azure OpenAI that accepts
//! only bearer tokens the fake Entra ID / IMDS / App Service endpoints issued (and never an
//! `api-key`), with the token from AKS workload identity (the federated token file rotated
//! mid-test: the refresh must present the new content), IMDS, App Service's identity endpoint,
//! and a service principal's client secret from a `file:` secret. Chat and streams through the
//! official OpenAI SDK over the Unix socket.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use crate::common::client::{Via, post};
use crate::common::gateway::Options;
use crate::common::identity::{
    CLIENT_ID, CLIENT_SECRET_VALUE, FakeIdentity, IDENTITY_HEADER, State, TENANT,
};
use crate::common::upstream::{Canned, Recorded};
use crate::common::{Gateway, Upstream};

const DEPLOYMENT: &str = "gpt4o-prod";
const API_VERSION: &str = "2024-10-21";

/// The fake Azure OpenAI, accepting the tokens `identity` issued.
fn fake_azure(identity: Arc<Mutex<State>>) -> impl Fn(&Recorded) -> Canned + Send + Sync {
    move |r| {
        let bearer = r.header("authorization").unwrap_or_default();
        let known = identity
            .lock()
            .unwrap()
            .issued
            .iter()
            .any(|(_, token)| bearer == format!("Bearer {token}"));
        if !known || r.header("api-key").is_some() {
            return Canned::Json(
                401,
                json!({"error": {"code": "401", "message": "Access denied due to invalid subscription key or wrong API endpoint."}}),
            );
        }
        let expected =
            format!("/openai/deployments/{DEPLOYMENT}/chat/completions?api-version={API_VERSION}");
        if r.path != expected {
            return Canned::Json(
                404,
                json!({"error": {"code": "DeploymentNotFound", "message": r.path}}),
            );
        }
        crate::sdk::openai_answer(r)
    }
}

struct Setup {
    identity: FakeIdentity,
    azure: Upstream,
    gw: Gateway,
}

async fn setup(identity: FakeIdentity, auth: &str, env: Vec<(&'static str, String)>) -> Setup {
    let azure = Upstream::start(fake_azure(identity.state.clone())).await;
    let rest = format!(
        "providers:
  - name: azure-eu
    type: azure
    api_version: '{API_VERSION}'
    base_url: 'http://{}'
    auth: {auth}
models:
  - {{name: gpt-4o, deployments: [{{provider: azure-eu, model: {DEPLOYMENT}}}]}}
routing:
  retry_count: 0
",
        azure.addr
    );
    let options = Options {
        env,
        ..Options::default()
    };
    let gw = Gateway::start_with(&rest, options).await;
    Setup {
        identity,
        azure,
        gw,
    }
}

fn last_bearer(setup: &Setup) -> String {
    setup
        .azure
        .last()
        .header("authorization")
        .unwrap_or_default()
        .to_owned()
}

/// AKS workload identity: the kubelet's projected token as the client assertion, re-read when
/// the token is refreshed ahead of expiry after the kubelet rotated it.
#[tokio::test]
async fn workload_identity_presents_the_rotated_federated_token() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("azure-identity-token");
    std::fs::write(&token_file, "projected-sa-token-1").unwrap();
    // Inside the five-minute refresh window: every use starts a background refresh.
    let identity = FakeIdentity::start(Duration::from_secs(240), Some(token_file.clone())).await;
    let env = vec![
        ("AZURE_CLIENT_ID", CLIENT_ID.to_owned()),
        ("AZURE_TENANT_ID", TENANT.to_owned()),
        (
            "AZURE_FEDERATED_TOKEN_FILE",
            token_file.display().to_string(),
        ),
        ("AZURE_AUTHORITY_HOST", identity.url()),
    ];
    let setup = setup(identity, "{type: entra}", env).await;
    crate::sdk::run(
        "openai_scenarios.py",
        &setup.gw,
        &[("MODEL", "gpt-4o")],
        &["chat", "stream"],
    )
    .await;
    assert!(
        setup
            .identity
            .next_issue()
            .await
            .starts_with("entra_workload-")
    );
    std::fs::write(&token_file, "projected-sa-token-2").unwrap();
    // Drain issues made with the first token while the SDK ran (each use refreshes ahead).
    let via = Via::Unix(setup.gw.unix.clone());
    let chat = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hello"}]});
    loop {
        assert_eq!(post(&via, "/v1/chat/completions", &chat).await.status, 200);
        setup.identity.next_issue().await;
        let assertions = setup.identity.state.lock().unwrap().assertions.clone();
        if assertions.last().map(String::as_str) == Some("projected-sa-token-2") {
            assert!(assertions.contains(&"projected-sa-token-1".to_owned()));
            break;
        }
    }
    let newest = setup
        .identity
        .state
        .lock()
        .unwrap()
        .issued
        .last()
        .unwrap()
        .1
        .clone();
    // The refreshed token is stored as its fetch completes; the next requests carry it.
    let mut carried = false;
    for _ in 0..20 {
        post(&via, "/v1/chat/completions", &chat).await;
        if last_bearer(&setup) == format!("Bearer {newest}") {
            carried = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(carried, "the refreshed token was never used");
}

#[tokio::test]
async fn a_managed_identity_through_imds_and_app_service() {
    let identity = FakeIdentity::start(Duration::from_secs(3600), None).await;
    let env = vec![("AZURE_POD_IDENTITY_AUTHORITY_HOST", identity.url())];
    let imds = setup(identity, "{type: managed_identity}", env).await;
    crate::sdk::run(
        "openai_scenarios.py",
        &imds.gw,
        &[("MODEL", "gpt-4o")],
        &["chat", "stream"],
    )
    .await;
    assert_eq!(imds.identity.issuers(), ["imds"]);
    assert!(last_bearer(&imds).starts_with("Bearer imds-token-"));

    let identity = FakeIdentity::start(Duration::from_secs(3600), None).await;
    let env = vec![
        ("IDENTITY_ENDPOINT", format!("{}/msi/token", identity.url())),
        ("IDENTITY_HEADER", IDENTITY_HEADER.to_owned()),
    ];
    let app = setup(identity, "{type: entra}", env).await;
    let via = Via::Unix(app.gw.unix.clone());
    let chat = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hello"}]});
    let reply = post(&via, "/v1/chat/completions", &chat).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(app.identity.issuers(), ["app_service"]);
}

#[tokio::test]
async fn a_service_principal_secret_from_a_file() {
    let identity = FakeIdentity::start(Duration::from_secs(3600), None).await;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("client-secret");
    std::fs::write(&secret, CLIENT_SECRET_VALUE).unwrap();
    let auth = format!(
        "{{type: client_secret, client_id: '{CLIENT_ID}', tenant_id: '{TENANT}', client_secret: 'file:{}', authority_host: '{}'}}",
        secret.display(),
        identity.url()
    );
    let setup = setup(identity, &auth, vec![]).await;
    crate::sdk::run(
        "openai_scenarios.py",
        &setup.gw,
        &[("MODEL", "gpt-4o")],
        &["chat", "stream"],
    )
    .await;
    assert_eq!(setup.identity.issuers(), ["entra_secret"]);
    assert!(setup.azure.count() >= 2);
}

/// A wrong secret: the 502 names the provider and the source, and never the secret.
#[tokio::test]
async fn a_refused_secret_is_a_502_without_the_secret() {
    let identity = FakeIdentity::start(Duration::from_secs(3600), None).await;
    let auth = format!(
        "{{type: client_secret, client_id: '{CLIENT_ID}', tenant_id: '{TENANT}', client_secret: 'not-the-right-secret-value', authority_host: '{}'}}",
        identity.url()
    );
    let setup = setup(identity, &auth, vec![]).await;
    let via = Via::Unix(setup.gw.unix.clone());
    let chat = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hello"}]});
    let reply = post(&via, "/v1/chat/completions", &chat).await;
    assert_eq!(reply.status, 502, "{}", reply.text());
    let text = reply.text();
    assert!(
        text.contains("upstream_credentials_unavailable")
            && text.contains("azure-eu")
            && text.contains("client_secret"),
        "{text}"
    );
    assert!(text.contains("AADSTS7000215"), "{text}");
    assert!(!text.contains("not-the-right-secret-value"));
    assert_eq!(setup.azure.count(), 0);
    let metrics = crate::common::client::get(&via, "/metrics").await.text();
    let counted =
        "llm_credential_refresh_failures_total{provider=\"azure-eu\",source=\"client_secret\"} 1";
    assert!(metrics.contains(counted), "{metrics}");
}

/// The fakes refuse what Entra ID and IMDS refuse: an assertion that is not the federated token
/// file's current content, an IMDS request without `Metadata: true`.
#[tokio::test]
async fn the_fakes_refuse_what_entra_refuses() {
    use crate::common::client::{call, get, raw_request};
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "projected-now").unwrap();
    let identity = FakeIdentity::start(Duration::from_secs(3600), Some(token_file)).await;
    let fake = Via::Tcp(identity.upstream.addr);
    let body = |assertion: &str| {
        format!(
            "grant_type=client_credentials&client_id={CLIENT_ID}&scope=https%3A%2F%2Fcognitiveservices.azure.com%2F.default&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={assertion}"
        )
    };
    let path = format!("/{TENANT}/oauth2/v2.0/token");
    let stale = call(
        &fake,
        raw_request("POST", &path, body("projected-before").into()),
    )
    .await;
    assert_eq!(stale.status, 400, "{}", stale.text());
    assert!(stale.text().contains("AADSTS700024"));
    let current = call(
        &fake,
        raw_request("POST", &path, body("projected-now").into()),
    )
    .await;
    assert_eq!(current.status, 200, "{}", current.text());
    let imds = "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fcognitiveservices.azure.com";
    assert_eq!(get(&fake, imds).await.status, 400);
}
