//! Gemini error bodies → OpenAI errors.

use std::time::Duration;

use http::StatusCode;
use serde_json::{Value, json};

use crate::providers::gemini::errors::{from_api_error, gemini};
use crate::providers::gemini::tests::text;
use crate::providers::gemini::wire::ApiError;

fn error(code: u16, status: &str, message: &str) -> String {
    json!({"error": {"code": code, "message": message, "status": status}}).to_string()
}

/// Maps `body` at `status` and checks status, code, type, retry hint and message.
fn check(status: u16, body: &str, hint: Option<Duration>, want: &Value) {
    let e = gemini(
        "g",
        StatusCode::from_u16(status).unwrap(),
        body.as_bytes(),
        hint,
    );
    let retry = e.retry_after().map(|d| d.as_secs_f64());
    assert_eq!(e.status().as_u16(), want["status"], "{body}");
    assert_eq!(e.code(), want["code"].as_str(), "{body}");
    assert_eq!(e.error_type(), want["type"], "{body}");
    assert_eq!(retry, want["retry"].as_f64(), "{body}");
    let message = want["message"].as_str().unwrap();
    assert!(e.to_string().contains(message), "{body}: {e}");
    assert!(!e.to_string().contains("AIza"), "{e}");
}

#[test]
fn maps_the_error_fixtures() {
    let quota = text("gemini/error_429_resource_exhausted.json");
    let limited = json!({"status": 429, "code": "rate_limit_exceeded", "type": "rate_limit_error", "retry": 17.0, "message": "You exceeded your current quota"});
    check(429, &quota, None, &limited);
    // A Retry-After header wins over RetryInfo.
    let hinted = json!({"status": 429, "code": "rate_limit_exceeded", "type": "rate_limit_error", "retry": 3.0, "message": "quota"});
    check(429, &quota, Some(Duration::from_secs(3)), &hinted);
    // A rejected key is the gateway's misconfiguration: a cleaned 502, Gemini's words dropped.
    let key = text("gemini/error_400_api_key_invalid.json");
    let auth = json!({"status": 502, "code": "upstream_auth_failed", "type": "upstream_error", "message": "rejected the gateway's credentials"});
    check(400, &key, None, &auth);
    assert!(
        !gemini("g", StatusCode::BAD_REQUEST, key.as_bytes(), None)
            .to_string()
            .contains("API key not valid")
    );
}

/// RPC statuses by HTTP status: (status, RPC status, message, want status, want code, want type).
#[test]
fn maps_statuses_and_rpc_names() {
    let rows = json!([
        [
            403,
            "PERMISSION_DENIED",
            "key AIza-123 denied",
            502,
            "upstream_auth_failed",
            "upstream_error"
        ],
        [
            400,
            "INVALID_ARGUMENT",
            "* contents: empty",
            400,
            "invalid_argument",
            "invalid_request_error"
        ],
        [
            400,
            "FAILED_PRECONDITION",
            "not in your region",
            400,
            "failed_precondition",
            "invalid_request_error"
        ],
        [
            404,
            "NOT_FOUND",
            "models/x is not found",
            404,
            "not_found",
            "invalid_request_error"
        ],
        [
            402,
            "RESOURCE_EXHAUSTED",
            "credits used up",
            402,
            "insufficient_quota",
            "invalid_request_error"
        ],
        [
            500,
            "INTERNAL",
            "An internal error has occurred",
            500,
            "internal",
            "server_error"
        ],
        [
            503,
            "UNAVAILABLE",
            "The model is overloaded",
            503,
            "unavailable",
            "server_error"
        ],
        [
            504,
            "DEADLINE_EXCEEDED",
            "Deadline expired",
            504,
            "deadline_exceeded",
            "server_error"
        ]
    ]);
    for row in rows.as_array().unwrap() {
        let status = u16::try_from(row[0].as_u64().unwrap()).unwrap();
        let (rpc, message) = (row[1].as_str().unwrap(), row[2].as_str().unwrap());
        let shown = if row[4] == "upstream_auth_failed" {
            "HTTP 403"
        } else {
            message
        };
        let want = json!({"status": row[3], "code": row[4], "type": row[5], "message": shown});
        check(status, &error(status, rpc, message), None, &want);
    }
    let wrapped = format!("[{}]", error(503, "UNAVAILABLE", "wrapped in a list"));
    let want =
        json!({"status": 503, "code": "unavailable", "type": "server_error", "message": "wrapped"});
    check(503, &wrapped, None, &want);
    let html = json!({"status": 502, "type": "server_error", "message": "Bad Gateway"});
    check(502, "<html>Bad Gateway</html>", None, &html);
    let empty = json!({"status": 500, "type": "server_error", "message": "answered HTTP 500"});
    check(500, "", None, &empty);
}

#[test]
fn quota_used_up_is_not_retried_but_rate_limits_and_overload_are() {
    let retryable = |status: u16, rpc: &str| {
        gemini(
            "g",
            StatusCode::from_u16(status).unwrap(),
            error(status, rpc, "m").as_bytes(),
            None,
        )
        .retryable()
    };
    assert!(retryable(429, "RESOURCE_EXHAUSTED"));
    assert!(retryable(503, "UNAVAILABLE"));
    assert!(!retryable(402, "RESOURCE_EXHAUSTED"));
    assert!(!retryable(400, "INVALID_ARGUMENT"));
}

/// Errors inside a stream come with HTTP 200: the status is the object's `code`, else its RPC
/// status name, else 502.
#[test]
fn mid_stream_errors_take_their_status_from_the_object() {
    let api = |code: Option<u16>, status: Option<&str>, details| ApiError {
        code,
        message: Some("boom".into()),
        status: status.map(str::to_owned),
        details,
    };
    let cases = [
        (
            api(Some(500), Some("INTERNAL"), vec![]),
            500,
            Some("internal"),
            None,
        ),
        (
            api(None, Some("UNAVAILABLE"), vec![]),
            503,
            Some("unavailable"),
            None,
        ),
        (
            api(
                Some(429),
                Some("RESOURCE_EXHAUSTED"),
                vec![
                    json!({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1.5s"}),
                ],
            ),
            429,
            Some("rate_limit_exceeded"),
            Some(Duration::from_millis(1500)),
        ),
        (api(None, None, vec![]), 502, None, None),
    ];
    for (error, status, code, retry) in cases {
        let e = from_api_error("g", None, &error, None);
        assert_eq!(e.status().as_u16(), status, "{error:?}");
        assert_eq!(e.code(), code, "{error:?}");
        assert_eq!(e.retry_after(), retry, "{error:?}");
        assert!(e.to_string().contains("boom"));
    }
}
