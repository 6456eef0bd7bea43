//! Azure OpenAI: deployment paths with `api-version`, the `/openai/v1/` style, `api-key` auth, and
//! Azure's stream quirks.

use std::time::Duration;

use serde_json::json;

use crate::common::client::{Via, post, sse_data};
use crate::common::fixtures;
use crate::common::upstream::{self, Canned, Recorded};
use crate::common::{Gateway, Upstream, chat_body};

const KEY: &str = "azure-test-key";

fn azure_rules(r: &Recorded) -> Canned {
    let classic = r.path.starts_with("/openai/deployments/gpt4o-prod/")
        && r.path.ends_with("?api-version=2024-10-21");
    let v1 = r.path.starts_with("/openai/v1/");
    if !(classic || v1) || r.header("api-key") != Some(KEY) || r.header("authorization").is_some() {
        return Canned::Json(
            404,
            json!({"error": {"code": "DeploymentNotFound", "message": format!("bad request to {}", r.path)}}),
        );
    }
    if r.path.contains("/embeddings") {
        return Canned::Json(200, upstream::embeddings("text-embedding-3-small", 1));
    }
    if r.json()["stream"] == true {
        return Canned::Sse(
            fixtures::sse_events("azure/chat_stream_with_prompt_filter.sse"),
            Duration::ZERO,
        );
    }
    Canned::Json(
        200,
        fixtures::json("azure/chat_response_with_content_filters.json"),
    )
}

async fn gateway(up: &Upstream, api_version: &str) -> Gateway {
    Gateway::start(&format!(
        "providers:\n  - name: azure-eu\n    type: azure\n    api_key: {KEY}\n    api_version: \"{api_version}\"\n    base_url: http://{}\nmodels:\n  - name: gpt-4o\n    deployments: [{{provider: azure-eu, model: gpt4o-prod}}]\n",
        up.addr
    ))
    .await
}

#[tokio::test]
async fn classic_deployment_paths_with_api_version() {
    let up = Upstream::start(azure_rules).await;
    let gw = gateway(&up, "2024-10-21").await;
    let via = Via::Unix(gw.unix.clone());
    let reply = post(&via, "/v1/chat/completions", &chat_body("gpt-4o", false)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(
        reply.json()["choices"][0]["content_filter_results"].is_object(),
        "Azure's extra fields pass through"
    );
    assert_eq!(
        up.last().path,
        "/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21"
    );

    let reply = post(&via, "/v1/chat/completions", &chat_body("gpt-4o", true)).await;
    let data = sse_data(&reply.text());
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    assert!(reply.text().contains("Hello!"));
    assert!(
        !reply.text().contains("\"usage\":{"),
        "the usage chunk the gateway asked for is hidden"
    );
}

#[tokio::test]
async fn the_v1_style_puts_the_deployment_in_the_body() {
    let up = Upstream::start(azure_rules).await;
    let gw = gateway(&up, "v1").await;
    let reply = post(
        &Via::Tcp(gw.tcp),
        "/v1/chat/completions",
        &chat_body("gpt-4o", false),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(up.last().path, "/openai/v1/chat/completions");
    assert_eq!(up.last().json()["model"], "gpt4o-prod");
}

#[tokio::test]
async fn a_prompt_filter_400_keeps_its_code() {
    let up = Upstream::start(|_| {
        Canned::Json(
            400,
            fixtures::json("azure/error_400_prompt_content_filter.json"),
        )
    })
    .await;
    let gw = gateway(&up, "2024-10-21").await;
    let reply = post(
        &Via::Tcp(gw.tcp),
        "/v1/chat/completions",
        &chat_body("gpt-4o", false),
    )
    .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"]["code"], "content_filter");
}
