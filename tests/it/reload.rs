//! Live reload as Kubernetes and operators do it: ConfigMap `..data` symlink swaps, renames,
//! in-place writes, SIGHUP, bad files, rotated secret files, and swaps under load.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::common::client::{self, Reply, Via};
use crate::common::gateway::{Options, server_yaml};
use crate::common::upstream::{self, Canned};
use crate::common::{Gateway, Upstream, chat_body};

/// The master key every config here sets: once one is configured, API calls need an identity.
const MASTER: &str = "Bearer sk-master";

/// GETs `path` as the master key.
async fn get(via: &Via, path: &str) -> Reply {
    let mut request = client::raw_request("GET", path, bytes::Bytes::new());
    request
        .headers_mut()
        .insert("authorization", MASTER.parse().unwrap());
    client::call(via, request).await
}

/// POSTs JSON as the master key.
async fn post(via: &Via, path: &str, body: &serde_json::Value) -> Reply {
    let mut request = client::json_request("POST", path, body);
    request
        .headers_mut()
        .insert("authorization", MASTER.parse().unwrap());
    client::call(via, request).await
}

/// A directory laid out like a Kubernetes ConfigMap or Secret volume.
struct Projected {
    root: PathBuf,
    version: usize,
}

impl Projected {
    fn new(root: &Path, files: &[(&str, &str)]) -> Self {
        std::fs::create_dir_all(root).unwrap();
        let mut this = Self {
            root: root.to_path_buf(),
            version: 0,
        };
        this.update(files);
        for (name, _) in files {
            std::os::unix::fs::symlink(format!("..data/{name}"), root.join(name)).unwrap();
        }
        this
    }

    /// What the kubelet does: new timestamped dir, new `..data_tmp` link renamed over `..data`,
    /// old dir removed.
    fn update(&mut self, files: &[(&str, &str)]) {
        self.version += 1;
        let dir = format!("..2026_11_26_{:04}", self.version);
        std::fs::create_dir(self.root.join(&dir)).unwrap();
        for (name, text) in files {
            std::fs::write(self.root.join(&dir).join(name), text).unwrap();
        }
        let tmp = self.root.join("..data_tmp");
        std::os::unix::fs::symlink(&dir, &tmp).unwrap();
        std::fs::rename(&tmp, self.root.join("..data")).unwrap();
        if self.version > 1 {
            let old = format!("..2026_11_26_{:04}", self.version - 1);
            std::fs::remove_dir_all(self.root.join(old)).unwrap();
        }
    }
}

fn mock_config(dir: &Path, models: &str) -> String {
    format!(
        "{}\nreload:\n  debounce: 50ms\nauth:\n  master_key: sk-master\nproviders:\n  - name: mock\n    type: mock\n    models: [{models}]\n",
        server_yaml(dir, &Options::default())
    )
}

async fn model_ids(via: &Via) -> Vec<String> {
    let models = get(via, "/v1/models").await.json();
    models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_configmap_symlink_swap_is_applied() {
    let dir = tempfile::tempdir().unwrap();
    let mount = dir.path().join("config");
    let mut configmap = Projected::new(&mount, &[("config.yaml", &mock_config(dir.path(), "a"))]);
    let mut gw = Gateway::start_file(dir, &mount.join("config.yaml"), vec![]).await;
    let via = Via::Unix(gw.unix.clone());
    assert_eq!(model_ids(&via).await, ["a"]);

    configmap.update(&[("config.yaml", &mock_config(gw.dir.path(), "a, b"))]);
    gw.wait_log("\"generation\":2").await;
    assert_eq!(model_ids(&via).await, ["a", "b"]);
    // The mount's real directory changed; the next swap must still be seen.
    configmap.update(&[("config.yaml", &mock_config(gw.dir.path(), "c"))]);
    gw.wait_log("\"generation\":3").await;
    assert_eq!(model_ids(&via).await, ["c"]);
    let metrics = get(&via, "/metrics").await.text();
    assert!(
        metrics.contains("llm_config_reloads_total{result=\"ok\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("llm_config_generation 3"), "{metrics}");
    assert!(metrics.contains("llm_config_last_reload_success_timestamp_seconds"));
}

#[tokio::test]
async fn renames_and_in_place_writes_are_applied() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, mock_config(dir.path(), "a")).unwrap();
    let mut gw = Gateway::start_file(dir, &path, vec![]).await;
    let via = Via::Unix(gw.unix.clone());

    let tmp = gw.dir.path().join(".config.yaml.swp");
    std::fs::write(&tmp, mock_config(gw.dir.path(), "renamed")).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    gw.wait_log("\"generation\":2").await;
    assert_eq!(model_ids(&via).await, ["renamed"]);

    std::fs::write(&path, mock_config(gw.dir.path(), "written")).unwrap();
    gw.wait_log("config reloaded").await;
    assert_eq!(model_ids(&via).await, ["written"]);
}

#[tokio::test]
async fn sighup_reloads_even_when_watching_is_off() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    let text =
        |models: &str| mock_config(dir.path(), models).replace("debounce: 50ms", "watch: false");
    std::fs::write(&path, text("a")).unwrap();
    let updated = text("from-sighup");
    let mut gw = Gateway::start_file(dir, &path, vec![]).await;
    std::fs::write(&path, updated).unwrap();
    gw.signal("HUP");
    let line = gw.wait_log("config reloaded").await;
    assert!(line.contains("\"cause\":\"sighup\""), "{line}");
    assert_eq!(
        model_ids(&Via::Unix(gw.unix.clone())).await,
        ["from-sighup"]
    );
}

#[tokio::test]
async fn a_bad_config_is_rejected_whole_and_the_next_good_one_applies() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    let good = mock_config(dir.path(), "a");
    std::fs::write(&path, &good).unwrap();
    let mut gw = Gateway::start_file(dir, &path, vec![]).await;
    let via = Via::Unix(gw.unix.clone());

    let bad = good.replace("    models: [a]", "    models: [a, b]\n    modelz: [c]");
    let bad_line = bad.lines().position(|l| l.contains("modelz")).unwrap() + 1;
    std::fs::write(&path, &bad).unwrap();
    let line = gw.wait_log("config rejected").await;
    assert!(line.contains("providers[0].modelz"), "{line}");
    assert!(line.contains(&format!("\"line\":{bad_line}")), "{line}");
    assert_eq!(
        model_ids(&via).await,
        ["a"],
        "the old config must keep serving"
    );
    assert_eq!(get(&via, "/health/ready").await.status, 200);
    let metrics = get(&via, "/metrics").await.text();
    assert!(
        metrics.contains("llm_config_last_reload_successful 0"),
        "a stale config must show: {metrics}"
    );
    assert_eq!(
        post(&via, "/v1/chat/completions", &chat_body("a", false))
            .await
            .status,
        200
    );

    // A missing ${VAR} and a listener change are rejected the same way.
    std::fs::write(
        &path,
        good.replace("type: mock", "type: mock\n    api_key: ${SURELY_UNSET_VAR}"),
    )
    .unwrap();
    assert!(
        gw.wait_log("config rejected")
            .await
            .contains("SURELY_UNSET_VAR")
    );
    let moved = good.replace("llm.sock", "other.sock");
    std::fs::write(&path, moved).unwrap();
    let line = gw.wait_log("config rejected").await;
    assert!(
        line.contains("server.listen.unix") && line.contains("restart"),
        "{line}"
    );

    std::fs::write(&path, mock_config(gw.dir.path(), "fixed")).unwrap();
    gw.wait_log("config reloaded").await;
    assert_eq!(model_ids(&via).await, ["fixed"]);
    let metrics = get(&via, "/metrics").await.text();
    assert!(
        metrics.contains("llm_config_reloads_total{result=\"error\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("llm_config_last_reload_successful 1"),
        "{metrics}"
    );
}

fn upstream_config(dir: &Path, up: &Upstream, key: &str) -> String {
    format!(
        "{}\nreload:\n  debounce: 50ms\nauth:\n  master_key: sk-master\nproviders:\n  - name: up\n    api_key: {key}\n    base_url: {}\n    models: [gpt-4o]\n",
        server_yaml(dir, &Options::default()),
        up.base_url()
    )
}

#[tokio::test]
async fn a_key_rotated_in_a_mounted_secret_is_used_and_never_shown() {
    let up =
        Upstream::start(|_| Canned::Json(200, upstream::chat_completion("m", "ok", 1, 1))).await;
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets");
    let mut secret = Projected::new(&secrets, &[("openai-key", "sk-first\n")]);
    let path = dir.path().join("config.yaml");
    let key_ref = format!("file:{}", secrets.join("openai-key").display());
    std::fs::write(&path, upstream_config(dir.path(), &up, &key_ref)).unwrap();
    let mut gw = Gateway::start_file(dir, &path, vec![]).await;
    let via = Via::Unix(gw.unix.clone());
    post(&via, "/v1/chat/completions", &chat_body("gpt-4o", false)).await;
    assert_eq!(up.last().header("authorization"), Some("Bearer sk-first"));

    secret.update(&[("openai-key", "sk-second\n")]);
    gw.wait_log("\"generation\":2").await;
    post(&via, "/v1/chat/completions", &chat_body("gpt-4o", false)).await;
    assert_eq!(up.last().header("authorization"), Some("Bearer sk-second"));

    let mut request = client::raw_request("GET", "/admin/config", bytes::Bytes::new());
    let unauthorized = client::call(&via, request).await;
    assert_eq!(unauthorized.status, 401);
    request = client::raw_request("GET", "/admin/config", bytes::Bytes::new());
    request
        .headers_mut()
        .insert("authorization", "Bearer sk-master".parse().unwrap());
    let shown = client::call(&via, request).await;
    assert_eq!(shown.status, 200);
    let body = shown.json();
    assert_eq!(body["generation"], 2);
    assert_eq!(body["config"]["providers"][0]["api_key"], "***");
    assert_eq!(body["config"]["auth"]["master_key"], "***");
    assert!(!shown.text().contains("sk-second") && !shown.text().contains("sk-master"));
    assert!(!gw.log_text().contains("sk-second"));
}

#[tokio::test]
async fn admin_routes_do_not_exist_without_a_master_key() {
    let gw = Gateway::start("providers:\n  - name: m\n    type: mock\n    models: [x]\n").await;
    let reply = get(&Via::Unix(gw.unix.clone()), "/admin/config").await;
    assert_eq!(reply.status, 404);
}

#[tokio::test]
async fn twenty_swaps_under_load_lose_no_request() {
    let up =
        Upstream::start(|_| Canned::Json(200, upstream::chat_completion("m", "ok", 1, 1))).await;
    let dir = tempfile::tempdir().unwrap();
    let mount = dir.path().join("config");
    let mut configmap = Projected::new(
        &mount,
        &[("config.yaml", &upstream_config(dir.path(), &up, "sk-gen-0"))],
    );
    let mut gw = Gateway::start_file(dir, &mount.join("config.yaml"), vec![]).await;

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (stop, sent, failed, via) = (
                stop.clone(),
                sent.clone(),
                failed.clone(),
                Via::Unix(gw.unix.clone()),
            );
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let reply =
                        post(&via, "/v1/chat/completions", &chat_body("gpt-4o", false)).await;
                    sent.fetch_add(1, Ordering::Relaxed);
                    if reply.status != 200 {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for generation in 1..=20 {
        let text = upstream_config(gw.dir.path(), &up, &format!("sk-gen-{generation}"));
        configmap.update(&[("config.yaml", &text)]);
        gw.wait_log(&format!("\"generation\":{}", generation + 1))
            .await;
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "requests failed during reloads"
    );
    assert!(sent.load(Ordering::Relaxed) >= 20, "the clients barely ran");
    post(
        &Via::Unix(gw.unix.clone()),
        "/v1/chat/completions",
        &chat_body("gpt-4o", false),
    )
    .await;
    assert_eq!(up.last().header("authorization"), Some("Bearer sk-gen-20"));
}
