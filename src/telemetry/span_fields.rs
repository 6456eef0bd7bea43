//! The JSON form of a span's fields, as the JSON log lines show them under `span`. Every request
//! opens a span (its trace and span ids), and tracing-subscriber's own `JsonFields` builds a map
//! of `serde_json::Value`s and serializes it for each one, whether or not a line is ever logged
//! inside it: a fifth of the per-request CPU a log level of `info` added. [`SpanFields`] writes
//! the object straight into the span's buffer instead; lines look the same.

use std::fmt::{self, Write};

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::FormattedFields;
use tracing_subscriber::fmt::format::Writer;

/// Formats span fields as one JSON object (`{"trace_id":"…","span_id":"…"}`).
#[derive(Debug, Clone, Copy, Default)]
pub struct SpanFields;

impl<'w> FormatFields<'w> for SpanFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        writer.write_char('{')?;
        let mut visitor = ObjectWriter::new(&mut writer, true);
        fields.record(&mut visitor);
        visitor.result?;
        writer.write_char('}')
    }

    /// Fields recorded after the span opened join the same object.
    fn add_fields(
        &self,
        current: &'w mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        if current.fields.is_empty() {
            return self.format_fields(current.as_writer(), fields);
        }
        let was_empty = current.fields == "{}";
        current.fields.pop();
        let mut writer = current.as_writer();
        let mut visitor = ObjectWriter::new(&mut writer, was_empty);
        fields.record(&mut visitor);
        visitor.result?;
        writer.write_char('}')
    }
}

/// Writes visited fields as `"name":value` pairs, comma-separated (also the event fields of
/// [`json_log`](super::json_log)'s lines).
pub(super) struct ObjectWriter<'a, 'w> {
    out: &'a mut Writer<'w>,
    first: bool,
    /// The first write error, reported once the fields are visited.
    pub(super) result: fmt::Result,
}

impl<'a, 'w> ObjectWriter<'a, 'w> {
    /// Writes into `out`; `first` says no pair precedes the next one (no comma).
    pub(super) fn new(out: &'a mut Writer<'w>, first: bool) -> Self {
        Self {
            out,
            first,
            result: Ok(()),
        }
    }

    /// Writes the separator and the key, then `value`'s JSON.
    fn field(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'w>) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        let separator = if self.first { "" } else { "," };
        self.first = false;
        self.result = self
            .out
            .write_str(separator)
            .and_then(|()| write_json_string(self.out, field.name()))
            .and_then(|()| self.out.write_char(':'))
            .and_then(|()| value(self.out));
    }
}

impl Visit for ObjectWriter<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.field(field, |out| write_json_string(out, value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.field(field, |out| write!(out, "{value}"));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.field(field, |out| write!(out, "{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.field(field, |out| write!(out, "{value}"));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        // JSON has no NaN or infinity; serde_json writes those as null too.
        if value.is_finite() {
            self.field(field, |out| write!(out, "{value}"));
        } else {
            self.field(field, |out| out.write_str("null"));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.field(field, |out| {
            out.write_char('"')?;
            write!(Escaping(&mut *out), "{value:?}")?;
            out.write_char('"')
        });
    }
}

/// `text` as a JSON string, quotes included.
pub(super) fn write_json_string(out: &mut impl Write, text: &str) -> fmt::Result {
    out.write_char('"')?;
    Escaping(&mut *out).write_str(text)?;
    out.write_char('"')
}

/// A writer that escapes what passes through it for the inside of a JSON string, copying runs
/// that need no escape whole.
struct Escaping<W>(W);

impl<W: Write> Write for Escaping<W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut start = 0;
        for (at, byte) in text.bytes().enumerate() {
            let escape = match byte {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0..=0x1f => "",
                _ => continue,
            };
            self.0.write_str(&text[start..at])?;
            if escape.is_empty() {
                write!(self.0, "\\u{byte:04x}")?;
            } else {
                self.0.write_str(escape)?;
            }
            start = at + 1;
        }
        self.0.write_str(&text[start..])
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt;

    use super::super::captured::Captured;
    use super::*;

    /// The `span` object of the line logged inside a span made by `open`.
    fn span_of(open: impl FnOnce() -> tracing::Span) -> serde_json::Value {
        let captured = Captured::default();
        let layer = tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .fmt_fields(SpanFields)
            .with_writer(captured.clone());
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            let span = open();
            let _entered = span.enter();
            tracing::info!("inside");
        });
        let line = captured.bytes();
        let line: serde_json::Value = serde_json::from_slice(&line).unwrap();
        line["span"].clone()
    }

    #[test]
    fn span_fields_are_one_json_object_whatever_their_values() {
        let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
        type Case = (
            &'static str,
            Box<dyn FnOnce() -> tracing::Span>,
            serde_json::Value,
        );
        let cases: Vec<Case> = vec![
            (
                "display values",
                Box::new(
                    move || tracing::info_span!("request", %trace_id, span_id = %"00f067aa0ba902b7"),
                ),
                serde_json::json!({"trace_id": trace_id, "span_id": "00f067aa0ba902b7", "name": "request"}),
            ),
            (
                "no fields",
                Box::new(|| tracing::info_span!("bare")),
                serde_json::json!({"name": "bare"}),
            ),
            (
                "text that needs escapes",
                Box::new(|| tracing::info_span!("s", text = "a \"quote\"\n\\ \u{1} é")),
                serde_json::json!({"text": "a \"quote\"\n\\ \u{1} é", "name": "s"}),
            ),
            (
                "debug values are escaped too",
                Box::new(|| tracing::info_span!("s", list = ?vec!["x\"y"])),
                serde_json::json!({"list": "[\"x\\\"y\"]", "name": "s"}),
            ),
            (
                "numbers and booleans stay numbers and booleans",
                Box::new(|| {
                    tracing::info_span!("s", n = 3u64, i = -2i64, f = 0.5, b = true, nan = f64::NAN)
                }),
                serde_json::json!({"n": 3, "i": -2, "f": 0.5, "b": true, "nan": null, "name": "s"}),
            ),
            (
                "fields recorded later join the object",
                Box::new(|| {
                    let span = tracing::info_span!("s", a = 1u64, b = tracing::field::Empty);
                    span.record("b", "late");
                    span
                }),
                serde_json::json!({"a": 1, "b": "late", "name": "s"}),
            ),
            (
                "a field recorded into an empty span",
                Box::new(|| {
                    let span = tracing::info_span!("s", b = tracing::field::Empty);
                    span.record("b", 2u64);
                    span
                }),
                serde_json::json!({"b": 2, "name": "s"}),
            ),
        ];
        for (name, open, want) in cases {
            assert_eq!(span_of(open), want, "{name}");
        }
    }
}
