//! The signer against AWS's SigV4 test suite (`tests/fixtures/aws/sigv4/`, provenance in
//! `tests/fixtures/aws/PROVENANCE.md`): each case's canonical request, string to sign, signature
//! and `authorization` header.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderValue, Method, Uri};
use serde_json::Value;

use super::canonical::{self, canonical_request, scope, sha256_hex, string_to_sign};
use super::{Credentials, sign};

/// The suite's time, 2015-08-30T12:36:00Z.
const SUITE_TIME: u64 = 1_440_938_160;
/// The suite's `x-amz-date`.
const SUITE_AMZ_DATE: &str = "20150830T123600Z";

/// The cases taken from the suite (header signing, paths normalized as for every service but
/// S3). Left out: `*-unnormalized` (S3's rules), `get-header-value-multiline` (a folded header
/// value, which HTTP/1.1 deprecates and `http::HeaderValue` cannot hold), and the `query-*`
/// presigned-URL files.
const SUITE: [&str; 30] = [
    "get-header-key-duplicate",
    "get-header-value-order",
    "get-header-value-trim",
    "get-relative-normalized",
    "get-relative-relative-normalized",
    "get-slash-dot-slash-normalized",
    "get-slash-normalized",
    "get-slash-pointless-dot-normalized",
    "get-slashes-normalized",
    "get-space-normalized",
    "get-unreserved",
    "get-utf8",
    "get-vanilla",
    "get-vanilla-empty-query-key",
    "get-vanilla-query",
    "get-vanilla-query-order-encoded",
    "get-vanilla-query-order-key-case",
    "get-vanilla-query-unreserved",
    "get-vanilla-utf8-query",
    "get-vanilla-with-session-token",
    "post-header-key-case",
    "post-header-key-sort",
    "post-header-value-case",
    "post-sts-header-after",
    "post-sts-header-before",
    "post-vanilla",
    "post-vanilla-empty-query-value",
    "post-vanilla-query",
    "post-x-www-form-urlencoded",
    "post-x-www-form-urlencoded-parameters",
];

fn fixture(case: &str, file: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/aws/sigv4/{case}/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .replace("\r\n", "\n")
}

/// A request of the suite's `request.txt`: method, target, headers (names lowercased), body.
struct SuiteRequest {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: String,
}

fn parse_request(text: &str) -> SuiteRequest {
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut lines = head.lines();
    let request_line = lines.next().unwrap();
    let (method, rest) = request_line.split_once(' ').unwrap();
    let target = rest.strip_suffix(" HTTP/1.1").unwrap();
    let headers = lines
        .filter(|line| !line.is_empty())
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.to_ascii_lowercase(), value.to_owned())
        })
        .collect();
    SuiteRequest {
        method: method.to_owned(),
        target: target.to_owned(),
        headers,
        body: body.to_owned(),
    }
}

/// The `authorization` (or another) header line of a signed request file.
fn signed_header(case: &str, name: &str) -> Option<String> {
    fixture(case, "header-signed-request.txt")
        .lines()
        .find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim_start().to_owned())
        })
}

fn credentials(context: &Value) -> Credentials {
    let creds = &context["credentials"];
    Credentials {
        access_key_id: creds["access_key_id"].as_str().unwrap().to_owned(),
        secret_access_key: creds["secret_access_key"].as_str().unwrap().to_owned(),
        session_token: creds["token"].as_str().map(str::to_owned),
        expires_at: None,
    }
}

#[test]
fn the_suite_canonical_requests_strings_to_sign_and_signatures() {
    for case in SUITE {
        let context: Value = serde_json::from_str(&fixture(case, "context.json")).unwrap();
        let request = parse_request(&fixture(case, "request.txt"));
        let creds = credentials(&context);
        let (region, service) = (
            context["region"].as_str().unwrap(),
            context["service"].as_str().unwrap(),
        );
        let payload_hash = sha256_hex(request.body.as_bytes());
        let mut headers: Vec<(&str, &[u8])> = request
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_bytes()))
            .collect();
        headers.push(("x-amz-date", SUITE_AMZ_DATE.as_bytes()));
        let omit_token = context["omit_session_token"].as_bool().unwrap_or(false);
        if let (Some(token), false) = (&creds.session_token, omit_token) {
            headers.push(("x-amz-security-token", token.as_bytes()));
        }
        if context["sign_body"].as_bool().unwrap_or(false) {
            headers.push(("x-amz-content-sha256", payload_hash.as_bytes()));
        }
        let (path, query) = request
            .target
            .split_once('?')
            .unwrap_or((&request.target, ""));
        let (creq, signed) =
            canonical_request(&request.method, path, query, &mut headers, &payload_hash).unwrap();
        let want_creq = fixture(case, "header-canonical-request.txt");
        assert_eq!(
            creq,
            want_creq.trim_end_matches('\n'),
            "{case}: canonical request"
        );

        let scope = scope(&SUITE_AMZ_DATE[..8], region, service);
        let sts = string_to_sign(SUITE_AMZ_DATE, &scope, &creq);
        let want_sts = fixture(case, "header-string-to-sign.txt");
        assert_eq!(
            sts,
            want_sts.trim_end_matches('\n'),
            "{case}: string to sign"
        );

        let key = canonical::signing_key(
            &creds.secret_access_key,
            &SUITE_AMZ_DATE[..8],
            region,
            service,
        );
        let signature = canonical::signature(&key, &sts);
        let want_signature = fixture(case, "header-signature.txt");
        assert_eq!(signature, want_signature.trim(), "{case}: signature");

        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}",
            creds.access_key_id
        );
        assert_eq!(
            Some(authorization),
            signed_header(case, "authorization"),
            "{case}: authorization"
        );
    }
}

/// Signs a suite request with [`sign`] itself and compares what it added with the signed request
/// of the suite.
fn sign_case(case: &str, creds: &Credentials, region: &str, service: &str) {
    let request = parse_request(&fixture(case, "request.txt"));
    let host = &request.headers.iter().find(|(n, _)| n == "host").unwrap().1;
    let uri: Uri = format!("https://{host}{}", request.target).parse().unwrap();
    let mut headers = HeaderMap::new();
    for (name, value) in &request.headers {
        if name != "host" {
            headers.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
    }
    let method = Method::from_bytes(request.method.as_bytes()).unwrap();
    let now = UNIX_EPOCH + Duration::from_secs(SUITE_TIME);
    let body = request.body.as_bytes();
    sign(
        &method,
        &uri,
        &mut headers,
        body,
        creds,
        region,
        service,
        now,
    )
    .unwrap();
    let text = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(
        text("authorization"),
        signed_header(case, "authorization"),
        "{case}"
    );
    assert_eq!(
        text("x-amz-date"),
        signed_header(case, "x-amz-date"),
        "{case}"
    );
    assert_eq!(text("host").as_deref(), Some(host.as_str()), "{case}");
    assert_eq!(
        text("x-amz-security-token"),
        signed_header(case, "x-amz-security-token"),
        "{case}"
    );
}

#[test]
fn sign_reproduces_the_suite_where_its_header_choice_matches() {
    // Cases that sign only what `sign` signs (host, content-type, x-amz-*) and whose path reads
    // the same encoded or not.
    let cases = [
        "get-vanilla",
        "get-vanilla-query",
        "get-vanilla-empty-query-key",
        "get-vanilla-query-order-key-case",
        "get-vanilla-query-unreserved",
        "get-unreserved",
        "get-slashes-normalized",
        "get-slash-dot-slash-normalized",
        "get-relative-relative-normalized",
        "get-vanilla-with-session-token",
        "post-vanilla",
        "post-vanilla-query",
        "post-vanilla-empty-query-value",
        "post-sts-header-before",
    ];
    for case in cases {
        let context: Value = serde_json::from_str(&fixture(case, "context.json")).unwrap();
        let creds = credentials(&context);
        sign_case(case, &creds, "us-east-1", "service");
    }
}

#[test]
fn an_encoded_path_segment_is_encoded_again() {
    // smithy-rs's `double-encode-path`: `%3D` in the path is signed as `%253D`.
    let creds = Credentials {
        access_key_id: "ANOTREAL".into(),
        secret_access_key: "notrealrnrELgWzOk3IfjzDKtFBhDby".into(),
        session_token: None,
        expires_at: None,
    };
    sign_case("double-encode-path", &creds, "us-east-1", "service");

    // smithy-rs's `double-url-encode`: a Lambda ARN in one path segment, as a Bedrock model ARN.
    let request = parse_request(&fixture("double-url-encode", "request.txt"));
    let mut headers: Vec<(&str, &[u8])> = vec![
        ("host", b"lambda.us-east-2.amazonaws.com"),
        ("x-amz-date", b"20210511T154045Z"),
    ];
    let (creq, _) =
        canonical_request("POST", &request.target, "", &mut headers, &sha256_hex(b"")).unwrap();
    let want = fixture("double-url-encode", "header-canonical-request.txt");
    assert_eq!(creq, want.trim_end_matches('\n'));
}

fn bedrock_creds(secret: &str, token: Option<&str>) -> Credentials {
    Credentials {
        access_key_id: "ASIAEXAMPLE".into(),
        secret_access_key: secret.into(),
        session_token: token.map(str::to_owned),
        expires_at: None,
    }
}

fn sign_bedrock(uri: &str, headers: &mut HeaderMap, creds: &Credentials) {
    let uri: Uri = uri.parse().unwrap();
    let now = UNIX_EPOCH + Duration::from_secs(SUITE_TIME);
    sign(
        &Method::POST,
        &uri,
        headers,
        b"{}",
        creds,
        "us-east-1",
        "bedrock",
        now,
    )
    .unwrap();
}

#[test]
fn host_omits_default_ports_and_keeps_others() {
    let creds = bedrock_creds("secret", None);
    for (uri, want) in [
        (
            "https://bedrock-runtime.us-east-1.amazonaws.com:443/model/m/converse",
            "bedrock-runtime.us-east-1.amazonaws.com",
        ),
        ("http://127.0.0.1:80/model/m/converse", "127.0.0.1"),
        ("http://127.0.0.1:8080/model/m/converse", "127.0.0.1:8080"),
        ("https://[::1]:8443/", "[::1]:8443"),
    ] {
        let mut headers = HeaderMap::new();
        sign_bedrock(uri, &mut headers, &creds);
        assert_eq!(headers["host"], want, "{uri}");
    }
}

#[test]
fn signs_host_content_type_and_amz_headers_only() {
    let creds = bedrock_creds("secret", Some("token"));
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.insert("accept", HeaderValue::from_static("application/json"));
    headers.insert("user-agent", HeaderValue::from_static("llm-sidecar"));
    headers.insert("x-amzn-bedrock-trace", HeaderValue::from_static("ENABLED"));
    let uri =
        "https://bedrock-runtime.us-east-1.amazonaws.com/model/amazon.nova-lite-v1%3A0/converse";
    sign_bedrock(uri, &mut headers, &creds);
    let authorization = headers["authorization"].to_str().unwrap();
    assert!(
        authorization.contains(
            "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature="
        ),
        "{authorization}"
    );
    assert!(headers["authorization"].is_sensitive());
    assert_eq!(headers["x-amz-security-token"], "token");

    // Signing again (a retry without the token) replaces the signature and drops the token.
    let before = authorization.to_owned();
    sign_bedrock(uri, &mut headers, &bedrock_creds("secret", None));
    assert!(headers.get("x-amz-security-token").is_none());
    assert_eq!(headers.get_all("authorization").iter().count(), 1);
    assert_ne!(headers["authorization"].to_str().unwrap(), before);
}

#[test]
fn the_key_cache_tells_secrets_apart() {
    let uri = "https://bedrock-runtime.us-east-1.amazonaws.com/model/m/converse";
    let signature = |secret: &str| {
        let mut headers = HeaderMap::new();
        sign_bedrock(uri, &mut headers, &bedrock_creds(secret, None));
        headers["authorization"].to_str().unwrap().to_owned()
    };
    let (first, second) = (signature("one"), signature("two"));
    assert_ne!(first, second);
    assert_eq!(signature("one"), first);
    assert_eq!(signature("two"), second);
}

#[test]
fn debug_redacts_the_secret_and_the_token() {
    let creds = Credentials {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
        session_token: Some("session-token-value".into()),
        expires_at: Some(SystemTime::UNIX_EPOCH),
    };
    let text = format!("{creds:?}");
    assert!(text.contains("AKIDEXAMPLE"), "{text}");
    assert!(!text.contains("wJalrXUtnFEMI"), "{text}");
    assert!(!text.contains("session-token-value"), "{text}");
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let creds = bedrock_creds("secret", Some("bad\ntoken"));
    let uri: Uri = "/relative".parse().unwrap();
    let now = UNIX_EPOCH + Duration::from_secs(SUITE_TIME);
    let mut headers = HeaderMap::new();
    let err = sign(&Method::GET, &uri, &mut headers, b"", &creds, "r", "s", now);
    assert_eq!(err, Err(super::SignError::NoHost));
    let uri: Uri = "https://example.com/".parse().unwrap();
    let err = sign(&Method::GET, &uri, &mut headers, b"", &creds, "r", "s", now).unwrap_err();
    assert!(!err.to_string().contains("bad"), "{err}");
    let before_epoch = UNIX_EPOCH - Duration::from_secs(1);
    let err = sign(
        &Method::GET,
        &uri,
        &mut headers,
        b"",
        &creds,
        "r",
        "s",
        before_epoch,
    );
    assert_eq!(err, Err(super::SignError::Clock));
}
