//! What every property file shares: the proptest configuration (case count from
//! `PROPTEST_CASES`) and strategies for cutting a byte string into chunks.

use bytes::Bytes;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::Config as ProptestConfig;

/// Cases per property when `PROPTEST_CASES` is not set: enough to catch the obvious in
/// `make test`, small enough that the whole target runs in seconds in a debug build.
pub const DEFAULT_CASES: u32 = 256;

/// Rejected inputs allowed per case (filters are rare; this keeps `make fuzz` with a million
/// cases from tripping proptest's fixed global limit).
const REJECTS_PER_CASE: u32 = 4;

/// Shrinking steps after a failure: enough for a small reproduction, bounded so that a failing
/// property fails within seconds rather than shrinking for minutes.
const MAX_SHRINK_ITERS: u32 = 4096;

/// The most cut points a chunking strategy makes in one input.
pub const MAX_CUTS: usize = 24;

/// The proptest configuration of every property: `PROPTEST_CASES` cases (default
/// [`DEFAULT_CASES`]), everything else proptest's default.
pub fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    ProptestConfig {
        cases,
        max_global_rejects: cases.saturating_mul(REJECTS_PER_CASE),
        max_local_rejects: cases.saturating_mul(REJECTS_PER_CASE),
        max_shrink_iters: MAX_SHRINK_ITERS,
        ..ProptestConfig::default()
    }
}

/// Cut points for an input of any length: indexes, resolved against the real length by
/// [`chunks`].
pub fn cuts() -> impl Strategy<Value = Vec<Index>> {
    prop::collection::vec(any::<Index>(), 0..=MAX_CUTS)
}

/// `input` cut at `cuts` (positions resolved modulo its length, sorted; repeated positions give
/// empty chunks, which a reader must take in its stride too).
pub fn chunks(input: &[u8], cuts: &[Index]) -> Vec<Bytes> {
    let mut at: Vec<usize> = cuts.iter().map(|i| i.index(input.len() + 1)).collect();
    at.sort_unstable();
    let mut out = Vec::with_capacity(at.len() + 1);
    let mut start = 0;
    for end in at {
        out.push(Bytes::copy_from_slice(&input[start..end]));
        start = end;
    }
    out.push(Bytes::copy_from_slice(&input[start..]));
    out
}

/// Arbitrary bytes up to `max` long, biased towards the bytes that frame things (line endings,
/// colons, quotes, braces) so that short inputs still reach the interesting branches.
pub fn framing_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    const SPECIAL: &[u8] = b"\r\n:{}\"\\ -[]data";
    let byte = prop_oneof![
        3 => any::<u8>(),
        2 => prop::sample::select(SPECIAL),
    ];
    prop::collection::vec(byte, 0..=max)
}
