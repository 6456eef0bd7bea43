//! Google credentials in the order Google's client libraries look for them: a JSON credentials
//! file (the provider's `credentials_file`, else `GOOGLE_APPLICATION_CREDENTIALS`) holding a
//! service-account key (`service_account`: a signed JWT exchanged for a token) or a workload
//! identity federation config (`external_account`: a subject token exchanged at STS, optionally
//! for an impersonated service account's token), else the metadata server (GKE Workload
//! Identity, GCE). Each is a fetcher of the shared cache ([`crate::cloud::token`]); the file is
//! read when the provider is built, and a reload rebuilds the source when its content changed
//! ([`identity_key`]).

mod external;
mod metadata;
mod service_account;

use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

use super::oauth::BearerToken;
use super::token::{Cached, Fetch};
use super::{Env, RefreshTiming};

/// The cloud named in errors.
pub const CLOUD: &str = "Google";
/// The scope of every token: Vertex AI takes `cloud-platform`.
pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// Source name of a service-account key.
pub const SERVICE_ACCOUNT: &str = "service_account";
/// Source name of workload identity federation.
pub const EXTERNAL_ACCOUNT: &str = "external_account";
/// Source name of the metadata server.
pub const METADATA: &str = "metadata";
/// The variable naming the credentials file, as Google's libraries read it.
pub const CREDENTIALS_ENV: &str = "GOOGLE_APPLICATION_CREDENTIALS";
/// Largest credentials file read (a key file is about 2.3 KiB).
const CREDENTIALS_FILE_LIMIT: u64 = 64 * 1024;
/// How much of an unsupported `type` an error quotes.
const SHOWN_TYPE_BYTES: usize = 40;

/// What identifies a provider's Google identity across config reloads: the credentials file in
/// use and a fingerprint of its content (a rotated key makes a new source at the next reload;
/// an unchanged one keeps the cached token).
pub fn identity_key(credentials_file: Option<&str>, env: Env<'_>) -> String {
    let file = credentials_file
        .map(str::to_owned)
        .or_else(|| env(CREDENTIALS_ENV));
    let content = file
        .as_deref()
        .and_then(|path| read_small(Path::new(path)).ok())
        .map(|text| super::fingerprint(&text));
    format!("google:{file:?}:{content:?}")
}

/// The `type` of a credentials file.
#[derive(Deserialize)]
struct Kind {
    #[serde(rename = "type")]
    kind: String,
}

/// The source of `provider`'s tokens: `credentials_file`, else the environment's file, else the
/// metadata server. Errors are config errors (an unreadable or unsupported file).
pub fn source(
    provider: &str,
    credentials_file: Option<&str>,
    env: Env<'_>,
    timing: RefreshTiming,
) -> Result<Arc<Cached<BearerToken>>, String> {
    let file = credentials_file
        .map(str::to_owned)
        .or_else(|| env(CREDENTIALS_ENV));
    let (fetch, name): (Box<dyn Fetch<BearerToken>>, &'static str) = match file {
        Some(path) => from_file(Path::new(&path))?,
        None => (Box::new(metadata::Metadata::new(env)?), METADATA),
    };
    Ok(Cached::new(fetch, name, provider.to_owned(), timing, None))
}

/// The fetcher of a credentials file, by its `type`.
fn from_file(path: &Path) -> Result<(Box<dyn Fetch<BearerToken>>, &'static str), String> {
    let text = read_small(path)?;
    let shown = path.display();
    let kind: Kind = serde_json::from_str(&text).map_err(|e| {
        format!(
            "Google credentials file `{shown}`: not JSON with a `type`: line {} column {}",
            e.line(),
            e.column()
        )
    })?;
    match kind.kind.as_str() {
        SERVICE_ACCOUNT => Ok((
            Box::new(service_account::ServiceAccount::from_json(&text)?),
            SERVICE_ACCOUNT,
        )),
        EXTERNAL_ACCOUNT => Ok((
            Box::new(external::External::from_json(&text)?),
            EXTERNAL_ACCOUNT,
        )),
        other => Err(format!(
            "Google credentials file `{shown}`: type `{}` is not supported (service_account or external_account)",
            &other[..other.floor_char_boundary(SHOWN_TYPE_BYTES)]
        )),
    }
}

/// A credentials file's text, bounded.
fn read_small(path: &Path) -> Result<String, String> {
    use std::io::Read as _;
    let shown = path.display();
    let file =
        std::fs::File::open(path).map_err(|e| format!("Google credentials file `{shown}`: {e}"))?;
    let mut text = String::new();
    file.take(CREDENTIALS_FILE_LIMIT + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("Google credentials file `{shown}`: {e}"))?;
    if text.len() as u64 > CREDENTIALS_FILE_LIMIT {
        return Err(format!(
            "Google credentials file `{shown}` is larger than {CREDENTIALS_FILE_LIMIT} bytes"
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests;
