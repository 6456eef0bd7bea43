//! Listeners and connections: TCP and Unix-socket accept loops (stale-socket replacement, file
//! mode, removal on exit), a cap on open connections per listener set (more are shed as they
//! arrive), HTTP/1.1 and h2c on each connection (`conn`), graceful close on drain and a cut at
//! its deadline. Knows nothing about providers.

mod conn;
pub mod io;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener, UnixStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

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
    /// Bound on receiving a request's headers, and on a new connection's first request (from
    /// its accept, before the protocol is even known).
    pub header_timeout: Duration,
    /// Bound on one blocked write.
    pub write_timeout: Duration,
    /// How long a connection may stay open with no request in flight.
    pub idle_timeout: Duration,
}

/// Where each new connection reads its settings (they follow config reloads).
pub type SettingsSource = Arc<dyn Fn() -> ConnSettings + Send + Sync>;

/// Connections shed because a listener set was at its cap (label `listener`).
pub const CONNECTIONS_SHED: &str = "llm_connections_shed_total";
/// Most connections the admin listener holds: probes and scrapes, never the API's traffic.
pub const ADMIN_MAX_CONNECTIONS: usize = 64;
/// Default most API connections (before the open-file limit is considered).
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Open files kept for everything but client connections: listeners, the log, the usage file,
/// the config watch, Redis, health checks.
const RESERVED_FILES: usize = 64;
/// The least time between two "shedding connections" log lines.
const SHED_LOG_INTERVAL: Duration = Duration::from_secs(1);

/// A set of accept loops and the connections they spawned, stopped together.
#[derive(Clone)]
pub struct Server {
    name: &'static str,
    connections: TaskTracker,
    stop_accepting: CancellationToken,
    close_connections: CancellationToken,
    cut_connections: CancellationToken,
    slots: Arc<Semaphore>,
    max_connections: usize,
    shed: Arc<ShedLog>,
    settings: SettingsSource,
}

impl Server {
    /// An empty server named `name` (in logs and metrics) whose connections take their
    /// settings from `settings`, holding at most `max_connections` open at once.
    pub fn new(name: &'static str, settings: SettingsSource, max_connections: usize) -> Self {
        Self {
            name,
            connections: TaskTracker::new(),
            stop_accepting: CancellationToken::new(),
            close_connections: CancellationToken::new(),
            cut_connections: CancellationToken::new(),
            slots: Arc::new(Semaphore::new(max_connections)),
            max_connections,
            shed: Arc::new(ShedLog::default()),
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
                        let Some(slot) = this.slot() else { continue };
                        // Latency matters more than packet count for API calls and SSE.
                        let _ = stream.set_nodelay(true);
                        this.spawn_connection(stream, ConnInfo::Tcp { peer }, app.clone(), slot);
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
                        let Some(slot) = this.slot() else { continue };
                        let Some(info) = unix_peer(&stream) else {
                            continue;
                        };
                        this.spawn_connection(stream, info, app.clone(), slot);
                    }
                    Err(e) => accept_error(&e).await,
                }
            }
        });
    }

    /// A slot for one more connection, or `None` (and the connection is shed: dropped as it
    /// arrived) when the cap is reached.
    fn slot(&self) -> Option<OwnedSemaphorePermit> {
        let slot = Arc::clone(&self.slots).try_acquire_owned().ok();
        if slot.is_none() {
            metrics::counter!(CONNECTIONS_SHED, "listener" => self.name).increment(1);
            if self.shed.due() {
                tracing::warn!(
                    listener = self.name,
                    max_connections = self.max_connections,
                    "connection limit reached: closing new connections as they arrive (server.max_connections)"
                );
            }
        }
        slot
    }

    fn spawn_connection<S>(
        &self,
        stream: S,
        info: ConnInfo,
        app: Router,
        slot: OwnedSemaphorePermit,
    ) where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let settings = (self.settings)();
        let signals = conn::Signals {
            close: self.close_connections.clone(),
            cut: self.cut_connections.clone(),
        };
        self.connections.spawn(async move {
            conn::serve(stream, info, app, settings, signals).await;
            drop(slot);
        });
    }

    /// Stops every accept loop and asks open connections to close after their current request.
    pub fn stop_accepting(&self) {
        self.stop_accepting.cancel();
        self.close_connections.cancel();
        self.connections.close();
    }

    /// Drops every connection still open (the drain deadline): their requests end at once.
    pub fn cut(&self) {
        self.cut_connections.cancel();
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

/// Rate-limits the "connection limit reached" log line (a flood would otherwise log per
/// connection).
#[derive(Default)]
struct ShedLog {
    /// When the line was last written, in ms after `epoch` (0: never).
    last_ms: AtomicU64,
    epoch: std::sync::OnceLock<Instant>,
}

impl ShedLog {
    /// Whether the line is due now (and marks it written).
    fn due(&self) -> bool {
        let epoch = *self.epoch.get_or_init(Instant::now);
        let now_ms = u64::try_from(epoch.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        let last = self.last_ms.load(Ordering::Relaxed);
        let interval = u64::try_from(SHED_LOG_INTERVAL.as_millis()).unwrap_or(u64::MAX);
        (last == 0 || now_ms.saturating_sub(last) >= interval)
            && self
                .last_ms
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

/// The API's connection cap: `configured`, else [`DEFAULT_MAX_CONNECTIONS`] lowered to what the
/// open-file limit holds (each client connection may hold an upstream one, and
/// [`RESERVED_FILES`] stay for the rest). Returns the cap and, when `configured` is above what
/// the limit holds, that limit (for a warning).
pub fn connection_cap(configured: Option<usize>) -> (usize, Option<usize>) {
    let fits = open_file_limit().map(|files| (files.saturating_sub(RESERVED_FILES) / 2).max(1));
    match configured {
        Some(cap) => (cap, fits.filter(|&fits| cap > fits)),
        None => (
            fits.map_or(DEFAULT_MAX_CONNECTIONS, |fits| {
                fits.min(DEFAULT_MAX_CONNECTIONS)
            }),
            None,
        ),
    }
}

/// The soft limit on open files (`RLIMIT_NOFILE`), read from `/proc/self/limits` (no libc
/// call needed); `None` when it cannot be read or is unlimited.
fn open_file_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    parse_open_file_limit(&limits)
}

fn parse_open_file_limit(limits: &str) -> Option<usize> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Pause after a failed accept (e.g. EMFILE) so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

async fn accept_error(e: &std::io::Error) {
    tracing::warn!(error = %e, "accept failed");
    tokio::time::sleep(ACCEPT_BACKOFF).await;
}

/// Binds the Unix socket at `path`: a stale socket file is replaced, a live one (another
/// process answering) is an error, any other file is left alone and is an error. The socket is
/// bound in a private directory (mode 0700) beside `path`, given its mode there, and renamed
/// into place: it never exists at `path` with the process umask's looser mode, so there is no
/// window in which a process the mode excludes could connect.
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
    let parent = match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => {
            std::fs::create_dir_all(parent)?;
            parent
        }
        None => Path::new("."),
    };
    let staging = Staging::create(parent, path)?;
    let staged = staging.0.join(STAGED_SOCKET);
    let listener = UnixListener::bind(&staged)?;
    std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(mode))?;
    std::fs::rename(&staged, path)?;
    Ok(listener)
}

/// Name of the socket inside its staging directory.
const STAGED_SOCKET: &str = "s";

/// A private directory the socket is bound in before it is moved to its path; removed on drop.
struct Staging(PathBuf);

impl Staging {
    /// `.{socket name}.{pid}.bind` in `parent`, mode 0700. One left behind by a process that
    /// died with the same pid (pid 1 in every container) is removed first.
    fn create(parent: &Path, socket: &Path) -> std::io::Result<Self> {
        use std::os::unix::fs::DirBuilderExt;
        let name = socket.file_name().unwrap_or_default().to_string_lossy();
        let dir = parent.join(format!(".{name}.{}.bind", std::process::id()));
        if std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
        Ok(Self(dir))
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
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

    #[test]
    fn the_open_file_limit_sizes_the_default_cap() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \nMax cpu time              unlimited            unlimited            seconds   \nMax open files            256                  524288               files     \n";
        assert_eq!(parse_open_file_limit(limits), Some(256));
        assert_eq!(
            parse_open_file_limit("Max open files unlimited unlimited files\n"),
            None
        );
        assert_eq!(parse_open_file_limit(""), None);
        let (cap, _) = connection_cap(Some(10));
        assert_eq!(cap, 10);
        let (cap, over) = connection_cap(None);
        assert!((1..=DEFAULT_MAX_CONNECTIONS).contains(&cap));
        assert_eq!(over, None);
    }

    #[test]
    fn the_shed_log_is_rate_limited() {
        let log = ShedLog::default();
        assert!(log.due());
        assert!(!log.due(), "a second line within the interval is not due");
    }

    #[tokio::test]
    async fn the_socket_appears_with_its_mode_and_answers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mode.sock");
        let listener = bind_unix(&path, 0o600).await.unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // Moved into place, it still accepts; no staging directory is left behind.
        let client = UnixStream::connect(&path).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        assert_eq!(
            server.peer_cred().unwrap().uid(),
            client.peer_cred().unwrap().uid()
        );
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["mode.sock"]);
    }
}
