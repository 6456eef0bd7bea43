//! Ollama's native API (`type: ollama`): `POST /api/chat` (whole or NDJSON stream) and
//! `POST /api/embed`, translated to and from OpenAI's format. The translation lives in pure
//! modules (`request`, `response`, `stream`); this adapter only sends and wires them up.
//! Ollama needs no key: `Authorization: Bearer` goes out only when `api_key` is set (e.g. behind
//! an authenticating proxy).

pub mod request;
pub mod response;
pub mod stream;
pub mod wire;

#[cfg(test)]
mod testing;

use std::sync::Arc;

use super::http::Endpoint;
use super::{BoxFuture, Complete, Provider, Reply, UpstreamClient, call, translate};
use crate::config::schema::{ProviderConfig, ProviderKind};
use crate::error::GatewayError;
use crate::stream::openai::ChunkWriter;
use crate::types::{ChatRequest, EmbeddingsRequest};

/// Chat endpoint (streams NDJSON unless `stream` is false).
const CHAT_PATH: &str = "/api/chat";
/// Embeddings endpoint (batch input; the older `/api/embeddings` takes one prompt).
const EMBED_PATH: &str = "/api/embed";

/// An Ollama server.
pub struct Ollama {
    client: UpstreamClient,
}

impl Ollama {
    /// An adapter for `config` on `endpoint`.
    pub fn new(config: &ProviderConfig, endpoint: Arc<Endpoint>) -> Result<Self, String> {
        let bearer = config
            .api_key
            .as_ref()
            .map(|k| format!("Bearer {}", k.expose()));
        Ok(Self {
            client: UpstreamClient::new(config, endpoint, &[("authorization", bearer)])?,
        })
    }

    /// A whole chat answer in OpenAI's format.
    async fn chat_whole(&self, body: Vec<u8>, model: &str) -> Result<Reply, GatewayError> {
        let (_, bytes) = call::whole(&self.client, CHAT_PATH, body, response::map_error).await?;
        let (completion, usage) = response::chat_completion(&bytes, model, &self.client.name)?;
        let body = call::encode(&completion)?;
        Ok(Reply::Complete(Complete {
            status: http::StatusCode::OK,
            body: body.into(),
            usage,
        }))
    }

    /// A chat stream in OpenAI's format. Every body is read as NDJSON whatever its content type:
    /// a whole JSON answer (a server that ignored `stream`) is a one-line stream.
    async fn chat_stream(
        &self,
        body: Vec<u8>,
        model: &str,
        include_usage: bool,
    ) -> Result<Reply, GatewayError> {
        let deadline = call::deadline(&self.client);
        let response =
            call::post(&self.client, CHAT_PATH, body, deadline, response::map_error).await?;
        let writer = ChunkWriter::new(
            translate::new_completion_id(),
            model,
            crate::clock::unix_now(),
            include_usage,
        );
        let translator = stream::ChatStream::new(writer, &self.client.name);
        let stream = self.client.stream(response.into_body(), translator);
        Ok(Reply::Stream(Box::new(stream)))
    }
}

impl Provider for Ollama {
    fn client(&self) -> &UpstreamClient {
        &self.client
    }

    fn kind(&self) -> ProviderKind {
        ProviderKind::Ollama
    }

    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest<'a>,
        upstream_model: &'a str,
    ) -> BoxFuture<'a, Result<Reply, GatewayError>> {
        Box::pin(async move {
            let typed = translate::typed_request(request)?;
            let body = request::chat_body(&typed, upstream_model, &self.client.name)?;
            let body = call::encode(&body)?;
            if request.stream {
                self.chat_stream(body, upstream_model, request.include_usage)
                    .await
            } else {
                self.chat_whole(body, upstream_model).await
            }
        })
    }

    fn embeddings<'a>(
        &'a self,
        request: &'a EmbeddingsRequest<'a>,
        upstream_model: &'a str,
    ) -> BoxFuture<'a, Result<Complete, GatewayError>> {
        Box::pin(async move {
            let encoding = translate::EmbeddingEncoding::of(&request.top)?;
            let body = request::embed_body(&request.top, upstream_model, &self.client.name)?;
            let body = call::encode(&body)?;
            let (_, bytes) =
                call::whole(&self.client, EMBED_PATH, body, response::map_error).await?;
            let (body, usage) =
                response::embeddings(&bytes, upstream_model, encoding, &self.client.name)?;
            Ok(Complete {
                status: http::StatusCode::OK,
                body: body.into(),
                usage,
            })
        })
    }
}
