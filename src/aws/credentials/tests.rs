//! Source selection and the static source; the network sources are tested against fake STS
//! and container endpoints in `tests/it/aws_credentials.rs`.

use super::*;

fn env_of(pairs: &[(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let pairs = pairs.to_vec();
    move |name| {
        pairs
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    }
}

fn settings() -> ChainSettings {
    ChainSettings {
        provider: "bedrock".into(),
        region: "us-east-1".into(),
        ..ChainSettings::default()
    }
}

#[test]
fn sources_are_picked_in_the_sdk_order() {
    let all = [
        ("AWS_ACCESS_KEY_ID", "AKIDENV"),
        ("AWS_SECRET_ACCESS_KEY", "env-secret"),
        ("AWS_ROLE_ARN", "arn:aws:iam::1:role/r"),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/token"),
        (
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "http://169.254.170.23/v1/credentials",
        ),
    ];
    let pick = |pairs: &[(&'static str, &'static str)], settings: ChainSettings| {
        CredentialChain::new(settings, &env_of(pairs)).map(|chain| chain.source())
    };
    assert_eq!(pick(&all, settings()), Ok("static"));
    assert_eq!(pick(&all[2..], settings()), Ok("web_identity"));
    assert_eq!(pick(&all[4..], settings()), Ok("container"));
    let relative = [(
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "/v2/credentials/x",
    )];
    assert_eq!(pick(&relative, settings()), Ok("container"));
    let with_role = ChainSettings {
        role_arn: Some("arn:aws:iam::2:role/x".into()),
        ..settings()
    };
    assert_eq!(pick(&all, with_role.clone()), Ok("static+assume_role"));
    assert_eq!(
        pick(&all[2..], with_role.clone()),
        Ok("web_identity+assume_role")
    );
    assert_eq!(pick(&all[4..], with_role), Ok("container+assume_role"));
    // Empty values count as unset.
    let blank = [("AWS_ACCESS_KEY_ID", ""), ("AWS_SECRET_ACCESS_KEY", " ")];
    assert!(
        pick(&blank, settings())
            .unwrap_err()
            .contains("no AWS credentials found")
    );
}

#[test]
fn config_mistakes_are_errors() {
    let half = ChainSettings {
        access_key_id: Some("AKID".into()),
        ..settings()
    };
    assert!(
        CredentialChain::new(half, &env_of(&[]))
            .unwrap_err()
            .contains("together")
    );
    let remote_http = [(
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "http://203.0.113.9/creds",
    )];
    assert!(
        CredentialChain::new(settings(), &env_of(&remote_http))
            .unwrap_err()
            .contains("plain http")
    );
    let irsa = [
        ("AWS_ROLE_ARN", "arn"),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", "/t"),
    ];
    let no_region = ChainSettings {
        region: String::new(),
        ..settings()
    };
    assert!(
        CredentialChain::new(no_region.clone(), &env_of(&irsa))
            .unwrap_err()
            .contains("region")
    );
    let keys = ChainSettings {
        access_key_id: Some("AKID".into()),
        secret_access_key: Some("s".into()),
        role_arn: Some("arn".into()),
        ..no_region
    };
    assert!(
        CredentialChain::new(keys, &env_of(&[]))
            .unwrap_err()
            .contains("region")
    );
}

#[tokio::test]
async fn static_keys_are_served_as_given() {
    let configured = ChainSettings {
        access_key_id: Some("AKIDCONF".into()),
        secret_access_key: Some("conf-secret".into()),
        session_token: Some("conf-token".into()),
        ..settings()
    };
    let env = env_of(&[
        ("AWS_ACCESS_KEY_ID", "AKIDENV"),
        ("AWS_SECRET_ACCESS_KEY", "env-secret"),
    ]);
    let chain = CredentialChain::new(configured, &env).unwrap();
    let creds = chain.credentials().await.unwrap();
    assert_eq!(creds.access_key_id, "AKIDCONF");
    assert_eq!(creds.session_token.as_deref(), Some("conf-token"));
    assert_eq!(creds.expires_at, None);
    let env = env_of(&[
        ("AWS_ACCESS_KEY_ID", "AKIDENV"),
        ("AWS_SECRET_ACCESS_KEY", "env-secret"),
        ("AWS_SESSION_TOKEN", "env-token"),
    ]);
    let creds = CredentialChain::new(settings(), &env)
        .unwrap()
        .credentials()
        .await
        .unwrap();
    assert_eq!(
        (
            creds.secret_access_key.as_str(),
            creds.session_token.as_deref()
        ),
        ("env-secret", Some("env-token"))
    );
}

#[test]
fn nothing_secret_is_printed() {
    let settings = ChainSettings {
        secret_access_key: Some("conf-secret".into()),
        session_token: Some("conf-token".into()),
        ..settings()
    };
    let text = format!("{settings:?}");
    assert!(
        !text.contains("conf-secret") && !text.contains("conf-token"),
        "{text}"
    );
    let error = CredentialError::aws(
        WEB_IDENTITY,
        "STS AssumeRoleWithWebIdentity: HTTP 400: InvalidIdentityToken: expired".into(),
    );
    assert_eq!(
        error.to_string(),
        "AWS credentials (web_identity): STS AssumeRoleWithWebIdentity: HTTP 400: InvalidIdentityToken: expired"
    );
}
