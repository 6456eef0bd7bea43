//! Container credentials: EKS Pod Identity and ECS task roles. A GET to a local agent
//! (`AWS_CONTAINER_CREDENTIALS_FULL_URI`, or `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` on the ECS
//! address) with the token of `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` (re-read at every
//! refresh, as it rotates) or `AWS_CONTAINER_AUTHORIZATION_TOKEN`, answering JSON.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::{HeaderValue, Method, Request, Uri};
use http_body_util::Full;
use serde::Deserialize;

use super::sts::expiry;
use super::{CONTAINER, CredentialError};
use crate::aws::sigv4::Credentials;
use crate::cloud::http::{exchange, snippet};
use crate::cloud::read_token_file;
use crate::transport::HttpsClient;

/// The ECS agent's address, base of `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`.
const ECS_HOST: &str = "169.254.170.2";
/// The EKS Pod Identity agent's IPv4 address.
const EKS_HOST_V4: &str = "169.254.170.23";
/// The EKS Pod Identity agent's IPv6 address.
const EKS_HOST_V6: &str = "fd00:ec2::23";
/// How long credentials without an `Expiration` are used before asking again.
const UNDATED_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// Where the authorization token comes from.
pub enum Token {
    /// A file, re-read at every refresh.
    File(PathBuf),
    /// A fixed value.
    Value(String),
}

/// A container credentials endpoint.
pub struct Container {
    /// The HTTP client.
    pub client: HttpsClient,
    /// The endpoint.
    pub uri: Uri,
    /// The authorization token, when the agent asks for one.
    pub token: Option<Token>,
}

/// The endpoint of the environment: the full URI (whose host must be a loopback address, an
/// agent's address, or any host over https, as the SDKs require) or the relative URI on the ECS
/// address. `None` when neither is set.
pub fn endpoint(env: &dyn Fn(&str) -> Option<String>) -> Option<Result<Uri, String>> {
    if let Some(full) = env("AWS_CONTAINER_CREDENTIALS_FULL_URI") {
        return Some(full_uri(&full));
    }
    let relative = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")?;
    let url = format!("http://{ECS_HOST}{relative}");
    Some(
        url.parse::<Uri>()
            .ok()
            .filter(|_| relative.starts_with('/'))
            .ok_or_else(|| {
                format!("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI `{relative}` is not a path")
            }),
    )
}

/// A checked `AWS_CONTAINER_CREDENTIALS_FULL_URI`.
fn full_uri(full: &str) -> Result<Uri, String> {
    let what = "AWS_CONTAINER_CREDENTIALS_FULL_URI";
    let uri: Uri = full.parse().map_err(|e| format!("{what} `{full}`: {e}"))?;
    let host = uri
        .host()
        .ok_or_else(|| format!("{what} `{full}` has no host"))?;
    match uri.scheme_str() {
        Some("https") => Ok(uri),
        Some("http") if allowed_http_host(host) => Ok(uri),
        Some("http") => Err(format!(
            "{what} `{full}`: plain http is only allowed to a loopback address, {ECS_HOST}, \
             {EKS_HOST_V4} or {EKS_HOST_V6}"
        )),
        _ => Err(format!("{what} `{full}` is not an http(s) URL")),
    }
}

/// Whether credentials may be fetched over plain http from `host`.
fn allowed_http_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let Ok(ip) = bare.parse::<IpAddr>() else {
        return false;
    };
    let agents = [ECS_HOST, EKS_HOST_V4, EKS_HOST_V6];
    ip.is_loopback()
        || agents
            .iter()
            .any(|agent| agent.parse::<IpAddr>().ok() == Some(ip))
}

/// The agent's answer.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Answer {
    access_key_id: String,
    secret_access_key: String,
    token: Option<String>,
    expiration: Option<String>,
}

impl Container {
    /// Fetches fresh credentials.
    pub async fn fetch(&self) -> Result<Credentials, CredentialError> {
        let fail = |detail: String| CredentialError::aws(CONTAINER, detail);
        let mut request = Request::builder()
            .method(Method::GET)
            .uri(self.uri.clone())
            .body(Full::new(Bytes::new()))
            .map_err(|e| fail(format!("building the request failed: {e}")))?;
        if let Some(token) = &self.token {
            let mut value = HeaderValue::from_str(&self.read_token(token).await.map_err(fail)?)
                .map_err(|_| fail("the authorization token is not a valid header value".into()))?;
            value.set_sensitive(true);
            request.headers_mut().insert(AUTHORIZATION, value);
        }
        let (status, body) = exchange(&self.client, request).await.map_err(fail)?;
        if !status.is_success() {
            return Err(fail(format!(
                "HTTP {}: {}",
                status.as_u16(),
                snippet(&body)
            )));
        }
        let answer: Answer =
            serde_json::from_slice(&body).map_err(|e| fail(format!("unreadable answer: {e}")))?;
        let expires_at = match answer.expiration {
            Some(text) => expiry(&text).map_err(fail)?,
            None => SystemTime::now() + UNDATED_LIFETIME,
        };
        Ok(Credentials {
            access_key_id: answer.access_key_id,
            secret_access_key: answer.secret_access_key,
            session_token: answer.token.filter(|token| !token.is_empty()),
            expires_at: Some(expires_at),
        })
    }

    /// The token's current value, trimmed.
    async fn read_token(&self, token: &Token) -> Result<String, String> {
        let path = match token {
            Token::Value(value) => return Ok(value.trim().to_owned()),
            Token::File(path) => path,
        };
        read_token_file(path, "authorization token file").await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn full_uris_are_limited_to_local_agents_or_https() {
        for (url, ok) in [
            ("http://169.254.170.23/v1/credentials", true),
            ("http://[fd00:ec2::23]/v1/credentials", true),
            ("http://169.254.170.2/creds", true),
            ("http://127.0.0.1:8080/creds", true),
            ("http://127.5.5.5/creds", true),
            ("http://[::1]:1/creds", true),
            ("http://localhost:1/creds", true),
            ("https://creds.example.com/", true),
            ("http://creds.example.com/", false),
            ("http://169.254.169.254/", false),
            ("ftp://127.0.0.1/", false),
        ] {
            assert_eq!(full_uri(url).is_ok(), ok, "{url}");
        }
    }

    #[test]
    fn the_relative_uri_goes_to_the_ecs_agent() {
        let env = env_of(&[(
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "/v2/credentials/abc",
        )]);
        assert_eq!(
            endpoint(&env).unwrap().unwrap(),
            "http://169.254.170.2/v2/credentials/abc"
        );
        let env = env_of(&[("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "v2")]);
        assert!(endpoint(&env).unwrap().is_err());
        assert!(endpoint(&env_of(&[])).is_none());
    }
}
