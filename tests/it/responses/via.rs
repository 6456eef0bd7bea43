//! Chat clients on a deployment with `api: responses`: translated chat → Responses → chat. The
//! official SDK's chat scenarios (whole, streamed, usage, tool calls, images) run through two
//! gateways, the front one speaking the Responses API to the back one (which serves it by
//! translation to vLLM); a canned Responses upstream shows exactly what goes on the wire.

use serde_json::json;

use super::vllm_answer;
use crate::common::client::{Via, post};
use crate::common::upstream::{Canned, Recorded};
use crate::common::{Gateway, Upstream};
use crate::sdk::run;

#[tokio::test]
async fn the_openai_sdk_chats_with_a_responses_only_deployment() {
    let vllm = Upstream::start(vllm_answer).await;
    let mut back = Gateway::start(&format!(
        "providers:\n  - {{name: local, type: vllm, base_url: '{}', models: [llama-3.1-8b]}}\n",
        vllm.base_url()
    ))
    .await;
    let front = Gateway::start(&format!(
        "providers:
  - {{name: back, type: openai_compatible, base_url: 'http://{}/v1'}}
models:
  - name: pro-model
    deployments: [{{provider: back, model: llama-3.1-8b, api: responses}}]
",
        back.tcp
    ))
    .await;
    let scenarios = [
        "chat",
        "stream",
        "stream_usage",
        "tools",
        "tool_stream",
        "image",
    ];
    run(
        "openai_scenarios.py",
        &front,
        &[("MODEL", "pro-model")],
        &scenarios,
    )
    .await;
    // The back gateway was asked through the Responses API, and vLLM got the conversation.
    back.wait_log("\"endpoint\":\"responses\"").await;
    let requests = vllm.requests.lock().unwrap();
    assert!(requests.iter().all(|r| r.path == "/v1/chat/completions"));
    let follow_up = requests
        .iter()
        .map(Recorded::json)
        .find(|body| {
            body["messages"]
                .as_array()
                .is_some_and(|m| m.iter().any(|m| m["role"] == "tool"))
        })
        .expect("the tool result reached vLLM");
    assert_eq!(
        follow_up["messages"].as_array().unwrap().last().unwrap()["content"],
        "18C"
    );
}

/// A Responses upstream answering one canned response.
fn responses_upstream(_: &Recorded) -> Canned {
    Canned::Json(
        200,
        json!({"id": "resp_1", "object": "response", "created_at": 1, "status": "completed",
            "model": "gpt-5-pro-2025",
            "output": [{"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
                "content": [{"type": "output_text", "text": "Hi.", "annotations": []}]}],
            "usage": {"input_tokens": 9, "output_tokens": 2, "total_tokens": 11}}),
    )
}

#[tokio::test]
async fn a_chat_request_goes_out_as_a_responses_request() {
    let upstream = Upstream::start(responses_upstream).await;
    let gw = Gateway::start(&format!(
        "providers:
  - {{name: oa, base_url: '{}', api_key: sk-upstream}}
models:
  - name: gpt-5-pro
    deployments: [{{provider: oa, api: responses}}]
",
        upstream.base_url()
    ))
    .await;
    let via = Via::Unix(gw.unix.clone());
    let reply = post(
        &via,
        "/v1/chat/completions",
        &json!({"model": "gpt-5-pro", "messages": [{"role": "system", "content": "Brief."}, {"role": "user", "content": "Hi"}],
            "max_completion_tokens": 50}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let answer = reply.json();
    assert_eq!(answer["choices"][0]["message"]["content"], "Hi.");
    assert_eq!(answer["usage"]["total_tokens"], 11);
    let sent = upstream.last();
    assert_eq!(sent.path, "/v1/responses");
    assert_eq!(sent.header("authorization"), Some("Bearer sk-upstream"));
    assert_eq!(
        sent.json(),
        json!({"model": "gpt-5-pro", "store": false, "max_output_tokens": 50, "input": [
            {"type": "message", "role": "system", "content": "Brief."},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]},
        ]})
    );
    // What the Responses API cannot take is refused before anything is sent.
    let count = upstream.count();
    let refused = post(
        &via,
        "/v1/chat/completions",
        &json!({"model": "gpt-5-pro", "messages": [{"role": "user", "content": "Hi"}], "stop": "END"}),
    )
    .await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.json()["error"]["param"], "stop");
    assert_eq!(upstream.count(), count);
}

#[test]
fn api_responses_needs_an_openai_style_provider() {
    for kind in ["anthropic", "mock", "gemini"] {
        let config = format!(
            "providers:\n  - {{name: p, type: {kind}, api_key: k, base_url: 'http://127.0.0.1:9'}}\nmodels:\n  - {{name: m, deployments: [{{provider: p, api: responses}}]}}\n"
        );
        let error = llm_sidecar::config::parse(&config, None)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("models[0].deployments[0].api"),
            "{kind}: {error}"
        );
    }
}
