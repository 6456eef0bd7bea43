//! Configuration: the YAML schema, `${VAR}` / `file:` expansion, validation with field paths and
//! lines, and loading from a file or from the environment alone; and the time formats the
//! config and the gateway both read ([`clock`]).

pub mod access;
pub mod clock;
pub mod expand;
pub mod litellm;
pub mod locate;
pub mod pattern;
pub mod providers;
pub mod responses;
pub mod routing;
pub mod schema;
pub mod store;
pub mod telemetry;
pub mod units;
pub mod validate;
pub mod watch;

use std::fmt;
use std::path::{Path, PathBuf};

pub use expand::Secret;
pub use locate::FieldPath;
pub use schema::RawConfig;
pub use validate::{Config, GroupSpec, Listeners};

pub use providers::OPENAI_DEFAULT_BASE_URL;
/// Name of the implicit provider in env-only mode.
pub const ENV_ONLY_PROVIDER: &str = "openai";

/// A config that cannot be used, with where it went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, when the config came from one.
    pub file: Option<PathBuf>,
    /// 1-based line of the offending value, when known.
    pub line: Option<usize>,
    /// Field path such as `providers[0].modelz`; empty for whole-file errors.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl ConfigError {
    /// An error about the value at `path`.
    pub fn at(path: &FieldPath, message: impl Into<String>) -> Self {
        Self {
            file: None,
            line: None,
            path: path.to_string(),
            message: message.into(),
        }
    }

    /// An error about the whole config.
    pub fn whole(message: impl Into<String>) -> Self {
        Self {
            file: None,
            line: None,
            path: String::new(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}", file.display())?;
            if let Some(line) = self.line {
                write!(f, ":{line}")?;
            }
            f.write_str(": ")?;
        } else if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Parses and validates config text. `file` is only used to label errors.
pub fn parse(text: &str, file: Option<&Path>) -> Result<Config, ConfigError> {
    let with_file = |mut e: ConfigError| {
        e.file = file.map(Path::to_path_buf);
        e
    };
    let (raw, warnings, translated) = match litellm::detect(text).map_err(with_file)? {
        Some(doc) => {
            let translation = litellm::translate(&doc, litellm::Mode::Load).map_err(with_file)?;
            let raw = raw_from_value(translation.native).map_err(|e| with_file(translated(e)))?;
            (raw, translation.warnings, true)
        }
        None => (parse_raw(text).map_err(with_file)?, Vec::new(), false),
    };
    let mut config = validate::validate(raw).map_err(|mut e| {
        if translated {
            e = self::translated(e);
        } else if e.line.is_none() && !e.path.is_empty() {
            e.line = path_line(text, &e.path);
        }
        with_file(e)
    })?;
    config.warnings = warnings;
    if !translated {
        config.text = Some(text.into());
    }
    Ok(config)
}

/// An error found in the config translated from a LiteLLM file: its path is in our schema, so
/// the message says so (and where to see that config).
fn translated(mut error: ConfigError) -> ConfigError {
    error.message = format!(
        "{} (in the llm-sidecar config translated from this LiteLLM file; `llm-sidecar convert --from litellm FILE` shows it)",
        error.message
    );
    error
}

/// Our schema read from a YAML value (a translated LiteLLM file). The value is written back to
/// YAML text and read like a native file: the schema's deserializer then exists once in the
/// binary instead of twice, once per YAML reader (~130 KB), and both kinds of file follow the
/// same rules for scalars. Lines of that text mean nothing to the user, so none is reported.
fn raw_from_value(value: serde_yaml::Value) -> Result<RawConfig, ConfigError> {
    let text = serde_yaml::to_string(&value).map_err(|e| ConfigError::whole(e.to_string()))?;
    parse_raw(&text).map_err(|e| ConfigError { line: None, ..e })
}

/// A LiteLLM file converted to our format: the YAML text with a comment block above it that
/// lists what was dropped or approximated. `source` names the file in that comment.
pub fn convert_litellm(text: &str, source: &str) -> Result<String, ConfigError> {
    let doc = litellm::detect(text)?.ok_or_else(|| {
        ConfigError::whole(
            "not a LiteLLM config: it has none of model_list, litellm_settings, router_settings, general_settings, environment_variables",
        )
    })?;
    let translation = litellm::translate(&doc, litellm::Mode::Convert)?;
    let body = serde_yaml::to_string(&translation.native)
        .map_err(|e| ConfigError::whole(format!("cannot write the converted config: {e}")))?;
    Ok(format!(
        "{}{body}",
        litellm::header(source, &translation.warnings)
    ))
}

/// Reads, parses and validates a config file (following symlinks, as ConfigMap mounts need).
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: Some(path.to_path_buf()),
        line: None,
        path: String::new(),
        message: format!("cannot read config file: {e}"),
    })?;
    let mut config = parse(&text, Some(path))?;
    config.source = Some(path.to_path_buf());
    Ok(config)
}

/// What the env-only mode reads from the environment.
#[derive(Debug, Clone, Default)]
pub struct EnvOnly {
    /// `OPENAI_API_KEY`.
    pub api_key: String,
    /// `OPENAI_BASE_URL` (default OpenAI's).
    pub base_url: Option<String>,
    /// `LLM_SIDECAR_TCP` (default `127.0.0.1:8080`).
    pub tcp: Option<String>,
    /// `LLM_SIDECAR_SOCKET`: also serve on this Unix socket.
    pub unix: Option<String>,
}

/// The env-only mode: no config file, `OPENAI_API_KEY` set. Every model name passes through to
/// OpenAI (or `OPENAI_BASE_URL`) on `127.0.0.1:8080` (or `LLM_SIDECAR_TCP`), plus
/// `LLM_SIDECAR_SOCKET` when set.
pub fn from_env(env: &EnvOnly) -> Result<Config, ConfigError> {
    let raw = RawConfig {
        server: schema::ServerConfig {
            listen: schema::ListenConfig {
                tcp: Some(
                    env.tcp
                        .clone()
                        .unwrap_or_else(|| schema::DEFAULT_TCP_LISTEN.to_owned()),
                ),
                unix: env.unix.clone(),
                unix_mode: None,
            },
            ..Default::default()
        },
        providers: vec![schema::ProviderConfig {
            name: ENV_ONLY_PROVIDER.to_owned(),
            kind: Some(schema::ProviderKind::Openai),
            api_key: Some(Secret::new(env.api_key.clone())),
            base_url: Some(
                env.base_url
                    .clone()
                    .unwrap_or_else(|| OPENAI_DEFAULT_BASE_URL.to_owned()),
            ),
            unix_socket: None,
            models: Vec::new(),
            timeout: schema::DEFAULT_PROVIDER_TIMEOUT,
            connect_timeout: schema::DEFAULT_CONNECT_TIMEOUT,
            stream_idle_timeout: schema::DEFAULT_STREAM_IDLE_TIMEOUT,
            max_concurrency: schema::DEFAULT_MAX_CONCURRENCY,
            queue_timeout: schema::DEFAULT_QUEUE_TIMEOUT,
            health_check: None,
            extra_headers: Default::default(),
            tls: None,
            options: schema::Options::default(),
            settings: schema::ProviderSettings::None,
        }],
        routing: schema::RoutingConfig {
            default_provider: Some(ENV_ONLY_PROVIDER.to_owned()),
            ..Default::default()
        },
        ..Default::default()
    };
    validate::validate(raw)
}

fn parse_raw(text: &str) -> Result<RawConfig, ConfigError> {
    let de = serde_yaml::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let line = inner.location().map(|l| l.line());
        ConfigError {
            file: None,
            line,
            path: if path == "." { String::new() } else { path },
            message: bare_yaml_message(
                &inner.to_string(),
                inner.location().map(|l| (l.line(), l.column())),
            ),
        }
    })
}

/// serde_yaml's message carries its own (shorter) path prefix and a location suffix; we print
/// both ourselves, more precisely, so strip them.
fn bare_yaml_message(message: &str, location: Option<(usize, usize)>) -> String {
    // Exactly the location serde_yaml adds (`(line, column)`): a key may itself contain
    // ` at line `.
    let marker = match location {
        Some((line, column)) => format!(" at line {line} column {column}"),
        None => " at line ".to_owned(),
    };
    let without_location = match message.rfind(&marker) {
        Some(i) => &message[..i],
        None => message,
    };
    let first_word_end = without_location.find(' ').unwrap_or(0);
    match without_location[..first_word_end].strip_suffix(':') {
        Some(prefix) if !prefix.is_empty() && !prefix.contains('`') => {
            without_location[first_word_end + 1..].to_owned()
        }
        _ => without_location.to_owned(),
    }
}

/// Line of a value named by a printed path (`a[0].b`), found by re-reading the YAML.
fn path_line(text: &str, path: &str) -> Option<usize> {
    let mut segs = Vec::new();
    for part in path.split('.') {
        let (key, indexes) = part.split_once('[').unwrap_or((part, ""));
        if !key.is_empty() {
            segs.push(locate::Seg::Key(key.to_owned()));
        }
        for index in indexes.split('[') {
            if let Ok(n) = index.trim_end_matches(']').parse() {
                segs.push(locate::Seg::Index(n));
            }
        }
    }
    locate::line_of(text, &FieldPath(segs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_path_and_line() {
        let cases = [
            (
                "providers:\n  - name: a\n    modelz: [x]\n",
                "providers[0].modelz",
                Some(3),
                "unknown field `modelz`",
            ),
            (
                "server:\n  port: abc\n",
                "server.port",
                Some(2),
                "invalid type",
            ),
            (
                "server:\n  read_timeout: soon\n",
                "server.read_timeout",
                Some(2),
                "invalid duration",
            ),
            (
                "providers:\n  - name: a\n    type: mock\n  - name: b\n    api_key: ${LLM_SIDECAR_TEST_UNSET_VAR}\n    type: mock\n",
                "providers[1].api_key",
                Some(5),
                "LLM_SIDECAR_TEST_UNSET_VAR",
            ),
            (
                "providers:\n  - name: a\n    type: mock\nmodels:\n  - name: m\n    deployments:\n      - provider: nope\n",
                "models[0].deployments[0].provider",
                Some(7),
                "unknown provider `nope`",
            ),
            (
                "providers: [\n",
                "providers",
                Some(2),
                "did not find expected node",
            ),
        ];
        for (text, path, line, message) in cases {
            let err = parse(text, None).unwrap_err();
            assert_eq!(err.path, path, "{text}");
            assert_eq!(err.line, line, "{text}");
            assert!(err.message.contains(message), "{text}: {}", err.message);
        }
    }

    #[test]
    fn display_is_file_line_path_message() {
        let err = parse("server:\n  port: abc\n", Some(Path::new("c.yaml"))).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("c.yaml:2: server.port: invalid type"),
            "{text}"
        );
    }

    #[test]
    fn yaml_message_prefix_and_location_are_stripped() {
        let cases = [
            (
                "a[0]: unknown field `x` at line 3 column 5",
                Some((3, 5)),
                "unknown field `x`",
            ),
            (
                "invalid type: string \"x\", expected u16",
                None,
                "invalid type: string \"x\", expected u16",
            ),
            (
                "did not find expected node content at line 2 column 1, while parsing",
                Some((2, 1)),
                "did not find expected node content",
            ),
            (
                "unknown field ` at line `, expected one of `server` at line 1 column 1",
                Some((1, 1)),
                "unknown field ` at line `, expected one of `server`",
            ),
        ];
        for (input, location, want) in cases {
            assert_eq!(bare_yaml_message(input, location), want);
        }
    }
}
