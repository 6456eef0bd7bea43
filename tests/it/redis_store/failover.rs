//! The `store.on_error` policy against a real `redis-server` that goes away and comes back, one
//! that is not there at start, and one that accepts connections but never answers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use llm_sidecar::config::expand::Secret;
use llm_sidecar::config::schema::{OnError, StoreConfig};
use llm_sidecar::limits::redis::{CALL_TIMEOUT, RedisStore};
use llm_sidecar::limits::shared::{SharedStore, connect};
use llm_sidecar::limits::store::{Admission, Store, Take};
use llm_sidecar::telemetry::metrics;
use redis::AsyncCommands;

use super::server::{RedisServer, free_port};
use super::{MIN, PREFIX, spend, take};

/// How long a restarted Redis may take to be used again (reconnect backoff plus the retry
/// interval, on a loaded machine).
const RECOVERY: Duration = Duration::from_secs(15);
/// Slack over [`CALL_TIMEOUT`] for a call that must give up on a hung Redis.
const TIMEOUT_SLACK: Duration = Duration::from_millis(750);

fn config(url: Secret, on_error: OnError) -> StoreConfig {
    StoreConfig {
        url: Some(url),
        on_error,
        prefix: PREFIX.into(),
        ..StoreConfig::default()
    }
}

async fn shared(url: Secret, on_error: OnError) -> (Arc<SharedStore>, Arc<dyn Store>) {
    let shared = Arc::new(SharedStore::open(&url, PREFIX, on_error).await.unwrap());
    (shared.clone(), shared)
}

/// `llm_store_errors_total{operation}` as the gateway's `/metrics` renders it.
fn store_errors(operation: &str) -> f64 {
    let handle = metrics::install().unwrap();
    let series = format!("{}{{operation=\"{operation}\"}} ", metrics::STORE_ERRORS);
    let rendered = handle.render();
    rendered
        .lines()
        .find_map(|line| line.strip_prefix(&series))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

fn is_admitted(admission: &Admission) -> bool {
    matches!(admission, Admission::Admitted { .. })
}

/// Calls until the shared store answers from Redis again.
async fn wait_until_up(shared: &SharedStore, take: &Take) {
    let deadline = Instant::now() + RECOVERY;
    while !(shared.peek(take).await.is_ok() && shared.is_up()) {
        assert!(
            Instant::now() < deadline,
            "redis was not used again within {RECOVERY:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn open_serves_local_limits_while_redis_is_down_then_shares_again() {
    metrics::install().unwrap();
    let server = RedisServer::start();
    let port = server.port();
    let (shared, store) = shared(server.url(), OnError::Open).await;
    let rpm = [take("key:a:rpm", 3, MIN, 1)];
    assert!(is_admitted(&store.admit(&rpm, &[]).await.unwrap()));
    assert!(shared.is_up());
    let errors = store_errors("admit");
    let gateway = connect(&config(server.url(), OnError::Open)).await.unwrap();
    let tpm = take("key:a:tpm", 100, MIN, 10);
    assert!(is_admitted(&gateway.admit(&[tpm], &[]).await.unwrap()));
    let mut redis = server.connection().await;
    let exists: bool = redis.exists("t:tat:key:a:tpm").await.unwrap();
    assert!(exists, "the store the gateway connects to is Redis");

    drop(server);
    for _ in 0..3 {
        assert!(
            is_admitted(&store.admit(&rpm, &[]).await.unwrap()),
            "a fresh local bucket of 3"
        );
    }
    assert!(
        matches!(
            store.admit(&rpm, &[]).await.unwrap(),
            Admission::Limited { .. }
        ),
        "local limits hold"
    );
    assert!(!shared.is_up());
    assert!(store_errors("admit") > errors, "the failed call is counted");
    store.charge(&spend(&["key:a"], 10, &[])).await.unwrap();
    assert_eq!(
        store.usage("key:a", None).await.unwrap().total.requests,
        1,
        "charged locally"
    );

    let server = RedisServer::start_on(port);
    wait_until_up(&shared, &rpm[0]).await;
    // The charge taken locally during the outage is replayed to the restarted, empty Redis.
    let deadline = Instant::now() + RECOVERY;
    loop {
        let requests = store.usage("key:a", None).await.unwrap().total.requests;
        if requests == 1 && shared.is_up() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the outage's charge did not reach redis"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        is_admitted(&store.admit(&rpm, &[]).await.unwrap()),
        "the restarted Redis has a fresh bucket"
    );
    let exists: bool = server
        .connection()
        .await
        .exists("t:tat:key:a:rpm")
        .await
        .unwrap();
    assert!(exists, "admissions go to Redis again");
}

#[tokio::test]
async fn closed_refuses_while_redis_is_down() {
    metrics::install().unwrap();
    let server = RedisServer::start();
    let port = server.port();
    let (shared, store) = shared(server.url(), OnError::Closed).await;
    let rpm = [take("key:a:rpm", 3, MIN, 1)];
    assert!(is_admitted(&store.admit(&rpm, &[]).await.unwrap()));

    drop(server);
    let errors = store_errors("admit");
    assert!(store.admit(&rpm, &[]).await.is_err());
    assert!(store_errors("admit") > errors);
    assert!(
        store.admit(&rpm, &[]).await.is_err(),
        "still refused while Redis is away"
    );
    assert!(store.charge(&spend(&["key:a"], 10, &[])).await.is_err());

    let _server = RedisServer::start_on(port);
    wait_until_up(&shared, &rpm[0]).await;
    assert!(is_admitted(&store.admit(&rpm, &[]).await.unwrap()));
}

#[tokio::test]
async fn the_gateway_starts_while_redis_is_not_there() {
    let port = free_port();
    let url = Secret::new(format!("redis://127.0.0.1:{port}/0"));
    let rpm = [take("key:a:rpm", 3, MIN, 1)];

    let started = Instant::now();
    let (open, open_store) = shared(url.clone(), OnError::Open).await;
    let (closed, closed_store) = shared(url, OnError::Closed).await;
    assert!(
        started.elapsed() < 2 * (CALL_TIMEOUT + TIMEOUT_SLACK),
        "start is not held up"
    );
    assert!(!open.is_up() && !closed.is_up());
    assert!(
        is_admitted(&open_store.admit(&rpm, &[]).await.unwrap()),
        "open: local limits"
    );
    assert!(
        closed_store.admit(&rpm, &[]).await.is_err(),
        "closed: refused"
    );

    let _server = RedisServer::start_on(port);
    wait_until_up(&open, &rpm[0]).await;
    wait_until_up(&closed, &rpm[0]).await;
    assert!(is_admitted(&closed_store.admit(&rpm, &[]).await.unwrap()));
}

#[tokio::test]
async fn a_hung_redis_costs_one_call_timeout() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let url = Secret::new(format!("redis://127.0.0.1:{port}/0"));
    let rpm = [take("key:a:rpm", 3, MIN, 1)];

    let redis = RedisStore::open(&url, PREFIX).await.unwrap();
    let started = Instant::now();
    let error = redis.admit(&rpm, &[]).await.unwrap_err();
    let took = started.elapsed();
    assert!(
        took >= CALL_TIMEOUT && took < CALL_TIMEOUT + TIMEOUT_SLACK,
        "{took:?}: {error}"
    );

    let (_, store) = shared(url, OnError::Open).await;
    let started = Instant::now();
    assert!(is_admitted(&store.admit(&rpm, &[]).await.unwrap()));
    assert!(
        started.elapsed() < CALL_TIMEOUT,
        "while Redis is down, calls do not wait for it"
    );
    holder.abort();
}
