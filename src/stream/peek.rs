//! Reading a stream's first frame before the response is committed. Until then nothing has gone
//! to the client, so an upstream that fails (or says nothing within the time-to-first-token
//! bound) can still be failed over; afterwards the stream is spliced back whole.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;

use super::{ClientStream, Tally};
use crate::error::GatewayError;

/// A stream with its first frame already read.
pub struct Peeked {
    first: Option<Bytes>,
    inner: Box<dyn ClientStream>,
}

/// Waits for the stream's first frame (the caller bounds the wait): a stream that ends or
/// reports an error before it produced anything is an error the caller may fail over on.
pub async fn peek(
    mut stream: Box<dyn ClientStream>,
    provider: &str,
) -> Result<Box<dyn ClientStream>, GatewayError> {
    let first = match stream.frame().await {
        Some(Ok(frame)) => frame.into_data().unwrap_or_default(),
        None | Some(Err(_)) => Bytes::new(),
    };
    let tally = stream.tally();
    if first.is_empty() || tally.upstream_error || tally.gateway_error {
        return Err(GatewayError::UpstreamProtocol {
            provider: provider.to_owned(),
            detail: "the stream failed before its first chunk".to_owned(),
        });
    }
    Ok(Box::new(Peeked {
        first: Some(first),
        inner: stream,
    }))
}

impl Body for Peeked {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(Frame::data(first))));
        }
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.first.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

impl ClientStream for Peeked {
    fn tally(&self) -> &Tally {
        self.inner.tally()
    }

    fn first_frame_at(&self) -> Option<Instant> {
        self.inner.first_frame_at()
    }
}
