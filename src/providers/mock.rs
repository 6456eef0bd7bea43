//! The built-in `mock` provider: an in-process fake OpenAI server behind the same adapter code as
//! a real upstream, deterministic, with optional latency. `make run` and the benchmarks use it to
//! exercise the gateway with no API keys and no network.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Full};
use serde::Deserialize;
use serde_json::json;
use tokio::time::Sleep;

use crate::config::schema::MockConfig;
use crate::stream::sse;
use crate::tokens;

/// What the mock says when no `reply` is configured.
pub const DEFAULT_REPLY: &str =
    "Hello! This is the llm-sidecar mock provider answering deterministically.";
/// Length of mock embedding vectors when `dimensions` is not configured.
pub const DEFAULT_DIMENSIONS: usize = 8;
/// Fixed `created` timestamp so mock answers are byte-for-byte reproducible.
const CREATED: u64 = 1_700_000_000;

/// The fake upstream.
#[derive(Debug, Clone)]
pub struct MockUpstream {
    config: MockConfig,
    /// Shared by every stream, which walks it word by word: a held stream costs the mock a few
    /// dozen bytes, so footprint measurements see the gateway's memory, not the fake's.
    reply: Arc<str>,
}

#[derive(Deserialize)]
struct MockRequest {
    #[serde(default)]
    model: String,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    #[serde(default)]
    messages: Option<Box<serde_json::value::RawValue>>,
    #[serde(default)]
    input: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

impl MockUpstream {
    /// A mock with the given knobs.
    pub fn new(config: MockConfig) -> Self {
        let reply = Arc::from(config.reply.as_deref().unwrap_or(DEFAULT_REPLY));
        Self { config, reply }
    }

    /// Answers one request as OpenAI would.
    pub async fn handle(&self, request: Request<Full<Bytes>>) -> Response<MockBody> {
        let path = request.uri().path().to_owned();
        let body = request
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        if let Some(latency) = self.config.latency {
            tokio::time::sleep(latency).await;
        }
        let Ok(req) = serde_json::from_slice::<MockRequest>(&body) else {
            return error(
                StatusCode::BAD_REQUEST,
                "mock: request body is not a JSON object",
            );
        };
        if path.ends_with("/chat/completions") {
            self.chat(&req)
        } else if path.ends_with("/embeddings") {
            self.embeddings(&req)
        } else {
            error(StatusCode::NOT_FOUND, "mock: unknown path")
        }
    }

    fn chat(&self, req: &MockRequest) -> Response<MockBody> {
        let prompt_tokens = req
            .messages
            .as_ref()
            .map_or(0, |m| tokens::estimate_from_bytes(m.get().len()));
        let words = self.reply.split_inclusive(' ').count() as u64;
        let usage = json!({
            "prompt_tokens": prompt_tokens,
            "completion_tokens": words,
            "total_tokens": prompt_tokens + words,
        });
        if !req.stream {
            let body = json!({
                "id": "chatcmpl-mock",
                "object": "chat.completion",
                "created": CREATED,
                "model": req.model,
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": &*self.reply, "refusal": null},
                    "logprobs": null,
                    "finish_reason": "stop",
                }],
                "usage": usage,
            });
            return json_response(StatusCode::OK, &body);
        }
        let include_usage = req.stream_options.as_ref().is_some_and(|o| o.include_usage);
        let chunks = ChatChunks {
            reply: self.reply.clone(),
            offset: 0,
            model: req.model.clone(),
            usage: include_usage.then_some(usage),
            stage: ChatStage::Role,
        };
        Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "text/event-stream")
            .body(MockBody::new(Source::Chat(chunks), self.config.chunk_delay))
            .unwrap_or_else(|_| Response::new(MockBody::default()))
    }

    fn embeddings(&self, req: &MockRequest) -> Response<MockBody> {
        let inputs: Vec<String> = match &req.input {
            Some(serde_json::Value::String(s)) => vec![s.clone()],
            Some(serde_json::Value::Array(items)) => items.iter().map(|v| v.to_string()).collect(),
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "mock: input must be a string or an array",
                );
            }
        };
        let dimensions = self.config.dimensions.unwrap_or(DEFAULT_DIMENSIONS);
        let prompt_tokens: u64 = inputs
            .iter()
            .map(|s| tokens::estimate_from_bytes(s.len()))
            .sum();
        let data: Vec<_> = inputs
            .iter()
            .enumerate()
            .map(|(i, text)| json!({"object": "embedding", "index": i, "embedding": vector(text, dimensions)}))
            .collect();
        let body = json!({
            "object": "list",
            "data": data,
            "model": req.model,
            "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
        });
        json_response(StatusCode::OK, &body)
    }
}

/// A deterministic unit vector derived from the text (FNV-1a seeded xorshift).
fn vector(text: &str, dimensions: usize) -> Vec<f32> {
    const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const FNV_PRIME: u64 = 0x0100_0000_01b3;
    let mut state = text.bytes().fold(FNV_OFFSET, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(FNV_PRIME)
    }) | 1;
    let raw: Vec<f32> = (0..dimensions)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect();
    let norm = raw
        .iter()
        .map(|x| x * x)
        .sum::<f32>()
        .sqrt()
        .max(f32::EPSILON);
    raw.into_iter().map(|x| x / norm).collect()
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<MockBody> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(MockBody::new(
            Source::Prepared(Some(Bytes::from(body.to_string()))),
            None,
        ))
        .unwrap_or_else(|_| Response::new(MockBody::default()))
}

fn error(status: StatusCode, message: &str) -> Response<MockBody> {
    json_response(
        status,
        &json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": null}}),
    )
}

/// Where a mock body's chunks come from.
#[derive(Debug)]
enum Source {
    /// One prepared body (JSON answers and errors).
    Prepared(Option<Bytes>),
    /// A streamed chat answer, serialized one event at a time.
    Chat(ChatChunks),
}

impl Default for Source {
    fn default() -> Self {
        Self::Prepared(None)
    }
}

impl Source {
    fn next_chunk(&mut self) -> Option<Bytes> {
        match self {
            Self::Prepared(body) => body.take(),
            Self::Chat(chunks) => chunks.next_chunk(),
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Self::Prepared(body) => body.is_none(),
            Self::Chat(chunks) => chunks.stage == ChatStage::End,
        }
    }
}

/// The events of a streamed chat answer, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChatStage {
    Role,
    Words,
    Finish,
    Usage,
    Done,
    End,
}

/// A streamed chat answer: the role, one event per word of the reply, the finish reason, the
/// usage when the client asked for it, and `[DONE]`.
#[derive(Debug)]
struct ChatChunks {
    reply: Arc<str>,
    /// Byte offset of the next word in `reply`.
    offset: usize,
    model: String,
    /// The final usage event's payload, when `stream_options.include_usage` asked for one.
    usage: Option<serde_json::Value>,
    stage: ChatStage,
}

impl ChatChunks {
    fn next_chunk(&mut self) -> Option<Bytes> {
        loop {
            match self.stage {
                ChatStage::Role => {
                    self.stage = ChatStage::Words;
                    return Some(self.event(json!({"role": "assistant", "content": ""}), None));
                }
                ChatStage::Words => {
                    let rest = self.reply.get(self.offset..).unwrap_or_default();
                    if let Some(word) = rest.split_inclusive(' ').next() {
                        self.offset += word.len();
                        let delta = json!({"content": word});
                        return Some(self.event(delta, None));
                    }
                    self.stage = ChatStage::Finish;
                }
                ChatStage::Finish => {
                    self.stage = ChatStage::Usage;
                    return Some(self.event(json!({}), Some("stop")));
                }
                ChatStage::Usage => {
                    self.stage = ChatStage::Done;
                    if let Some(usage) = &self.usage {
                        let mut last = self.chunk(json!([]));
                        last["usage"] = usage.clone();
                        return Some(sse::data_event(last.to_string().as_bytes()));
                    }
                }
                ChatStage::Done => {
                    self.stage = ChatStage::End;
                    return Some(Bytes::from_static(sse::DONE));
                }
                ChatStage::End => return None,
            }
        }
    }

    /// A chunk of this answer with the given `choices`.
    fn chunk(&self, choices: serde_json::Value) -> serde_json::Value {
        json!({
            "id": "chatcmpl-mock",
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": self.model,
            "choices": choices,
        })
    }

    /// A content event: one choice with `delta`, and `usage: null` when usage comes last.
    fn event(&self, delta: serde_json::Value, finish: Option<&str>) -> Bytes {
        let mut chunk = self.chunk(
            json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]),
        );
        if self.usage.is_some() {
            chunk["usage"] = serde_json::Value::Null;
        }
        sse::data_event(chunk.to_string().as_bytes())
    }
}

/// A response body that hands out its chunks, optionally spaced by a delay.
#[derive(Debug, Default)]
pub struct MockBody {
    source: Source,
    delay: Option<Duration>,
    sleep: Option<Pin<Box<Sleep>>>,
    sent_any: bool,
}

impl MockBody {
    fn new(source: Source, delay: Option<Duration>) -> Self {
        Self {
            source,
            delay,
            sleep: None,
            sent_any: false,
        }
    }
}

impl Body for MockBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.source.is_empty() {
            return Poll::Ready(None);
        }
        if let (Some(delay), true) = (self.delay, self.sent_any) {
            let sleep = self
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(delay)));
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.sleep = None;
        }
        self.sent_any = true;
        Poll::Ready(self.source.next_chunk().map(|c| Ok(Frame::data(c))))
    }

    fn is_end_stream(&self) -> bool {
        self.source.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn call(
        mock: &MockUpstream,
        path: &str,
        body: serde_json::Value,
    ) -> (StatusCode, String) {
        let request = Request::post(path)
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap();
        let response = mock.handle(request).await;
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn answers_like_openai() {
        let mock = MockUpstream::new(MockConfig {
            reply: Some("a b c".into()),
            ..Default::default()
        });
        let msgs = json!([{"role": "user", "content": "hi"}]);
        let (status, body) = call(
            &mock,
            "/v1/chat/completions",
            json!({"model": "m", "messages": msgs}),
        )
        .await;
        assert_eq!(status, 200);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["choices"][0]["message"]["content"], "a b c");
        assert_eq!(v["usage"]["completion_tokens"], 3);

        let req = json!({"model": "m", "messages": msgs, "stream": true, "stream_options": {"include_usage": true}});
        let (_, body) = call(&mock, "/v1/chat/completions", req).await;
        assert_eq!(body.matches("data: ").count(), 3 + 2 + 1 + 1);
        assert!(body.contains("\"choices\":[],"));
        assert!(body.ends_with("data: [DONE]\n\n"));

        let (status, body) = call(
            &mock,
            "/v1/embeddings",
            json!({"model": "e", "input": ["x", "y"]}),
        )
        .await;
        assert_eq!(status, 200);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            v["data"][1]["embedding"].as_array().unwrap().len(),
            DEFAULT_DIMENSIONS
        );

        let (status, _) = call(&mock, "/v1/nothing", json!({})).await;
        assert_eq!(status, 404);
    }

    #[test]
    fn vectors_are_deterministic_unit_vectors() {
        let a = vector("hello", 16);
        assert_eq!(a, vector("hello", 16));
        assert_ne!(a, vector("world", 16));
        let norm: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4);
    }
}
