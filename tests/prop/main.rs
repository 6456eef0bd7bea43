//! Property tests for every parser of bytes a client or an upstream controls: the SSE and NDJSON
//! framers, the top-level JSON view, the multipart field finder, the stream translators, the
//! config loader and the credential headers. `FUZZING.md` lists the properties; `make fuzz` runs
//! them with many more cases than `make test` does.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    reason = "tests fail loudly and are not API"
)]

mod config;
mod credentials;
mod eventstream;
mod framers;
mod json;
mod litellm;
mod multipart;
mod responses_state;
mod support;
mod translators;
