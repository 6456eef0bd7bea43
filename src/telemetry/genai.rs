//! The OpenTelemetry GenAI semantic conventions: the request's SERVER span, one CLIENT span per
//! upstream attempt named `{gen_ai.operation.name} {gen_ai.request.model}` with the `gen_ai.*`
//! attributes, and the facts those need from requests and responses, read without a full parse.
//! Nothing here formats an attribute unless the span records (tracing on and sampled).

use std::borrow::Cow;
use std::time::Duration;

use memchr::memmem;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};

use super::otel;
use crate::config::schema::ProviderKind;
use crate::types::Usage;
use crate::types::json::TopLevel;

/// Longest end-user id kept (it is client input; usage records must stay bounded).
const MAX_END_USER_BYTES: usize = 128;
/// Most finish reasons kept per response (one per choice; `n` is usually 1).
const MAX_FINISH_REASONS: usize = 16;
/// Longest response id or model name kept.
const MAX_FACT_BYTES: usize = 256;

/// `gen_ai.operation.name` of a gateway endpoint.
pub fn operation_of(endpoint: &str) -> &'static str {
    match endpoint {
        "chat" | "messages" => "chat",
        "embeddings" => "embeddings",
        "completions" => "text_completion",
        // Not one of the conventions' well-known values: the Responses API is its own protocol.
        "responses" => "responses",
        "count_tokens" => "count_tokens",
        _ => "other",
    }
}

/// `gen_ai.provider.name` of a provider type (the conventions' well-known values).
pub fn provider_name(kind: ProviderKind) -> &'static str {
    kind.genai_system()
}

/// What the client's request says that spans and usage records report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestFacts {
    /// `max_tokens` / `max_completion_tokens`.
    pub max_tokens: Option<u64>,
    /// `temperature`.
    pub temperature: Option<f64>,
    /// The end user: `user`, `safety_identifier`, or Anthropic's `metadata.user_id`.
    pub end_user: Option<String>,
}

impl RequestFacts {
    /// Reads the facts from a request's top level.
    pub fn read(top: &TopLevel<'_>, max_tokens: Option<u64>) -> Self {
        let string = |key: &str| {
            top.get(key)
                .and_then(|raw| serde_json::from_str::<Cow<'_, str>>(raw.get()).ok())
        };
        let anthropic_user = || {
            #[derive(serde::Deserialize)]
            struct Metadata<'a> {
                #[serde(borrow)]
                user_id: Option<Cow<'a, str>>,
            }
            top.get("metadata")
                .and_then(|raw| serde_json::from_str::<Metadata<'_>>(raw.get()).ok())
                .and_then(|m| m.user_id.map(Cow::into_owned))
        };
        let end_user = string("user")
            .or_else(|| string("safety_identifier"))
            .map(Cow::into_owned)
            .or_else(anthropic_user)
            .map(|mut user| {
                truncate(&mut user, MAX_END_USER_BYTES);
                user
            });
        Self {
            max_tokens,
            temperature: top
                .get("temperature")
                .and_then(|raw| raw.get().parse().ok()),
            end_user,
        }
    }
}

fn truncate(text: &mut String, max: usize) {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
}

/// What a response says about itself (id, model, finish reasons), gathered from its body or its
/// stream frames by a key scan (OpenAI and Anthropic shapes alike).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResponseFacts {
    /// `id` of the completion or message.
    pub id: Option<String>,
    /// `model` the upstream reports.
    pub model: Option<String>,
    /// `finish_reason` / `stop_reason` values, in order.
    pub finish_reasons: Vec<String>,
}

struct Keys {
    id: memmem::Finder<'static>,
    model: memmem::Finder<'static>,
    finish: memmem::Finder<'static>,
    stop: memmem::Finder<'static>,
}

static KEYS: std::sync::LazyLock<Keys> = std::sync::LazyLock::new(|| Keys {
    id: memmem::Finder::new(b"\"id\":\""),
    model: memmem::Finder::new(b"\"model\":\""),
    finish: memmem::Finder::new(b"\"finish_reason\":\""),
    stop: memmem::Finder::new(b"\"stop_reason\":\""),
});

/// The JSON string value starting at `value` (just after its opening quote), unescaped simply:
/// ids, model names and finish reasons do not contain escapes in practice.
fn string_at(value: &[u8]) -> Option<String> {
    let end = memchr::memchr(b'"', value)?;
    let text = std::str::from_utf8(&value[..end.min(MAX_FACT_BYTES)]).ok()?;
    Some(text.to_owned())
}

impl ResponseFacts {
    /// Folds in one body or stream frame.
    pub fn observe(&mut self, bytes: &[u8]) {
        let keys = &*KEYS;
        for (slot, finder) in [(&mut self.id, &keys.id), (&mut self.model, &keys.model)] {
            if slot.is_none()
                && let Some(at) = finder.find(bytes)
            {
                *slot = string_at(&bytes[at + finder.needle().len()..]);
            }
        }
        for finder in [&keys.finish, &keys.stop] {
            for at in finder.find_iter(bytes) {
                if self.finish_reasons.len() >= MAX_FINISH_REASONS {
                    return;
                }
                if let Some(reason) = string_at(&bytes[at + finder.needle().len()..]) {
                    self.finish_reasons.push(reason);
                }
            }
        }
    }
}

/// Name of a span nothing exports (it exists for its ids).
const UNEXPORTED_SPAN: &str = "unexported";

/// The request's SERVER span, child of the client's trace context when it sent one.
#[derive(Clone)]
pub struct ServerSpan {
    cx: Context,
}

impl ServerSpan {
    /// Starts the span for `method path` with the client's context from `headers`.
    pub fn start(method: &http::Method, path: &str, headers: &http::HeaderMap) -> Self {
        let parent = otel::extract(headers);
        let Some(tracer) = otel::tracer() else {
            return Self { cx: parent };
        };
        // Unexported spans only carry ids: naming them would format a string per request.
        let name = if otel::exporting() {
            Cow::Owned(format!("{method} {path}"))
        } else {
            Cow::Borrowed(UNEXPORTED_SPAN)
        };
        let span = tracer
            .span_builder(name)
            .with_kind(SpanKind::Server)
            .start_with_context(tracer, &parent);
        let cx = parent.with_span(span);
        let span = cx.span();
        if span.is_recording() {
            span.set_attributes([
                KeyValue::new("http.request.method", method.as_str().to_owned()),
                KeyValue::new("url.path", path.to_owned()),
            ]);
        }
        Self { cx }
    }

    /// The span's context (parent of the attempts).
    pub fn context(&self) -> &Context {
        &self.cx
    }

    /// Ends the span with the client's status and what was served.
    pub fn end(&self, end: &SpanEnd<'_>) {
        let span = self.cx.span();
        if span.is_recording() {
            span.set_attributes([
                KeyValue::new("http.response.status_code", i64::from(end.status)),
                KeyValue::new("gen_ai.operation.name", end.operation),
                KeyValue::new("gen_ai.request.model", end.model.to_owned()),
            ]);
            if let Some(error) = end.error_type {
                span.set_attribute(KeyValue::new("error.type", error.to_owned()));
                span.set_status(Status::error(error.to_owned()));
            }
        }
        span.end();
    }
}

/// How a request ended, for its server span.
pub struct SpanEnd<'a> {
    /// HTTP status sent.
    pub status: u16,
    /// `gen_ai.operation.name`.
    pub operation: &'static str,
    /// Client-facing model label.
    pub model: &'a str,
    /// `error.type`, when it failed.
    pub error_type: Option<&'a str>,
}

/// What an attempt span describes.
pub struct Attempt<'a> {
    /// `gen_ai.operation.name`.
    pub operation: &'static str,
    /// The provider's type.
    pub kind: ProviderKind,
    /// The model sent upstream.
    pub model: &'a str,
    /// `host[:port]` of the upstream.
    pub server: &'a str,
    /// Whether the client asked for a stream.
    pub stream: bool,
    /// The request's facts.
    pub facts: &'a RequestFacts,
}

/// One upstream attempt's CLIENT span; its context is current while the attempt runs, so the
/// upstream request carries its `traceparent`.
pub struct AttemptSpan {
    cx: Context,
}

impl AttemptSpan {
    /// Starts the span under `parent`.
    pub fn start(parent: &Context, attempt: &Attempt<'_>) -> Self {
        let Some(tracer) = otel::tracer() else {
            return Self { cx: parent.clone() };
        };
        let name = if otel::exporting() {
            Cow::Owned(format!("{} {}", attempt.operation, attempt.model))
        } else {
            Cow::Borrowed(UNEXPORTED_SPAN)
        };
        let span = tracer
            .span_builder(name)
            .with_kind(SpanKind::Client)
            .start_with_context(tracer, parent);
        let cx = parent.with_span(span);
        let span = cx.span();
        if span.is_recording() {
            let (address, port) = split_host(attempt.server);
            let mut attributes = vec![
                KeyValue::new("gen_ai.operation.name", attempt.operation),
                KeyValue::new("gen_ai.provider.name", provider_name(attempt.kind)),
                KeyValue::new("gen_ai.request.model", attempt.model.to_owned()),
                KeyValue::new("gen_ai.request.stream", attempt.stream),
                KeyValue::new("server.address", address.to_owned()),
            ];
            if let Some(port) = port {
                attributes.push(KeyValue::new("server.port", i64::from(port)));
            }
            if let Some(max) = attempt.facts.max_tokens {
                attributes.push(KeyValue::new(
                    "gen_ai.request.max_tokens",
                    i64::try_from(max).unwrap_or(i64::MAX),
                ));
            }
            if let Some(t) = attempt.facts.temperature {
                attributes.push(KeyValue::new("gen_ai.request.temperature", t));
            }
            span.set_attributes(attributes);
        }
        Self { cx }
    }

    /// The context to make current while the attempt runs.
    pub fn context(&self) -> Context {
        self.cx.clone()
    }

    /// Whether the span records (so response facts are worth gathering).
    pub fn is_recording(&self) -> bool {
        self.cx.span().is_recording()
    }

    /// Notes the first chunk of a stream, `after` the attempt began.
    pub fn first_chunk(&self, after: Duration) {
        let span = self.cx.span();
        if span.is_recording() {
            span.add_event(
                "gen_ai.first_chunk",
                vec![KeyValue::new(
                    "gen_ai.response.time_to_first_chunk",
                    after.as_secs_f64(),
                )],
            );
        }
    }

    /// Ends a failed attempt.
    pub fn fail(self, error_type: &str) {
        let span = self.cx.span();
        if span.is_recording() {
            span.set_attribute(KeyValue::new("error.type", error_type.to_owned()));
            span.set_status(Status::error(error_type.to_owned()));
        }
        span.end();
    }

    /// Ends the attempt that answered, with what it produced.
    pub fn finish(self, usage: Option<&Usage>, response: &ResponseFacts, error: Option<&str>) {
        let span = self.cx.span();
        if span.is_recording() {
            let mut attributes = Vec::with_capacity(8);
            if let Some(id) = &response.id {
                attributes.push(KeyValue::new("gen_ai.response.id", id.clone()));
            }
            if let Some(model) = &response.model {
                attributes.push(KeyValue::new("gen_ai.response.model", model.clone()));
            }
            if !response.finish_reasons.is_empty() {
                let reasons: Vec<opentelemetry::StringValue> = response
                    .finish_reasons
                    .iter()
                    .map(|r| r.clone().into())
                    .collect();
                attributes.push(KeyValue::new(
                    "gen_ai.response.finish_reasons",
                    opentelemetry::Value::Array(reasons.into()),
                ));
            }
            if let Some(usage) = usage {
                let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
                attributes.extend([
                    KeyValue::new("gen_ai.usage.input_tokens", count(usage.input)),
                    KeyValue::new("gen_ai.usage.output_tokens", count(usage.output)),
                    KeyValue::new("gen_ai.usage.cache_read.input_tokens", count(usage.cached)),
                ]);
            }
            if let Some(error) = error {
                attributes.push(KeyValue::new("error.type", error.to_owned()));
                span.set_status(Status::error(error.to_owned()));
            }
            span.set_attributes(attributes);
        }
        span.end();
    }
}

/// `host:port` → (`host`, port); a bracketed IPv6 literal keeps its brackets off.
fn split_host(server: &str) -> (&str, Option<u16>) {
    match server.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') => match port.parse() {
            Ok(port) => (
                host.trim_start_matches('[').trim_end_matches(']'),
                Some(port),
            ),
            Err(_) => (server, None),
        },
        _ => (server, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_facts_from_openai_and_anthropic_bodies() {
        let cases: [(&str, Option<f64>, Option<&str>); 4] = [
            (
                r#"{"temperature":0.2,"user":"u-1"}"#,
                Some(0.2),
                Some("u-1"),
            ),
            (r#"{"safety_identifier":"hash-9"}"#, None, Some("hash-9")),
            (
                r#"{"metadata":{"user_id":"ant-7"},"temperature":1}"#,
                Some(1.0),
                Some("ant-7"),
            ),
            (r#"{"user":5}"#, None, None),
        ];
        for (body, temperature, user) in cases {
            let top = TopLevel::parse(body.as_bytes()).unwrap();
            let facts = RequestFacts::read(&top, Some(9));
            assert_eq!(facts.temperature, temperature, "{body}");
            assert_eq!(facts.end_user.as_deref(), user, "{body}");
            assert_eq!(facts.max_tokens, Some(9));
        }
        let long = format!(r#"{{"user":"{}"}}"#, "é".repeat(100));
        let facts = RequestFacts::read(&TopLevel::parse(long.as_bytes()).unwrap(), None);
        assert!(facts.end_user.unwrap().len() <= MAX_END_USER_BYTES);
    }

    #[test]
    fn response_facts_from_bodies_and_frames() {
        let mut whole = ResponseFacts::default();
        whole.observe(br#"{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-2024","choices":[{"finish_reason":"stop"},{"finish_reason":"length"}]}"#);
        assert_eq!(whole.id.as_deref(), Some("chatcmpl-1"));
        assert_eq!(whole.model.as_deref(), Some("gpt-4o-2024"));
        assert_eq!(whole.finish_reasons, ["stop", "length"]);
        let mut stream = ResponseFacts::default();
        for frame in [
            &br#"event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","model":"claude","stop_reason":null}}"#[..],
            br#"data: {"type":"message_delta","delta":{"stop_reason":"end_turn"}}"#,
            br#"data: {"id":"ignored-later","model":"other"}"#,
        ] {
            stream.observe(frame);
        }
        assert_eq!(stream.id.as_deref(), Some("msg_1"));
        assert_eq!(stream.model.as_deref(), Some("claude"));
        assert_eq!(stream.finish_reasons, ["end_turn"]);
    }

    #[test]
    fn names_follow_the_conventions() {
        assert_eq!(operation_of("chat"), "chat");
        assert_eq!(operation_of("messages"), "chat");
        assert_eq!(operation_of("embeddings"), "embeddings");
        assert_eq!(operation_of("responses"), "responses");
        assert_eq!(operation_of("images/generations"), "other");
        assert_eq!(provider_name(ProviderKind::Azure), "azure.ai.openai");
        assert_eq!(provider_name(ProviderKind::Gemini), "gcp.gemini");
        for (server, want) in [
            ("api.openai.com", ("api.openai.com", None)),
            ("127.0.0.1:8080", ("127.0.0.1", Some(8080))),
            ("[::1]:443", ("::1", Some(443))),
            ("unix", ("unix", None)),
        ] {
            assert_eq!(split_host(server), want);
        }
    }
}
