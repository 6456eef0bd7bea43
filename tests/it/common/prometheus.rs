//! A real `prometheus` server for one test: its config and rule files in a temp dir, its TSDB
//! there too, on a free loopback port; queried through its HTTP API; killed on drop.
//!
//! The binary is `$LLM_SIDECAR_PROMETHEUS` or `prometheus` on the PATH (Debian's `prometheus`
//! package, which `make test` installs). Without it the test fails: CI must not pass a check it
//! never ran.

use std::future::Future;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::client::{self, Via};
use super::free_port;

/// Environment variable naming the `prometheus` binary.
pub const BIN_ENV: &str = "LLM_SIDECAR_PROMETHEUS";
/// How long Prometheus may take to report ready.
const START_WAIT: Duration = Duration::from_secs(20);
/// Free ports tried before giving up (another process may take one between probe and bind).
const START_ATTEMPTS: usize = 5;
/// Between two polls of the HTTP API.
const POLL: Duration = Duration::from_millis(100);

/// A running Prometheus.
pub struct Prometheus {
    child: Child,
    /// Its HTTP API.
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus on `config` (prometheus.yml) with `files` (e.g. rule files, named
    /// relative to the config) beside it, and waits until it is ready.
    pub async fn start(config: &str, files: &[(&str, String)]) -> Self {
        for _ in 0..START_ATTEMPTS {
            if let Some(server) = Self::spawn(config, files).await {
                return server;
            }
        }
        panic!("prometheus did not start in {START_ATTEMPTS} attempts");
    }

    /// Starts one Prometheus; `None` when it exited at start (its port was taken).
    async fn spawn(config: &str, files: &[(&str, String)]) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let bin = std::env::var(BIN_ENV).unwrap_or_else(|_| "prometheus".to_owned());
        let child = Command::new(&bin)
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {bin} ({e}): the observability test needs a real Prometheus; \
                     install Debian's `prometheus` package (`make tools-system` does) or set \
                     {BIN_ENV} to its binary"
                )
            });
        let mut server = Self { child, addr, dir };
        server.wait_ready().await.then_some(server)
    }

    /// Waits until this very process reports ready; false when it exited.
    async fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + START_WAIT;
        loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            let ready = client::try_call(
                &Via::Tcp(self.addr),
                client::raw_request("GET", "/-/ready", bytes::Bytes::new()),
                POLL,
            )
            .await;
            // Another process on the port would answer too, but then ours exits (address in
            // use), which the next round sees first.
            if ready.is_ok_and(|r| r.status == 200) && matches!(self.child.try_wait(), Ok(None)) {
                return true;
            }
            assert!(
                Instant::now() < deadline,
                "prometheus was not ready within {START_WAIT:?}:\n{}",
                self.log()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// What Prometheus logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// `GET path` on the API; the `data` of a success, else the API's error message.
    async fn api(&self, path: &str) -> Result<Value, String> {
        let reply = client::get(&Via::Tcp(self.addr), path).await;
        let body: Value = serde_json::from_slice(&reply.body)
            .map_err(|e| format!("{} (not JSON: {e}): {}", reply.status, reply.text()))?;
        if body["status"] == "success" {
            Ok(body["data"].clone())
        } else {
            Err(format!("{}: {}", body["errorType"], body["error"]))
        }
    }

    /// Evaluates `promql` now: the result's samples, or why Prometheus refused it (a parse
    /// error, an unknown function).
    pub async fn query(&self, promql: &str) -> Result<Vec<Value>, String> {
        let data = self
            .api(&format!("/api/v1/query?query={}", encode(promql)))
            .await?;
        Ok(data["result"].as_array().cloned().unwrap_or_default())
    }

    /// The alerts Prometheus holds now (pending and firing).
    pub async fn alerts(&self) -> Vec<Value> {
        let data = self.api("/api/v1/alerts").await.unwrap();
        data["alerts"].as_array().cloned().unwrap_or_default()
    }

    /// Every loaded rule (recording and alerting), with its health and last error.
    pub async fn rules(&self) -> Vec<Value> {
        let data = self.api("/api/v1/rules").await.unwrap();
        data["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .collect()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` until it returns `Some`, for at most `within`; panics naming `what` (and the
/// last state `check` described) when it never does.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + within;
    loop {
        match check().await {
            Ok(value) => return value,
            Err(last) if Instant::now() >= deadline => {
                panic!("{what}: not within {within:?}; last: {last}")
            }
            Err(_) => tokio::time::sleep(POLL).await,
        }
    }
}

/// `text` percent-encoded for a query string (RFC 3986 unreserved characters kept).
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
