//! A fake of every cloud identity endpoint the gateway asks for tokens, each checking the
//! protocol as the real one does and refusing anything else: Google's OAuth2 token endpoint
//! (the JWT's RS256 signature verified with the service account's public key, its `aud`,
//! `scope`, `iss` and one-hour `iat`/`exp`), the GCE metadata server (`Metadata-Flavor: Google`
//! required), Google's STS token exchange and `generateAccessToken`, Entra ID's token endpoint
//! (the client assertion must be the federated token file's *current* content, or the client
//! secret), IMDS (`Metadata: true` required) and App Service (`X-IDENTITY-HEADER`). Every token
//! it issues is recorded, so the fake clouds accept exactly those, and each issue is signalled.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ring::signature::{KeyPair, RSA_PKCS1_2048_8192_SHA256, RsaKeyPair, UnparsedPublicKey};
use rustls_pki_types::PrivatePkcs8KeyDer;
use rustls_pki_types::pem::PemObject;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::upstream::{Canned, Recorded};
use super::{Upstream, WAIT};

/// The test service account's key (tests/fixtures/google/PROVENANCE.md).
pub const KEY_PEM: &str = include_str!("../../fixtures/google/test_service_account_key.pem");
/// The test service account.
pub const SA_EMAIL: &str = "sidecar@test-project.iam.gserviceaccount.com";
/// Google's scope.
pub const GOOGLE_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// Azure OpenAI's scope.
pub const AZURE_SCOPE: &str = "https://cognitiveservices.azure.com/.default";
/// The Entra ID tenant and application of the tests.
pub const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
/// The workload identity's application.
pub const CLIENT_ID: &str = "5e8a1c7b-0f1d-4a53-9c39-0a7f4a1f0c11";
/// The service principal's secret.
pub const CLIENT_SECRET_VALUE: &str = "entra-client-secret-value-0123";
/// The App Service identity header.
pub const IDENTITY_HEADER: &str = "app-service-identity-header-0123";
/// The STS audience of the workload identity pool.
pub const AUDIENCE: &str = "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/k8s/providers/cluster";

/// What the fake records and how it answers.
#[derive(Debug, Default)]
pub struct State {
    /// Lifetime of issued tokens, seconds.
    pub lifetime: u64,
    /// The workload identity's federated token file (read at each request, as Entra ID checks
    /// the assertion against what the kubelet projected).
    pub federated_token_file: Option<PathBuf>,
    /// Every token issued, by the endpoint that issued it.
    pub issued: Vec<(&'static str, String)>,
    /// Subject tokens and client assertions seen.
    pub assertions: Vec<String>,
    /// Refuse everything (an identity outage).
    pub down: bool,
}

/// The fake, on one listener.
pub struct FakeIdentity {
    /// Its server.
    pub upstream: Upstream,
    /// Its state.
    pub state: Arc<Mutex<State>>,
    issued: tokio::sync::Mutex<mpsc::UnboundedReceiver<String>>,
}

impl FakeIdentity {
    /// Starts, issuing tokens that live `lifetime` (inside the gateway's five-minute refresh
    /// window when under 300 s, so that every use refreshes ahead).
    pub async fn start(lifetime: Duration, federated_token_file: Option<PathBuf>) -> Self {
        let state = Arc::new(Mutex::new(State {
            lifetime: lifetime.as_secs(),
            federated_token_file,
            ..State::default()
        }));
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = state.clone();
        let upstream = Upstream::start(move |r| answer(r, &shared, &tx)).await;
        Self {
            upstream,
            state,
            issued: tokio::sync::Mutex::new(rx),
        }
    }

    /// `http://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.upstream.addr)
    }

    /// The endpoints that issued tokens, in order.
    pub fn issuers(&self) -> Vec<&'static str> {
        self.state
            .lock()
            .unwrap()
            .issued
            .iter()
            .map(|(e, _)| *e)
            .collect()
    }

    /// Waits for the next token to be issued.
    pub async fn next_issue(&self) -> String {
        let mut rx = self.issued.lock().await;
        tokio::time::timeout(WAIT, rx.recv())
            .await
            .expect("no token issued in time")
            .unwrap()
    }

    /// A service-account key file pointing at this fake's token endpoint.
    pub fn service_account_json(&self) -> String {
        json!({
            "type": "service_account",
            "project_id": "test-project",
            "private_key_id": "kid-test",
            "private_key": KEY_PEM,
            "client_email": SA_EMAIL,
            "token_uri": format!("{}/token", self.url()),
        })
        .to_string()
    }

    /// An `external_account` file for `subject_file`, through this fake's STS, optionally
    /// impersonating the test service account.
    pub fn external_account_json(&self, subject_file: &str, impersonate: bool) -> String {
        let mut config = json!({
            "type": "external_account",
            "audience": AUDIENCE,
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "token_url": format!("{}/v1/token", self.url()),
            "credential_source": {"file": subject_file, "format": {"type": "text"}},
        });
        if impersonate {
            config["service_account_impersonation_url"] = json!(format!(
                "{}/v1/projects/-/serviceAccounts/{SA_EMAIL}:generateAccessToken",
                self.url()
            ));
        }
        config.to_string()
    }
}

fn refuse(status: u16, error: &str, description: impl Into<String>) -> Canned {
    Canned::Json(
        status,
        json!({"error": error, "error_description": description.into()}),
    )
}

/// Routes a request to the endpoint it is for.
fn answer(r: &Recorded, state: &Mutex<State>, tx: &mpsc::UnboundedSender<String>) -> Canned {
    if state.lock().unwrap().down {
        return refuse(503, "temporarily_unavailable", "identity outage");
    }
    let path = r.path.split('?').next().unwrap_or_default();
    let checked = match (r.method.as_str(), path) {
        ("POST", "/token") => google_jwt(r),
        ("GET", "/computeMetadata/v1/instance/service-accounts/default/token") => metadata(r),
        ("POST", "/v1/token") => sts(r, state),
        ("POST", p) if p.ends_with(":generateAccessToken") => impersonate(r, state),
        ("POST", p) if p == format!("/{TENANT}/oauth2/v2.0/token") => entra(r, state),
        ("GET", "/metadata/identity/oauth2/token") => imds(r),
        ("GET", "/msi/token") => app_service(r),
        _ => Err(refuse(404, "not_found", format!("{} {}", r.method, r.path))),
    };
    match checked {
        Err(refusal) => refusal,
        Ok(endpoint) => issue(endpoint, r, state, tx),
    }
}

/// Issues a token in the shape the endpoint answers with.
fn issue(
    endpoint: &'static str,
    r: &Recorded,
    state: &Mutex<State>,
    tx: &mpsc::UnboundedSender<String>,
) -> Canned {
    let mut state = state.lock().unwrap();
    let token = format!("{endpoint}-token-{}", state.issued.len() + 1);
    state.issued.push((endpoint, token.clone()));
    let lifetime = state.lifetime;
    drop(state);
    let _ = tx.send(token.clone());
    let body = match endpoint {
        "impersonation" => {
            let expire = SystemTime::now() + Duration::from_secs(lifetime);
            let unix = expire.duration_since(UNIX_EPOCH).unwrap().as_secs();
            json!({"accessToken": token, "expireTime": llm_sidecar::clock::format_rfc3339(unix)})
        }
        "imds" => {
            json!({"access_token": token, "expires_in": lifetime.to_string(), "resource": query(r, "resource"), "token_type": "Bearer"})
        }
        "app_service" => {
            let on = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs()
                + lifetime;
            json!({"access_token": token, "expires_on": on.to_string(), "token_type": "Bearer"})
        }
        _ => json!({"access_token": token, "expires_in": lifetime, "token_type": "Bearer"}),
    };
    Canned::Json(200, body)
}

/// The form fields of a request body.
pub fn form(r: &Recorded) -> HashMap<String, String> {
    super::aws::form(&String::from_utf8_lossy(&r.body))
}

fn query(r: &Recorded, name: &str) -> Option<String> {
    let query = r.path.split_once('?')?.1;
    super::aws::form(query).remove(name)
}

fn need(fields: &HashMap<String, String>, name: &str, want: &str) -> Result<(), Canned> {
    match fields.get(name) {
        Some(value) if value == want => Ok(()),
        other => Err(refuse(400, "invalid_request", format!("{name}: {other:?}"))),
    }
}

/// Google's token endpoint: a `jwt-bearer` grant whose assertion verifies.
fn google_jwt(r: &Recorded) -> Result<&'static str, Canned> {
    let fields = form(r);
    need(
        &fields,
        "grant_type",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
    )?;
    let jwt = fields.get("assertion").cloned().unwrap_or_default();
    let invalid = |why: &str| refuse(400, "invalid_grant", why.to_owned());
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header, claims, signature] = parts[..] else {
        return Err(invalid("not a JWT"));
    };
    let header: Value =
        serde_json::from_slice(&base64url_decode(header)).map_err(|_| invalid("header"))?;
    if header["alg"] != "RS256" || header["kid"] != "kid-test" {
        return Err(invalid("alg/kid"));
    }
    let der = PrivatePkcs8KeyDer::from_pem_slice(KEY_PEM.as_bytes()).unwrap();
    let pair = RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).unwrap();
    let public = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, pair.public_key().as_ref());
    let signed = format!("{}.{}", parts[0], parts[1]);
    public
        .verify(signed.as_bytes(), &base64url_decode(signature))
        .map_err(|_| invalid("Invalid JWT Signature."))?;
    let claims: Value =
        serde_json::from_slice(&base64url_decode(claims)).map_err(|_| invalid("claims"))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let iat = claims["iat"].as_u64().unwrap_or(0);
    let exp = claims["exp"].as_u64().unwrap_or(0);
    let aud = format!("http://{}/token", r.header("host").unwrap_or_default());
    let ok = claims["iss"] == SA_EMAIL
        && claims["scope"] == GOOGLE_SCOPE
        && claims["aud"] == aud.as_str()
        && iat.abs_diff(now) < 60
        && exp == iat + 3600;
    if !ok {
        return Err(invalid(&format!("claims {claims}")));
    }
    Ok("google_oauth")
}

fn metadata(r: &Recorded) -> Result<&'static str, Canned> {
    if r.header("metadata-flavor") != Some("Google") {
        return Err(Canned::Raw(
            403,
            "text/html",
            "Missing Metadata-Flavor:Google header.".into(),
        ));
    }
    Ok("metadata")
}

fn sts(r: &Recorded, state: &Mutex<State>) -> Result<&'static str, Canned> {
    let fields = form(r);
    need(
        &fields,
        "grant_type",
        "urn:ietf:params:oauth:grant-type:token-exchange",
    )?;
    need(&fields, "audience", AUDIENCE)?;
    need(&fields, "scope", GOOGLE_SCOPE)?;
    need(
        &fields,
        "requested_token_type",
        "urn:ietf:params:oauth:token-type:access_token",
    )?;
    need(
        &fields,
        "subject_token_type",
        "urn:ietf:params:oauth:token-type:jwt",
    )?;
    let subject = fields.get("subject_token").cloned().unwrap_or_default();
    if !subject.starts_with("k8s-subject-") {
        return Err(refuse(400, "invalid_grant", "subject token"));
    }
    state.lock().unwrap().assertions.push(subject);
    Ok("sts")
}

fn impersonate(r: &Recorded, state: &Mutex<State>) -> Result<&'static str, Canned> {
    let bearer = r.header("authorization").unwrap_or_default();
    let federated = state
        .lock()
        .unwrap()
        .issued
        .iter()
        .any(|(e, t)| *e == "sts" && bearer == format!("Bearer {t}"));
    if !federated || !r.path.contains(SA_EMAIL) {
        return Err(Canned::Json(
            401,
            json!({"error": {"code": 401, "status": "UNAUTHENTICATED"}}),
        ));
    }
    if r.json()["scope"] != json!([GOOGLE_SCOPE]) {
        return Err(refuse(400, "invalid_request", "scope"));
    }
    Ok("impersonation")
}

fn entra(r: &Recorded, state: &Mutex<State>) -> Result<&'static str, Canned> {
    let fields = form(r);
    need(&fields, "grant_type", "client_credentials")?;
    need(&fields, "client_id", CLIENT_ID)?;
    need(&fields, "scope", AZURE_SCOPE)?;
    if let Some(secret) = fields.get("client_secret") {
        return if secret == CLIENT_SECRET_VALUE {
            Ok("entra_secret")
        } else {
            Err(refuse(
                401,
                "invalid_client",
                "AADSTS7000215: Invalid client secret provided.",
            ))
        };
    }
    need(
        &fields,
        "client_assertion_type",
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    )?;
    let assertion = fields.get("client_assertion").cloned().unwrap_or_default();
    let file = state.lock().unwrap().federated_token_file.clone();
    let current = file.map(|f| std::fs::read_to_string(f).unwrap_or_default());
    if current.as_deref().map(str::trim) != Some(assertion.as_str()) {
        return Err(refuse(
            400,
            "invalid_client",
            "AADSTS700024: Client assertion is not the current token.",
        ));
    }
    state.lock().unwrap().assertions.push(assertion);
    Ok("entra_workload")
}

fn imds(r: &Recorded) -> Result<&'static str, Canned> {
    if r.header("metadata") != Some("true") {
        return Err(refuse(
            400,
            "invalid_request",
            "Required metadata header not specified",
        ));
    }
    if query(r, "api-version").as_deref() != Some("2018-02-01")
        || query(r, "resource").as_deref() != Some("https://cognitiveservices.azure.com")
    {
        return Err(refuse(400, "invalid_request", "api-version/resource"));
    }
    Ok("imds")
}

fn app_service(r: &Recorded) -> Result<&'static str, Canned> {
    if r.header("x-identity-header") != Some(IDENTITY_HEADER)
        || query(r, "api-version").as_deref() != Some("2019-08-01")
    {
        return Err(refuse(
            400,
            "invalid_request",
            "identity header/api-version",
        ));
    }
    Ok("app_service")
}

/// Base64url (no padding) decoding, test-side.
pub fn base64url_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let digits: Vec<u32> = text
        .bytes()
        .filter_map(|b| ALPHABET.iter().position(|a| *a == b).map(|p| p as u32))
        .collect();
    let mut out = Vec::new();
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, d)| n | d << (18 - 6 * i));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}
