//! A deployment with `api: responses`: chat requests for a model its OpenAI-style upstream serves
//! only through the Responses API (OpenAI's `-pro` and Codex models, servers that dropped chat).
//! [`ViaResponses`] wraps the deployment's provider: chat goes out as a Responses request
//! (`request`) through the provider's passthrough, and comes back as a chat completion
//! (`response`) or chat chunks (`stream`, a pure [`crate::stream::Translate`]); every other call
//! is the wrapped provider's own. Its name, pool, bulkhead and breaker are the provider's.

pub mod request;
pub mod response;
pub mod stream;

use std::sync::Arc;

use http::HeaderValue;

use super::translate::{new_completion_id, typed_request};
use super::{BoxFuture, Complete, MessagesCall, PassthroughCall, Provider, Reply, UpstreamClient};
use crate::config::schema::ProviderKind;
use crate::error::GatewayError;
use crate::stream::Translated;
use crate::stream::openai::ChunkWriter;
use crate::types::chat::ChatDialect;
use crate::types::{ChatRequest, EmbeddingsRequest};

/// The Responses API's path under the provider's base URL.
const RESPONSES: &str = "responses";

/// A provider whose chat requests are served through its Responses API.
pub struct ViaResponses {
    inner: Arc<dyn Provider>,
}

impl ViaResponses {
    /// Wraps `inner` (an OpenAI-style provider: its passthrough reaches `/responses`).
    pub fn new(inner: Arc<dyn Provider>) -> Self {
        Self { inner }
    }

    async fn chat_via_responses(
        &self,
        request: &ChatRequest<'_>,
        upstream_model: &str,
    ) -> Result<Reply, GatewayError> {
        let body = request::to_responses(typed_request(request)?, upstream_model)?;
        let content_type = HeaderValue::from_static("application/json");
        let call = PassthroughCall {
            operation: RESPONSES,
            content_type: Some(&content_type),
            body,
        };
        let provider = self.name();
        let Some(answer) = self.inner.passthrough(call, upstream_model) else {
            return Err(GatewayError::Internal(format!(
                "provider `{provider}` cannot pass a request to its Responses API"
            )));
        };
        let upstream = match answer.await? {
            Reply::Complete(complete) => {
                return response::to_chat(complete, provider).map(Reply::Complete);
            }
            Reply::Stream(stream) => stream,
            Reply::Forward(forward) => forward.body,
        };
        let writer = ChunkWriter::new(
            new_completion_id(),
            upstream_model,
            crate::clock::unix_now(),
            request.include_usage,
        );
        let translate = stream::FromResponses::new(writer, provider);
        Ok(Reply::Stream(Box::new(Translated::new(
            upstream, translate, provider,
        ))))
    }
}

impl Provider for ViaResponses {
    fn client(&self) -> &UpstreamClient {
        self.inner.client()
    }

    fn kind(&self) -> ProviderKind {
        self.inner.kind()
    }

    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest<'a>,
        upstream_model: &'a str,
    ) -> BoxFuture<'a, Result<Reply, GatewayError>> {
        Box::pin(self.chat_via_responses(request, upstream_model))
    }

    fn embeddings<'a>(
        &'a self,
        request: &'a EmbeddingsRequest<'a>,
        upstream_model: &'a str,
    ) -> BoxFuture<'a, Result<Complete, GatewayError>> {
        self.inner.embeddings(request, upstream_model)
    }

    fn chat_dialect(&self) -> ChatDialect {
        self.inner.chat_dialect()
    }

    fn speaks_responses(&self) -> bool {
        true
    }

    fn passthrough<'a>(
        &'a self,
        call: PassthroughCall<'a>,
        upstream_model: &'a str,
    ) -> Option<BoxFuture<'a, Result<Reply, GatewayError>>> {
        self.inner.passthrough(call, upstream_model)
    }

    fn count_tokens<'a>(
        &'a self,
        request: &'a MessagesCall<'a>,
        upstream_model: &'a str,
    ) -> Option<BoxFuture<'a, Result<Complete, GatewayError>>> {
        self.inner.count_tokens(request, upstream_model)
    }
}
