//! The AWS SDKs' credential chain, as a pod meets it: static keys (settings or environment),
//! IRSA (`AssumeRoleWithWebIdentity`), EKS Pod Identity / ECS (container endpoint), and on top
//! of any of them an optional cross-account `AssumeRole`. The source is picked once, at
//! [`CredentialChain::new`]; credentials are cached and refreshed ahead of expiry without making
//! requests wait (`cache`).

mod cache;
mod container;
mod sts;
mod xml;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use cache::{Assume, Cached};

use crate::aws::sigv4::Credentials;
use crate::cloud::client;
use crate::cloud::token::{Fetch, Fixed};
pub use crate::cloud::{CredentialError, REFRESH_FAILURES, RefreshTiming};

/// The cloud named in AWS credential errors.
pub const CLOUD: &str = "AWS";

/// Source name of static keys.
pub const STATIC: &str = "static";
/// Source name of IRSA.
pub const WEB_IDENTITY: &str = "web_identity";
/// Source name of EKS Pod Identity / ECS.
pub const CONTAINER: &str = "container";
/// Source name of the `AssumeRole` layer.
pub const ASSUME_ROLE: &str = "assume_role";
/// The session name of assumed roles unless one is configured.
pub const DEFAULT_SESSION_NAME: &str = "llm-sidecar";

/// What the provider config says about AWS credentials (secrets already resolved from `file:`).
#[derive(Clone, Default)]
pub struct ChainSettings {
    /// The configured provider's name, for metrics and errors.
    pub provider: String,
    /// The region: STS's regional endpoint and the `AssumeRole` signature.
    pub region: String,
    /// A static access key ID (with `secret_access_key`).
    pub access_key_id: Option<String>,
    /// A static secret access key.
    pub secret_access_key: Option<String>,
    /// A session token for static temporary keys.
    pub session_token: Option<String>,
    /// A role to assume with the credentials found (cross-account).
    pub role_arn: Option<String>,
    /// The external ID the role's trust policy asks for.
    pub external_id: Option<String>,
    /// The `AssumeRole` session name (default `llm-sidecar`).
    pub role_session_name: Option<String>,
}

impl fmt::Debug for ChainSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |value: &Option<String>| value.as_ref().map(|_| "<redacted>");
        f.debug_struct("ChainSettings")
            .field("provider", &self.provider)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &redacted(&self.secret_access_key))
            .field("session_token", &redacted(&self.session_token))
            .field("role_arn", &self.role_arn)
            .field("external_id", &self.external_id)
            .field("role_session_name", &self.role_session_name)
            .finish()
    }
}

impl CredentialError {
    /// An error of the AWS source `source`.
    pub fn aws(source: &'static str, detail: String) -> Self {
        Self::new(CLOUD, source, detail)
    }
}

/// The credential chain of one provider.
pub struct CredentialChain {
    top: Arc<Cached>,
    source: &'static str,
}

impl fmt::Debug for CredentialChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialChain")
            .field("source", &self.source)
            .finish()
    }
}

impl CredentialChain {
    /// Picks the source from the settings and the environment (read through `env`, so tests
    /// need no process environment): static keys, then IRSA, then the container endpoint, with
    /// `AssumeRole` on top when `role_arn` is set. Errors are config errors: nothing usable, or a
    /// setting that is wrong.
    pub fn new(
        settings: ChainSettings,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        Self::with_timing(settings, env, RefreshTiming::default())
    }

    /// [`CredentialChain::new`] with other refresh timing (tests).
    pub fn with_timing(
        settings: ChainSettings,
        env: &dyn Fn(&str) -> Option<String>,
        timing: RefreshTiming,
    ) -> Result<Self, String> {
        let env = |name: &str| env(name).filter(|value| !value.trim().is_empty());
        let (fetch, base, initial) = base_source(&settings, &env)?;
        let base_layer = Cached::new(fetch, base, settings.provider.clone(), timing, initial);
        let Some(role_arn) = settings.role_arn.clone().filter(|arn| !arn.is_empty()) else {
            return Ok(Self {
                top: base_layer,
                source: base,
            });
        };
        let role = sts::AssumeRole {
            client: client()?,
            endpoint: sts::endpoint(&settings.region, &env)?,
            region: region_for_signing(&settings.region)?,
            role_arn,
            session_name: settings
                .role_session_name
                .clone()
                .unwrap_or_else(|| DEFAULT_SESSION_NAME.into()),
            external_id: settings.external_id.clone(),
        };
        let fetch = Box::new(Assume {
            base: base_layer,
            role,
        });
        let source = match base {
            STATIC => "static+assume_role",
            WEB_IDENTITY => "web_identity+assume_role",
            _ => "container+assume_role",
        };
        let top = Cached::new(fetch, ASSUME_ROLE, settings.provider, timing, None);
        Ok(Self { top, source })
    }

    /// The credentials to sign with: cached; refreshed in the background once inside the refresh
    /// window; fetched (one fetch at a time, others waiting for it) only when none are valid.
    pub async fn credentials(&self) -> Result<Arc<Credentials>, CredentialError> {
        self.top.get().await
    }

    /// The source: `static`, `web_identity` or `container`, with `+assume_role` when a role is
    /// assumed on top.
    pub fn source(&self) -> &'static str {
        self.source
    }
}

/// A base layer: its fetcher, source name, and initial credentials (static keys).
type Base = (
    Box<dyn Fetch<Credentials>>,
    &'static str,
    Option<Credentials>,
);

/// The base layer of the settings and the environment.
fn base_source(
    settings: &ChainSettings,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Base, String> {
    let static_keys = match (&settings.access_key_id, &settings.secret_access_key) {
        (Some(id), Some(secret)) => {
            Some((id.clone(), secret.clone(), settings.session_token.clone()))
        }
        (Some(_), None) | (None, Some(_)) => {
            return Err("access_key_id and secret_access_key must be set together".into());
        }
        (None, None) => match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
            (Some(id), Some(secret)) => Some((id, secret, env("AWS_SESSION_TOKEN"))),
            _ => None,
        },
    };
    if let Some((access_key_id, secret_access_key, session_token)) = static_keys {
        let credentials = Credentials {
            access_key_id,
            secret_access_key,
            session_token,
            expires_at: None,
        };
        let fixed = Fixed {
            cloud: CLOUD,
            source: STATIC,
        };
        return Ok((Box::new(fixed), STATIC, Some(credentials)));
    }
    if let (Some(role_arn), Some(token_file)) =
        (env("AWS_ROLE_ARN"), env("AWS_WEB_IDENTITY_TOKEN_FILE"))
    {
        let source = sts::WebIdentity {
            client: client()?,
            endpoint: sts::endpoint(&settings.region, env)?,
            role_arn,
            token_file: PathBuf::from(token_file),
            session_name: env("AWS_ROLE_SESSION_NAME")
                .unwrap_or_else(|| DEFAULT_SESSION_NAME.into()),
        };
        return Ok((Box::new(source), WEB_IDENTITY, None));
    }
    if let Some(uri) = container::endpoint(env) {
        let token = env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
            .map(|path| container::Token::File(PathBuf::from(path)))
            .or_else(|| env("AWS_CONTAINER_AUTHORIZATION_TOKEN").map(container::Token::Value));
        let source = container::Container {
            client: client()?,
            uri: uri?,
            token,
        };
        return Ok((Box::new(source), CONTAINER, None));
    }
    Err(
        "no AWS credentials found: set access_key_id/secret_access_key, AWS_ACCESS_KEY_ID/\
         AWS_SECRET_ACCESS_KEY, IRSA (AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE) or EKS Pod \
         Identity (AWS_CONTAINER_CREDENTIALS_FULL_URI), or give a Bedrock API key (api_key or \
         AWS_BEARER_TOKEN_BEDROCK)"
            .into(),
    )
}

/// The region `AssumeRole` is signed for.
fn region_for_signing(region: &str) -> Result<String, String> {
    if region.is_empty() {
        return Err("role_arn needs a region to sign the AssumeRole call".into());
    }
    Ok(region.to_owned())
}

#[cfg(test)]
mod tests;
