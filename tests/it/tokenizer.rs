//! The tokenizer's life in a pod: built only for `count_tokens`, and released (its ~40 MiB
//! returned) once nothing has counted for `limits.tokenizer_idle`.

use crate::common::Gateway;
use crate::common::client::{Via, post};

/// Text the calibrated estimate puts at 2 tokens and the tokenizer at 3.
const PROBE: &str = "aaaaaaaaaaaaaaaaaaaaaaaa";
const EXACT: u64 = 3;

#[tokio::test]
async fn count_tokens_builds_the_tokenizer_and_idleness_releases_it() {
    let mut gw = Gateway::start(
        "providers:\n  - {name: m, type: mock, models: [claude-x]}\nlimits: {tokenizer_idle: 1s}\n",
    )
    .await;
    let via = Via::Unix(gw.unix.clone());
    let body = serde_json::json!({
        "model": "claude-x",
        "max_tokens": 16,
        "messages": [{"role": "user", "content": PROBE}],
    });
    let count = async |via: &Via| {
        let reply = post(via, "/v1/messages/count_tokens", &body).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        reply.json()["input_tokens"].as_u64().unwrap()
    };
    // The first count answers the estimate and starts the build.
    assert_eq!(count(&via).await, llm_sidecar::tokens::estimate_text(PROBE));
    gw.wait_log("tokenizer ready").await;
    assert_eq!(count(&via).await, EXACT);
    // A second of no counts releases it; the next count estimates again and rebuilds it.
    gw.wait_log("tokenizer released after being idle").await;
    assert_ne!(count(&via).await, EXACT);
    gw.wait_log("tokenizer ready").await;
    assert_eq!(count(&via).await, EXACT);
}
