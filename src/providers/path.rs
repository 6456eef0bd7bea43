//! Client values in upstream URLs. A deployment or model name a client sent reaches an upstream
//! path only through here: checked against what that upstream accepts and percent-encoded as
//! exactly one path segment, so no value can add a segment (`/`, `..`), a query (`?`) or a
//! fragment (`#`) to a URL the gateway signs with its own credentials.

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::error::GatewayError;

/// Longest value accepted as one path segment: the longest model name a client may send.
pub const MAX_SEGMENT_BYTES: usize = crate::types::request::MAX_MODEL_BYTES;

/// Longest Azure OpenAI deployment name (Azure's own limit).
pub const MAX_AZURE_DEPLOYMENT_BYTES: usize = 64;

/// `value` as one path segment: RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`) stay,
/// every other byte is percent-encoded. Empty values, `.` and `..` (which URL normalisation
/// would resolve) and values over [`MAX_SEGMENT_BYTES`] are a 400 naming `field`.
pub fn segment<'v>(value: &'v str, field: &str) -> Result<Cow<'v, str>, GatewayError> {
    if value.is_empty() || value == "." || value == ".." || value.len() > MAX_SEGMENT_BYTES {
        return Err(not_a_segment(value, field));
    }
    if value.bytes().all(is_unreserved) {
        return Ok(Cow::Borrowed(value));
    }
    let mut encoded = String::with_capacity(value.len() * 3);
    for byte in value.bytes() {
        if is_unreserved(byte) {
            encoded.push(char::from(byte));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(encoded, "%{byte:02X}");
        }
    }
    Ok(Cow::Owned(encoded))
}

/// An Azure OpenAI deployment name as its path segment: letters, digits, `-`, `_` and `.`, at
/// most [`MAX_AZURE_DEPLOYMENT_BYTES`]; anything else cannot name a deployment and is a 400.
pub fn azure_deployment(value: &str) -> Result<Cow<'_, str>, GatewayError> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
    if value.len() > MAX_AZURE_DEPLOYMENT_BYTES || !value.bytes().all(allowed) {
        return Err(GatewayError::invalid(
            format!(
                "Invalid model '{}': an Azure OpenAI deployment name has at most {MAX_AZURE_DEPLOYMENT_BYTES} letters, digits, '-', '_' or '.'.",
                shown(value)
            ),
            Some("model"),
        ));
    }
    segment(value, "model")
}

fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

fn not_a_segment(value: &str, field: &str) -> GatewayError {
    GatewayError::invalid(
        format!(
            "Invalid {field} '{}': it must be 1 to {MAX_SEGMENT_BYTES} bytes and not '.' or '..'.",
            shown(value)
        ),
        Some(field),
    )
}

/// The value as quoted in an error: bounded, so a huge name does not become a huge error body.
fn shown(value: &str) -> &str {
    const SHOWN_BYTES: usize = 80;
    &value[..value.floor_char_boundary(SHOWN_BYTES)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_become_exactly_one_segment() {
        let cases = [
            ("gpt-4o", Some("gpt-4o")),
            ("my_deploy.v2~x", Some("my_deploy.v2~x")),
            (
                "arn:aws:bedrock:us-east-1:123:application-inference-profile/abc",
                Some("arn%3Aaws%3Abedrock%3Aus-east-1%3A123%3Aapplication-inference-profile%2Fabc"),
            ),
            ("../../../admin?x=", Some("..%2F..%2F..%2Fadmin%3Fx%3D")),
            ("x?api-version=evil&", Some("x%3Fapi-version%3Devil%26")),
            ("x#frag", Some("x%23frag")),
            ("x y", Some("x%20y")),
            ("é", Some("%C3%A9")),
            ("", None),
            (".", None),
            ("..", None),
        ];
        for (value, want) in cases {
            let got = segment(value, "model").ok();
            assert_eq!(got.as_deref(), want, "{value:?}");
        }
        let long = "a".repeat(MAX_SEGMENT_BYTES + 1);
        let error = segment(&long, "model").unwrap_err();
        assert_eq!(
            (error.status().as_u16(), error.param()),
            (400, Some("model"))
        );
        assert!(
            error.to_string().len() < 300,
            "the error quotes a bounded value"
        );
    }

    #[test]
    fn azure_deployments_follow_azure_naming() {
        for ok in ["gpt-4o", "my_deployment.v2", "A1"] {
            assert_eq!(azure_deployment(ok).unwrap(), ok);
        }
        let too_long = "d".repeat(MAX_AZURE_DEPLOYMENT_BYTES + 1);
        for bad in [
            "../../../admin?x=",
            "x?api-version=evil&",
            "x#frag",
            "x y",
            "cheap/../../fine_tuning/jobs?",
            "",
            "..",
            too_long.as_str(),
        ] {
            let error = azure_deployment(bad).unwrap_err();
            assert_eq!(error.status().as_u16(), 400, "{bad:?}");
            assert_eq!(error.param(), Some("model"), "{bad:?}");
        }
    }
}
