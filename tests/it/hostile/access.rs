//! Finding 9: open access is a decision. Any credential closes the API (a master key alone
//! too); with none, anonymous callers are served on the socket and loopback only, unless
//! `auth.allow_anonymous: true`; and a reload may not open a closed API by accident.

use std::net::{IpAddr, SocketAddr};

use super::post;
use crate::common::Gateway;
use crate::common::chat_body;
use crate::common::client::{Reply, Via};
use crate::common::gateway::{Options, server_yaml};

const MOCK: &str = "providers:\n  - {name: m, type: mock, models: [gpt-4o]}\n";

async fn chat(via: &Via, key: Option<&str>) -> Reply {
    post(
        via,
        "/v1/chat/completions",
        &chat_body("gpt-4o", false),
        key,
    )
    .await
}

#[tokio::test]
async fn a_master_key_alone_closes_the_api() {
    let gw = Gateway::start(&format!("{MOCK}auth:\n  master_key: sk-master\n")).await;
    for via in [Via::Unix(gw.unix.clone()), Via::Tcp(gw.tcp)] {
        assert_eq!(chat(&via, None).await.status, 401);
        assert_eq!(chat(&via, Some("sk-master")).await.status, 200);
    }
}

#[tokio::test]
async fn a_reload_that_drops_every_key_is_rejected_unless_it_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    let head = format!(
        "{}\nreload:\n  debounce: 20ms\n{MOCK}",
        server_yaml(dir.path(), &Options::default())
    );
    std::fs::write(
        &config,
        format!("{head}keys:\n  - {{name: k, key: sk-k}}\n"),
    )
    .unwrap();
    let mut gw = Gateway::start_file(dir, &config, vec![]).await;
    let via = Via::Unix(gw.unix.clone());
    assert_eq!(chat(&via, None).await.status, 401);

    std::fs::write(&config, &head).unwrap();
    let rejected = gw.wait_log("config rejected").await;
    assert!(rejected.contains("allow_anonymous"), "{rejected}");
    assert_eq!(
        chat(&via, None).await.status,
        401,
        "the old, closed config serves"
    );
    assert_eq!(chat(&via, Some("sk-k")).await.status, 200);

    std::fs::write(&config, format!("{head}auth:\n  allow_anonymous: true\n")).unwrap();
    gw.wait_log("\"generation\":2").await;
    assert_eq!(chat(&via, None).await.status, 200);
}

/// This machine's address on its default route (never loopback), to call the gateway as a
/// client outside the pod would.
fn outside_address() -> IpAddr {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    // Connecting a UDP socket sends nothing; it only picks the route and the source address.
    socket
        .connect("203.0.113.1:9")
        .expect("these tests need a non-loopback interface with a default route");
    let ip = socket.local_addr().unwrap().ip();
    assert!(!ip.is_loopback());
    ip
}

async fn start_on_all_interfaces(auth: &str) -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    let server = server_yaml(dir.path(), &Options::default()).replace("127.0.0.1:0", "0.0.0.0:0");
    std::fs::write(&config, format!("{server}\n{MOCK}{auth}")).unwrap();
    Gateway::start_file(dir, &config, vec![]).await
}

#[tokio::test]
async fn anonymous_callers_from_outside_the_pod_need_allow_anonymous() {
    let outside = outside_address();
    let gw = start_on_all_interfaces("").await;
    let remote = Via::Tcp(SocketAddr::new(outside, gw.tcp.port()));
    let refused = chat(&remote, None).await;
    assert_eq!(refused.status, 401, "{}", refused.text());
    assert!(
        refused.text().contains("allow_anonymous"),
        "{}",
        refused.text()
    );
    assert_eq!(chat(&Via::Unix(gw.unix.clone()), None).await.status, 200);
    let loopback = SocketAddr::new([127, 0, 0, 1].into(), gw.tcp.port());
    assert_eq!(chat(&Via::Tcp(loopback), None).await.status, 200);
    drop(gw);

    let open = start_on_all_interfaces("auth:\n  allow_anonymous: true\n").await;
    let remote = Via::Tcp(SocketAddr::new(outside, open.tcp.port()));
    assert_eq!(chat(&remote, None).await.status, 200);
    assert!(open.log_text().contains("OPEN ACCESS"));
}
