//! `--check`, config errors and the env-only rule, as a user at a shell sees them.

use crate::common::gateway::run_to_exit;

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn check_accepts_good_configs_and_names_path_and_line_for_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(
        &dir,
        "good.yaml",
        "providers:\n  - name: m\n    type: mock\n    models: [x]\n",
    );
    assert_eq!(run_to_exit(&["--config", &good, "--check"], &[]).0, 0);

    let cases = [
        (
            "providers:\n  - name: m\n    type: mock\n    modelz: [x]\n",
            "providers[0].modelz",
            ":4:",
        ),
        (
            "server:\n  port: 80\n  listen:\n    tcp: 127.0.0.1:1\nproviders:\n  - {name: m, type: mock, models: [x]}\n",
            "server.port",
            ":2:",
        ),
        (
            "providers:\n  - name: m\n    type: mock\n    api_key: ${LLM_SIDECAR_SURELY_UNSET}\n    models: [x]\n",
            "providers[0].api_key",
            ":4:",
        ),
        ("providers: [\n", "", "did not find expected"),
    ];
    for (text, path, line) in cases {
        let file = write(&dir, "bad.yaml", text);
        let (code, out) = run_to_exit(&["--config", &file, "--check"], &[]);
        assert_eq!(code, 64, "{out}");
        assert!(out.contains(path) && out.contains(line), "{text} => {out}");
    }
}

#[test]
fn the_config_env_var_works_like_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(
        &dir,
        "good.yaml",
        "providers:\n  - name: m\n    type: mock\n    models: [x]\n",
    );
    assert_eq!(
        run_to_exit(&["--check"], &[("LLM_SIDECAR_CONFIG", &good)]).0,
        0
    );
}

#[test]
fn no_config_and_no_key_explains_both_options() {
    let (code, out) = run_to_exit(&[], &[]);
    assert_eq!(code, 64);
    assert!(
        out.contains("--config") && out.contains("OPENAI_API_KEY"),
        "{out}"
    );
}

#[test]
fn the_shipped_example_configs_are_valid() {
    let root = env!("CARGO_MANIFEST_DIR");
    // The Secret files config/redis-cluster.yaml reads (`--check` connects to nothing).
    let secrets = tempfile::tempdir().unwrap();
    for name in ["openai-api-key", "redis-username", "redis-password"] {
        std::fs::write(secrets.path().join(name), "test-secret-value\n").unwrap();
    }
    let secrets_dir = secrets.path().display().to_string();
    for (file, env) in [
        (
            "config/redis-cluster.yaml",
            vec![("LLM_SIDECAR_SECRETS", secrets_dir.as_str())],
        ),
        ("config/example.yaml", vec![]),
        (
            "config/seed.yaml",
            vec![("OPENAI_API_KEY", "sk-x"), ("ANTHROPIC_API_KEY", "sk-y")],
        ),
        // The env an EKS pod with IRSA gets (nothing is fetched by --check).
        (
            "config/bedrock.yaml",
            vec![
                ("AWS_REGION", "us-east-1"),
                (
                    "AWS_ROLE_ARN",
                    "arn:aws:iam::111122223333:role/llm-sidecar-bedrock",
                ),
                (
                    "AWS_WEB_IDENTITY_TOKEN_FILE",
                    "/var/run/secrets/eks.amazonaws.com/serviceaccount/token",
                ),
            ],
        ),
        // GKE Workload Identity: the metadata server, nothing in the env.
        ("config/vertex.yaml", vec![]),
        // The env the AKS workload identity webhook injects.
        (
            "config/azure-entra.yaml",
            vec![
                ("AZURE_CLIENT_ID", "5e8a1c7b-0f1d-4a53-9c39-0a7f4a1f0c11"),
                ("AZURE_TENANT_ID", "72f988bf-86f1-41af-91ab-2d7cd011db47"),
                (
                    "AZURE_FEDERATED_TOKEN_FILE",
                    "/var/run/secrets/azure/tokens/azure-identity-token",
                ),
            ],
        ),
    ] {
        let path = format!("{root}/{file}");
        let (code, out) = run_to_exit(&["--config", &path, "--check"], &env);
        assert_eq!(code, 0, "{file}: {out}");
    }
}

/// `--check` of a Bedrock config in an environment without any AWS identity passes (the gateway
/// would start and serve its other providers) but says what is missing.
#[test]
fn check_warns_about_a_bedrock_provider_without_credentials() {
    let path = format!("{}/config/bedrock.yaml", env!("CARGO_MANIFEST_DIR"));
    let (code, out) = run_to_exit(
        &["--config", &path, "--check"],
        &[("AWS_REGION", "us-east-1")],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("config is valid"), "{out}");
    assert!(out.contains("WARN"), "{out}");
    assert!(out.contains("no AWS credentials found"), "{out}");
}

/// `--check` of a Vertex provider whose credentials file is missing passes (the gateway would
/// start and serve its other providers) but says what is wrong, without the file's content.
#[test]
fn check_warns_about_a_vertex_provider_whose_credentials_cannot_be_read() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        "providers:\n  - {name: vertex, type: vertex, project: p, location: global, credentials_file: /nonexistent/key.json, models: [gemini-2.5-flash]}\n",
    )
    .unwrap();
    let (code, out) = run_to_exit(&["--config", config.to_str().unwrap(), "--check"], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("config is valid"), "{out}");
    assert!(
        out.contains("WARN") && out.contains("/nonexistent/key.json"),
        "{out}"
    );
}
