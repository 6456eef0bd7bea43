//! Credentials-file parsing and source selection, the JWT a service-account key signs (checked
//! with the key's public half), and `generateAccessToken` answers. The token endpoints are
//! exercised against fakes in `tests/it/google_credentials.rs`.

use std::time::{Duration, UNIX_EPOCH};

use ring::signature::{KeyPair, RSA_PKCS1_2048_8192_SHA256, RsaKeyPair, UnparsedPublicKey};
use rustls_pki_types::PrivatePkcs8KeyDer;
use rustls_pki_types::pem::PemObject;
use serde_json::{Value, json};

use super::*;

const KEY_PEM: &str = include_str!("../../../tests/fixtures/google/test_service_account_key.pem");

fn key_json(token_uri: &str) -> String {
    json!({
        "type": "service_account",
        "project_id": "p",
        "private_key_id": "kid-1",
        "private_key": KEY_PEM,
        "client_email": "sidecar@p.iam.gserviceaccount.com",
        "token_uri": token_uri,
    })
    .to_string()
}

fn decode_part(part: &str) -> Value {
    let standard: String = part
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    let padded = format!("{standard}{}", "=".repeat((4 - standard.len() % 4) % 4));
    serde_json::from_slice(&decode_base64(&padded)).unwrap()
}

/// Test-only base64 decoding (the crate only encodes).
fn decode_base64(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let digits: Vec<u8> = text
        .bytes()
        .filter(|b| *b != b'=')
        .map(|b| ALPHABET.iter().position(|a| *a == b).unwrap() as u8)
        .collect();
    let mut out = Vec::new();
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, d)| n | u32::from(*d) << (18 - 6 * i));
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}

#[test]
fn the_assertion_is_an_rs256_jwt_with_googles_claims() {
    let account =
        service_account::ServiceAccount::from_json(&key_json("http://127.0.0.1:9/token")).unwrap();
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let jwt = account.assertion(now).unwrap();
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3);
    assert!(!jwt.contains('=') && !jwt.contains('+') && !jwt.contains('/'));
    assert_eq!(
        decode_part(parts[0]),
        json!({"alg": "RS256", "typ": "JWT", "kid": "kid-1"})
    );
    let claims = decode_part(parts[1]);
    assert_eq!(claims["iss"], "sidecar@p.iam.gserviceaccount.com");
    assert_eq!(claims["aud"], "http://127.0.0.1:9/token");
    assert_eq!(claims["scope"], SCOPE);
    assert_eq!(claims["iat"], 1_800_000_000u64);
    assert_eq!(claims["exp"], 1_800_003_600u64);
    let der = PrivatePkcs8KeyDer::from_pem_slice(KEY_PEM.as_bytes()).unwrap();
    let pair = RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).unwrap();
    let public = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, pair.public_key().as_ref());
    let signed = format!("{}.{}", parts[0], parts[1]);
    let signature = decode_base64(&{
        let s: String = parts[2]
            .chars()
            .map(|c| match c {
                '-' => '+',
                '_' => '/',
                c => c,
            })
            .collect();
        format!("{s}{}", "=".repeat((4 - s.len() % 4) % 4))
    });
    public.verify(signed.as_bytes(), &signature).unwrap();
    assert!(public.verify(b"other", &signature).is_err());
}

#[test]
fn credentials_files_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let external = json!({
        "type": "external_account",
        "audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/k8s",
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": "https://sts.googleapis.com/v1/token",
        "credential_source": {"file": "/var/run/secrets/token"},
    });
    let url_source = json!({
        "type": "external_account", "audience": "a", "subject_token_type": "t",
        "token_url": "https://sts.googleapis.com/v1/token",
        "credential_source": {"url": "http://169.254.169.254/token"},
    });
    let cases = [
        (
            write("sa.json", &key_json("https://oauth2.googleapis.com/token")),
            Ok(SERVICE_ACCOUNT),
        ),
        (
            write("ext.json", &external.to_string()),
            Ok(EXTERNAL_ACCOUNT),
        ),
        (
            write("url.json", &url_source.to_string()),
            Err("only a `credential_source.file`"),
        ),
        (
            write("user.json", r#"{"type":"authorized_user"}"#),
            Err("not supported"),
        ),
        (write("bad.json", "not json"), Err("not JSON")),
        (
            write(
                "badkey.json",
                &key_json("x").replace("BEGIN PRIVATE KEY", "BEGIN NOTHING"),
            ),
            Err("not a PEM PKCS#8 key"),
        ),
        (
            write("baduri.json", &key_json("ftp://x")),
            Err("not an http(s) URL"),
        ),
        (
            dir.path().join("missing.json").display().to_string(),
            Err("missing.json"),
        ),
    ];
    let none = |_: &str| None;
    for (path, want) in cases {
        let got = source("vertex", Some(&path), &none, RefreshTiming::default());
        match (got, want) {
            (Ok(cached), Ok(name)) => assert_eq!(cached.source(), name, "{path}"),
            (Err(e), Err(text)) => {
                assert!(e.contains(text), "{path}: {e}");
                assert!(
                    !e.contains("PRIVATE KEY-----\nMII"),
                    "no key material in errors"
                );
            }
            (got, _) => panic!("{path}: {:?}", got.map(|b| b.source())),
        }
    }
}

#[test]
fn the_environment_picks_the_file_else_the_metadata_server() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sa.json");
    std::fs::write(&path, key_json("https://oauth2.googleapis.com/token")).unwrap();
    let shown = path.display().to_string();
    let env = move |name: &str| (name == CREDENTIALS_ENV).then(|| shown.clone());
    let none = |_: &str| None;
    let timing = RefreshTiming::default();
    assert_eq!(
        source("v", None, &env, timing).unwrap().source(),
        SERVICE_ACCOUNT
    );
    assert_eq!(source("v", None, &none, timing).unwrap().source(), METADATA);
    let bad_host = |name: &str| (name == "GCE_METADATA_HOST").then(|| "a b".to_owned());
    assert!(source("v", None, &bad_host, timing).is_err());
}

#[test]
fn base64url_has_no_padding_and_the_url_alphabet() {
    let cases: [(&[u8], &str); 4] = [
        (b"", ""),
        (b"f", "Zg"),
        (b"\xfb\xff", "-_8"),
        (b"foob", "Zm9vYg"),
    ];
    for (bytes, want) in cases {
        assert_eq!(service_account::base64url(bytes), want);
    }
}

#[test]
fn the_identity_key_follows_the_file_content_and_holds_no_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sa.json");
    let shown = path.display().to_string();
    let none = |_: &str| None;
    std::fs::write(&path, key_json("https://oauth2.googleapis.com/token")).unwrap();
    let first = identity_key(Some(&shown), &none);
    assert_eq!(identity_key(Some(&shown), &none), first);
    assert!(!first.contains("PRIVATE KEY") && !first.contains("MII"));
    std::fs::write(&path, key_json("https://oauth2.googleapis.com/token2")).unwrap();
    assert_ne!(
        identity_key(Some(&shown), &none),
        first,
        "a rotated key is a new source"
    );
    let env = move |name: &str| (name == CREDENTIALS_ENV).then(|| shown.clone());
    assert_eq!(
        identity_key(None, &env),
        identity_key(Some(&path.display().to_string()), &none)
    );
    assert_eq!(identity_key(None, &none), "google:None:None");
}
