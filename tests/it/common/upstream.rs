//! A real HTTP upstream for the gateway to call: records every request and answers with what the
//! test's responder says (JSON, SSE with delays, hangs), and reports when the gateway goes away
//! in the middle of an answer.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::WAIT;

/// One request the upstream received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Headers.
    pub headers: HeaderMap,
    /// Body bytes.
    pub body: Bytes,
}

impl Recorded {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// What the upstream answers.
#[derive(Debug, Clone)]
pub enum Canned {
    /// A JSON body.
    Json(u16, Value),
    /// A JSON body with extra headers.
    JsonHeaders(u16, Value, Vec<(&'static str, String)>),
    /// An SSE body: each string is sent as one chunk, `delay` apart.
    Sse(Vec<String>, Duration),
    /// A raw body.
    Raw(u16, &'static str, String),
    /// A body of any content type sent as these chunks, `delay` apart (e.g. NDJSON).
    Chunks(u16, &'static str, Vec<String>, Duration),
    /// A binary body sent as these chunks, `delay` apart (e.g. an AWS event stream).
    Binary(u16, &'static str, Vec<Vec<u8>>, Duration),
    /// Wait, then answer.
    Delay(Duration, Box<Canned>),
    /// Never answer.
    Hang,
}

/// Something the test may wait for.
#[derive(Debug, Clone)]
pub enum Event {
    /// A request arrived.
    Request(Recorded),
    /// The gateway went away before the answer was complete.
    Disconnected,
}

type Responder = Arc<dyn Fn(&Recorded) -> Canned + Send + Sync>;

/// A running mock upstream.
pub struct Upstream {
    /// Its address (TCP upstreams).
    pub addr: SocketAddr,
    /// Everything received so far.
    pub requests: Arc<Mutex<Vec<Recorded>>>,
    events: mpsc::UnboundedReceiver<Event>,
    responder: Arc<Mutex<Responder>>,
}

impl Upstream {
    /// Starts on 127.0.0.1 with an ephemeral port.
    pub async fn start(responder: impl Fn(&Recorded) -> Canned + Send + Sync + 'static) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (this, shared) = Self::new(addr, responder);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                serve(stream, shared.clone());
            }
        });
        this
    }

    /// Starts on 127.0.0.1 behind TLS with `config` (a private CA, possibly requiring client
    /// certificates).
    pub async fn start_tls(
        config: std::sync::Arc<tokio_rustls::rustls::ServerConfig>,
        responder: impl Fn(&Recorded) -> Canned + Send + Sync + 'static,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (this, shared) = Self::new(addr, responder);
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (acceptor, shared) = (acceptor.clone(), shared.clone());
                tokio::spawn(async move {
                    if let Ok(tls) = acceptor.accept(stream).await {
                        serve(tls, shared);
                    }
                });
            }
        });
        this
    }

    /// Starts on a Unix socket.
    pub async fn start_unix(
        path: &Path,
        responder: impl Fn(&Recorded) -> Canned + Send + Sync + 'static,
    ) -> Self {
        let listener = tokio::net::UnixListener::bind(path).unwrap();
        let (this, shared) = Self::new("127.0.0.1:1".parse().unwrap(), responder);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                serve(stream, shared.clone());
            }
        });
        this
    }

    fn new(
        addr: SocketAddr,
        responder: impl Fn(&Recorded) -> Canned + Send + Sync + 'static,
    ) -> (Self, Shared) {
        let (tx, events) = mpsc::unbounded_channel();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let responder: Arc<Mutex<Responder>> = Arc::new(Mutex::new(Arc::new(responder)));
        let shared = Shared {
            tx,
            requests: requests.clone(),
            responder: responder.clone(),
        };
        (
            Self {
                addr,
                requests,
                events,
                responder,
            },
            shared,
        )
    }

    /// The base URL for an OpenAI-style provider (`http://addr/v1`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Replaces the responder.
    pub fn respond(&self, responder: impl Fn(&Recorded) -> Canned + Send + Sync + 'static) {
        *self.responder.lock().unwrap() = Arc::new(responder);
    }

    /// The last request received.
    pub fn last(&self) -> Recorded {
        self.requests
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("no request reached the upstream")
    }

    /// How many requests arrived.
    pub fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    /// Waits for the next event.
    pub async fn next_event(&mut self, within: Duration) -> Option<Event> {
        tokio::time::timeout(within, self.events.recv())
            .await
            .ok()
            .flatten()
    }

    /// Waits for a disconnect, skipping request events.
    pub async fn wait_disconnect(&mut self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(Event::Disconnected)) => return true,
                Ok(Some(Event::Request(_))) => {}
                _ => return false,
            }
        }
    }

    /// Waits for the next request.
    pub async fn wait_request(&mut self) -> Recorded {
        loop {
            match self.next_event(WAIT).await {
                Some(Event::Request(r)) => return r,
                Some(Event::Disconnected) => {}
                None => panic!("no request reached the upstream"),
            }
        }
    }
}

#[derive(Clone)]
struct Shared {
    tx: mpsc::UnboundedSender<Event>,
    requests: Arc<Mutex<Vec<Recorded>>>,
    responder: Arc<Mutex<Responder>>,
}

fn serve<S>(stream: S, shared: Shared)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    tokio::spawn(async move {
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let shared = shared.clone();
            async move { Ok::<_, Infallible>(handle(request, shared).await) }
        });
        let _ = auto::Builder::new(TokioExecutor::new())
            .serve_connection(TokioIo::new(stream), service)
            .await;
    });
}

/// Reports a disconnect if dropped while armed.
struct Guard {
    tx: mpsc::UnboundedSender<Event>,
    armed: bool,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.armed {
            let _ = self.tx.send(Event::Disconnected);
        }
    }
}

async fn handle(request: Request<Incoming>, shared: Shared) -> Response<TestBody> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let recorded = Recorded {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map_or_else(String::new, |p| p.to_string()),
        headers: parts.headers,
        body,
    };
    shared.requests.lock().unwrap().push(recorded.clone());
    let _ = shared.tx.send(Event::Request(recorded.clone()));
    let responder = shared.responder.lock().unwrap().clone();
    let mut guard = Guard {
        tx: shared.tx.clone(),
        armed: true,
    };
    let mut canned = responder(&recorded);
    loop {
        match canned {
            Canned::Delay(delay, next) => {
                tokio::time::sleep(delay).await;
                canned = *next;
            }
            Canned::Hang => std::future::pending::<()>().await,
            other => {
                guard.armed = false;
                return build(other, &shared);
            }
        }
    }
}

fn build(canned: Canned, shared: &Shared) -> Response<TestBody> {
    let text = |chunks: Vec<String>| chunks.into_iter().map(String::into_bytes).collect();
    let (status, content_type, chunks, delay, headers): (_, _, Vec<Vec<u8>>, _, _) = match canned {
        Canned::Json(status, body) => (
            status,
            "application/json",
            vec![body.to_string().into_bytes()],
            None,
            vec![],
        ),
        Canned::JsonHeaders(status, body, headers) => (
            status,
            "application/json",
            vec![body.to_string().into_bytes()],
            None,
            headers,
        ),
        Canned::Raw(status, content_type, body) => {
            (status, content_type, vec![body.into_bytes()], None, vec![])
        }
        Canned::Chunks(status, content_type, chunks, delay) => {
            (status, content_type, text(chunks), Some(delay), vec![])
        }
        Canned::Binary(status, content_type, chunks, delay) => {
            (status, content_type, chunks, Some(delay), vec![])
        }
        Canned::Sse(chunks, delay) => (200, "text/event-stream", text(chunks), Some(delay), vec![]),
        Canned::Delay(..) | Canned::Hang => unreachable!("resolved by handle"),
    };
    let mut response = Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .header("content-type", content_type);
    for (k, v) in headers {
        response = response.header(k, v);
    }
    let body = TestBody {
        chunks: chunks.into_iter().map(Bytes::from).collect(),
        delay,
        sleep: None,
        sent_any: false,
        guard: Some(Guard {
            tx: shared.tx.clone(),
            armed: true,
        }),
    };
    response.body(body).unwrap()
}

/// A body that sends its chunks `delay` apart and reports being dropped early.
struct TestBody {
    chunks: VecDeque<Bytes>,
    delay: Option<Duration>,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    sent_any: bool,
    guard: Option<Guard>,
}

impl Body for TestBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.chunks.is_empty() {
            if let Some(mut guard) = self.guard.take() {
                guard.armed = false;
            }
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
        Poll::Ready(self.chunks.pop_front().map(|c| Ok(Frame::data(c))))
    }
}

/// An OpenAI chat completion answer.
pub fn chat_completion(
    model: &str,
    content: &str,
    prompt_tokens: u64,
    completion_tokens: u64,
) -> Value {
    json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens},
    })
}

/// OpenAI stream events for `words`, with the usage chunk when `usage` is given.
pub fn chat_stream(words: &[&str], usage: Option<(u64, u64)>) -> Vec<String> {
    let chunk = |delta: Value, finish: Value| {
        let mut c = json!({"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 1, "model": "up",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        if usage.is_some() {
            c["usage"] = Value::Null;
        }
        format!("data: {c}\n\n")
    };
    let mut events = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    events.extend(
        words
            .iter()
            .map(|w| chunk(json!({"content": w}), Value::Null)),
    );
    events.push(chunk(json!({}), json!("stop")));
    if let Some((p, c)) = usage {
        let u = json!({"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 1, "model": "up", "choices": [],
            "usage": {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}});
        events.push(format!("data: {u}\n\n"));
    }
    events.push("data: [DONE]\n\n".to_owned());
    events
}

/// An embeddings answer.
pub fn embeddings(model: &str, n: usize) -> Value {
    let data: Vec<Value> = (0..n)
        .map(|i| json!({"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]}))
        .collect();
    json!({"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": 8, "total_tokens": 8}})
}
