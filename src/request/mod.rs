//! One request's life, whatever its endpoint: the config snapshot it was served with, who
//! called, what it asked for, its admission (the limits' settlement, the in-flight token
//! permit), where the attempt loop routed it and the slots that answer holds, and its record,
//! closed exactly once (`finish`). The methods are named for the moments they happen
//! (`identify`, `read_body`, `admit`, `route`); the API's handler pipeline calls them in that
//! order. Telemetry gets a plain summary when the request ends and imports nothing from here.

pub mod body;
mod finish;

pub use finish::Finish;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use axum::body::Body;
use bytes::Bytes;
use http::HeaderValue;
use http::request::Parts;

use crate::auth::Identity;
use crate::error::GatewayError;
use crate::limits::admission::{self, LimitHeaders, Settlement};
use crate::limits::store::Store;
use crate::providers::Reply;
use crate::router::attempt::{self, Call, Dispatch, Trail};
use crate::runtime::Runtime;
use crate::server::ConnInfo;
use crate::telemetry::content::Transcript;
use crate::telemetry::genai::{self, RequestFacts, ResponseFacts, ServerSpan};
use crate::telemetry::metrics::{NO_TEAM, RATELIMIT_REJECTIONS};
use crate::types::TopLevel;

static INFLIGHT_TOTAL: AtomicUsize = AtomicUsize::new(0);
/// Set when the drain deadline cuts the requests still in flight.
static DRAIN_CUT: AtomicBool = AtomicBool::new(false);

/// Requests currently in flight in this process (for drain logs and the exit code).
pub fn inflight() -> usize {
    INFLIGHT_TOTAL.load(Ordering::Relaxed)
}

/// Marks every request that ends from now on as cut by the drain (the process is about to cut
/// the connections still open).
pub fn mark_drain_cut() {
    DRAIN_CUT.store(true, Ordering::Relaxed);
}

/// Whether the drain deadline has cut the requests in flight.
fn drain_cut() -> bool {
    DRAIN_CUT.load(Ordering::Relaxed)
}

/// What admission and routing read from a parsed request.
pub struct Head<'p> {
    /// The client-facing model (the routing key).
    pub model: &'p str,
    /// Whether the client asked for a stream.
    pub stream: bool,
    /// The completion limit the client set.
    pub max_tokens: Option<u64>,
    /// The JSON object, when the body is one (for the span's request facts).
    pub top: Option<&'p TopLevel<'p>>,
}

/// One request, from its arrival to its record.
pub struct RequestContext {
    runtime: Arc<Runtime>,
    store: Arc<dyn Store>,
    /// Request id (also sent back as `x-request-id`).
    request_id: String,
    endpoint: &'static str,
    method: http::Method,
    path: String,
    started: Instant,
    span: ServerSpan,
    trace_ids: Option<(String, String)>,
    /// Who called (key, peer, `anonymous`), for logs.
    caller: String,
    /// The caller's team (metric label; `none` without one).
    team: String,
    stream: bool,
    facts: RequestFacts,
    /// Size of the prompt-bearing body, for an estimate when the upstream gives no usage.
    prompt_bytes: usize,
    /// The beginning of that body, kept for streams (an abandoned stream has no usage), to count
    /// its tokens with the tokenizer.
    prompt_sample: Vec<u8>,
    /// Estimated tokens (prompt estimate + `max_tokens`), set at admission.
    estimate: u64,
    limit_headers: LimitHeaders,
    settlement: Option<Settlement>,
    /// The in-flight token budget's permit, held to the end.
    token_permit: Option<tokio::sync::OwnedSemaphorePermit>,
    trail: Trail,
    /// What the client should know about how its request was served (`x-llm-warning`).
    warning: Option<HeaderValue>,
    response: ResponseFacts,
    /// Prompt and response, kept only for `logging.log_content`.
    transcript: Option<Box<Transcript>>,
    /// The record is written (a record closes exactly once).
    closed: bool,
}

impl RequestContext {
    /// Opens the context of a request to `endpoint` (e.g. `chat`, `embeddings`), served by
    /// `runtime` with limits in `store`.
    pub fn start(
        runtime: Arc<Runtime>,
        store: Arc<dyn Store>,
        endpoint: &'static str,
        parts: &Parts,
    ) -> Self {
        INFLIGHT_TOTAL.fetch_add(1, Ordering::Relaxed);
        // The tracing middleware opened it; contexts made without it (tests) open their own.
        let span = parts
            .extensions
            .get::<ServerSpan>()
            .cloned()
            .unwrap_or_else(|| ServerSpan::start(&parts.method, parts.uri.path(), &parts.headers));
        let trace_ids = crate::telemetry::otel::ids(span.context());
        Self {
            runtime,
            store,
            request_id: body::request_id(parts),
            endpoint,
            method: parts.method.clone(),
            path: parts.uri.path().to_owned(),
            started: Instant::now(),
            span,
            trace_ids,
            caller: ANONYMOUS.to_owned(),
            team: NO_TEAM.to_owned(),
            stream: false,
            facts: RequestFacts::default(),
            prompt_bytes: 0,
            prompt_sample: Vec::new(),
            estimate: 0,
            limit_headers: Vec::new(),
            settlement: None,
            token_permit: None,
            trail: Trail::default(),
            warning: None,
            response: ResponseFacts::default(),
            transcript: None,
            closed: false,
        }
    }

    /// Who is calling (see [`identify`]), noted for the record; 401 when credentials are
    /// required and missing, unknown or expired.
    pub fn identify(&mut self, parts: &Parts) -> Result<Identity, GatewayError> {
        let identity = identify(&self.runtime, &parts.headers, &parts.extensions)?;
        identity.name().clone_into(&mut self.caller);
        if let Some(team) = identity.team() {
            team.clone_into(&mut self.team);
        }
        Ok(identity)
    }

    /// Reads the whole body within `server.max_request_bytes` and `server.read_timeout`.
    pub async fn read_body(&self, parts: &Parts, body: Body) -> Result<Bytes, GatewayError> {
        let server = &self.runtime.config.raw.server;
        body::read(
            &parts.headers,
            body,
            server.max_request_bytes,
            server.read_timeout,
        )
        .await
    }

    /// Admits the request `head` of `body` (the prompt-bearing bytes) for `identity`: the model
    /// must be allowed to it, then the global rate, its key's and team's rate limits and
    /// budgets, and the in-flight token budget must have room. What a finished record needs
    /// (stream, facts, prompt size and sample, limits' settlement, permits) is noted here, at
    /// once.
    pub async fn admit(
        &mut self,
        identity: &Identity,
        head: &Head<'_>,
        body: &[u8],
    ) -> Result<(), GatewayError> {
        self.stream = head.stream;
        if let Some(top) = head.top {
            self.facts = RequestFacts::read(top, head.max_tokens);
        }
        if !identity.allows(head.model) {
            return Err(GatewayError::Forbidden(format!(
                "`{}` may not use model `{}`.",
                identity.name(),
                head.model
            )));
        }
        self.global_rate()?;
        // Saturating: client numbers never wrap a sum into a small one (they are bounded at
        // parse; this holds whatever a caller passes).
        let estimate = crate::tokens::estimate_from_bytes(body.len())
            .saturating_add(head.max_tokens.unwrap_or(0));
        self.estimate = estimate;
        let runtime = Arc::clone(&self.runtime);
        let team = identity
            .team()
            .and_then(|t| runtime.access.team(t))
            .map(|t| &t.limits);
        let admitted =
            admission::admit(&self.store, &runtime.prices, identity, team, estimate).await?;
        self.limit_headers = admitted.headers;
        self.settlement = admitted.settlement;
        // Only an admitted request is worth a sample (and, with `log_content`, a parse of its
        // prompt): a refused one must cost as little as possible.
        self.note_prompt(body);
        if let Some(budget) = &runtime.token_budget {
            self.token_permit = Some(budget.admit(estimate).await?);
        }
        Ok(())
    }

    /// Notes the size of the prompt-bearing `body` and, for a stream, its beginning (what an
    /// estimate needs when the upstream reports no usage); with `logging.log_content`, keeps
    /// the prompt for the transcript.
    fn note_prompt(&mut self, body: &[u8]) {
        self.prompt_bytes = body.len();
        if self.stream {
            let sample = &body[..body.len().min(crate::stream::SAMPLE_BYTES)];
            self.prompt_sample = sample.to_vec();
        }
        if self.runtime.config.raw.logging.log_content {
            self.transcript = Some(Box::new(Transcript::of_request(body)));
        }
    }

    /// The seed's global request rate limit.
    fn global_rate(&self) -> Result<(), GatewayError> {
        let Some(limit) = &self.runtime.rate_limit else {
            return Ok(());
        };
        limit.check().map_err(|retry_after| {
            metrics::counter!(RATELIMIT_REJECTIONS, "team" => NO_TEAM, "limit" => "global_rpm").increment(1);
            GatewayError::RateLimited {
                message: format!(
                    "Rate limit reached: the gateway accepts {} requests per minute (rate_limit.requests_per_minute).",
                    limit.limit()
                ),
                retry_after,
                headers: Vec::new(),
            }
        })
    }

    /// Serves the request for `model` through the attempt loop (retries, fallbacks, breakers,
    /// bulkheads); `call` makes one attempt on a provider with an upstream model name.
    pub async fn route<'r, F>(&mut self, model: &str, call: F) -> Result<Reply, GatewayError>
    where
        F: Call<'r>,
    {
        let runtime = Arc::clone(&self.runtime);
        let dispatch = Dispatch {
            router: &runtime.router,
            model,
            stream: self.stream,
            estimate: self.estimate,
            operation: self.operation(),
            trace: self.span.context(),
            facts: &self.facts,
        };
        attempt::run(&dispatch, &mut self.trail, call).await
    }

    /// Tells the client how its request was served differently from what it asked (a setting
    /// the upstream cannot take, dropped): the `x-llm-warning` header of the answer.
    pub fn warn(&mut self, text: &str) {
        self.warning = HeaderValue::try_from(text).ok();
    }

    /// The warning for the answer's headers, once.
    pub fn take_warning(&mut self) -> Option<HeaderValue> {
        self.warning.take()
    }

    /// The config generation this request runs on.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// The store of limits and stored documents.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The request id.
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// `provider/model` of the deployment that answered.
    pub fn deployment(&self) -> Option<&str> {
        self.trail.answer.as_ref().map(|a| a.deployment.as_str())
    }

    /// Upstream attempts made (retries and fallbacks included).
    pub fn attempts(&self) -> u32 {
        self.trail.attempts
    }

    /// The caller's `x-ratelimit-*` headers (taken: they go on the response once).
    pub fn take_limit_headers(&mut self) -> LimitHeaders {
        std::mem::take(&mut self.limit_headers)
    }

    /// When the request arrived.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// `gen_ai.operation.name` of this request.
    fn operation(&self) -> &'static str {
        genai::operation_of(self.endpoint)
    }

    /// Whether response bodies are worth looking at: for their id, model and finish reasons
    /// (a recording span) or their text (`logging.log_content`).
    pub fn wants_response_facts(&self) -> bool {
        self.transcript.is_some()
            || self
                .trail
                .answer
                .as_ref()
                .is_some_and(|a| a.span.is_recording())
    }

    /// Folds a response body or stream frame into the response facts and the transcript.
    pub fn observe_response(&mut self, bytes: &[u8]) {
        self.response.observe(bytes);
        if let Some(transcript) = self.transcript.as_mut() {
            transcript.observe(bytes);
        }
    }
}

/// Name of a caller without an identity.
const ANONYMOUS: &str = "anonymous";

/// Who is calling, from the credentials and the connection; 401 when credentials are required
/// and missing, unknown or expired. For endpoints that identify without admitting (the model
/// list, key info).
pub fn identify(
    runtime: &Runtime,
    headers: &http::HeaderMap,
    extensions: &http::Extensions,
) -> Result<Identity, GatewayError> {
    let conn = extensions.get::<ConnInfo>();
    runtime
        .access
        .identify(headers, conn, crate::clock::unix_now())
}
