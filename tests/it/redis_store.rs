//! The Redis store against a real `redis-server`: the same GCRA behaviours as the in-memory store,
//! budgets and usage, one limit shared exactly by two stores, key expiry, URLs with passwords and
//! Unix sockets. `failover` covers the open/closed policy when Redis goes away; `managed` TLS,
//! mutual TLS and ACL credentials; `cluster` a real Redis Cluster that loses a master.

mod cluster;
mod failover;
mod gateways;
mod managed;
mod server;
mod urls;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use llm_sidecar::limits::memory::MemoryStore;
use llm_sidecar::limits::redis::{RedisStore, SPEND_MARGIN};
use llm_sidecar::limits::store::{Admission, Budget, Charge, Counters, DocLimits, Store, Take};
use redis::AsyncCommands;

use server::RedisServer;

const MIN: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);
/// Key prefix of the stores under test.
const PREFIX: &str = "t";
/// Slack for the time a test takes between two calls on a loaded machine.
const SLACK: Duration = Duration::from_millis(500);

fn take(key: &str, limit: u64, window: Duration, cost: u64) -> Take {
    Take {
        key: key.into(),
        limit,
        window,
        cost,
    }
}

async fn store(server: &RedisServer) -> RedisStore {
    RedisStore::open(&server.url(), PREFIX).await.unwrap()
}

fn admitted(admission: Admission) -> Vec<llm_sidecar::limits::store::BucketState> {
    match admission {
        Admission::Admitted { buckets } => buckets,
        other => panic!("expected admitted, got {other:?}"),
    }
}

fn spend(scopes: &[&str], spend_micros: u64, periods: &[(&str, Duration)]) -> Charge {
    Charge {
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        counters: Counters {
            requests: 1,
            input_tokens: 10,
            output_tokens: 5,
            cached_tokens: 2,
            spend_micros,
        },
        periods: periods.iter().map(|(s, p)| ((*s).to_owned(), *p)).collect(),
        corrections: vec![],
    }
}

#[tokio::test]
async fn a_fresh_bucket_admits_its_whole_window_then_refills_evenly() {
    let server = RedisServer::start();
    let store = store(&server).await;
    let rpm = [take("key:a:rpm", 6, MIN, 1)];
    for left in (0..6).rev() {
        assert_eq!(
            admitted(store.admit(&rpm, &[]).await.unwrap())[0].remaining,
            left
        );
    }
    let Admission::Limited {
        index: 0,
        retry_after,
        buckets,
    } = store.admit(&rpm, &[]).await.unwrap()
    else {
        panic!("the seventh request of a 6 rpm bucket is limited")
    };
    assert!(
        retry_after <= Duration::from_secs(10) && retry_after > Duration::from_secs(10) - SLACK,
        "{retry_after:?}"
    );
    assert_eq!(buckets[0].remaining, 0);
    let peek = store.peek(&rpm[0]).await.unwrap();
    assert_eq!(peek.remaining, 0);
    assert!(
        peek.reset <= MIN && peek.reset > MIN - SLACK,
        "{:?}",
        peek.reset
    );

    // The key lives only until the bucket is full again.
    let ttl: i64 = server
        .connection()
        .await
        .pttl("t:tat:key:a:rpm")
        .await
        .unwrap();
    assert!(ttl > 0 && ttl <= 60_000, "{ttl}");

    // Refill, on a fast bucket: 4 per 2 s, one every 500 ms.
    let window = Duration::from_secs(2);
    let fast = [take("key:a:fast", 4, window, 1)];
    for _ in 0..4 {
        admitted(store.admit(&fast, &[]).await.unwrap());
    }
    let Admission::Limited { retry_after, .. } = store.admit(&fast, &[]).await.unwrap() else {
        panic!("full")
    };
    assert!(retry_after <= Duration::from_millis(500), "{retry_after:?}");
    tokio::time::sleep(retry_after + Duration::from_millis(5)).await;
    admitted(store.admit(&fast, &[]).await.unwrap());
    assert!(
        matches!(
            store.admit(&fast, &[]).await.unwrap(),
            Admission::Limited { .. }
        ),
        "one unit came back, not two"
    );
    tokio::time::sleep(window).await;
    let peek = store.peek(&fast[0]).await.unwrap();
    assert_eq!(
        (peek.remaining, peek.reset),
        (4, Duration::ZERO),
        "a quiet window fills the bucket"
    );
    let exists: bool = server
        .connection()
        .await
        .exists("t:tat:key:a:fast")
        .await
        .unwrap();
    assert!(!exists, "a full bucket has no key");
}

/// The scripts' microsecond GCRA gives the same answers as `store::gcra` in nanoseconds, on
/// limits that do not divide the window evenly. Hour windows keep the test's own time out of it.
#[tokio::test]
async fn the_scripts_agree_with_the_in_memory_gcra() {
    let server = RedisServer::start();
    let store = store(&server).await;
    let memory = MemoryStore::new(None);
    let now = llm_sidecar::limits::memory::now_ns();
    for (limit, costs) in [
        (7, &[1, 2, 3, 1, 1][..]),
        (13, &[5, 5, 5, 1]),
        (3, &[9, 1]),
        (1000, &[999, 2, 1]),
    ] {
        let key = format!("key:{limit}:tpm");
        for &cost in costs {
            let takes = [take(&key, limit, HOUR, cost)];
            let (redis, local) = (
                store.admit(&takes, &[]).await.unwrap(),
                memory.admit_at(&takes, &[], now).unwrap(),
            );
            match (&redis, &local) {
                (Admission::Admitted { buckets: r }, Admission::Admitted { buckets: l }) => {
                    assert_eq!(r[0].remaining, l[0].remaining, "{limit}: {cost}");
                    assert!(l[0].reset.abs_diff(r[0].reset) < SLACK, "{limit}: {cost}");
                }
                (
                    Admission::Limited { retry_after: r, .. },
                    Admission::Limited { retry_after: l, .. },
                ) => {
                    assert!(l.abs_diff(*r) < SLACK, "{limit}: {cost}: {r:?} vs {l:?}");
                }
                _ => panic!("{limit}: {cost}: redis {redis:?}, memory {local:?}"),
            }
        }
    }
}

#[tokio::test]
async fn takes_are_all_or_nothing_across_buckets() {
    let server = RedisServer::start();
    let store = store(&server).await;
    let takes = [take("key:a:rpm", 10, MIN, 1), take("team:t:rpm", 2, MIN, 1)];
    admitted(store.admit(&takes, &[]).await.unwrap());
    admitted(store.admit(&takes, &[]).await.unwrap());
    let Admission::Limited {
        index,
        retry_after,
        buckets,
    } = store.admit(&takes, &[]).await.unwrap()
    else {
        panic!("the team bucket is full")
    };
    assert_eq!(index, 1, "the team bucket is the one that is full");
    assert!(
        retry_after <= Duration::from_secs(30) && retry_after > Duration::from_secs(30) - SLACK,
        "{retry_after:?}"
    );
    assert_eq!(
        buckets[0].remaining, 8,
        "the key's bucket was not charged for the refused request"
    );
    assert_eq!(store.peek(&takes[0]).await.unwrap().remaining, 8);
}

#[tokio::test]
async fn weighted_takes_corrections_and_oversized_costs() {
    let server = RedisServer::start();
    let store = store(&server).await;
    // 1000 per hour: one unit every 3.6 s, so the test's own time does not move the counts.
    let tokens = take("key:a:tpm", 1000, HOUR, 600);
    assert_eq!(
        admitted(
            store
                .admit(std::slice::from_ref(&tokens), &[])
                .await
                .unwrap()
        )[0]
        .remaining,
        400
    );
    let bigger = take("key:a:tpm", 1000, HOUR, 500);
    assert!(matches!(
        store.admit(&[bigger], &[]).await.unwrap(),
        Admission::Limited { .. }
    ));

    let refund = |delta| Charge {
        corrections: vec![(tokens.clone(), delta)],
        ..Charge::default()
    };
    store.charge(&refund(-300)).await.unwrap();
    assert_eq!(store.peek(&tokens).await.unwrap().remaining, 700);
    store.charge(&refund(200)).await.unwrap();
    assert_eq!(
        store.peek(&tokens).await.unwrap().remaining,
        500,
        "more tokens than estimated take more"
    );
    store.charge(&refund(-5000)).await.unwrap();
    let peek = store.peek(&tokens).await.unwrap();
    assert_eq!(
        (peek.remaining, peek.reset),
        (1000, Duration::ZERO),
        "a refund fills the bucket"
    );
    let whole = take("key:a:tpm", 1000, HOUR, 1000);
    admitted(
        store
            .admit(std::slice::from_ref(&whole), &[])
            .await
            .unwrap(),
    );
    let one = take("key:a:tpm", 1000, HOUR, 1);
    assert!(
        matches!(
            store.admit(&[one], &[]).await.unwrap(),
            Admission::Limited { .. }
        ),
        "a refund never makes credit"
    );

    let oversized = take("key:b:tpm", 1000, HOUR, 50_000);
    let buckets = admitted(
        store
            .admit(std::slice::from_ref(&oversized), &[])
            .await
            .unwrap(),
    );
    assert_eq!(
        buckets[0].remaining, 0,
        "capped at the limit: it runs alone rather than never"
    );
    assert!(matches!(
        store.admit(&[oversized], &[]).await.unwrap(),
        Admission::Limited { .. }
    ));
}

#[tokio::test]
async fn budgets_refuse_once_spent_take_nothing_and_reset_next_period() {
    let server = RedisServer::start();
    let store = store(&server).await;
    // Two-second periods; start just after a boundary so the whole check fits in one period.
    let period = Duration::from_secs(2);
    wait_for_period_start(period).await;
    let budgets = [
        Budget {
            scope: "team:t".into(),
            period: DAY,
            limit_micros: 1_000_000,
        },
        Budget {
            scope: "key:a".into(),
            period,
            limit_micros: 1_000,
        },
    ];
    let rpm = [take("key:a:rpm", 10, MIN, 1)];
    admitted(store.admit(&rpm, &budgets).await.unwrap());
    store
        .charge(&spend(
            &["key:a", "team:t"],
            1_500,
            &[("key:a", period), ("team:t", DAY)],
        ))
        .await
        .unwrap();
    let refused = store.admit(&rpm, &budgets).await.unwrap();
    assert_eq!(
        refused,
        Admission::OverBudget {
            index: 1,
            spent_micros: 1_500
        }
    );
    assert_eq!(
        store.peek(&rpm[0]).await.unwrap().remaining,
        9,
        "a refused request takes nothing"
    );

    tokio::time::sleep(period).await;
    admitted(store.admit(&rpm, &budgets).await.unwrap());
    let usage = store.usage("team:t", Some(DAY)).await.unwrap();
    assert_eq!(
        usage.period_spend_micros, 1_500,
        "the day's spend is still there"
    );
}

#[tokio::test]
async fn usage_totals_and_period_spend() {
    let server = RedisServer::start();
    let store = store(&server).await;
    let charge = spend(&["key:a", "team:t"], 250, &[("key:a", DAY)]);
    store.charge(&charge).await.unwrap();
    store.charge(&charge).await.unwrap();
    let usage = store.usage("key:a", Some(DAY)).await.unwrap();
    let twice = Counters {
        requests: 2,
        input_tokens: 20,
        output_tokens: 10,
        cached_tokens: 4,
        spend_micros: 500,
    };
    assert_eq!(usage.total, twice);
    assert_eq!(usage.period_spend_micros, 500);
    assert_eq!(
        store
            .usage("key:a", None)
            .await
            .unwrap()
            .period_spend_micros,
        0,
        "no period asked"
    );
    let team = store.usage("team:t", Some(DAY)).await.unwrap();
    assert_eq!(
        (team.total, team.period_spend_micros),
        (twice, 0),
        "the team has totals but no day budget"
    );
    assert_eq!(
        store.usage("key:nobody", Some(DAY)).await.unwrap(),
        Default::default()
    );

    let mut redis = server.connection().await;
    let start = now_secs() - now_secs() % DAY.as_secs();
    let key = format!("t:spend:key:a:86400:{start}");
    let spent: u64 = redis.get(&key).await.unwrap();
    assert_eq!(
        spent, 500,
        "the spend key is named by scope, period and start"
    );
    let ttl: i64 = redis.ttl(&key).await.unwrap();
    let most = i64::try_from((DAY + SPEND_MARGIN).as_secs()).unwrap();
    assert!(
        ttl > 0 && ttl <= most,
        "spend keys expire after their period: {ttl}"
    );
    let requests: u64 = redis.hget("t:usage:team:t", "requests").await.unwrap();
    assert_eq!(requests, 2);
}

#[tokio::test]
async fn two_stores_share_one_limit_exactly() {
    let server = RedisServer::start();
    let stores = [
        Arc::new(store(&server).await),
        Arc::new(store(&server).await),
    ];
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let store = stores[i % 2].clone();
            tokio::spawn(async move {
                let rpm = [take("team:t:rpm", 10, MIN, 1)];
                matches!(
                    store.admit(&rpm, &[]).await.unwrap(),
                    Admission::Admitted { .. }
                )
            })
        })
        .collect();
    let mut admitted = 0;
    for task in tasks {
        admitted += usize::from(task.await.unwrap());
    }
    assert_eq!(admitted, 10, "rpm 10 across both replicas");

    let other = RedisStore::open(&server.url(), "other").await.unwrap();
    let rpm = [take("team:t:rpm", 10, MIN, 1)];
    assert_eq!(
        admitted_count(&other, &rpm).await,
        10,
        "another prefix is another set of buckets"
    );
}

async fn admitted_count(store: &RedisStore, takes: &[Take]) -> usize {
    let mut count = 0;
    while let Admission::Admitted { .. } = store.admit(takes, &[]).await.unwrap() {
        count += 1;
    }
    count
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Sleeps until just after the start of a `period` (Redis runs on this machine's clock).
async fn wait_for_period_start(period: Duration) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let into = Duration::from_nanos(u64::try_from(now.as_nanos() % period.as_nanos()).unwrap());
    tokio::time::sleep(period - into + Duration::from_millis(20)).await;
}

#[tokio::test]
async fn documents_are_kept_with_their_time_to_live_and_deleted_once() {
    let server = RedisServer::start();
    let store = store(&server).await;
    let limits = DocLimits {
        ttl: MIN,
        max_bytes: 0,
    };
    assert_eq!(store.doc_get("responses/r1/key:a").await.unwrap(), None);
    let doc = bytes::Bytes::from_static(b"{\"input\":[],\"response\":{}}");
    assert!(
        store
            .doc_put("responses/r1/key:a", doc.clone(), limits)
            .await
            .unwrap()
    );
    assert_eq!(
        store.doc_get("responses/r1/key:a").await.unwrap(),
        Some(doc)
    );
    // Redis bounds documents by their expiry (and its own maxmemory), not `max_bytes`.
    let ttl: i64 = server
        .connection()
        .await
        .pttl("t:doc:responses/r1/key:a")
        .await
        .unwrap();
    assert!(ttl > 0 && ttl <= 60_000, "{ttl}");
    assert!(store.doc_delete("responses/r1/key:a").await.unwrap());
    assert!(!store.doc_delete("responses/r1/key:a").await.unwrap());
    assert_eq!(store.doc_get("responses/r1/key:a").await.unwrap(), None);
}
