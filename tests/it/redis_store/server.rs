//! A real `redis-server` for one test: started on a free port (or a Unix socket) in a temp dir,
//! with persistence off, killed on drop.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use llm_sidecar::config::expand::Secret;

pub use crate::common::free_port;

/// How long a server may take to answer its first PING.
const START_WAIT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(20);
/// Free ports tried before giving up.
const START_ATTEMPTS: usize = 5;

/// Where the server listens.
#[derive(Clone)]
enum Listen {
    Tcp(u16),
    Unix(PathBuf),
}

/// A running `redis-server`.
pub struct RedisServer {
    child: Child,
    listen: Listen,
    password: Option<String>,
    /// Where the server runs (and its socket lives); removed after the server stops.
    _dir: tempfile::TempDir,
}

impl RedisServer {
    /// A server on a free loopback port.
    pub fn start() -> Self {
        // Another test may take the port between our probe and the server's bind: try another.
        for _ in 0..START_ATTEMPTS {
            if let Some(server) = Self::spawn(Listen::Tcp(free_port()), None) {
                return server;
            }
        }
        panic!("redis-server did not start in {START_ATTEMPTS} attempts");
    }

    /// A server on `port` (to restart one where it was).
    pub fn start_on(port: u16) -> Self {
        Self::spawn(Listen::Tcp(port), None)
            .unwrap_or_else(|| panic!("redis-server exited at start: is port {port} taken?"))
    }

    /// A server on a Unix socket that requires `password`.
    pub fn start_unix_with_password(password: &str) -> Self {
        let socket = Listen::Unix(PathBuf::from("redis.sock"));
        Self::spawn(socket, Some(password.to_owned())).expect("redis-server exited at start")
    }

    /// A server on a free loopback port with `extra` arguments, made for each attempt (they may
    /// name another port), whose default user's password is `password`.
    pub fn start_with(extra: impl Fn() -> Vec<String>, password: Option<&str>) -> Self {
        for _ in 0..START_ATTEMPTS {
            let listen = Listen::Tcp(free_port());
            if let Some(server) = Self::spawn_with(listen, password.map(str::to_owned), &extra()) {
                return server;
            }
        }
        panic!("redis-server did not start in {START_ATTEMPTS} attempts");
    }

    /// Starts a server and waits until it answers; `None` when it exited at start.
    fn spawn(listen: Listen, password: Option<String>) -> Option<Self> {
        Self::spawn_with(listen, password, &[])
    }

    /// [`Self::spawn`] with extra arguments.
    fn spawn_with(listen: Listen, password: Option<String>, extra: &[String]) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        // A relative socket path lives in the server's own temp dir.
        let listen = match listen {
            Listen::Unix(name) => Listen::Unix(dir.path().join(name)),
            tcp => tcp,
        };
        let mut command = Command::new("redis-server");
        command.args(["--save", "", "--appendonly", "no", "--bind", "127.0.0.1"]);
        command.arg("--dir").arg(dir.path());
        match &listen {
            Listen::Tcp(port) => command.args(["--port", &port.to_string()]),
            Listen::Unix(path) => command.args(["--port", "0"]).arg("--unixsocket").arg(path),
        };
        if let Some(password) = &password {
            command.args(["--requirepass", password]);
        }
        command.args(extra);
        let child = match command.stdout(Stdio::null()).stderr(Stdio::null()).spawn() {
            Ok(child) => child,
            Err(e) => panic!(
                "cannot run redis-server ({e}): the Redis store tests need it; run `make test`, \
                 which installs redis-server"
            ),
        };
        let mut server = Self {
            child,
            listen,
            password,
            _dir: dir,
        };
        server.wait_until_answering().then_some(server)
    }

    /// Waits until this very server answers (not another test's on the same port); false when
    /// it exited.
    fn wait_until_answering(&mut self) -> bool {
        let deadline = Instant::now() + START_WAIT;
        loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if self.answering_pid() == Some(self.child.id()) {
                return true;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer within {START_WAIT:?}"
            );
            std::thread::sleep(POLL);
        }
    }

    /// The process id of the server answering at our address.
    fn answering_pid(&self) -> Option<u32> {
        let ask = |mut stream: Box<dyn ReadWrite>| {
            let auth = self
                .password
                .as_ref()
                .map_or(String::new(), |p| format!("AUTH {p}\r\n"));
            stream
                .write_all(format!("{auth}INFO server\r\n").as_bytes())
                .ok()?;
            let mut reply = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                let n = stream.read(&mut chunk).ok().filter(|n| *n > 0)?;
                reply.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&reply);
                if let Some(rest) = text.split("process_id:").nth(1)
                    && let Some((pid, _)) = rest.split_once("\r\n")
                {
                    return pid.parse().ok();
                }
            }
        };
        match &self.listen {
            Listen::Tcp(port) => {
                let stream = TcpStream::connect(("127.0.0.1", *port)).ok()?;
                stream.set_read_timeout(Some(START_WAIT)).ok()?;
                ask(Box::new(stream))
            }
            Listen::Unix(path) => {
                let stream = UnixStream::connect(path).ok()?;
                stream.set_read_timeout(Some(START_WAIT)).ok()?;
                ask(Box::new(stream))
            }
        }
    }

    /// The TCP port (panics for a Unix socket server).
    pub fn port(&self) -> u16 {
        match self.listen {
            Listen::Tcp(port) => port,
            Listen::Unix(_) => panic!("a Unix socket server has no port"),
        }
    }

    /// The store URL, with the password when there is one.
    pub fn url(&self) -> Secret {
        let auth = self
            .password
            .as_ref()
            .map_or(String::new(), |p| format!(":{p}@"));
        Secret::new(match &self.listen {
            Listen::Tcp(port) => format!("redis://{auth}127.0.0.1:{port}/0"),
            Listen::Unix(path) => {
                let pass = self
                    .password
                    .as_ref()
                    .map_or(String::new(), |p| format!("?pass={p}"));
                format!("redis+unix://{}{pass}", path.display())
            }
        })
    }

    /// A plain connection, to look at keys.
    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        let client = redis::Client::open(self.url().expose()).unwrap();
        client.get_multiplexed_async_connection().await.unwrap()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}
