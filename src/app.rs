//! Wiring: loads the config, builds the runtime, binds the listeners, reports ready, and runs
//! the drain sequence on SIGTERM. `main` only parses arguments and picks the exit code.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;

use crate::api::{self, Shared};
use crate::cli::Cli;
use crate::config::{self, Config, ConfigError};
use crate::lifecycle::{Lifecycle, Phase, Request, Signals};
use crate::runtime::Runtime;
use crate::server::{self, ConnSettings, Server, SocketFile};
use crate::telemetry::{self, access};

/// Exit code for an invalid config or usage (EX_USAGE).
pub const EXIT_CONFIG: u8 = 64;
/// Exit code when a listener cannot be bound (EX_UNAVAILABLE).
pub const EXIT_UNAVAILABLE: u8 = 69;
/// Exit code when the drain deadline (or a second signal) cut requests.
pub const EXIT_DRAIN_CUT: u8 = 1;
/// How often the drain logs what is still in flight.
const DRAIN_LOG_INTERVAL: Duration = Duration::from_secs(1);

/// Loads the config named on the command line or in the environment, or the env-only mode.
pub fn load_config(cli: &Cli) -> Result<Config, ConfigError> {
    match &cli.config {
        Some(path) => config::load(path),
        None => match std::env::var("OPENAI_API_KEY") {
            Ok(key) if !key.is_empty() => config::from_env(&config::EnvOnly {
                api_key: key,
                base_url: env_var("OPENAI_BASE_URL"),
                tcp: env_var("LLM_SIDECAR_TCP"),
                unix: env_var("LLM_SIDECAR_SOCKET"),
            }),
            _ => Err(ConfigError::whole(
                "no config: pass --config FILE (or set LLM_SIDECAR_CONFIG), or set OPENAI_API_KEY to serve OpenAI directly on 127.0.0.1:8080",
            )),
        },
    }
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Runs the gateway until it has drained; returns the process exit code.
pub async fn run(config: Config) -> ExitCode {
    let log = telemetry::logging::init(config.raw.logging.format, &config.raw.logging.level);
    drop(log);
    let metrics = match telemetry::metrics::install() {
        Ok(handle) => handle,
        Err(e) => {
            tracing::error!(error = %e, "cannot install the metrics recorder");
            return ExitCode::from(EXIT_UNAVAILABLE);
        }
    };
    spawn_metrics_upkeep(metrics.clone());
    let lifecycle = Lifecycle::new();
    let mut signals = match Signals::new() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot install signal handlers");
            return ExitCode::from(EXIT_UNAVAILABLE);
        }
    };
    let runtime = match Runtime::build(config, 1) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "invalid config");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let listeners = runtime.config.listeners.clone();
    let server_config = runtime.config.raw.server.clone();
    warn_if_open(&runtime);
    let state = Arc::new(Shared {
        runtime: ArcSwap::from_pointee(runtime),
        lifecycle: lifecycle.clone(),
        metrics,
    });
    let settings = ConnSettings {
        header_timeout: server_config.read_timeout,
        write_timeout: server_config.write_timeout,
    };
    let api = Server::new();
    let admin = Server::new();
    let (bound, socket) = match bind_all(&listeners, &state, &api, &admin, settings).await {
        Ok(bound) => bound,
        Err(e) => {
            tracing::error!(error = %e, "cannot bind listeners");
            return ExitCode::from(EXIT_UNAVAILABLE);
        }
    };
    lifecycle.advance(Phase::Ready);
    tracing::info!(
        tcp = bound.tcp.map(|a| a.to_string()),
        unix = listeners.unix.as_ref().map(|p| p.display().to_string()),
        admin = bound.admin.map(|a| a.to_string()),
        version = env!("CARGO_PKG_VERSION"),
        "llm-sidecar ready"
    );
    loop {
        match signals.next().await {
            Request::Shutdown => break,
            Request::Reload => {
                tracing::warn!("SIGHUP received: live reload is not available in this build")
            }
        }
    }
    let cut = drain(
        &lifecycle,
        &mut signals,
        &api,
        server_config.drain_delay,
        server_config.drain_timeout,
    )
    .await;
    lifecycle.advance(Phase::Stopped);
    admin.stop_accepting();
    drop(socket);
    tracing::info!(cut_requests = cut, "llm-sidecar stopped");
    if cut > 0 {
        ExitCode::from(EXIT_DRAIN_CUT)
    } else {
        ExitCode::SUCCESS
    }
}

/// The addresses actually bound (port 0 in the config picks a free port).
#[derive(Debug, Default)]
struct Bound {
    tcp: Option<SocketAddr>,
    admin: Option<SocketAddr>,
}

async fn bind_all(
    listeners: &config::Listeners,
    state: &api::AppState,
    api_server: &Server,
    admin_server: &Server,
    settings: ConnSettings,
) -> std::io::Result<(Bound, Option<SocketFile>)> {
    let app = api::api_router(Arc::clone(state), listeners.admin.is_none());
    let mut bound = Bound::default();
    if let Some(addr) = listeners.admin {
        let listener = TcpListener::bind(addr).await?;
        bound.admin = listener.local_addr().ok();
        admin_server.serve_tcp(listener, api::admin_router(Arc::clone(state)), settings);
    }
    if let Some(addr) = listeners.tcp {
        let listener = TcpListener::bind(addr).await?;
        bound.tcp = listener.local_addr().ok();
        api_server.serve_tcp(listener, app.clone(), settings);
    }
    let mut socket = None;
    if let Some(path) = &listeners.unix {
        let listener = server::bind_unix(path, listeners.unix_mode).await?;
        socket = Some(SocketFile(path.clone()));
        api_server.serve_unix(listener, app, settings);
    }
    Ok((bound, socket))
}

/// Draining: not ready at once, keep accepting for `delay` (Kubernetes removes endpoints
/// asynchronously), then stop accepting and let in-flight work finish within `timeout`. A second
/// signal cuts the wait. Returns how many requests were cut.
async fn drain(
    lifecycle: &Lifecycle,
    signals: &mut Signals,
    api: &Server,
    delay: Duration,
    timeout: Duration,
) -> usize {
    lifecycle.advance(Phase::Draining);
    tracing::info!(
        drain_delay_ms = delay.as_millis() as u64,
        drain_timeout_ms = timeout.as_millis() as u64,
        "draining"
    );
    let interrupted = tokio::select! {
        _ = tokio::time::sleep(delay) => false,
        _ = signals.shutdown() => true,
    };
    api.stop_accepting();
    if !interrupted {
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval(DRAIN_LOG_INTERVAL);
        loop {
            tokio::select! {
                _ = api.wait_closed() => return 0,
                _ = &mut deadline => break,
                _ = signals.shutdown() => break,
                _ = ticker.tick() => tracing::info!(
                    inflight_requests = access::inflight(),
                    open_connections = api.open_connections(),
                    "draining: waiting for in-flight requests"
                ),
            }
        }
    }
    let cut = access::inflight();
    if cut > 0 {
        tracing::warn!(
            inflight_requests = cut,
            "drain cut requests still in flight"
        );
    }
    cut
}

/// The API is open when no keys are configured (this build has no key auth yet): fine on a pod's
/// Unix socket or loopback, loud when TCP binds a wider address.
fn warn_if_open(runtime: &Runtime) {
    match runtime.config.listeners.tcp {
        Some(addr) if !addr.ip().is_loopback() => tracing::warn!(
            address = %addr,
            "the API has no keys configured and listens on a non-loopback TCP address: anyone who can reach it can spend your provider credits"
        ),
        _ => tracing::info!(
            "the API has no keys configured: access is open to everything that can reach its listeners"
        ),
    }
}

fn spawn_metrics_upkeep(handle: metrics_exporter_prometheus::PrometheusHandle) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(telemetry::metrics::UPKEEP_INTERVAL);
        loop {
            ticker.tick().await;
            handle.run_upkeep();
        }
    });
}
