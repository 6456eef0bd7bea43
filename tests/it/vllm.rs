//! vLLM (and any OpenAI-compatible server): extra sampling parameters pass through untouched,
//! both vLLM error envelopes map to OpenAI errors.

use serde_json::Value;

use crate::common::client::{Via, post};
use crate::common::fixtures;
use crate::common::upstream::{self, Canned};
use crate::common::{Gateway, Upstream};

#[tokio::test]
async fn extra_parameters_pass_through_and_errors_map() {
    let up = Upstream::start(|r| match r.json()["messages"][0]["content"].as_str() {
        Some("legacy") => Canned::Json(400, fixtures::json("vllm/error_response_legacy.json")),
        Some("current") => Canned::Json(400, fixtures::json("vllm/error_response_current.json")),
        _ => Canned::Json(200, upstream::chat_completion("m", "ok", 3, 1)),
    })
    .await;
    let gw = Gateway::start(&format!(
        "providers:\n  - name: vllm\n    type: vllm\n    base_url: {}\n    models: [meta-llama/Llama-3.1-8B-Instruct]\n",
        up.base_url()
    ))
    .await;
    let via = Via::Unix(gw.unix.clone());
    for name in [
        "vllm/chat_request_extra_params.json",
        "vllm/chat_request_guided_json_legacy.json",
    ] {
        let mut request = fixtures::json(name);
        request["model"] = Value::from("meta-llama/Llama-3.1-8B-Instruct");
        let reply = post(&via, "/v1/chat/completions", &request).await;
        assert_eq!(reply.status, 200, "{name}: {}", reply.text());
        assert_eq!(
            up.last().json(),
            request,
            "{name}: every field reaches vLLM as sent"
        );
    }
    for scenario in ["legacy", "current"] {
        let body = serde_json::json!({"model": "meta-llama/Llama-3.1-8B-Instruct", "messages": [{"role": "user", "content": scenario}]});
        let reply = post(&via, "/v1/chat/completions", &body).await;
        assert_eq!(reply.status, 400, "{scenario}");
        assert!(
            reply.json()["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{scenario}"
        );
    }
}
