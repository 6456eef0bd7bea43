//! Connections to the Redis behind the store, from `store:`: a standalone server through a
//! reconnecting [`ConnectionManager`], or the master of the keys' slot in a Redis Cluster
//! (`cluster`: found through the seed nodes, found again after a failover). Either way: TLS for
//! `rediss://` (rustls with the embedded webpki roots, or `store.tls.ca_file` instead; a client
//! certificate for mutual TLS) and ACL credentials (`store.username`/`store.password`, typically
//! `file:` secrets). Nothing here prints a URL or a credential: errors name only the setting.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{
    ClientTlsConfig, ConnectionInfo, ErrorKind, FromRedisValue, IntoConnectionInfo, RedisError,
    RedisResult, ScriptInvocation, TlsCertificates,
};

use super::CALL_TIMEOUT;
use super::cluster::SlotOwner;
use crate::config::schema::{StoreConfig, StoreMode, StoreTls};
use crate::limits::store::StoreError;

/// Bound on establishing one connection (a reconnect runs in the background, so it may take
/// longer than one call).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Reconnect attempts per failure before waiting for the next call to start over.
const RECONNECT_RETRIES: usize = 3;
/// Backoff between reconnect attempts: from this…
const RECONNECT_MIN_DELAY: Duration = Duration::from_millis(50);
/// …up to this, so a Redis that comes back is found within about this long.
const RECONNECT_MAX_DELAY: Duration = Duration::from_millis(500);

/// How the store reaches Redis.
pub(super) enum Connector {
    /// One server (or a primary behind one endpoint).
    Single {
        /// To build a fresh manager after a failed handshake.
        client: ::redis::Client,
        /// Swapped for a fresh one when a connection fails in a way the manager does not retry
        /// (a rejected password, a protocol error).
        manager: Mutex<ConnectionManager>,
    },
    /// The master of the keys' slot in a Redis Cluster.
    Cluster(SlotOwner),
}

impl Connector {
    /// The connector `store:` describes. Does not connect; fails on a malformed URL or an
    /// unreadable or malformed TLS file (the message never quotes a URL).
    pub(super) fn new(config: &StoreConfig, tag: &str) -> Result<Self, StoreError> {
        let certificates = certificates(config.tls.as_ref())?;
        let mut nodes = Vec::new();
        for endpoint in config.endpoints() {
            let info = endpoint.expose().into_connection_info().map_err(|e| {
                StoreError(format!(
                    "store.url or store.nodes is not a usable Redis URL: {e}"
                ))
            })?;
            nodes.push(with_credentials(info, config));
        }
        match config.mode {
            StoreMode::Standalone => single(nodes, certificates),
            StoreMode::Cluster => Ok(Self::Cluster(SlotOwner::new(
                nodes,
                certificates,
                tag.to_owned(),
            ))),
        }
    }

    /// Runs one script (the caller bounds it with [`CALL_TIMEOUT`]).
    pub(super) async fn invoke<T: FromRedisValue>(
        &self,
        invocation: &ScriptInvocation<'_>,
    ) -> RedisResult<T> {
        match self {
            Self::Single { manager, .. } => {
                let mut connection = manager
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                invocation.invoke_async(&mut connection).await
            }
            Self::Cluster(owner) => {
                let mut connection = owner.connection().await?;
                invocation.invoke_async(&mut connection).await
            }
        }
    }

    /// After a failed call: the connection manager reconnects by itself after I/O errors but
    /// keeps a failed handshake (wrong password, protocol error) forever, so that one starts
    /// over; in a cluster, a redirect or a lost master means asking where the slot is again.
    pub(super) fn after_error(&self, error: &RedisError) {
        match self {
            Self::Single { client, manager } => {
                if matches!(error.kind(), ErrorKind::Server(_) | ErrorKind::Io) {
                    return;
                }
                match single_manager(client) {
                    Ok(fresh) => *manager.lock().unwrap_or_else(PoisonError::into_inner) = fresh,
                    Err(e) => tracing::warn!(error = %e, "cannot renew the redis connection"),
                }
            }
            Self::Cluster(owner) if SlotOwner::moved(error) => owner.forget(),
            Self::Cluster(_) => {}
        }
    }

    /// After a call that got no answer in time: in a cluster the master may be gone, so the
    /// next call asks where the slot is; the connection manager reconnects by itself.
    pub(super) fn after_timeout(&self) {
        if let Self::Cluster(owner) = self {
            owner.forget();
        }
    }
}

/// Applies `store.username`/`store.password` over what the URL says.
fn with_credentials(info: ConnectionInfo, config: &StoreConfig) -> ConnectionInfo {
    let mut settings = info.redis_settings().clone();
    if let Some(username) = &config.username {
        settings = settings.set_username(username.expose());
    }
    if let Some(password) = &config.password {
        settings = settings.set_password(password.expose());
    }
    info.set_redis_settings(settings)
}

/// The CA bundle and client identity of `store.tls`, read now so a missing file fails at start.
/// `None` keeps the embedded public roots and no client certificate.
fn certificates(tls: Option<&StoreTls>) -> Result<Option<TlsCertificates>, StoreError> {
    let Some(tls) = tls else {
        return Ok(None);
    };
    let read = |setting: &str, path: &str| {
        std::fs::read(path)
            .map_err(|e| StoreError(format!("cannot read store.tls.{setting} `{path}`: {e}")))
    };
    let root_cert = tls
        .ca_file
        .as_deref()
        .map(|path| read("ca_file", path))
        .transpose()?;
    let client_tls = match (&tls.cert_file, &tls.key_file) {
        (Some(cert), Some(key)) => Some(ClientTlsConfig {
            client_cert: read("cert_file", cert)?,
            client_key: read("key_file", key)?,
        }),
        _ => None,
    };
    Ok(Some(TlsCertificates {
        client_tls,
        root_cert,
    }))
}

fn single(
    mut nodes: Vec<ConnectionInfo>,
    certificates: Option<TlsCertificates>,
) -> Result<Connector, StoreError> {
    let info = nodes
        .pop()
        .ok_or_else(|| StoreError("store.url is not set".to_owned()))?;
    let client = client(info, certificates)
        .map_err(|e| StoreError(format!("store.url or store.tls is not usable: {e}")))?;
    let manager = single_manager(&client)
        .map_err(|e| StoreError(format!("cannot set up the redis connection: {e}")))?;
    Ok(Connector::Single {
        client,
        manager: Mutex::new(manager),
    })
}

/// A client for `info`, with `store.tls`'s CA and client identity when given.
pub(super) fn client(
    info: ConnectionInfo,
    certificates: Option<TlsCertificates>,
) -> RedisResult<::redis::Client> {
    match certificates {
        Some(certificates) => ::redis::Client::build_with_tls(info, certificates),
        None => ::redis::Client::open(info),
    }
}

/// A lazy connection manager: it connects on first use, so a store can be built while Redis is
/// down.
pub(super) fn single_manager(client: &::redis::Client) -> RedisResult<ConnectionManager> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(CALL_TIMEOUT))
        .set_number_of_retries(RECONNECT_RETRIES)
        .set_min_delay(RECONNECT_MIN_DELAY)
        .set_max_delay(RECONNECT_MAX_DELAY);
    ConnectionManager::new_lazy_with_config(client.clone(), config)
}
