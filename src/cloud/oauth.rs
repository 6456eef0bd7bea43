//! OAuth2 bearer tokens, as Google's and Entra ID's token endpoints and metadata services answer
//! them: the token and its lifetime (`expires_in`, in seconds, as a number or, from IMDS, a
//! string; or `expires_on`, a Unix time, from App Service), read with bounds on what an endpoint
//! may send.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderName, HeaderValue, Method, Request, Uri};
use http_body_util::Full;
use serde::Deserialize;
use serde_json::Value;

use super::http::{exchange, snippet};
use super::token::Expiring;
use crate::transport::HttpsClient;

/// Longest access token accepted (Entra ID tokens are a few KiB of JWT).
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Longest lifetime believed: a day (real ones are one hour); a longer one is cut to this.
pub const MAX_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// A bearer token and when it expires.
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken {
    /// The token sent as `Authorization: Bearer …`.
    pub token: String,
    /// When it expires.
    pub expires_at: Option<SystemTime>,
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerToken")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl Expiring for BearerToken {
    fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at
    }
}

/// A token endpoint's answer (OAuth2, Google metadata, IMDS, App Service).
#[derive(Deserialize)]
struct Answer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<Value>,
    #[serde(default)]
    expires_on: Option<Value>,
}

/// A number sent as a JSON number or a string of digits.
fn seconds(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The token of an OAuth2-style answer, as of `now`. The error names what is wrong, never the
/// token.
pub fn read_answer(body: &[u8], now: SystemTime) -> Result<BearerToken, String> {
    let answer: Answer = serde_json::from_slice(body).map_err(|e| {
        format!(
            "unreadable token answer at line {} column {}",
            e.line(),
            e.column()
        )
    })?;
    if answer.access_token.is_empty() || answer.access_token.len() > MAX_TOKEN_BYTES {
        return Err(format!(
            "the access token is empty or longer than {MAX_TOKEN_BYTES} bytes"
        ));
    }
    let lifetime = match (&answer.expires_in, &answer.expires_on) {
        (Some(value), _) => {
            Duration::from_secs(seconds(value).ok_or("`expires_in` is not a number of seconds")?)
        }
        (None, Some(value)) => {
            let at = UNIX_EPOCH
                + Duration::from_secs(seconds(value).ok_or("`expires_on` is not a Unix time")?);
            at.duration_since(now).unwrap_or_default()
        }
        (None, None) => return Err("the answer gives no lifetime (`expires_in`)".into()),
    };
    Ok(BearerToken {
        token: answer.access_token,
        expires_at: Some(now + lifetime.min(MAX_LIFETIME)),
    })
}

/// The content type of token requests.
pub const FORM: &str = "application/x-www-form-urlencoded";

/// A credential request: `method` to `uri` with `headers` (all marked sensitive: they carry
/// tokens and identity headers) and a body of the given content type.
pub fn request(
    method: Method,
    uri: &Uri,
    headers: &[(&'static str, &str)],
    body: Option<(&'static str, String)>,
) -> Result<Request<Full<Bytes>>, String> {
    let (content_type, body) = body.map_or((None, String::new()), |(t, b)| (Some(t), b));
    let mut request = Request::builder()
        .method(method)
        .uri(uri.clone())
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("building the request failed: {e}"))?;
    let map = request.headers_mut();
    if let Some(content_type) = content_type {
        map.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    for (name, value) in headers {
        let mut value = HeaderValue::from_str(value)
            .map_err(|_| format!("the {name} header is not a valid header value"))?;
        value.set_sensitive(true);
        map.insert(HeaderName::from_static(name), value);
    }
    Ok(request)
}

/// Sends a token request and reads the token of its successful answer; an error status is
/// reported with the start of its body (OAuth2 `error`/`error_description`).
pub async fn fetch(
    client: &HttpsClient,
    request: Request<Full<Bytes>>,
) -> Result<BearerToken, String> {
    let (status, body) = exchange(client, request).await?;
    if !status.is_success() {
        return Err(format!("HTTP {}: {}", status.as_u16(), snippet(&body)));
    }
    read_answer(&body, SystemTime::now())
}

/// `url` as a token endpoint's URI: http(s) with a host.
pub fn endpoint(url: &str, what: &str) -> Result<Uri, String> {
    let uri: Uri = url.parse().map_err(|e| format!("{what} `{url}`: {e}"))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(_)) => Ok(uri),
        _ => Err(format!("{what} `{url}` is not an http(s) URL")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_with_their_lifetime() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let at = |secs: u64| Some(now + Duration::from_secs(secs));
        let long_token = format!(
            r#"{{"access_token":"{}","expires_in":1}}"#,
            "t".repeat(MAX_TOKEN_BYTES + 1)
        );
        let cases: [(&str, Result<Option<SystemTime>, &str>); 8] = [
            (
                r#"{"access_token":"ya29.x","expires_in":3599,"token_type":"Bearer"}"#,
                Ok(at(3599)),
            ),
            (
                r#"{"access_token":"eyJ","expires_in":"3599","expires_on":"1003599"}"#,
                Ok(at(3599)),
            ),
            (r#"{"access_token":"eyJ","expires_on":1000060}"#, Ok(at(60))),
            (
                r#"{"access_token":"eyJ","expires_in":99999999}"#,
                Ok(Some(now + MAX_LIFETIME)),
            ),
            (r#"{"access_token":"eyJ"}"#, Err("no lifetime")),
            (r#"{"access_token":"","expires_in":1}"#, Err("empty")),
            (
                r#"{"access_token":"x","expires_in":"soon"}"#,
                Err("not a number"),
            ),
            (long_token.as_str(), Err("longer than")),
        ];
        for (body, want) in cases {
            match (read_answer(body.as_bytes(), now), want) {
                (Ok(token), Ok(expires)) => assert_eq!(token.expires_at, expires, "{body}"),
                (Err(e), Err(text)) => assert!(e.contains(text), "{body}: {e}"),
                (got, _) => panic!("{body}: {got:?}"),
            }
        }
        let error = read_answer(br#"{"access_token":"secret-token","expires_in":[]}"#, now);
        assert!(!format!("{error:?}").contains("secret-token"));
    }
}
