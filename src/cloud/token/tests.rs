//! The cache's discipline with a scripted fetcher: fresh credentials are not fetched again,
//! refreshable ones are refreshed in the background while the old one is answered, expired ones
//! make callers wait for one shared fetch, and failures are remembered for the backoff.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

use super::*;

struct Token {
    serial: usize,
    expires_at: Option<SystemTime>,
}

impl Expiring for Token {
    fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at
    }
}

/// Hands out tokens numbered from 1 living `lifetime`; fails while `failing`; each fetch waits
/// for `gate` when one is given, so tests decide when it finishes.
struct Script {
    fetches: Arc<AtomicUsize>,
    lifetime: Duration,
    failing: bool,
    gate: Option<Arc<Notify>>,
    done: Arc<Notify>,
}

impl Fetch<Token> for Script {
    fn fetch(&self) -> BoxFuture<'_, Result<Token, CredentialError>> {
        Box::pin(async move {
            if let Some(gate) = &self.gate {
                gate.notified().await;
            }
            let serial = self.fetches.fetch_add(1, Ordering::SeqCst) + 1;
            self.done.notify_one();
            if self.failing {
                return Err(CredentialError::new("Test", "script", "down".into()));
            }
            Ok(Token {
                serial,
                expires_at: Some(SystemTime::now() + self.lifetime),
            })
        })
    }
}

const TIMING: RefreshTiming = RefreshTiming {
    margin: Duration::from_secs(60),
    failure_backoff: Duration::from_secs(60),
};

fn cache(
    lifetime: Duration,
    failing: bool,
    gate: Option<Arc<Notify>>,
) -> (Arc<Cached<Token>>, Arc<AtomicUsize>, Arc<Notify>) {
    let fetches = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(Notify::new());
    let script = Script {
        fetches: fetches.clone(),
        lifetime,
        failing,
        gate,
        done: done.clone(),
    };
    let cached = Cached::new(Box::new(script), "script", "p".into(), TIMING, None);
    (cached, fetches, done)
}

#[tokio::test]
async fn fresh_tokens_are_reused() {
    let (cached, fetches, _) = cache(Duration::from_secs(3600), false, None);
    for _ in 0..5 {
        assert_eq!(cached.get().await.unwrap().serial, 1);
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn refreshable_tokens_are_answered_while_one_background_refresh_runs() {
    // Valid for 30 s, inside the 60 s margin: every use is refreshable.
    let gate = Arc::new(Notify::new());
    let (cached, fetches, done) = cache(Duration::from_secs(30), false, Some(gate.clone()));
    gate.notify_one();
    assert_eq!(cached.get().await.unwrap().serial, 1);
    // The first fetch's signal.
    done.notified().await;
    // The refresh is held at the gate: callers keep getting the valid token, and only one
    // refresh starts however many ask.
    for _ in 0..5 {
        assert_eq!(cached.get().await.unwrap().serial, 1);
    }
    gate.notify_one();
    done.notified().await;
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    // The refreshed token is stored just after the fetch returns.
    let mut serial = 1;
    for _ in 0..100 {
        serial = cached.get().await.unwrap().serial;
        if serial == 2 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(serial, 2);
}

#[tokio::test]
async fn expired_tokens_make_concurrent_callers_share_one_fetch() {
    let gate = Arc::new(Notify::new());
    let (cached, fetches, _) = cache(Duration::from_secs(3600), false, Some(gate.clone()));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let cached = cached.clone();
        tasks.spawn(async move { cached.get().await.map(|t| t.serial) });
    }
    // Let every task reach the lock before the one fetch is let through.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    gate.notify_one();
    while let Some(serial) = tasks.join_next().await {
        assert_eq!(serial.unwrap().unwrap(), 1);
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn failures_are_remembered_for_the_backoff() {
    let (cached, fetches, _) = cache(Duration::from_secs(3600), true, None);
    for _ in 0..3 {
        let error = cached.get().await.err().unwrap();
        assert_eq!(error.to_string(), "Test credentials (script): down");
    }
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        1,
        "the failure was answered from memory"
    );
}

#[tokio::test]
async fn fixed_credentials_never_expire_and_cannot_be_refreshed() {
    let fixed = Fixed {
        cloud: "Test",
        source: "static",
    };
    let never = Token {
        serial: 7,
        expires_at: None,
    };
    let cached = Cached::new(Box::new(fixed), "static", "p".into(), TIMING, Some(never));
    assert_eq!(cached.get().await.unwrap().serial, 7);
    let fetched: Result<Token, _> = Fetch::fetch(&Fixed {
        cloud: "Test",
        source: "static",
    })
    .await;
    assert!(
        fetched
            .err()
            .unwrap()
            .detail
            .contains("cannot be refreshed")
    );
}
