//! The OpenAI wire format: OpenAI itself, Azure OpenAI, vLLM, Ollama's `/v1`, any compatible
//! server, and the built-in mock. Same format on both sides, so bodies pass through with only
//! `model` replaced and stream bytes are forwarded as they arrive. Azure differs only in its
//! paths (`/openai/deployments/{deployment}/…?api-version=…`, or `/openai/v1/…`) and its
//! `api-key` header, or with `auth:` an Entra ID bearer token ([`crate::cloud::azure`]).

use std::sync::Arc;

use super::bearer;
use super::http::Endpoint;
use super::{
    BoxFuture, Complete, Forward, PassthroughCall, Provider, Reply, UpstreamClient, call, errors,
    path,
};
use crate::cloud::{RefreshTiming, azure, process_env};
use crate::config::providers::{AZURE_V1, EntraAuth};
use crate::config::schema::{ProviderConfig, ProviderKind, ProviderSettings};
use crate::error::GatewayError;
use crate::stream::openai::Passthrough;
use crate::stream::sniff::Sniff;
use crate::types::chat::ChatDialect;
use crate::types::json::json_string;
use crate::types::usage::{usage_anywhere, usage_in};
use crate::types::{ChatRequest, EmbeddingsRequest};

/// Path prefix for OpenAI-style upstreams reached over a Unix socket without a base URL.
pub const DEFAULT_PATH_PREFIX: &str = "/v1";
/// What the gateway adds to the client's stream request so it can account tokens.
const INCLUDE_USAGE: &str = r#"{"include_usage":true}"#;

/// How the upstream lays out its paths.
enum Paths {
    /// `{base}/chat/completions` (the base URL carries `/v1`).
    OpenAi,
    /// Azure's classic `/openai/deployments/{deployment}/…?api-version=…`.
    AzureDeployments {
        /// The `api-version` query value.
        api_version: String,
    },
    /// Azure's `/openai/v1/…` (the deployment goes in `model`).
    AzureV1,
}

impl Paths {
    /// The path of `operation` (one of the gateway's own, never a client's) for `deployment`
    /// (which may be the client's model name: it goes in only as one checked segment).
    fn path(&self, operation: &str, deployment: &str) -> Result<String, GatewayError> {
        Ok(match self {
            Self::OpenAi => format!("/{operation}"),
            Self::AzureDeployments { api_version } => {
                let deployment = path::azure_deployment(deployment)?;
                format!("/openai/deployments/{deployment}/{operation}?api-version={api_version}")
            }
            Self::AzureV1 => format!("/openai/v1/{operation}"),
        })
    }
}

/// An OpenAI-format upstream.
pub struct OpenAi {
    client: UpstreamClient,
    kind: ProviderKind,
    paths: Paths,
}

impl OpenAi {
    /// An adapter for `config` on `endpoint`.
    pub fn new(config: &ProviderConfig, endpoint: Arc<Endpoint>) -> Result<Self, String> {
        let kind = config.kind();
        let key = config.api_key.as_ref().map(|k| k.expose().to_owned());
        let (paths, auth) = match &config.settings {
            ProviderSettings::Azure(azure) if azure.api_version == AZURE_V1 => {
                (Paths::AzureV1, ("api-key", key))
            }
            ProviderSettings::Azure(azure) => (
                Paths::AzureDeployments {
                    api_version: azure.api_version.clone(),
                },
                ("api-key", key),
            ),
            _ => (
                Paths::OpenAi,
                ("authorization", key.map(|k| format!("Bearer {k}"))),
            ),
        };
        let entra = match &config.settings {
            ProviderSettings::Azure(azure) => azure.auth.as_ref(),
            _ => None,
        };
        let Some(entra) = entra else {
            return Ok(Self {
                client: UpstreamClient::new(config, endpoint, &[auth])?,
                kind,
                paths,
            });
        };
        // An Entra ID identity's bearer token replaces the key.
        let key = entra_key(&config.name, entra);
        let auth = bearer::or_unavailable(&config.name, &key, azure::CLOUD, || {
            azure::source(&config.name, entra, &process_env, RefreshTiming::default())
        });
        Ok(Self {
            client: UpstreamClient::new(config, endpoint, &[])?.with_auth(auth),
            kind,
            paths,
        })
    }

    async fn complete(&self, path: &str, body: Vec<u8>) -> Result<Complete, GatewayError> {
        let (status, bytes) = call::whole(&self.client, path, body, errors::openai).await?;
        Ok(Complete {
            status,
            usage: usage_in(&bytes),
            body: bytes,
        })
    }
}

/// What identifies a provider's Entra ID identity across reloads: its settings, with the client
/// secret only as a fingerprint (a rotated secret makes a new source).
fn entra_key(provider: &str, auth: &EntraAuth) -> String {
    let secret = auth
        .client_secret
        .as_ref()
        .map(|s| crate::cloud::fingerprint(s.expose()));
    format!(
        "azure:{provider}:{:?}:{:?}:{:?}:{:?}:{:?}:{:?}:{secret:?}",
        auth.kind, auth.client_id, auth.tenant_id, auth.token_file, auth.authority_host, auth.scope
    )
}

impl Provider for OpenAi {
    fn client(&self) -> &UpstreamClient {
        &self.client
    }

    fn kind(&self) -> ProviderKind {
        self.kind
    }

    fn takes_reasoning_effort(&self, _upstream_model: &str, _effort: &str) -> bool {
        // OpenAI-format servers decide themselves; the mock does not reason.
        self.kind != ProviderKind::Mock
    }

    fn chat_dialect(&self) -> ChatDialect {
        // OpenAI and Azure deprecate `max_tokens` and reject unknown fields such as `top_k`.
        match self.kind {
            ProviderKind::Openai | ProviderKind::Azure => ChatDialect::Native,
            _ => ChatDialect::Compatible,
        }
    }

    fn speaks_responses(&self) -> bool {
        // vLLM's and other servers' Responses support varies; chat is what they all serve.
        matches!(self.kind, ProviderKind::Openai | ProviderKind::Azure)
    }

    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest<'a>,
        upstream_model: &'a str,
    ) -> BoxFuture<'a, Result<Reply, GatewayError>> {
        Box::pin(async move {
            let model = json_string(upstream_model);
            let inject_usage = request.stream && !request.include_usage;
            let body = if inject_usage {
                request
                    .top
                    .write_with(&[("model", &model), ("stream_options", INCLUDE_USAGE)])
            } else {
                request.top.write_with(&[("model", &model)])
            };
            let path = self.paths.path("chat/completions", upstream_model)?;
            if !request.stream {
                return self.complete(&path, body).await.map(Reply::Complete);
            }
            let deadline = call::deadline(&self.client);
            let response = call::post(&self.client, &path, body, deadline, errors::openai).await?;
            if !call::is_event_stream(response.headers()) {
                // Some servers ignore `stream`; pass their whole answer on as it is.
                let status = response.status();
                let bytes = call::read(
                    &self.client,
                    response.into_body(),
                    call::MAX_RESPONSE_BYTES,
                    deadline,
                )
                .await?;
                return Ok(Reply::Complete(Complete {
                    status,
                    usage: usage_in(&bytes),
                    body: bytes,
                }));
            }
            let stream = self
                .client
                .stream(response.into_body(), Passthrough::new(inject_usage));
            Ok(Reply::Stream(Box::new(stream)))
        })
    }

    fn embeddings<'a>(
        &'a self,
        request: &'a EmbeddingsRequest<'a>,
        upstream_model: &'a str,
    ) -> BoxFuture<'a, Result<Complete, GatewayError>> {
        Box::pin(async move {
            let model = json_string(upstream_model);
            let body = request.top.write_with(&[("model", &model)]);
            let path = self.paths.path("embeddings", upstream_model)?;
            self.complete(&path, body).await
        })
    }

    fn passthrough<'a>(
        &'a self,
        call: PassthroughCall<'a>,
        upstream_model: &'a str,
    ) -> Option<BoxFuture<'a, Result<Reply, GatewayError>>> {
        // The mock only knows chat and embeddings.
        if self.kind == ProviderKind::Mock {
            return None;
        }
        Some(Box::pin(async move {
            let path = self.paths.path(call.operation, upstream_model)?;
            let deadline = call::deadline(&self.client);
            let response = call::post_as(
                &self.client,
                &path,
                call.content_type,
                call.body,
                deadline,
                errors::openai,
            )
            .await?;
            let status = response.status();
            if call::content_type_starts(response.headers(), "application/json") {
                let bytes = call::read(
                    &self.client,
                    response.into_body(),
                    call::MAX_RESPONSE_BYTES,
                    deadline,
                )
                .await?;
                return Ok(Reply::Complete(Complete {
                    status,
                    usage: usage_anywhere(&bytes),
                    body: bytes,
                }));
            }
            let content_type = response.headers().get(http::header::CONTENT_TYPE).cloned();
            let sniff = if call::is_event_stream(response.headers()) {
                Sniff::sse()
            } else {
                Sniff::raw()
            };
            let body = Box::new(self.client.stream(response.into_body(), sniff));
            Ok(Reply::Forward(Forward {
                status,
                content_type,
                body,
            }))
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn azure_paths_follow_the_request_url_fixture() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/reference/azure/request_urls.json"
        ))
        .unwrap();
        let fixture: serde_json::Value = serde_json::from_str(&text).unwrap();
        let origin = "https://my-resource.openai.azure.com";
        let classic = Paths::AzureDeployments {
            api_version: "2024-10-21".into(),
        };
        let cases = [
            (
                &classic,
                "chat/completions",
                "my-gpt4o-deployment",
                &fixture["legacy_chat"]["url"],
            ),
            (
                &classic,
                "embeddings",
                "my-embedding-deployment",
                &fixture["legacy_embeddings"]["url"],
            ),
            (
                &Paths::AzureV1,
                "chat/completions",
                "my-gpt4o-deployment",
                &fixture["v1_chat"]["url"],
            ),
        ];
        for (paths, operation, deployment, want) in cases {
            assert_eq!(
                format!("{origin}{}", paths.path(operation, deployment).unwrap()),
                want.as_str().unwrap()
            );
        }
        assert_eq!(
            Paths::OpenAi.path("chat/completions", "x").unwrap(),
            "/chat/completions"
        );
        for hostile in ["../../../admin?x=", "x?api-version=evil&", "x#frag", "x y"] {
            let error = classic.path("chat/completions", hostile).unwrap_err();
            assert_eq!(error.param(), Some("model"), "{hostile}");
        }
    }

    #[test]
    fn translated_requests_use_the_upstreams_dialect() {
        let cases = [
            ("openai", "", ChatDialect::Native),
            ("azure", ", api_version: v1", ChatDialect::Native),
            ("vllm", "", ChatDialect::Compatible),
            ("openai_compatible", "", ChatDialect::Compatible),
        ];
        for (kind, extra, want) in cases {
            let text = format!(
                "providers:\n  - {{name: p, type: {kind}, base_url: 'http://up/v1', models: [m]{extra}}}\n"
            );
            let config = crate::config::parse(&text, None).unwrap();
            let provider = &config.raw.providers[0];
            let endpoint = Arc::new(super::super::endpoint(provider).unwrap());
            assert_eq!(
                OpenAi::new(provider, endpoint).unwrap().chat_dialect(),
                want,
                "{kind}"
            );
        }
    }
}
