//! Cloud identities, written once for every cloud: the cache that keeps a credential fresh
//! (`token`: refreshed ahead of expiry in the background, one refresh at a time, requests waiting
//! only when nothing valid is cached), the bounded HTTP exchange of every credential endpoint
//! (`http`), OAuth2 token answers (`oauth`), and the refresh-failure metric and error. Each cloud
//! adds only its protocol (AWS in `aws::credentials`, Google in [`google`], Azure Entra ID in
//! [`azure`]); bearer-token providers authorize their requests with these tokens through
//! `providers::bearer`.

pub mod azure;
pub mod google;
pub mod http;
pub mod oauth;
pub mod token;

use std::fmt;
use std::path::Path;
use std::time::Duration;

use tokio::io::AsyncReadExt;

/// Refresh failures: `{provider, source}` (the source that failed: `web_identity`,
/// `service_account`, `metadata`, `workload_identity`, …).
pub const REFRESH_FAILURES: &str = "llm_credential_refresh_failures_total";

/// Largest token file read (projected service-account tokens are about 1 KiB).
pub const TOKEN_FILE_LIMIT: u64 = 64 * 1024;

/// How far ahead of expiry credentials are refreshed: the SDKs' five minutes.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);
/// How long a failed refresh is answered from memory before the endpoint is asked again.
pub const FAILURE_BACKOFF: Duration = Duration::from_secs(5);

/// When credentials are refreshed. The defaults are the SDKs'; tests shorten them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshTiming {
    /// Refresh (in the background) once this close to expiry.
    pub margin: Duration,
    /// After a failed refresh, answer its error for this long instead of retrying.
    pub failure_backoff: Duration,
}

impl Default for RefreshTiming {
    fn default() -> Self {
        Self {
            margin: REFRESH_MARGIN,
            failure_backoff: FAILURE_BACKOFF,
        }
    }
}

/// Credentials could not be had. The text names the cloud, the source and what failed, never a
/// secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialError {
    /// The cloud (`AWS`, `Google`, `Azure`), for the message.
    pub cloud: &'static str,
    /// The source that failed (`web_identity`, `metadata`, `workload_identity`, …).
    pub source: &'static str,
    /// What failed.
    pub detail: String,
}

impl fmt::Display for CredentialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} credentials ({}): {}",
            self.cloud, self.source, self.detail
        )
    }
}

// Written out: thiserror would take the `source` field for the error's cause.
impl std::error::Error for CredentialError {}

impl CredentialError {
    /// An error of `source` of `cloud`.
    pub fn new(cloud: &'static str, source: &'static str, detail: String) -> Self {
        Self {
            cloud,
            source,
            detail,
        }
    }
}

/// A cloud's environment, read through a function so that tests need no process environment.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, for [`Env`].
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The HTTP client of the credential fetchers.
pub fn client() -> Result<crate::transport::HttpsClient, String> {
    crate::transport::plain_client()
}

/// A token file's content, trimmed (the kubelet writes no newline; a hand-made file may), read
/// anew at every call because the kubelet rotates projected tokens. `what` names the file in
/// errors; the content never appears in one.
pub async fn read_token_file(path: &Path, what: &str) -> Result<String, String> {
    let shown = path.display();
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| format!("{what} `{shown}`: {e}"))?;
    let mut bytes = Vec::new();
    file.take(TOKEN_FILE_LIMIT + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| format!("{what} `{shown}`: {e}"))?;
    if bytes.len() as u64 > TOKEN_FILE_LIMIT {
        return Err(format!(
            "{what} `{shown}` is larger than {TOKEN_FILE_LIMIT} bytes"
        ));
    }
    let text = String::from_utf8(bytes).map_err(|_| format!("{what} `{shown}` is not UTF-8"))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(format!("{what} `{shown}` is empty"));
    }
    Ok(token.to_owned())
}

/// A hex SHA-256 of `secret`: part of a key that must change when the secret does (cached
/// sources shared across reloads) without holding the secret itself.
pub fn fingerprint(secret: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, secret.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}
