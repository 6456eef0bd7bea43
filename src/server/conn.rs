//! One connection's life: HTTP/1.1 or h2c on the stream, bounded in time from the moment it is
//! accepted. A connection that has not sent a whole request within `read_timeout` of its accept
//! (nothing, a byte, only the h2c preface) is dropped; one that stays without a request in
//! flight for `idle_timeout` is closed gracefully; HTTP/2 peers are pinged so a dead one is
//! noticed. The drain closes connections gracefully, and its deadline cuts them.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::{ConnInfo, ConnSettings, io};

/// How often an HTTP/2 connection pings its peer.
const H2_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
/// How long an HTTP/2 ping may go unanswered before the connection is closed.
const H2_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// What ends a connection besides its peer.
pub(super) struct Signals {
    /// Close gracefully: finish the request in flight, then close (the drain).
    pub close: CancellationToken,
    /// Drop at once (the drain deadline).
    pub cut: CancellationToken,
}

/// Serves `app` on `stream` until the peer closes, the connection idles out, or `signals` end it.
pub(super) async fn serve<S>(
    stream: S,
    info: ConnInfo,
    app: Router,
    settings: ConnSettings,
    signals: Signals,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(io::WriteTimeout::new(stream, settings.write_timeout));
    let tracked = Arc::clone(&activity);
    let service = hyper::service::service_fn(move |mut request: http::Request<Incoming>| {
        request.extensions_mut().insert(info);
        let guard = tracked.begin();
        let response = app.clone().oneshot(request.map(axum::body::Body::new));
        async move {
            let response = response.await?;
            Ok::<_, std::convert::Infallible>(response.map(|body| Tracked {
                body,
                _guard: guard,
            }))
        }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(H2_KEEPALIVE_INTERVAL)
        .keep_alive_timeout(H2_KEEPALIVE_TIMEOUT);
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    let idle = activity.idle(settings.header_timeout, settings.idle_timeout);
    tokio::pin!(idle);
    let mut closing = false;
    let result = loop {
        tokio::select! {
            result = connection.as_mut() => break result,
            () = signals.cut.cancelled() => return,
            () = signals.close.cancelled(), if !closing => {
                // HTTP/1: finish the response in flight with `Connection: close`; HTTP/2:
                // GOAWAY. Idle connections close at once.
                connection.as_mut().graceful_shutdown();
                closing = true;
            }
            served = &mut idle, if !closing => {
                if !served {
                    tracing::debug!(?info, "connection sent no request within read_timeout; closed");
                    return;
                }
                connection.as_mut().graceful_shutdown();
                closing = true;
            }
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// Requests a connection has in flight and has served, kept in atomics the request path
/// touches twice per request (no lock, no wake-up of the connection task). Its creation, each
/// request's start and end, and its drop (the connection and its last response body gone) are
/// activity for [`crate::memory`]'s quiet check.
struct Activity {
    accepted: Instant,
    active: AtomicUsize,
    served: AtomicU64,
    /// When the last request ended, in nanoseconds after `accepted`.
    last_end_ns: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        crate::memory::note_activity();
        Self {
            accepted: Instant::now(),
            active: AtomicUsize::new(0),
            served: AtomicU64::new(0),
            last_end_ns: AtomicU64::new(0),
        }
    }

    fn begin(self: &Arc<Self>) -> Active {
        crate::memory::note_activity();
        self.active.fetch_add(1, Ordering::AcqRel);
        self.served.fetch_add(1, Ordering::AcqRel);
        Active(Arc::clone(self))
    }

    /// Resolves when the connection has been quiet too long: no request within `first` of the
    /// accept (resolves `false`), or none in flight for `idle` after the last one ended
    /// (resolves `true`). A timer re-armed at most once per period, not per request.
    async fn idle(&self, first: Duration, idle: Duration) -> bool {
        let mut wake = self.accepted + first.min(idle);
        loop {
            tokio::time::sleep_until(wake).await;
            let now = Instant::now();
            if self.active.load(Ordering::Acquire) > 0 {
                wake = now + idle;
                continue;
            }
            let served = self.served.load(Ordering::Acquire) > 0;
            let due = if served {
                let last_end = Duration::from_nanos(self.last_end_ns.load(Ordering::Acquire));
                self.accepted + last_end + idle
            } else {
                self.accepted + first
            };
            if due <= now {
                return served;
            }
            wake = due;
        }
    }
}

/// A request in flight on its connection, until its response body is done or dropped.
struct Active(Arc<Activity>);

impl Drop for Activity {
    fn drop(&mut self) {
        crate::memory::note_activity();
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        let since = self.0.accepted.elapsed();
        let ns = u64::try_from(since.as_nanos()).unwrap_or(u64::MAX);
        self.0.last_end_ns.fetch_max(ns, Ordering::AcqRel);
        self.0.active.fetch_sub(1, Ordering::AcqRel);
        crate::memory::note_activity();
    }
}

/// A response body that keeps its request counted as in flight until it is done.
struct Tracked<B> {
    body: B,
    _guard: Active,
}

impl<B> Body for Tracked<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_and_its_requests_are_activity_for_the_memory_trim() {
        // Other tests may note activity too, so only floors are asserted: without these
        // notes the counter would not move between the reads.
        let moved = |before: u64| crate::memory::events() > before;
        let before = crate::memory::events();
        let activity = Arc::new(Activity::new());
        assert!(moved(before), "a connection's start");
        let before = crate::memory::events();
        let request = activity.begin();
        assert!(moved(before), "a request's start");
        let before = crate::memory::events();
        drop(request);
        assert!(moved(before), "a request's end");
        let before = crate::memory::events();
        drop(activity);
        assert!(moved(before), "a connection's end");
    }

    #[tokio::test(start_paused = true)]
    async fn idles_out_from_accept_then_from_the_last_request() {
        let first = Duration::from_secs(2);
        let idle = Duration::from_secs(60);
        // Nothing ever arrives: over at `first`, as "never served".
        let activity = Arc::new(Activity::new());
        let start = Instant::now();
        assert!(!activity.idle(first, idle).await);
        assert_eq!(start.elapsed(), first);
        // Served early, then quiet: over `idle` after the request, before `first` would be.
        let activity = Arc::new(Activity::new());
        let idle_short = Duration::from_secs(1);
        let start = Instant::now();
        drop(activity.begin());
        assert!(activity.idle(Duration::from_secs(30), idle_short).await);
        assert_eq!(start.elapsed(), idle_short);
        // A request in flight for 100 s, then quiet: over `idle` after it ended.
        let activity = Arc::new(Activity::new());
        let request = activity.begin();
        let waiter = {
            let activity = Arc::clone(&activity);
            tokio::spawn(async move { activity.idle(first, idle).await })
        };
        tokio::time::sleep(Duration::from_secs(100)).await;
        drop(request);
        let ended = Instant::now();
        assert!(waiter.await.unwrap());
        assert_eq!(ended.elapsed(), idle);
    }
}
