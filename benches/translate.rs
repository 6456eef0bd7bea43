//! Micro-benchmark of the stream translators (`cargo bench --bench translate`, part of
//! `make bench`): CPU per streamed event for Anthropic → OpenAI translation and for the
//! OpenAI same-format passthrough. Single-threaded tight loops; the best of several rounds
//! is reported so other load on the machine shows up as little as possible.

use std::hint::black_box;
use std::time::Instant;

use bytes::Bytes;
use llm_sidecar::providers::anthropic::stream::ToOpenAi;
use llm_sidecar::stream::Translate;
use llm_sidecar::stream::openai::{ChunkWriter, Passthrough};

/// Events per round.
const EVENTS: usize = 200_000;
/// Rounds; the fastest counts.
const ROUNDS: usize = 5;

const ANTHROPIC_START: &str = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n";
const ANTHROPIC_DELTA: &str = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello, this is a typical streamed token or two\"}}\n\n";
const OPENAI_DELTA: &str = "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello, this is a typical streamed token or two\"},\"finish_reason\":null}],\"usage\":null}\n\n";

fn best_ns_per_event(mut round: impl FnMut() -> usize) -> f64 {
    (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            let produced = round();
            black_box(produced);
            start.elapsed().as_nanos() as f64 / EVENTS as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let delta = Bytes::from_static(ANTHROPIC_DELTA.as_bytes());
    let anthropic = best_ns_per_event(|| {
        let mut t = ToOpenAi::new(ChunkWriter::new("chatcmpl-1", "claude", 1, false), "claude");
        let mut out = Vec::with_capacity(4);
        let _ = t.on_chunk(Bytes::from_static(ANTHROPIC_START.as_bytes()), &mut out);
        let mut produced = 0;
        for _ in 0..EVENTS {
            out.clear();
            let _ = t.on_chunk(delta.clone(), &mut out);
            produced += out.len();
        }
        produced
    });
    let openai_delta = Bytes::from_static(OPENAI_DELTA.as_bytes());
    let passthrough = best_ns_per_event(|| {
        let mut p = Passthrough::new(true);
        let mut out = Vec::with_capacity(4);
        let mut produced = 0;
        for _ in 0..EVENTS {
            out.clear();
            let _ = p.on_chunk(openai_delta.clone(), &mut out);
            produced += out.len();
        }
        produced
    });
    println!("anthropic_to_openai_ns_per_event {anthropic:.0}");
    println!("openai_passthrough_ns_per_event {passthrough:.0}");
}
