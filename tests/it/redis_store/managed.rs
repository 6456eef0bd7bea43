//! Managed-Redis connections against real servers: `rediss://` with a private CA made here with
//! rcgen (trusted through `store.tls.ca_file`, refused by the default public roots), mutual TLS
//! with a client certificate, ACL user and password from `file:` secrets, and a gateway that
//! uses all of them without printing a credential.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use llm_sidecar::config::schema::StoreConfig;
use llm_sidecar::limits::redis::RedisStore;
use llm_sidecar::limits::store::{Admission, Store};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    SanType,
};
use redis::AsyncCommands;

use super::server::{RedisServer, free_port};
use super::{MIN, PREFIX, take};
use crate::common::client::{self, Via, raw_request};
use crate::common::{Gateway, WAIT, chat_body};

/// Pause between two tries of a call that timed out.
const RETRY: Duration = Duration::from_millis(100);

/// The ACL user the store logs in as, and its password (long enough for the log hygiene check).
const APP_USER: &str = "sidecar-app";
const APP_PASSWORD: &str = "app-acl-password-0f3c9";
/// The default user's password (the harness's and the test's admin connection).
const ADMIN_PASSWORD: &str = "admin-password-77a1";

/// A test CA, a server certificate for 127.0.0.1 and localhost, and a client certificate, as PEM
/// files in `dir`.
pub(super) struct Pki {
    pub(super) ca: PathBuf,
    pub(super) server_cert: PathBuf,
    pub(super) server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

pub(super) fn pki(dir: &Path) -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // Distinct subjects: OpenSSL (the server's side) takes a leaf whose subject equals its
    // issuer's for self-signed, and rcgen gives every certificate the same default subject.
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "llm-sidecar test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);

    let server_key = KeyPair::generate().unwrap();
    let mut server_params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    server_params
        .distinguished_name
        .push(DnType::CommonName, "redis");
    server_params
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    let server = server_params.signed_by(&server_key, &issuer).unwrap();
    let client_key = KeyPair::generate().unwrap();
    let mut client_params = CertificateParams::new(vec!["llm-sidecar".to_owned()]).unwrap();
    client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    client_params
        .distinguished_name
        .push(DnType::CommonName, "llm-sidecar");
    let client = client_params.signed_by(&client_key, &issuer).unwrap();

    let write = |name: &str, pem: String| {
        let path = dir.join(name);
        std::fs::write(&path, pem).unwrap();
        path
    };
    Pki {
        ca: write("ca.pem", ca.pem()),
        server_cert: write("server.pem", server.pem()),
        server_key: write("server.key", server_key.serialize_pem()),
        client_cert: write("client.pem", client.pem()),
        client_key: write("client.key", client_key.serialize_pem()),
    }
}

/// A TLS server (and its TLS port) whose default user has [`ADMIN_PASSWORD`] and which knows the
/// ACL user [`APP_USER`]; `auth_clients` is `no` or `yes` (client certificates required). The
/// plain port stays open for the harness's readiness check and the test's admin connection.
fn tls_server(pki: &Pki, auth_clients: &str) -> (RedisServer, u16) {
    let tls_port = std::cell::Cell::new(0);
    let server = RedisServer::start_with(
        || {
            tls_port.set(free_port());
            let path = |p: &PathBuf| p.display().to_string();
            vec![
                "--tls-port".into(),
                tls_port.get().to_string(),
                "--tls-cert-file".into(),
                path(&pki.server_cert),
                "--tls-key-file".into(),
                path(&pki.server_key),
                "--tls-ca-cert-file".into(),
                path(&pki.ca),
                "--tls-auth-clients".into(),
                auth_clients.into(),
                "--user".into(),
                APP_USER.into(),
                "on".into(),
                format!(">{APP_PASSWORD}"),
                "~*".into(),
                "+@all".into(),
            ]
        },
        Some(ADMIN_PASSWORD),
    );
    (server, tls_port.get())
}

fn store_config(yaml: &str) -> StoreConfig {
    serde_yaml::from_str(yaml).unwrap()
}

/// Whether `store` admits into a fresh bucket. A first call that times out (a TLS handshake on a
/// loaded machine can outlast the call timeout; the connection goes on in the background) is
/// tried again, so the answer is the server's.
async fn admits(store: &RedisStore, key: &str) -> Result<(), String> {
    let deadline = Instant::now() + WAIT;
    loop {
        match store.admit(&[take(key, 5, MIN, 1)], &[]).await {
            Ok(Admission::Admitted { .. }) => return Ok(()),
            Ok(other) => panic!("a fresh bucket admits: {other:?}"),
            Err(e) if e.0.contains("no answer") && Instant::now() < deadline => {
                tokio::time::sleep(RETRY).await;
            }
            Err(e) => return Err(e.0),
        }
    }
}

/// Files holding the ACL user and a password, as a mounted Kubernetes Secret has them.
fn credentials(dir: &Path, password: &str) -> (PathBuf, PathBuf) {
    let user = dir.join("username");
    let pass = dir.join(format!("password-{}", password.len()));
    std::fs::write(&user, format!("{APP_USER}\n")).unwrap();
    std::fs::write(&pass, format!("{password}\n")).unwrap();
    (user, pass)
}

#[tokio::test]
async fn tls_with_a_private_ca_acl_credentials_from_files_and_client_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let (server, port) = tls_server(&pki, "no");
    let (user, pass) = credentials(dir.path(), APP_PASSWORD);
    let url = format!("rediss://127.0.0.1:{port}/0");

    let trusted = store_config(&format!(
        "url: {url}\nprefix: {PREFIX}\nusername: file:{}\npassword: file:{}\ntls: {{ca_file: {}}}\n",
        user.display(),
        pass.display(),
        pki.ca.display()
    ));
    let store = RedisStore::connect(&trusted).await.unwrap();
    admits(&store, "key:tls:rpm").await.unwrap();
    let stored: bool = server
        .connection()
        .await
        .exists("t:tat:key:tls:rpm")
        .await
        .unwrap();
    assert!(stored, "the admission reached Redis over TLS");
    let mut admin = server.connection().await;
    let clients: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut admin)
        .await
        .unwrap();
    assert!(
        clients.contains(&format!("user={APP_USER}")),
        "the store logs in as the ACL user: {clients}"
    );

    // The embedded public roots do not know the test CA.
    let untrusted = RedisStore::connect(&store_config(&format!(
        "url: {url}\nusername: {APP_USER}\npassword: {APP_PASSWORD}\n"
    )))
    .await
    .unwrap();
    let error = admits(&untrusted, "key:x:rpm").await.unwrap_err();
    assert!(!error.contains(APP_PASSWORD), "{error}");

    // A wrong password is refused and never quoted.
    let (_, wrong) = credentials(dir.path(), "wrong-password-d41d8");
    let mut refused = trusted.clone();
    refused.password = Some(
        llm_sidecar::config::expand::Secret::resolve(&format!("file:{}", wrong.display())).unwrap(),
    );
    let error = admits(&RedisStore::connect(&refused).await.unwrap(), "key:y:rpm")
        .await
        .unwrap_err();
    assert!(!error.contains("wrong-password"), "{error}");

    // A server that requires client certificates takes the store's and refuses a store without.
    let (_mtls, mtls_port) = tls_server(&pki, "yes");
    let mtls = |with_cert: bool| {
        let cert = if with_cert {
            format!(
                ", cert_file: {}, key_file: {}",
                pki.client_cert.display(),
                pki.client_key.display()
            )
        } else {
            String::new()
        };
        store_config(&format!(
            "url: rediss://127.0.0.1:{mtls_port}/0\nusername: {APP_USER}\npassword: {APP_PASSWORD}\ntls: {{ca_file: {}{cert}}}\n",
            pki.ca.display()
        ))
    };
    let with = RedisStore::connect(&mtls(true)).await.unwrap();
    admits(&with, "key:mtls:rpm").await.unwrap();
    let without = RedisStore::connect(&mtls(false)).await.unwrap();
    assert!(admits(&without, "key:mtls:rpm").await.is_err());
}

#[tokio::test]
async fn unreadable_tls_files_fail_at_start_naming_the_setting() {
    let config = store_config(
        "url: rediss://127.0.0.1:1/0\ntls: {ca_file: /nonexistent/ca.pem}\npassword: pw-never-shown\n",
    );
    let error = RedisStore::connect(&config).await.unwrap_err();
    assert!(error.0.contains("store.tls.ca_file"), "{error}");
    assert!(!error.0.contains("pw-never-shown"), "{error}");
}

#[tokio::test]
async fn a_gateway_shares_limits_over_tls_with_acl_credentials_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let (server, port) = tls_server(&pki, "no");
    let (user, pass) = credentials(dir.path(), APP_PASSWORD);
    let config = format!(
        "providers:\n  - {{name: mock, type: mock, models: [m], mock: {{latency: 0ms}}}}\nkeys:\n  - {{name: tls, key: sk-tls-shared, rpm: 2}}\nstore:\n  url: rediss://127.0.0.1:{port}/0\n  username: file:{}\n  password: file:{}\n  tls: {{ca_file: {}}}\n  on_error: closed\n",
        user.display(),
        pass.display(),
        pki.ca.display()
    );
    let gateway = Gateway::start(&config).await;
    let via = Via::Unix(gateway.unix.clone());
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let mut request = raw_request(
            "POST",
            "/v1/chat/completions",
            chat_body("m", false).to_string().into(),
        );
        request
            .headers_mut()
            .insert("authorization", "Bearer sk-tls-shared".parse().unwrap());
        statuses.push(client::call(&via, request).await.status.as_u16());
    }
    assert_eq!(statuses, [200, 200, 429], "the rpm lives in the TLS Redis");
    let keys: Vec<String> = server.connection().await.keys("*").await.unwrap();
    assert!(
        keys.iter().any(|k| k.contains("key:tls")),
        "the bucket is in Redis: {keys:?}"
    );
    let logs = gateway.log_text();
    assert!(!logs.contains(APP_PASSWORD));
}
