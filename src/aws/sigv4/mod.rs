//! AWS Signature Version 4 for request headers: [`sign`] adds `host`, `x-amz-date`,
//! `x-amz-security-token` and `authorization` to a request about to be sent. A small signer of
//! our own instead of the `aws-sigv4` crate, which would bring 13 crates of the aws-smithy
//! runtime and about 190 KiB of binary for what is a few hashes here (`ring` is already in the
//! binary through rustls). Checked against AWS's published SigV4 test suite (`tests.rs`).

pub mod canonical;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};

use canonical::{ALGORITHM, canonical_request, scope, sha256_hex, signature, string_to_sign};

/// The request time header.
pub const X_AMZ_DATE: HeaderName = HeaderName::from_static("x-amz-date");
/// The session token header of temporary credentials.
pub const X_AMZ_SECURITY_TOKEN: HeaderName = HeaderName::from_static("x-amz-security-token");
/// Prefix of the AWS headers that are always signed.
const AMZ_PREFIX: &str = "x-amz-";
/// How many signing keys are kept: one per (credentials, day, region, service) in use; a
/// gateway signs for one or two services in a few regions.
const KEY_CACHE_SIZE: usize = 4;
/// Length of the `YYYYMMDD` date that starts an `x-amz-date` value.
const DATE_LEN: usize = 8;

/// AWS credentials: an access key, its secret, and for temporary credentials a session token
/// and when they expire. `Debug` shows neither the secret nor the token.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The access key ID (`AKIA…`, or `ASIA…` for temporary credentials).
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// The session token of temporary credentials.
    pub session_token: Option<String>,
    /// When temporary credentials expire; `None` for long-lived keys.
    pub expires_at: Option<SystemTime>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Why a request could not be signed. The text never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// The clock reads before 1970.
    #[error("the system clock is before the Unix epoch")]
    Clock,
    /// Neither a `host` header nor an authority in the URI.
    #[error("the request URI has no host to sign")]
    NoHost,
    /// A header to sign is not UTF-8 text.
    #[error("header `{0}` is not valid text to sign")]
    HeaderValue(String),
    /// A header the signer adds could not be built (e.g. a session token with a newline).
    #[error("the {0} is not a valid header value")]
    Unrepresentable(&'static str),
}

/// Signs a request in place with SigV4 for `service` in `region` at `now`: adds `host` (from the
/// URI's authority, default port omitted) unless present, `x-amz-date`, `x-amz-security-token`
/// for temporary credentials, and `authorization`. Signs `host`, `content-type` and every
/// `x-amz-*` header (not headers that proxies or the HTTP stack may change on the way), the
/// path as sent (each segment encoded once more, as for every service but S3), the query, and
/// the SHA-256 of exactly `body`. Signing again (a retry) replaces the previous signature.
#[allow(
    clippy::too_many_arguments,
    reason = "the API the provider codes against"
)]
pub fn sign(
    method: &Method,
    uri: &Uri,
    headers: &mut HeaderMap,
    body: &[u8],
    credentials: &Credentials,
    region: &str,
    service: &str,
    now: SystemTime,
) -> Result<(), SignError> {
    let since_epoch = now
        .duration_since(UNIX_EPOCH)
        .map_err(|_| SignError::Clock)?;
    let amz_date = amz_date(since_epoch.as_secs());
    let date = amz_date.get(..DATE_LEN).unwrap_or(&amz_date);
    if !headers.contains_key(HOST) {
        headers.insert(HOST, host_header(uri)?);
    }
    headers.insert(X_AMZ_DATE, header_value(&amz_date, "date")?);
    match &credentials.session_token {
        Some(token) => {
            let mut value = header_value(token, "session token")?;
            value.set_sensitive(true);
            headers.insert(X_AMZ_SECURITY_TOKEN, value);
        }
        None => {
            headers.remove(X_AMZ_SECURITY_TOKEN);
        }
    }
    headers.remove(AUTHORIZATION);

    let payload_hash = sha256_hex(body);
    let mut signed: Vec<(&str, &[u8])> = headers
        .iter()
        .filter(|(name, _)| is_signed(name))
        .map(|(name, value)| (name.as_str(), value.as_bytes()))
        .collect();
    let (creq, signed_names) = canonical_request(
        method.as_str(),
        uri.path(),
        uri.query().unwrap_or_default(),
        &mut signed,
        &payload_hash,
    )?;
    let scope = scope(date, region, service);
    let string_to_sign = string_to_sign(&amz_date, &scope, &creq);
    let key = cached_signing_key(credentials, date, region, service);
    let authorization = format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_names}, Signature={}",
        credentials.access_key_id,
        signature(&key, &string_to_sign)
    );
    let mut value = header_value(&authorization, "authorization")?;
    value.set_sensitive(true);
    headers.insert(AUTHORIZATION, value);
    Ok(())
}

/// Whether the signer signs a header: `host`, `content-type` and `x-amz-*`. Others (`user-agent`,
/// `content-length`, `accept-encoding`, tracing headers) may be added or changed by the HTTP
/// stack or a proxy after signing, which would break the signature.
fn is_signed(name: &HeaderName) -> bool {
    name == HOST || name == CONTENT_TYPE || name.as_str().starts_with(AMZ_PREFIX)
}

/// The `x-amz-date` value of Unix seconds: `20150830T123600Z`.
pub fn amz_date(unix: u64) -> String {
    crate::clock::format_rfc3339(unix)
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect()
}

/// The `host` header of a URI: its authority without a port that is the scheme's default.
fn host_header(uri: &Uri) -> Result<HeaderValue, SignError> {
    /// The default port of `https`.
    const HTTPS_PORT: u16 = 443;
    /// The default port of `http`.
    const HTTP_PORT: u16 = 80;
    let authority = uri.authority().ok_or(SignError::NoHost)?;
    let host = match (uri.scheme_str(), authority.port_u16()) {
        (Some("https"), Some(HTTPS_PORT)) | (Some("http"), Some(HTTP_PORT)) => authority.host(),
        _ => authority.as_str(),
    };
    header_value(host, "host")
}

/// A header value the signer adds.
fn header_value(text: &str, what: &'static str) -> Result<HeaderValue, SignError> {
    HeaderValue::from_str(text).map_err(|_| SignError::Unrepresentable(what))
}

/// A derived signing key, kept for the day.
struct CachedKey {
    access_key_id: String,
    secret_access_key: String,
    date: String,
    region: String,
    service: String,
    key: ring::hmac::Key,
}

/// The few signing keys in use: deriving one costs four HMACs, a third of a signature.
static KEYS: Mutex<Vec<CachedKey>> = Mutex::new(Vec::new());

/// The signing key for the credentials, day, region and service, derived once a day. The lock
/// is held for a few comparisons and never across an await.
fn cached_signing_key(
    credentials: &Credentials,
    date: &str,
    region: &str,
    service: &str,
) -> ring::hmac::Key {
    let matches = |entry: &CachedKey| {
        entry.date == date
            && entry.region == region
            && entry.service == service
            && entry.access_key_id == credentials.access_key_id
            && entry.secret_access_key == credentials.secret_access_key
    };
    if let Some(entry) = KEYS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .find(|entry| matches(entry))
    {
        return entry.key.clone();
    }
    let key = canonical::signing_key(&credentials.secret_access_key, date, region, service);
    let mut keys = KEYS.lock().unwrap_or_else(PoisonError::into_inner);
    if keys.len() >= KEY_CACHE_SIZE {
        keys.remove(0);
    }
    keys.push(CachedKey {
        access_key_id: credentials.access_key_id.clone(),
        secret_access_key: credentials.secret_access_key.clone(),
        date: date.to_owned(),
        region: region.to_owned(),
        service: service.to_owned(),
        key: key.clone(),
    });
    key
}
