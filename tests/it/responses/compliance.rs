//! Translated Responses answers held to two references: the OpenAI spec's schemas for every
//! response, stream event and item list (`tests/sdk/responses_spec_check.py`), and the Open
//! Responses compliance checks (`tests/sdk/open_responses_compliance.py`, a port of the
//! project's seven test templates and its response schema). The mock and Claude serve text,
//! images and conversations; vLLM (which answers with a tool call) serves tools.

use super::gateway;
use crate::sdk::run;

#[tokio::test]
async fn translated_responses_pass_the_open_responses_checks() {
    let (_ups, gw) = gateway().await;
    let env = [("MODEL", "mock-model"), ("TOOL_MODEL", "llama-3.1-8b")];
    run("open_responses_compliance.py", &gw, &env, &[]).await;
    // The Claude fake streams no tool calls: vLLM takes the tool tests there too.
    let env = [
        ("MODEL", "claude-sonnet-4-5"),
        ("TOOL_MODEL", "llama-3.1-8b"),
    ];
    run("open_responses_compliance.py", &gw, &env, &[]).await;
}

#[tokio::test]
async fn translated_responses_match_the_openai_spec_schemas() {
    let (_ups, gw) = gateway().await;
    for model in ["mock-model", "claude-sonnet-4-5"] {
        let env = [("MODEL", model), ("TOOL_MODEL", "llama-3.1-8b")];
        run("responses_spec_check.py", &gw, &env, &[]).await;
    }
}
