//! The pod lifecycle as the kubelet drives it, against the real binary, with the probes, drain
//! times and grace period read from `manifests/` (which `tests/k8s/chart_check.py` keeps equal
//! to what the Helm chart renders), every period scaled down by [`TIME_SCALE`].
//!
//! Start: the startup probe is polled at its period; only once it passes does the "app" start
//! sending requests (a native sidecar's app container starts then), and the readiness and
//! liveness probes begin at their periods. Stop: SIGTERM, while clients keep sending through most
//! of `drain_delay` (Endpoints are removed asynchronously; a plain sidecar's app gets its SIGTERM
//! at the same moment and may still be finishing work). Every request must succeed, readiness
//! must turn 503 at once, liveness must hold, and the process must exit 0 before the grace
//! period with its socket removed.
//!
//! `LLM_SIDECAR_KUBELET_BIN` runs it against another build of the binary (`make test` passes the
//! static musl one, the artifact the image ships).

mod agents;
mod pod;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use http::StatusCode;

use crate::common::Gateway;
use crate::common::client::Via;
use crate::common::gateway::BIN;
use agents::{Observation, Traffic, chat, poll, probe_once};
use pod::PodSpec;

/// Clients stop sending once this share of `drain_delay` has passed: by then the Endpoints
/// removal has reached every client (that is what the delay is sized for).
const SEND_SHARE_OF_DRAIN_DELAY: f64 = 0.8;
/// How often the test itself asks for readiness right after SIGTERM, to time the switch to 503.
const NOT_READY_POLL: Duration = Duration::from_millis(10);
/// Readiness successes to see before the stop, so the probes are known to run.
const STEADY_READY_PROBES: usize = 2;
/// How many requests must have been sent after SIGTERM for the drain to count as tested.
const MIN_REQUESTS_DURING_DRAIN: usize = 5;

#[tokio::test]
async fn native_sidecar_pod_starts_probes_and_drains_like_the_kubelet_says() {
    let pod = PodSpec::load("pod-native-sidecar.yaml", "Pod", "my-app");
    assert!(pod.native, "the sidecar is not a native sidecar");
    run_lifecycle(pod).await;
}

#[tokio::test]
async fn standalone_gateway_starts_probes_and_drains_like_the_kubelet_says() {
    let pod = PodSpec::load("gateway.yaml", "Deployment", "llm-sidecar-gateway");
    run_lifecycle(pod).await;
}

/// A port nothing listens on now, for a listener the gateway binds: the kubelet probes a fixed
/// port from the first moment, so the test cannot wait for the ready log to learn it.
fn free_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], crate::common::free_port()))
}

async fn run_lifecycle(pod: PodSpec) {
    let bin = std::env::var("LLM_SIDECAR_KUBELET_BIN").unwrap_or_else(|_| BIN.to_owned());
    assert!(Path::new(&bin).is_file(), "no gateway binary at {bin}");
    let dir = tempfile::tempdir().unwrap();
    let (admin, api) = (free_port(), free_port());
    let (config, socket) = pod.test_config(dir.path(), admin, api);
    let config_path = dir.path().join("config.yaml");
    std::fs::write(&config_path, config).unwrap();
    let via = match &socket {
        Some(path) => Via::Unix(path.clone()),
        None => Via::Tcp(api),
    };

    // Container start: the kubelet polls the startup probe at its period from the first moment.
    let started = Instant::now();
    let child = Command::new(&bin)
        .arg("--config")
        .arg(&config_path)
        .env_remove("RUST_LOG")
        .env_remove("OPENAI_API_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut gw = Gateway::attach(child, dir, socket.clone().unwrap_or_default());
    let mut failed_startup_probes = 0;
    loop {
        let seen = probe_once(admin, &pod.startup).await;
        if seen.result == Ok(StatusCode::OK) {
            break;
        }
        failed_startup_probes += 1;
        assert!(
            failed_startup_probes < pod.startup.failure_threshold,
            "startup probe failed {failed_startup_probes} times (the kubelet restarts the container): {seen:?}\n{}",
            gw.log_text()
        );
        tokio::time::sleep(pod.startup.period).await;
    }
    let startup_took = started.elapsed();

    // Started: the app containers start now (native sidecar), and the other probes begin.
    let stop_probes = Arc::new(AtomicBool::new(false));
    let readiness = poll(admin, pod.readiness.clone(), Arc::clone(&stop_probes));
    let liveness = poll(admin, pod.liveness.clone(), Arc::clone(&stop_probes));
    let first = chat(&via, false).await;
    assert_eq!(
        first,
        Ok(()),
        "the app's first request, right after the startup probe passed"
    );
    let traffic = Traffic::default();
    let clients = traffic.start(&via);
    // Steady state: a few readiness periods.
    tokio::time::sleep(pod.readiness.period * STEADY_READY_PROBES as u32).await;

    // Pod deletion: SIGTERM; clients keep sending while the Endpoints removal propagates.
    traffic.draining.store(true, Ordering::Relaxed);
    let terminated = Instant::now();
    gw.signal("TERM");
    let not_ready = loop {
        let seen = probe_once(admin, &pod.readiness).await;
        if seen.result == Ok(StatusCode::SERVICE_UNAVAILABLE) {
            break seen.answered;
        }
        assert!(
            terminated.elapsed() < pod.drain_delay,
            "still ready {:?} after SIGTERM: {seen:?}",
            terminated.elapsed()
        );
        tokio::time::sleep(NOT_READY_POLL).await;
    };
    let stop_sending_after = pod.drain_delay.mul_f64(SEND_SHARE_OF_DRAIN_DELAY);
    tokio::time::sleep(stop_sending_after.saturating_sub(terminated.elapsed())).await;
    traffic.stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    let status = gw.wait_exit(pod.grace).await;
    let exited = terminated.elapsed();
    stop_probes.store(true, Ordering::Relaxed);
    let (readiness, liveness) = (readiness.await.unwrap(), liveness.await.unwrap());

    let failures = traffic.failures.lock().unwrap().clone();
    assert!(
        failures.is_empty(),
        "failed requests:\n{}\n{}",
        failures.join("\n"),
        gw.log_text()
    );
    let during_drain = traffic.sent_during_drain.load(Ordering::Relaxed);
    assert!(
        during_drain >= MIN_REQUESTS_DURING_DRAIN,
        "only {during_drain} requests during the drain"
    );
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGTERM\n{}",
        gw.log_text()
    );
    assert!(
        exited >= pod.drain_delay,
        "exited {exited:?} after SIGTERM, before drain_delay {:?}",
        pod.drain_delay
    );
    assert!(
        exited < pod.grace,
        "exited {exited:?} after SIGTERM, grace period {:?}",
        pod.grace
    );
    if let Some(path) = &socket {
        assert!(!path.exists(), "socket file left behind");
    }
    check_readiness(&readiness, terminated, not_ready);
    check_liveness(&liveness, terminated + pod.drain_delay);
    eprintln!(
        "startup probe passed after {startup_took:?} ({failed_startup_probes} failures); \
         not ready {:?} after SIGTERM; {} requests, {during_drain} during the drain; \
         exit {exited:?} after SIGTERM; {} readiness and {} liveness probes",
        not_ready.duration_since(terminated),
        traffic.sent.load(Ordering::Relaxed),
        readiness.len(),
        liveness.len()
    );
}

/// Ready until SIGTERM, then, from the first 503 on, never ready again (the lifecycle only moves
/// forward). Probes in flight while the signal was being handled may go either way.
fn check_readiness(seen: &[Observation], terminated: Instant, not_ready: Instant) {
    let before: Vec<_> = seen.iter().filter(|o| o.answered < terminated).collect();
    assert!(
        before.len() >= STEADY_READY_PROBES,
        "too few readiness probes before SIGTERM: {seen:?}"
    );
    assert!(
        before.iter().all(|o| o.result == Ok(StatusCode::OK)),
        "not ready before SIGTERM: {before:?}"
    );
    assert!(
        seen.iter()
            .filter(|o| o.sent > not_ready)
            .all(|o| o.result != Ok(StatusCode::OK)),
        "ready again after SIGTERM: {seen:?}"
    );
}

/// Live throughout: the kubelet restarts a container after `failure_threshold` failures in a row;
/// the gateway must not fail even once while it serves. A refused connection counts only once
/// the drain delay is over and the process is on its way out.
fn check_liveness(seen: &[Observation], exiting: Instant) {
    let failed: Vec<_> = seen
        .iter()
        .filter(|o| o.result != Ok(StatusCode::OK) && !(o.sent >= exiting && o.result.is_err()))
        .collect();
    assert!(
        failed.is_empty(),
        "liveness failed while serving: {failed:?}"
    );
}
