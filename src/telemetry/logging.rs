//! Log setup: JSON (default) or text lines, level from `RUST_LOG` or `logging.level`, changeable
//! at runtime through a reload handle. Every formatted line passes through the process-wide
//! [`redact`] pass on its way to stdout, the only place logs are written, through the
//! [`logsink`](super::logsink) writer thread.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use tracing::Metadata;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, fmt, reload};

use super::redact::{self, Redactor};
use crate::config::schema::LogFormat;

/// Changes the log filter of the running process.
#[derive(Clone)]
pub struct LogControl {
    handle: reload::Handle<EnvFilter, Registry>,
    from_env: bool,
}

impl LogControl {
    /// Applies the config's `level` unless `RUST_LOG` pinned the filter at start.
    pub fn set_level(&self, level: &str) -> Result<(), String> {
        if self.from_env {
            return Ok(());
        }
        self.force_level(level)
    }

    /// Applies `filter` (a level or a `RUST_LOG`-style directive list) whatever set the current
    /// one: an operator's explicit change (`PUT /admin/log-level`).
    pub fn force_level(&self, filter: &str) -> Result<(), String> {
        let filter = EnvFilter::try_new(filter).map_err(|e| e.to_string())?;
        self.handle.reload(filter).map_err(|e| e.to_string())
    }

    /// The filter in force, as `RUST_LOG` would spell it.
    pub fn current(&self) -> String {
        self.handle
            .with_current(ToString::to_string)
            .unwrap_or_default()
    }
}

/// Whether log lines are JSON (set once by [`init`]).
static JSON_LINES: AtomicBool = AtomicBool::new(false);

/// Whether the process logs JSON lines, which code writing its own lines must match.
pub fn writes_json() -> bool {
    JSON_LINES.load(Ordering::Relaxed)
}

/// Installs the global subscriber. `RUST_LOG`, when set, wins over `level`.
pub fn init(format: LogFormat, level: &str) -> LogControl {
    let env = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let from_env = env.is_some();
    let filter = env
        .and_then(|v| EnvFilter::try_new(v).ok())
        .or_else(|| EnvFilter::try_new(level).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let (filter, handle) = reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
    JSON_LINES.store(format == LogFormat::Json, Ordering::Relaxed);
    let stdout = Redacting::new(super::logsink::QueuedStdout, redact::global());
    let result = match format {
        LogFormat::Json => registry.with(json_layer(stdout)).try_init(),
        LogFormat::Text => registry.with(text_layer(stdout)).try_init(),
    };
    // A second init (tests) keeps the first subscriber; nothing else can fail here.
    drop(result);
    LogControl { handle, from_env }
}

/// Writes a whole line formatted outside tracing (the usage record) to the log, through the same
/// redaction and writer thread as every other line.
pub fn write_line(line: &[u8]) {
    let stdout = Redacting::new(super::logsink::QueuedStdout, redact::global());
    // The queue cannot fail but through stdout itself, which has nowhere to report to.
    let _ = stdout.make_writer().write_all(line);
}

/// The JSON line format: one flat object per event ([`json_log`](super::json_log)).
fn json_layer<S, W>(writer: W) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    fmt::layer()
        .fmt_fields(super::span_fields::SpanFields)
        .event_format(super::json_log::JsonLines)
        .with_writer(writer)
}

/// The human-readable line format.
fn text_layer<S, W>(writer: W) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    fmt::layer().with_ansi(false).with_writer(writer)
}

/// A [`MakeWriter`] whose writers redact what they are given before passing it on.
///
/// The fmt layer formats each event into one buffer and hands it over with a single
/// `write_all`, so each `write` call sees one whole line: a pattern cannot be split between
/// two calls.
pub struct Redacting<M> {
    inner: M,
    redactor: &'static Redactor,
}

impl<M> Redacting<M> {
    /// Wraps `inner`, redacting with `redactor`.
    pub fn new(inner: M, redactor: &'static Redactor) -> Self {
        Self { inner, redactor }
    }
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Redacting<M> {
    type Writer = RedactingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter {
            inner: self.inner.make_writer(),
            redactor: self.redactor,
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        RedactingWriter {
            inner: self.inner.make_writer_for(meta),
            redactor: self.redactor,
        }
    }
}

/// The writer [`Redacting`] makes: redacts each buffer, then writes it whole to `inner`.
pub struct RedactingWriter<W> {
    inner: W,
    redactor: &'static Redactor,
}

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let redacted = self.redactor.redact_bytes(buf);
        self.inner.write_all(&redacted)?;
        // The caller's bytes were all consumed, whatever length the masked text has.
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::super::captured::Captured;
    use super::*;

    fn redactor() -> &'static Redactor {
        Box::leak(Box::new(Redactor::new(["configured-secret-42"], true)))
    }

    fn emit() {
        tracing::info!(
            api_key = "configured-secret-42",
            header = "authorization: Bearer abcdef0123456789",
            user = "jane@example.com",
            latency_ms = 12.5,
            "sent to jane@example.com"
        );
    }

    #[test]
    fn json_lines_are_redacted_and_stay_json() {
        let out = Captured::default();
        let subscriber = tracing_subscriber::registry()
            .with(json_layer(Redacting::new(out.clone(), redactor())));
        tracing::subscriber::with_default(subscriber, emit);
        let text = out.text();
        let line: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(line["api_key"], "***", "{text}");
        assert_eq!(line["header"], "authorization: Bearer ***", "{text}");
        assert_eq!(line["user"], "[email]", "{text}");
        assert_eq!(line["message"], "sent to [email]", "{text}");
        assert_eq!(line["latency_ms"], 12.5, "{text}");
    }

    #[test]
    fn text_lines_are_redacted() {
        let out = Captured::default();
        let subscriber = tracing_subscriber::registry()
            .with(text_layer(Redacting::new(out.clone(), redactor())));
        tracing::subscriber::with_default(subscriber, emit);
        let text = out.text();
        assert!(text.contains("sent to [email]"), "{text}");
        assert!(text.contains("api_key=\"***\""), "{text}");
        assert!(text.contains("Bearer ***"), "{text}");
        for leaked in ["configured-secret-42", "abcdef0123456789", "jane@"] {
            assert!(!text.contains(leaked), "{leaked} in {text}");
        }
    }
}
