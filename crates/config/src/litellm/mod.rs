//! LiteLLM proxy configs, run as they are: a file with LiteLLM's top-level keys (`model_list`,
//! `router_settings`, `litellm_settings`, `general_settings`, `environment_variables`) is
//! translated in memory into our own config, which then loads, validates and hot-reloads like
//! any other. The same translation, written out as YAML, is `llm-sidecar convert`.
//!
//! The translation is YAML → YAML (our schema's shape), so our expansion, validation and error
//! messages apply unchanged. What it cannot carry is said, never dropped silently: ignored keys
//! are listed by path in one warning, approximations each get one; keys that change security or
//! cost (budgets) are refused.

pub mod keys;
mod model_list;
mod route;
mod settings;
pub mod values;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_yaml::{Mapping, Value};

use super::ConfigError;
use values::Env;

/// Top-level keys that make a file a LiteLLM config.
const LITELLM_KEYS: [&str; 5] = [
    "model_list",
    "litellm_settings",
    "router_settings",
    "general_settings",
    "environment_variables",
];
/// Top-level keys only our own format has.
const NATIVE_KEYS: [&str; 4] = ["providers", "models", "server", "routing"];

/// The API listener of a LiteLLM config when nothing else names one: LiteLLM's port, on
/// loopback (a sidecar serves its pod).
pub const DEFAULT_TCP: &str = "127.0.0.1:4000";
/// Environment variable of the API's TCP address (as in the env-only mode).
pub const TCP_ENV: &str = "LLM_SIDECAR_TCP";
/// Environment variable of the API's Unix socket path.
pub const SOCKET_ENV: &str = "LLM_SIDECAR_SOCKET";
/// Environment variable of the probes/metrics listener.
pub const ADMIN_ENV: &str = "LLM_SIDECAR_ADMIN";

/// `--port`, set once at start so reloads translate the listeners the same way.
static PORT: OnceLock<u16> = OnceLock::new();

/// Records `--port` (as `litellm --port`: all interfaces). Later calls are ignored.
pub fn set_port(port: u16) {
    let _ = PORT.set(port);
}

/// A translated config: our schema as YAML, and what the translation has to say.
#[derive(Debug)]
pub struct Translation {
    /// The config in our format.
    pub native: Value,
    /// Approximations, skipped entries, unset variables, and one line listing ignored keys.
    pub warnings: Vec<String>,
}

/// How the translation treats the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Loading: `os.environ/` references to unset variables are dropped (with a warning), and
    /// the listeners come from `--port` and the environment.
    Load,
    /// Converting to a file: every reference is kept as `${NAME}` for the pod that loads it.
    Convert,
}

/// The document, when `text` is a LiteLLM config (`None` for our own format). A file mixing
/// both is refused: which half would win is anyone's guess.
pub fn detect(text: &str) -> Result<Option<Value>, ConfigError> {
    let Ok(doc) = serde_yaml::from_str::<Value>(text) else {
        // Not YAML at all: our own parser reports it with the line.
        return Ok(None);
    };
    let Some(map) = doc.as_mapping() else {
        return Ok(None);
    };
    let has = |key: &str| map.contains_key(key);
    if !LITELLM_KEYS.iter().any(|k| has(k)) {
        return Ok(None);
    }
    if let Some(native) = NATIVE_KEYS.iter().find(|k| has(k)) {
        return Err(ConfigError::whole(format!(
            "this file mixes LiteLLM keys (model_list, litellm_settings, …) with llm-sidecar's `{native}`; use one format (`llm-sidecar convert --from litellm` turns a LiteLLM file into ours)"
        )));
    }
    Ok(Some(doc))
}

/// Translates a LiteLLM document into our format.
pub fn translate(doc: &Value, mode: Mode) -> Result<Translation, ConfigError> {
    let empty = Mapping::new();
    let map = doc.as_mapping().unwrap_or(&empty);
    let is_set = |name: &str| mode == Mode::Convert || std::env::var_os(name).is_some();
    let mut ctx = Ctx {
        env: Env {
            defaults: environment_variables(map.get("environment_variables")),
            is_set: &is_set,
        },
        warnings: Vec::new(),
        ignored: Vec::new(),
    };
    let mut native = Mapping::new();
    if mode == Mode::Load {
        set(&mut native, "server", server());
    }
    let models = model_list::translate(map.get("model_list"), &mut ctx)?;
    settings::translate(map, models, &mut native, &mut ctx)?;
    for (key, _) in map {
        let key = key.as_str().unwrap_or_default();
        if !LITELLM_KEYS.contains(&key) {
            ctx.ignored.push(key.to_owned());
        }
    }
    if !ctx.ignored.is_empty() {
        ctx.warnings.push(format!(
            "LiteLLM settings without an equivalent here, ignored: {}",
            ctx.ignored.join(", ")
        ));
    }
    Ok(Translation {
        native: Value::Mapping(native),
        warnings: ctx.warnings,
    })
}

/// What the translation collects on its way.
pub(crate) struct Ctx<'a> {
    /// The variables references resolve against.
    pub env: Env<'a>,
    /// One line per approximation or skipped entry.
    pub warnings: Vec<String>,
    /// Paths of ignored keys.
    pub ignored: Vec<String>,
}

/// `environment_variables:` as text defaults (`os.environ/` values are the process's).
fn environment_variables(value: Option<&Value>) -> BTreeMap<String, String> {
    let Some(map) = value.and_then(Value::as_mapping) else {
        return BTreeMap::new();
    };
    map.iter()
        .filter_map(|(k, v)| {
            let name = k.as_str()?.to_owned();
            let text = values::scalar_text(v)?;
            match text.strip_prefix(values::ENV_PREFIX) {
                Some(var) => std::env::var(var.trim()).ok().map(|v| (name, v)),
                None => Some((name, text)),
            }
        })
        .collect()
}

/// `server:` for a LiteLLM file: `--port`, else `LLM_SIDECAR_TCP`, else LiteLLM's port on
/// loopback; `LLM_SIDECAR_SOCKET` and `LLM_SIDECAR_ADMIN` when set.
fn server() -> Value {
    let env = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
    let tcp = PORT
        .get()
        .map(|port| format!("0.0.0.0:{port}"))
        .or_else(|| env(TCP_ENV))
        .unwrap_or_else(|| DEFAULT_TCP.to_owned());
    let mut listen = Mapping::new();
    set(&mut listen, "tcp", tcp);
    if let Some(socket) = env(SOCKET_ENV) {
        set(&mut listen, "unix", socket);
    }
    let mut server = Mapping::new();
    set(&mut server, "listen", listen);
    if let Some(admin) = env(ADMIN_ENV) {
        set(&mut server, "admin", admin);
    }
    Value::Mapping(server)
}

/// Sets `key` in `map`.
pub(crate) fn set(map: &mut Mapping, key: &str, value: impl Into<Value>) {
    map.insert(Value::String(key.to_owned()), value.into());
}

/// The comment block `convert` writes above the converted config.
pub fn header(source: &str, warnings: &[String]) -> String {
    let mut out = format!(
        "# Converted from the LiteLLM config {source} by `llm-sidecar convert --from litellm`.\n"
    );
    if warnings.is_empty() {
        out.push_str("# Everything in it was translated.\n");
    } else {
        out.push_str("# Dropped or approximated:\n");
        for warning in warnings {
            out.push_str(&format!("#   - {}\n", warning.replace('\n', " ")));
        }
    }
    out
}

#[cfg(test)]
mod tests;
