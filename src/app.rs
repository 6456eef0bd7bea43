//! Wiring: loads the config, builds the runtime, binds the listeners, reports ready, and runs
//! the drain sequence on SIGTERM. `main` only parses arguments and picks the exit code.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;

use crate::api::{self, Services};
use crate::cli::{self, Cli};
use crate::config::access::StoreConfig;
use crate::config::watch::{self, Watch};
use crate::config::{self, Config, ConfigError, schema};
use crate::lifecycle::{Lifecycle, Phase, Request, Signals};
use crate::limits::store::{Store, StoreError};
use crate::reload::{self, Cause, Outcome, Reloader};
use crate::router::health::HealthChecks;
use crate::runtime::Runtime;
use crate::server::{self, ConnSettings, Server, SettingsSource, SocketFile};
use crate::telemetry;

/// Exit code for an invalid config or usage (EX_USAGE).
pub const EXIT_CONFIG: u8 = 64;
/// Exit code when a listener cannot be bound (EX_UNAVAILABLE).
pub const EXIT_UNAVAILABLE: u8 = 69;
/// Exit code when the drain deadline (or a second signal) cut requests.
pub const EXIT_DRAIN_CUT: u8 = 1;
/// How often the drain logs what is still in flight.
const DRAIN_LOG_INTERVAL: Duration = Duration::from_secs(1);
/// How long cut connections get to go (their tasks only need to run their drops).
const CUT_GRACE: Duration = Duration::from_secs(2);
/// How often the in-memory store's usage snapshot is written.
const STORE_FLUSH_INTERVAL: Duration = Duration::from_secs(10);

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
    match start(config).await {
        Ok(gateway) => gateway.serve().await,
        Err(code) => code,
    }
}

/// A gateway that is up: listeners bound, phase Ready.
struct Running {
    state: api::AppState,
    lifecycle: Lifecycle,
    signals: Signals,
    api: Server,
    admin: Server,
    socket: Option<SocketFile>,
    reloader: Option<Reloader>,
    health: HealthChecks,
    watch: Watch,
    traces: Option<telemetry::otel::Tracing>,
}

/// Logging, metrics, signal handlers, the first runtime, the listeners; then Ready.
async fn start(config: Config) -> Result<Running, ExitCode> {
    telemetry::redact::configure(&config);
    crate::tokens::configure(&config);
    let log = telemetry::logging::init(config.raw.logging.format, &config.raw.logging.level);
    let traces = telemetry::otel::init(&config.raw.telemetry).map_err(|e| {
        tracing::error!(error = %e, "cannot set up tracing");
        ExitCode::from(EXIT_CONFIG)
    })?;
    if let Some(path) = &config.raw.logging.usage_file {
        telemetry::usage::open_file(path).map_err(|e| {
            tracing::error!(path = %path.display(), error = %e, "cannot open the usage file");
            ExitCode::from(EXIT_UNAVAILABLE)
        })?;
    }
    let metrics = telemetry::metrics::install().map_err(|e| {
        tracing::error!(error = %e, "cannot install the metrics recorder");
        ExitCode::from(EXIT_UNAVAILABLE)
    })?;
    spawn_metrics_upkeep(metrics.clone());
    tokio::spawn(crate::tokens::release_when_idle());
    tokio::spawn(crate::memory::trim_when_quiet());
    let lifecycle = Lifecycle::new();
    let signals = Signals::new().map_err(|e| {
        tracing::error!(error = %e, "cannot install signal handlers");
        ExitCode::from(EXIT_UNAVAILABLE)
    })?;
    let runtime = Runtime::build(config, 1, None).map_err(|e| {
        tracing::error!(error = %e, "invalid config");
        ExitCode::from(EXIT_CONFIG)
    })?;
    reload::mark_applied(runtime.generation);
    warn_if_open(&runtime);
    let store = open_store(&runtime.config.raw.store).await.map_err(|e| {
        tracing::error!(error = %e, "cannot open the limits store");
        ExitCode::from(EXIT_UNAVAILABLE)
    })?;
    spawn_store_flush(Arc::clone(&store));
    let listeners = runtime.config.listeners.clone();
    let source = runtime.config.source.clone();
    let state = Arc::new(Services {
        runtime: ArcSwap::from_pointee(runtime),
        lifecycle: lifecycle.clone(),
        metrics,
        store,
        log: log.clone(),
    });
    let settings = settings_source(&state);
    let (cap, fits) =
        server::connection_cap(state.runtime.load().config.raw.server.max_connections);
    if let Some(fits) = fits {
        tracing::warn!(
            max_connections = cap,
            open_file_limit_fits = fits,
            "server.max_connections is more than the open-file limit holds; connections past it fail to accept"
        );
    }
    let api = Server::new("api", Arc::clone(&settings), cap);
    let admin = Server::new("admin", settings, server::ADMIN_MAX_CONNECTIONS);
    let (bound, socket) = bind_all(&listeners, &state, &api, &admin)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "cannot bind listeners");
            ExitCode::from(EXIT_UNAVAILABLE)
        })?;
    let reloader = source.map(|path| Reloader::new(Arc::clone(&state), path, log));
    let mut running = Running {
        state,
        lifecycle,
        signals,
        api,
        admin,
        socket,
        reloader,
        watch: Watch::new(schema::DEFAULT_RELOAD_DEBOUNCE),
        health: HealthChecks::default(),
        traces: Some(traces),
    };
    running.refresh_watch();
    running
        .health
        .sync(running.state.runtime.load().health_probes());
    running.lifecycle.advance(Phase::Ready);
    tracing::info!(
        tcp = bound.tcp.map(|a| a.to_string()),
        unix = listeners.unix.as_ref().map(|p| p.display().to_string()),
        admin = bound.admin.map(|a| a.to_string()),
        traces = running
            .traces
            .as_ref()
            .and_then(|t| t.exporting_to.as_deref()),
        version = env!("CARGO_PKG_VERSION"),
        "llm-sidecar ready"
    );
    Ok(running)
}

/// New connections read their timeouts from the config in use, so reloads apply to them.
fn settings_source(state: &api::AppState) -> SettingsSource {
    let state = Arc::clone(state);
    Arc::new(move || {
        let runtime = state.runtime.load();
        let server = &runtime.config.raw.server;
        ConnSettings {
            header_timeout: server.read_timeout,
            write_timeout: server.write_timeout,
            idle_timeout: server.idle_timeout,
        }
    })
}

impl Running {
    /// Serves (reloading on file changes and SIGHUP) until SIGTERM/SIGINT, then drains.
    async fn serve(mut self) -> ExitCode {
        loop {
            let cause = tokio::select! {
                request = self.signals.next() => match request {
                    Request::Shutdown => break,
                    Request::Reload => Cause::Signal,
                },
                () = self.watch.changed() => Cause::FileChange,
            };
            if let Some(reloader) = &self.reloader {
                if let Outcome::Applied(_) = reloader.reload(cause).await {
                    let runtime = self.state.runtime.load();
                    warn_if_open(&runtime);
                    self.health.sync(runtime.health_probes());
                }
            } else {
                tracing::warn!("reload requested, but there is no config file (env-only mode)");
            }
            self.refresh_watch();
        }
        let server = self.state.runtime.load().config.raw.server.clone();
        let cut = drain(
            &self.lifecycle,
            &mut self.signals,
            &self.api,
            server.drain_delay,
            server.drain_timeout,
        )
        .await;
        if let Err(e) = self.state.store.flush().await {
            tracing::warn!(error = %e, "cannot persist usage at shutdown");
        }
        if let Some(traces) = self.traces.take() {
            // Flushing blocks on the exporter thread; keep it off the workers.
            let _ = tokio::task::spawn_blocking(move || traces.shutdown()).await;
        }
        self.lifecycle.advance(Phase::Stopped);
        self.admin.stop_accepting();
        drop(self.socket.take());
        tracing::info!(cut_requests = cut, "llm-sidecar stopped");
        if cut > 0 {
            ExitCode::from(EXIT_DRAIN_CUT)
        } else {
            ExitCode::SUCCESS
        }
    }

    /// Points the watcher at the directories of the config in use (its secret files may have
    /// changed, and a Kubernetes mount's real directory changes with every update).
    fn refresh_watch(&mut self) {
        let Some(reloader) = &self.reloader else {
            return;
        };
        let runtime = self.state.runtime.load();
        let reload = &runtime.config.raw.reload;
        self.watch.set_debounce(reload.debounce);
        let targets = if reload.watch {
            watch::Targets::of(reloader.path(), &runtime.config.secret_files())
        } else {
            watch::Targets::default()
        };
        self.watch.set_targets(targets);
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
) -> std::io::Result<(Bound, Option<SocketFile>)> {
    let app = api::api_router(Arc::clone(state), listeners.admin.is_none());
    let mut bound = Bound::default();
    if let Some(addr) = listeners.admin {
        let listener = TcpListener::bind(addr).await?;
        bound.admin = listener.local_addr().ok();
        admin_server.serve_tcp(listener, api::admin_router(Arc::clone(state)));
    }
    if let Some(addr) = listeners.tcp {
        let listener = TcpListener::bind(addr).await?;
        bound.tcp = listener.local_addr().ok();
        api_server.serve_tcp(listener, app.clone());
    }
    let mut socket = None;
    if let Some(path) = &listeners.unix {
        let listener = server::bind_unix(path, listeners.unix_mode).await?;
        socket = Some(SocketFile(path.clone()));
        api_server.serve_unix(listener, app);
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
                    inflight_requests = crate::request::inflight(),
                    open_connections = api.open_connections(),
                    "draining: waiting for in-flight requests"
                ),
            }
        }
    }
    let cut = crate::request::inflight();
    if cut > 0 {
        tracing::warn!(
            inflight_requests = cut,
            "drain cut requests still in flight"
        );
        // Each request cut now closes its record as `drain_cut` while its connection is
        // dropped: every request that started leaves its line before the process exits.
        crate::request::mark_drain_cut();
        api.cut();
        if tokio::time::timeout(CUT_GRACE, api.wait_closed())
            .await
            .is_err()
        {
            tracing::warn!(
                open_connections = api.open_connections(),
                "cut connections did not close in time"
            );
        }
    }
    cut
}

/// The limits store the config names: in memory, or shared in Redis.
async fn open_store(config: &StoreConfig) -> Result<Arc<dyn Store>, StoreError> {
    crate::limits::shared::connect(config).await
}

/// Persists usage every [`STORE_FLUSH_INTERVAL`] (and once more at shutdown), so a crash loses
/// at most that much spend.
fn spawn_store_flush(store: Arc<dyn Store>) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(STORE_FLUSH_INTERVAL);
        loop {
            ticker.tick().await;
            if let Err(e) = store.flush().await {
                tracing::warn!(error = %e, "cannot persist usage");
            }
        }
    });
}

/// The API is open when no keys, master key or Unix peers are configured: fine on a pod's Unix
/// socket or loopback, loud when `auth.allow_anonymous` opens a wider TCP address too.
fn warn_if_open(runtime: &Runtime) {
    let access = &runtime.access;
    if !access.is_open() {
        return;
    }
    match runtime.config.listeners.tcp {
        Some(addr) if !addr.ip().is_loopback() && access.allows_remote_anonymous() => {
            tracing::warn!(
                address = %addr,
                "OPEN ACCESS: auth.allow_anonymous is set and the API listens on a non-loopback TCP address: anyone who can reach it can spend your provider credits"
            )
        }
        Some(addr) if !addr.ip().is_loopback() => tracing::warn!(
            address = %addr,
            "no keys are configured: callers on the Unix socket and loopback are served anonymously, callers from other addresses get 401 (configure keys, or set auth.allow_anonymous: true)"
        ),
        _ => tracing::warn!(
            "OPEN ACCESS: no keys, master_key or unix_peers are configured, so every process that can reach the socket or the loopback port may call every model; fine when the pod is the trust boundary, otherwise configure keys"
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

/// Runs `convert`: the converted text, written to `-o` or returned for standard output.
pub fn convert(args: &cli::Convert) -> Result<Option<String>, ConfigError> {
    let text = std::fs::read_to_string(&args.input).map_err(|e| ConfigError {
        file: Some(args.input.clone()),
        line: None,
        path: String::new(),
        message: format!("cannot read: {e}"),
    })?;
    let name = args.input.display().to_string();
    let converted = match args.from {
        cli::Source::Litellm => config::convert_litellm(&text, &name),
        cli::Source::LitellmKeys => config::litellm::keys::from_export(&text).and_then(|keys| {
            let body = serde_yaml::to_string(&keys)
                .map_err(|e| ConfigError::whole(format!("cannot write the keys: {e}")))?;
            Ok(format!(
                "# Virtual keys exported from LiteLLM ({name}); merge into llm-sidecar's config.\n{body}"
            ))
        }),
    }?;
    match &args.output {
        Some(path) => std::fs::write(path, converted)
            .map(|()| None)
            .map_err(|e| ConfigError {
                file: Some(path.clone()),
                line: None,
                path: String::new(),
                message: format!("cannot write: {e}"),
            }),
        None => Ok(Some(converted)),
    }
}
