//! The OpenAI wire format: OpenAI itself, vLLM, Ollama's `/v1`, any compatible server, and the
//! built-in mock. Same format on both sides, so bodies pass through with only `model` replaced
//! and stream bytes are forwarded as they arrive.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use serde::Deserialize;

use super::http::{UpstreamBody, describe};
use super::{BoxFuture, Common, Complete, Provider, Reply};
use crate::config::schema::ProviderKind;
use crate::error::GatewayError;
use crate::stream::{Translated, openai::Passthrough};
use crate::types::json::json_string;
use crate::types::usage::usage_in;
use crate::types::{ChatRequest, EmbeddingsRequest};

/// Path prefix for OpenAI-style upstreams reached over a Unix socket without a base URL.
pub const DEFAULT_PATH_PREFIX: &str = "/v1";
/// Largest non-stream upstream body read into memory (embeddings of large batches are big).
pub const MAX_RESPONSE_BYTES: usize = 256 << 20;
/// Largest upstream error body read; the message is all we keep.
const MAX_ERROR_BODY_BYTES: usize = 64 << 10;
/// What the gateway adds to the client's stream request so it can account tokens.
const INCLUDE_USAGE: &str = r#"{"include_usage":true}"#;
/// `User-Agent` sent upstream.
const USER_AGENT: &str = concat!("llm-sidecar/", env!("CARGO_PKG_VERSION"));

/// An OpenAI-format upstream.
pub struct OpenAi {
    common: Common,
    kind: ProviderKind,
}

impl OpenAi {
    /// An adapter for `common`'s endpoint speaking the OpenAI format.
    pub fn new(common: Common, kind: ProviderKind) -> Self {
        Self { common, kind }
    }

    async fn send(
        &self,
        path: &str,
        body: Vec<u8>,
        deadline: Instant,
    ) -> Result<Response<UpstreamBody>, GatewayError> {
        let uri = self
            .common
            .endpoint
            .uri(path)
            .map_err(|e| GatewayError::Internal(e.0))?;
        let mut request = Request::post(uri)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::USER_AGENT, USER_AGENT)
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| GatewayError::Internal(e.to_string()))?;
        if let Some(key) = &self.common.api_key {
            let value =
                HeaderValue::try_from(format!("Bearer {}", key.expose())).map_err(|_| {
                    GatewayError::Internal(format!(
                        "provider `{}` api_key is not a valid header value",
                        self.common.name
                    ))
                })?;
            request.headers_mut().insert(header::AUTHORIZATION, value);
        }
        let sent =
            tokio::time::timeout_at(deadline.into(), self.common.endpoint.send(request)).await;
        let response = match sent {
            Err(_) => return Err(self.timeout()),
            Ok(Err(e)) => {
                return Err(GatewayError::UpstreamConnect {
                    provider: self.common.name.clone(),
                    detail: e.0,
                });
            }
            Ok(Ok(response)) => response,
        };
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(self.error_from(response, deadline).await)
        }
    }

    fn timeout(&self) -> GatewayError {
        GatewayError::UpstreamTimeout {
            provider: self.common.name.clone(),
            after: self.common.timeout,
        }
    }

    async fn read(
        &self,
        body: UpstreamBody,
        limit: usize,
        deadline: Instant,
    ) -> Result<Bytes, GatewayError> {
        match tokio::time::timeout_at(deadline.into(), Limited::new(body, limit).collect()).await {
            Err(_) => Err(self.timeout()),
            Ok(Err(e)) => Err(GatewayError::UpstreamProtocol {
                provider: self.common.name.clone(),
                detail: format!("could not read the response body: {}", describe(e.as_ref())),
            }),
            Ok(Ok(collected)) => Ok(collected.to_bytes()),
        }
    }

    async fn error_from(
        &self,
        response: Response<UpstreamBody>,
        deadline: Instant,
    ) -> GatewayError {
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let body = self
            .read(response.into_body(), MAX_ERROR_BODY_BYTES, deadline)
            .await
            .unwrap_or_default();
        upstream_error(&self.common.name, status, &body, retry_after)
    }

    async fn complete(&self, path: &str, body: Vec<u8>) -> Result<Complete, GatewayError> {
        let deadline = Instant::now() + self.common.timeout;
        let response = self.send(path, body, deadline).await?;
        let status = response.status();
        let bytes = self
            .read(response.into_body(), MAX_RESPONSE_BYTES, deadline)
            .await?;
        Ok(Complete {
            status,
            usage: usage_in(&bytes),
            body: bytes,
        })
    }
}

impl Provider for OpenAi {
    fn name(&self) -> &str {
        &self.common.name
    }

    fn kind(&self) -> ProviderKind {
        self.kind
    }

    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest<'a>,
        upstream_model: &'a str,
    ) -> BoxFuture<'a, Result<Reply, GatewayError>> {
        Box::pin(async move {
            let model = json_string(upstream_model);
            let inject_usage = request.stream && !request.include_usage;
            let body = if inject_usage {
                request
                    .top
                    .write_with(&[("model", &model), ("stream_options", INCLUDE_USAGE)])
            } else {
                request.top.write_with(&[("model", &model)])
            };
            if !request.stream {
                return self
                    .complete("/chat/completions", body)
                    .await
                    .map(Reply::Complete);
            }
            let deadline = Instant::now() + self.common.timeout;
            let response = self.send("/chat/completions", body, deadline).await?;
            if !is_event_stream(response.headers()) {
                // Some servers ignore `stream`; pass their whole answer on as it is.
                let status = response.status();
                let bytes = self
                    .read(response.into_body(), MAX_RESPONSE_BYTES, deadline)
                    .await?;
                return Ok(Reply::Complete(Complete {
                    status,
                    usage: usage_in(&bytes),
                    body: bytes,
                }));
            }
            let stream = Translated::new(
                response.into_body(),
                Passthrough::new(inject_usage),
                &self.common.name,
            );
            Ok(Reply::Stream(Box::new(stream)))
        })
    }

    fn embeddings<'a>(
        &'a self,
        request: &'a EmbeddingsRequest<'a>,
        upstream_model: &'a str,
    ) -> BoxFuture<'a, Result<Complete, GatewayError>> {
        Box::pin(async move {
            let model = json_string(upstream_model);
            let body = request.top.write_with(&[("model", &model)]);
            self.complete("/embeddings", body).await
        })
    }
}

fn is_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"))
}

/// The upstream's delay hint: `retry-after-ms`, else `retry-after` in seconds.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = text("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return Duration::try_from_secs_f64(ms / 1000.0).ok();
    }
    text("retry-after")
        .and_then(|v| v.parse::<f64>().ok())
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
}

/// Error bodies seen from OpenAI-format servers: `{"error":{…}}`, vLLM's older flat
/// `{"object":"error","message",…}`, Ollama's `{"error":"text"}`.
#[derive(Deserialize)]
#[serde(untagged)]
enum ErrorBody {
    Nested {
        error: NestedError,
    },
    Flat {
        message: String,
        #[serde(default, rename = "type")]
        kind: Option<String>,
        #[serde(default)]
        param: Option<String>,
    },
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NestedError {
    Object {
        #[serde(default)]
        message: Option<String>,
        #[serde(default, rename = "type")]
        kind: Option<String>,
        #[serde(default)]
        code: Option<serde_json::Value>,
        #[serde(default)]
        param: Option<String>,
    },
    Text(String),
}

/// Maps an upstream error response to the client's error. 401/403 are the gateway's own
/// misconfiguration and become a cleaned 502 (never echoing key fragments).
pub fn upstream_error(
    provider: &str,
    status: StatusCode,
    body: &[u8],
    retry_after: Option<Duration>,
) -> GatewayError {
    if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
        return GatewayError::UpstreamAuth {
            provider: provider.to_owned(),
            status: status.as_u16(),
        };
    }
    let (message, kind, code, param) = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody::Nested {
            error:
                NestedError::Object {
                    message,
                    kind,
                    code,
                    param,
                },
        }) => (message, kind, code.and_then(code_text), param),
        Ok(ErrorBody::Nested {
            error: NestedError::Text(message),
        }) => (Some(message), None, None, None),
        Ok(ErrorBody::Flat {
            message,
            kind,
            param,
        }) => (Some(message), kind, None, param),
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            (
                (!text.is_empty()).then(|| text.to_owned()),
                None,
                None,
                None,
            )
        }
    };
    let message = message.unwrap_or_else(|| {
        format!(
            "Upstream provider `{provider}` answered HTTP {}",
            status.as_u16()
        )
    });
    GatewayError::Upstream {
        status,
        message: GatewayError::bounded_message(&message),
        kind: kind.unwrap_or_else(|| default_error_type(status).to_owned()),
        code,
        param,
        retry_after,
    }
}

/// `code` may be a string or (vLLM) the status number; keep only strings.
fn code_text(code: serde_json::Value) -> Option<String> {
    match code {
        serde_json::Value::String(s) => Some(s),
        _ => None,
    }
}

/// The OpenAI error `type` typical for a status.
pub fn default_error_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        429 => "rate_limit_error",
        400..=499 => "invalid_request_error",
        _ => "server_error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_upstream_error_bodies() {
        let cases: [(u16, &str, u16, &str, Option<&str>); 6] = [
            (
                429,
                r#"{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#,
                429,
                "Rate limit reached",
                Some("rate_limit_exceeded"),
            ),
            (
                400,
                r#"{"object":"error","message":"bad","type":"BadRequestError","param":null,"code":400}"#,
                400,
                "bad",
                None,
            ),
            (
                404,
                r#"{"error":"model 'x' not found"}"#,
                404,
                "model 'x' not found",
                None,
            ),
            (500, "upstream exploded", 500, "upstream exploded", None),
            (503, "", 503, "answered HTTP 503", None),
            (
                401,
                r#"{"error":{"message":"Incorrect API key provided: sk-abc***xyz"}}"#,
                502,
                "rejected the gateway's credentials",
                Some("upstream_auth_failed"),
            ),
        ];
        for (status, body, want_status, want_message, want_code) in cases {
            let e = upstream_error(
                "p",
                StatusCode::from_u16(status).unwrap(),
                body.as_bytes(),
                None,
            );
            assert_eq!(e.status().as_u16(), want_status, "{body}");
            assert!(e.to_string().contains(want_message), "{body}: {e}");
            assert!(!e.to_string().contains("sk-abc"));
            assert_eq!(e.code(), want_code, "{body}");
        }
    }

    #[test]
    fn reads_retry_hints() {
        let cases = [
            (vec![("retry-after", "3")], Some(Duration::from_secs(3))),
            (
                vec![("retry-after-ms", "250"), ("retry-after", "9")],
                Some(Duration::from_millis(250)),
            ),
            (vec![("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")], None),
            (vec![], None),
        ];
        for (headers, want) in cases {
            let mut map = HeaderMap::new();
            for (k, v) in headers {
                map.insert(k, HeaderValue::from_static(v));
            }
            assert_eq!(retry_after(&map), want);
        }
    }
}
