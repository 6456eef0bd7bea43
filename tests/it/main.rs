//! Integration tests: the real binary against real mock upstream HTTP servers, over TCP and a
//! Unix socket.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    reason = "tests fail loudly and are not API"
)]

mod cli;
#[allow(
    dead_code,
    reason = "the shared harness serves tests of later steps too"
)]
mod common;
mod errors;
mod gemini;
mod lifecycle;
mod reload;
mod serving;
