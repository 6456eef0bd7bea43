//! llm-sidecar: an LLM API gateway built to run as a Kubernetes sidecar. It serves the OpenAI API
//! over a Unix domain socket and TCP and routes each request to a configured upstream provider.
//! See `ARCHITECTURE.md` for the module map and the invariants.

pub mod api;
pub mod app;
pub mod auth;
pub mod aws;
pub mod cli;
/// Time formats (RFC 3339, Go durations): part of the config crate, which reads them too.
pub use llm_sidecar_config::clock;
pub mod cloud;
/// The configuration, a crate of its own (`crates/config`) so it can be built for size.
pub use llm_sidecar_config as config;
pub mod error;
pub mod lifecycle;
pub mod limits;
pub mod memory;
pub mod pricing;
pub mod providers;
pub mod reload;
pub mod request;
pub mod router;
pub mod runtime;
pub mod server;
pub mod stream;
pub mod task;
pub mod telemetry;
pub mod tokens;
pub mod transport;
pub mod types;
