//! Checks of the `server` section: listener addresses (which cannot change on reload) and the
//! timeouts and size limits applied to every connection.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::Listeners;
use crate::schema;
use crate::{ConfigError, FieldPath};

/// Resolves where the gateway listens; with nothing configured it falls back to the default TCP
/// address, unless a Unix socket is given.
pub(super) fn listeners(server: &schema::ServerConfig) -> Result<Listeners, ConfigError> {
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

/// Refuses zero timeouts and a zero body limit: none is a usable setting, and failing here names
/// the field instead of leaving the symptom to show up at runtime.
pub(super) fn limits(server: &schema::ServerConfig) -> Result<(), ConfigError> {
    let at = FieldPath::root("server");
    let positive: [(&str, Duration); 4] = [
        ("read_timeout", server.read_timeout),
        ("write_timeout", server.write_timeout),
        ("drain_timeout", server.drain_timeout),
        ("idle_timeout", server.idle_timeout),
    ];
    for (key, value) in positive {
        if value.is_zero() {
            return Err(ConfigError::at(&at.key(key), "must be greater than zero"));
        }
    }
    if server.max_connections == Some(0) {
        return Err(ConfigError::at(
            &at.key("max_connections"),
            "must be greater than zero",
        ));
    }
    if server.max_request_bytes == 0 {
        return Err(ConfigError::at(
            &at.key("max_request_bytes"),
            "must be greater than zero",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{BASE, assert_rejects};
    use crate::parse;

    #[test]
    fn rejects_bad_server_settings() {
        assert_rejects(&[
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
                "server:\n  idle_timeout: 0s\n",
                "server.idle_timeout",
                "greater than zero",
            ),
            (
                "server:\n  max_connections: 0\n",
                "server.max_connections",
                "greater than zero",
            ),
        ]);
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
}
