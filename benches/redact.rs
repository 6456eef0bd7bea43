//! Micro-benchmark of the log redaction pass (`cargo bench --bench redact`, part of
//! `make bench`): CPU per log line for a typical access log line with nothing to mask, the same
//! line carrying a key and an e-mail address, and a 4 KiB prompt-like text. Single-threaded
//! tight loops; the best of several rounds is reported so other load on the machine shows up as
//! little as possible.

use std::hint::black_box;
use std::time::Instant;

use llm_sidecar::telemetry::redact::Redactor;

/// Lines per round.
const LINES: usize = 200_000;
/// Lines per round for the 4 KiB text.
const LONG_LINES: usize = 20_000;
/// Rounds; the fastest counts.
const ROUNDS: usize = 5;
/// Size of the prompt-like text.
const PROMPT_BYTES: usize = 4096;

/// An access log line as the JSON formatter writes it (645 bytes).
const ACCESS: &str = r#"{"timestamp":"2026-11-26T13:05:01.123456Z","level":"INFO","message":"request finished","request_id":"req_3f2a9c0d1e4b5a69c8d7e6f5a4b3c2d1","caller":"key:payments-backend","team":"payments","method":"POST","path":"/v1/chat/completions","endpoint":"chat","model":"gpt-4o","provider":"openai","stream":true,"status":200,"outcome":"completed","duration_ms":1234.567891,"ttft_ms":312.456789,"input_tokens":1523,"output_tokens":412,"cached_tokens":1024,"tokens_estimated":false,"cost_usd":0.0081234,"error_code":null,"attempts":1,"deployment":"openai/gpt-4o-2024-08-06","peer":"10.244.3.17:51234","user_agent":"OpenAI/Python 1.54.3","target":"access"}"#;

/// Secrets of a typical config: three provider keys, a master key, two virtual keys.
const SECRETS: [&str; 6] = [
    "sk-proj-Zq8xW3vB7nM2kL9pR4tY6uI1oE5aS0dF",
    "sk-ant-api03-Hj7Kl2Mn9Bv4Cx1Zq8Wr5Et3Yu6Io0Pa",
    "AIzaSyD4f8G2h6J1k9L3m7N5p0Q2r8S4t6U1v3W",
    "master-4f9a2c7e1b8d3f6a",
    "vk-payments-7c2e9a4f1b6d",
    "vk-search-3b8f1e6a9c2d",
];

/// A paragraph of prompt-like prose with numbers, repeated to [`PROMPT_BYTES`].
const PROSE: &str = "You are a helpful assistant. Summarise the following support ticket in three \
sentences and list the actions taken, with dates. Ticket 48213 (priority 2): the customer reports \
that invoices generated after 2026-11-03 show a total of 1,284.50 EUR instead of 1,248.50 EUR; \
version 4.12.7 of the billing service was deployed on that day at 14:05 UTC. Steps: opened the \
dashboard, filtered by account 7731, exported 12 rows as CSV. Expected 0.5% tax, got 5%. ";

fn best_ns_per_line(lines: usize, mut round: impl FnMut() -> usize) -> f64 {
    (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            black_box(round());
            start.elapsed().as_nanos() as f64 / lines as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn measure(redactor: &Redactor, line: &str, lines: usize) -> f64 {
    best_ns_per_line(lines, || {
        let mut bytes = 0;
        for _ in 0..lines {
            bytes += redactor.redact_bytes(black_box(line.as_bytes())).len();
        }
        bytes
    })
}

fn main() {
    let redactor = Redactor::new(SECRETS, true);
    let with_secrets = ACCESS
        .replace(
            r#""user_agent":"OpenAI/Python 1.54.3""#,
            r#""user_agent":"OpenAI/Python 1.54.3","note":"auth Bearer sk-proj-Zq8xW3vB7nM2kL9pR4tY6uI1oE5aS0dF for jane.doe@example.com""#,
        );
    let prompt: String = PROSE.repeat(PROMPT_BYTES / PROSE.len() + 1)[..PROMPT_BYTES].to_owned();
    assert!(
        redactor.redact(ACCESS) == ACCESS,
        "the clean line must not change"
    );
    assert!(
        redactor.redact(&prompt) == prompt,
        "the prompt must not change"
    );
    assert!(
        redactor.redact(&with_secrets) != with_secrets,
        "the key must be masked"
    );
    let clean = measure(&redactor, ACCESS, LINES);
    let masked = measure(&redactor, &with_secrets, LINES);
    let long = measure(&redactor, &prompt, LONG_LINES);
    let no_pii = measure(&Redactor::new(SECRETS, false), ACCESS, LINES);
    // The parts: trigger words only (no secrets, no PII scan), then with the PII scan.
    let none: [&str; 0] = [];
    let triggers = measure(&Redactor::new(none, false), ACCESS, LINES);
    let triggers_pii = measure(&Redactor::new(none, true), ACCESS, LINES);
    println!("access_line_bytes {}", ACCESS.len());
    println!("redact_access_clean_ns_per_line {clean:.0}");
    println!("redact_access_clean_triggers_only_ns_per_line {triggers:.0}");
    println!("redact_access_clean_triggers_pii_ns_per_line {triggers_pii:.0}");
    println!("redact_access_clean_no_pii_ns_per_line {no_pii:.0}");
    println!("redact_access_key_email_ns_per_line {masked:.0}");
    println!("redact_prompt_4k_ns_per_line {long:.0}");
}
