//! Canonical (OpenAI-shaped) request and usage types. Requests are read at the top level only, so
//! fields the gateway does not know pass through untouched.

pub mod anthropic;
pub mod base64;
pub mod chat;
pub mod json;
pub mod multipart;
pub mod request;
pub mod responses;
pub mod usage;

pub use json::TopLevel;
pub use request::{ChatRequest, EmbeddingsRequest};
pub use usage::Usage;
