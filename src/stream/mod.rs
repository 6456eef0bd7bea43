//! Streaming shared by all providers: SSE, NDJSON and AWS event-stream framing, SSE encoding,
//! the per-format translators, and the thin loop that drives a translator over an upstream body
//! as an HTTP response body.

pub mod eventstream;
pub mod lenient;
pub mod ndjson;
pub mod openai;
pub mod peek;
pub mod sniff;
pub mod sse;
pub mod translated;

pub use translated::Translated;

use std::convert::Infallible;
use std::time::Instant;

use bytes::Bytes;
use http_body::Body;

use crate::error::GatewayError;
use crate::types::Usage;

/// Bytes of generated text a [`Tally`] keeps to count tokens from when the upstream never
/// reports usage: enough for a stable tokens-per-byte ratio, bounded per stream.
pub const SAMPLE_BYTES: usize = 4096;

/// What a stream produced, for accounting when it ends or is abandoned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Usage reported by the upstream, when it sent any.
    pub usage: Option<Usage>,
    /// Bytes of generated text forwarded (for an estimate when usage never came).
    pub content_bytes: u64,
    /// The first [`SAMPLE_BYTES`] of that text (JSON-escaped where it was read from JSON), for
    /// [`crate::tokens::estimate_scaled`].
    pub sample: Vec<u8>,
    /// The upstream finished its stream properly.
    pub done: bool,
    /// The upstream sent an in-band error.
    pub upstream_error: bool,
    /// The gateway ended the stream with an in-band error.
    pub gateway_error: bool,
}

impl Tally {
    /// Counts generated text forwarded to the client.
    pub fn add_text(&mut self, text: &[u8]) {
        self.content_bytes += text.len() as u64;
        self.sample_text(text);
    }

    /// Keeps `text` in the sample while it has room (the bytes were counted elsewhere).
    pub fn sample_text(&mut self, text: &[u8]) {
        let room = SAMPLE_BYTES.saturating_sub(self.sample.len());
        self.sample.extend_from_slice(&text[..text.len().min(room)]);
    }

    /// Whether the sample still takes text.
    pub fn wants_sample(&self) -> bool {
        self.sample.len() < SAMPLE_BYTES
    }
}

/// Why a stream could not continue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamFault {
    /// The upstream closed before its terminator.
    Truncated,
    /// An event exceeded [`sse::MAX_EVENT_BYTES`] (or a line [`ndjson::MAX_LINE_BYTES`]).
    EventTooLarge,
    /// An event was not the upstream's format (e.g. a line that is not JSON).
    Malformed,
}

impl StreamFault {
    /// The error the client sees in-band.
    pub fn to_error(self, provider: &str) -> GatewayError {
        let detail = match self {
            Self::Truncated => "the stream ended before it was complete",
            Self::EventTooLarge => "a stream event exceeded the size limit",
            Self::Malformed => "a stream event could not be read",
        };
        GatewayError::UpstreamProtocol {
            provider: provider.to_owned(),
            detail: detail.to_owned(),
        }
    }
}

/// A pure stream translator: upstream bytes in, client-format events out. No I/O.
pub trait Translate: Send + Unpin {
    /// Handles one upstream chunk.
    fn on_chunk(&mut self, chunk: Bytes, out: &mut Vec<Bytes>) -> Result<(), StreamFault>;
    /// Handles the upstream's end of stream.
    fn on_end(&mut self, out: &mut Vec<Bytes>) -> Result<(), StreamFault>;
    /// Ends the client stream with an in-band error and the format's proper terminator.
    fn on_error(&mut self, error: &GatewayError, out: &mut Vec<Bytes>);
    /// What has been seen so far.
    fn tally(&self) -> &Tally;
}

/// A client-facing stream body that can report what it produced.
pub trait ClientStream: Body<Data = Bytes, Error = Infallible> + Send + Unpin {
    /// What the stream produced so far.
    fn tally(&self) -> &Tally;
    /// When the first frame went out.
    fn first_frame_at(&self) -> Option<Instant>;
}
