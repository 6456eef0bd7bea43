//! Reaching upstreams the way clusters need: a private CA and mutual TLS, an egress proxy
//! (`HTTPS_PROXY`/`NO_PROXY`), and per-provider extra headers.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;

use crate::common::client::{Via, post};
use crate::common::gateway::Options;
use crate::common::upstream::{self, Canned};
use crate::common::{Gateway, Upstream, chat_body};

fn ok(_: &upstream::Recorded) -> Canned {
    Canned::Json(200, upstream::chat_completion("m", "ok", 1, 1))
}

/// A CA, a server certificate for `localhost`, and a client certificate, written as PEM files.
struct Pki {
    server: Arc<rustls::ServerConfig>,
}

fn pki(dir: &Path, require_client_cert: bool) -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);

    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&server_key, &issuer)
        .unwrap();
    let client_key = KeyPair::generate().unwrap();
    let mut client_params = CertificateParams::new(vec!["llm-sidecar".to_owned()]).unwrap();
    client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client = client_params.signed_by(&client_key, &issuer).unwrap();

    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("client.pem"), client.pem()).unwrap();
    std::fs::write(dir.join("client.key"), client_key.serialize_pem()).unwrap();

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = if require_client_cert {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.der().clone()).unwrap();
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let key = rustls::pki_types::PrivateKeyDer::try_from(server_key.serialize_der()).unwrap();
    let server = builder
        .with_single_cert(vec![server.der().clone()], key)
        .unwrap();
    Pki {
        server: Arc::new(server),
    }
}

fn tls_provider(up: &Upstream, dir: &Path, client_cert: bool, ca: bool) -> String {
    let mut tls = String::new();
    if ca {
        tls.push_str(&format!(
            "      ca_file: {}\n",
            dir.join("ca.pem").display()
        ));
    }
    if client_cert {
        tls.push_str(&format!(
            "      client_cert_file: {}\n      client_key_file: {}\n",
            dir.join("client.pem").display(),
            dir.join("client.key").display()
        ));
    }
    let tls = if tls.is_empty() {
        String::new()
    } else {
        format!("    tls:\n{tls}")
    };
    format!(
        "providers:\n  - name: private\n    base_url: https://localhost:{}/v1\n{tls}    models: [m]\n",
        up.addr.port()
    )
}

#[tokio::test]
async fn a_private_ca_and_mutual_tls() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path(), true);
    let up = Upstream::start_tls(pki.server, ok).await;
    for (client_cert, ca, want) in [(true, true, 200), (false, true, 502), (true, false, 502)] {
        let gw = Gateway::start(&tls_provider(&up, dir.path(), client_cert, ca)).await;
        let reply = post(
            &Via::Tcp(gw.tcp),
            "/v1/chat/completions",
            &chat_body("m", false),
        )
        .await;
        assert_eq!(
            reply.status,
            want,
            "client_cert={client_cert} ca={ca}: {}",
            reply.text()
        );
    }
    assert_eq!(
        up.count(),
        1,
        "only the fully configured gateway got through"
    );
}

#[tokio::test]
async fn unreadable_tls_files_are_config_errors() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.yaml");
    std::fs::write(&config, "providers:\n  - name: p\n    base_url: https://x/v1\n    tls: {ca_file: /nonexistent/ca.pem}\n    models: [m]\n").unwrap();
    let (code, out) = crate::common::gateway::run_to_exit(
        &["--check", "--config", config.to_str().unwrap()],
        &[],
    );
    assert_eq!(code, 64);
    assert!(
        out.contains("providers[0]") && out.contains("/nonexistent/ca.pem"),
        "{out}"
    );
}

/// A minimal HTTP CONNECT proxy that records the targets it tunnelled to.
async fn connect_proxy() -> (std::net::SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && client.read_exact(&mut byte).await.is_ok() {
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let Some(target) = head
                    .strip_prefix("CONNECT ")
                    .and_then(|r| r.split(' ').next())
                else {
                    return;
                };
                log.lock().unwrap().push(target.to_owned());
                let Ok(mut upstream) = tokio::net::TcpStream::connect(target).await else {
                    return;
                };
                let _ = client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await;
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    (addr, seen)
}

#[tokio::test]
async fn egress_goes_through_the_proxy_unless_no_proxy_exempts_it() {
    let up = Upstream::start(ok).await;
    let (proxy, seen) = connect_proxy().await;
    let config = format!(
        "providers:\n  - name: p\n    base_url: {}\n    models: [m]\n",
        up.base_url()
    );
    let proxy_url = format!("http://{proxy}");
    let env = vec![
        ("HTTP_PROXY", proxy_url.clone()),
        ("HTTPS_PROXY", proxy_url.clone()),
    ];
    let gw = Gateway::start_with(
        &config,
        Options {
            env,
            ..Default::default()
        },
    )
    .await;
    let reply = post(
        &Via::Tcp(gw.tcp),
        "/v1/chat/completions",
        &chat_body("m", false),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(*seen.lock().unwrap(), [up.addr.to_string()]);

    let env = vec![
        ("HTTP_PROXY", proxy_url.clone()),
        ("NO_PROXY", "127.0.0.1".to_owned()),
    ];
    let gw = Gateway::start_with(
        &config,
        Options {
            env,
            ..Default::default()
        },
    )
    .await;
    let reply = post(
        &Via::Tcp(gw.tcp),
        "/v1/chat/completions",
        &chat_body("m", false),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "NO_PROXY must bypass the proxy"
    );
}

#[tokio::test]
async fn extra_headers_are_sent_and_never_logged() {
    let up = Upstream::start(ok).await;
    let config = format!(
        "providers:\n  - name: p\n    base_url: {}\n    models: [m]\n    extra_headers:\n      OpenAI-Organization: org-123\n      X-Tenant-Token: ${{TENANT_TOKEN}}\n",
        up.base_url()
    );
    let env = vec![("TENANT_TOKEN", "tenant-secret-42".to_owned())];
    let gw = Gateway::start_with(
        &config,
        Options {
            env,
            ..Default::default()
        },
    )
    .await;
    post(
        &Via::Tcp(gw.tcp),
        "/v1/chat/completions",
        &chat_body("m", false),
    )
    .await;
    let seen = up.last();
    assert_eq!(seen.header("openai-organization"), Some("org-123"));
    assert_eq!(seen.header("x-tenant-token"), Some("tenant-secret-42"));
    assert!(!gw.log_text().contains("tenant-secret-42"));
}
