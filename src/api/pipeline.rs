//! The one path every admitted endpoint takes: identify the caller, read the body, parse it the
//! endpoint's way, admit it, route it through the attempt loop, respond in the endpoint's
//! format, and record it once. An endpoint is a declaration: an [`Operation`] says its name,
//! its inbound format, how its body is parsed, and what one attempt on a provider calls.

use std::sync::Arc;

use axum::extract::Request;
use axum::response::Response;
use bytes::Bytes;
use http::request::Parts;

use super::AppState;
use super::respond::{Inbound, respond};
use crate::auth::Identity;
use crate::error::GatewayError;
use crate::limits::store::Store;
use crate::providers::{BoxFuture, Provider, Reply};
use crate::request::{Head, RequestContext};
use crate::runtime::Runtime;

/// One endpoint of the API.
pub trait Operation: Sync {
    /// The parsed body, borrowing from its bytes.
    type Parsed<'b>: Send + Sync;

    /// Its name in records and spans (`chat`, `embeddings`, `messages`, …).
    fn name(&self) -> &'static str;

    /// The API format its clients speak (and get errors in).
    fn inbound(&self) -> Inbound;

    /// Reads and checks `body`; a 400 in the client's terms when it is not a valid request.
    fn parse<'b>(&self, parts: &'b Parts, body: &'b [u8])
    -> Result<Self::Parsed<'b>, GatewayError>;

    /// What admission and routing need from the parsed request.
    fn head<'p>(&self, parsed: &'p Self::Parsed<'_>) -> Head<'p>;

    /// Runs once the caller is known, before admission: an operation whose request refers to
    /// something the caller owns (a stored response) loads it here. Most need nothing.
    fn prepare<'r, 'b: 'r>(
        &'r self,
        parsed: &'r mut Self::Parsed<'b>,
        scope: Scope<'r>,
    ) -> BoxFuture<'r, Result<(), GatewayError>> {
        let _ = (parsed, scope);
        Box::pin(std::future::ready(Ok(())))
    }

    /// What the client should be told about how its request was served, once it was (a
    /// setting dropped for the upstream that answered).
    fn warning(&self, parsed: &Self::Parsed<'_>) -> Option<String> {
        let _ = parsed;
        None
    }

    /// One attempt on `provider` with the deployment's `upstream_model`.
    fn attempt<'r, 'b: 'r>(
        &'r self,
        parsed: &'r Self::Parsed<'b>,
        body: &'r Bytes,
        provider: Arc<dyn Provider>,
        upstream_model: String,
    ) -> BoxFuture<'r, Result<Reply, GatewayError>>;
}

/// Who is asking, and what they may reach, for [`Operation::prepare`].
#[derive(Clone, Copy)]
pub struct Scope<'a> {
    /// The caller.
    pub identity: &'a Identity,
    /// The config generation the request runs on.
    pub runtime: &'a Runtime,
    /// The store of limits and stored documents.
    pub store: &'a Arc<dyn Store>,
}

/// Serves `request` as `operation`: one runtime snapshot, one context, one record.
pub async fn serve<O: Operation>(state: &AppState, request: Request, operation: &O) -> Response {
    let runtime = state.runtime.load_full();
    let (parts, body) = request.into_parts();
    let mut context =
        RequestContext::start(runtime, Arc::clone(&state.store), operation.name(), &parts);
    let result = run(&mut context, &parts, body, operation).await;
    respond(result, context, operation.inbound())
}

/// identify → read → parse → admit → route.
async fn run<O: Operation>(
    context: &mut RequestContext,
    parts: &Parts,
    body: axum::body::Body,
    operation: &O,
) -> Result<Reply, GatewayError> {
    let identity = context.identify(parts)?;
    let bytes = context.read_body(parts, body).await?;
    let mut parsed = operation.parse(parts, &bytes)?;
    let scope = Scope {
        identity: &identity,
        runtime: context.runtime(),
        store: context.store(),
    };
    operation.prepare(&mut parsed, scope).await?;
    let head = operation.head(&parsed);
    context.admit(&identity, &head, &bytes).await?;
    let (parsed, bytes) = (&parsed, &bytes);
    let reply = context
        .route(head.model, |provider, upstream_model| {
            operation.attempt(parsed, bytes, provider, upstream_model)
        })
        .await;
    if let Some(warning) = operation.warning(parsed) {
        context.warn(&warning);
    }
    reply
}

/// The error for a provider whose `chat` answered with a raw forwarded body: `chat` answers
/// JSON or SSE, so a translating endpoint meeting one has found a provider bug.
pub fn raw_chat_reply(provider: &str) -> GatewayError {
    GatewayError::Internal(format!(
        "provider `{provider}` answered a chat request with a raw body"
    ))
}
