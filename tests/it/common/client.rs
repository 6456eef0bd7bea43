//! A test HTTP client over TCP or a Unix socket, one connection per request (so a test can drop
//! it to play a client that goes away), HTTP/1.1 or h2c.

use std::net::SocketAddr;
use std::path::PathBuf;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpStream, UnixStream};

/// Where to send a request.
#[derive(Debug, Clone)]
pub enum Via {
    /// TCP address.
    Tcp(SocketAddr),
    /// Unix socket path.
    Unix(PathBuf),
}

/// A whole response.
#[derive(Debug)]
pub struct Reply {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body bytes.
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static> Io for T {}

async fn try_connect(via: &Via) -> std::io::Result<Box<dyn Io>> {
    let io: Box<dyn Io> = match via {
        Via::Tcp(addr) => Box::new(TcpStream::connect(addr).await?),
        Via::Unix(path) => Box::new(UnixStream::connect(path).await?),
    };
    Ok(io)
}

async fn connect(via: &Via) -> Box<dyn Io> {
    try_connect(via).await.unwrap()
}

/// Sends `request` on a fresh connection and returns the response head with its live body.
pub async fn send(via: &Via, request: Request<Full<Bytes>>, h2: bool) -> http::Response<Incoming> {
    let io = TokioIo::new(connect(via).await);
    if h2 {
        let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .unwrap();
        tokio::spawn(conn);
        sender.send_request(request).await.unwrap()
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
        tokio::spawn(conn);
        sender.send_request(request).await.unwrap()
    }
}

/// Builds a request with a JSON body.
pub fn json_request(method: &str, path: &str, body: &serde_json::Value) -> Request<Full<Bytes>> {
    raw_request(method, path, Bytes::from(body.to_string()))
}

/// Builds a request with raw body bytes.
pub fn raw_request(method: &str, path: &str, body: Bytes) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(format!("http://localhost{path}"))
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Full::new(body))
        .unwrap()
}

/// Sends and reads the whole response.
pub async fn call(via: &Via, request: Request<Full<Bytes>>) -> Reply {
    let response = send(via, request, false).await;
    let (parts, body) = response.into_parts();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

/// POSTs JSON.
pub async fn post(via: &Via, path: &str, body: &serde_json::Value) -> Reply {
    call(via, json_request("POST", path, body)).await
}

/// GETs a path.
pub async fn get(via: &Via, path: &str) -> Reply {
    call(via, raw_request("GET", path, Bytes::new())).await
}

/// Reads the next data frame of a streaming body, or `None` at its end.
pub async fn next_frame(body: &mut Incoming) -> Option<Bytes> {
    loop {
        match body.frame().await? {
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    return Some(data);
                }
            }
            Err(e) => panic!("stream broke: {e}"),
        }
    }
}

/// Reads the next data frame of a streaming body; `false` once it ended or broke (a cut).
pub async fn next_frame_or_end(body: &mut Incoming) -> bool {
    loop {
        match body.frame().await {
            Some(Ok(frame)) if frame.is_data() => return true,
            Some(Ok(_)) => {}
            None | Some(Err(_)) => return false,
        }
    }
}

/// The `data:` payloads of an SSE body.
pub fn sse_data(text: &str) -> Vec<String> {
    text.split("\n\n")
        .filter_map(|event| event.lines().find_map(|l| l.strip_prefix("data: ")))
        .map(str::to_owned)
        .collect()
}

/// Like [`call`], on a fresh HTTP/1.1 connection, but every failure (refused connection, reset,
/// no answer within `timeout`) is returned instead of panicking, for harnesses that count them.
pub async fn try_call(
    via: &Via,
    request: Request<Full<Bytes>>,
    timeout: std::time::Duration,
) -> Result<Reply, String> {
    let exchange = async {
        let io = try_connect(via).await.map_err(|e| e.to_string())?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {timeout:?}")))
}
