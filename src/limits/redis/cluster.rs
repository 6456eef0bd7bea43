//! Redis Cluster for the store. Every key of a deployment carries the hash tag `{prefix}`, so
//! the store only ever talks to the master that owns that one slot: it asks a seed node
//! (`CLUSTER KEYSLOT`, `CLUSTER SLOTS`), connects to that master as to a standalone Redis, and
//! asks again after a redirect or a lost master (`MOVED`, `ASK`, `CLUSTERDOWN`, `READONLY`, an
//! I/O error, a timeout): failovers and resharding are followed on the next call. This replaces
//! the `redis` crate's general cluster client, which routes any of 16,384 slots at ~400 KiB of
//! binary the store would never use.

use ::redis::aio::ConnectionManager;
use ::redis::{
    ConnectionAddr, ConnectionInfo, ErrorKind, RedisError, RedisResult, ServerErrorKind,
    TlsCertificates, Value,
};

/// Where the master of the hash tag's slot is, and the connection to it.
pub(super) struct SlotOwner {
    /// Seed nodes, credentials applied, tried in order.
    seeds: Vec<ConnectionInfo>,
    /// `store.tls`'s CA and client identity, for the seeds and the master alike.
    certificates: Option<TlsCertificates>,
    /// The keys' hash tag, `{prefix}`.
    tag: String,
    /// The master's connection, found on first use and forgotten after a failure. An async
    /// lock: one call asks the cluster while the others wait, each within its call timeout.
    owner: tokio::sync::Mutex<Option<ConnectionManager>>,
}

impl SlotOwner {
    /// Finds the master of `tag`'s slot through `seeds` on first use.
    pub(super) fn new(
        seeds: Vec<ConnectionInfo>,
        certificates: Option<TlsCertificates>,
        tag: String,
    ) -> Self {
        Self {
            seeds,
            certificates,
            tag,
            owner: tokio::sync::Mutex::new(None),
        }
    }

    /// The connection to the slot's master, asking the cluster where it is when none is known.
    pub(super) async fn connection(&self) -> RedisResult<ConnectionManager> {
        let mut owner = self.owner.lock().await;
        if let Some(connection) = owner.as_ref() {
            return Ok(connection.clone());
        }
        let fresh = self.discover().await?;
        *owner = Some(fresh.clone());
        Ok(fresh)
    }

    /// Whether `error` means the slot's master may be elsewhere now (so it is asked for again).
    pub(super) fn moved(error: &RedisError) -> bool {
        match error.kind() {
            ErrorKind::Server(kind) => matches!(
                kind,
                ServerErrorKind::Moved
                    | ServerErrorKind::Ask
                    | ServerErrorKind::TryAgain
                    | ServerErrorKind::ClusterDown
                    | ServerErrorKind::MasterDown
                    | ServerErrorKind::ReadOnly
            ),
            _ => true,
        }
    }

    /// Forgets the master, so the next call asks the cluster. A call holding the lock is asking
    /// already, so this one does not wait for it.
    pub(super) fn forget(&self) {
        if let Ok(mut owner) = self.owner.try_lock() {
            *owner = None;
        }
    }

    /// Asks each seed in turn for the slot's master and connects to it.
    async fn discover(&self) -> RedisResult<ConnectionManager> {
        let mut last = None;
        for seed in &self.seeds {
            match self.ask(seed).await {
                Ok(master) => {
                    let client = super::connect::client(master, self.certificates.clone())?;
                    return super::connect::single_manager(&client);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            RedisError::from((ErrorKind::InvalidClientConfig, "no cluster seed nodes"))
        }))
    }

    /// The address of the slot's master, as `seed` sees the cluster.
    async fn ask(&self, seed: &ConnectionInfo) -> RedisResult<ConnectionInfo> {
        let client = super::connect::client(seed.clone(), self.certificates.clone())?;
        let mut connection = client.get_multiplexed_async_connection().await?;
        let slot: u16 = ::redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(&self.tag)
            .query_async(&mut connection)
            .await?;
        let ranges: Vec<Vec<Value>> = ::redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query_async(&mut connection)
            .await?;
        let (host, port) = master_of(&ranges, slot).ok_or_else(|| {
            RedisError::from((
                ErrorKind::Server(ServerErrorKind::ClusterDown),
                "slot not served",
            ))
        })?;
        Ok(at(seed, host, port))
    }
}

/// The master (host, port) of `slot` in a `CLUSTER SLOTS` reply: per range, the first and last
/// slot, then the master as `[host, port, id, …]`, then its replicas.
fn master_of(ranges: &[Vec<Value>], slot: u16) -> Option<(Option<String>, u16)> {
    ranges.iter().find_map(|range| {
        let number = |value: &Value| ::redis::from_redis_value_ref::<u16>(value).ok();
        let (first, last) = (number(range.first()?)?, number(range.get(1)?)?);
        if !(first..=last).contains(&slot) {
            return None;
        }
        let master: Vec<Value> = ::redis::from_redis_value_ref(range.get(2)?).ok()?;
        let host: String = ::redis::from_redis_value_ref(master.first()?).ok()?;
        // An empty or unknown endpoint means "the node you asked" (Redis 7).
        let host = (!host.is_empty() && host != "?").then_some(host);
        Some((host, number(master.get(1)?)?))
    })
}

/// `seed`'s settings (credentials, TLS mode) at the master's address.
fn at(seed: &ConnectionInfo, host: Option<String>, port: u16) -> ConnectionInfo {
    let addr = match seed.addr() {
        ConnectionAddr::Tcp(seed_host, _) => {
            ConnectionAddr::Tcp(host.unwrap_or_else(|| seed_host.clone()), port)
        }
        ConnectionAddr::TcpTls {
            host: seed_host,
            insecure,
            tls_params,
            ..
        } => ConnectionAddr::TcpTls {
            host: host.unwrap_or_else(|| seed_host.clone()),
            port,
            insecure: *insecure,
            tls_params: tls_params.clone(),
        },
        // Refused by the config check: a cluster announces TCP addresses.
        unix => unix.clone(),
    };
    seed.clone().set_addr(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(first: i64, last: i64, host: &str, port: i64) -> Vec<Value> {
        let master = vec![
            Value::BulkString(host.as_bytes().to_vec()),
            Value::Int(port),
            Value::BulkString(b"id".to_vec()),
        ];
        vec![Value::Int(first), Value::Int(last), Value::Array(master)]
    }

    #[test]
    fn the_slot_master_is_read_from_cluster_slots() {
        let ranges = [
            range(0, 5460, "10.0.0.1", 6379),
            range(5461, 10922, "", 6380),
        ];
        assert_eq!(
            master_of(&ranges, 42),
            Some((Some("10.0.0.1".into()), 6379))
        );
        assert_eq!(master_of(&ranges, 6000), Some((None, 6380)));
        assert_eq!(master_of(&ranges, 16_000), None, "an uncovered slot");
        assert_eq!(master_of(&[vec![Value::Int(0)]], 0), None, "a short range");
    }

    #[test]
    fn redirects_and_lost_connections_mean_ask_again() {
        let moved = RedisError::from((ErrorKind::Server(ServerErrorKind::Moved), "MOVED"));
        let script = RedisError::from((ErrorKind::Server(ServerErrorKind::ResponseError), "ERR"));
        let io = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(SlotOwner::moved(&moved));
        assert!(SlotOwner::moved(&io));
        assert!(!SlotOwner::moved(&script));
    }
}
