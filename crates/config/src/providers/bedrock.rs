//! Amazon Bedrock: the region (from the provider or the pod's AWS environment), and the AWS
//! credentials when they are not the pod's own identity. The usual EKS setup gives none of the
//! keys below: the service account's identity (IRSA or Pod Identity) reaches the gateway through
//! the environment the AWS SDKs read, and so does `AWS_BEARER_TOKEN_BEDROCK` for API keys.

use serde::{Deserialize, Serialize};

use super::{Options, ProviderKind, ProviderSettings, SettingsError, Type, fields, read};
use crate::expand::{self, Secret};

/// Environment variables naming the region, in the order the AWS SDKs read them.
pub const REGION_ENV: [&str; 2] = ["AWS_REGION", "AWS_DEFAULT_REGION"];
/// The SDKs' override of Bedrock runtime's endpoint (VPC or FIPS endpoints, tests).
pub const ENDPOINT_ENV: [&str; 2] = ["AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "AWS_ENDPOINT_URL"];
/// Longest region name accepted (the longest real one is about 15 characters).
const MAX_REGION_BYTES: usize = 32;

/// Amazon Bedrock (Converse, ConverseStream and InvokeModel).
pub const TYPE: Type = Type {
    kind: ProviderKind::Bedrock,
    name: "bedrock",
    default_base_url: None,
    needs_base_url: false,
    genai_system: "aws.bedrock",
    openai_style: false,
    recognise: |name, url| name == "bedrock" || url.contains("bedrock-runtime."),
    keys: fields::of::<BedrockSettings>,
    settings,
};

/// `providers[]` keys of `type: bedrock`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BedrockSettings {
    /// The AWS region (`us-east-1`); `AWS_REGION` or `AWS_DEFAULT_REGION` when not given.
    #[serde(default, deserialize_with = "expand::opt_string")]
    pub region: Option<String>,
    /// Static access key id (`${VAR}`, `file:/path`); the pod's identity when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_access_key_id: Option<Secret>,
    /// The secret key that goes with `aws_access_key_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_secret_access_key: Option<Secret>,
    /// A session token for temporary static keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_session_token: Option<Secret>,
    /// A role to assume with the credentials found (cross-account access).
    #[serde(default, deserialize_with = "expand::opt_string")]
    pub role_arn: Option<String>,
    /// `ExternalId` of that role's trust policy.
    #[serde(default, deserialize_with = "expand::opt_string")]
    pub external_id: Option<String>,
    /// Session name of the assumed role (`llm-sidecar` when absent).
    #[serde(default, deserialize_with = "expand::opt_string")]
    pub role_session_name: Option<String>,
}

impl BedrockSettings {
    /// The configured region, else the environment's (read through `env`).
    pub fn region_with(&self, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
        self.region
            .clone()
            .or_else(|| REGION_ENV.iter().find_map(|name| env(name)))
            .filter(|r| !r.is_empty())
    }

    /// Where Bedrock runtime is: the SDKs' endpoint override from `env`, else the region's
    /// public endpoint (the region was checked to be a plain name, so the host is one).
    pub fn base_url_with(&self, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
        if let Some(url) = ENDPOINT_ENV.iter().find_map(|name| env(name)) {
            return Some(url);
        }
        let region = self.region_with(env)?;
        Some(format!("https://bedrock-runtime.{region}.amazonaws.com"))
    }

    /// The secrets these settings hold (for the redactor and the secret-file watcher).
    pub fn secrets(&self) -> impl Iterator<Item = &Secret> {
        [
            &self.aws_access_key_id,
            &self.aws_secret_access_key,
            &self.aws_session_token,
        ]
        .into_iter()
        .flatten()
    }
}

/// The process environment, as [`BedrockSettings::region_with`] reads it.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn settings(options: &Options) -> Result<ProviderSettings, SettingsError> {
    let settings: BedrockSettings = read(options)?;
    let Some(region) = settings.region_with(&process_env) else {
        return Err(SettingsError::key(
            "region",
            "required for type `bedrock` unless AWS_REGION or AWS_DEFAULT_REGION is set",
        ));
    };
    // The region goes into the endpoint's host name and the signature's scope.
    let valid = region.len() <= MAX_REGION_BYTES
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid {
        return Err(SettingsError::key(
            "region",
            format!("`{region}` is not an AWS region name (e.g. us-east-1)"),
        ));
    }
    if settings.aws_access_key_id.is_some() != settings.aws_secret_access_key.is_some() {
        return Err(SettingsError::key(
            "aws_secret_access_key",
            "aws_access_key_id and aws_secret_access_key go together",
        ));
    }
    if settings.aws_session_token.is_some() && settings.aws_access_key_id.is_none() {
        return Err(SettingsError::key(
            "aws_session_token",
            "needs aws_access_key_id and aws_secret_access_key",
        ));
    }
    Ok(ProviderSettings::Bedrock(settings))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(yaml: &str) -> Options {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn settings_are_checked() {
        let cases = [
            ("region: us-east-1", Ok(())),
            (
                "region: eu-central-2\nrole_arn: arn:aws:iam::1:role/x",
                Ok(()),
            ),
            (
                "region: us-east-1\naws_access_key_id: AKID\naws_secret_access_key: s",
                Ok(()),
            ),
            ("region: US_EAST", Err("not an AWS region")),
            ("region: us-east-1.evil.example", Err("not an AWS region")),
            (
                "region: us-east-1\naws_access_key_id: AKID",
                Err("go together"),
            ),
            (
                "region: us-east-1\naws_session_token: t",
                Err("needs aws_access_key_id"),
            ),
            ("region: us-east-1\nregoin: x", Err("unknown field")),
        ];
        for (yaml, want) in cases {
            match (settings(&options(yaml)), want) {
                (Ok(ProviderSettings::Bedrock(_)), Ok(())) => {}
                (Err(e), Err(text)) => assert!(e.message.contains(text), "{yaml}: {}", e.message),
                (got, _) => panic!("{yaml}: {got:?}"),
            }
        }
    }

    #[test]
    fn the_region_falls_back_to_the_environment() {
        let env = |name: &str| (name == "AWS_DEFAULT_REGION").then(|| "eu-west-1".to_owned());
        let none = |_: &str| None;
        let configured = BedrockSettings {
            region: Some("us-west-2".into()),
            ..BedrockSettings::default()
        };
        assert_eq!(configured.region_with(&env).as_deref(), Some("us-west-2"));
        let default = BedrockSettings::default();
        assert_eq!(default.region_with(&env).as_deref(), Some("eu-west-1"));
        assert_eq!(default.region_with(&none), None);
        assert_eq!(
            default.base_url_with(&env).as_deref(),
            Some("https://bedrock-runtime.eu-west-1.amazonaws.com")
        );
        let overridden = |name: &str| match name {
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME" => Some("http://127.0.0.1:9".to_owned()),
            _ => env(name),
        };
        assert_eq!(
            configured.base_url_with(&overridden).as_deref(),
            Some("http://127.0.0.1:9")
        );
    }
}
