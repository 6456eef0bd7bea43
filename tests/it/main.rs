//! Integration tests: the real binary against real mock upstream HTTP servers, over TCP and a
//! Unix socket.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    reason = "tests fail loudly and are not API"
)]

mod access;
mod anthropic;
mod anthropic_inbound;
mod anthropic_inbound_passthrough;
mod aws_credentials;
mod azure;
mod azure_entra;
mod bedrock;
mod cli;
mod common;
mod connectivity;
mod content;
mod dashboard;
mod errors;
mod gemini;
mod hostile;
mod kubelet;
mod lifecycle;
mod litellm;
mod monitoring;
mod observability;
mod ollama;
mod passthrough;
mod redis_store;
mod reload;
mod resilience;
mod responses;
mod sdk;
mod serving;
mod tokenizer;
mod tracing;
mod vertex;
mod vllm;
