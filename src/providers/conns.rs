//! A provider's own set of plain HTTP/1.1 connections, for upstreams reached without TLS or a
//! proxy: `http://` to a local model server, or a Unix socket. hyper-util's pooled client is
//! built for many hosts and protocols; per request it hashes a pool key, takes a lock on a
//! shared map, and spawns a task that waits for the connection to be free again before it
//! rejoins the pool. One upstream over HTTP/1.1 needs none of that: an idle connection is popped
//! from this set's stack and pushed back by the response body the moment its last byte is read.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::HOST;
use http::{HeaderValue, Request, Response, Uri};
use http_body::{Body, Frame};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;

use super::http::TransportError;
use crate::transport::describe;

/// How long an idle connection is kept (as hyper-util's pool did for these upstreams); a quiet
/// set closes its idle connections within twice this.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Idle connections kept per upstream: after a burst of streams the rest are closed rather
/// than held (each holds a socket and hyper's buffers).
const MAX_IDLE: usize = 256;

/// The `Host` header sent over a Unix socket, where there is no host.
const UNIX_HOST: &str = "localhost";

/// Where the connections go.
enum Target {
    /// `host:port`, resolved on each connect.
    Tcp {
        address: String,
        connect_timeout: Duration,
    },
    /// A Unix socket path.
    Unix(PathBuf),
}

/// One upstream's HTTP/1.1 connections; cheap to clone (the set is shared).
#[derive(Clone)]
pub struct ConnSet(Arc<Inner>);

struct Inner {
    target: Target,
    /// The `Host` header of every request (unless the caller set one, e.g. to sign it).
    host: HeaderValue,
    /// Idle connections, oldest first: reuse takes the newest (its socket is the warmest and
    /// the least likely to have been closed by the upstream's keep-alive timer).
    idle: Mutex<VecDeque<Idle>>,
    /// How long a connection may stay idle.
    idle_timeout: Duration,
    /// Whether a task is closing expired connections (only while some are idle, so a set
    /// nobody uses costs no timer).
    reaping: AtomicBool,
}

struct Idle {
    sender: SendRequest<Full<Bytes>>,
    since: Instant,
}

impl ConnSet {
    /// Connections to `address` (`host:port`) over TCP, sending `host` as the `Host` header.
    pub fn tcp(address: String, host: &str, connect_timeout: Duration) -> Result<Self, String> {
        let host = HeaderValue::from_str(host)
            .map_err(|e| format!("invalid upstream host `{host}`: {e}"))?;
        Ok(Self::new(
            Target::Tcp {
                address,
                connect_timeout,
            },
            host,
            IDLE_TIMEOUT,
        ))
    }

    /// Connections to the Unix socket at `path`.
    pub fn unix(path: PathBuf) -> Self {
        Self::new(
            Target::Unix(path),
            HeaderValue::from_static(UNIX_HOST),
            IDLE_TIMEOUT,
        )
    }

    fn new(target: Target, host: HeaderValue, idle_timeout: Duration) -> Self {
        Self(Arc::new(Inner {
            target,
            host,
            idle: Mutex::new(VecDeque::new()),
            idle_timeout,
            reaping: AtomicBool::new(false),
        }))
    }

    /// Sends `request` (its URI absolute or origin-form; only the path and query are sent) on
    /// an idle connection or a new one. A request an idle connection refused before writing it
    /// (the upstream closed the connection meanwhile) is sent again on a new connection.
    pub async fn send(
        &self,
        mut request: Request<Full<Bytes>>,
    ) -> Result<Response<PooledBody>, TransportError> {
        // Origin-form: the path and query only (a shared `Bytes`, not a copy).
        let origin_form = match request.uri().path_and_query() {
            Some(path) => Uri::from(path.clone()),
            None => Uri::from_static("/"),
        };
        *request.uri_mut() = origin_form;
        if !request.headers().contains_key(HOST) {
            request.headers_mut().insert(HOST, self.0.host.clone());
        }
        let (mut sender, reused) = match self.checkout().await {
            Some(sender) => (sender, true),
            None => (self.connect().await?, false),
        };
        let response = match sender.try_send_request(request).await {
            Ok(response) => response,
            Err(mut refused) => match refused.take_message() {
                Some(request) if reused => {
                    sender = self.connect().await?;
                    sender
                        .send_request(request)
                        .await
                        .map_err(|e| TransportError(describe(&e)))?
                }
                _ => return Err(TransportError(describe(refused.error()))),
            },
        };
        let set = self.clone();
        Ok(response.map(|body| PooledBody {
            body,
            sender: Some(sender),
            set,
        }))
    }

    /// The newest idle connection that is still open, once it is ready for a request. hyper may
    /// still be finishing the previous exchange when its body has ended: that takes one poll.
    async fn checkout(&self) -> Option<SendRequest<Full<Bytes>>> {
        loop {
            let mut idle = {
                let mut idle = self.lock();
                expire(&mut idle, Instant::now(), self.0.idle_timeout);
                idle.pop_back()?
            };
            if idle.sender.is_ready() || idle.sender.ready().await.is_ok() {
                return Some(idle.sender);
            }
        }
    }

    /// Puts a connection whose exchange has ended back for the next request.
    fn checkin(&self, sender: SendRequest<Full<Bytes>>) {
        if sender.is_closed() {
            return;
        }
        let now = Instant::now();
        let mut idle = self.lock();
        expire(&mut idle, now, self.0.idle_timeout);
        if idle.len() < MAX_IDLE {
            idle.push_back(Idle { sender, since: now });
        }
        // Under the lock, so the reaper cannot stop between this push and this check.
        if !self.0.reaping.swap(true, Ordering::AcqRel) && !reap(Arc::downgrade(&self.0)) {
            self.0.reaping.store(false, Ordering::Release);
        }
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Idle>> {
        lock(&self.0)
    }

    /// A new connection, its I/O driven by a task of its own until either side closes it.
    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, TransportError> {
        match &self.0.target {
            Target::Tcp {
                address,
                connect_timeout,
            } => {
                let connecting = tokio::net::TcpStream::connect(address.as_str());
                let stream = tokio::time::timeout(*connect_timeout, connecting)
                    .await
                    .map_err(|_| TransportError(format!("tcp connect to {address}: timed out")))?
                    .map_err(|e| TransportError(format!("tcp connect to {address}: {e}")))?;
                // Requests and answers are written whole: no reason to wait for an ACK.
                stream
                    .set_nodelay(true)
                    .map_err(|e| TransportError(format!("tcp connect to {address}: {e}")))?;
                handshake(stream).await
            }
            Target::Unix(path) => {
                let stream = tokio::net::UnixStream::connect(path)
                    .await
                    .map_err(|e| TransportError(format!("unix socket {}: {e}", path.display())))?;
                handshake(stream).await
            }
        }
    }
}

fn lock(inner: &Inner) -> MutexGuard<'_, VecDeque<Idle>> {
    // The set holds no invariant a panicking holder could break: take it back.
    inner.idle.lock().unwrap_or_else(|e| e.into_inner())
}

/// Drops the connections idle for longer than `timeout` or closed by the upstream, from the
/// oldest.
fn expire(idle: &mut VecDeque<Idle>, now: Instant, timeout: Duration) {
    while idle
        .front()
        .is_some_and(|conn| now.duration_since(conn.since) > timeout || conn.sender.is_closed())
    {
        idle.pop_front();
    }
}

/// Closes the set's expired connections every idle timeout until none is idle, so a burst's
/// connections (a socket and hyper's buffers each) go when the pod goes quiet, not at its next
/// request. Stops with the set. `false` outside a runtime (a body dropped at shutdown), where
/// no task can run.
fn reap(set: Weak<Inner>) -> bool {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return false;
    };
    runtime.spawn(async move {
        loop {
            let Some(period) = set.upgrade().map(|inner| inner.idle_timeout) else {
                return;
            };
            tokio::time::sleep(period).await;
            let Some(inner) = set.upgrade() else {
                return;
            };
            let mut idle = lock(&inner);
            expire(&mut idle, Instant::now(), inner.idle_timeout);
            if idle.is_empty() {
                inner.reaping.store(false, Ordering::Release);
                return;
            }
        }
    });
    true
}

async fn handshake<S>(stream: S) -> Result<SendRequest<Full<Bytes>>, TransportError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| TransportError(describe(&e)))?;
    // An error here is the connection's end; the request it ended is told by its own future.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// A response body that gives its connection back to the set once the body has ended: a body
/// dropped before its end closes the connection instead (HTTP/1.1 cannot skip the rest).
pub struct PooledBody {
    body: Incoming,
    sender: Option<SendRequest<Full<Bytes>>>,
    set: ConnSet,
}

impl PooledBody {
    fn release(&mut self) {
        if let Some(sender) = self.sender.take() {
            self.set.checkin(sender);
        }
    }
}

impl Body for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => this.release(),
            Poll::Ready(Some(Ok(_))) if this.body.is_end_stream() => this.release(),
            // A broken body is a broken connection.
            Poll::Ready(Some(Err(_))) => this.sender = None,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

impl Drop for PooledBody {
    fn drop(&mut self) {
        // An empty body (a 204, an answer to HEAD) may never be polled.
        if self.body.is_end_stream() {
            self.release();
        }
    }
}

#[cfg(test)]
mod tests;
