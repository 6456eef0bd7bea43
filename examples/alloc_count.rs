//! Heap allocations per proxied request and per streamed event, for `make bench`.
//!
//! Runs the gateway in this process (one worker, log level `info`, as under the chart's default
//! one-CPU limit) under a counting allocator, and drives it over
//! its Unix socket with `oha` against `bench_upstream`, both other processes: what is counted is
//! the gateway's own work. Per streamed event is the difference between a long and a short
//! stream, divided by the events between them, so the per-request part cancels out.
//!
//! Writes one JSON object to `OUT` and a summary to stderr (stdout carries the gateway's log);
//! exits 1 when a count is over its budget (BENCHMARKS.md says how the budgets were set).
//! Usage: `alloc_count OUT [requests]`, built next to `bench_upstream`.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use std::alloc::System;

use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

/// Counts over the system allocator: how often and how much the gateway asks for does not
/// depend on which allocator answers (and the crate's only const wrapper is this one).
#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Requests per measured run, unless the first argument says otherwise.
const DEFAULT_REQUESTS: u64 = 2000;
/// Requests before counting starts: pools, caches and handles are made by then.
const WARMUP_REQUESTS: u64 = 300;
/// Content events of the short and the long stream.
const SHORT_STREAM: u64 = 1;
const LONG_STREAM: u64 = 101;
/// How long the gateway may take to become ready.
const READY_WITHIN: Duration = Duration::from_secs(20);
/// Pause between two readiness probes.
const PROBE_PAUSE: Duration = Duration::from_millis(20);

/// Budgets: allocations and bytes per proxied non-stream chat request, and per streamed event
/// (measured 90, 35 KB, 1.07 and 153 B on 2026-12-03, with ~10 % room; most of the bytes are
/// hyper's two 8 KiB read buffers, taken again for each message).
const BUDGET_ALLOCS_PER_REQUEST: f64 = 100.0;
const BUDGET_BYTES_PER_REQUEST: f64 = 40_000.0;
const BUDGET_ALLOCS_PER_EVENT: f64 = 1.5;
const BUDGET_BYTES_PER_EVENT: f64 = 256.0;

/// What one measured run cost the gateway, per request.
struct PerRequest {
    allocs: f64,
    bytes: f64,
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("alloc_count: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<bool, String> {
    let out = std::env::args()
        .nth(1)
        .ok_or("usage: alloc_count OUT [requests]")?;
    let requests = std::env::args()
        .nth(2)
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_REQUESTS);
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let upstream_port = free_port()?;
    let _upstream = Reaped(
        Command::new(sibling("bench_upstream")?)
            .arg(format!("127.0.0.1:{upstream_port}"))
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start bench_upstream: {e}"))?,
    );
    let socket = dir.path().join("llm.sock");
    let config = write_config(dir.path(), &socket, upstream_port)?;
    start_gateway(&config)?;
    wait_ready(&socket)?;
    let chat = r#"{"model":"bench-model","messages":[{"role":"user","content":"Say hello to the benchmark."}]}"#;
    let stream = |events: u64| {
        format!(
            r#"{{"model":"bench-model","stream":true,"max_tokens":{events},"messages":[{{"role":"user","content":"Say hello."}}]}}"#
        )
    };
    oha(&socket, chat, WARMUP_REQUESTS)?;
    oha(&socket, &stream(SHORT_STREAM), WARMUP_REQUESTS)?;
    let whole = measure(&socket, chat, requests)?;
    let short = measure(&socket, &stream(SHORT_STREAM), requests)?;
    let long = measure(&socket, &stream(LONG_STREAM), requests)?;
    let events = (LONG_STREAM - SHORT_STREAM) as f64;
    let per_event = PerRequest {
        allocs: (long.allocs - short.allocs) / events,
        bytes: (long.bytes - short.bytes) / events,
    };
    let report = format!(
        "{{\"requests\":{requests},\"chat\":{{\"allocs_per_request\":{:.1},\"bytes_per_request\":{:.0}}},\
         \"stream\":{{\"allocs_per_request\":{:.1},\"bytes_per_request\":{:.0},\"allocs_per_event\":{:.2},\"bytes_per_event\":{:.0}}}}}",
        whole.allocs, whole.bytes, short.allocs, short.bytes, per_event.allocs, per_event.bytes
    );
    std::fs::write(&out, format!("{report}\n")).map_err(|e| format!("cannot write {out}: {e}"))?;
    eprintln!("alloc_count: {report}");
    let checks = [
        (
            "allocations per request",
            whole.allocs,
            BUDGET_ALLOCS_PER_REQUEST,
        ),
        ("bytes per request", whole.bytes, BUDGET_BYTES_PER_REQUEST),
        (
            "allocations per streamed event",
            per_event.allocs,
            BUDGET_ALLOCS_PER_EVENT,
        ),
        (
            "bytes per streamed event",
            per_event.bytes,
            BUDGET_BYTES_PER_EVENT,
        ),
    ];
    let mut within = true;
    for (name, value, budget) in checks {
        if value > budget {
            eprintln!("alloc_count: {name}: {value:.1} is over the budget of {budget}");
            within = false;
        }
    }
    Ok(within)
}

/// Counts what the gateway allocates while `oha` sends `requests` bodies.
fn measure(socket: &Path, body: &str, requests: u64) -> Result<PerRequest, String> {
    let region = Region::new(GLOBAL);
    oha(socket, body, requests)?;
    let change = region.change();
    let n = requests as f64;
    Ok(PerRequest {
        allocs: (change.allocations + change.reallocations) as f64 / n,
        bytes: (change.bytes_allocated as f64 + change.bytes_reallocated.max(0) as f64) / n,
    })
}

/// Sends `requests` chat completions one at a time (`oha -c 1`).
fn oha(socket: &Path, body: &str, requests: u64) -> Result<(), String> {
    let status = Command::new("oha")
        .args([
            "--no-tui",
            "-c",
            "1",
            "-n",
            &requests.to_string(),
            "-m",
            "POST",
        ])
        .args(["-H", "content-type: application/json", "-d", body])
        .arg("--unix-socket")
        .arg(socket)
        .arg("http://localhost/v1/chat/completions")
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run oha: {e}"))?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| format!("oha failed: {status}"))
}

/// Runs the gateway on its own runtime thread, as the binary does with one worker.
fn start_gateway(config: &Path) -> Result<(), String> {
    let cli = llm_sidecar::cli::Cli {
        config: Some(config.to_owned()),
        check: false,
        port: None,
        command: None,
    };
    let config = llm_sidecar::app::load_config(&cli).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    std::thread::spawn(move || runtime.block_on(llm_sidecar::app::run(config)));
    Ok(())
}

fn write_config(dir: &Path, socket: &Path, upstream_port: u16) -> Result<PathBuf, String> {
    let path = dir.join("bench.yaml");
    let text = format!(
        "server:\n  listen:\n    unix: \"{}\"\n  drain_delay: 0s\nproviders:\n  - name: up\n    type: openai\n    api_key: sk-bench\n    base_url: http://127.0.0.1:{upstream_port}/v1\n    models: [bench-model]\nlogging:\n  level: info\n",
        socket.display()
    );
    std::fs::write(&path, text).map_err(|e| e.to_string())?;
    Ok(path)
}

/// Polls `/health/ready` over the socket until it answers 200.
fn wait_ready(socket: &Path) -> Result<(), String> {
    let start = Instant::now();
    while start.elapsed() < READY_WITHIN {
        if ready(socket).unwrap_or(false) {
            return Ok(());
        }
        std::thread::sleep(PROBE_PAUSE);
    }
    Err("the gateway did not become ready".to_owned())
}

fn ready(socket: &Path) -> std::io::Result<bool> {
    let mut stream = UnixStream::connect(socket)?;
    stream
        .write_all(b"GET /health/ready HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer.starts_with("HTTP/1.1 200"))
}

/// A free TCP port on the loopback interface.
fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

/// A binary built beside this one.
fn sibling(name: &str) -> Result<PathBuf, String> {
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let path = me.with_file_name(name);
    path.exists()
        .then_some(path)
        .ok_or_else(|| format!("{name} is not built next to {}", me.display()))
}

/// A child process killed when dropped.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
