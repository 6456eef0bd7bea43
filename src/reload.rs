//! Live config reload: re-read the file, validate, build a complete new runtime (reusing state
//! whose identity is unchanged), and publish it with one `ArcSwap` store. A config that cannot be
//! used is rejected whole and the old one keeps serving; so is a change to something that only
//! applies at start (listeners, log format), with the key named.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::api::AppState;
use crate::config::{self, Config, ConfigError, FieldPath};
use crate::runtime::Runtime;
use crate::telemetry::logging::LogControl;
use crate::telemetry::metrics::{
    CONFIG_GENERATION, CONFIG_LAST_RELOAD_OK, CONFIG_LAST_SUCCESS, CONFIG_RELOADS,
};

/// What asked for a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// Files in a watched directory changed.
    FileChange,
    /// SIGHUP.
    Signal,
}

impl Cause {
    fn as_str(self) -> &'static str {
        match self {
            Self::FileChange => "file_change",
            Self::Signal => "sighup",
        }
    }
}

/// What a reload did.
#[derive(Debug)]
pub enum Outcome {
    /// A new generation is serving.
    Applied(u64),
    /// The file and its secrets are as before.
    Unchanged,
    /// The old config keeps serving.
    Rejected(ConfigError),
}

/// Reloads the config file behind a running gateway.
pub struct Reloader {
    state: AppState,
    path: PathBuf,
    log: LogControl,
}

impl Reloader {
    /// A reloader for the config at `path`.
    pub fn new(state: AppState, path: PathBuf, log: LogControl) -> Self {
        Self { state, path, log }
    }

    /// The config file.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Loads, checks and applies the config file; never leaves a half-applied state.
    pub async fn reload(&self, cause: Cause) -> Outcome {
        let current = self.state.runtime.load_full();
        let path = self.path.clone();
        let previous = Arc::clone(&current);
        // File reads and client setup are blocking work: keep them off the request workers.
        let built = tokio::task::spawn_blocking(move || prepare(&path, &previous)).await;
        let outcome = match built {
            Ok(Ok(Some(runtime))) => {
                let generation = runtime.generation;
                if let Err(e) = self.log.set_level(&runtime.config.raw.logging.level) {
                    tracing::warn!(error = %e, "could not apply the new log level");
                }
                // Before the new runtime serves, so a rotated key is masked from its first use.
                crate::telemetry::redact::configure(&runtime.config);
                crate::tokens::configure(&runtime.config);
                self.state.runtime.store(Arc::new(runtime));
                Outcome::Applied(generation)
            }
            Ok(Ok(None)) => Outcome::Unchanged,
            Ok(Err(error)) => Outcome::Rejected(error),
            Err(join) => {
                Outcome::Rejected(ConfigError::whole(format!("reload task failed: {join}")))
            }
        };
        report(&outcome, cause);
        outcome
    }
}

/// Builds the next runtime, or `None` when nothing changed.
fn prepare(path: &std::path::Path, current: &Runtime) -> Result<Option<Runtime>, ConfigError> {
    let config = config::load(path)?;
    if config.raw == current.config.raw {
        return Ok(None);
    }
    restart_only(&current.config, &config)?;
    no_silent_opening(&current.config, &config)?;
    Runtime::build(config, current.generation + 1, Some(current)).map(Some)
}

/// Rejects a config that would open an API that was closed (every key, the master key and the
/// peers removed) unless it says `auth.allow_anonymous: true`: a ConfigMap edit that loses the
/// keys must not hand the pod's provider credentials to anonymous callers.
fn no_silent_opening(old: &Config, new: &Config) -> Result<(), ConfigError> {
    if old.requires_identity() && !new.requires_identity() && !new.raw.auth.allow_anonymous {
        return Err(new.error_at(
            &FieldPath::root("keys"),
            "this config removes every key, master key and unix peer, which would open the API to anonymous callers; set auth.allow_anonymous: true if that is meant (the previous config keeps serving)",
        ));
    }
    Ok(())
}

/// Rejects changes that only take effect at start, naming the key.
fn restart_only(old: &Config, new: &Config) -> Result<(), ConfigError> {
    let (a, b) = (&old.listeners, &new.listeners);
    let server = FieldPath::root("server");
    let listen = server.key("listen");
    let port_style = new.raw.server.port.is_some();
    let changed = if a.tcp != b.tcp {
        Some(if port_style {
            server.key("port")
        } else {
            listen.key("tcp")
        })
    } else if a.unix != b.unix {
        Some(listen.key("unix"))
    } else if a.unix_mode != b.unix_mode {
        Some(listen.key("unix_mode"))
    } else if a.admin != b.admin {
        Some(server.key("admin"))
    } else if old.raw.server.max_connections != new.raw.server.max_connections {
        Some(server.key("max_connections"))
    } else if old.raw.logging.format != new.raw.logging.format {
        Some(FieldPath::root("logging").key("format"))
    } else if let Some(key) = old.raw.store.start_only_change(&new.raw.store) {
        Some(FieldPath::root("store").key(key))
    } else if old.raw.logging.usage_file != new.raw.logging.usage_file {
        Some(FieldPath::root("logging").key("usage_file"))
    } else if old.raw.telemetry != new.raw.telemetry {
        Some(FieldPath::root("telemetry"))
    } else {
        None
    };
    match changed {
        Some(path) => Err(new.error_at(
            &path,
            "this setting applies only at start; restart the gateway to change it (the previous config keeps serving)",
        )),
        None => Ok(()),
    }
}

fn report(outcome: &Outcome, cause: Cause) {
    match outcome {
        Outcome::Applied(generation) => {
            metrics::counter!(CONFIG_RELOADS, "result" => "ok").increment(1);
            mark_applied(*generation);
            tracing::info!(generation, cause = cause.as_str(), "config reloaded");
        }
        Outcome::Unchanged => {
            // The file says what is serving again (a bad edit reverted): nothing is stale.
            metrics::gauge!(CONFIG_LAST_RELOAD_OK).set(1.0);
            tracing::debug!(cause = cause.as_str(), "config unchanged");
        }
        Outcome::Rejected(error) => {
            metrics::counter!(CONFIG_RELOADS, "result" => "error").increment(1);
            // The pod keeps serving the previous config: what the file says is not in force.
            metrics::gauge!(CONFIG_LAST_RELOAD_OK).set(0.0);
            tracing::warn!(
                error = %error,
                field = %error.path,
                line = error.line,
                cause = cause.as_str(),
                "config rejected; the previous config keeps serving"
            );
        }
    }
}

/// Records a successfully applied generation in the metrics (also called at start).
pub fn mark_applied(generation: u64) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    metrics::gauge!(CONFIG_LAST_SUCCESS).set(now);
    metrics::gauge!(CONFIG_GENERATION).set(generation as f64);
    metrics::gauge!(CONFIG_LAST_RELOAD_OK).set(1.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Config {
        config::parse(text, None).unwrap()
    }

    #[test]
    fn listener_and_format_changes_need_a_restart() {
        let base = "providers:\n  - {name: m, type: mock, models: [x]}\n";
        let cases = [
            (
                "server:\n  port: 1\n",
                "server:\n  port: 2\n",
                Some("server.port"),
            ),
            (
                "server:\n  listen: {tcp: '127.0.0.1:1'}\n",
                "server:\n  listen: {tcp: '127.0.0.1:2'}\n",
                Some("server.listen.tcp"),
            ),
            (
                "server:\n  listen: {unix: /a}\n",
                "server:\n  listen: {unix: /b}\n",
                Some("server.listen.unix"),
            ),
            (
                "server:\n  admin: '127.0.0.1:1'\n",
                "server:\n  admin: '127.0.0.1:3'\n",
                Some("server.admin"),
            ),
            (
                "logging: {format: json}\n",
                "logging: {format: text}\n",
                Some("logging.format"),
            ),
            (
                "logging: {level: info}\n",
                "logging: {level: debug}\n",
                None,
            ),
            (
                "store:\n  url: rediss://r:6379\n  password: a\n",
                "store:\n  url: rediss://r:6379\n  password: b\n",
                Some("store.password"),
            ),
            (
                "store:\n  mode: cluster\n  nodes: [redis://a:1]\n",
                "store:\n  mode: cluster\n  nodes: [redis://b:1]\n",
                Some("store.nodes"),
            ),
            (
                "server:\n  drain_delay: 1s\n",
                "server:\n  drain_delay: 2s\n",
                None,
            ),
        ];
        for (old, new, key) in cases {
            let result = restart_only(
                &parse(&format!("{base}{old}")),
                &parse(&format!("{base}{new}")),
            );
            assert_eq!(
                result.err().map(|e| e.path),
                key.map(str::to_owned),
                "{old} -> {new}"
            );
        }
    }

    #[test]
    fn a_reload_may_not_open_a_closed_api_by_accident() {
        let base = "providers:\n  - {name: m, type: mock, models: [x]}\n";
        let key = "keys:\n  - {name: a, key: sk-a}\n";
        let master = "auth: {master_key: sk-m}\n";
        let peers = "auth: {unix_peers: [{uid: 1}]}\n";
        let allow = "auth: {allow_anonymous: true}\n";
        // (old, new, accepted)
        let cases = [
            (key, "", false),
            (master, "", false),
            (peers, "", false),
            (key, allow, true),
            (key, master, true),
            ("", "", true),
            ("", key, true),
            (allow, "", true),
        ];
        for (old, new, accepted) in cases {
            let result = no_silent_opening(
                &parse(&format!("{base}{old}")),
                &parse(&format!("{base}{new}")),
            );
            assert_eq!(result.is_ok(), accepted, "{old:?} -> {new:?}");
            if let Err(e) = result {
                assert!(e.to_string().contains("allow_anonymous"), "{e}");
            }
        }
    }
}
