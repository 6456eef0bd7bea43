//! Standard base64 encoding (RFC 4648, padded): embeddings a client asks for as base64, and
//! bytes that JSON carries as text. Twenty lines here instead of a dependency.

/// The standard base64 alphabet (RFC 4648).
const BASE64_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (e.g. OpenAI's `encoding_format: base64` embeddings).
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    // Every 3 bytes become 4 six-bit digits; a short last group is padded with `=`.
    for chunk in bytes.chunks(3) {
        let byte = |i: usize| chunk.get(i).copied().unwrap_or(0);
        let digits = [
            byte(0) >> 2,
            (byte(0) & 0x03) << 4 | byte(1) >> 4,
            (byte(1) & 0x0f) << 2 | byte(2) >> 6,
            byte(2) & 0x3f,
        ];
        for (i, digit) in digits.into_iter().enumerate() {
            out.push(if i <= chunk.len() {
                char::from(BASE64_ALPHABET[usize::from(digit)])
            } else {
                '='
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648() {
        let cases: [(&[u8], &str); 6] = [
            (b"", ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foobar", "Zm9vYmFy"),
            (&[0xff, 0xfe, 0x00, 0x80], "//4AgA=="),
        ];
        for (input, want) in cases {
            assert_eq!(encode(input), want, "{input:?}");
        }
    }
}
