//! The compact form of a byte-pair vocabulary that the binary embeds: `build.rs` writes it (this
//! file is compiled into the build script too) and [`decode`] reads it back.
//!
//! Every token of a BPE vocabulary above the 256 single bytes is the merge of two tokens of lower
//! rank, so a token is stored as that pair of ranks instead of its bytes: the 256 byte tokens in
//! rank order, then for every later rank the left ranks and then the right ranks, each as three
//! little-endian bytes laid out plane by plane (all low bytes, all middle bytes, all high bytes).
//! Ranks of neighbouring tokens share their high bytes, so the planes deflate well: `o200k_base`
//! takes 0.73 MB deflated, against 1.04 MB for its tokens' bytes behind a length each.

use std::collections::HashMap;

/// Ranks below this are the single bytes every byte-level BPE vocabulary starts with.
pub const BYTE_TOKENS: usize = 256;
/// Bytes one rank takes in a plane: enough for 16 M ranks (`o200k_base` has 200 k).
const RANK_BYTES: usize = 3;
/// Planes per pair: the left rank's and the right rank's.
const PAIR_RANKS: usize = 2;

/// The compact form of `tokens` (in rank order), or why it has none: a token among the first
/// [`BYTE_TOKENS`] that is not one byte, or a later one that is not two earlier tokens joined.
#[cfg_attr(not(test), allow(dead_code, reason = "build.rs writes the vocabulary"))]
pub fn encode(tokens: &[Vec<u8>]) -> Result<Vec<u8>, String> {
    let (bytes, merged) = tokens
        .split_at_checked(BYTE_TOKENS)
        .ok_or("fewer tokens than bytes")?;
    if tokens.len() > 1 << (8 * RANK_BYTES) {
        return Err(format!(
            "{} tokens do not fit in {RANK_BYTES} bytes",
            tokens.len()
        ));
    }
    let mut out = Vec::with_capacity(BYTE_TOKENS + merged.len() * RANK_BYTES * PAIR_RANKS);
    for token in bytes {
        match token.as_slice() {
            [byte] => out.push(*byte),
            _ => return Err(format!("a byte token is {} bytes long", token.len())),
        }
    }
    let rank: HashMap<&[u8], usize> = tokens
        .iter()
        .enumerate()
        .map(|(rank, token)| (token.as_slice(), rank))
        .collect();
    let mut pairs = Vec::with_capacity(merged.len());
    for (offset, token) in merged.iter().enumerate() {
        let this = BYTE_TOKENS + offset;
        let pair = split(token, this, &rank).ok_or_else(|| format!("token {this} is no merge"))?;
        pairs.push(pair);
    }
    for side in 0..PAIR_RANKS {
        for plane in 0..RANK_BYTES {
            // Truncation keeps the plane's byte of the rank.
            out.extend(pairs.iter().map(|pair| (pair[side] >> (8 * plane)) as u8));
        }
    }
    Ok(out)
}

/// The two lower-ranked tokens `token` joins. Of the possible splits it takes the one whose
/// higher rank is lowest (the merge BPE itself made), whose ranks are the smallest numbers and so
/// deflate best.
#[cfg_attr(not(test), allow(dead_code, reason = "build.rs writes the vocabulary"))]
fn split(token: &[u8], this: usize, rank: &HashMap<&[u8], usize>) -> Option<[usize; PAIR_RANKS]> {
    (1..token.len())
        .filter_map(|at| {
            let (left, right) = token.split_at(at);
            Some([*rank.get(left)?, *rank.get(right)?])
        })
        .filter(|pair| pair.iter().all(|&rank| rank < this))
        .min_by_key(|&[left, right]| left.max(right))
}

/// The tokens (in rank order) of a compact vocabulary; `None` when it is cut short or a pair
/// names a rank that is not below its own.
pub fn decode(data: &[u8]) -> Option<Vec<Vec<u8>>> {
    let (bytes, planes) = data.split_at_checked(BYTE_TOKENS)?;
    let plane_set = RANK_BYTES * PAIR_RANKS;
    if planes.len() % plane_set != 0 {
        return None;
    }
    let merged = planes.len() / plane_set;
    let rank_at = |side: usize, index: usize| {
        (0..RANK_BYTES).fold(0usize, |rank, plane| {
            let byte = planes[(side * RANK_BYTES + plane) * merged + index];
            rank | (usize::from(byte) << (8 * plane))
        })
    };
    let mut tokens: Vec<Vec<u8>> = Vec::with_capacity(BYTE_TOKENS + merged);
    tokens.extend(bytes.iter().map(|&byte| vec![byte]));
    for index in 0..merged {
        let (left, right) = (
            tokens.get(rank_at(0, index))?,
            tokens.get(rank_at(1, index))?,
        );
        let token = [left.as_slice(), right.as_slice()].concat();
        tokens.push(token);
    }
    Some(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 256 byte tokens in byte order, then `extra`.
    fn vocabulary(extra: &[&str]) -> Vec<Vec<u8>> {
        (0..=u8::MAX)
            .map(|byte| vec![byte])
            .chain(extra.iter().map(|token| token.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn round_trips() {
        for extra in [
            &[][..],
            &["ab"][..],
            &["ab", "abc", "cab", "abab"][..],
            &["  ", "    ", "        "][..],
        ] {
            let tokens = vocabulary(extra);
            let compact = encode(&tokens).unwrap();
            assert_eq!(compact.len(), BYTE_TOKENS + extra.len() * 6);
            assert_eq!(decode(&compact), Some(tokens), "{extra:?}");
        }
    }

    #[test]
    fn refuses_what_is_no_merge_vocabulary() {
        assert!(
            encode(&vocabulary(&["abc"])).is_err(),
            "no lower-ranked pair"
        );
        assert!(
            encode(&vocabulary(&["abc", "ab"])).is_err(),
            "its pair comes later"
        );
        assert!(
            encode(&vocabulary(&[])[..10]).is_err(),
            "fewer than 256 tokens"
        );
        let mut long_byte = vocabulary(&[]);
        long_byte[7] = b"xy".to_vec();
        assert!(encode(&long_byte).is_err(), "a byte token of two bytes");
    }

    #[test]
    fn refuses_a_cut_short_or_forward_pointing_form() {
        let compact = encode(&vocabulary(&["ab", "abc"])).unwrap();
        assert_eq!(
            decode(&compact[..100]),
            None,
            "shorter than the byte tokens"
        );
        assert_eq!(
            decode(&compact[..compact.len() - 1]),
            None,
            "a plane cut short"
        );
        // The first merged token's left rank pointing at itself.
        let mut forward = compact.clone();
        forward[BYTE_TOKENS] = 0;
        forward[BYTE_TOKENS + 2] = 1;
        assert_eq!(decode(&forward), None);
        assert_eq!(
            decode(&vocabulary(&[]).concat()).map(|t| t.len()),
            Some(256)
        );
    }
}
