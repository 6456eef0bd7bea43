//! Checks of `providers[]`: unique names, upstream addresses, timeouts, health checks, and keys
//! that only make sense for one provider type; plus the default base URL of each type.

use std::collections::BTreeMap;

use crate::config::schema::{self, ProviderKind};
use crate::config::{ConfigError, FieldPath, OPENAI_DEFAULT_BASE_URL};

/// Checks every provider and returns their index by name, which model and routing checks use to
/// resolve references.
pub(super) fn providers(
    providers: &[schema::ProviderConfig],
) -> Result<BTreeMap<String, usize>, ConfigError> {
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
    upstream(p, kind, at)?;
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
    health_check(p, at)?;
    kind_specific(p, kind, at)?;
    headers_and_tls(p, at)
}

/// Where requests go: types without a well-known public endpoint must be told one, either as a
/// URL or a Unix socket.
fn upstream(
    p: &schema::ProviderConfig,
    kind: ProviderKind,
    at: &FieldPath,
) -> Result<(), ConfigError> {
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
    Ok(())
}

fn health_check(p: &schema::ProviderConfig, at: &FieldPath) -> Result<(), ConfigError> {
    let Some(check) = &p.health_check else {
        return Ok(());
    };
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
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::super::test_support::assert_rejects;

    #[test]
    fn rejects_bad_providers() {
        assert_rejects(&[
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
        ]);
    }
}
