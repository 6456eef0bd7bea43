//! Listeners and connections: TCP and Unix-socket accept loops (stale-socket replacement, file
//! mode, removal on exit), HTTP/1.1 and h2c on each connection, and graceful close on drain.
//! Knows nothing about providers.

pub mod io;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// Who is on the other end of a connection; inserted into every request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnInfo {
    /// A TCP peer.
    Tcp {
        /// Its address.
        peer: std::net::SocketAddr,
    },
    /// A Unix-socket peer with its kernel-verified credentials.
    Unix {
        /// Peer user id.
        uid: u32,
        /// Peer group id.
        gid: u32,
    },
}

/// Per-connection HTTP settings.
#[derive(Debug, Clone, Copy)]
pub struct ConnSettings {
    /// Bound on receiving request headers.
    pub header_timeout: Duration,
    /// Bound on one blocked write.
    pub write_timeout: Duration,
}

/// Where each new connection reads its settings (they follow config reloads).
pub type SettingsSource = Arc<dyn Fn() -> ConnSettings + Send + Sync>;

/// A set of accept loops and the connections they spawned, stopped together.
#[derive(Clone)]
pub struct Server {
    connections: TaskTracker,
    stop_accepting: CancellationToken,
    close_connections: CancellationToken,
    settings: SettingsSource,
}

impl Server {
    /// An empty server whose connections take their settings from `settings`.
    pub fn new(settings: SettingsSource) -> Self {
        Self {
            connections: TaskTracker::new(),
            stop_accepting: CancellationToken::new(),
            close_connections: CancellationToken::new(),
            settings,
        }
    }

    /// Serves `app` on a TCP listener until [`Server::stop_accepting`].
    pub fn serve_tcp(&self, listener: TcpListener, app: Router) {
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = this.stop_accepting.cancelled() => break,
                    accepted = listener.accept() => accepted,
                };
                match accepted {
                    Ok((stream, peer)) => {
                        // Latency matters more than packet count for API calls and SSE.
                        let _ = stream.set_nodelay(true);
                        this.spawn_connection(stream, ConnInfo::Tcp { peer }, app.clone());
                    }
                    Err(e) => accept_error(&e).await,
                }
            }
        });
    }

    /// Serves `app` on a Unix listener until [`Server::stop_accepting`].
    pub fn serve_unix(&self, listener: UnixListener, app: Router) {
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = this.stop_accepting.cancelled() => break,
                    accepted = listener.accept() => accepted,
                };
                match accepted {
                    Ok((stream, _)) => {
                        let Some(info) = unix_peer(&stream) else {
                            continue;
                        };
                        this.spawn_connection(stream, info, app.clone());
                    }
                    Err(e) => accept_error(&e).await,
                }
            }
        });
    }

    fn spawn_connection<S>(&self, stream: S, info: ConnInfo, app: Router)
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let settings = (self.settings)();
        let close = self.close_connections.clone();
        self.connections.spawn(async move {
            let io = TokioIo::new(io::WriteTimeout::new(stream, settings.write_timeout));
            let service =
                hyper::service::service_fn(move |mut request: http::Request<Incoming>| {
                    request.extensions_mut().insert(info);
                    app.clone().oneshot(request.map(axum::body::Body::new))
                });
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(settings.header_timeout);
            builder.http2().timer(TokioTimer::new());
            let connection = builder.serve_connection(io, service);
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                _ = close.cancelled() => {
                    // HTTP/1: finish the response in flight with `Connection: close`;
                    // HTTP/2: GOAWAY. Idle connections close at once.
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }

    /// Stops every accept loop and asks open connections to close after their current request.
    pub fn stop_accepting(&self) {
        self.stop_accepting.cancel();
        self.close_connections.cancel();
        self.connections.close();
    }

    /// Connections still open.
    pub fn open_connections(&self) -> usize {
        self.connections.len()
    }

    /// Resolves when every connection has closed (after [`Server::stop_accepting`]).
    pub async fn wait_closed(&self) {
        self.connections.wait().await;
    }
}

/// Peer credentials of a Unix-socket client (SO_PEERCRED), or `None` when the kernel cannot say.
fn unix_peer(stream: &UnixStream) -> Option<ConnInfo> {
    match stream.peer_cred() {
        Ok(cred) => Some(ConnInfo::Unix {
            uid: cred.uid(),
            gid: cred.gid(),
        }),
        Err(e) => {
            tracing::warn!(error = %e, "could not read unix peer credentials; closing connection");
            None
        }
    }
}

/// Pause after a failed accept (e.g. EMFILE) so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

async fn accept_error(e: &std::io::Error) {
    tracing::warn!(error = %e, "accept failed");
    tokio::time::sleep(ACCEPT_BACKOFF).await;
}

/// Binds the Unix socket at `path`: a stale socket file is replaced, a live one (another
/// process answering) is an error, any other file is left alone and is an error. The mode is
/// applied after binding.
pub async fn bind_unix(path: &Path, mode: u32) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::FileTypeExt;
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket", path.display()),
            ));
        }
        if UnixStream::connect(path).await.is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!("{} is in use by a running process", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(listener)
}

/// Removes the socket file on exit.
pub struct SocketFile(pub PathBuf);

impl Drop for SocketFile {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.0)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.0.display(), error = %e, "could not remove socket file");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stale_sockets_are_replaced_live_ones_and_files_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let live = bind_unix(&path, 0o600).await.unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            bind_unix(&path, 0o600).await.unwrap_err().kind(),
            std::io::ErrorKind::AddrInUse
        );
        drop(live);
        // The file stays behind, nobody answers: stale, replaced.
        assert!(path.exists());
        let _again = bind_unix(&path, 0o660).await.unwrap();
        let file = dir.path().join("plain");
        std::fs::write(&file, "x").unwrap();
        assert!(bind_unix(&file, 0o600).await.is_err());
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");
    }
}
