//! A fast, fixed-answer OpenAI-compatible upstream for `make bench`: it answers chat completions
//! (whole or streamed) and embeddings with canned bodies, so the benchmark measures the gateway
//! and not the upstream. Usage: `bench_upstream 127.0.0.1:9999`.

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

const CHAT: &str = r#"{"id":"chatcmpl-bench","object":"chat.completion","created":1,"model":"bench","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the bench upstream."},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":6,"total_tokens":18}}"#;
/// The stream's first event (the role).
const STREAM_HEAD: &str = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"bench\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}],\"usage\":null}\n\n";
/// One content event.
const STREAM_CHUNK: &str = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"bench\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello from\"},\"finish_reason\":null}],\"usage\":null}\n\n";
/// The finish, usage and `[DONE]` events.
const STREAM_TAIL: &str = concat!(
    "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"bench\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n",
    "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"bench\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":6,\"total_tokens\":18}}\n\n",
    "data: [DONE]\n\n",
);
/// Content events of a stream whose request names no `max_tokens`.
const DEFAULT_CHUNKS: usize = 2;
/// Most content events one stream gets.
const MAX_CHUNKS: usize = 100_000;
const EMBEDDINGS: &str = r#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,0.2,0.3]}],"model":"bench","usage":{"prompt_tokens":3,"total_tokens":3}}"#;

async fn answer(request: Request<Incoming>) -> Result<Response<Answer>, Infallible> {
    let path = request.uri().path().to_owned();
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let stream = body.windows(13).any(|w| w == b"\"stream\":true");
    let (content_type, answer) = if path.ends_with("/embeddings") {
        (
            "application/json",
            Answer::Whole(Some(Bytes::from_static(EMBEDDINGS.as_bytes()))),
        )
    } else if stream {
        ("text/event-stream", Answer::events(chunks(&body)))
    } else {
        (
            "application/json",
            Answer::Whole(Some(Bytes::from_static(CHAT.as_bytes()))),
        )
    };
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .body(answer)
        .unwrap_or_else(|_| Response::new(Answer::Whole(None))))
}

/// A canned answer: one body, or a stream's events one frame each, with a yield to the
/// runtime between two, so each is written (and reaches the gateway) on its own as a real
/// upstream's tokens do, instead of all in one read.
enum Answer {
    Whole(Option<Bytes>),
    Events {
        left: std::vec::IntoIter<Bytes>,
        yielded: bool,
    },
}

impl Answer {
    fn events(chunks: usize) -> Self {
        let events: Vec<Bytes> = std::iter::once(Bytes::from_static(STREAM_HEAD.as_bytes()))
            .chain(std::iter::repeat_n(
                Bytes::from_static(STREAM_CHUNK.as_bytes()),
                chunks,
            ))
            .chain(
                STREAM_TAIL
                    .split_inclusive("\n\n")
                    .map(|e| Bytes::from_static(e.as_bytes())),
            )
            .collect();
        Self::Events {
            left: events.into_iter(),
            yielded: false,
        }
    }
}

impl http_body::Body for Answer {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        use std::task::Poll;
        match self.get_mut() {
            Self::Whole(body) => Poll::Ready(body.take().map(|b| Ok(http_body::Frame::data(b)))),
            Self::Events { left, yielded } => {
                if !*yielded && left.len() > 0 {
                    *yielded = true;
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                *yielded = false;
                Poll::Ready(left.next().map(|b| Ok(http_body::Frame::data(b))))
            }
        }
    }

    /// A whole answer has a length: hyper then sends `content-length`, not chunks, as a real
    /// upstream does for a JSON body.
    fn size_hint(&self) -> http_body::SizeHint {
        match self {
            Self::Whole(body) => {
                http_body::SizeHint::with_exact(body.as_ref().map_or(0, |b| b.len() as u64))
            }
            Self::Events { .. } => http_body::SizeHint::default(),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Self::Whole(None))
    }
}

/// Content events asked for: the request's `max_tokens` (so a benchmark can compare streams of
/// different lengths), else [`DEFAULT_CHUNKS`].
fn chunks(body: &[u8]) -> usize {
    const KEY: &[u8] = b"\"max_tokens\":";
    body.windows(KEY.len())
        .position(|w| w == KEY)
        .map(|at| {
            body[at + KEY.len()..]
                .iter()
                .skip_while(|b| b.is_ascii_whitespace())
                .take_while(|b| b.is_ascii_digit())
                .fold(0usize, |n, d| {
                    n.saturating_mul(10).saturating_add(usize::from(d - b'0'))
                })
        })
        .unwrap_or(DEFAULT_CHUNKS)
        .min(MAX_CHUNKS)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9999".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("bench upstream listening on {}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        tokio::spawn(async move {
            let service = hyper::service::service_fn(answer);
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
