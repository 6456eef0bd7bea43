//! The text that AWS Signature Version 4 signs: the canonical request (method, URI, query,
//! headers, payload hash) and the string to sign. Pure text functions, shared by the signer and by
//! anything that checks a received request's signature (the fake AWS services of the tests), so
//! both sides canonicalize alike.

use std::fmt::Write as _;

use super::SignError;

/// The signing algorithm's name, first in the string to sign and the `authorization` header.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The last component of every credential scope.
pub const SCOPE_TERMINATOR: &str = "aws4_request";

/// Lowercase hexadecimal digits, for hashes and signatures.
const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";

/// AWS's `UriEncode` (the one percent-encoder of the crate's cloud code).
pub use crate::cloud::http::uri_encode;

/// Appends `bytes` as lowercase hex (hashes and signatures).
pub fn push_hex(out: &mut String, bytes: &[u8]) {
    for &byte in bytes {
        out.push(char::from(HEX_LOWER[usize::from(byte >> 4)]));
        out.push(char::from(HEX_LOWER[usize::from(byte & 0x0f)]));
    }
}

/// Appends the canonical URI of `path` for a service other than S3: the path with dot segments
/// and empty segments removed (RFC 3986 §5.2.4, as the SDKs normalize for these services), each
/// segment `UriEncode`d. The path is taken as it goes on the wire, so an already
/// percent-encoded segment is encoded once more (`%3A` → `%253A`): AWS's "double encoding" for
/// every service but S3.
pub fn write_canonical_uri(out: &mut String, path: &str) {
    let needs_normalizing = path.is_empty()
        || !path.starts_with('/')
        || path.contains("//")
        || path
            .split('/')
            .any(|segment| segment == "." || segment == "..");
    if !needs_normalizing {
        uri_encode(out, path.as_bytes(), true);
        return;
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    for segment in &segments {
        out.push('/');
        uri_encode(out, segment.as_bytes(), false);
    }
    // A path ending in a slash (or in `/.` or `/..`, which RFC 3986 turns into one) keeps it.
    let trailing = ["/", "/.", "/.."].iter().any(|end| path.ends_with(end));
    if segments.is_empty() || trailing {
        out.push('/');
    }
}

/// Appends the canonical query string of `query` (without the `?`): each parameter decoded
/// (`%XX`, and `+` as a space, as the SDKs read a query) and `UriEncode`d again, sorted by name
/// and then by value, joined with `&`; a parameter without `=` gets an empty value.
pub fn write_canonical_query(out: &mut String, query: &str) {
    if query.is_empty() {
        return;
    }
    let mut params: Vec<(String, String)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let mut encoded = (String::new(), String::new());
            uri_encode(&mut encoded.0, &percent_decode(name), false);
            uri_encode(&mut encoded.1, &percent_decode(value), false);
            encoded
        })
        .collect();
    params.sort_unstable();
    for (index, (name, value)) in params.iter().enumerate() {
        if index > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
}

/// The bytes of a query component with `%XX` escapes decoded and `+` read as a space; a `%`
/// not followed by two hex digits stays as it is.
fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        let escaped = (byte == b'%')
            .then(|| {
                Some((
                    hex_value(*bytes.get(at + 1)?)?,
                    hex_value(*bytes.get(at + 2)?)?,
                ))
            })
            .flatten();
        match (byte, escaped) {
            (_, Some((high, low))) => {
                decoded.push(high << 4 | low);
                at += 3;
            }
            (b'+', None) => {
                decoded.push(b' ');
                at += 1;
            }
            (other, None) => {
                decoded.push(other);
                at += 1;
            }
        }
    }
    decoded
}

/// The value of one hex digit.
fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|value| u8::try_from(value).ok())
}

/// Appends the canonical headers block (one `name:value` line per header name, values of a
/// repeated name joined with `,` in their order, each value trimmed with inner runs of spaces
/// collapsed) and returns the signed-headers list (`host;x-amz-date`). `headers` holds
/// lowercase names; it is sorted here, stably, so repeated names keep their order.
pub fn write_canonical_headers(
    out: &mut String,
    headers: &mut [(&str, &[u8])],
) -> Result<String, SignError> {
    headers.sort_by(|a, b| a.0.cmp(b.0));
    let mut signed = String::with_capacity(headers.len() * 16);
    let mut previous: Option<&str> = None;
    for &(name, value) in headers.iter() {
        if previous == Some(name) {
            out.pop();
            out.push(',');
        } else {
            if previous.is_some() {
                signed.push(';');
            }
            signed.push_str(name);
            out.push_str(name);
            out.push(':');
        }
        let value = std::str::from_utf8(value).map_err(|_| SignError::HeaderValue(name.into()))?;
        push_trimmed(out, value);
        out.push('\n');
        previous = Some(name);
    }
    Ok(signed)
}

/// Appends `value` without leading or trailing spaces and with each run of inner spaces as one
/// (AWS's `Trimall`; spaces only, as the SDKs do).
fn push_trimmed(out: &mut String, value: &str) {
    let mut last_was_space = false;
    for c in value.trim_matches(' ').chars() {
        if c == ' ' && last_was_space {
            continue;
        }
        last_was_space = c == ' ';
        out.push(c);
    }
}

/// The canonical request and its signed-headers list. `path` and `query` are as they go on the
/// wire; `headers` are the signed headers with lowercase names (sorted here).
pub fn canonical_request(
    method: &str,
    path: &str,
    query: &str,
    headers: &mut [(&str, &[u8])],
    payload_hash: &str,
) -> Result<(String, String), SignError> {
    /// Room for a typical Bedrock request's canonical form without reallocating.
    const TYPICAL_LEN: usize = 512;
    let mut out = String::with_capacity(TYPICAL_LEN);
    out.push_str(method);
    out.push('\n');
    write_canonical_uri(&mut out, path);
    out.push('\n');
    write_canonical_query(&mut out, query);
    out.push('\n');
    let signed = write_canonical_headers(&mut out, headers)?;
    out.push('\n');
    out.push_str(&signed);
    out.push('\n');
    out.push_str(payload_hash);
    Ok((out, signed))
}

/// The credential scope: `20150830/us-east-1/service/aws4_request`.
pub fn scope(date: &str, region: &str, service: &str) -> String {
    format!("{date}/{region}/{service}/{SCOPE_TERMINATOR}")
}

/// The string to sign: algorithm, `x-amz-date` time, scope and the canonical request's SHA-256.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    let mut out = String::with_capacity(ALGORITHM.len() + amz_date.len() + scope.len() + 67);
    let _ = write!(out, "{ALGORITHM}\n{amz_date}\n{scope}\n");
    push_hex(&mut out, sha256(canonical_request.as_bytes()).as_ref());
    out
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> ring::digest::Digest {
    ring::digest::digest(&ring::digest::SHA256, bytes)
}

/// Lowercase hex of the SHA-256 of `bytes`: the payload hash of the canonical request.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(64);
    push_hex(&mut out, sha256(bytes).as_ref());
    out
}

/// The signing key of a secret for one day, region and service (four chained HMACs).
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> ring::hmac::Key {
    let hmac = |key: &[u8], data: &str| {
        ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key),
            data.as_bytes(),
        )
    };
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date);
    let k_region = hmac(k_date.as_ref(), region);
    let k_service = hmac(k_region.as_ref(), service);
    let k_signing = hmac(k_service.as_ref(), SCOPE_TERMINATOR);
    ring::hmac::Key::new(ring::hmac::HMAC_SHA256, k_signing.as_ref())
}

/// The signature: lowercase hex of the HMAC of the string to sign with the signing key.
pub fn signature(key: &ring::hmac::Key, string_to_sign: &str) -> String {
    let mut out = String::with_capacity(64);
    push_hex(
        &mut out,
        ring::hmac::sign(key, string_to_sign.as_bytes()).as_ref(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(path: &str) -> String {
        let mut out = String::new();
        write_canonical_uri(&mut out, path);
        out
    }

    fn query(query: &str) -> String {
        let mut out = String::new();
        write_canonical_query(&mut out, query);
        out
    }

    #[test]
    fn paths_are_normalized_and_encoded_once_more() {
        let cases = [
            ("", "/"),
            ("/", "/"),
            (
                "/model/amazon.nova-lite-v1:0/converse",
                "/model/amazon.nova-lite-v1%3A0/converse",
            ),
            (
                "/model/amazon.nova-lite-v1%3A0/converse",
                "/model/amazon.nova-lite-v1%253A0/converse",
            ),
            (
                "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Aapplication-inference-profile%2Fab/converse",
                "/model/arn%253Aaws%253Abedrock%253Aus-east-1%253A1%253Aapplication-inference-profile%252Fab/converse",
            ),
            ("//a//b//", "/a/b/"),
            ("/a/./b/../c", "/a/c"),
            ("/a/b/..", "/a/"),
            ("/..", "/"),
            ("/a/.", "/a/"),
            ("a/b", "/a/b"),
        ];
        for (path, want) in cases {
            assert_eq!(uri(path), want, "{path}");
        }
    }

    #[test]
    fn queries_are_decoded_sorted_and_encoded() {
        let cases = [
            ("", ""),
            ("b=2&a=1", "a=1&b=2"),
            ("a=2&a=1", "a=1&a=2"),
            ("flag&a=", "a=&flag="),
            ("k=a+b%20c%2Fd", "k=a%20b%20c%2Fd"),
            ("k=%zz", "k=%25zz"),
            ("&&x=1&", "x=1"),
        ];
        for (raw, want) in cases {
            assert_eq!(query(raw), want, "{raw}");
        }
    }

    #[test]
    fn header_values_are_trimmed_and_joined() {
        let mut out = String::new();
        let mut headers: Vec<(&str, &[u8])> = vec![
            ("x-b", b"  two   words  "),
            ("x-a", b"1"),
            ("x-b", b"second"),
        ];
        let signed = write_canonical_headers(&mut out, &mut headers).unwrap();
        assert_eq!(signed, "x-a;x-b");
        assert_eq!(out, "x-a:1\nx-b:two words,second\n");
        let mut bad: Vec<(&str, &[u8])> = vec![("x-a", b"\xff")];
        assert!(write_canonical_headers(&mut String::new(), &mut bad).is_err());
    }
}
