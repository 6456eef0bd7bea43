use std::sync::atomic::{AtomicUsize, Ordering};

use http_body_util::BodyExt;
use hyper::service::service_fn;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::mpsc;

use super::*;

/// An upstream that answers `GET /n` with `n` one-byte chunks, each sent only once the client
/// has read the one before (so a client can stop mid-body), and echoes the request's `Host` in
/// `x-host`. Keep-alive, as real model servers are; it counts the connections it accepts and
/// says when one has ended.
struct Upstream {
    accepted: AtomicUsize,
    /// One permit per connection that ended.
    closed: tokio::sync::Semaphore,
}

impl Upstream {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            accepted: AtomicUsize::new(0),
            closed: tokio::sync::Semaphore::new(0),
        })
    }

    fn serve<S>(self: &Arc<Self>, stream: S)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
    {
        self.accepted.fetch_add(1, Ordering::SeqCst);
        let this = self.clone();
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(answer))
                .await;
            this.closed.add_permits(1);
        });
    }

    fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Waits until one more connection has ended.
    async fn one_closed(&self) {
        if let Ok(permit) = self.closed.acquire().await {
            permit.forget();
        }
    }
}

async fn tcp_upstream() -> (String, Arc<Upstream>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let upstream = Upstream::new();
    let serving = upstream.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            serving.serve(stream);
        }
    });
    (address, upstream)
}

async fn answer(request: Request<Incoming>) -> Result<Response<Chunks>, std::convert::Infallible> {
    let host = request.headers().get(HOST).cloned();
    let count: usize = request.uri().path()[1..].parse().unwrap_or(1);
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        for _ in 0..count {
            if tx.send(Bytes::from_static(b"x")).await.is_err() {
                return;
            }
        }
    });
    let mut response = Response::new(Chunks(rx));
    if let Some(host) = host {
        response.headers_mut().insert("x-host", host);
    }
    Ok(response)
}

/// A body fed by a channel.
struct Chunks(mpsc::Receiver<Bytes>);

impl Body for Chunks {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.get_mut()
            .0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|c| Ok(Frame::data(c))))
    }
}

fn get(path: &str) -> Request<Full<Bytes>> {
    Request::get(format!("http://ignored{path}"))
        .body(Full::default())
        .unwrap()
}

async fn read_all(set: &ConnSet, path: &str) -> (Bytes, Option<HeaderValue>) {
    let response = set.send(get(path)).await.unwrap();
    let host = response.headers().get("x-host").cloned();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (body, host)
}

fn tcp_set(address: &str) -> ConnSet {
    ConnSet::tcp(address.to_owned(), "vllm:8000", Duration::from_secs(5)).unwrap()
}

#[tokio::test]
async fn sequential_requests_share_one_connection_and_send_the_host() {
    let (address, upstream) = tcp_upstream().await;
    let set = tcp_set(&address);
    for chunks in [1, 3, 0, 2] {
        let (body, host) = read_all(&set, &format!("/{chunks}")).await;
        assert_eq!(body.len(), chunks);
        assert_eq!(host.unwrap(), "vllm:8000");
    }
    assert_eq!(upstream.connections(), 1);
}

#[tokio::test]
async fn concurrent_requests_open_connections_that_are_then_reused() {
    let (address, upstream) = tcp_upstream().await;
    let set = tcp_set(&address);
    let first = set.send(get("/2")).await.unwrap();
    let second = set.send(get("/2")).await.unwrap();
    for response in [first, second] {
        assert_eq!(
            response
                .into_body()
                .collect()
                .await
                .unwrap()
                .to_bytes()
                .len(),
            2
        );
    }
    for _ in 0..3 {
        read_all(&set, "/1").await;
    }
    assert_eq!(upstream.connections(), 2);
}

#[tokio::test]
async fn a_body_dropped_before_its_end_does_not_give_its_connection_back() {
    let (address, upstream) = tcp_upstream().await;
    let set = tcp_set(&address);
    let mut body = set.send(get("/3")).await.unwrap().into_body();
    let first = body.frame().await.unwrap().unwrap();
    assert_eq!(first.into_data().unwrap(), "x");
    drop(body);
    assert!(set.lock().is_empty());
    let (body, _) = read_all(&set, "/2").await;
    assert_eq!(body, "xx");
    assert_eq!(upstream.connections(), 2);
}

#[tokio::test]
async fn a_connection_the_upstream_closed_while_idle_is_replaced() {
    // This upstream answers one request per connection and then closes it without saying so
    // (no `Connection: close`), as a server whose keep-alive timer fired does.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    let (closed_tx, mut closed_rx) = mpsc::channel(4);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let mut request = Vec::new();
            let mut buffer = [0u8; 1024];
            while !request.ends_with(b"\r\n\r\n") {
                let n = stream.read(&mut buffer).await.unwrap();
                assert!(n > 0, "the client closed before its request ended");
                request.extend_from_slice(&buffer[..n]);
            }
            stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nx")
                .await
                .unwrap();
            drop(stream);
            closed_tx.send(()).await.unwrap();
        }
    });
    let set = tcp_set(&address);
    for _ in 0..3 {
        assert_eq!(read_all(&set, "/1").await.0, "x");
        closed_rx.recv().await.unwrap();
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn idle_connections_are_capped_and_expire() {
    let (address, upstream) = tcp_upstream().await;
    let set = tcp_set(&address);
    let mut open = Vec::new();
    for _ in 0..MAX_IDLE + 2 {
        open.push(set.send(get("/1")).await.unwrap());
    }
    for response in open {
        response.into_body().collect().await.unwrap();
    }
    assert_eq!(set.lock().len(), MAX_IDLE);
    assert_eq!(upstream.connections(), MAX_IDLE + 2);

    // Age every idle connection past the timeout: the next request opens a new one.
    let Some(long_ago) = Instant::now().checked_sub(set.0.idle_timeout + Duration::from_secs(1))
    else {
        return; // a machine up for less than the timeout cannot age them
    };
    for idle in set.lock().iter_mut() {
        idle.since = long_ago;
    }
    read_all(&set, "/1").await;
    assert_eq!(upstream.connections(), MAX_IDLE + 3);
    assert_eq!(set.lock().len(), 1);
}

#[tokio::test]
async fn unix_socket_upstreams_are_reached_by_path_with_a_local_host() {
    let dir = std::env::temp_dir().join(format!("conns-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("up.sock");
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).unwrap();
    let upstream = Upstream::new();
    let serving = upstream.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            serving.serve(stream);
        }
    });
    let set = ConnSet::unix(path.clone());
    for _ in 0..2 {
        let (body, host) = read_all(&set, "/2").await;
        assert_eq!(body, "xx");
        assert_eq!(host.unwrap(), UNIX_HOST);
    }
    assert_eq!(upstream.connections(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn unreachable_upstreams_are_transport_errors() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    drop(listener);
    let error = tcp_set(&address).send(get("/1")).await.err().unwrap();
    assert!(error.0.contains(&address), "{}", error.0);
    let error = ConnSet::unix("/nonexistent/up.sock".into())
        .send(get("/1"))
        .await
        .err()
        .unwrap();
    assert!(error.0.contains("/nonexistent/up.sock"), "{}", error.0);
}

#[tokio::test]
async fn a_quiet_set_closes_its_idle_connections() {
    let (address, upstream) = tcp_upstream().await;
    let idle_timeout = Duration::from_millis(50);
    let target = Target::Tcp {
        address,
        connect_timeout: Duration::from_secs(5),
    };
    let set = ConnSet::new(target, HeaderValue::from_static("up"), idle_timeout);
    assert_eq!(read_all(&set, "/1").await.0, "x");
    assert_eq!(set.lock().len(), 1);
    // No further request: the reaper alone must close it (well within the test's patience).
    tokio::time::timeout(Duration::from_secs(10), upstream.one_closed())
        .await
        .expect("the idle connection was never closed");
    assert!(set.lock().is_empty());
    // The set still works, and reaps again.
    assert_eq!(read_all(&set, "/2").await.0, "xx");
    tokio::time::timeout(Duration::from_secs(10), upstream.one_closed())
        .await
        .expect("the second idle connection was never closed");
}
