//! Usage records: one structured event per finished request — who (key, team, end user), what
//! (endpoint, model, deployment, attempts), how much (tokens, cost), how it went (latency, TTFT,
//! status) — on the `usage` log target, which is also the access log (one line per request, not
//! two: each line costs formatting and a write on the request's thread), and optionally appended as JSON lines to `logging.usage_file` by a
//! background thread, redacted like every log line. The request path never waits on the file: a
//! full queue drops the record and counts it.

use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::clock::write_rfc3339_micros;

/// Records queued for the file at most (a burst beyond it is dropped, never waited for).
const QUEUE_RECORDS: usize = 4096;
/// How long the writer waits for a record before checking whether it should stop.
const FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// Records dropped because the file writer fell behind.
pub const USAGE_DROPPED: &str = "llm_usage_records_dropped_total";

static SINK: OnceLock<SyncSender<Entry>> = OnceLock::new();

/// Longest wait in [`flush`] for the writer thread (a stuck disk must not hold the exit).
const FLUSH_WAIT: Duration = Duration::from_secs(2);
/// Pause between two tries of [`flush`] to queue its marker behind a full queue.
const FLUSH_RETRY: Duration = Duration::from_millis(5);

/// What the writer thread is handed.
enum Entry {
    /// A record's line.
    Line(Vec<u8>),
    /// Write everything queued before this, then say so.
    Flush(SyncSender<()>),
}

/// One request's usage record.
#[derive(Debug)]
pub struct UsageRecord<'a> {
    /// The id the client got in `x-request-id`.
    pub request_id: &'a str,
    /// Trace id (W3C), when the request had one.
    pub trace_id: Option<&'a str>,
    /// Span id of the request's server span.
    pub span_id: Option<&'a str>,
    /// HTTP method.
    pub method: &'a str,
    /// Request path.
    pub path: &'a str,
    /// API endpoint (`chat`, `embeddings`, `messages`, …).
    pub endpoint: &'a str,
    /// Provider that answered (`none` when the request was not routed).
    pub provider: &'a str,
    /// Whether the client asked for a stream.
    pub stream: bool,
    /// The error's code, when the request failed.
    pub error_code: Option<&'a str>,
    /// Key, peer or `anonymous`/`master`.
    pub key: &'a str,
    /// Team (`none` without one).
    pub team: &'a str,
    /// The end user the client named (`user`, `safety_identifier`, `metadata.user_id`).
    pub end_user: Option<&'a str>,
    /// Client-facing model.
    pub model: &'a str,
    /// `provider/model` that answered.
    pub deployment: Option<&'a str>,
    /// Upstream attempts.
    pub attempts: u32,
    /// Input tokens (cached included).
    pub input_tokens: u64,
    /// Cached input tokens.
    pub cached_tokens: u64,
    /// Generated tokens (reasoning included).
    pub output_tokens: u64,
    /// Whether the tokens are an estimate (the upstream reported none).
    pub tokens_estimated: bool,
    /// Cost in US dollars.
    pub cost_usd: f64,
    /// Start to last byte, in milliseconds.
    pub latency_ms: f64,
    /// Time to the first streamed byte, in milliseconds.
    pub ttft_ms: Option<f64>,
    /// HTTP status sent.
    pub status: u16,
    /// `completed`, `client_closed` or `failed`.
    pub outcome: &'a str,
}

/// What a usage line starts with after its timestamp: the level, message and target every other
/// log line carries, in the same order.
const LINE_FIELDS: &[u8] = br#"","level":"INFO","message":"request finished","target":"usage""#;
/// Room reserved for a usage line: a typical one is 600–700 bytes, and growing the buffer
/// several times cost more than the rest of its serialization.
const LINE_CAPACITY: usize = 1024;
impl UsageRecord<'_> {
    /// Logs the record on the `usage` target and queues it for the file, when one is open.
    ///
    /// In JSON mode the line is serialized once, straight from this struct, for both the log
    /// and the file: it is the one line every request writes, and tracing's JSON formatter
    /// (a visitor per field, then span lookups) cost several times as much.
    pub fn emit(&self) {
        let log = tracing::enabled!(target: "usage", tracing::Level::INFO);
        let file = SINK.get();
        if log && !super::logging::writes_json() {
            self.log_event();
        }
        let log_json = log && super::logging::writes_json();
        if !log_json && file.is_none() {
            return;
        }
        let Some(line) = self.json_line() else {
            return;
        };
        if log_json {
            super::logging::write_line(&line);
        }
        if let Some(sink) = file
            && let Err(TrySendError::Full(_)) = sink.try_send(Entry::Line(line))
        {
            metrics::counter!(USAGE_DROPPED).increment(1);
        }
    }

    /// The record as a tracing event (text log lines).
    fn log_event(&self) {
        tracing::info!(
            target: "usage",
            request_id = self.request_id,
            trace_id = self.trace_id,
            span_id = self.span_id,
            method = self.method,
            path = self.path,
            endpoint = self.endpoint,
            provider = self.provider,
            stream = self.stream,
            error_code = self.error_code,
            key = self.key,
            team = self.team,
            end_user = self.end_user,
            model = self.model,
            deployment = self.deployment,
            attempts = self.attempts,
            input_tokens = self.input_tokens,
            cached_tokens = self.cached_tokens,
            output_tokens = self.output_tokens,
            tokens_estimated = self.tokens_estimated,
            cost_usd = self.cost_usd,
            latency_ms = self.latency_ms,
            ttft_ms = self.ttft_ms,
            status = self.status,
            outcome = self.outcome,
            "request finished"
        );
    }

    /// The record as a JSON line, newline included: the shape of every other log line
    /// (timestamp, level, message, target, then the fields, flattened).
    ///
    /// Written field by field with the names as constant bytes: serde's derived serializer
    /// escaped every name and value byte by byte (~8,000 instructions per request, the largest
    /// single cost of the line).
    fn json_line(&self) -> Option<Vec<u8>> {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let mut line = Vec::with_capacity(LINE_CAPACITY);
        line.extend_from_slice(br#"{"timestamp":""#);
        write_rfc3339_micros(&mut line, since_epoch);
        line.extend_from_slice(LINE_FIELDS);
        self.write_fields(&mut line).ok()?;
        line.extend_from_slice(b"}\n");
        Some(line)
    }

    /// `,"name":value` for every field, in declaration order.
    fn write_fields(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        json::string(out, b"request_id", self.request_id);
        json::optional_string(out, b"trace_id", self.trace_id);
        json::optional_string(out, b"span_id", self.span_id);
        json::string(out, b"method", self.method);
        json::string(out, b"path", self.path);
        json::string(out, b"endpoint", self.endpoint);
        json::string(out, b"provider", self.provider);
        json::value(out, b"stream", &self.stream)?;
        json::optional_string(out, b"error_code", self.error_code);
        json::string(out, b"key", self.key);
        json::string(out, b"team", self.team);
        json::optional_string(out, b"end_user", self.end_user);
        json::string(out, b"model", self.model);
        json::optional_string(out, b"deployment", self.deployment);
        json::value(out, b"attempts", &self.attempts)?;
        json::value(out, b"input_tokens", &self.input_tokens)?;
        json::value(out, b"cached_tokens", &self.cached_tokens)?;
        json::value(out, b"output_tokens", &self.output_tokens)?;
        json::value(out, b"tokens_estimated", &self.tokens_estimated)?;
        json::value(out, b"cost_usd", &self.cost_usd)?;
        json::value(out, b"latency_ms", &self.latency_ms)?;
        json::value(out, b"ttft_ms", &self.ttft_ms)?;
        json::value(out, b"status", &self.status)?;
        json::string(out, b"outcome", self.outcome);
        Ok(())
    }
}

/// Appending the members of a JSON object to bytes.
mod json {
    /// `,"name":` (names are ASCII identifiers: nothing to escape). Inlined, so that each
    /// name is a copy of known length the compiler writes with a few moves: a `memcpy` call
    /// per name cost ~20 ns each on the static build (musl's `memcpy` starts slowly).
    #[inline(always)]
    fn name(out: &mut Vec<u8>, name: &[u8]) {
        out.extend_from_slice(b",\"");
        out.extend_from_slice(name);
        out.extend_from_slice(b"\":");
    }

    /// `,"name":"value"`. Nearly every value needs no escape: one pass that the compiler
    /// vectorizes finds that out, and the value is then copied whole; the rest go through
    /// serde_json's escaper.
    #[inline(always)]
    pub fn string(out: &mut Vec<u8>, field: &[u8], value: &str) {
        name(out, field);
        let plain = !value.bytes().fold(false, |escape, b| {
            escape | (b < 0x20) | (b == b'"') | (b == b'\\')
        });
        if plain {
            out.push(b'"');
            out.extend_from_slice(value.as_bytes());
            out.push(b'"');
        } else {
            // Writing a string into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *out, value);
        }
    }

    /// `,"name":"value"`, or `null` without one.
    #[inline(always)]
    pub fn optional_string(out: &mut Vec<u8>, field: &[u8], value: Option<&str>) {
        match value {
            Some(value) => string(out, field, value),
            None => {
                name(out, field);
                out.extend_from_slice(b"null");
            }
        }
    }

    /// `,"name":value` for numbers, booleans and their options (serde_json's formatting:
    /// shortest round-trip floats, `null` for a float that is not finite).
    #[inline(always)]
    pub fn value(
        out: &mut Vec<u8>,
        field: &[u8],
        value: &impl serde::Serialize,
    ) -> serde_json::Result<()> {
        name(out, field);
        serde_json::to_writer(&mut *out, value)
    }
}

/// Opens `path` for appending and starts the writer thread; records are written from now on.
pub fn open_file(path: &Path) -> std::io::Result<()> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let (tx, rx) = mpsc::sync_channel(QUEUE_RECORDS);
    std::thread::Builder::new()
        .name("usage-file".to_owned())
        .spawn(move || write_loop(file, &rx))?;
    // A second open (tests in one process) keeps the first file.
    let _ = SINK.set(tx);
    Ok(())
}

/// Waits (at most [`FLUSH_WAIT`]) until every record queued so far is in the usage file; for
/// the last moments before the process exits.
pub fn flush() {
    let Some(sink) = SINK.get() else {
        return;
    };
    let deadline = std::time::Instant::now() + FLUSH_WAIT;
    let (done, written) = mpsc::sync_channel(1);
    let mut entry = Entry::Flush(done);
    // A full queue is being written; a blocking send could wait forever on a stuck disk.
    loop {
        match sink.try_send(entry) {
            Ok(()) => break,
            Err(TrySendError::Full(back)) if std::time::Instant::now() < deadline => {
                entry = back;
                std::thread::sleep(FLUSH_RETRY);
            }
            Err(_) => return,
        }
    }
    let _ = written.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()));
}

/// Appends queued records, flushing whenever the queue runs dry (so a record is on disk within
/// moments, and a burst costs one flush).
fn write_loop(file: std::fs::File, rx: &Receiver<Entry>) {
    let mut out = std::io::BufWriter::new(file);
    loop {
        match rx.recv_timeout(FLUSH_INTERVAL) {
            Ok(first) => {
                let mut flushed = Vec::new();
                let written = std::iter::once(first)
                    .chain(std::iter::from_fn(|| rx.try_recv().ok()))
                    .try_for_each(|entry| match entry {
                        // Redacted here, off the request path, like every log line (an end
                        // user id is often an e-mail address).
                        Entry::Line(line) => {
                            out.write_all(&super::redact::global().redact_bytes(&line))
                        }
                        Entry::Flush(done) => {
                            flushed.push(done);
                            Ok(())
                        }
                    })
                    .and_then(|()| out.flush());
                if let Err(e) = written {
                    tracing::warn!(error = %e, "cannot write usage records");
                }
                for done in flushed {
                    let _ = done.try_send(());
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> UsageRecord<'static> {
        UsageRecord {
            request_id: "req-1",
            trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736"),
            span_id: None,
            method: "POST",
            path: "/v1/chat/completions",
            endpoint: "chat",
            provider: "openai",
            stream: false,
            error_code: None,
            key: "team-a-key",
            team: "a",
            end_user: Some("say \"hi\"\n"),
            model: "gpt-4o",
            deployment: Some("openai/gpt-4o"),
            attempts: 1,
            input_tokens: 12,
            cached_tokens: 0,
            output_tokens: 3,
            tokens_estimated: false,
            cost_usd: 0.5,
            latency_ms: 1.25,
            ttft_ms: None,
            status: 200,
            outcome: "completed",
        }
    }

    #[test]
    fn the_line_is_one_flat_json_object_in_the_common_order() {
        let line = record().json_line().unwrap();
        assert_eq!(line.last(), Some(&b'\n'));
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
        let mut object = value.as_object().unwrap().clone();
        let timestamp = object.shift_remove("timestamp").unwrap();
        let timestamp = timestamp.as_str().unwrap();
        assert!(
            crate::clock::unix_from_rfc3339(timestamp).is_some(),
            "{timestamp}"
        );
        let expected = serde_json::json!({
            "level": "INFO", "message": "request finished", "target": "usage",
            "request_id": "req-1", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
            "span_id": null, "method": "POST", "path": "/v1/chat/completions",
            "endpoint": "chat", "provider": "openai", "stream": false, "error_code": null,
            "key": "team-a-key", "team": "a", "end_user": "say \"hi\"\n", "model": "gpt-4o",
            "deployment": "openai/gpt-4o", "attempts": 1, "input_tokens": 12,
            "cached_tokens": 0, "output_tokens": 3, "tokens_estimated": false,
            "cost_usd": 0.5, "latency_ms": 1.25, "ttft_ms": null, "status": 200,
            "outcome": "completed",
        });
        let expected = expected.as_object().unwrap();
        // Same members, in the same order.
        let keys: Vec<&String> = object.keys().collect();
        assert_eq!(keys, expected.keys().collect::<Vec<_>>());
        assert_eq!(&object, expected);
    }

    #[test]
    fn client_controlled_values_are_escaped() {
        let cases = [
            "plain",
            "",
            "quote \" and backslash \\",
            "new\nline\r\ttab",
            "\u{0}\u{1f} control",
            "unicode é 日本 \u{2028} 🦀",
            "</script>",
        ];
        for end_user in cases {
            let line = UsageRecord {
                end_user: Some(end_user),
                model: end_user,
                ttft_ms: Some(f64::NAN),
                ..record()
            }
            .json_line()
            .unwrap();
            assert_eq!(
                line.iter().filter(|&&b| b == b'\n').count(),
                1,
                "{end_user:?}"
            );
            let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
            assert_eq!(value["end_user"], end_user);
            assert_eq!(value["model"], end_user);
            assert_eq!(value["ttft_ms"], serde_json::Value::Null);
        }
    }
}
