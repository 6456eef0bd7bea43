//! The one async loop every stream goes through: polls the upstream body, hands each chunk to a
//! pure [`Translate`], and yields the client-format frames; ends with an in-band error when the
//! upstream breaks, misbehaves, or stays silent longer than the idle bound.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::Sleep;

use super::{ClientStream, Tally, Translate};
use crate::error::GatewayError;

/// What one poll of the upstream body gives: a frame, an error, or the end (`None`).
type UpstreamFrame<B> = Option<Result<Frame<Bytes>, <B as Body>::Error>>;

/// The longest silence allowed between two upstream chunks.
struct Idle {
    limit: Duration,
    // Boxed once per stream and re-armed in place, not re-allocated per chunk.
    timer: Pin<Box<Sleep>>,
    armed: bool,
}

/// Drives a [`Translate`] over an upstream body; ends with an in-band error on failure.
pub struct Translated<B, T> {
    upstream: Option<B>,
    translate: T,
    provider: String,
    ready: VecDeque<Bytes>,
    scratch: Vec<Bytes>,
    first_frame_at: Option<Instant>,
    idle: Option<Idle>,
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
            idle: None,
        }
    }

    /// Ends the stream with an in-band timeout error when the upstream sends nothing for `limit`
    /// (`providers[].stream_idle_timeout`). Time spent waiting for the client to read does not
    /// count: the upstream is only polled when the client wants more.
    pub fn with_idle_timeout(mut self, limit: Duration) -> Self {
        self.idle = Some(Idle {
            limit,
            timer: Box::pin(tokio::time::sleep(limit)),
            armed: false,
        });
        self
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

    /// Polls the upstream once the idle bound allows; `Ready(None)` means the bound expired.
    fn poll_upstream(&mut self, cx: &mut Context<'_>) -> Poll<Option<UpstreamFrame<B>>> {
        let Some(upstream) = self.upstream.as_mut() else {
            return Poll::Ready(Some(None));
        };
        match Pin::new(upstream).poll_frame(cx) {
            Poll::Ready(frame) => {
                if let Some(idle) = self.idle.as_mut() {
                    idle.armed = false;
                }
                Poll::Ready(Some(frame))
            }
            Poll::Pending => {
                let Some(idle) = self.idle.as_mut() else {
                    return Poll::Pending;
                };
                if !idle.armed {
                    idle.timer
                        .as_mut()
                        .reset(tokio::time::Instant::now() + idle.limit);
                    idle.armed = true;
                }
                ready!(idle.timer.as_mut().poll(cx));
                Poll::Ready(None)
            }
        }
    }

    fn pump(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.upstream.is_none() {
            return Poll::Ready(());
        }
        let Some(frame) = ready!(self.poll_upstream(cx)) else {
            let after = self.idle.as_ref().map_or(Duration::ZERO, |i| i.limit);
            let error = GatewayError::UpstreamTimeout {
                provider: self.provider.clone(),
                after,
            };
            self.fail(&error);
            return Poll::Ready(());
        };
        match frame {
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
