//! The reference fixtures (`tests/fixtures/reference`), for mock upstreams to answer with.

/// A fixture file's text.
pub fn text(path: &str) -> String {
    let full = format!(
        "{}/tests/fixtures/reference/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// A fixture file as JSON.
pub fn json(path: &str) -> serde_json::Value {
    serde_json::from_str(&text(path)).unwrap()
}

/// An SSE fixture split into its events (each with its blank line), to stream one by one.
pub fn sse_events(path: &str) -> Vec<String> {
    let text = text(path);
    let separator = if text.contains("\r\n\r\n") {
        "\r\n\r\n"
    } else {
        "\n\n"
    };
    text.split_inclusive(separator).map(str::to_owned).collect()
}
