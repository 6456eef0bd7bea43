//! `responses:` — how the gateway keeps Responses API responses it made itself (for upstreams
//! that do not speak the API), so `previous_response_id` and `GET /v1/responses/{id}` work:
//! whether it stores them, for how long, and how much memory they may take.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::units;

/// Default `responses.ttl`: long enough for an agent's session, short enough that a pod does not
/// hold a day of conversations.
pub const DEFAULT_TTL: Duration = Duration::from_secs(60 * 60);
/// Default `responses.max_bytes`: what the in-memory store may hold of all stored responses.
pub const DEFAULT_MAX_BYTES: u64 = 16 * 1024 * 1024;
/// Default `responses.max_response_bytes`: the largest one stored response (its conversation
/// included); a longer conversation is answered but not stored.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 1024 * 1024;

/// `responses:` — stored responses.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ResponsesConfig {
    /// Keep responses whose request has `store: true` (OpenAI's default). `false` answers every
    /// request as if it had `store: false`, and `previous_response_id` finds nothing.
    #[serde(default = "super::schema::d_true")]
    pub store: bool,
    /// How long a stored response can be read or continued after it was made.
    #[serde(default = "d_ttl", with = "units::duration")]
    pub ttl: Duration,
    /// In memory (no `store.url`): all stored responses together at most, oldest evicted first.
    /// With Redis, its own `maxmemory` policy bounds them.
    #[serde(default = "d_max_bytes", with = "units::bytes")]
    pub max_bytes: u64,
    /// The largest one stored response, its conversation included.
    #[serde(default = "d_max_response_bytes", with = "units::bytes")]
    pub max_response_bytes: u64,
}

fn d_ttl() -> Duration {
    DEFAULT_TTL
}

fn d_max_bytes() -> u64 {
    DEFAULT_MAX_BYTES
}

fn d_max_response_bytes() -> u64 {
    DEFAULT_MAX_RESPONSE_BYTES
}

impl Default for ResponsesConfig {
    fn default() -> Self {
        Self {
            store: true,
            ttl: DEFAULT_TTL,
            max_bytes: DEFAULT_MAX_BYTES,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_read_in_human_units() {
        let cases = [
            ("{}", ResponsesConfig::default()),
            (
                "{store: false, ttl: 10m, max_bytes: 2MiB, max_response_bytes: 64KiB}",
                ResponsesConfig {
                    store: false,
                    ttl: Duration::from_secs(600),
                    max_bytes: 2 * 1024 * 1024,
                    max_response_bytes: 64 * 1024,
                },
            ),
        ];
        for (yaml, want) in cases {
            let got: ResponsesConfig = serde_yaml::from_str(yaml).unwrap();
            assert_eq!(got, want, "{yaml}");
        }
        assert!(serde_yaml::from_str::<ResponsesConfig>("{stored: true}").is_err());
    }
}
