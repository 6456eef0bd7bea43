//! Checks of `providers[]`: unique names, upstream addresses, timeouts, health checks, and each
//! provider's type-specific settings, read by its type (`config::providers`).

use std::collections::BTreeMap;

use crate::providers;
use crate::schema::{self, ProviderKind};
use crate::{ConfigError, FieldPath};

/// Checks every provider and returns their index by name, which model and routing checks use to
/// resolve references.
pub(super) fn providers(
    providers: &mut [schema::ProviderConfig],
) -> Result<BTreeMap<String, usize>, ConfigError> {
    let mut index = BTreeMap::new();
    for (i, p) in providers.iter_mut().enumerate() {
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

fn provider(p: &mut schema::ProviderConfig, at: &FieldPath) -> Result<(), ConfigError> {
    let kind = p.kind();
    p.settings = providers::settings(kind, &p.options).map_err(|e| e.at(at))?;
    // Two credentials for one upstream is ambiguous: refused, not resolved (DESIGN §5a).
    if let schema::ProviderSettings::Azure(azure) = &p.settings
        && azure.auth.is_some()
        && p.api_key.is_some()
    {
        return Err(ConfigError::at(
            &at.key("api_key"),
            "an azure provider authenticates with `api_key` or with `auth` (Entra ID), not both",
        ));
    }
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
    headers_and_tls(p, at)
}

/// Where requests go: types without a well-known public endpoint must be told one, either as a
/// URL or a Unix socket.
fn upstream(
    p: &schema::ProviderConfig,
    kind: ProviderKind,
    at: &FieldPath,
) -> Result<(), ConfigError> {
    if kind.info().needs_base_url && p.base_url.is_none() && p.unix_socket.is_none() {
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

    /// Each type reads its own keys; another type's key names that type, a typo is unknown.
    #[test]
    fn type_settings_are_read_by_their_type() {
        assert_rejects(&[
            (
                "providers:\n  - {name: p, type: openai, timout: 5s}\n",
                "providers[0].timout",
                "unknown field `timout`",
            ),
            (
                "providers:\n  - {name: p, type: openai, anthropic_beta: [x]}\n",
                "providers[0].anthropic_beta",
                "only applies to type `anthropic`",
            ),
            (
                "providers:\n  - {name: p, type: vllm, base_url: 'http://v/v1', mock: {}}\n",
                "providers[0].mock",
                "only applies to type `mock`",
            ),
            (
                "providers:\n  - {name: p, type: gemini, api_version: v1}\n",
                "providers[0].api_version",
                "only applies to type `azure`",
            ),
            (
                "providers:\n  - {name: p, type: azure, base_url: 'https://r.openai.azure.com'}\n",
                "providers[0].api_version",
                "required for type `azure`",
            ),
            (
                "providers:\n  - {name: p, type: anthropic, default_max_tokens: 0}\n",
                "providers[0].default_max_tokens",
                "at least 1",
            ),
            (
                "providers:\n  - {name: p, type: anthropic, anthropic_beta: 7}\n",
                "providers[0].anthropic_beta",
                "invalid type",
            ),
            (
                "providers:\n  - {name: p, type: mock, mock: {latency: soon}}\n",
                "providers[0].mock.latency",
                "invalid duration",
            ),
        ]);
    }

    #[test]
    fn type_settings_are_kept_and_shown_masked() {
        let text = "providers:\n  - {name: az, type: azure, base_url: 'https://r.openai.azure.com', api_version: '2024-10-21'}\n  - {name: an, type: anthropic, anthropic_beta: [b1], default_max_tokens: 64}\n  - {name: m, type: mock, models: [x], mock: {reply: hi}}\n";
        let config = crate::parse(text, None).unwrap();
        let shown = serde_json::to_value(&config.raw.providers).unwrap();
        assert_eq!(shown[0]["api_version"], "2024-10-21");
        assert_eq!(shown[1]["anthropic_beta"][0], "b1");
        assert_eq!(shown[1]["default_max_tokens"], 64);
        assert_eq!(shown[2]["mock"]["reply"], "hi");
        assert!(shown[0].get("options").is_none());
    }
}
