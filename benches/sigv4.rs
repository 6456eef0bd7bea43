//! Micro-benchmark of AWS SigV4 signing (`cargo bench --bench sigv4`): CPU per signature of a
//! typical Bedrock Converse request (1 KiB JSON body, temporary credentials with a session
//! token, a model ID that needs encoding), with the day's signing key cached as in service, and
//! with the key derived each time. Single-threaded tight loops; the best of several rounds is
//! reported so other load on the machine shows up as little as possible.

use std::hint::black_box;
use std::time::{Duration, Instant, UNIX_EPOCH};

use http::{HeaderMap, HeaderValue, Method, Uri};
use llm_sidecar::aws::sigv4::{Credentials, canonical, sign};

/// Signatures per round.
const SIGNATURES: usize = 100_000;
/// Rounds; the fastest counts.
const ROUNDS: usize = 5;
/// Size of the request body.
const BODY_BYTES: usize = 1024;
/// A fixed signing time (2026-11-26T11:16:16Z).
const NOW: u64 = 1_795_691_776;

fn best_ns(mut round: impl FnMut() -> usize) -> f64 {
    (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            black_box(round());
            start.elapsed().as_nanos() as f64 / SIGNATURES as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let credentials = Credentials {
        access_key_id: "ASIAY34FZKBOKMUTVV7A".into(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
        session_token: Some("IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD".repeat(12)),
        expires_at: None,
    };
    let uri = Uri::from_static(
        "https://bedrock-runtime.us-east-1.amazonaws.com/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse",
    );
    let text = r#"{"messages":[{"role":"user","content":[{"text":"Summarise the ticket."}]}],"inferenceConfig":{"maxTokens":512,"temperature":0.2},"system":[{"text":"You are a helpful assistant. "#;
    let mut body = text.repeat(BODY_BYTES / text.len() + 1).into_bytes();
    body.truncate(BODY_BYTES);
    let now = UNIX_EPOCH + Duration::from_secs(NOW);
    let mut base = HeaderMap::new();
    base.insert("content-type", HeaderValue::from_static("application/json"));
    base.insert("accept", HeaderValue::from_static("application/json"));

    let cached = best_ns(|| {
        let mut total = 0;
        for _ in 0..SIGNATURES {
            let mut headers = base.clone();
            let signed = sign(
                &Method::POST,
                &uri,
                &mut headers,
                black_box(&body),
                &credentials,
                "us-east-1",
                "bedrock",
                black_box(now),
            );
            total += usize::from(signed.is_ok()) + headers.len();
        }
        total
    });
    let derive = best_ns(|| {
        let mut total = 0;
        for _ in 0..SIGNATURES {
            let key = canonical::signing_key(
                &credentials.secret_access_key,
                black_box("20261126"),
                "us-east-1",
                "bedrock",
            );
            total += canonical::signature(&key, "x").len();
        }
        total
    });
    let hash = best_ns(|| {
        let mut total = 0;
        for _ in 0..SIGNATURES {
            total += canonical::sha256_hex(black_box(&body)).len();
        }
        total
    });
    println!("sigv4_body_bytes {BODY_BYTES}");
    println!("sigv4_sign_ns_per_request {cached:.0}");
    println!("sigv4_payload_sha256_ns {hash:.0}");
    println!("sigv4_signing_key_derivation_ns {derive:.0}");
}
