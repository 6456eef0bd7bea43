//! Prompt and completion text in the log: absent unless `logging.log_content: true`, and then
//! redacted (e-mail addresses, card numbers, keys); an upstream that echoes the gateway's key
//! in an error does not hand it to the client. The harness's log hygiene check runs on both
//! gateways when they stop.

use serde_json::{Value, json};

use crate::common::client::{self, Via, raw_request};
use crate::common::upstream::{self, Canned, Recorded};
use crate::common::{Gateway, Upstream};

const UPSTREAM_KEY: &str = "sk-upstream-0123456789abcdefghij";
const CLIENT_KEY: &str = "sk-client-0123456789abcdefghij";
const PROMPT: &str =
    "I am jane@example.com, card 4111 1111 1111 1111, key sk-proj-ABCDEFGHIJKLMNOPQRSTUVWX";

fn answer(r: &Recorded) -> Canned {
    let body = r.json();
    match (body["model"].as_str(), body["stream"].as_bool()) {
        (Some("bad"), _) => Canned::Json(
            400,
            json!({"error": {"message": format!("Incorrect API key provided: {UPSTREAM_KEY}."), "type": "invalid_request_error"}}),
        ),
        (_, Some(true)) => Canned::Sse(
            upstream::chat_stream(&["Reach ", "bob@example.org"], Some((5, 2))),
            std::time::Duration::ZERO,
        ),
        _ => Canned::Json(
            200,
            upstream::chat_completion("m", "Write to bob@example.org", 7, 3),
        ),
    }
}

fn config(up: &Upstream, logging: &str) -> String {
    format!(
        "providers:\n  - {{name: p, base_url: '{}', api_key: {UPSTREAM_KEY}, models: [m, bad]}}\nkeys:\n  - {{name: app, key: {CLIENT_KEY}}}\nlogging: {logging}\n",
        up.base_url()
    )
}

async fn chat(via: &Via, model: &str, stream: bool) -> client::Reply {
    let body = json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": PROMPT}]});
    let mut request = raw_request("POST", "/v1/chat/completions", body.to_string().into());
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {CLIENT_KEY}").parse().unwrap(),
    );
    client::call(via, request).await
}

#[tokio::test]
async fn prompts_and_completions_are_logged_only_when_asked_and_then_redacted() {
    let up = Upstream::start(answer).await;
    let mut gw = Gateway::start(&config(&up, "{log_content: true}")).await;
    let via = Via::Unix(gw.unix.clone());
    let cases = [(false, "Write to [email]"), (true, "Reach [email]")];
    for (stream, completion) in cases {
        let reply = chat(&via, "m", stream).await;
        assert_eq!(reply.status, 200);
        let line: Value =
            serde_json::from_str(&gw.wait_log("\"target\":\"content\"").await).unwrap();
        assert_eq!(line["request_id"], reply.header("x-request-id").unwrap());
        assert_eq!(
            line["prompt"], "I am [email], card [card], key ***",
            "{line}"
        );
        assert_eq!(line["completion"], completion, "{line}");
        assert_eq!(line["truncated"], false);
        if !stream {
            // Logged inside the handler: the line names the request's trace like the record.
            assert_eq!(line["span"]["trace_id"], line["trace_id"], "{line}");
            assert_eq!(line["span"]["name"], "request", "{line}");
        }
    }
    let echoed = chat(&via, "bad", false).await;
    assert_eq!(echoed.status, 400);
    let message = echoed.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.starts_with("Incorrect API key provided: "),
        "{message}"
    );
    assert!(!echoed.text().contains(UPSTREAM_KEY), "{}", echoed.text());
}

#[tokio::test]
async fn content_stays_out_of_the_log_by_default() {
    let up = Upstream::start(answer).await;
    let mut gw = Gateway::start(&config(&up, "{level: debug}")).await;
    let via = Via::Tcp(gw.tcp);
    for stream in [false, true] {
        assert_eq!(chat(&via, "m", stream).await.status, 200);
        gw.wait_log("request finished").await;
    }
    let logs = gw.log_text();
    for absent in ["\"target\":\"content\"", "I am ", "Write to", "Reach "] {
        assert!(!logs.contains(absent), "{absent} in\n{logs}");
    }
}
