//! The JSON log line: `{"timestamp":…,"level":…,<the event's fields>,"target":…,"span":{…}}`, the
//! shape tracing-subscriber's own JSON format gives (event flattened, current span), written
//! straight into the line's buffer.
//!
//! A request's trace and span ids come from a task-local the tracing middleware sets
//! ([`in_request`]), not from a tracing span: opening a span per request and entering and
//! leaving it on every poll cost ~4,500 instructions per request, whether or not a line was ever
//! logged inside it (BENCHMARKS.md). Lines inside other spans still show that span's fields.

use std::fmt;
use std::future::Future;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use super::span_fields::{ObjectWriter, write_json_string};
use crate::clock::write_rfc3339_micros;

/// The name a request's ids are shown under (the span that used to carry them).
const REQUEST_SPAN: &str = "request";
/// Bytes of an RFC 3339 timestamp with microseconds.
const TIMESTAMP_LEN: usize = 27;

/// The ids every log line of a request carries.
#[derive(Debug, Clone, Default)]
pub struct RequestIds {
    /// W3C trace id, hex.
    pub trace_id: String,
    /// The request's SERVER span id, hex.
    pub span_id: String,
}

tokio::task_local! {
    static REQUEST: RequestIds;
}

/// Runs `future` with `ids` shown on every line it logs.
pub fn in_request<F: Future>(ids: RequestIds, future: F) -> impl Future<Output = F::Output> {
    REQUEST.scope(ids, future)
}

/// Formats events as JSON lines (see the module doc).
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut timestamp = Vec::with_capacity(TIMESTAMP_LEN);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        write_rfc3339_micros(&mut timestamp, now);
        writer.write_str("{\"timestamp\":\"")?;
        writer.write_str(std::str::from_utf8(&timestamp).unwrap_or_default())?;
        writer.write_str("\",\"level\":\"")?;
        writer.write_str(meta.level().as_str())?;
        writer.write_char('"')?;
        let mut fields = ObjectWriter::new(&mut writer, false);
        event.record(&mut fields);
        fields.result?;
        writer.write_str(",\"target\":")?;
        write_json_string(&mut writer, meta.target())?;
        match REQUEST.try_with(|ids| write_request(&mut writer, ids)) {
            Ok(written) => written?,
            Err(_) => write_current_span(ctx, &mut writer)?,
        }
        writer.write_str("}\n")
    }
}

/// `,"span":{"trace_id":…,"span_id":…,"name":"request"}`, when the request has a trace.
fn write_request(out: &mut Writer<'_>, ids: &RequestIds) -> fmt::Result {
    if ids.trace_id.is_empty() {
        return Ok(());
    }
    out.write_str(",\"span\":{\"trace_id\":")?;
    write_json_string(out, &ids.trace_id)?;
    out.write_str(",\"span_id\":")?;
    write_json_string(out, &ids.span_id)?;
    out.write_str(",\"name\":")?;
    write_json_string(out, REQUEST_SPAN)?;
    out.write_char('}')
}

/// `,"span":{<its fields>,"name":…}` of the current span, when there is one. Its fields were
/// written as a JSON object by `SpanFields` when it opened.
fn write_current_span<S, N>(ctx: &FmtContext<'_, S, N>, out: &mut Writer<'_>) -> fmt::Result
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
{
    let Some(span) = ctx.lookup_current() else {
        return Ok(());
    };
    out.write_str(",\"span\":{")?;
    let extensions = span.extensions();
    let fields = extensions
        .get::<FormattedFields<N>>()
        .map(|f| f.fields.as_str())
        .and_then(|f| f.strip_prefix('{'))
        .and_then(|f| f.strip_suffix('}'))
        .unwrap_or_default();
    if !fields.is_empty() {
        out.write_str(fields)?;
        out.write_char(',')?;
    }
    out.write_str("\"name\":")?;
    write_json_string(out, span.metadata().name())?;
    out.write_char('}')
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use tracing_subscriber::layer::SubscriberExt;

    use super::super::captured::Captured;
    use super::super::span_fields::SpanFields;
    use super::*;

    /// The line `log` writes, parsed, with its keys in order.
    fn line_of(log: impl FnOnce()) -> (Value, Vec<String>) {
        let captured = Captured::default();
        let layer = tracing_subscriber::fmt::layer()
            .fmt_fields(SpanFields)
            .event_format(JsonLines)
            .with_writer(captured.clone());
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, log);
        let bytes = captured.bytes();
        assert_eq!(bytes.iter().filter(|&&b| b == b'\n').count(), 1);
        assert_eq!(bytes.last(), Some(&b'\n'));
        let line: Value = serde_json::from_slice(&bytes).unwrap();
        let keys = line.as_object().unwrap().keys().cloned().collect();
        (line, keys)
    }

    fn ids() -> RequestIds {
        RequestIds {
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
            span_id: "00f067aa0ba902b7".into(),
        }
    }

    fn in_request_now(ids: RequestIds, log: impl FnOnce()) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(in_request(ids, async move { log() }));
    }

    #[test]
    fn lines_have_the_common_shape_and_the_request_s_ids() {
        type Case = (&'static str, Box<dyn FnOnce()>, Option<Value>);
        let cases: Vec<Case> = vec![
            (
                "outside any request",
                Box::new(|| tracing::warn!(attempts = 2u64, "upstream failed")),
                None,
            ),
            (
                "inside a request",
                Box::new(|| {
                    in_request_now(ids(), || tracing::warn!(attempts = 2u64, "upstream failed"))
                }),
                Some(json!({
                    "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
                    "span_id": "00f067aa0ba902b7",
                    "name": "request"
                })),
            ),
            (
                "inside a request without a trace",
                Box::new(|| {
                    in_request_now(RequestIds::default(), || {
                        tracing::warn!(attempts = 2u64, "upstream failed")
                    })
                }),
                None,
            ),
            (
                "inside another span",
                Box::new(|| {
                    let span = tracing::info_span!("reload", generation = 3u64);
                    let _entered = span.enter();
                    tracing::warn!(attempts = 2u64, "upstream failed");
                }),
                Some(json!({"generation": 3, "name": "reload"})),
            ),
        ];
        for (name, log, span) in cases {
            let (line, keys) = line_of(log);
            assert_eq!(
                keys[..5],
                ["timestamp", "level", "message", "attempts", "target"],
                "{name}"
            );
            assert_eq!(line["level"], "WARN", "{name}");
            assert_eq!(line["message"], "upstream failed", "{name}");
            assert_eq!(line["attempts"], 2, "{name}");
            assert_eq!(
                line["target"],
                module_path!(),
                "{name}: the target is the module that logged"
            );
            assert_eq!(line.get("span"), span.as_ref(), "{name}");
            let timestamp = line["timestamp"].as_str().unwrap();
            assert_eq!(timestamp.len(), TIMESTAMP_LEN, "{name}: {timestamp}");
        }
    }

    #[test]
    fn field_values_are_escaped() {
        let (line, _) = line_of(
            || tracing::error!(path = "/a\"b\n", error = %"bad \\ value", "cannot \"serve\""),
        );
        assert_eq!(line["path"], "/a\"b\n");
        assert_eq!(line["error"], "bad \\ value");
        assert_eq!(line["message"], "cannot \"serve\"");
    }
}
