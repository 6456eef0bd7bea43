//! Routing and resilience: client model name → model group → deployments in strategy order;
//! the attempt loop with retries, fallbacks, circuit breakers and bulkheads lives in `attempt`.
//! Names configured nowhere go to `routing.default_provider` unchanged, when one is set.

pub mod attempt;
pub mod breaker;
pub mod bulkhead;
pub mod group;
pub mod health;
pub mod quota;
pub mod retry;
pub mod state;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use bulkhead::Bulkhead;
pub use group::{Deployment, Group, Limit};
use state::DeploymentState;

use crate::config::schema::{AliasConfig, DeploymentApi, RoutingConfig};
use crate::config::{Config, GroupSpec, pattern};
use crate::error::GatewayError;
use crate::providers::Provider;
use crate::providers::via_responses::ViaResponses;

/// Metric label for model names that are not configured (keeps label cardinality bounded).
pub const OTHER_MODEL: &str = "other";
/// The model key of the default provider's state (all unconfigured names share it, so their
/// number cannot grow the state).
const DEFAULT_MODEL_KEY: &str = "*";

/// Where a client model name goes.
pub enum Target<'r> {
    /// A configured group.
    Group(&'r Group),
    /// The default provider, with the name unchanged.
    Default(&'r Deployment),
}

/// All model groups of one config generation, with what the attempt loop needs besides them:
/// the routing policy and the providers' bulkheads.
pub struct Router {
    groups: HashMap<String, Group>,
    order: Vec<String>,
    /// Second names (`models[].aliases`) → the group's name.
    aliases: HashMap<String, String>,
    /// The names `/v1/models` lists: exact group names and the aliases not hidden, in order.
    listed: Vec<String>,
    /// Pattern groups (`anthropic/*`): (literal prefix, group name).
    patterns: Vec<(String, String)>,
    default: Option<Deployment>,
    /// `routing:` of the config (retries, backoff, timeouts, fallbacks).
    pub routing: RoutingConfig,
    /// Bulkheads by provider name.
    bulkheads: HashMap<String, Bulkhead>,
}

/// What a new router can take over from the previous generation's.
pub struct Inputs<'a> {
    /// The validated config.
    pub config: &'a Config,
    /// Adapters, indexed like `RawConfig::providers`.
    pub providers: &'a [Arc<dyn Provider>],
    /// Health flags by provider name.
    pub health: &'a HashMap<String, Arc<AtomicBool>>,
    /// The previous generation's router, for state that must survive a reload.
    pub previous: Option<&'a Router>,
}

impl Router {
    /// Builds groups from the config, carrying deployment state (breakers, in-flight counts,
    /// latency averages) and concurrency limits over from `previous` by (provider, upstream model).
    pub fn new(inputs: &Inputs<'_>) -> Self {
        let specs = &inputs.config.groups;
        let mut groups = HashMap::with_capacity(specs.len());
        let mut order = Vec::with_capacity(specs.len());
        let mut names = Names::default();
        for spec in specs {
            let deployments = deployments(spec, inputs);
            let config = inputs
                .config
                .raw
                .models
                .iter()
                .find(|m| m.name == spec.name);
            let strategy = config.map(|m| m.strategy).unwrap_or_default();
            let context = config
                .map(|m| m.context_window_fallbacks.clone())
                .unwrap_or_default();
            names.add(&spec.name, config.map_or(&[], |m| m.aliases.as_slice()));
            order.push(spec.name.clone());
            groups.insert(
                spec.name.clone(),
                Group::new(
                    spec.name.clone(),
                    strategy,
                    deployments,
                    spec.fallbacks.clone(),
                    context,
                ),
            );
        }
        let default = inputs
            .config
            .raw
            .routing
            .default_provider
            .as_ref()
            .and_then(|name| {
                inputs
                    .config
                    .raw
                    .providers
                    .iter()
                    .position(|p| &p.name == name)
            })
            .and_then(|i| inputs.providers.get(i))
            .map(|provider| Deployment {
                provider: Arc::clone(provider),
                upstream_model: DEFAULT_MODEL_KEY.to_owned(),
                weight: 1,
                limit: None,
                quota: quota::Quota::default(),
                state: state_for(inputs, provider.name(), DEFAULT_MODEL_KEY),
            });
        Self {
            groups,
            order,
            aliases: names.aliases,
            listed: names.listed,
            patterns: names.patterns,
            default,
            routing: inputs.config.raw.routing.clone(),
            bulkheads: bulkheads(inputs.config, inputs.previous),
        }
    }

    /// The bulkhead of `provider`.
    pub fn bulkhead(&self, provider: &str) -> Option<&Bulkhead> {
        self.bulkheads.get(provider)
    }

    /// Where `model` goes: its group (by name, alias, or the most specific pattern), else the
    /// default provider, else 404.
    pub fn resolve(&self, model: &str) -> Result<Target<'_>, GatewayError> {
        match (self.matching(model), &self.default) {
            (Some(group), _) if !group.deployments.is_empty() => Ok(Target::Group(group)),
            (_, Some(default)) => Ok(Target::Default(default)),
            _ => Err(GatewayError::ModelNotFound(model.to_owned())),
        }
    }

    /// The group serving `model`: exact names and aliases first, then the longest pattern.
    fn matching(&self, model: &str) -> Option<&Group> {
        self.group(model).or_else(|| {
            let prefixes = self.patterns.iter().map(|(prefix, _)| prefix.as_str());
            let (_, name) = &self.patterns[pattern::most_specific(prefixes, model)?];
            self.groups.get(name)
        })
    }

    /// The names `/v1/models` lists, in config order: model names and aliases that are not
    /// hidden (patterns are routes, not models).
    pub fn model_names(&self) -> &[String] {
        &self.listed
    }

    /// Every group's name, in config order (patterns included).
    pub fn group_names(&self) -> &[String] {
        &self.order
    }

    /// The group for a configured name or alias (patterns do not count: `GET /v1/models/x`
    /// answers for configured names only).
    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.get(name).or_else(|| {
            self.aliases
                .get(name)
                .and_then(|target| self.groups.get(target))
        })
    }

    /// The label metrics use for a client model name: its group's name (a pattern's as written,
    /// so label values stay bounded by the config), else `other`.
    pub fn label<'a>(&'a self, model: &str) -> &'a str {
        self.matching(model)
            .map_or(OTHER_MODEL, |g| g.name.as_str())
    }

    /// Every deployment's state, for reuse by the next generation.
    fn state(&self, provider: &str, model: &str) -> Option<&Arc<DeploymentState>> {
        let in_groups = self.groups.values().flat_map(|g| &g.deployments);
        in_groups
            .chain(&self.default)
            .find(|d| d.provider.name() == provider && d.upstream_model == model)
            .map(|d| &d.state)
    }

    /// A deployment's concurrency limit with `size` slots, when one exists.
    fn limit(&self, provider: &str, model: &str, size: usize) -> Option<Limit> {
        let in_groups = self.groups.values().flat_map(|g| &g.deployments);
        in_groups
            .filter(|d| d.provider.name() == provider && d.upstream_model == model)
            .find_map(|d| d.limit.clone().filter(|l| l.size == size))
    }
}

/// The names that reach groups besides their own, gathered while the groups are built.
#[derive(Default)]
struct Names {
    aliases: HashMap<String, String>,
    listed: Vec<String>,
    patterns: Vec<(String, String)>,
}

impl Names {
    fn add(&mut self, group: &str, aliases: &[AliasConfig]) {
        match pattern::prefix(group) {
            Some(prefix) => self.patterns.push((prefix.to_owned(), group.to_owned())),
            None => self.listed.push(group.to_owned()),
        }
        for alias in aliases {
            self.aliases
                .insert(alias.name().to_owned(), group.to_owned());
            if !alias.hidden() {
                self.listed.push(alias.name().to_owned());
            }
        }
    }
}

fn deployments(spec: &GroupSpec, inputs: &Inputs<'_>) -> Vec<Deployment> {
    let configured = inputs
        .config
        .raw
        .models
        .iter()
        .find(|m| m.name == spec.name);
    spec.deployments
        .iter()
        .enumerate()
        .filter_map(|(j, d)| {
            let provider = inputs.providers.get(d.provider)?;
            let config = configured.and_then(|m| m.deployments.get(j));
            let max = config.and_then(|c| c.max_concurrency);
            let quota = config.map_or_else(quota::Quota::default, |c| quota::Quota {
                rpm: c.rpm.map(u64::from),
                tpm: c.tpm,
            });
            let limit = max.map(|size| {
                inputs
                    .previous
                    .and_then(|prev| prev.limit(provider.name(), &d.upstream_model, size))
                    .unwrap_or_else(|| Limit::new(size))
            });
            let state = state_for(inputs, provider.name(), &d.upstream_model);
            let provider = match d.api {
                DeploymentApi::Chat => Arc::clone(provider),
                DeploymentApi::Responses => Arc::new(ViaResponses::new(Arc::clone(provider))),
            };
            Some(Deployment {
                provider,
                upstream_model: d.upstream_model.clone(),
                weight: d.weight,
                limit,
                quota,
                state,
            })
        })
        .collect()
}

/// One bulkhead per provider; the same size keeps the same slots (and their holders).
fn bulkheads(config: &Config, previous: Option<&Router>) -> HashMap<String, Bulkhead> {
    config
        .raw
        .providers
        .iter()
        .map(|p| {
            let bulkhead = previous
                .and_then(|prev| prev.bulkheads.get(&p.name))
                .filter(|b| b.size() == p.max_concurrency)
                .map_or_else(
                    || Bulkhead::new(&p.name, p.max_concurrency, p.queue_timeout),
                    |b| b.with_queue_timeout(p.queue_timeout),
                );
            (p.name.clone(), bulkhead)
        })
        .collect()
}

/// The previous generation's state for the deployment when compatible, else a fresh one.
fn state_for(inputs: &Inputs<'_>, provider: &str, model: &str) -> Arc<DeploymentState> {
    let breaker = &inputs.config.raw.routing.circuit_breaker;
    inputs
        .previous
        .and_then(|prev| prev.state(provider, model))
        .filter(|s| s.compatible(breaker))
        .cloned()
        .unwrap_or_else(|| {
            let healthy = inputs
                .health
                .get(provider)
                .cloned()
                .unwrap_or_else(|| Arc::new(AtomicBool::new(true)));
            Arc::new(DeploymentState::new(breaker, provider, model, healthy))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;

    fn router(text: &str, previous: Option<&Router>) -> Router {
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
        Router::new(&Inputs {
            config: &cfg,
            providers: &providers,
            health: &HashMap::new(),
            previous,
        })
    }

    #[test]
    fn resolves_groups_and_the_default() {
        let r = router(
            "providers:\n  - {name: a, type: mock, models: [m]}\n  - {name: b, type: mock, models: [m]}\nrouting:\n  default_provider: b\n",
            None,
        );
        assert!(matches!(r.resolve("m"), Ok(Target::Group(g)) if g.deployments.len() == 2));
        assert!(
            matches!(r.resolve("unlisted"), Ok(Target::Default(d)) if d.provider.name() == "b")
        );
        assert_eq!(r.label("m"), "m");
        assert_eq!(r.label("zzz"), OTHER_MODEL);
        let r = router("providers:\n  - {name: a, type: mock, models: [m]}\n", None);
        assert_eq!(
            r.resolve("nope").err().map(|e| e.status().as_u16()),
            Some(404)
        );
        assert_eq!(r.model_names(), ["m"]);
    }

    #[test]
    fn patterns_and_aliases_route_with_exact_names_first() {
        let r = router(
            "providers:\n  - {name: a, type: mock}\n  - {name: b, type: mock}\nmodels:\n  - name: '*'\n    deployments: [{provider: a, model: 'openai/*'}]\n  - name: anthropic/*\n    deployments: [{provider: b}]\n  - name: anthropic/claude-pinned\n    deployments: [{provider: a, model: pinned}]\n    aliases: [claude, {name: old-claude, hidden: true}]\n",
            None,
        );
        let cases = [
            ("gpt-4o", "*", "openai/gpt-4o"),
            ("anthropic/claude-3", "anthropic/*", "claude-3"),
            (
                "anthropic/claude-pinned",
                "anthropic/claude-pinned",
                "pinned",
            ),
            ("claude", "anthropic/claude-pinned", "pinned"),
            ("old-claude", "anthropic/claude-pinned", "pinned"),
        ];
        for (model, group, upstream) in cases {
            let Ok(Target::Group(g)) = r.resolve(model) else {
                panic!("{model}")
            };
            assert_eq!(g.name, group, "{model}");
            assert_eq!(g.upstream(&g.deployments[0], model), upstream, "{model}");
            assert_eq!(r.label(model), group, "{model}");
        }
        assert_eq!(r.model_names(), ["anthropic/claude-pinned", "claude"]);
        assert!(r.group("old-claude").is_some() && r.group("gpt-4o").is_none());
    }

    #[test]
    fn state_survives_a_reload_of_the_same_deployment() {
        let text = "providers:\n  - {name: a, type: mock, models: [m, n]}\n";
        let first = router(text, None);
        let Ok(Target::Group(g)) = first.resolve("m") else {
            panic!()
        };
        g.deployments[0]
            .state
            .observe(std::time::Duration::from_millis(7));
        let second = router(&text.replace(", n]", "]"), Some(&first));
        let Ok(Target::Group(g2)) = second.resolve("m") else {
            panic!()
        };
        assert!(Arc::ptr_eq(
            &g.deployments[0].state,
            &g2.deployments[0].state
        ));
        let changed = router(
            &format!("{text}routing:\n  circuit_breaker: {{failure_threshold: 9}}\n"),
            Some(&second),
        );
        let Ok(Target::Group(g3)) = changed.resolve("m") else {
            panic!()
        };
        assert!(
            !Arc::ptr_eq(&g2.deployments[0].state, &g3.deployments[0].state),
            "new breaker settings, new breaker"
        );
    }
}
