//! Runs the real `llm-sidecar` binary on an ephemeral TCP port and a temp Unix socket, and waits
//! for its "ready" log line (which reports the bound addresses) instead of sleeping.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::WAIT;
use super::hygiene::Forbidden;

/// The gateway binary built by cargo for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_llm-sidecar");

/// A running gateway process.
pub struct Gateway {
    child: Child,
    /// API over TCP.
    pub tcp: SocketAddr,
    /// API over the Unix socket.
    pub unix: PathBuf,
    /// Admin listener, when configured.
    pub admin: Option<SocketAddr>,
    /// Every log line so far.
    pub logs: Arc<Mutex<Vec<String>>>,
    lines: mpsc::UnboundedReceiver<String>,
    /// Threads reading the output; they end when the process closes it.
    readers: Vec<std::thread::JoinHandle<()>>,
    /// What the logs must not contain, checked when the gateway stops.
    forbidden: Forbidden,
    /// Temp directory holding the config and socket.
    pub dir: tempfile::TempDir,
}

/// The `server:` section the harness uses: an ephemeral TCP port and `llm.sock` in `dir`.
pub fn server_yaml(dir: &Path, options: &Options<'_>) -> String {
    let admin = if options.admin {
        "  admin: \"127.0.0.1:0\"\n"
    } else {
        ""
    };
    // Tests stop gateways with SIGTERM (so coverage data is written); no need to linger.
    let drain = if options.server.contains("drain_delay") {
        ""
    } else {
        "  drain_delay: 0s\n"
    };
    format!(
        "server:\n  listen:\n    tcp: \"127.0.0.1:0\"\n    unix: \"{}\"\n{admin}{drain}{}",
        dir.join("llm.sock").display(),
        options.server,
    )
}

/// How to start a gateway.
#[derive(Default)]
pub struct Options<'a> {
    /// Extra `server:` keys (indented two spaces), e.g. `  drain_delay: 100ms\n`.
    pub server: &'a str,
    /// Serve probes on a separate admin listener.
    pub admin: bool,
    /// Extra environment.
    pub env: Vec<(&'a str, String)>,
    /// A limit on the process's open files (`RLIMIT_NOFILE`), set with `prlimit`.
    pub fd_limit: Option<u64>,
}

impl Gateway {
    /// Starts the gateway with `rest` (providers, models, …) appended to a generated `server:`.
    pub async fn start(rest: &str) -> Self {
        Self::start_with(rest, Options::default()).await
    }

    /// Starts the gateway with options.
    pub async fn start_with(rest: &str, options: Options<'_>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let yaml = format!("{}\n{rest}", server_yaml(dir.path(), &options));
        let config = dir.path().join("config.yaml");
        std::fs::write(&config, yaml).unwrap();
        let sock = dir.path().join("llm.sock");
        Self::spawn(dir, &config, sock, options.env, options.fd_limit).await
    }

    /// Starts the gateway on a config file the test wrote itself (its `server:` section from
    /// [`server_yaml`]), e.g. behind Kubernetes-style symlinks.
    pub async fn start_file(
        dir: tempfile::TempDir,
        config: &Path,
        env: Vec<(&str, String)>,
    ) -> Self {
        let sock = dir.path().join("llm.sock");
        Self::spawn(dir, config, sock, env, None).await
    }

    async fn spawn(
        dir: tempfile::TempDir,
        config: &Path,
        sock: PathBuf,
        env: Vec<(&str, String)>,
        fd_limit: Option<u64>,
    ) -> Self {
        // `prlimit` sets the limit on itself and execs the gateway: same process, same pid.
        let mut command = match fd_limit {
            Some(n) => {
                let mut prlimit = Command::new("prlimit");
                prlimit.arg(format!("--nofile={n}:{n}")).arg("--").arg(BIN);
                prlimit
            }
            None => Command::new(BIN),
        };
        command
            .arg("--config")
            .arg(config)
            .env_remove("RUST_LOG")
            .env_remove("OPENAI_API_KEY")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &env {
            command.env(k, v);
        }
        let child = command.spawn().unwrap();
        let mut gateway = Self::attach(child, dir, sock);
        gateway.forbidden = Forbidden::of(config, &env);
        let ready = gateway.wait_log("llm-sidecar ready").await;
        let ready: serde_json::Value = serde_json::from_str(&ready).unwrap();
        gateway.tcp = ready["tcp"]
            .as_str()
            .map(|s| s.parse().unwrap())
            .unwrap_or(gateway.tcp);
        gateway.admin = ready["admin"].as_str().map(|s| s.parse().unwrap());
        gateway
    }

    /// Wraps an already spawned process, collecting its output lines.
    pub fn attach(mut child: Child, dir: tempfile::TempDir, unix: PathBuf) -> Self {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, lines) = mpsc::unbounded_channel();
        let mut readers = Vec::new();
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let logs = logs.clone();
            let tx = tx.clone();
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    logs.lock().unwrap().push(line.clone());
                    let _ = tx.send(line);
                }
            }));
        }
        Self {
            child,
            tcp: "127.0.0.1:0".parse().unwrap(),
            unix,
            admin: None,
            logs,
            lines,
            readers,
            forbidden: Forbidden::default(),
            dir,
        }
    }

    /// Waits for a log line containing `needle` and returns it.
    pub async fn wait_log(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.lines.recv()).await {
                Ok(Some(line)) if line.contains(needle) => return line,
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => panic!(
                    "no log line containing {needle:?}; logs:\n{}",
                    self.logs.lock().unwrap().join("\n")
                ),
            }
        }
    }

    /// The first log line containing `needle`, whenever it came: also one logged before
    /// "ready", which [`Gateway::start`] consumed while waiting for that line.
    pub async fn wait_log_ever(&mut self, needle: &str) -> String {
        let seen = self
            .logs
            .lock()
            .unwrap()
            .iter()
            .find(|line| line.contains(needle))
            .cloned();
        match seen {
            Some(line) => line,
            None => self.wait_log(needle).await,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (`TERM`, `INT`, `HUP`) to the process.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit.
    pub async fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "gateway did not exit within {within:?}"
            );
            // Polling a child's exit has no async signal in std; a short poll interval is the wait.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// All log lines so far.
    pub fn log_text(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }
}

/// How long a gateway gets to exit after the first and the second SIGTERM when a test ends. The
/// first wait is short: the test's own runtime is blocked in this drop, so connections its
/// client tasks hold open cannot close, and only the second signal ends such a drain.
const EXIT_GRACE: [Duration; 2] = [Duration::from_millis(500), Duration::from_secs(3)];

impl Drop for Gateway {
    /// Stops the process, then checks the log hygiene of everything it wrote (unless the test
    /// already failed).
    fn drop(&mut self) {
        self.stop();
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        if !std::thread::panicking() {
            self.forbidden.check(&self.logs.lock().unwrap());
        }
    }
}

impl Gateway {
    /// Stops the process the way Kubernetes would (SIGTERM, a second one to cut the drain, then
    /// SIGKILL), so it exits normally and writes its coverage data.
    fn stop(&mut self) {
        for grace in EXIT_GRACE {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(self.pid().to_string())
                .status();
            let deadline = Instant::now() + grace;
            while Instant::now() < deadline {
                if matches!(self.child.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the binary to completion with `args` and `env`; returns (exit code, stdout+stderr).
pub fn run_to_exit(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_remove("OPENAI_API_KEY")
        .env_remove("LLM_SIDECAR_CONFIG");
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}
