//! Gateway processes sharing one `redis-server`: a key's rpm holds exactly across replicas, and
//! losing Redis degrades to local limits (`on_error: open`) or refuses (`closed`).

use serde_json::Value;

use super::server::RedisServer;
use crate::common::client::{self, Reply, Via, raw_request};
use crate::common::{Gateway, chat_body};

fn config(redis: &RedisServer, on_error: &str, rpm: u32) -> String {
    format!(
        "providers:\n  - {{name: mock, type: mock, models: [m], mock: {{latency: 0ms}}}}\nkeys:\n  - {{name: shared, key: sk-shared, rpm: {rpm}}}\nstore:\n  url: {}\n  on_error: {on_error}\n",
        redis.url().expose()
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
async fn two_gateways_enforce_one_rpm_limit_exactly() {
    let redis = RedisServer::start();
    let a = Gateway::start(&config(&redis, "closed", 10)).await;
    let b = Gateway::start(&config(&redis, "closed", 10)).await;
    let targets = [Via::Unix(a.unix.clone()), Via::Tcp(b.tcp)];
    let calls = (0..30).map(|i| {
        let via = targets[i % 2].clone();
        tokio::spawn(async move { chat(&via).await.status.as_u16() })
    });
    let mut statuses = Vec::new();
    for call in calls {
        statuses.push(call.await.unwrap());
    }
    let ok = statuses.iter().filter(|&&s| s == 200).count();
    let limited = statuses.iter().filter(|&&s| s == 429).count();
    assert_eq!((ok, limited), (10, 20), "{statuses:?}");
}

#[tokio::test]
async fn losing_redis_falls_back_to_local_limits_or_refuses() {
    let redis = RedisServer::start();
    let open = Gateway::start(&config(&redis, "open", 1000)).await;
    let closed = Gateway::start(&config(&redis, "closed", 1000)).await;
    let (open_via, closed_via) = (Via::Unix(open.unix.clone()), Via::Unix(closed.unix.clone()));
    assert_eq!(chat(&open_via).await.status, 200);
    assert_eq!(chat(&closed_via).await.status, 200);
    drop(redis);
    for _ in 0..5 {
        let reply = chat(&open_via).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    let refused = chat(&closed_via).await;
    assert_eq!(refused.status, 503, "{}", refused.text());
    let body: Value = refused.json();
    assert!(
        !body.to_string().contains("redis://"),
        "no store URL in errors: {body}"
    );
    let metrics = client::get(&open_via, "/metrics").await.text();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("llm_store_errors_total")),
        "store errors are counted:\n{metrics}"
    );
}

#[tokio::test]
async fn a_conversation_started_on_one_replica_continues_on_another() {
    let redis = RedisServer::start();
    let a = Gateway::start(&config(&redis, "closed", 1000)).await;
    let b = Gateway::start(&config(&redis, "closed", 1000)).await;
    let respond = |via: Via, body: serde_json::Value| async move {
        let mut request = raw_request("POST", "/v1/responses", body.to_string().into());
        request
            .headers_mut()
            .insert("authorization", "Bearer sk-shared".parse().unwrap());
        client::call(&via, request).await
    };
    let first = respond(
        Via::Unix(a.unix.clone()),
        serde_json::json!({"model": "m", "input": "hi"}),
    )
    .await;
    assert_eq!(first.status, 200, "{}", first.text());
    let id = first.json()["id"].as_str().unwrap().to_owned();
    let second = respond(
        Via::Tcp(b.tcp),
        serde_json::json!({"model": "m", "input": "again", "previous_response_id": id}),
    )
    .await;
    assert_eq!(second.status, 200, "{}", second.text());
    assert_eq!(second.json()["previous_response_id"], id.as_str());
}
