//! Finding 5: connections are bounded from their accept. A connection that sends nothing, a
//! byte, half a request or only the h2c preface is closed after `read_timeout`; an idle HTTP/2
//! connection after `idle_timeout`; and a flood of connections is shed at the cap so the
//! probes (on their own listener) keep answering even under a low open-file limit.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::client::{self, Via, get};
use crate::common::gateway::Options;
use crate::common::{Gateway, WAIT, chat_body};

const MOCK: &str = "providers:\n  - {name: m, type: mock, models: [gpt-4o]}\n";

/// Reads until the gateway closes the connection; panics when it stays open past `WAIT`.
async fn closed_by_gateway(stream: &mut TcpStream) {
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(WAIT, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the gateway kept the connection open");
}

#[tokio::test]
async fn silent_and_half_open_connections_are_closed_after_read_timeout() {
    let gw = Gateway::start_with(
        MOCK,
        Options {
            server: "  read_timeout: 1s\n",
            ..Default::default()
        },
    )
    .await;
    let openings: [&[u8]; 4] = [
        b"",
        b"P",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        b"GET /v1/models HTTP/1.1\r\nHost: x\r\n",
    ];
    for opening in openings {
        let started = Instant::now();
        let mut stream = TcpStream::connect(gw.tcp).await.unwrap();
        stream.write_all(opening).await.unwrap();
        closed_by_gateway(&mut stream).await;
        assert!(
            started.elapsed() >= Duration::from_millis(900),
            "closed before read_timeout: {opening:?}"
        );
    }
}

#[tokio::test]
async fn an_idle_http2_connection_is_closed_after_idle_timeout() {
    let gw = Gateway::start_with(
        MOCK,
        Options {
            server: "  idle_timeout: 1s\n",
            ..Default::default()
        },
    )
    .await;
    let io = hyper_util::rt::TokioIo::new(TcpStream::connect(gw.tcp).await.unwrap());
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io)
            .await
            .unwrap();
    let connection = tokio::spawn(connection);
    let response = sender
        .send_request(client::json_request(
            "POST",
            "/v1/chat/completions",
            &chat_body("gpt-4o", false),
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    drop(response);
    // The gateway ends the connection (GOAWAY, then close): the client's side completes.
    let ended = tokio::time::timeout(WAIT, connection).await;
    assert!(ended.is_ok(), "the idle h2 connection stayed open");
}

#[tokio::test]
async fn a_connection_flood_is_shed_and_the_probes_keep_answering() {
    let mut gw = Gateway::start_with(
        MOCK,
        Options {
            server: "  read_timeout: 2s\n",
            admin: true,
            fd_limit: Some(256),
            ..Default::default()
        },
    )
    .await;
    let admin = Via::Tcp(gw.admin.unwrap());
    let mut flood = Vec::new();
    for _ in 0..250 {
        flood.push(TcpStream::connect(gw.tcp).await.unwrap());
    }
    gw.wait_log("connection limit reached").await;
    let probe = tokio::time::timeout(WAIT, get(&admin, "/health/live")).await;
    assert_eq!(probe.expect("the liveness probe timed out").status, 200);
    // The flood idles out; the API serves again.
    for stream in &mut flood {
        closed_by_gateway(stream).await;
    }
    let reply = client::post(
        &Via::Tcp(gw.tcp),
        "/v1/chat/completions",
        &chat_body("gpt-4o", false),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
}
