//! A real three-master Redis Cluster started here (`redis-server --cluster-enabled yes` ×3, then
//! `redis-cli --cluster create`): the store's keys share one slot through their hash tag, every
//! script (budgets only included) runs there, two gateways share one limit exactly through the
//! cluster (over TLS too), and when the master holding the limits dies, `on_error: open` keeps
//! serving locally while `closed` refuses, until the master is back; a cluster that is not
//! there at all costs a call at most one call timeout.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use llm_sidecar::config::schema::{OnError, StoreConfig, StoreMode};
use llm_sidecar::limits::redis::{CALL_TIMEOUT, RedisStore};
use llm_sidecar::limits::shared::SharedStore;
use llm_sidecar::limits::store::{Admission, Budget, Store};
use redis::Commands;

use super::managed::{Pki, pki};
use super::server::free_port;
use super::{MIN, PREFIX, admitted, spend, take};
use crate::common::client::{self, Reply, Via, raw_request};
use crate::common::{Gateway, chat_body};

/// Masters in the test cluster.
const MASTERS: usize = 3;
/// How long a cluster may take to form, or to heal once a master is back.
const FORM_WAIT: Duration = Duration::from_secs(30);
/// How long a restarted master may take to be used by the gateways again.
const RECOVERY: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(50);
/// Slack over [`CALL_TIMEOUT`] for a call that must give up on a cluster that is not there.
const CALL_SLACK: Duration = Duration::from_millis(750);
/// Milliseconds before the cluster marks an unreachable master as failed (short: tests).
const NODE_TIMEOUT_MS: &str = "1000";
/// The ACL user of the TLS cluster, and its password.
const CLUSTER_USER: &str = "limits";
const CLUSTER_PASSWORD: &str = "cluster-acl-password-5e1b";
/// The gateways' key prefix, whose hash tag picks the slot the limits live in.
const GATEWAY_PREFIX: &str = "llm-sidecar";

/// One cluster node: a `redis-server` on its own port, bus port and directory (which keeps its
/// `nodes.conf`, so a restarted node rejoins with its slots).
struct Node {
    port: u16,
    bus_port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// Clients and the cluster bus speak TLS with these certificates (no plain port).
    tls: Option<Arc<Pki>>,
}

impl Node {
    fn start(tls: Option<Arc<Pki>>) -> Self {
        let mut node = Self {
            port: free_port(),
            bus_port: free_port(),
            dir: tempfile::tempdir().unwrap(),
            child: None,
            tls,
        };
        node.spawn();
        node
    }

    fn spawn(&mut self) {
        let mut command = Command::new("redis-server");
        command.args(["--save", "", "--appendonly", "no", "--bind", "127.0.0.1"]);
        match &self.tls {
            None => command.args(["--port", &self.port.to_string()]),
            Some(pki) => command
                .args(["--port", "0", "--tls-port", &self.port.to_string()])
                .args(["--tls-cluster", "yes", "--tls-auth-clients", "no"])
                // The store's ACL user (the default user stays open for the harness).
                .args([
                    "--user",
                    CLUSTER_USER,
                    "on",
                    &format!(">{CLUSTER_PASSWORD}"),
                ])
                .args(["~*", "+@all"])
                .arg("--tls-cert-file")
                .arg(&pki.server_cert)
                .arg("--tls-key-file")
                .arg(&pki.server_key)
                .arg("--tls-ca-cert-file")
                .arg(&pki.ca),
        };
        let child = command
            .args([
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
            ])
            .args(["--cluster-port", &self.bus_port.to_string()])
            .args(["--cluster-node-timeout", NODE_TIMEOUT_MS])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs");
        self.child = Some(child);
        self.wait_for(
            |c| redis::cmd("PING").query::<String>(c).is_ok(),
            "answer PING",
        );
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self) -> String {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    fn connection(&self) -> redis::RedisResult<redis::Connection> {
        let client = match &self.tls {
            None => redis::Client::open(self.url())?,
            Some(pki) => redis::Client::build_with_tls(
                self.url(),
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(std::fs::read(&pki.ca)?),
                },
            )?,
        };
        client.get_connection()
    }

    /// Polls this node until `ready` holds on a connection to it.
    fn wait_for(&self, ready: impl Fn(&mut redis::Connection) -> bool, what: &str) {
        let deadline = Instant::now() + FORM_WAIT;
        loop {
            if self.connection().is_ok_and(|mut c| ready(&mut c)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "node {} did not {what} within {FORM_WAIT:?}",
                self.port
            );
            std::thread::sleep(POLL);
        }
    }

    /// Waits until this node reports `cluster_state:ok`.
    fn wait_cluster_ok(&self) {
        self.wait_for(
            |c| {
                redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query::<String>(c)
                    .is_ok_and(|info| info.contains("cluster_state:ok"))
            },
            "report cluster_state:ok",
        );
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Three masters, no replicas, every slot covered.
struct Cluster {
    nodes: Vec<Node>,
}

impl Cluster {
    fn start() -> Self {
        Self::start_with(None)
    }

    /// A cluster whose nodes (clients and bus) speak only TLS, with `pki`'s certificates.
    fn start_with(tls: Option<Arc<Pki>>) -> Self {
        let nodes: Vec<Node> = (0..MASTERS).map(|_| Node::start(tls.clone())).collect();
        let mut cli = Command::new("redis-cli");
        if let Some(pki) = &tls {
            cli.arg("--tls").arg("--cacert").arg(&pki.ca);
        }
        let status = cli
            .arg("--cluster")
            .arg("create")
            .args(nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)))
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-cli runs");
        assert!(status.success(), "redis-cli --cluster create failed");
        let cluster = Self { nodes };
        cluster.wait_ok();
        cluster
    }

    fn wait_ok(&self) {
        for node in self.nodes.iter().filter(|n| n.child.is_some()) {
            node.wait_cluster_ok();
        }
    }

    /// Seed node URLs as YAML list items.
    fn seeds_yaml(&self) -> String {
        let urls: Vec<String> = self.nodes.iter().map(Node::url).collect();
        format!("[{}]", urls.join(", "))
    }

    /// The node serving the slot of hash tag `{tag}`.
    fn owner_of(&self, tag: &str) -> usize {
        let mut connection = self.nodes[0].connection().unwrap();
        let slot: u16 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(format!("{{{tag}}}"))
            .query(&mut connection)
            .unwrap();
        // Each range: first slot, last slot, then the master as [ip, port, id, metadata].
        let ranges: Vec<Vec<redis::Value>> = redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query(&mut connection)
            .unwrap();
        let port = ranges
            .iter()
            .find_map(|range| {
                let bound = |i: usize| redis::from_redis_value_ref::<u16>(&range[i]).unwrap();
                let master: Vec<redis::Value> = redis::from_redis_value_ref(&range[2]).unwrap();
                let port: u16 = redis::from_redis_value_ref(&master[1]).unwrap();
                (bound(0)..=bound(1)).contains(&slot).then_some(port)
            })
            .expect("every slot is covered");
        self.nodes.iter().position(|n| n.port == port).unwrap()
    }
}

fn store_config(cluster: &Cluster, prefix: &str) -> StoreConfig {
    serde_yaml::from_str(&format!(
        "mode: cluster\nnodes: {}\nprefix: {prefix}\n",
        cluster.seeds_yaml()
    ))
    .unwrap()
}

#[tokio::test]
async fn cluster_stores_share_limits_with_every_key_in_one_slot() {
    let cluster = Cluster::start();
    let config = store_config(&cluster, PREFIX);
    assert_eq!(config.mode, StoreMode::Cluster);
    let a = RedisStore::connect(&config).await.unwrap();
    let b = RedisStore::connect(&config).await.unwrap();

    // A key's and its team's buckets and budgets in one atomic script, shared by both stores.
    let takes = [
        take("key:a:rpm", 5, MIN, 1),
        take("team:t:rpm", 100, MIN, 1),
    ];
    let budgets = [Budget {
        scope: "team:t".into(),
        period: Duration::from_secs(86_400),
        limit_micros: 1_000,
    }];
    let mut admitted_count = 0;
    for i in 0..10 {
        let store = if i % 2 == 0 { &a } else { &b };
        if let Admission::Admitted { .. } = store.admit(&takes, &budgets).await.unwrap() {
            admitted_count += 1;
        }
    }
    assert_eq!(admitted_count, 5, "one 5 rpm limit across both stores");

    // Spend, usage and a budget-only admission (a script whose keys are spend keys alone).
    let day = Duration::from_secs(86_400);
    b.charge(&spend(&["key:a", "team:t"], 1_000, &[("team:t", day)]))
        .await
        .unwrap();
    let usage = a.usage("team:t", Some(day)).await.unwrap();
    assert_eq!(
        (usage.total.requests, usage.period_spend_micros),
        (1, 1_000)
    );
    assert!(matches!(
        a.admit(&[], &budgets).await.unwrap(),
        Admission::OverBudget { index: 0, .. }
    ));
    admitted(
        a.admit(&[take("key:other:rpm", 1, MIN, 1)], &[])
            .await
            .unwrap(),
    );

    // Every key carries the hash tag and lives on the one master that owns its slot.
    let owner = cluster.owner_of(PREFIX);
    let mut connection = cluster.nodes[owner].connection().unwrap();
    let keys: Vec<String> = connection.keys("*").unwrap();
    assert!(keys.len() >= 4, "{keys:?}");
    assert!(keys.iter().all(|k| k.starts_with("{t}:")), "{keys:?}");
}

#[tokio::test]
async fn a_tls_cluster_with_acl_credentials_trusted_through_the_ca_file_shares_limits() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start_with(Some(Arc::new(pki(dir.path()))));
    let config: StoreConfig = serde_yaml::from_str(&format!(
        "mode: cluster\nnodes: {}\nprefix: {PREFIX}\ntls: {{ca_file: {}}}\nusername: {CLUSTER_USER}\npassword: {CLUSTER_PASSWORD}\n",
        cluster.seeds_yaml(),
        dir.path().join("ca.pem").display()
    ))
    .unwrap();
    let a = RedisStore::connect(&config).await.unwrap();
    let b = RedisStore::connect(&config).await.unwrap();
    let rpm = [take("key:tls:rpm", 3, MIN, 1)];
    let mut admitted_count = 0;
    for i in 0..6 {
        let store = if i % 2 == 0 { &a } else { &b };
        if let Admission::Admitted { .. } = store.admit(&rpm, &[]).await.unwrap() {
            admitted_count += 1;
        }
    }
    assert_eq!(
        admitted_count, 3,
        "one 3 rpm limit across both stores over TLS"
    );
    let owner = cluster.owner_of(PREFIX);
    let keys: Vec<String> = cluster.nodes[owner]
        .connection()
        .unwrap()
        .keys("*")
        .unwrap();
    assert_eq!(keys, ["{t}:tat:key:tls:rpm"]);
}

#[tokio::test]
async fn a_cluster_that_is_not_there_costs_at_most_one_call_timeout() {
    let config: StoreConfig = serde_yaml::from_str(&format!(
        "mode: cluster\nnodes: [redis://127.0.0.1:{}, redis://127.0.0.1:{}]\nprefix: {PREFIX}\n",
        free_port(),
        free_port()
    ))
    .unwrap();
    let rpm = [take("key:a:rpm", 3, MIN, 1)];
    let redis = RedisStore::connect(&config).await.unwrap();
    let started = Instant::now();
    assert!(redis.admit(&rpm, &[]).await.is_err());
    assert!(
        started.elapsed() < CALL_TIMEOUT + CALL_SLACK,
        "{:?}",
        started.elapsed()
    );
    let open = SharedStore::connect(&config).await.unwrap();
    assert!(!open.is_up());
    admitted(open.admit(&rpm, &[]).await.unwrap());
    let closed = SharedStore::connect(&StoreConfig {
        on_error: OnError::Closed,
        ..config
    })
    .await
    .unwrap();
    assert!(closed.admit(&rpm, &[]).await.is_err());
}

fn gateway_config(cluster: &Cluster, on_error: &str) -> String {
    format!(
        "providers:\n  - {{name: mock, type: mock, models: [m], mock: {{latency: 0ms}}}}\nkeys:\n  - {{name: shared, key: sk-shared, rpm: 10}}\nstore:\n  mode: cluster\n  nodes: {}\n  on_error: {on_error}\n  prefix: {GATEWAY_PREFIX}\n",
        cluster.seeds_yaml()
    )
}

async fn chat(via: &Via) -> Reply {
    let mut request = raw_request(
        "POST",
        "/v1/chat/completions",
        chat_body("m", false).to_string().into(),
    );
    request
        .headers_mut()
        .insert("authorization", "Bearer sk-shared".parse().unwrap());
    client::call(via, request).await
}

#[tokio::test]
async fn two_gateways_share_limits_through_a_cluster_that_loses_a_master() {
    let mut cluster = Cluster::start();
    let open = Gateway::start(&gateway_config(&cluster, "open")).await;
    let closed = Gateway::start(&gateway_config(&cluster, "closed")).await;
    let targets = [Via::Unix(open.unix.clone()), Via::Unix(closed.unix.clone())];
    let mut statuses = Vec::new();
    for i in 0..30 {
        statuses.push(chat(&targets[i % 2]).await.status.as_u16());
    }
    let ok = statuses.iter().filter(|&&s| s == 200).count();
    assert_eq!(
        ok, 10,
        "one 10 rpm limit across both gateways: {statuses:?}"
    );

    // The master that holds the limits dies.
    let owner = cluster.owner_of(GATEWAY_PREFIX);
    cluster.nodes[owner].kill();
    let reply = chat(&targets[0]).await;
    assert_eq!(
        reply.status,
        200,
        "open serves on local limits: {}",
        reply.text()
    );
    let refused = chat(&targets[1]).await;
    assert_eq!(refused.status, 503, "closed refuses: {}", refused.text());
    let body = refused.text();
    assert!(body.contains("usage store is unavailable"), "{body}");
    assert!(!body.contains("redis://"), "no store URL in errors: {body}");

    // Back (empty: no persistence): the closed gateway serves from the cluster again.
    cluster.nodes[owner].spawn();
    cluster.wait_ok();
    let deadline = Instant::now() + RECOVERY;
    loop {
        let reply = chat(&targets[1]).await;
        if reply.status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the closed gateway did not use the healed cluster within {RECOVERY:?}: {}",
            reply.text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut connection = cluster.nodes[owner].connection().unwrap();
    let keys: Vec<String> = connection.keys("*").unwrap();
    assert!(
        keys.iter().any(|k| k.starts_with("{llm-sidecar}:")),
        "the restarted master holds the limits again: {keys:?}"
    );
}
