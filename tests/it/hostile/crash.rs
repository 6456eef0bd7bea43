//! Finding 1: one request must not kill the process or hold a worker for seconds. The
//! tokenizer's regex overflowed its stack on ~1.6 MB of whitespace (an abort under
//! `panic = "abort"`), and 9 MB of one word took seconds of CPU.

use super::{messages_body, post};
use crate::common::client::{Via, get};
use crate::common::{Gateway, WAIT};

/// Text whose token count differs from the calibrated estimate (2 by estimate, 3 counted).
const PROBE: &str = "aaaaaaaaaaaaaaaaaaaaaaaa";

#[tokio::test]
async fn huge_count_tokens_prompts_are_counted_and_the_gateway_stays_up() {
    let gw = Gateway::start("providers:\n  - {name: m, type: mock, models: [claude-x]}\n").await;
    let via = Via::Unix(gw.unix.clone());
    // The first count starts building the tokenizer in the background and answers the
    // estimate until it is built; the crash needed it built.
    let estimate = llm_sidecar::tokens::estimate_text(PROBE);
    assert_ne!(estimate, 3, "the probe tells the estimate from the count");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let probe = messages_body("claude-x", PROBE);
        let reply = post(&via, "/v1/messages/count_tokens", &probe, None).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        if reply.json()["input_tokens"].as_u64() != Some(estimate) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the tokenizer was never built"
        );
        tokio::task::yield_now().await;
    }
    let cases = [
        (" ".repeat(1_600_000), 1_600_000 / 128),
        ("a".repeat(9_000_000), 9_000_000 / 8),
        ("\n \t".repeat(600_000), 0),
    ];
    for (text, about) in &cases {
        let body = messages_body("claude-x", text);
        let reply = post(&via, "/v1/messages/count_tokens", &body, None).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let tokens = reply.json()["input_tokens"].as_u64().unwrap();
        assert!(tokens > 0);
        if *about > 0 {
            // Sampled and scaled, within a few percent of the tokenizer's own count.
            assert!(tokens.abs_diff(*about) * 20 < *about, "{tokens} vs {about}");
        }
    }
    assert_eq!(get(&via, "/health/live").await.status, 200);
}
