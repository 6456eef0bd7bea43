//! Active health checks (`providers[].health_check`): a background task per provider GETs a
//! path at the upstream's origin (e.g. vLLM's `/health`) every interval and flips the provider's
//! health flag, which takes all its deployments out of rotation before a user request finds out.
//! Tasks follow config reloads: unchanged checks keep running, changed ones restart, removed
//! ones stop.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use tokio::task::JoinHandle;

use crate::config::schema::HealthCheckConfig;
use crate::providers::http::Endpoint;
use crate::telemetry::metrics::PROVIDER_HEALTHY;

/// Longest wait for one health answer (never longer than the interval).
const MAX_PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// What makes a running check the same check.
#[derive(Clone, PartialEq)]
struct Key {
    check: HealthCheckConfig,
    endpoint: usize,
    flag: usize,
}

/// One provider's check, with where it probes and the flag it flips.
pub struct Probe {
    /// The provider's name.
    pub provider: String,
    /// Its `health_check`.
    pub check: HealthCheckConfig,
    /// Its connection pool.
    pub endpoint: Arc<Endpoint>,
    /// Its health flag (read by its deployments).
    pub flag: Arc<AtomicBool>,
}

/// The running checks.
#[derive(Default)]
pub struct HealthChecks {
    tasks: HashMap<String, (Key, JoinHandle<()>)>,
}

impl HealthChecks {
    /// Runs exactly the checks `probes` describe (a config generation's).
    pub fn sync(&mut self, probes: Vec<Probe>) {
        let mut wanted = HashMap::new();
        for probe in probes {
            let key = Key {
                check: probe.check,
                endpoint: Arc::as_ptr(&probe.endpoint).addr(),
                flag: Arc::as_ptr(&probe.flag).addr(),
            };
            wanted.insert(probe.provider, (key, probe.endpoint, probe.flag));
        }
        self.tasks.retain(|name, (key, task)| {
            let keep = wanted.get(name).is_some_and(|(k, _, _)| k == key);
            if !keep {
                task.abort();
            }
            keep
        });
        for (name, (key, endpoint, flag)) in wanted {
            if self.tasks.contains_key(&name) {
                continue;
            }
            let task = tokio::spawn(check_loop(name.clone(), key.check.clone(), endpoint, flag));
            self.tasks.insert(name, (key, task));
        }
    }
}

impl Drop for HealthChecks {
    fn drop(&mut self) {
        for (_, task) in self.tasks.values() {
            task.abort();
        }
    }
}

async fn check_loop(
    provider: String,
    check: HealthCheckConfig,
    endpoint: Arc<Endpoint>,
    flag: Arc<AtomicBool>,
) {
    let gauge = metrics::gauge!(PROVIDER_HEALTHY, "provider" => provider.clone());
    gauge.set(if flag.load(Ordering::Relaxed) {
        1.0
    } else {
        0.0
    });
    let mut ticker = tokio::time::interval(check.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let healthy = probe(&endpoint, &check).await;
        if flag.swap(healthy, Ordering::Relaxed) != healthy {
            if healthy {
                tracing::info!(provider = %provider, path = %check.path, "provider health check passes again");
            } else {
                tracing::warn!(provider = %provider, path = %check.path, "provider health check failed; taking it out of rotation");
            }
        }
        gauge.set(if healthy { 1.0 } else { 0.0 });
    }
}

/// One check: a 2xx answer within the timeout is healthy.
async fn probe(endpoint: &Endpoint, check: &HealthCheckConfig) -> bool {
    let Ok(uri) = endpoint.origin_uri(&check.path) else {
        return false;
    };
    let Ok(request) = Request::get(uri).body(Full::new(Bytes::new())) else {
        return false;
    };
    let timeout = check.interval.min(MAX_PROBE_TIMEOUT);
    matches!(
        tokio::time::timeout(timeout, endpoint.send(request)).await,
        Ok(Ok(response)) if response.status().is_success()
    )
}
