//! The AWS credential chain against fake STS and container-credentials endpoints that check the
//! protocol (parameters, the token file's current content, SigV4 signatures): refresh ahead of
//! expiry with the rotated token, one fetch for concurrent callers, AssumeRole signed with the
//! base credentials, errors that name the AWS error code and no secret.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use llm_sidecar::aws::credentials::{ChainSettings, CredentialChain};

use crate::common::WAIT;
use crate::common::aws::{FakeSts, StsState, fake_container_agent, verify_recorded};

const ROLE: &str = "arn:aws:iam::111122223333:role/bedrock-caller";
const CROSS_ROLE: &str = "arn:aws:iam::444455556666:role/bedrock-invoke";
const SESSION: &str = "sidecar-test";
/// Inside the five-minute refresh window (yet valid), so the first credentials are refreshed in the
/// background at the next use.
const SHORT: Duration = Duration::from_secs(4 * 60);
const LONG: Duration = Duration::from_secs(60 * 60);
/// How long the fakes take to answer, so that concurrent callers overlap a fetch.
const DELAY: Duration = Duration::from_millis(150);

fn sts_state(token_file: &Path) -> StsState {
    StsState {
        web_identity_role: ROLE.into(),
        web_identity_session: SESSION.into(),
        token_file: token_file.to_owned(),
        assume_role: (CROSS_ROLE.into(), "llm-sidecar".into(), None),
        lifetime: SHORT,
        error: None,
        secrets: HashMap::new(),
        issued: Vec::new(),
        tokens_seen: Vec::new(),
    }
}

fn env(pairs: Vec<(&'static str, String)>) -> impl Fn(&str) -> Option<String> {
    move |name| {
        pairs
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    }
}

fn settings() -> ChainSettings {
    ChainSettings {
        provider: "bedrock".into(),
        region: "us-east-1".into(),
        ..ChainSettings::default()
    }
}

fn irsa_env(sts: &FakeSts, token_file: &Path) -> impl Fn(&str) -> Option<String> {
    env(vec![
        ("AWS_ROLE_ARN", ROLE.into()),
        (
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            token_file.display().to_string(),
        ),
        ("AWS_ROLE_SESSION_NAME", SESSION.into()),
        ("AWS_ENDPOINT_URL_STS", sts.url()),
    ])
}

/// Calls `credentials()` from `n` tasks at once; the access key IDs they got.
async fn concurrently(chain: &Arc<CredentialChain>, n: usize) -> Vec<String> {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let chain = chain.clone();
        tasks.spawn(async move { chain.credentials().await.unwrap().access_key_id.clone() });
    }
    let mut ids = Vec::new();
    while let Some(id) = tasks.join_next().await {
        ids.push(id.unwrap());
    }
    ids
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn irsa_fetches_once_and_refreshes_ahead_of_expiry_with_the_rotated_token() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "jwt-one\n").unwrap();
    let sts = FakeSts::start(sts_state(&token_file), DELAY).await;
    let chain = CredentialChain::new(settings(), &irsa_env(&sts, &token_file)).unwrap();
    assert_eq!(chain.source(), "web_identity");
    let chain = Arc::new(chain);

    // Cold: eight callers, one STS call; all get its credentials.
    let ids = concurrently(&chain, 8).await;
    assert!(ids.iter().all(|id| id == "ASIAFAKE1"), "{ids:?}");
    assert_eq!(sts.upstream.count(), 1);

    // The kubelet rotates the token; the credentials (4 minutes left) are inside the refresh
    // window: callers keep the valid ones at once while one background refresh runs.
    std::fs::write(&token_file, "jwt-two").unwrap();
    sts.state.lock().unwrap().lifetime = LONG;
    let ids = concurrently(&chain, 8).await;
    assert!(ids.iter().all(|id| id == "ASIAFAKE1"), "{ids:?}");
    wait_for("the background refresh", || sts.upstream.count() == 2).await;
    assert_eq!(
        sts.state.lock().unwrap().tokens_seen,
        ["jwt-one", "jwt-two"]
    );
    // The refresh holds the refresh lock until it has stored the new credentials, so polling
    // starts no further refresh.
    let deadline = tokio::time::Instant::now() + WAIT;
    while chain.credentials().await.unwrap().access_key_id != "ASIAFAKE2" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new credentials never came"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // An hour left: no refresh on the request path.
    concurrently(&chain, 8).await;
    tokio::time::sleep(DELAY * 2).await;
    assert_eq!(sts.upstream.count(), 2);
    let credentials = chain.credentials().await.unwrap();
    let state = sts.state.lock().unwrap();
    assert_eq!(credentials.secret_access_key, state.issued[1].secret);
    assert_eq!(
        credentials.session_token.as_deref(),
        Some(state.issued[1].token.as_str())
    );
    assert!(credentials.expires_at.is_some());
}

#[tokio::test]
async fn sts_errors_name_the_aws_code_and_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "jwt-secret-content").unwrap();
    let mut state = sts_state(&token_file);
    state.error = Some((
        403,
        "AccessDenied".into(),
        "Not authorized to perform sts:AssumeRoleWithWebIdentity".into(),
    ));
    let sts = FakeSts::start(state, Duration::ZERO).await;
    let chain = CredentialChain::new(settings(), &irsa_env(&sts, &token_file)).unwrap();
    let error = chain.credentials().await.unwrap_err();
    assert_eq!(error.source, "web_identity");
    let text = error.to_string();
    assert!(text.contains("AccessDenied"), "{text}");
    assert!(
        text.contains("Not authorized to perform sts:AssumeRoleWithWebIdentity"),
        "{text}"
    );
    assert!(text.contains("HTTP 403"), "{text}");
    assert!(!text.contains("jwt-secret-content") && !format!("{error:?}").contains("jwt-secret"));

    // The fake checks the token against the file: a missing file fails before any call.
    std::fs::remove_file(&token_file).unwrap();
    let chain = CredentialChain::new(settings(), &irsa_env(&sts, &token_file)).unwrap();
    let error = chain.credentials().await.unwrap_err();
    assert!(error.to_string().contains("token file"), "{error}");
}

#[tokio::test]
async fn assume_role_is_signed_with_the_web_identity_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "jwt-one").unwrap();
    let mut state = sts_state(&token_file);
    state.lifetime = LONG;
    state.assume_role = (
        CROSS_ROLE.into(),
        "bedrock-session".into(),
        Some("ext-42".into()),
    );
    let sts = FakeSts::start(state, Duration::ZERO).await;
    let settings = ChainSettings {
        role_arn: Some(CROSS_ROLE.into()),
        external_id: Some("ext-42".into()),
        role_session_name: Some("bedrock-session".into()),
        ..settings()
    };
    let chain = CredentialChain::new(settings, &irsa_env(&sts, &token_file)).unwrap();
    assert_eq!(chain.source(), "web_identity+assume_role");
    let credentials = chain.credentials().await.unwrap();
    assert_eq!(credentials.access_key_id, "ASIAFAKE2");

    // The fake verified the AssumeRole signature; check the recorded request the same way, and
    // that a changed body or another secret fails.
    let requests = sts.upstream.requests.lock().unwrap().clone();
    let assume = &requests[1];
    let base_secret = sts.state.lock().unwrap().issued[0].secret.clone();
    let signed = verify_recorded(assume, &base_secret).unwrap();
    assert_eq!(
        (signed.access_key_id.as_str(), signed.service.as_str()),
        ("ASIAFAKE1", "sts")
    );
    assert!(
        signed
            .signed_headers
            .contains(&"x-amz-security-token".to_owned())
    );
    assert!(verify_recorded(assume, "another-secret").is_err());
    let mut tampered = assume.clone();
    tampered.body = String::from_utf8_lossy(&assume.body)
        .replace("ext-42", "ext-43")
        .into();
    assert!(
        verify_recorded(&tampered, &base_secret)
            .unwrap_err()
            .contains("mismatch")
    );
    let mut unsigned_header = assume.clone();
    unsigned_header
        .headers
        .insert("x-amz-extra", http::HeaderValue::from_static("1"));
    assert!(
        verify_recorded(&unsigned_header, &base_secret)
            .unwrap_err()
            .contains("not signed")
    );
    // The web identity call itself is unsigned.
    assert!(requests[0].header("authorization").is_none());
}

#[tokio::test]
async fn assume_role_with_a_wrong_static_secret_is_refused_by_the_signature_check() {
    let dir = tempfile::tempdir().unwrap();
    let mut state = sts_state(&dir.path().join("unused"));
    state
        .secrets
        .insert("AKIASTATIC".into(), ("right-secret".into(), None));
    let sts = FakeSts::start(state, Duration::ZERO).await;
    let with_secret = |secret: &str| ChainSettings {
        access_key_id: Some("AKIASTATIC".into()),
        secret_access_key: Some(secret.into()),
        role_arn: Some(CROSS_ROLE.into()),
        ..settings()
    };
    let endpoint = env(vec![("AWS_ENDPOINT_URL_STS", sts.url())]);
    let chain = CredentialChain::new(with_secret("wrong-secret"), &endpoint).unwrap();
    assert_eq!(chain.source(), "static+assume_role");
    let error = chain.credentials().await.unwrap_err();
    assert_eq!(error.source, "assume_role");
    assert!(
        error.to_string().contains("SignatureDoesNotMatch"),
        "{error}"
    );
    assert!(!error.to_string().contains("wrong-secret"), "{error}");

    let chain = CredentialChain::new(with_secret("right-secret"), &endpoint).unwrap();
    assert_eq!(
        chain.credentials().await.unwrap().access_key_id,
        "ASIAFAKE1"
    );
}

#[tokio::test]
async fn pod_identity_sends_the_current_token_and_refreshes() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("eks-pod-identity-token");
    std::fs::write(&token_file, "pod-token-a").unwrap();
    let (agent, issued) = fake_container_agent(token_file.clone(), SHORT).await;
    let container_env = |token: &Path| {
        env(vec![
            (
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                format!("http://{}/v1/credentials", agent.addr),
            ),
            (
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                token.display().to_string(),
            ),
        ])
    };
    let chain = Arc::new(CredentialChain::new(settings(), &container_env(&token_file)).unwrap());
    assert_eq!(chain.source(), "container");
    let first = chain.credentials().await.unwrap();
    assert_eq!(first.access_key_id, "ASIAPOD1");
    assert_eq!(first.session_token.as_deref(), Some("pod-token-1"));

    // Rotated token: the background refresh sends the new one.
    std::fs::write(&token_file, "pod-token-b").unwrap();
    assert_eq!(chain.credentials().await.unwrap().access_key_id, "ASIAPOD1");
    wait_for("the background refresh", || {
        issued.lock().unwrap().len() == 2
    })
    .await;
    assert_eq!(agent.last().header("authorization"), Some("pod-token-b"));

    // A token the agent does not accept: 401, named in the error.
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "not-the-token").unwrap();
    let chain = CredentialChain::new(settings(), &container_env(&wrong)).unwrap();
    let error = chain.credentials().await.unwrap_err();
    assert_eq!(error.source, "container");
    assert!(error.to_string().contains("HTTP 401"), "{error}");
    assert!(!error.to_string().contains("not-the-token"), "{error}");
}
