//! What the kubelet knows about the gateway's container, read from `manifests/`: its probes,
//! the pod's grace period, and the ConfigMap's config with its drain times.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_yaml::Value;

/// Kubernetes periods are seconds; the test runs them this many times faster.
pub const TIME_SCALE: u32 = 10;
const SIDECAR: &str = "llm-sidecar";
const CONFIG_VOLUME: &str = "llm-sidecar-config";
const ADMIN_PORT_NAME: &str = "llm-admin";
const MANIFESTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/manifests");

/// A probe as the pod spec declares it (period scaled, timeout not).
#[derive(Debug, Clone)]
pub struct Probe {
    pub path: String,
    pub period: Duration,
    pub timeout: Duration,
    pub failure_threshold: u32,
}

/// What the kubelet knows about the gateway container, from the manifests.
pub struct PodSpec {
    /// An init container with `restartPolicy: Always`.
    pub native: bool,
    pub startup: Probe,
    pub readiness: Probe,
    pub liveness: Probe,
    /// `terminationGracePeriodSeconds`, scaled.
    pub grace: Duration,
    /// The ConfigMap's config.yaml.
    config: Value,
    /// `server.drain_delay`, scaled.
    pub drain_delay: Duration,
}

fn scaled(d: Duration) -> Duration {
    d / TIME_SCALE
}

fn field<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(v, |v, k| &v[*k])
}

fn seconds(v: &Value) -> Duration {
    Duration::from_secs(v.as_u64().unwrap_or_else(|| panic!("not seconds: {v:?}")))
}

/// A config duration as the manifests write them: `500ms`, `5s`, `1m`.
fn duration(text: &str) -> Duration {
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap();
    let n: u64 = text[..split].parse().unwrap();
    match &text[split..] {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        unit => panic!("unexpected unit in {text}: {unit}"),
    }
}

impl PodSpec {
    pub fn load(file: &str, kind: &str, name: &str) -> Self {
        let resources = read_manifests();
        let workload = &resources[&(kind.to_owned(), name.to_owned())];
        let spec = if kind == "Pod" {
            &workload["spec"]
        } else {
            field(workload, &["spec", "template", "spec"])
        };
        let find = |list: &str| {
            spec[list]
                .as_sequence()
                .into_iter()
                .flatten()
                .find(|c| c["name"].as_str() == Some(SIDECAR))
                .cloned()
        };
        let init = find("initContainers");
        let native = init
            .as_ref()
            .is_some_and(|c| c["restartPolicy"].as_str() == Some("Always"));
        let container = init
            .or_else(|| find("containers"))
            .unwrap_or_else(|| panic!("{file}: no {SIDECAR} container"));
        let probe = |key: &str| {
            let p = &container[key];
            Probe {
                path: p["httpGet"]["path"].as_str().unwrap().to_owned(),
                period: scaled(seconds(&p["periodSeconds"])),
                // Timeouts stay unscaled: they bound a slow answer, which a loaded CI machine
                // gives as often as a real node does.
                timeout: seconds(&p["timeoutSeconds"]),
                failure_threshold: p["failureThreshold"].as_u64().unwrap() as u32,
            }
        };
        let config_map = spec["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|v| v["name"].as_str() == Some(CONFIG_VOLUME))
            .map(|v| v["configMap"]["name"].as_str().unwrap().to_owned())
            .unwrap();
        let config_text = resources[&("ConfigMap".to_owned(), config_map)]["data"]["config.yaml"]
            .as_str()
            .unwrap();
        let config: Value = serde_yaml::from_str(config_text).unwrap();
        let admin_port: u16 = config["server"]["admin"]
            .as_str()
            .unwrap()
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let declared = container["ports"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|p| p["name"].as_str() == Some(ADMIN_PORT_NAME))
            .map(|p| p["containerPort"].as_u64().unwrap());
        assert_eq!(
            declared,
            Some(u64::from(admin_port)),
            "{file}: the probes' port llm-admin is not the config's admin port"
        );
        let drain_delay = duration(config["server"]["drain_delay"].as_str().unwrap());
        let drain_timeout = duration(config["server"]["drain_timeout"].as_str().unwrap());
        let grace = seconds(&spec["terminationGracePeriodSeconds"]);
        assert!(
            grace >= drain_delay + drain_timeout,
            "{file}: grace period {grace:?} < drain {:?}",
            drain_delay + drain_timeout
        );
        Self {
            native,
            startup: probe("startupProbe"),
            readiness: probe("readinessProbe"),
            liveness: probe("livenessProbe"),
            grace: scaled(grace),
            config,
            drain_delay: scaled(drain_delay),
        }
    }

    /// The ConfigMap's config with this test's addresses (free ports, a socket in `dir`) and
    /// the drain times scaled like the probes.
    pub fn test_config(
        &self,
        dir: &Path,
        admin: SocketAddr,
        api: SocketAddr,
    ) -> (String, Option<PathBuf>) {
        let mut config = self.config.clone();
        let server = &mut config["server"];
        let drain_timeout = duration(server["drain_timeout"].as_str().unwrap());
        server["admin"] = Value::from(admin.to_string());
        server["drain_delay"] = Value::from(format!("{}ms", self.drain_delay.as_millis()));
        server["drain_timeout"] = Value::from(format!("{}ms", scaled(drain_timeout).as_millis()));
        let listen = &mut server["listen"];
        listen["tcp"] = Value::from(api.to_string());
        let socket = listen.get("unix").is_some().then(|| dir.join("llm.sock"));
        if let Some(path) = &socket {
            listen["unix"] = Value::from(path.display().to_string());
        }
        (serde_yaml::to_string(&config).unwrap(), socket)
    }
}

fn read_manifests() -> HashMap<(String, String), Value> {
    let mut resources = HashMap::new();
    for entry in std::fs::read_dir(MANIFESTS).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let value = Value::deserialize(doc).unwrap();
            if let (Some(kind), Some(name)) =
                (value["kind"].as_str(), value["metadata"]["name"].as_str())
            {
                resources.insert((kind.to_owned(), name.to_owned()), value.clone());
            }
        }
    }
    resources
}
