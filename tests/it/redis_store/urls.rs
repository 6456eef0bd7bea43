//! Store URLs: a Unix socket with a password, a rejected password that Redis later accepts, and
//! a malformed URL, without ever quoting the password.

use std::time::{Duration, Instant};

use llm_sidecar::config::expand::Secret;
use llm_sidecar::limits::redis::RedisStore;
use llm_sidecar::limits::store::{Admission, Store};

use super::server::RedisServer;
use super::{MIN, PREFIX, admitted, take};

#[tokio::test]
async fn passwords_and_unix_sockets() {
    let server = RedisServer::start_unix_with_password("s3cret-pw");
    let store = RedisStore::open(&server.url(), PREFIX).await.unwrap();
    admitted(
        store
            .admit(&[take("key:a:rpm", 1, MIN, 1)], &[])
            .await
            .unwrap(),
    );

    let url = server.url().expose().replace("s3cret-pw", "wrong-pw");
    let wrong = RedisStore::open(&Secret::new(url), PREFIX).await.unwrap();
    let error = wrong
        .admit(&[take("key:a:rpm", 1, MIN, 1)], &[])
        .await
        .unwrap_err();
    assert!(
        !error.0.contains("wrong-pw"),
        "errors never quote the password: {error}"
    );
    assert!(!format!("{wrong:?}").contains("wrong-pw"));

    // Once the connection manager has given up on a rejected password it never retries by
    // itself: the store must still find a password Redis takes later, without a restart.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let error = wrong.peek(&take("key:b:rpm", 1, MIN, 1)).await.unwrap_err();
        if !error.0.contains("no answer") {
            break;
        }
        assert!(Instant::now() < deadline, "the handshake never failed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut admin = server.connection().await;
    let _: () = redis::cmd("CONFIG")
        .arg(&["SET", "requirepass", "wrong-pw"])
        .query_async(&mut admin)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match wrong.admit(&[take("key:b:rpm", 1, MIN, 1)], &[]).await {
            Ok(admission) => break assert!(matches!(admission, Admission::Admitted { .. })),
            Err(e) => assert!(!e.0.contains("wrong-pw"), "{e}"),
        }
        assert!(Instant::now() < deadline, "the new password was never used");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let bad = RedisStore::open(&Secret::new("redis://:pw@host:notaport"), PREFIX).await;
    let error = bad.unwrap_err();
    assert!(!error.0.contains("pw@"), "{error}");
}
