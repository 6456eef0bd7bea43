//! The hostile-input review, as regression tests against the real binary: nothing a client
//! sends may crash the gateway, steer its upstream URL, dodge its limits, hold its connections
//! or lose a request's record (issue "Round 2, 1 of 7"; the rules are in DESIGN.md §5a).

mod access;
mod admission;
mod connections;
mod crash;
mod drain;
mod formats;
mod urls;

use crate::common::client::{self, Reply, Via, raw_request};

/// Sends `method path` with a raw `body`, with `authorization: Bearer {key}` when given.
pub async fn send(via: &Via, method: &str, path: &str, body: Vec<u8>, key: Option<&str>) -> Reply {
    let mut request = raw_request(method, path, bytes::Bytes::from(body));
    if let Some(key) = key {
        let bearer = format!("Bearer {key}");
        request
            .headers_mut()
            .insert("authorization", bearer.parse().unwrap());
    }
    client::call(via, request).await
}

/// POSTs a `multipart/form-data` body with boundary `B` to `path`, as `key`.
pub async fn post_form(via: &Via, path: &str, form: String, key: &str) -> Reply {
    let mut request = raw_request("POST", path, bytes::Bytes::from(form));
    request.headers_mut().insert(
        "content-type",
        "multipart/form-data; boundary=B".parse().unwrap(),
    );
    let bearer = format!("Bearer {key}");
    request
        .headers_mut()
        .insert("authorization", bearer.parse().unwrap());
    client::call(via, request).await
}

/// POSTs a JSON body, as `key` when given.
pub async fn post(via: &Via, path: &str, body: &serde_json::Value, key: Option<&str>) -> Reply {
    send(via, "POST", path, body.to_string().into_bytes(), key).await
}

/// An Anthropic Messages body for `model` with `text` as the user's turn.
pub fn messages_body(model: &str, text: &str) -> serde_json::Value {
    serde_json::json!({
        "model": model,
        "max_tokens": 16,
        "messages": [{"role": "user", "content": text}],
    })
}

/// Asserts an OpenAI-format 400 about `param`.
pub fn assert_openai_400(reply: &Reply, param: &str) {
    assert_eq!(reply.status, 400, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
    assert_eq!(body["error"]["param"], param, "{body}");
}

/// Asserts an Anthropic-format error with `status`.
pub fn assert_anthropic_error(reply: &Reply, status: u16) {
    assert_eq!(reply.status, status, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["type"], "error", "{body}");
    assert!(body["error"]["type"].is_string(), "{body}");
}
