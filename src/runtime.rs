//! The live state one config generation needs to serve requests: the validated config, provider
//! adapters and their pooled clients, the router and the limiters. Requests load one `Arc` of it
//! at their start and keep it to their end; a reload builds a whole new one and swaps it in.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::SystemTime;

use crate::auth::Access;
use crate::config::{Config, ConfigError, FieldPath};
use crate::limits::budget::TokenBudget;
use crate::limits::{Gcra, MINUTE};
use crate::pricing::Prices;
use crate::providers::http::Endpoint;
use crate::providers::{self, EndpointKey, Provider};
use crate::router::health::Probe;
use crate::router::{Inputs, Router};

/// One generation of serving state.
pub struct Runtime {
    /// Increments with every applied config.
    pub generation: u64,
    /// When this generation was applied.
    pub applied_at: SystemTime,
    /// The validated config.
    pub config: Config,
    /// Model routing.
    pub router: Router,
    /// The seed's global request rate limit, when enabled.
    pub rate_limit: Option<Arc<Gcra>>,
    /// The in-flight token budget, when configured.
    pub token_budget: Option<TokenBudget>,
    /// Keys, teams and peers.
    pub access: Access,
    /// Token prices.
    pub prices: Arc<Prices>,
    /// Health check verdicts by provider name (written by the health checker).
    pub health: HashMap<String, Arc<AtomicBool>>,
    /// Connection pools by provider name, with what identifies them.
    endpoints: HashMap<String, (EndpointKey, Arc<Endpoint>)>,
}

/// Adapters and their pools, in config order.
struct Built {
    adapters: Vec<Arc<dyn Provider>>,
    endpoints: HashMap<String, (EndpointKey, Arc<Endpoint>)>,
}

impl Runtime {
    /// Builds every provider client and the router for `config`. State that must survive a
    /// reload is taken over from `previous` when its identity is unchanged (ARCHITECTURE.md,
    /// "State identity across reloads"): connection pools, bulkheads, health verdicts, deployment
    /// state (breakers, latency, in-flight counts), the global limiter and the token budget.
    pub fn build(
        config: Config,
        generation: u64,
        previous: Option<&Runtime>,
    ) -> Result<Self, ConfigError> {
        for warning in &config.warnings {
            tracing::warn!(warning = %warning, "config loaded with a warning");
        }
        let Built {
            adapters,
            endpoints,
        } = providers(&config, previous)?;
        let access = Access::build(&config)?;
        let prices = Arc::new(Prices::new(&config.raw.pricing));
        let health = health(&config, previous);
        let router = Router::new(&Inputs {
            config: &config,
            providers: &adapters,
            health: &health,
            previous: previous.map(|p| &p.router),
        });
        let rpm = config.raw.rate_limit.requests_per_minute;
        let rate_limit = config.raw.rate_limit.enabled.then(|| {
            previous
                .and_then(|prev| prev.rate_limit.clone())
                .filter(|limit| limit.limit() == rpm)
                .unwrap_or_else(|| Arc::new(Gcra::new(rpm, MINUTE)))
        });
        let limits = &config.raw.limits;
        let token_budget = limits.max_inflight_tokens.map(|total| {
            previous
                .and_then(|prev| prev.token_budget.as_ref())
                .filter(|b| b.total() == TokenBudget::new(total, limits.queue_timeout).total())
                .map_or_else(
                    || TokenBudget::new(total, limits.queue_timeout),
                    |b| b.with_queue_timeout(limits.queue_timeout),
                )
        });
        Ok(Self {
            generation,
            applied_at: SystemTime::now(),
            config,
            router,
            rate_limit,
            token_budget,
            access,
            prices,
            health,
            endpoints,
        })
    }

    /// The connection pool of `provider`.
    pub fn endpoint(&self, provider: &str) -> Option<&Arc<Endpoint>> {
        self.endpoints.get(provider).map(|(_, endpoint)| endpoint)
    }

    /// The health checks this generation's config asks for.
    pub fn health_probes(&self) -> Vec<Probe> {
        self.config
            .raw
            .providers
            .iter()
            .filter_map(|provider| {
                Some(Probe {
                    provider: provider.name.clone(),
                    check: provider.health_check.clone()?,
                    endpoint: Arc::clone(self.endpoint(&provider.name)?),
                    flag: Arc::clone(self.health.get(&provider.name)?),
                })
            })
            .collect()
    }

    /// Whether `other` shares this runtime's connection pool for `provider`.
    pub fn shares_endpoint(&self, other: &Runtime, provider: &str) -> bool {
        match (self.endpoints.get(provider), other.endpoints.get(provider)) {
            (Some((_, a)), Some((_, b))) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// Adapters for every provider, on the previous pool when the endpoint is the same.
fn providers(config: &Config, previous: Option<&Runtime>) -> Result<Built, ConfigError> {
    let mut adapters: Vec<Arc<dyn Provider>> = Vec::with_capacity(config.raw.providers.len());
    let mut endpoints = HashMap::with_capacity(config.raw.providers.len());
    for (i, p) in config.raw.providers.iter().enumerate() {
        let at = || FieldPath::root("providers").index(i);
        let key = EndpointKey::of(p);
        let reused = previous
            .and_then(|prev| prev.endpoints.get(&p.name))
            .filter(|(prev_key, _)| *prev_key == key)
            .map(|(_, endpoint)| Arc::clone(endpoint));
        let endpoint = match reused {
            Some(endpoint) => endpoint,
            None => Arc::new(providers::endpoint(p).map_err(|e| ConfigError::at(&at(), e))?),
        };
        let adapter =
            providers::build(p, Arc::clone(&endpoint)).map_err(|e| ConfigError::at(&at(), e))?;
        adapters.push(Arc::from(adapter));
        endpoints.insert(p.name.clone(), (key, endpoint));
    }
    Ok(Built {
        adapters,
        endpoints,
    })
}

/// One health flag per provider, kept across reloads (a provider found unhealthy stays out of
/// rotation until its next check passes).
fn health(config: &Config, previous: Option<&Runtime>) -> HashMap<String, Arc<AtomicBool>> {
    config
        .raw
        .providers
        .iter()
        .map(|p| {
            let flag = previous
                .and_then(|prev| prev.health.get(&p.name))
                .filter(|_| p.health_check.is_some())
                .cloned()
                .unwrap_or_else(|| Arc::new(AtomicBool::new(true)));
            (p.name.clone(), flag)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;

    fn build(text: &str, previous: Option<&Runtime>) -> Runtime {
        Runtime::build(config::parse(text, None).unwrap(), 1, previous).unwrap()
    }

    #[test]
    fn reload_keeps_pools_and_limiters_whose_identity_is_unchanged() {
        let v1 = "providers:\n  - {name: a, base_url: 'http://a/v1', api_key: k1, models: [m]}\n  - {name: b, base_url: 'http://b/v1', models: [n]}\nrate_limit: {enabled: true, requests_per_minute: 5}\n";
        let first = build(v1, None);
        let rotated = build(&v1.replace("k1", "k2"), Some(&first));
        assert!(
            rotated.shares_endpoint(&first, "a"),
            "a key rotation keeps the pool"
        );
        assert!(rotated.shares_endpoint(&first, "b"));
        assert!(Arc::ptr_eq(
            rotated.rate_limit.as_ref().unwrap(),
            first.rate_limit.as_ref().unwrap()
        ));
        let moved = build(
            &v1.replace("http://b/v1", "http://b2/v1")
                .replace("ute: 5", "ute: 6"),
            Some(&rotated),
        );
        assert!(moved.shares_endpoint(&rotated, "a"));
        assert!(
            !moved.shares_endpoint(&rotated, "b"),
            "a new address needs a new pool"
        );
        assert!(!Arc::ptr_eq(
            moved.rate_limit.as_ref().unwrap(),
            rotated.rate_limit.as_ref().unwrap()
        ));
    }
}
