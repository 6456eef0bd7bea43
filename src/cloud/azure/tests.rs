//! Which Entra ID source the settings and the environment pick, and what is missing when none
//! can be set up. The token endpoints are exercised against fakes in
//! `tests/it/azure_entra.rs`.

use super::*;

fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |name| {
        pairs
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    }
}

fn auth(kind: EntraKind) -> EntraAuth {
    EntraAuth {
        kind,
        ..EntraAuth::default()
    }
}

const WORKLOAD: &[(&str, &str)] = &[
    ("AZURE_CLIENT_ID", "00000000-0000-0000-0000-000000000001"),
    ("AZURE_TENANT_ID", "00000000-0000-0000-0000-000000000002"),
    (
        "AZURE_FEDERATED_TOKEN_FILE",
        "/var/run/secrets/azure/tokens/azure-identity-token",
    ),
    ("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.com/"),
];

#[test]
fn sources_are_picked_from_the_type_and_the_environment() {
    let timing = RefreshTiming::default();
    let pick = |auth: &EntraAuth, env: &dyn Fn(&str) -> Option<String>| {
        source("azure", auth, env, timing).map(|c| c.source())
    };
    let workload = env_of(WORKLOAD);
    let bare = env_of(&[]);
    let app_service = env_of(&[
        ("IDENTITY_ENDPOINT", "http://127.0.0.1:41741/msi/token"),
        ("IDENTITY_HEADER", "h"),
    ]);
    assert_eq!(
        pick(&auth(EntraKind::Entra), &workload),
        Ok(WORKLOAD_IDENTITY)
    );
    assert_eq!(pick(&auth(EntraKind::Entra), &bare), Ok(MANAGED_IDENTITY));
    assert_eq!(
        pick(&auth(EntraKind::Entra), &app_service),
        Ok(MANAGED_IDENTITY)
    );
    assert_eq!(
        pick(&auth(EntraKind::ManagedIdentity), &workload),
        Ok(MANAGED_IDENTITY)
    );
    assert_eq!(
        pick(&auth(EntraKind::WorkloadIdentity), &workload),
        Ok(WORKLOAD_IDENTITY)
    );
    let missing = pick(&auth(EntraKind::WorkloadIdentity), &bare).unwrap_err();
    assert!(missing.contains("AZURE_FEDERATED_TOKEN_FILE"), "{missing}");
    let no_tenant = env_of(&WORKLOAD[..1]);
    let configured = EntraAuth {
        token_file: Some("/t".into()),
        ..auth(EntraKind::WorkloadIdentity)
    };
    assert!(
        pick(&configured, &no_tenant)
            .unwrap_err()
            .contains("AZURE_TENANT_ID")
    );
    let secret = EntraAuth {
        client_secret: Some(crate::config::Secret::new("s3cret")),
        ..auth(EntraKind::ClientSecret)
    };
    assert_eq!(pick(&secret, &workload), Ok(CLIENT_SECRET));
    let evil_tenant = EntraAuth {
        tenant_id: Some("../common?x=".into()),
        ..secret
    };
    let error = pick(&evil_tenant, &workload).unwrap_err();
    assert!(error.contains("not a tenant"), "{error}");
    assert!(!error.contains("s3cret"));
}
