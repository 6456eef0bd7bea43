//! Amazon Bedrock Runtime adapter. OpenAI chat requests are translated to the Converse API
//! (`POST /model/{modelId}/converse`, and `/converse-stream` for streams, whose answer is the
//! binary AWS event stream of [`crate::stream::eventstream`]); embeddings go to `InvokeModel`
//! (`/model/{modelId}/invoke`) in the body of the model's family (Titan or Cohere). The model id
//! a client names reaches the URL as one percent-encoded segment ([`path::model_path`]).
//! Translation lives in pure modules: `request` (chat request → Converse body), `response`
//! (Converse answer → chat completion), `stream` (ConverseStream → OpenAI chunks), `embed`
//! (embeddings both ways), `errors` (Bedrock errors and stream exceptions → client errors),
//! `wire` (Bedrock's JSON shapes) and `path` (the request path).

pub mod embed;
pub mod errors;
pub mod path;
pub mod request;
pub mod response;
pub mod stream;
pub mod wire;

#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, Method, Response, StatusCode, Uri};

use super::auth::Authorize;
use super::bearer::Unavailable;
use super::http::{Endpoint, UpstreamBody};
use super::translate::typed_request;
use super::{BoxFuture, Complete, Provider, Reply, UpstreamClient, call};
use crate::aws::credentials::{ChainSettings, CredentialChain};
use crate::aws::sigv4;
use crate::config::Secret;
use crate::config::schema::{
    BedrockSettings, ProviderConfig, ProviderKind, ProviderSettings, process_env,
};
use crate::error::GatewayError;
use crate::types::{ChatRequest, EmbeddingsRequest};
use path::{Operation, model_path};
use stream::ConverseStream;
use wire::ConverseResponse;

/// SigV4's service name for Bedrock runtime (its signing name, not its host's `bedrock-runtime`).
const SIGNING_SERVICE: &str = "bedrock";
/// The header naming an error's type (`ThrottlingException:http://…`).
const ERROR_TYPE_HEADER: &str = "x-amzn-errortype";
/// The credential source named when none was found.
const NO_SOURCE: &str = "the pod's environment";
/// The SDKs' variable for a Bedrock API key (sent as a bearer token, nothing signed).
const BEARER_ENV: &str = "AWS_BEARER_TOKEN_BEDROCK";

/// A Bedrock runtime upstream.
pub struct Bedrock {
    client: UpstreamClient,
}

impl Bedrock {
    /// An adapter for `config` on `endpoint`: a Bedrock API key (`api_key` or
    /// `AWS_BEARER_TOKEN_BEDROCK`) as a bearer token, else SigV4 with the AWS credential chain.
    pub fn new(config: &ProviderConfig, endpoint: Arc<Endpoint>) -> Result<Self, String> {
        let settings = match &config.settings {
            ProviderSettings::Bedrock(settings) => settings.clone(),
            _ => BedrockSettings::default(),
        };
        let bearer = config
            .api_key
            .as_ref()
            .map(|k| k.expose().to_owned())
            .or_else(|| process_env(BEARER_ENV).filter(|v| !v.is_empty()));
        if let Some(token) = bearer {
            let auth = ("authorization", Some(format!("Bearer {token}")));
            return Ok(Self {
                client: UpstreamClient::new(config, endpoint, &[auth])?,
            });
        }
        // A pod without an AWS identity (no IRSA or Pod Identity environment, no keys) still
        // starts and serves its other providers: this one answers each request with a 502 that
        // says what is missing, and the operator sees it in the log at once.
        let auth: Arc<dyn Authorize> = match signer(&config.name, &settings) {
            Ok(signer) => signer,
            Err(detail) => {
                tracing::warn!(provider = %config.name, %detail, "Bedrock provider has no AWS credentials; its requests fail until it has");
                Arc::new(Unavailable {
                    provider: config.name.clone(),
                    source: NO_SOURCE.to_owned(),
                    detail,
                })
            }
        };
        Ok(Self {
            client: UpstreamClient::new(config, endpoint, &[])?.with_auth(auth),
        })
    }
}

impl Bedrock {
    /// POSTs `body` to `path` and returns the successful response; a failure is mapped by the
    /// error type Bedrock names in `x-amzn-ErrorType` (its body carries only a message).
    async fn post(
        &self,
        path: &str,
        body: Vec<u8>,
        deadline: Instant,
    ) -> Result<Response<UpstreamBody>, GatewayError> {
        let response = call::send(&self.client, path, None, body, deadline).await?;
        if response.status().is_success() {
            return Ok(response);
        }
        let provider = &self.client.name;
        Err(call::failure(
            &self.client,
            response,
            deadline,
            |status, headers, body, hint| {
                let error_type = headers.get(ERROR_TYPE_HEADER).and_then(|v| v.to_str().ok());
                errors::with_error_type(provider, error_type, status, body, hint)
            },
        )
        .await)
    }

    /// [`Bedrock::post`] and the whole answer read (bounded, within the deadline).
    async fn whole(
        &self,
        path: &str,
        body: Vec<u8>,
        deadline: Instant,
    ) -> Result<(StatusCode, Bytes), GatewayError> {
        let response = self.post(path, body, deadline).await?;
        let status = response.status();
        let body = response.into_body();
        let bytes = call::read(&self.client, body, call::MAX_RESPONSE_BYTES, deadline).await?;
        Ok((status, bytes))
    }
}

/// The signers of the providers configured now, by provider name and settings: a reload that
/// leaves a provider's AWS settings as they were keeps its signer, and with it the cached
/// credentials (no STS call, no request waiting for one after every config change). Held weakly:
/// a provider that leaves the config takes its signer with it.
static SIGNERS: Mutex<Vec<(String, BedrockSettings, Weak<SigV4>)>> = Mutex::new(Vec::new());

/// The signer for provider `name` with `settings`: the one already serving, else a new one.
fn signer(name: &str, settings: &BedrockSettings) -> Result<Arc<SigV4>, String> {
    let mut signers = SIGNERS.lock().unwrap_or_else(PoisonError::into_inner);
    signers.retain(|(_, _, signer)| signer.strong_count() > 0);
    let found = signers
        .iter()
        .find(|(n, s, _)| n == name && s == settings)
        .and_then(|(_, _, signer)| signer.upgrade());
    if let Some(signer) = found {
        return Ok(signer);
    }
    let signer = Arc::new(SigV4::new(name, settings)?);
    signers.push((name.to_owned(), settings.clone(), Arc::downgrade(&signer)));
    Ok(signer)
}

/// Signs each request with the chain's current credentials.
struct SigV4 {
    provider: String,
    chain: CredentialChain,
    region: String,
}

impl SigV4 {
    /// A signer for provider `name`: its region and the AWS credential chain its settings and
    /// the pod's environment name.
    fn new(name: &str, settings: &BedrockSettings) -> Result<Self, String> {
        let region = settings
            .region_with(&process_env)
            .ok_or_else(|| format!("provider `{name}`: no region (set `region` or AWS_REGION)"))?;
        let expose = |s: &Option<Secret>| s.as_ref().map(|s| s.expose().to_owned());
        let chain = CredentialChain::new(
            ChainSettings {
                provider: name.to_owned(),
                region: region.clone(),
                access_key_id: expose(&settings.aws_access_key_id),
                secret_access_key: expose(&settings.aws_secret_access_key),
                session_token: expose(&settings.aws_session_token),
                role_arn: settings.role_arn.clone(),
                external_id: settings.external_id.clone(),
                role_session_name: settings.role_session_name.clone(),
            },
            &process_env,
        )
        .map_err(|e| format!("provider `{name}`: {e}"))?;
        Ok(Self {
            provider: name.to_owned(),
            chain,
            region,
        })
    }
}

impl Authorize for SigV4 {
    fn authorize<'a>(
        &'a self,
        method: &'a Method,
        uri: &'a Uri,
        headers: &'a mut HeaderMap,
        body: &'a [u8],
    ) -> BoxFuture<'a, Result<(), GatewayError>> {
        Box::pin(async move {
            let credentials =
                self.chain
                    .credentials()
                    .await
                    .map_err(|e| GatewayError::UpstreamCredentials {
                        provider: self.provider.clone(),
                        source_name: self.chain.source().to_owned(),
                        detail: e.to_string(),
                    })?;
            sigv4::sign(
                method,
                uri,
                headers,
                body,
                &credentials,
                &self.region,
                SIGNING_SERVICE,
                SystemTime::now(),
            )
            .map_err(|e| GatewayError::Internal(format!("could not sign a request: {e}")))
        })
    }
}

impl Provider for Bedrock {
    fn client(&self) -> &UpstreamClient {
        &self.client
    }

    fn kind(&self) -> ProviderKind {
        ProviderKind::Bedrock
    }

    fn takes_reasoning_effort(&self, upstream_model: &str, effort: &str) -> bool {
        // Only Claude has a thinking setting in Converse; other models would ignore it.
        request::is_claude(upstream_model) && super::translate::claude_takes_effort(effort)
    }

    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest<'a>,
        upstream_model: &'a str,
    ) -> BoxFuture<'a, Result<Reply, GatewayError>> {
        Box::pin(async move {
            let typed = typed_request(request)?;
            let body = call::encode(&request::to_converse(&typed, upstream_model)?)?;
            if !request.stream {
                let path = model_path(upstream_model, Operation::Converse)?;
                let deadline = call::deadline(&self.client);
                let (status, bytes) = self.whole(&path, body, deadline).await?;
                let answer: ConverseResponse = call::parse_answer(&self.client.name, &bytes)?;
                let completion = response::to_openai(&answer, upstream_model);
                return Ok(Reply::Complete(Complete {
                    status,
                    body: Bytes::from(call::encode(&completion)?),
                    usage: answer.usage.as_ref().map(response::usage),
                }));
            }
            let path = model_path(upstream_model, Operation::ConverseStream)?;
            let deadline = call::deadline(&self.client);
            let upstream = self.post(&path, body, deadline).await?;
            let translate =
                ConverseStream::new(&self.client.name, upstream_model, request.include_usage);
            Ok(Reply::Stream(Box::new(
                self.client.stream(upstream.into_body(), translate),
            )))
        })
    }

    fn embeddings<'a>(
        &'a self,
        request: &'a EmbeddingsRequest<'a>,
        upstream_model: &'a str,
    ) -> BoxFuture<'a, Result<Complete, GatewayError>> {
        Box::pin(async move {
            let family = embed::family(upstream_model)?;
            let input = embed::parse(&request.top, family)?;
            let path = model_path(upstream_model, Operation::Invoke)?;
            // One deadline for every call: the timeout bounds the client's whole request.
            let deadline = call::deadline(&self.client);
            let mut answers = Vec::new();
            for body in embed::invoke_bodies(&input) {
                let expected = body.texts();
                let (_, bytes) = self.whole(&path, call::encode(&body)?, deadline).await?;
                answers.push((bytes, expected));
            }
            let read = answers
                .iter()
                .map(|(bytes, expected)| {
                    embed::read_answer(family, bytes, *expected, &self.client.name)
                })
                .collect::<Result<Vec<_>, _>>()?;
            let (body, usage) = embed::to_openai(upstream_model, &read, &input, &self.client.name)?;
            Ok(Complete {
                status: StatusCode::OK,
                body: Bytes::from(body),
                usage: Some(usage),
            })
        })
    }
}
