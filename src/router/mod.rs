//! Model routing: client model name → model group → deployment (provider + upstream model).
//! Names configured nowhere go to `routing.default_provider` unchanged, when one is set.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::config::GroupSpec;
use crate::error::GatewayError;
use crate::providers::Provider;

/// Metric label for model names that are not configured (keeps label cardinality bounded).
pub const OTHER_MODEL: &str = "other";

/// One deployment of a model group.
pub struct Deployment {
    /// The provider serving it.
    pub provider: Arc<dyn Provider>,
    /// The model name sent upstream.
    pub upstream_model: String,
    /// Relative share of traffic.
    pub weight: u32,
}

/// A client-facing model name and its deployments.
pub struct Group {
    /// The client-facing name.
    pub name: String,
    /// Where it is served.
    pub deployments: Vec<Deployment>,
    /// Model names to fall back to.
    pub fallbacks: Vec<String>,
    next: AtomicUsize,
}

/// Where one request goes.
pub struct Route<'r> {
    /// The model label for metrics: the configured name or [`OTHER_MODEL`].
    pub label: &'r str,
    /// The provider to call.
    pub provider: &'r Arc<dyn Provider>,
    /// The model name to send upstream.
    pub upstream_model: Cow<'r, str>,
}

/// All model groups of one config generation.
pub struct Router {
    groups: HashMap<String, Group>,
    order: Vec<String>,
    default_provider: Option<Arc<dyn Provider>>,
}

impl Router {
    /// Builds groups from specs; `providers` is indexed like `RawConfig::providers`.
    pub fn new(
        specs: &[GroupSpec],
        providers: &[Arc<dyn Provider>],
        default_provider: Option<Arc<dyn Provider>>,
    ) -> Self {
        let mut groups = HashMap::with_capacity(specs.len());
        let mut order = Vec::with_capacity(specs.len());
        for spec in specs {
            let deployments = spec
                .deployments
                .iter()
                .filter_map(|d| {
                    providers.get(d.provider).map(|p| Deployment {
                        provider: Arc::clone(p),
                        upstream_model: d.upstream_model.clone(),
                        weight: d.weight,
                    })
                })
                .collect();
            order.push(spec.name.clone());
            groups.insert(
                spec.name.clone(),
                Group {
                    name: spec.name.clone(),
                    deployments,
                    fallbacks: spec.fallbacks.clone(),
                    next: AtomicUsize::new(0),
                },
            );
        }
        Self {
            groups,
            order,
            default_provider,
        }
    }

    /// Picks the deployment for `model` (round robin within its group).
    pub fn route<'r>(&'r self, model: &str) -> Result<Route<'r>, GatewayError> {
        if let Some(group) = self.groups.get(model)
            && !group.deployments.is_empty()
        {
            let i = group.next.fetch_add(1, Ordering::Relaxed) % group.deployments.len();
            let deployment = &group.deployments[i];
            return Ok(Route {
                label: &group.name,
                provider: &deployment.provider,
                upstream_model: Cow::Borrowed(&deployment.upstream_model),
            });
        }
        match &self.default_provider {
            Some(provider) => Ok(Route {
                label: OTHER_MODEL,
                provider,
                upstream_model: Cow::Owned(model.to_owned()),
            }),
            None => Err(GatewayError::ModelNotFound(model.to_owned())),
        }
    }

    /// The configured model names, in config order.
    pub fn model_names(&self) -> &[String] {
        &self.order
    }

    /// The group for a configured name.
    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.get(name)
    }

    /// The label metrics use for a client model name.
    pub fn label<'a>(&'a self, model: &str) -> &'a str {
        self.groups
            .get_key_value(model)
            .map_or(OTHER_MODEL, |(k, _)| k.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;

    fn router(text: &str) -> Router {
        let cfg = config::parse(text, None).unwrap();
        let providers: Vec<Arc<dyn Provider>> = cfg
            .raw
            .providers
            .iter()
            .map(|p| {
                let endpoint = Arc::new(crate::providers::endpoint(p).unwrap());
                Arc::from(crate::providers::build(p, endpoint).unwrap())
            })
            .collect();
        let default = cfg
            .raw
            .routing
            .default_provider
            .as_ref()
            .and_then(|name| cfg.raw.providers.iter().position(|p| &p.name == name))
            .map(|i| Arc::clone(&providers[i]));
        Router::new(&cfg.groups, &providers, default)
    }

    #[tokio::test]
    async fn routes_round_robin_and_to_the_default() {
        let r = router(
            "providers:\n  - {name: a, type: mock, models: [m]}\n  - {name: b, type: mock, models: [m]}\nrouting:\n  default_provider: b\n",
        );
        let picks: Vec<_> = (0..4)
            .map(|_| r.route("m").unwrap().provider.name().to_owned())
            .collect();
        assert_eq!(picks, ["a", "b", "a", "b"]);
        let other = r.route("unlisted").unwrap();
        assert_eq!(
            (
                other.label,
                other.provider.name(),
                other.upstream_model.as_ref()
            ),
            ("other", "b", "unlisted")
        );
        assert_eq!(r.label("m"), "m");
        assert_eq!(r.label("zzz"), OTHER_MODEL);
    }

    #[tokio::test]
    async fn unknown_models_are_404_without_a_default() {
        let r = router(
            "providers:\n  - {name: a, type: mock, models: [m]}\nmodels:\n  - name: alias\n    deployments: [{provider: a, model: m}]\n",
        );
        assert_eq!(
            r.route("nope").err().map(|e| e.status().as_u16()),
            Some(404)
        );
        assert_eq!(r.route("alias").unwrap().upstream_model, "m");
        assert_eq!(r.model_names(), ["alias", "m"]);
    }
}
