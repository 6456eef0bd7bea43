//! Request ids: random enough to be unique across replicas, cheap enough for every request.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

thread_local! {
    static STATE: Cell<u64> = Cell::new({
        // RandomState is seeded from the OS once per thread: a free, well-mixed seed.
        let mut h = RandomState::new().build_hasher();
        h.write_u64(0x9e37_79b9_7f4a_7c15);
        h.finish()
    });
}

/// A fresh 64-bit random value (splitmix64 over a per-thread random seed).
pub fn random_u64() -> u64 {
    STATE.with(|s| {
        let next = s.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        s.set(next);
        let mut z = next;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    })
}

/// What every generated request id starts with.
const REQUEST_ID_PREFIX: &[u8] = b"req_";
/// Random bytes in a generated request id.
const REQUEST_ID_RANDOM_BYTES: usize = 16;

/// A new request id such as `req_3f2a9c0d1e4b5a69c8d7e6f5a4b3c2d1`.
pub fn request_id() -> String {
    let mut id = Vec::with_capacity(REQUEST_ID_PREFIX.len() + 2 * REQUEST_ID_RANDOM_BYTES);
    id.extend_from_slice(REQUEST_ID_PREFIX);
    push_hex(&mut id, &random_u64().to_be_bytes());
    push_hex(&mut id, &random_u64().to_be_bytes());
    ascii(id)
}

/// `bytes` in lower-case hex, as text (trace and span ids).
pub fn hex(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(2 * bytes.len());
    push_hex(&mut out, bytes);
    ascii(out)
}

/// Text of bytes that are all ASCII (hex digits and fixed prefixes).
fn ascii(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_default()
}

/// Appends `bytes` in lower-case hex: ids are on every request, and `format!` with `{:x}` cost
/// ten times as much.
pub fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)]);
        out.push(DIGITS[usize::from(byte & 0x0f)]);
    }
}

/// Longest client-supplied `x-request-id` we keep.
const MAX_CLIENT_ID_LEN: usize = 128;

/// Accepts a client's `x-request-id` when it is short and printable, so logs stay clean.
pub fn accept_client_id(id: &str) -> Option<&str> {
    let ok = !id.is_empty()
        && id.len() <= MAX_CLIENT_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    ok.then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_well_formed() {
        let ids: std::collections::HashSet<_> = (0..1000).map(|_| request_id()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(
            ids.iter()
                .all(|id| id.len() == 36 && id.starts_with("req_"))
        );
        assert!(ids.iter().all(|id| {
            id[4..]
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        }));
    }

    #[test]
    fn hex_is_lower_case_two_digits_per_byte() {
        for (bytes, want) in [
            (&[][..], ""),
            (&[0x00][..], "00"),
            (&[0x0f, 0xa0, 0xff][..], "0fa0ff"),
        ] {
            let mut out = Vec::new();
            push_hex(&mut out, bytes);
            assert_eq!(out, want.as_bytes());
            assert_eq!(hex(bytes), want);
        }
    }

    #[test]
    fn client_ids_are_filtered() {
        for (id, ok) in [
            ("abc-123", true),
            ("", false),
            ("a b", false),
            ("x\n", false),
            (&"a".repeat(200), false),
        ] {
            assert_eq!(accept_client_id(id).is_some(), ok, "{id:?}");
        }
    }
}
