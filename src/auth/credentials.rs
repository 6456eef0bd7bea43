//! Reading a presented credential off a request and comparing secrets without timing leaks.

use http::HeaderMap;

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The credential a request presents: `Authorization: Bearer …` (OpenAI clients) or
/// `x-api-key` (Anthropic clients); empty values count as none.
pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    bearer
        .or_else(|| {
            headers
                .get("x-api-key")
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        })
        .filter(|k| !k.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_keys() {
        for (a, b, equal) in [
            (&b"abc"[..], &b"abc"[..], true),
            (b"abc", b"abd", false),
            (b"abc", b"abcd", false),
            (b"", b"", true),
        ] {
            assert_eq!(constant_time_eq(a, b), equal, "{a:?} {b:?}");
        }
    }

    #[test]
    fn reads_presented_keys() {
        type Headers<'a> = &'a [(&'a str, &'a str)];
        let cases: [(Headers, Option<&str>); 5] = [
            (&[], None),
            (&[("x-api-key", "k1")], Some("k1")),
            (
                &[("x-api-key", "k1"), ("authorization", "Bearer k2")],
                Some("k2"),
            ),
            (&[("authorization", "bearer  k3 ")], Some("k3")),
            (&[("authorization", "Bearer ")], None),
        ];
        for (headers, expected) in cases {
            let mut map = HeaderMap::new();
            for (name, value) in headers {
                map.insert(*name, value.parse().unwrap());
            }
            assert_eq!(presented_key(&map), expected, "{headers:?}");
        }
    }
}
