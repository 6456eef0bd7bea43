//! The attempt loop: one request, tried on the deployments its model's strategy orders, with
//! retries (backoff with jitter, `Retry-After` honoured, only what is safe to retry), then the
//! model's fallbacks, all within `routing.timeout`. Each attempt passes the provider's bulkhead,
//! the deployment's concurrency limit and its circuit breaker, and a stream is held until its
//! first chunk so that failover stays possible until the first byte goes to the client.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::group::{Deployment, Group};
use super::{OTHER_MODEL, Router, Target, retry};
use crate::config::schema::ProviderKind;
use crate::error::GatewayError;
use crate::providers::{BoxFuture, Forward, Provider, Reply};
use crate::stream::peek::peek;
use crate::telemetry::genai::{Attempt, AttemptSpan, RequestFacts};
use crate::telemetry::metrics::InflightGauge;
use crate::telemetry::metrics::count_upstream_error;
use opentelemetry::context::FutureExt as _;

/// Error code that sends a request to `context_window_fallbacks`.
const CONTEXT_LENGTH_EXCEEDED: &str = "context_length_exceeded";
/// `error_type` of requests refused by an open breaker.
const CIRCUIT_OPEN: &str = "circuit_open";
/// Shortest `Retry-After` when every deployment's breaker is open.
const MIN_OPEN_RETRY: Duration = Duration::from_secs(1);

/// One attempt: a provider and an upstream model name in, the reply out. They are passed owned
/// so the returned future may borrow the request the closure captured (lifetime `'r`).
pub trait Call<'r>:
    FnMut(Arc<dyn Provider>, String) -> BoxFuture<'r, Result<Reply, GatewayError>> + Send
{
}

impl<'r, F> Call<'r> for F where
    F: FnMut(Arc<dyn Provider>, String) -> BoxFuture<'r, Result<Reply, GatewayError>> + Send
{
}

/// What the loop needs to know about the request besides the call itself.
pub struct Dispatch<'a> {
    /// The routes of the generation serving the request.
    pub router: &'a Router,
    /// The model the client asked for.
    pub model: &'a str,
    /// Whether the client asked for a stream (committed at its first chunk).
    pub stream: bool,
    /// The request's estimated tokens (upstream quota steering).
    pub estimate: u64,
    /// `gen_ai.operation.name` of the attempt spans.
    pub operation: &'static str,
    /// The request's trace context, parent of the attempt spans.
    pub trace: &'a opentelemetry::Context,
    /// What the request asked for, for the attempt spans.
    pub facts: &'a RequestFacts,
}

/// What the loop did, kept by the request to its end: where it was routed (the metric labels),
/// how many attempts it made, the attempt that answered, and the slots the answer holds until
/// the request ends (released at a stream's last byte, not when the handler returns).
#[derive(Default)]
pub struct Trail {
    /// The model's label (a configured name, or `other`) once routed.
    pub label: Option<String>,
    /// The provider of the last attempt.
    pub provider: Option<String>,
    /// Upstream attempts made (retries and fallbacks included).
    pub attempts: u32,
    /// The attempt that answered.
    pub answer: Option<Answer>,
    /// Slots held until the request ends: bulkhead, deployment concurrency, in-flight counts.
    holds: Vec<Box<dyn Send + Sync>>,
    /// This request in its provider's in-flight gauge, while routed there.
    inflight: Option<InflightGauge>,
}

/// The attempt that answered.
pub struct Answer {
    /// Its CLIENT span, ended with the response's facts when the request ends.
    pub span: AttemptSpan,
    /// The provider's type.
    pub kind: ProviderKind,
    /// `provider/model` of the deployment.
    pub deployment: String,
    /// The upstream model (its price applies).
    pub upstream_model: String,
}

impl Trail {
    /// Notes an attempt routed to `provider` for the model labelled `label`.
    fn route(&mut self, label: &str, provider: &str) {
        self.inflight = Some(InflightGauge::enter(provider));
        self.label = Some(label.to_owned());
        self.provider = Some(provider.to_owned());
    }

    /// Keeps `guard` until the request ends.
    pub fn hold(&mut self, guard: impl Send + Sync + 'static) {
        self.holds.push(Box::new(guard));
    }

    /// Whether any attempt was routed.
    pub fn routed(&self) -> bool {
        self.provider.is_some()
    }
}

/// Serves a request through `call`, which makes one attempt on a provider with an upstream
/// model name, noting in `trail` what happened. (A boxed future rather than an async closure:
/// the handler's future must be provably `Send`.)
pub async fn run<'r, F>(
    dispatch: &Dispatch<'_>,
    trail: &mut Trail,
    mut call: F,
) -> Result<Reply, GatewayError>
where
    F: Call<'r>,
{
    let (router, model) = (dispatch.router, dispatch.model);
    let routing = &router.routing;
    let mut run = Attempts {
        router,
        dispatch,
        trail,
        deadline: Instant::now() + routing.timeout,
        attempts: 0,
        last_tried: 0,
    };
    let mut target = router.resolve(model)?;
    let mut visited = vec![model.to_owned()];
    let mut queue: VecDeque<String> = VecDeque::new();
    loop {
        let name = visited.last().map_or(model, String::as_str);
        let error = match target {
            Target::Default(deployment) => {
                return run.on_default(deployment, model, &mut call).await;
            }
            Target::Group(group) => match run.on_group(group, name, &mut call).await {
                Ok(reply) => return Ok(reply),
                Err(error) => error,
            },
        };
        let Target::Group(group) = target else {
            return Err(error);
        };
        let next = if error.code() == Some(CONTEXT_LENGTH_EXCEEDED) {
            &group.context_window_fallbacks
        } else if routing.fallback_enabled && fails_over(&error) {
            &group.fallbacks
        } else {
            return Err(error);
        };
        queue.extend(next.iter().filter(|n| !visited.contains(n)).cloned());
        let Some(resolved) = next_target(router, &mut queue, &mut visited) else {
            return Err(error);
        };
        target = resolved;
    }
}

/// The next fallback that resolves, in order.
fn next_target<'r>(
    router: &'r Router,
    queue: &mut VecDeque<String>,
    visited: &mut Vec<String>,
) -> Option<Target<'r>> {
    while let Some(name) = queue.pop_front() {
        visited.push(name.clone());
        if let Ok(target) = router.resolve(&name) {
            return Some(target);
        }
    }
    None
}

/// Whether another deployment or model could still answer after `error`.
fn fails_over(error: &GatewayError) -> bool {
    error.retryable() || matches!(error, GatewayError::Unavailable { .. })
}

/// Whether `error` says the deployment is unwell (as opposed to a bad request).
fn breaker_failure(error: &GatewayError) -> bool {
    matches!(
        error,
        GatewayError::UpstreamConnect { .. }
            | GatewayError::UpstreamTimeout { .. }
            | GatewayError::UpstreamProtocol { .. }
            | GatewayError::UpstreamAuth { .. }
            | GatewayError::UpstreamCredentials { .. }
    ) || (error.retryable() && matches!(error, GatewayError::Upstream { .. }))
}

/// The attempts of one request, in order.
struct Attempts<'a, 'd> {
    router: &'a Router,
    dispatch: &'a Dispatch<'d>,
    trail: &'a mut Trail,
    deadline: Instant,
    attempts: u32,
    /// Address of the last attempt's deployment (an identity, never dereferenced).
    last_tried: usize,
}

impl Attempts<'_, '_> {
    async fn on_default<'r, F>(
        &mut self,
        deployment: &Deployment,
        model: &str,
        call: &mut F,
    ) -> Result<Reply, GatewayError>
    where
        F: Call<'r>,
    {
        let tries = self.router.routing.retry_count + 1;
        let mut last = None;
        for _ in 0..tries {
            match self
                .next_try(deployment, model, OTHER_MODEL, call, last.as_ref())
                .await
            {
                Ok(reply) => return Ok(reply),
                Err(e) if fails_over(&e) && self.may_retry(&e) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| self.timeout_error(deployment)))
    }

    /// Serves `name` (the client's model, or a fallback's) on `group`.
    async fn on_group<'r, F>(
        &mut self,
        group: &Group,
        name: &str,
        call: &mut F,
    ) -> Result<Reply, GatewayError>
    where
        F: Call<'r>,
    {
        let order = group.order(self.dispatch.estimate);
        let tries = self.router.routing.retry_count + 1;
        let mut last = None;
        for n in 0..tries as usize {
            let picked = (0..order.len())
                .map(|k| &group.deployments[order[(n + k) % order.len()]])
                .find(|d| d.available());
            let Some(deployment) = picked else {
                return Err(last.unwrap_or_else(|| all_open(group)));
            };
            let upstream = group.upstream(deployment, name);
            match self
                .next_try(deployment, &upstream, &group.name, call, last.as_ref())
                .await
            {
                Ok(reply) => return Ok(reply),
                Err(e) if fails_over(&e) && self.may_retry(&e) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| all_open(group)))
    }

    /// Whether there is time left for another attempt.
    fn may_retry(&self, _error: &GatewayError) -> bool {
        Instant::now() < self.deadline
    }

    /// Waits out the backoff after a failed attempt, then makes one.
    async fn next_try<'r, F>(
        &mut self,
        deployment: &Deployment,
        model: &str,
        label: &str,
        call: &mut F,
        previous: Option<&GatewayError>,
    ) -> Result<Reply, GatewayError>
    where
        F: Call<'r>,
    {
        if let Some(previous) = previous {
            let same = self.last_tried == std::ptr::from_ref(deployment).addr();
            let Some(delay) = self.retry_delay(previous, same) else {
                return Err(previous.clone());
            };
            tokio::time::sleep(delay).await;
        }
        self.last_tried = std::ptr::from_ref(deployment).addr();
        self.attempt(deployment, model, label, call).await
    }

    /// The wait before retrying after `previous`: backoff with jitter, stretched to the
    /// upstream's `Retry-After` when retrying the same deployment (another deployment has its
    /// own quota). `None` when the hint is longer than `retry_backoff.max` (the client is better
    /// served by the error and its `Retry-After` than by a gateway that sits on the request) or
    /// the wait would pass the deadline.
    fn retry_delay(&self, previous: &GatewayError, same_deployment: bool) -> Option<Duration> {
        let backoff = &self.router.routing.retry_backoff;
        let hint = previous.retry_after().filter(|_| same_deployment);
        if hint.is_some_and(|h| h > backoff.max) {
            return None;
        }
        let delay = retry::delay(backoff, self.attempts, hint);
        retry::fits(delay, self.deadline).then_some(delay)
    }

    /// One attempt: bulkhead, concurrency limit, breaker, the call, and (for streams) the first
    /// chunk. On success the guards are handed to the record, which holds them to the end.
    async fn attempt<'r, F>(
        &mut self,
        deployment: &Deployment,
        model: &str,
        label: &str,
        call: &mut F,
    ) -> Result<Reply, GatewayError>
    where
        F: Call<'r>,
    {
        let provider = deployment.provider.name();
        let slot = match self.router.bulkhead(provider) {
            Some(bulkhead) => Some(bulkhead.enter().await?),
            None => None,
        };
        let limit = match &deployment.limit {
            Some(limit) => Some(
                Arc::clone(&limit.slots)
                    .try_acquire_owned()
                    .map_err(|_| full(deployment))?,
            ),
            None => None,
        };
        let Some(permit) = deployment.state.breaker.try_acquire() else {
            return Err(circuit_open(deployment));
        };
        let inflight = deployment.state.start();
        deployment.charge_quota(self.dispatch.estimate);
        self.attempts += 1;
        self.trail.route(label, provider);
        self.trail.attempts = self.attempts;
        let span = self.span(deployment, model);
        let started = Instant::now();
        // A stream is committed at its first chunk: until then (headers included) the wait is
        // bounded by `ttft_timeout`, so a slow first byte can still fail over.
        let left = self.deadline.saturating_duration_since(started);
        let ttft = self
            .router
            .routing
            .ttft_timeout
            .filter(|_| self.dispatch.stream);
        let bound = ttft.map_or(left, |t| t.min(left));
        let answer = async {
            let outcome = call(Arc::clone(&deployment.provider), model.to_owned()).await;
            first_chunk(outcome, provider).await
        }
        .with_context(span.context());
        let outcome = match tokio::time::timeout(bound, answer).await {
            Ok(outcome) => outcome,
            Err(_) if ttft.is_some_and(|t| t < left) => Err(GatewayError::UpstreamTimeout {
                provider: provider.to_owned(),
                after: bound,
            }),
            Err(_) => Err(self.timeout_error(deployment)),
        };
        match &outcome {
            Ok(reply) => {
                permit.record(true);
                if !matches!(reply, Reply::Complete(_)) {
                    span.first_chunk(started.elapsed());
                }
                deployment.state.observe(started.elapsed());
                self.trail.answer = Some(Answer {
                    span,
                    kind: deployment.provider.kind(),
                    deployment: [provider, "/", model].concat(),
                    upstream_model: model.to_owned(),
                });
                self.trail.hold((inflight, slot, limit));
            }
            Err(error) => {
                span.fail(error.metric_label());
                permit.record(!breaker_failure(error));
                if error.side() == crate::error::Side::Upstream || breaker_failure(error) {
                    count_upstream_error(provider, error.metric_label());
                }
            }
        }
        outcome
    }

    /// The CLIENT span of an attempt on `deployment` with upstream `model`.
    fn span(&self, deployment: &Deployment, model: &str) -> AttemptSpan {
        let server = deployment.provider.server_address();
        AttemptSpan::start(
            self.dispatch.trace,
            &Attempt {
                operation: self.dispatch.operation,
                kind: deployment.provider.kind(),
                model,
                server,
                stream: self.dispatch.stream,
                facts: self.dispatch.facts,
            },
        )
    }

    /// The deadline (`routing.timeout`) passed during an attempt.
    fn timeout_error(&self, deployment: &Deployment) -> GatewayError {
        GatewayError::UpstreamTimeout {
            provider: deployment.provider.name().to_owned(),
            after: self.router.routing.timeout,
        }
    }
}

/// Holds a stream until its first chunk (the caller bounds the wait).
async fn first_chunk(
    outcome: Result<Reply, GatewayError>,
    provider: &str,
) -> Result<Reply, GatewayError> {
    match outcome? {
        Reply::Stream(stream) => Ok(Reply::Stream(peek(stream, provider).await?)),
        Reply::Forward(forward) => Ok(Reply::Forward(Forward {
            body: peek(forward.body, provider).await?,
            ..forward
        })),
        complete => Ok(complete),
    }
}

fn full(deployment: &Deployment) -> GatewayError {
    GatewayError::Unavailable {
        message: format!(
            "Deployment `{}` is at its max_concurrency.",
            deployment.label()
        ),
        retry_after: Some(MIN_OPEN_RETRY),
    }
}

fn circuit_open(deployment: &Deployment) -> GatewayError {
    count_upstream_error(deployment.provider.name(), CIRCUIT_OPEN);
    GatewayError::Unavailable {
        message: format!(
            "Deployment `{}` is failing; its circuit breaker is open.",
            deployment.label()
        ),
        retry_after: Some(
            deployment
                .state
                .breaker
                .remaining_open()
                .max(MIN_OPEN_RETRY),
        ),
    }
}

/// Every deployment of the group is unavailable: 503 at once, without touching an upstream.
fn all_open(group: &Group) -> GatewayError {
    let mut soonest = None::<Duration>;
    for deployment in &group.deployments {
        let open = deployment.state.breaker.remaining_open();
        if !open.is_zero() {
            count_upstream_error(deployment.provider.name(), CIRCUIT_OPEN);
        }
        soonest = Some(soonest.map_or(open, |s| s.min(open)));
    }
    GatewayError::Unavailable {
        message: format!(
            "No deployment of model `{}` is available (circuit breakers open, unhealthy or at capacity).",
            group.name
        ),
        retry_after: Some(soonest.unwrap_or(MIN_OPEN_RETRY).max(MIN_OPEN_RETRY)),
    }
}
