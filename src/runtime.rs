//! The live state one config generation needs to serve requests: the validated config, provider
//! adapters and their pooled clients, the router and the limiters. Requests load one `Arc` of it
//! at their start and keep it to their end; a reload builds a whole new one and swaps it in.

use std::sync::Arc;
use std::time::SystemTime;

use crate::config::{Config, ConfigError, FieldPath};
use crate::limits::{Gcra, MINUTE};
use crate::providers::{self, Provider};
use crate::router::Router;

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
}

impl Runtime {
    /// Builds every provider client and the router for `config`.
    pub fn build(config: Config, generation: u64) -> Result<Self, ConfigError> {
        let mut adapters: Vec<Arc<dyn Provider>> = Vec::with_capacity(config.raw.providers.len());
        for (i, p) in config.raw.providers.iter().enumerate() {
            let adapter = providers::build(p)
                .map_err(|e| ConfigError::at(&FieldPath::root("providers").index(i), e))?;
            adapters.push(Arc::from(adapter));
        }
        let default_provider = config
            .raw
            .routing
            .default_provider
            .as_ref()
            .and_then(|name| config.raw.providers.iter().position(|p| &p.name == name))
            .and_then(|i| adapters.get(i).cloned());
        let router = Router::new(&config.groups, &adapters, default_provider);
        let rate_limit = config
            .raw
            .rate_limit
            .enabled
            .then(|| Arc::new(Gcra::new(config.raw.rate_limit.requests_per_minute, MINUTE)));
        Ok(Self {
            generation,
            applied_at: SystemTime::now(),
            config,
            router,
            rate_limit,
        })
    }
}
