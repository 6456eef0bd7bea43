//! Fake AWS services for the tests that speak the real protocols: a SigV4 verifier that
//! recomputes a received request's signature with the secret the fake issued (so a wrong
//! canonical request, a changed header or body, or a wrong secret fails), a fake STS
//! (`AssumeRoleWithWebIdentity`, `AssumeRole`) and a fake container-credentials agent.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderMap;
use llm_sidecar::aws::sigv4::canonical::{
    ALGORITHM, SCOPE_TERMINATOR, canonical_request, scope, sha256_hex, signature, signing_key,
    string_to_sign,
};
use llm_sidecar::clock::format_rfc3339;

use super::upstream::{Canned, Recorded, Upstream};

/// How far a request's `x-amz-date` may be from the fake's clock (AWS allows 15 minutes).
const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// Who signed a request that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedBy {
    /// The access key ID of the credential scope.
    pub access_key_id: String,
    /// The scope's region.
    pub region: String,
    /// The scope's service.
    pub service: String,
    /// The signed header names.
    pub signed_headers: Vec<String>,
}

/// Checks a received request's SigV4 `authorization` header against `secret`: recomputes the
/// canonical request from the method, path and query as received, the signed headers' values
/// and the SHA-256 of `body`. Also requires `host`, `x-amz-date`, `content-type` and every
/// `x-amz-*` header present to be signed, and the date to be within 15 minutes of now.
pub fn verify(
    method: &str,
    path_and_query: &str,
    headers: &HeaderMap,
    body: &[u8],
    secret: &str,
) -> Result<SignedBy, String> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let authorization = header("authorization").ok_or("no authorization header")?;
    let fields = authorization
        .strip_prefix(ALGORITHM)
        .and_then(|rest| rest.strip_prefix(' '))
        .ok_or_else(|| format!("not {ALGORITHM}: {authorization}"))?;
    let mut parts: HashMap<&str, &str> = HashMap::new();
    for field in fields.split(", ") {
        let (name, value) = field.split_once('=').ok_or("malformed authorization")?;
        parts.insert(name, value);
    }
    let part = |name: &str| parts.get(name).copied().ok_or(format!("no {name}"));
    let credential: Vec<&str> = part("Credential")?.split('/').collect();
    let [access_key_id, date, region, service, terminator] = credential[..] else {
        return Err(format!("malformed credential scope {credential:?}"));
    };
    if terminator != SCOPE_TERMINATOR {
        return Err(format!("scope ends in {terminator}"));
    }
    let signed_names: Vec<&str> = part("SignedHeaders")?.split(';').collect();
    let amz_date = header("x-amz-date").ok_or("no x-amz-date")?;
    check_date(amz_date, date)?;
    for name in headers.keys().map(|n| n.as_str()) {
        let must_sign = name == "host" || name == "content-type" || name.starts_with("x-amz-");
        if must_sign && !signed_names.contains(&name) {
            return Err(format!("{name} is present but not signed"));
        }
    }
    let mut signed: Vec<(&str, &[u8])> = Vec::new();
    for name in &signed_names {
        let values: Vec<_> = headers.get_all(*name).iter().collect();
        if values.is_empty() {
            return Err(format!("signed header {name} is missing"));
        }
        signed.extend(values.into_iter().map(|v| (*name, v.as_bytes())));
    }
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let (creq, list) = canonical_request(method, path, query, &mut signed, &sha256_hex(body))
        .map_err(|e| e.to_string())?;
    if list != part("SignedHeaders")? {
        return Err(format!(
            "SignedHeaders {} are not sorted",
            part("SignedHeaders")?
        ));
    }
    let sts = string_to_sign(amz_date, &scope(date, region, service), &creq);
    let want = signature(&signing_key(secret, date, region, service), &sts);
    if want != part("Signature")? {
        return Err(format!("signature mismatch; canonical request:\n{creq}"));
    }
    Ok(SignedBy {
        access_key_id: access_key_id.into(),
        region: region.into(),
        service: service.into(),
        signed_headers: signed_names.iter().map(|s| (*s).to_owned()).collect(),
    })
}

/// [`verify`] of a request an [`Upstream`] recorded.
pub fn verify_recorded(request: &Recorded, secret: &str) -> Result<SignedBy, String> {
    verify(
        &request.method,
        &request.path,
        &request.headers,
        &request.body,
        secret,
    )
}

/// The `x-amz-date` agrees with the scope's date and is within [`MAX_SKEW`] of now.
fn check_date(amz_date: &str, scope_date: &str) -> Result<(), String> {
    if !amz_date.starts_with(scope_date) {
        return Err(format!(
            "x-amz-date {amz_date} is not of the scope's day {scope_date}"
        ));
    }
    let rfc3339 = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &amz_date[0..4],
        &amz_date[4..6],
        &amz_date[6..8],
        &amz_date[9..11],
        &amz_date[11..13],
        &amz_date[13..15]
    );
    let signed_at = llm_sidecar::clock::unix_from_rfc3339(&rfc3339).ok_or("bad x-amz-date")?;
    let now = llm_sidecar::clock::unix_now();
    if now.abs_diff(signed_at) > MAX_SKEW.as_secs() {
        return Err(format!("x-amz-date {amz_date} is too far from now"));
    }
    Ok(())
}

/// Form (`application/x-www-form-urlencoded`) or query parameters, decoded.
pub fn form(text: &str) -> HashMap<String, String> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'%' if at + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[at + 1..at + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                at += 3;
            }
            b'+' => {
                out.push(b' ');
                at += 1;
            }
            other => {
                out.push(other);
                at += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

/// Credentials a fake issued.
#[derive(Debug, Clone)]
pub struct Issued {
    /// Access key ID.
    pub access_key_id: String,
    /// Secret.
    pub secret: String,
    /// Session token.
    pub token: String,
}

/// What the fake STS expects and answers.
#[derive(Debug)]
pub struct StsState {
    /// The role `AssumeRoleWithWebIdentity` must name.
    pub web_identity_role: String,
    /// The session name it must send.
    pub web_identity_session: String,
    /// The token file whose current content `WebIdentityToken` must equal.
    pub token_file: PathBuf,
    /// The role, session name and external ID `AssumeRole` must send.
    pub assume_role: (String, String, Option<String>),
    /// How long issued credentials last.
    pub lifetime: Duration,
    /// Answer every call with this error (`status`, `Code`, `Message`).
    pub error: Option<(u16, String, String)>,
    /// Secrets of the keys that may sign `AssumeRole`, by access key ID (static keys and every
    /// credential issued).
    pub secrets: HashMap<String, (String, Option<String>)>,
    /// What was issued, in order.
    pub issued: Vec<Issued>,
    /// The `WebIdentityToken` of each web identity call, in order.
    pub tokens_seen: Vec<String>,
}

/// A fake STS on an ephemeral port.
pub struct FakeSts {
    /// The HTTP server (requests recorded).
    pub upstream: Upstream,
    /// Its state.
    pub state: Arc<Mutex<StsState>>,
}

impl FakeSts {
    /// Starts a fake STS; each answer waits `delay` (so concurrent callers overlap).
    pub async fn start(state: StsState, delay: Duration) -> Self {
        let state = Arc::new(Mutex::new(state));
        let shared = state.clone();
        let upstream = Upstream::start(move |request| {
            let answer = sts_answer(&mut shared.lock().unwrap(), request);
            Canned::Delay(delay, Box::new(answer))
        })
        .await;
        Self { upstream, state }
    }

    /// The endpoint URL (`AWS_ENDPOINT_URL_STS`).
    pub fn url(&self) -> String {
        format!("http://{}/", self.upstream.addr)
    }
}

fn sts_answer(state: &mut StsState, request: &Recorded) -> Canned {
    if let Some((status, code, message)) = state.error.clone() {
        return sts_error(status, &code, &message);
    }
    let params = match request.method.as_str() {
        "POST" => form(std::str::from_utf8(&request.body).unwrap()),
        _ => form(request.path.split_once('?').map_or("", |(_, q)| q)),
    };
    let param = |name: &str| params.get(name).cloned().unwrap_or_default();
    if param("Version") != "2011-06-15" {
        return sts_error(400, "InvalidAction", "unsupported Version");
    }
    match param("Action").as_str() {
        "AssumeRoleWithWebIdentity" => {
            let current = std::fs::read_to_string(&state.token_file).unwrap();
            state.tokens_seen.push(param("WebIdentityToken"));
            if param("WebIdentityToken") != current.trim() {
                return sts_error(400, "InvalidIdentityToken", "token does not match");
            }
            if param("RoleArn") != state.web_identity_role
                || param("RoleSessionName") != state.web_identity_session
            {
                return sts_error(
                    400,
                    "ValidationError",
                    "unexpected RoleArn or RoleSessionName",
                );
            }
            issue(state, "AssumeRoleWithWebIdentity")
        }
        "AssumeRole" => {
            if let Err(error) = check_signed_by_known_key(state, request) {
                return sts_error(403, "SignatureDoesNotMatch", &error);
            }
            let (role, session, external_id) = state.assume_role.clone();
            let sent = (
                param("RoleArn"),
                param("RoleSessionName"),
                params.get("ExternalId").cloned(),
            );
            if sent != (role, session, external_id) {
                return sts_error(
                    400,
                    "ValidationError",
                    &format!("unexpected parameters {sent:?}"),
                );
            }
            issue(state, "AssumeRole")
        }
        other => sts_error(400, "InvalidAction", &format!("unknown action {other}")),
    }
}

/// The request is SigV4-signed for `sts` by a key the fake knows, with that key's token.
fn check_signed_by_known_key(state: &StsState, request: &Recorded) -> Result<(), String> {
    let authorization = request.header("authorization").ok_or("unsigned")?;
    let key_id = authorization
        .split("Credential=")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .ok_or("no credential")?;
    let (secret, token) = state.secrets.get(key_id).ok_or("unknown access key")?;
    let signed = verify_recorded(request, secret)?;
    if signed.service != "sts" {
        return Err(format!("signed for {}", signed.service));
    }
    if request.header("x-amz-security-token") != token.as_deref() {
        return Err("wrong session token".into());
    }
    Ok(())
}

/// Issues credentials: `ASIA<n>`, a fresh secret and token, expiring after the lifetime.
fn issue(state: &mut StsState, action: &str) -> Canned {
    let n = state.issued.len() + 1;
    let issued = Issued {
        access_key_id: format!("ASIAFAKE{n}"),
        secret: format!("secret/{n}+{}", std::process::id()),
        token: format!("token-{n}&<more>"),
    };
    state.secrets.insert(
        issued.access_key_id.clone(),
        (issued.secret.clone(), Some(issued.token.clone())),
    );
    state.issued.push(issued.clone());
    let expires = SystemTime::now() + state.lifetime;
    let unix = expires.duration_since(UNIX_EPOCH).unwrap().as_secs();
    let escape = |text: &str| {
        text.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let body = format!(
        r#"<{action}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <{action}Result>
    <Credentials>
      <AccessKeyId>{}</AccessKeyId>
      <SecretAccessKey>{}</SecretAccessKey>
      <SessionToken>{}</SessionToken>
      <Expiration>{}</Expiration>
    </Credentials>
  </{action}Result>
  <ResponseMetadata><RequestId>req-{n}</RequestId></ResponseMetadata>
</{action}Response>"#,
        issued.access_key_id,
        escape(&issued.secret),
        escape(&issued.token),
        format_rfc3339(unix).replace('Z', ".000Z"),
    );
    Canned::Raw(200, "text/xml", body)
}

fn sts_error(status: u16, code: &str, message: &str) -> Canned {
    let body = format!(
        "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>\
         <Code>{code}</Code><Message>{}</Message></Error><RequestId>r</RequestId></ErrorResponse>",
        message.replace('&', "&amp;").replace('<', "&lt;")
    );
    Canned::Raw(status, "text/xml", body)
}

/// A fake EKS Pod Identity agent: answers when `authorization` equals the token file's current
/// content, 401 otherwise.
pub async fn fake_container_agent(
    token_file: PathBuf,
    lifetime: Duration,
) -> (Upstream, Arc<Mutex<Vec<Issued>>>) {
    let issued = Arc::new(Mutex::new(Vec::new()));
    let log = issued.clone();
    let upstream = Upstream::start(move |request| {
        let current = std::fs::read_to_string(&token_file).unwrap();
        if request.method != "GET" || request.header("authorization") != Some(current.trim()) {
            return Canned::Raw(
                401,
                "application/json",
                r#"{"Code":"AccessDeniedException","Message":"bad token"}"#.into(),
            );
        }
        let mut log = log.lock().unwrap();
        let n = log.len() + 1;
        let creds = Issued {
            access_key_id: format!("ASIAPOD{n}"),
            secret: format!("pod-secret-{n}"),
            token: format!("pod-token-{n}"),
        };
        log.push(creds.clone());
        let unix = (SystemTime::now() + lifetime)
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let body = serde_json::json!({
            "AccessKeyId": creds.access_key_id,
            "SecretAccessKey": creds.secret,
            "Token": creds.token,
            "AccountId": "123456789012",
            "Expiration": format_rfc3339(unix),
        });
        Canned::Json(200, body)
    })
    .await;
    (upstream, issued)
}
