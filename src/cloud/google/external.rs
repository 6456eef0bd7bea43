//! Workload identity federation (`external_account`): the subject token (a file the platform
//! rotates, re-read at every refresh; plain text or a JSON field) exchanged at Google's STS
//! (RFC 8693 token exchange) for a federated token, which is used as is or, with
//! `service_account_impersonation_url`, exchanged again for a service account's token
//! (`generateAccessToken`).

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{Method, Uri};
use serde::Deserialize;
use serde_json::{Value, json};

use super::super::http::{exchange, form, snippet};
use super::super::oauth::{self, BearerToken, FORM, MAX_LIFETIME, MAX_TOKEN_BYTES};
use super::super::token::Fetch;
use super::super::{CredentialError, client, read_token_file};
use super::{CLOUD, EXTERNAL_ACCOUNT, SCOPE};
use crate::task::BoxFuture;
use crate::transport::HttpsClient;

/// The grant of a token exchange.
pub const TOKEN_EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// The token type asked of STS.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// The lifetime asked of `generateAccessToken`: its default and Google's usual maximum.
const IMPERSONATED_LIFETIME: &str = "3600s";

/// The fields of an `external_account` file that are used.
#[derive(Deserialize)]
struct Config {
    audience: String,
    subject_token_type: String,
    token_url: String,
    credential_source: Source,
    #[serde(default)]
    service_account_impersonation_url: Option<String>,
}

/// Where the subject token is: only files are supported (what Kubernetes projects).
#[derive(Deserialize)]
struct Source {
    #[serde(default)]
    file: Option<String>,
    #[serde(default)]
    format: Option<Format>,
}

/// How the subject token file is written.
#[derive(Deserialize)]
struct Format {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    subject_token_field_name: Option<String>,
}

/// A workload identity federation config.
pub struct External {
    client: HttpsClient,
    audience: String,
    subject_token_type: String,
    token_uri: Uri,
    file: PathBuf,
    /// The JSON field holding the subject token, when the file is JSON.
    json_field: Option<String>,
    impersonation: Option<Uri>,
}

impl External {
    /// The config of an `external_account` file's JSON.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let config: Config = serde_json::from_str(text)
            .map_err(|e| format!("external_account credentials: missing or wrong fields: {e}"))?;
        let file = config
            .credential_source
            .file
            .ok_or("external_account credentials: only a `credential_source.file` is supported")?;
        let json_field = match config.credential_source.format {
            None => None,
            Some(format) if format.kind == "text" => None,
            Some(format) if format.kind == "json" => Some(format.subject_token_field_name.ok_or(
                "external_account credentials: a json format needs subject_token_field_name",
            )?),
            Some(_) => {
                return Err("external_account credentials: format type is text or json".into());
            }
        };
        let impersonation = config
            .service_account_impersonation_url
            .map(|url| oauth::endpoint(&url, "service_account_impersonation_url"))
            .transpose()?;
        Ok(Self {
            client: client()?,
            audience: config.audience,
            subject_token_type: config.subject_token_type,
            token_uri: oauth::endpoint(&config.token_url, "token_url")?,
            file: PathBuf::from(file),
            json_field,
            impersonation,
        })
    }

    /// The subject token as the file holds it now.
    async fn subject_token(&self) -> Result<String, String> {
        let text = read_token_file(&self.file, "subject token file").await?;
        let Some(field) = &self.json_field else {
            return Ok(text);
        };
        let value: Value = serde_json::from_str(&text)
            .map_err(|_| "the subject token file is not JSON".to_owned())?;
        value
            .get(field)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("the subject token file has no string `{field}`"))
    }

    async fn token(&self) -> Result<BearerToken, String> {
        let subject = self.subject_token().await?;
        let body = form(&[
            ("grant_type", TOKEN_EXCHANGE_GRANT),
            ("audience", &self.audience),
            ("scope", SCOPE),
            ("requested_token_type", ACCESS_TOKEN_TYPE),
            ("subject_token", &subject),
            ("subject_token_type", &self.subject_token_type),
        ]);
        let request = oauth::request(Method::POST, &self.token_uri, &[], Some((FORM, body)))?;
        let federated = oauth::fetch(&self.client, request)
            .await
            .map_err(|e| format!("STS token exchange: {e}"))?;
        match &self.impersonation {
            None => Ok(federated),
            Some(uri) => self
                .impersonate(uri, &federated)
                .await
                .map_err(|e| format!("service account impersonation: {e}")),
        }
    }

    /// `generateAccessToken` with the federated token.
    async fn impersonate(&self, uri: &Uri, federated: &BearerToken) -> Result<BearerToken, String> {
        let body = json!({"scope": [SCOPE], "lifetime": IMPERSONATED_LIFETIME}).to_string();
        let bearer = format!("Bearer {}", federated.token);
        let request = oauth::request(
            Method::POST,
            uri,
            &[("authorization", &bearer)],
            Some(("application/json", body)),
        )?;
        let (status, body) = exchange(&self.client, request).await?;
        if !status.is_success() {
            return Err(format!("HTTP {}: {}", status.as_u16(), snippet(&body)));
        }
        read_impersonated(&body, SystemTime::now())
    }
}

/// `generateAccessToken`'s answer: `accessToken` and an RFC 3339 `expireTime`.
fn read_impersonated(body: &[u8], now: SystemTime) -> Result<BearerToken, String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Answer {
        access_token: String,
        expire_time: String,
    }
    let answer: Answer = serde_json::from_slice(body)
        .map_err(|_| "unreadable generateAccessToken answer".to_owned())?;
    if answer.access_token.is_empty() || answer.access_token.len() > MAX_TOKEN_BYTES {
        return Err(format!(
            "the access token is empty or longer than {MAX_TOKEN_BYTES} bytes"
        ));
    }
    let unix = crate::clock::unix_from_rfc3339(&answer.expire_time).ok_or_else(|| {
        format!(
            "unreadable expireTime `{}`",
            snippet(answer.expire_time.as_bytes())
        )
    })?;
    let expires_at = (UNIX_EPOCH + Duration::from_secs(unix)).min(now + MAX_LIFETIME);
    Ok(BearerToken {
        token: answer.access_token,
        expires_at: Some(expires_at),
    })
}

impl Fetch<BearerToken> for External {
    fn fetch(&self) -> BoxFuture<'_, Result<BearerToken, CredentialError>> {
        Box::pin(async move {
            self.token()
                .await
                .map_err(|detail| CredentialError::new(CLOUD, EXTERNAL_ACCOUNT, detail))
        })
    }
}
