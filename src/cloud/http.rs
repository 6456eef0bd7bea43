//! The credential fetchers' one HTTP exchange, for every cloud: bounded in time and in response
//! size, since an endpoint that stalls or streams without end must not hold a refresh (and the
//! requests waiting on it) forever.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};

use crate::transport::{HttpsClient, describe};

/// Longest a credential fetch may take, connection included (the SDKs use a few seconds).
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest response read: STS, container and OAuth2 token answers are a few KiB.
pub const RESPONSE_LIMIT: usize = 64 * 1024;
/// How much of an unexpected response body goes into an error message.
pub const ERROR_BODY_CHARS: usize = 200;

/// Sends `request` and reads the whole response, within [`FETCH_TIMEOUT`] and
/// [`RESPONSE_LIMIT`]. The error text names what failed, never a header of the request.
pub async fn exchange(
    client: &HttpsClient,
    request: Request<Full<Bytes>>,
) -> Result<(StatusCode, Bytes), String> {
    let work = async {
        let response = client
            .request(request)
            .await
            .map_err(|e| format!("request failed: {}", describe(&e)))?;
        let status = response.status();
        let body = Limited::new(response.into_body(), RESPONSE_LIMIT)
            .collect()
            .await
            .map_err(|e| format!("reading the response failed: {e}"))?
            .to_bytes();
        Ok((status, body))
    };
    tokio::time::timeout(FETCH_TIMEOUT, work)
        .await
        .map_err(|_| format!("no answer within {} s", FETCH_TIMEOUT.as_secs()))?
}

/// The start of a response body for an error message, on one line.
pub fn snippet(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .chars()
        .take(ERROR_BODY_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Uppercase hexadecimal digits, for `%XX` escapes (AWS requires uppercase; all accept it).
const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Appends the percent-encoding of `bytes`: every byte but the unreserved `A-Z a-z 0-9 - . _ ~`
/// (and `/` when `keep_slash`) as `%XX` with uppercase hex (RFC 3986; AWS's `UriEncode`).
pub fn uri_encode(out: &mut String, bytes: &[u8], keep_slash: bool) {
    for &byte in bytes {
        if byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'.' | b'_' | b'~')
            || (keep_slash && byte == b'/')
        {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX_UPPER[usize::from(byte >> 4)]));
            out.push(char::from(HEX_UPPER[usize::from(byte & 0x0f)]));
        }
    }
}

/// An `application/x-www-form-urlencoded` body (every reserved byte percent-encoded, as STS and
/// OAuth2 token endpoints read it).
pub fn form(params: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (index, (name, value)) in params.iter().enumerate() {
        if index > 0 {
            out.push('&');
        }
        uri_encode(&mut out, name.as_bytes(), false);
        out.push('=');
        uri_encode(&mut out, value.as_bytes(), false);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_are_encoded() {
        assert_eq!(
            form(&[("RoleArn", "arn:aws:iam::1:role/a b"), ("X", "+&=")]),
            "RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fa%20b&X=%2B%26%3D"
        );
    }

    #[test]
    fn snippets_are_bounded_and_on_one_line() {
        let long = format!("a\nb{}", "x".repeat(ERROR_BODY_CHARS * 2));
        let shown = snippet(long.as_bytes());
        assert_eq!(shown.chars().count(), ERROR_BODY_CHARS);
        assert!(shown.starts_with("a b"));
    }
}
