//! The kubelet's probers and the app's clients: each runs at its own pace and records what it
//! saw, for the test to judge afterwards.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::StatusCode;
use tokio::task::JoinHandle;

use super::pod::Probe;
use crate::common::client::{Via, json_request, raw_request, try_call};
use crate::common::{WAIT, chat_body};

/// Pause between one client's requests.
const SEND_INTERVAL: Duration = Duration::from_millis(10);
/// A model the mock provider in the manifests' config serves.
const MODEL: &str = "gpt-4o-mini";
/// How an OpenAI stream ends.
const STREAM_END: &[u8] = b"data: [DONE]\n\n";

/// One probe result, as the kubelet sees it.
#[derive(Debug, Clone)]
pub struct Observation {
    pub sent: Instant,
    pub answered: Instant,
    pub result: Result<StatusCode, String>,
}

pub async fn probe_once(admin: SocketAddr, probe: &Probe) -> Observation {
    let sent = Instant::now();
    let result = try_call(
        &Via::Tcp(admin),
        raw_request("GET", &probe.path, Bytes::new()),
        probe.timeout,
    )
    .await
    .map(|reply| reply.status);
    Observation {
        sent,
        answered: Instant::now(),
        result,
    }
}

/// Polls a probe at its period until `stop`, recording every result.
pub fn poll(
    admin: SocketAddr,
    probe: Probe,
    stop: Arc<AtomicBool>,
) -> JoinHandle<Vec<Observation>> {
    tokio::spawn(async move {
        let mut seen = Vec::new();
        let mut ticker = tokio::time::interval(probe.period);
        while !stop.load(Ordering::Relaxed) {
            ticker.tick().await;
            seen.push(probe_once(admin, &probe).await);
        }
        seen
    })
}

/// One chat completion, as the app sends it; `Ok` only for a complete, successful answer.
pub async fn chat(via: &Via, stream: bool) -> Result<(), String> {
    let request = json_request("POST", "/v1/chat/completions", &chat_body(MODEL, stream));
    let reply = try_call(via, request, WAIT).await?;
    let complete = !stream || reply.body.ends_with(STREAM_END);
    if reply.status == StatusCode::OK && complete {
        Ok(())
    } else {
        Err(format!("{}: {}", reply.status, reply.text()))
    }
}

/// The app: one client sending whole chat completions and one streaming them, back to back,
/// until `stop`. Shared counters tell what they sent, and what failed.
#[derive(Default, Clone)]
pub struct Traffic {
    /// Set at SIGTERM: later requests count as sent during the drain.
    pub draining: Arc<AtomicBool>,
    /// Set when the clients should stop.
    pub stop: Arc<AtomicBool>,
    pub sent: Arc<AtomicUsize>,
    pub sent_during_drain: Arc<AtomicUsize>,
    pub failures: Arc<Mutex<Vec<String>>>,
}

impl Traffic {
    /// Starts the clients; they end when `stop` is set.
    pub fn start(&self, via: &Via) -> Vec<JoinHandle<()>> {
        [false, true]
            .into_iter()
            .map(|stream| tokio::spawn(self.clone().client(via.clone(), stream)))
            .collect()
    }

    async fn client(self, via: Via, stream: bool) {
        while !self.stop.load(Ordering::Relaxed) {
            let during_drain = self.draining.load(Ordering::Relaxed);
            if let Err(e) = chat(&via, stream).await {
                let failure = format!("stream: {stream}, during the drain: {during_drain}: {e}");
                self.failures.lock().unwrap().push(failure);
            }
            self.sent.fetch_add(1, Ordering::Relaxed);
            if during_drain {
                self.sent_during_drain.fetch_add(1, Ordering::Relaxed);
            }
            tokio::time::sleep(SEND_INTERVAL).await;
        }
    }
}
