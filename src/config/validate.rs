//! Second stage of config loading: checks that the raw structs make sense together (unique
//! names, references that resolve, addresses that parse) and derives the model groups.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::schema::{self, ProviderKind, RawConfig};
use super::{ConfigError, FieldPath, OPENAI_DEFAULT_BASE_URL};

/// A validated config: the raw file plus what was derived from it.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file as parsed (secrets resolved), kept for `/admin/config` and reload diffs.
    pub raw: RawConfig,
    /// Where the gateway listens.
    pub listeners: Listeners,
    /// Client-facing model names with their deployments, merged from `models[]` and
    /// `providers[].models`, in config order.
    pub groups: Vec<GroupSpec>,
    /// The file this config came from (none in env-only mode).
    pub source: Option<PathBuf>,
    /// The YAML text, for locating errors found after parsing.
    pub text: Option<std::sync::Arc<str>>,
}

impl Config {
    /// Files that secrets were read from (`file:`), which a reload must watch too.
    pub fn secret_files(&self) -> Vec<PathBuf> {
        let providers = self.raw.providers.iter().filter_map(|p| p.api_key.as_ref());
        let keys = self.raw.keys.iter().filter_map(|k| k.key.as_ref());
        providers
            .chain(keys)
            .chain(self.raw.auth.master_key.as_ref())
            .chain(self.raw.store.url.as_ref())
            .filter_map(|s| s.file().map(std::path::Path::to_path_buf))
            .collect()
    }

    /// Every secret value in this config (provider keys and extra header values, virtual keys,
    /// the master key, the store URL), for the log redactor to mask by value.
    pub fn secret_values(&self) -> impl Iterator<Item = &str> {
        let providers = self
            .raw
            .providers
            .iter()
            .flat_map(|p| p.api_key.iter().chain(p.extra_headers.values()));
        let keys = self.raw.keys.iter().filter_map(|k| k.key.as_ref());
        providers
            .chain(keys)
            .chain(self.raw.auth.master_key.as_ref())
            .chain(self.raw.store.url.as_ref())
            .map(super::Secret::expose)
    }

    /// An error about the value at `path`, with this config's file and line.
    pub fn error_at(&self, path: &FieldPath, message: impl Into<String>) -> ConfigError {
        let mut error = ConfigError::at(path, message);
        error.file.clone_from(&self.source);
        error.line = self
            .text
            .as_deref()
            .and_then(|t| super::locate::line_of(t, path));
        error
    }
}

/// Listener addresses; these cannot change on reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listeners {
    /// API over TCP.
    pub tcp: Option<SocketAddr>,
    /// API over a Unix domain socket.
    pub unix: Option<PathBuf>,
    /// Mode applied to the socket file.
    pub unix_mode: u32,
    /// Probes + metrics (+ admin) listener.
    pub admin: Option<SocketAddr>,
}

/// One model group: a client-facing name and where it is served.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSpec {
    /// The name clients send.
    pub name: String,
    /// Deployments serving it.
    pub deployments: Vec<DeploymentSpec>,
    /// Model names to fall back to.
    pub fallbacks: Vec<String>,
}

/// One deployment of a group.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentSpec {
    /// Index into `RawConfig::providers`.
    pub provider: usize,
    /// Model name sent upstream.
    pub upstream_model: String,
    /// Relative share of traffic.
    pub weight: u32,
}

/// Checks a raw config and derives listeners and model groups.
pub fn validate(raw: RawConfig) -> Result<Config, ConfigError> {
    let listeners = listeners(&raw.server)?;
    server_limits(&raw.server)?;
    let provider_index = providers(&raw.providers)?;
    let groups = groups(&raw, &provider_index)?;
    routing(&raw, &provider_index, &groups)?;
    breaker(&raw.routing.circuit_breaker)?;
    super::access::validate(&raw)?;
    super::telemetry::validate(&raw.telemetry)?;
    if raw.rate_limit.enabled && raw.rate_limit.requests_per_minute == 0 {
        return Err(ConfigError::at(
            &FieldPath::root("rate_limit").key("requests_per_minute"),
            "must be at least 1 when rate_limit.enabled is true",
        ));
    }
    if tracing_subscriber::EnvFilter::try_new(&raw.logging.level).is_err() {
        return Err(ConfigError::at(
            &FieldPath::root("logging").key("level"),
            format!(
                "invalid level `{}`: use error, warn, info, debug or trace",
                raw.logging.level
            ),
        ));
    }
    Ok(Config {
        raw,
        listeners,
        groups,
        source: None,
        text: None,
    })
}

/// The breaker library asserts on these (a panic is an abort in release builds), so they are
/// checked here.
fn breaker(b: &schema::BreakerConfig) -> Result<(), ConfigError> {
    let at = FieldPath::root("routing").key("circuit_breaker");
    if !(b.failure_ratio > 0.0 && b.failure_ratio <= 1.0) {
        return Err(ConfigError::at(
            &at.key("failure_ratio"),
            "must be greater than 0 and at most 1",
        ));
    }
    if b.window < crate::router::breaker::MIN_WINDOW {
        return Err(ConfigError::at(&at.key("window"), "must be at least 1s"));
    }
    if b.failure_threshold == 0 {
        return Err(ConfigError::at(
            &at.key("failure_threshold"),
            "must be at least 1",
        ));
    }
    if b.open_for.is_zero() {
        return Err(ConfigError::at(
            &at.key("open_for"),
            "must be greater than zero",
        ));
    }
    Ok(())
}

fn listeners(server: &schema::ServerConfig) -> Result<Listeners, ConfigError> {
    let at = FieldPath::root("server");
    let tcp = match (&server.port, &server.listen.tcp) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::at(
                &at.key("port"),
                "give either server.port or server.listen.tcp, not both",
            ));
        }
        (Some(port), None) => Some(SocketAddr::from(([0, 0, 0, 0], *port))),
        (None, Some(text)) => Some(socket_addr(text, &at.key("listen").key("tcp"))?),
        (None, None) if server.listen.unix.is_none() => Some(socket_addr(
            schema::DEFAULT_TCP_LISTEN,
            &at.key("listen").key("tcp"),
        )?),
        (None, None) => None,
    };
    let unix = match &server.listen.unix {
        Some(path) if path.trim().is_empty() => {
            return Err(ConfigError::at(
                &at.key("listen").key("unix"),
                "must not be empty",
            ));
        }
        Some(path) => Some(PathBuf::from(path)),
        None => None,
    };
    let admin = match &server.admin {
        Some(text) => Some(socket_addr(text, &at.key("admin"))?),
        None => None,
    };
    Ok(Listeners {
        tcp,
        unix,
        unix_mode: server.listen.unix_mode.unwrap_or(schema::DEFAULT_UNIX_MODE),
        admin,
    })
}

/// Parses `host:port` where host is an IP or `localhost` (no DNS at config time).
fn socket_addr(text: &str, at: &FieldPath) -> Result<SocketAddr, ConfigError> {
    let normalized = match text.strip_prefix("localhost:") {
        Some(port) => format!("127.0.0.1:{port}"),
        None => text.to_owned(),
    };
    normalized.parse().map_err(|_| {
        ConfigError::at(
            at,
            format!("invalid address `{text}`: expected host:port, e.g. 127.0.0.1:8080"),
        )
    })
}

fn server_limits(server: &schema::ServerConfig) -> Result<(), ConfigError> {
    let at = FieldPath::root("server");
    let positive: [(&str, Duration); 3] = [
        ("read_timeout", server.read_timeout),
        ("write_timeout", server.write_timeout),
        ("drain_timeout", server.drain_timeout),
    ];
    for (key, value) in positive {
        if value.is_zero() {
            return Err(ConfigError::at(&at.key(key), "must be greater than zero"));
        }
    }
    if server.max_request_bytes == 0 {
        return Err(ConfigError::at(
            &at.key("max_request_bytes"),
            "must be greater than zero",
        ));
    }
    Ok(())
}

fn providers(providers: &[schema::ProviderConfig]) -> Result<BTreeMap<String, usize>, ConfigError> {
    let mut index = BTreeMap::new();
    for (i, p) in providers.iter().enumerate() {
        let at = FieldPath::root("providers").index(i);
        if p.name.trim().is_empty() {
            return Err(ConfigError::at(&at.key("name"), "must not be empty"));
        }
        if index.insert(p.name.clone(), i).is_some() {
            return Err(ConfigError::at(
                &at.key("name"),
                format!("duplicate provider name `{}`", p.name),
            ));
        }
        provider(p, &at)?;
    }
    Ok(index)
}

fn provider(p: &schema::ProviderConfig, at: &FieldPath) -> Result<(), ConfigError> {
    let kind = p.kind();
    let needs_base_url = matches!(
        kind,
        ProviderKind::Vllm | ProviderKind::OpenaiCompatible | ProviderKind::Azure
    );
    if needs_base_url && p.base_url.is_none() && p.unix_socket.is_none() {
        return Err(ConfigError::at(
            &at.key("base_url"),
            format!("required for type `{}`", kind.as_str()),
        ));
    }
    if let Some(url) = &p.base_url {
        check_base_url(url, &at.key("base_url"))?;
    }
    if let Some(socket) = &p.unix_socket
        && socket.trim().is_empty()
    {
        return Err(ConfigError::at(&at.key("unix_socket"), "must not be empty"));
    }
    for (key, value) in [
        ("timeout", p.timeout),
        ("connect_timeout", p.connect_timeout),
    ] {
        if value.is_zero() {
            return Err(ConfigError::at(&at.key(key), "must be greater than zero"));
        }
    }
    for (j, model) in p.models.iter().enumerate() {
        if model.trim().is_empty() {
            return Err(ConfigError::at(
                &at.key("models").index(j),
                "must not be empty",
            ));
        }
    }
    if let Some(check) = &p.health_check {
        if !check.path.starts_with('/') {
            return Err(ConfigError::at(
                &at.key("health_check").key("path"),
                "must start with `/`",
            ));
        }
        if check.interval.is_zero() {
            return Err(ConfigError::at(
                &at.key("health_check").key("interval"),
                "must be greater than zero",
            ));
        }
    }
    kind_specific(p, kind, at)?;
    headers_and_tls(p, at)
}

/// Keys that only mean something for one provider type.
fn kind_specific(
    p: &schema::ProviderConfig,
    kind: ProviderKind,
    at: &FieldPath,
) -> Result<(), ConfigError> {
    let only = |key: &str, wanted: ProviderKind| {
        ConfigError::at(
            &at.key(key),
            format!("only applies to type `{}`", wanted.as_str()),
        )
    };
    match (kind, &p.api_version) {
        (ProviderKind::Azure, None) => {
            return Err(ConfigError::at(
                &at.key("api_version"),
                "required for type `azure` (e.g. \"2024-10-21\", or \"v1\")",
            ));
        }
        (ProviderKind::Azure, Some(_)) | (_, None) => {}
        (_, Some(_)) => return Err(only("api_version", ProviderKind::Azure)),
    }
    if kind != ProviderKind::Anthropic && !p.anthropic_beta.is_empty() {
        return Err(only("anthropic_beta", ProviderKind::Anthropic));
    }
    if p.default_max_tokens == Some(0) {
        return Err(ConfigError::at(
            &at.key("default_max_tokens"),
            "must be at least 1",
        ));
    }
    if kind != ProviderKind::Mock && p.mock.is_some() {
        return Err(only("mock", ProviderKind::Mock));
    }
    Ok(())
}

fn headers_and_tls(p: &schema::ProviderConfig, at: &FieldPath) -> Result<(), ConfigError> {
    for (name, value) in &p.extra_headers {
        let at = at.key("extra_headers").key(name);
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(ConfigError::at(
                &at,
                format!("invalid header name `{name}`"),
            ));
        }
        if http::HeaderValue::from_str(value.expose()).is_err() {
            return Err(ConfigError::at(&at, "invalid header value"));
        }
    }
    if let Some(tls) = &p.tls
        && tls.client_cert_file.is_some() != tls.client_key_file.is_some()
    {
        return Err(ConfigError::at(
            &at.key("tls"),
            "client_cert_file and client_key_file go together",
        ));
    }
    Ok(())
}

fn check_base_url(url: &str, at: &FieldPath) -> Result<(), ConfigError> {
    let uri: http::Uri = url
        .parse()
        .map_err(|_| ConfigError::at(at, format!("invalid URL `{url}`")))?;
    match uri.scheme_str() {
        Some("http" | "https") if uri.authority().is_some() => Ok(()),
        _ => Err(ConfigError::at(
            at,
            format!("invalid URL `{url}`: expected http(s)://host[:port][/path]"),
        )),
    }
}

/// The base URL a provider uses when none is configured.
pub fn default_base_url(kind: ProviderKind) -> Option<&'static str> {
    match kind {
        ProviderKind::Openai => Some(OPENAI_DEFAULT_BASE_URL),
        ProviderKind::Anthropic => Some("https://api.anthropic.com"),
        ProviderKind::Gemini => Some("https://generativelanguage.googleapis.com"),
        ProviderKind::Ollama => Some("http://localhost:11434"),
        ProviderKind::Azure
        | ProviderKind::Vllm
        | ProviderKind::OpenaiCompatible
        | ProviderKind::Mock => None,
    }
}

fn groups(
    raw: &RawConfig,
    providers: &BTreeMap<String, usize>,
) -> Result<Vec<GroupSpec>, ConfigError> {
    let mut groups: Vec<GroupSpec> = Vec::new();
    let mut seen = HashSet::new();
    for (i, m) in raw.models.iter().enumerate() {
        let at = FieldPath::root("models").index(i);
        if m.name.trim().is_empty() {
            return Err(ConfigError::at(&at.key("name"), "must not be empty"));
        }
        if !seen.insert(m.name.as_str()) {
            return Err(ConfigError::at(
                &at.key("name"),
                format!("duplicate model name `{}`", m.name),
            ));
        }
        if m.deployments.is_empty() {
            return Err(ConfigError::at(
                &at.key("deployments"),
                "needs at least one deployment",
            ));
        }
        let mut deployments = Vec::with_capacity(m.deployments.len());
        for (j, d) in m.deployments.iter().enumerate() {
            let at = at.key("deployments").index(j);
            let provider = *providers.get(&d.provider).ok_or_else(|| {
                ConfigError::at(
                    &at.key("provider"),
                    format!("unknown provider `{}`", d.provider),
                )
            })?;
            if d.weight == 0 {
                return Err(ConfigError::at(&at.key("weight"), "must be at least 1"));
            }
            deployments.push(DeploymentSpec {
                provider,
                upstream_model: d.model.clone().unwrap_or_else(|| m.name.clone()),
                weight: d.weight,
            });
        }
        groups.push(GroupSpec {
            name: m.name.clone(),
            deployments,
            fallbacks: m.fallbacks.clone(),
        });
    }
    // `providers[].models` serve names 1:1; a name listed twice is one group with two deployments.
    for (i, p) in raw.providers.iter().enumerate() {
        for model in &p.models {
            let deployment = DeploymentSpec {
                provider: i,
                upstream_model: model.clone(),
                weight: 1,
            };
            match groups.iter_mut().find(|g| &g.name == model) {
                Some(group) => group.deployments.push(deployment),
                None => groups.push(GroupSpec {
                    name: model.clone(),
                    deployments: vec![deployment],
                    fallbacks: Vec::new(),
                }),
            }
        }
    }
    for (i, m) in raw.models.iter().enumerate() {
        for (j, fallback) in m.fallbacks.iter().enumerate() {
            let at = FieldPath::root("models").index(i).key("fallbacks").index(j);
            if fallback == &m.name {
                return Err(ConfigError::at(&at, "a model cannot fall back to itself"));
            }
            if !groups.iter().any(|g| &g.name == fallback) {
                return Err(ConfigError::at(&at, format!("unknown model `{fallback}`")));
            }
        }
    }
    Ok(groups)
}

fn routing(
    raw: &RawConfig,
    providers: &BTreeMap<String, usize>,
    groups: &[GroupSpec],
) -> Result<(), ConfigError> {
    if let Some(name) = &raw.routing.default_provider
        && !providers.contains_key(name)
    {
        return Err(ConfigError::at(
            &FieldPath::root("routing").key("default_provider"),
            format!("unknown provider `{name}`"),
        ));
    }
    if groups.is_empty() && raw.routing.default_provider.is_none() {
        return Err(ConfigError::whole(
            "no models to serve: list models under providers[].models or models[], or set routing.default_provider",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::parse;

    const BASE: &str = "providers:\n  - name: p\n    type: mock\n    models: [m]\n";

    #[test]
    fn rejects_inconsistent_configs() {
        let cases = [
            (
                "server:\n  port: 1\n  listen:\n    tcp: 127.0.0.1:2\n",
                "server.port",
                "not both",
            ),
            (
                "server:\n  listen:\n    tcp: nowhere\n",
                "server.listen.tcp",
                "invalid address",
            ),
            (
                "server:\n  admin: ':x'\n",
                "server.admin",
                "invalid address",
            ),
            (
                "server:\n  read_timeout: 0s\n",
                "server.read_timeout",
                "greater than zero",
            ),
            (
                "server:\n  listen:\n    unix_mode: '0999'\n",
                "server.listen.unix_mode",
                "octal",
            ),
            (
                "providers:\n  - name: p\n    type: mock\n",
                "",
                "no models to serve",
            ),
            (
                "providers:\n  - name: p\n    type: vllm\n    models: [m]\n",
                "providers[0].base_url",
                "required",
            ),
            (
                "providers:\n  - name: p\n    base_url: ftp://x\n    models: [m]\n",
                "providers[0].base_url",
                "invalid URL",
            ),
            (
                "providers:\n  - name: p\n    type: gopher\n",
                "providers[0].type",
                "unknown variant",
            ),
            (
                "providers:\n  - {name: p, type: mock, models: [m]}\n  - {name: p, type: mock}\n",
                "providers[1].name",
                "duplicate provider",
            ),
            (
                "models:\n  - name: x\n    deployments: []\n",
                "models[0].deployments",
                "at least one",
            ),
            (
                "models:\n  - name: m\n    deployments: [{provider: p}]\n    fallbacks: [zz]\n",
                "models[0].fallbacks[0]",
                "unknown model",
            ),
            (
                "models:\n  - name: n\n    deployments: [{provider: p, weight: 0}]\n",
                "models[0].deployments[0].weight",
                "at least 1",
            ),
            (
                "routing:\n  default_provider: q\n",
                "routing.default_provider",
                "unknown provider",
            ),
            (
                "rate_limit:\n  enabled: true\n",
                "rate_limit.requests_per_minute",
                "at least 1",
            ),
            (
                "routing:\n  circuit_breaker: {failure_ratio: 1.5}\n",
                "routing.circuit_breaker.failure_ratio",
                "at most 1",
            ),
            (
                "routing:\n  circuit_breaker: {window: 500ms}\n",
                "routing.circuit_breaker.window",
                "at least 1s",
            ),
            ("keys:\n  - {name: k}\n", "keys[0]", "exactly one of"),
            (
                "keys:\n  - {name: k, key_sha256: ABC}\n",
                "keys[0].key_sha256",
                "64 lowercase hex",
            ),
            (
                "keys:\n  - {name: k, key: a}\n  - {name: k, key: b}\n",
                "keys[1].name",
                "unique",
            ),
            (
                "keys:\n  - {name: k, key: a, rpm: 0}\n",
                "keys[0].rpm",
                "at least 1",
            ),
            (
                "keys:\n  - {name: k, key: a, expires_at: tomorrow}\n",
                "keys[0].expires_at",
                "RFC 3339",
            ),
            (
                "teams:\n  - {name: t}\nkeys:\n  - {name: k, key: a, team: x}\n",
                "keys[0].team",
                "unknown team",
            ),
            (
                "auth:\n  unix_peers: [{uid: 1}, {uid: 1}]\n",
                "auth.unix_peers[1]",
                "twice",
            ),
            (
                "pricing:\n  m: {input_per_million: -1, output_per_million: 1}\n",
                "pricing.m",
                "non-negative",
            ),
            ("store:\n  url: http://x\n", "store.url", "redis://"),
            (
                "logging:\n  level: 'info,,=x=y'\n",
                "logging.level",
                "invalid level",
            ),
        ];
        for (extra, path, message) in cases {
            let text = if extra.starts_with("providers:") {
                extra.to_owned()
            } else {
                format!("{BASE}{extra}")
            };
            let err = parse(&text, None).unwrap_err();
            assert_eq!(err.path, path, "{extra}");
            assert!(err.message.contains(message), "{extra}: {}", err.message);
        }
    }

    #[test]
    fn seed_port_means_all_interfaces() {
        let cfg = parse(&format!("{BASE}server:\n  port: 9000\n"), None).unwrap();
        assert_eq!(cfg.listeners.tcp, Some("0.0.0.0:9000".parse().unwrap()));
        let cfg = parse(BASE, None).unwrap();
        assert_eq!(cfg.listeners.tcp, Some("127.0.0.1:8080".parse().unwrap()));
        let cfg = parse(
            &format!("{BASE}server:\n  listen:\n    unix: /tmp/x.sock\n    unix_mode: 0600\n"),
            None,
        )
        .unwrap();
        assert_eq!(cfg.listeners.tcp, None);
        assert_eq!(cfg.listeners.unix_mode, 0o600);
    }

    #[test]
    fn same_model_on_two_providers_is_one_group() {
        let text = "providers:\n  - {name: a, type: mock, models: [m]}\n  - {name: b, type: mock, models: [m, n]}\n";
        let cfg = parse(text, None).unwrap();
        let names: Vec<_> = cfg
            .groups
            .iter()
            .map(|g| (g.name.as_str(), g.deployments.len()))
            .collect();
        assert_eq!(names, [("m", 2), ("n", 1)]);
    }
}
