//! Streaming shared by all providers: SSE and NDJSON framing, SSE encoding, the per-format
//! translators, and the thin loop that drives a translator over an upstream body as an HTTP
//! response body.

pub mod ndjson;
pub mod openai;
pub mod sniff;
pub mod sse;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use crate::error::GatewayError;
use crate::types::Usage;

/// What a stream produced, for accounting when it ends or is abandoned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Usage reported by the upstream, when it sent any.
    pub usage: Option<Usage>,
    /// Bytes of generated text forwarded (for an estimate when usage never came).
    pub content_bytes: u64,
    /// The upstream finished its stream properly.
    pub done: bool,
    /// The upstream sent an in-band error.
    pub upstream_error: bool,
    /// The gateway ended the stream with an in-band error.
    pub gateway_error: bool,
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

/// Drives a [`Translate`] over an upstream body; ends with an in-band error on failure.
pub struct Translated<B, T> {
    upstream: Option<B>,
    translate: T,
    provider: String,
    ready: VecDeque<Bytes>,
    scratch: Vec<Bytes>,
    first_frame_at: Option<Instant>,
}

impl<B, T> Translated<B, T> {
    /// Wraps `upstream` for `provider` (named in in-band errors).
    pub fn new(upstream: B, translate: T, provider: &str) -> Self {
        Self {
            upstream: Some(upstream),
            translate,
            provider: provider.to_owned(),
            ready: VecDeque::new(),
            scratch: Vec::new(),
            first_frame_at: None,
        }
    }
}

impl<B, T> Translated<B, T>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
    T: Translate,
{
    fn fail(&mut self, error: &GatewayError) {
        self.upstream = None;
        self.translate.on_error(error, &mut self.scratch);
        self.ready.extend(self.scratch.drain(..));
    }

    fn pump(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(upstream) = self.upstream.as_mut() else {
            return Poll::Ready(());
        };
        match ready!(Pin::new(upstream).poll_frame(cx)) {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data()
                    && let Err(fault) = self.translate.on_chunk(data, &mut self.scratch)
                {
                    self.ready.extend(self.scratch.drain(..));
                    self.fail(&fault.to_error(&self.provider));
                }
            }
            Some(Err(e)) => {
                let error = GatewayError::UpstreamProtocol {
                    provider: self.provider.clone(),
                    detail: format!("the stream broke: {e}"),
                };
                self.fail(&error);
            }
            None => {
                self.upstream = None;
                if let Err(fault) = self.translate.on_end(&mut self.scratch) {
                    self.ready.extend(self.scratch.drain(..));
                    self.fail(&fault.to_error(&self.provider));
                }
            }
        }
        self.ready.extend(self.scratch.drain(..));
        Poll::Ready(())
    }
}

impl<B, T> Body for Translated<B, T>
where
    B: Body<Data = Bytes> + Send + Unpin,
    B::Error: std::fmt::Display,
    T: Translate,
{
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        loop {
            if let Some(bytes) = self.ready.pop_front() {
                self.first_frame_at.get_or_insert_with(Instant::now);
                return Poll::Ready(Some(Ok(Frame::data(bytes))));
            }
            if self.upstream.is_none() {
                return Poll::Ready(None);
            }
            ready!(self.pump(cx));
        }
    }

    fn is_end_stream(&self) -> bool {
        self.upstream.is_none() && self.ready.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

impl<B, T> ClientStream for Translated<B, T>
where
    B: Body<Data = Bytes> + Send + Unpin,
    B::Error: std::fmt::Display,
    T: Translate,
{
    fn tally(&self) -> &Tally {
        self.translate.tally()
    }

    fn first_frame_at(&self) -> Option<Instant> {
        self.first_frame_at
    }
}
