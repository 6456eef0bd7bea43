//! Token estimates that cost nothing on the hot path: a byte-length heuristic used for admission
//! and for streams whose upstream never reported usage.

/// Average bytes per token of English text under the common BPE encodings.
pub const BYTES_PER_TOKEN: u64 = 4;

/// Estimated tokens in `bytes` bytes of text (rounded up, so any text is at least one token).
pub fn estimate_from_bytes(bytes: usize) -> u64 {
    (bytes as u64).div_ceil(BYTES_PER_TOKEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_round_up() {
        for (bytes, want) in [(0, 0), (1, 1), (4, 1), (5, 2), (400, 100)] {
            assert_eq!(estimate_from_bytes(bytes), want);
        }
    }
}
