//! Shared harness for the integration tests: the real gateway binary, a real mock upstream HTTP
//! server, and an HTTP client that speaks over TCP or a Unix socket.

pub mod aws;
pub mod client;
pub mod fixtures;
pub mod gateway;
pub mod hygiene;
pub mod identity;
pub mod prometheus;
pub mod upstream;

pub use gateway::Gateway;
pub use upstream::Upstream;

use std::time::Duration;

/// How long any single wait in a test may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// A loopback port nobody listens on right now, for a server that must be told its port (another
/// process may take it before the server binds: callers retry on a conflict).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A chat request body.
pub fn chat_body(model: &str, stream: bool) -> serde_json::Value {
    serde_json::json!({
        "model": model,
        "stream": stream,
        "messages": [{"role": "user", "content": "Say hello"}],
    })
}
