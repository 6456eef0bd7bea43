//! The credential fetchers' one HTTP exchange: bounded in time and in response size, since an
//! endpoint that stalls or streams without end must not hold a refresh (and the requests waiting
//! on it) forever.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};

use crate::transport::{HttpsClient, describe};

/// Longest a credential fetch may take, connection included (the SDKs use a few seconds).
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest response read: STS and container answers are a few KiB.
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
