//! OpenTelemetry traces end to end: a mock collector (the test upstream server, answering OTLP
//! over HTTP) decodes the exported protobuf; the trace runs client → gateway → upstream with one
//! CLIENT span per attempt and the GenAI attributes.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;
use serde_json::json;

use crate::common::client::{self, Via, raw_request};
use crate::common::gateway::Options;
use crate::common::upstream::{self, Canned, Recorded};
use crate::common::{Gateway, Upstream};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

/// Spans exported so far, as they arrive at the collector.
async fn spans(collector: &mut Upstream, want: usize) -> Vec<Span> {
    let mut spans = Vec::new();
    while spans.len() < want {
        let export = collector.wait_request().await;
        assert_eq!(export.path, "/v1/traces");
        assert_eq!(
            export.header("content-type"),
            Some("application/x-protobuf")
        );
        let request = ExportTraceServiceRequest::decode(export.body.as_ref()).unwrap();
        for resource in request.resource_spans {
            let service = resource
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| kv.value.clone());
            assert_eq!(
                service.and_then(|v| v.value),
                Some(Any::StringValue("gw-test".into()))
            );
            spans.extend(resource.scope_spans.into_iter().flat_map(|s| s.spans));
        }
    }
    spans
}

fn attributes(span: &Span) -> HashMap<String, Any> {
    span.attributes
        .iter()
        .filter_map(|kv| Some((kv.key.clone(), kv.value.clone()?.value?)))
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn traced_gateway(collector: &Upstream, upstream: &Upstream) -> Gateway {
    Gateway::start_with(
        &format!(
            "providers:\n  - {{name: p, base_url: '{}'}}\nmodels:\n  - name: m\n    strategy: round_robin\n    deployments: [{{provider: p, model: up-a}}, {{provider: p, model: up-b}}]\nrouting:\n  retry_backoff: {{initial: 10ms, max: 1s}}\ntelemetry:\n  otlp_endpoint: 'http://{}'\n  service_name: gw-test\n",
            upstream.base_url(),
            collector.addr
        ),
        Options {
            env: vec![("OTEL_BSP_SCHEDULE_DELAY", "20".to_owned())],
            ..Options::default()
        },
    )
    .await
}

#[tokio::test]
async fn one_trace_runs_from_the_client_through_every_attempt_to_the_upstream() {
    let mut collector = Upstream::start(|_| Canned::Json(200, json!({}))).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let upstream = Upstream::start(move |r: &Recorded| {
        if counter.fetch_add(1, Ordering::SeqCst) == 0 {
            return Canned::Json(
                500,
                json!({"error": {"message": "boom", "type": "server_error"}}),
            );
        }
        Canned::Json(
            200,
            upstream::chat_completion(r.json()["model"].as_str().unwrap(), "hi", 7, 3),
        )
    })
    .await;
    let mut gw = traced_gateway(&collector, &upstream).await;
    let body = json!({"model": "m", "max_tokens": 50, "temperature": 0.3, "user": "u-42",
        "messages": [{"role": "user", "content": "hello"}]});
    let mut request = raw_request("POST", "/v1/chat/completions", body.to_string().into());
    request.headers_mut().insert(
        "traceparent",
        format!("00-{TRACE_ID}-{CLIENT_SPAN}-01").parse().unwrap(),
    );
    let reply = client::call(&Via::Unix(gw.unix.clone()), request).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("x-llm-attempts"), Some("2"));

    let spans = spans(&mut collector, 3).await;
    assert!(
        spans.iter().all(|s| hex(&s.trace_id) == TRACE_ID),
        "one trace"
    );
    let server = spans
        .iter()
        .find(|s| s.kind == SpanKind::Server as i32)
        .unwrap();
    assert_eq!(server.name, "POST /v1/chat/completions");
    assert_eq!(hex(&server.parent_span_id), CLIENT_SPAN);
    let mut attempts: Vec<&Span> = spans
        .iter()
        .filter(|s| s.kind == SpanKind::Client as i32)
        .collect();
    attempts.sort_by_key(|s| s.start_time_unix_nano);
    assert_eq!(attempts.len(), 2, "one span per attempt");
    for attempt in &attempts {
        assert_eq!(attempt.parent_span_id, server.span_id);
        assert!(attempt.name.starts_with("chat up-"), "{}", attempt.name);
    }
    let (failed, answered) = (attributes(attempts[0]), attributes(attempts[1]));
    assert_eq!(
        failed.get("error.type"),
        Some(&Any::StringValue("5xx".into()))
    );
    let expect = [
        ("gen_ai.operation.name", Any::StringValue("chat".into())),
        ("gen_ai.provider.name", Any::StringValue("openai".into())),
        ("gen_ai.request.max_tokens", Any::IntValue(50)),
        ("gen_ai.request.temperature", Any::DoubleValue(0.3)),
        ("gen_ai.request.stream", Any::BoolValue(false)),
        (
            "gen_ai.response.id",
            Any::StringValue("chatcmpl-test".into()),
        ),
        ("gen_ai.usage.input_tokens", Any::IntValue(7)),
        ("gen_ai.usage.output_tokens", Any::IntValue(3)),
        ("server.address", Any::StringValue("127.0.0.1".into())),
    ];
    for (key, value) in expect {
        assert_eq!(answered.get(key), Some(&value), "{key} in {answered:?}");
    }
    assert!(
        matches!(answered.get("gen_ai.response.finish_reasons"), Some(Any::ArrayValue(a)) if a.values.len() == 1)
    );

    // Each upstream request carried its own attempt span as parent, in the client's trace.
    let seen = upstream.requests.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    for (request, attempt) in seen.iter().zip(&attempts) {
        let parent = request.header("traceparent").unwrap();
        assert_eq!(
            parent,
            format!("00-{TRACE_ID}-{}-01", hex(&attempt.span_id))
        );
    }
    // The request's line is written by the log thread: wait for it rather than race it.
    gw.wait_log(&format!("\"trace_id\":\"{TRACE_ID}\"")).await;
}

#[tokio::test]
async fn a_streamed_answer_marks_its_first_chunk_on_the_attempt_span() {
    let mut collector = Upstream::start(|_| Canned::Json(200, json!({}))).await;
    let upstream = Upstream::start(|_: &Recorded| {
        Canned::Sse(
            upstream::chat_stream(&["a", "b"], Some((4, 2))),
            Duration::ZERO,
        )
    })
    .await;
    let gw = traced_gateway(&collector, &upstream).await;
    let reply = client::post(
        &Via::Tcp(gw.tcp),
        "/v1/chat/completions",
        &crate::common::chat_body("m", true),
    )
    .await;
    assert_eq!(reply.status, 200);
    let spans = spans(&mut collector, 2).await;
    let attempt = spans
        .iter()
        .find(|s| s.kind == SpanKind::Client as i32)
        .unwrap();
    assert!(
        attempt
            .events
            .iter()
            .any(|e| e.name == "gen_ai.first_chunk")
    );
    let attrs = attributes(attempt);
    assert_eq!(
        attrs.get("gen_ai.request.stream"),
        Some(&Any::BoolValue(true))
    );
    assert_eq!(
        attrs.get("gen_ai.usage.output_tokens"),
        Some(&Any::IntValue(2))
    );
    assert!(
        matches!(attrs.get("gen_ai.response.finish_reasons"), Some(Any::ArrayValue(a)) if a.values.len() == 1),
        "{attrs:?}"
    );
}
