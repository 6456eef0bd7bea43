//! Bedrock error responses and stream exceptions → OpenAI errors.

use std::time::Duration;

use http::StatusCode;

use super::{bedrock, from_exception, with_error_type};

/// (header type, HTTP status, body) → (client status, code, message part, retryable).
type Case = (
    Option<&'static str>,
    u16,
    &'static str,
    (u16, Option<&'static str>, &'static str, bool),
);

#[test]
fn maps_error_responses() {
    let cases: [Case; 14] = [
        (
            Some("ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/"),
            429,
            r#"{"message":"Too many requests, please wait before trying again."}"#,
            (429, Some("ThrottlingException"), "Too many requests", true),
        ),
        (
            Some("ServiceUnavailableException"),
            503,
            r#"{"message":"Bedrock is unable to process your request."}"#,
            (
                503,
                Some("ServiceUnavailableException"),
                "unable to process",
                true,
            ),
        ),
        (
            Some("ModelNotReadyException"),
            429,
            r#"{"message":"Model is not ready"}"#,
            (503, Some("ModelNotReadyException"), "not ready", true),
        ),
        (
            Some("ValidationException"),
            400,
            r#"{"message":"The provided model identifier is invalid."}"#,
            (
                400,
                Some("ValidationException"),
                "model identifier is invalid",
                false,
            ),
        ),
        (
            Some("AccessDeniedException"),
            403,
            r#"{"message":"You don't have access to the model with the specified model ID."}"#,
            (
                502,
                Some("upstream_auth_failed"),
                "rejected the gateway's credentials",
                false,
            ),
        ),
        (
            Some("UnrecognizedClientException"),
            403,
            r#"{"message":"The security token included in the request is invalid."}"#,
            (
                502,
                Some("upstream_auth_failed"),
                "rejected the gateway's credentials",
                false,
            ),
        ),
        (
            Some("ExpiredTokenException"),
            400,
            r#"{"message":"The security token included in the request is expired"}"#,
            (
                502,
                Some("upstream_auth_failed"),
                "rejected the gateway's credentials",
                false,
            ),
        ),
        (
            Some("ModelTimeoutException"),
            408,
            r#"{"message":"Model has timed out in processing the request."}"#,
            (504, Some("ModelTimeoutException"), "timed out", true),
        ),
        (
            Some("ResourceNotFoundException"),
            404,
            r#"{"message":"Could not resolve the foundation model from the provided model identifier."}"#,
            (404, Some("model_not_found"), "Could not resolve", false),
        ),
        (
            Some("ModelErrorException"),
            424,
            r#"{"message":"The model failed."}"#,
            (502, Some("ModelErrorException"), "model failed", true),
        ),
        (
            Some("InternalServerException"),
            500,
            r#"{"message":"internal"}"#,
            (500, Some("InternalServerException"), "internal", true),
        ),
        // The type in the body's `__type` when the header is not at hand.
        (
            None,
            400,
            r#"{"__type":"com.amazon.coral.validate#ValidationException","Message":"bad input"}"#,
            (400, Some("ValidationException"), "bad input", false),
        ),
        // No type anywhere: Bedrock's statuses that mean something else to OpenAI clients.
        (
            None,
            408,
            r#"{"message":"slow model"}"#,
            (504, None, "slow model", true),
        ),
        (
            None,
            424,
            "<html>oops</html>",
            (502, None, "<html>oops</html>", true),
        ),
    ];
    for (header, status, body, (want, code, message, retryable)) in cases {
        let status = StatusCode::from_u16(status).unwrap();
        let e = with_error_type("b", header, status, body.as_bytes(), None);
        assert_eq!(e.status().as_u16(), want, "{body}");
        assert_eq!(e.code(), code, "{body}");
        assert!(e.to_string().contains(message), "{body}: {e}");
        assert_eq!(e.retryable(), retryable, "{body}");
    }
}

#[test]
fn the_error_map_keeps_the_retry_hint() {
    let hint = Some(Duration::from_secs(2));
    let body = br#"{"__type":"ThrottlingException","message":"slow down"}"#;
    let e = bedrock("b", StatusCode::TOO_MANY_REQUESTS, body, hint);
    assert_eq!((e.status().as_u16(), e.retry_after()), (429, hint));
    let e = bedrock("b", StatusCode::TOO_MANY_REQUESTS, b"{}", hint);
    assert_eq!((e.status().as_u16(), e.retry_after()), (429, hint));
}

#[test]
fn maps_stream_exceptions() {
    let cases = [
        ("throttlingException", 429, "ThrottlingException"),
        (
            "modelStreamErrorException",
            502,
            "ModelStreamErrorException",
        ),
        ("validationException", 400, "ValidationException"),
        (
            "serviceUnavailableException",
            503,
            "ServiceUnavailableException",
        ),
        ("internalServerException", 500, "InternalServerException"),
        ("somethingNewException", 502, "somethingNewException"),
    ];
    for (kind, status, code) in cases {
        let e = from_exception("b", kind, br#"{"message":"it broke"}"#);
        assert_eq!(e.status().as_u16(), status, "{kind}");
        assert_eq!(e.code(), Some(code), "{kind}");
        assert!(e.to_string().contains("it broke"), "{kind}: {e}");
    }
    let e = from_exception("b", "throttlingException", b"not json");
    assert!(e.to_string().contains("answered HTTP 429"), "{e}");
}
