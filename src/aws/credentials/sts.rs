//! AWS STS: `AssumeRoleWithWebIdentity` (IRSA: the pod's projected service-account token,
//! unsigned) and `AssumeRole` (a role of another account, signed with the base credentials).
//! Both are form POSTs to the regional endpoint answering XML.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Method, Request, Uri};
use http_body_util::Full;

use super::xml::element_text;
use super::{ASSUME_ROLE, CredentialError, WEB_IDENTITY};
use crate::aws::sigv4::{self, Credentials};
use crate::cloud::http::{exchange, form, snippet};
use crate::cloud::read_token_file;
use crate::transport::HttpsClient;

/// The STS API version both actions are called with.
const API_VERSION: &str = "2011-06-15";
/// The form content type of STS requests.
const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";
/// The SigV4 service name of STS.
const STS_SERVICE: &str = "sts";
/// Largest web identity token file read (a service-account JWT is about 1 KiB).
/// Longest STS error message kept in an error.
const MESSAGE_CHARS: usize = 300;

/// The STS endpoint: `AWS_ENDPOINT_URL_STS`, else `AWS_ENDPOINT_URL`, else the regional
/// `https://sts.{region}.amazonaws.com` (`.amazonaws.com.cn` in China).
pub fn endpoint(region: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Uri, String> {
    let url = match env("AWS_ENDPOINT_URL_STS").or_else(|| env("AWS_ENDPOINT_URL")) {
        Some(url) => url,
        None if region.is_empty() => {
            return Err("STS needs a region (set the provider's region or AWS_REGION)".into());
        }
        None if region.starts_with("cn-") => format!("https://sts.{region}.amazonaws.com.cn/"),
        None => format!("https://sts.{region}.amazonaws.com/"),
    };
    let uri: Uri = url
        .parse()
        .map_err(|e| format!("STS endpoint `{url}`: {e}"))?;
    match (uri.scheme_str(), uri.authority()) {
        (Some("http" | "https"), Some(_)) => Ok(uri),
        _ => Err(format!("STS endpoint `{url}` is not an http(s) URL")),
    }
}

/// `AssumeRoleWithWebIdentity` with the token file's current content.
pub struct WebIdentity {
    /// The HTTP client.
    pub client: HttpsClient,
    /// The STS endpoint.
    pub endpoint: Uri,
    /// The role to assume (`AWS_ROLE_ARN`).
    pub role_arn: String,
    /// The token file (`AWS_WEB_IDENTITY_TOKEN_FILE`), re-read at every refresh because the
    /// kubelet rotates it.
    pub token_file: PathBuf,
    /// The session name (`AWS_ROLE_SESSION_NAME` or the default).
    pub session_name: String,
}

impl WebIdentity {
    /// Fetches fresh credentials.
    pub async fn fetch(&self) -> Result<Credentials, CredentialError> {
        let token = read_token_file(&self.token_file, "web identity token file")
            .await
            .map_err(|detail| CredentialError::aws(WEB_IDENTITY, detail))?;
        let form = form(&[
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", API_VERSION),
            ("RoleArn", &self.role_arn),
            ("RoleSessionName", &self.session_name),
            ("WebIdentityToken", &token),
        ]);
        let request = post(&self.endpoint, form, None)
            .map_err(|detail| CredentialError::aws(WEB_IDENTITY, detail))?;
        call(
            &self.client,
            request,
            "AssumeRoleWithWebIdentity",
            WEB_IDENTITY,
        )
        .await
    }
}

/// `AssumeRole` signed with the base credentials.
pub struct AssumeRole {
    /// The HTTP client.
    pub client: HttpsClient,
    /// The STS endpoint.
    pub endpoint: Uri,
    /// The region the request is signed for.
    pub region: String,
    /// The role to assume.
    pub role_arn: String,
    /// The session name.
    pub session_name: String,
    /// The external ID the role's trust policy asks for.
    pub external_id: Option<String>,
}

impl AssumeRole {
    /// Fetches fresh credentials with `base` signing the request.
    pub async fn fetch(&self, base: &Credentials) -> Result<Credentials, CredentialError> {
        let mut params = vec![
            ("Action", "AssumeRole"),
            ("Version", API_VERSION),
            ("RoleArn", self.role_arn.as_str()),
            ("RoleSessionName", self.session_name.as_str()),
        ];
        if let Some(external_id) = &self.external_id {
            params.push(("ExternalId", external_id));
        }
        let signing = Signing {
            credentials: base,
            region: &self.region,
        };
        let request = post(&self.endpoint, form(&params), Some(signing))
            .map_err(|detail| CredentialError::aws(ASSUME_ROLE, detail))?;
        call(&self.client, request, "AssumeRole", ASSUME_ROLE).await
    }
}

/// Credentials and region that sign a request.
struct Signing<'a> {
    credentials: &'a Credentials,
    region: &'a str,
}

/// A form POST to the endpoint, signed when `signing` is given.
fn post(
    endpoint: &Uri,
    body: String,
    signing: Option<Signing<'_>>,
) -> Result<Request<Full<Bytes>>, String> {
    let body = Bytes::from(body);
    let request = Request::builder()
        .method(Method::POST)
        .uri(endpoint.clone())
        .header(CONTENT_TYPE, HeaderValue::from_static(FORM))
        .body(Full::new(body.clone()))
        .map_err(|e| format!("building the STS request failed: {e}"))?;
    let Some(Signing {
        credentials,
        region,
    }) = signing
    else {
        return Ok(request);
    };
    let (mut parts, full) = request.into_parts();
    sigv4::sign(
        &parts.method,
        &parts.uri,
        &mut parts.headers,
        &body,
        credentials,
        region,
        STS_SERVICE,
        SystemTime::now(),
    )
    .map_err(|e| format!("signing the STS request failed: {e}"))?;
    Ok(Request::from_parts(parts, full))
}

/// Sends an STS request and reads the credentials of `action`'s answer, or its error.
async fn call(
    client: &HttpsClient,
    request: Request<Full<Bytes>>,
    action: &str,
    source: &'static str,
) -> Result<Credentials, CredentialError> {
    let fail = |detail: String| CredentialError::aws(source, format!("STS {action}: {detail}"));
    let (status, body) = exchange(client, request).await.map_err(fail)?;
    let text = String::from_utf8_lossy(&body);
    if !status.is_success() {
        return Err(fail(sts_error(status, &text, &body)));
    }
    parse_credentials(&text, action).map_err(fail)
}

/// The text of an STS error answer: `HTTP 403: AccessDenied: message`.
fn sts_error(status: http::StatusCode, text: &str, body: &[u8]) -> String {
    let error = |field| element_text(text, &["ErrorResponse", "Error", field]);
    match (error("Code"), error("Message")) {
        (Some(code), message) => {
            let message: String = message
                .unwrap_or_default()
                .chars()
                .take(MESSAGE_CHARS)
                .collect();
            format!("HTTP {}: {code}: {message}", status.as_u16())
        }
        (None, _) => format!("HTTP {}: {}", status.as_u16(), snippet(body)),
    }
}

/// The credentials of a successful `action` answer.
pub fn parse_credentials(text: &str, action: &str) -> Result<Credentials, String> {
    let response = format!("{action}Response");
    let result = format!("{action}Result");
    let field = |name: &str| {
        element_text(text, &[&response, &result, "Credentials", name])
            .filter(|value| !value.is_empty())
            .ok_or_else(|| format!("the answer has no Credentials/{name}"))
    };
    let expiration = field("Expiration")?;
    let expires_at = expiry(&expiration)?;
    Ok(Credentials {
        access_key_id: field("AccessKeyId")?,
        secret_access_key: field("SecretAccessKey")?,
        session_token: Some(field("SessionToken")?),
        expires_at: Some(expires_at),
    })
}

/// The time of an RFC 3339 `Expiration` (`2026-12-03T18:00:00Z`, fraction or offset allowed).
pub fn expiry(text: &str) -> Result<SystemTime, String> {
    crate::clock::unix_from_rfc3339(text)
        .map(|unix| UNIX_EPOCH + Duration::from_secs(unix))
        .ok_or_else(|| format!("unreadable Expiration `{}`", snippet(text.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_follow_the_sdk_overrides() {
        let none = |_: &str| None;
        assert_eq!(
            endpoint("eu-west-1", &none).unwrap(),
            "https://sts.eu-west-1.amazonaws.com/"
        );
        assert_eq!(
            endpoint("cn-north-1", &none).unwrap(),
            "https://sts.cn-north-1.amazonaws.com.cn/"
        );
        assert!(endpoint("", &none).is_err());
        let general =
            |name: &str| (name == "AWS_ENDPOINT_URL").then(|| "http://127.0.0.1:9/".to_owned());
        assert_eq!(endpoint("", &general).unwrap(), "http://127.0.0.1:9/");
        let both = |name: &str| match name {
            "AWS_ENDPOINT_URL_STS" => Some("https://sts.example/".to_owned()),
            "AWS_ENDPOINT_URL" => Some("http://127.0.0.1:9/".to_owned()),
            _ => None,
        };
        assert_eq!(
            endpoint("us-east-1", &both).unwrap(),
            "https://sts.example/"
        );
        let bad = |_: &str| Some("ftp://x/".to_owned());
        assert!(endpoint("us-east-1", &bad).is_err());
    }

    #[test]
    fn answers_and_errors_are_read() {
        let ok = "<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIA1</AccessKeyId>\
            <SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken>\
            <Expiration>2026-12-03T18:00:00.123Z</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>";
        let creds = parse_credentials(ok, "AssumeRole").unwrap();
        assert_eq!(creds.access_key_id, "ASIA1");
        assert_eq!(
            creds.expires_at,
            Some(UNIX_EPOCH + Duration::from_secs(1_796_320_800))
        );
        let missing = parse_credentials(ok, "AssumeRoleWithWebIdentity").unwrap_err();
        assert!(
            missing.contains("AccessKeyId") || missing.contains("Expiration"),
            "{missing}"
        );
        let error = "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>\
            <Message>not &lt;allowed&gt;</Message></Error></ErrorResponse>";
        let text = sts_error(http::StatusCode::FORBIDDEN, error, error.as_bytes());
        assert_eq!(text, "HTTP 403: AccessDenied: not <allowed>");
        let text = sts_error(
            http::StatusCode::BAD_GATEWAY,
            "<html>\n</html>",
            b"<html>\n</html>",
        );
        assert_eq!(text, "HTTP 502: <html> </html>");
    }
}
