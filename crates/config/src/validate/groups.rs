//! Derives model groups from `models[]` and `providers[].models`, checking names, deployments
//! and fallbacks along the way.

use std::collections::{BTreeMap, HashSet};

use super::{DeploymentSpec, GroupSpec};
use crate::schema::{self, DeploymentApi, RawConfig};
use crate::{ConfigError, FieldPath, pattern};

/// Builds the groups in config order: `models[]` first, then names that only appear under
/// `providers[].models`. Fallbacks are checked last because they may name a group that only
/// exists once provider models are merged in.
pub(super) fn groups(
    raw: &RawConfig,
    providers: &BTreeMap<String, usize>,
) -> Result<Vec<GroupSpec>, ConfigError> {
    let mut groups = declared(&raw.models, providers, &raw.providers)?;
    merge_provider_models(&mut groups, &raw.providers)?;
    aliases(&raw.models, &groups)?;
    fallbacks(&raw.models, &groups)?;
    Ok(groups)
}

/// The groups spelled out under `models[]`.
fn declared(
    models: &[schema::ModelConfig],
    providers: &BTreeMap<String, usize>,
    configs: &[schema::ProviderConfig],
) -> Result<Vec<GroupSpec>, ConfigError> {
    let mut groups = Vec::with_capacity(models.len());
    let mut seen = HashSet::new();
    for (i, m) in models.iter().enumerate() {
        let at = FieldPath::root("models").index(i);
        if m.name.trim().is_empty() {
            return Err(ConfigError::at(&at.key("name"), "must not be empty"));
        }
        pattern::check(&m.name).map_err(|e| ConfigError::at(&at.key("name"), e))?;
        if !seen.insert(m.name.as_str()) {
            return Err(ConfigError::at(
                &at.key("name"),
                format!("duplicate model name `{}`", m.name),
            ));
        }
        if m.deployments.is_empty() {
            return Err(ConfigError::at(
                &at.key("deployments"),
                "needs at least one deployment",
            ));
        }
        groups.push(GroupSpec {
            name: m.name.clone(),
            deployments: deployments(m, providers, configs, &at)?,
            fallbacks: m.fallbacks.clone(),
        });
    }
    Ok(groups)
}

/// Resolves each deployment's provider by name; an omitted upstream model means the group name,
/// or in a pattern group (`anthropic/*`) the part of the client's name the `*` matched.
/// A Vertex AI deployment's `publisher` goes into its upstream model as Vertex names models
/// (`publishers/{publisher}/models/{model}`), which its adapter reads.
fn deployments(
    m: &schema::ModelConfig,
    providers: &BTreeMap<String, usize>,
    configs: &[schema::ProviderConfig],
    at: &FieldPath,
) -> Result<Vec<DeploymentSpec>, ConfigError> {
    let mut deployments = Vec::with_capacity(m.deployments.len());
    let default_upstream = match pattern::prefix(&m.name) {
        Some(_) => pattern::WILDCARD.to_string(),
        None => m.name.clone(),
    };
    for (j, d) in m.deployments.iter().enumerate() {
        let at = at.key("deployments").index(j);
        let provider = *providers.get(&d.provider).ok_or_else(|| {
            ConfigError::at(
                &at.key("provider"),
                format!("unknown provider `{}`", d.provider),
            )
        })?;
        if d.weight == 0 {
            return Err(ConfigError::at(&at.key("weight"), "must be at least 1"));
        }
        let mut upstream_model = d.model.clone().unwrap_or_else(|| default_upstream.clone());
        if let Some(publisher) = d.publisher {
            let vertex = configs
                .get(provider)
                .is_some_and(|p| p.kind() == schema::ProviderKind::Vertex);
            if !vertex {
                return Err(ConfigError::at(
                    &at.key("publisher"),
                    "only applies to deployments on a `vertex` provider",
                ));
            }
            upstream_model = format!("publishers/{}/models/{upstream_model}", publisher.as_str());
        }
        let kind = configs.get(provider).map(schema::ProviderConfig::kind);
        let speaks_openai =
            kind.is_some_and(|k| k.info().openai_style && k != schema::ProviderKind::Mock);
        if d.api == DeploymentApi::Responses && !speaks_openai {
            return Err(ConfigError::at(
                &at.key("api"),
                "`responses` needs a provider that speaks OpenAI's API (openai, azure, vllm, openai_compatible)",
            ));
        }
        deployments.push(DeploymentSpec {
            provider,
            upstream_model,
            weight: d.weight,
            api: d.api,
        });
    }
    Ok(deployments)
}

/// `providers[].models` serve names 1:1; a name listed twice is one group with two deployments.
fn merge_provider_models(
    groups: &mut Vec<GroupSpec>,
    providers: &[schema::ProviderConfig],
) -> Result<(), ConfigError> {
    for (i, p) in providers.iter().enumerate() {
        for (j, model) in p.models.iter().enumerate() {
            pattern::check(model).map_err(|e| {
                ConfigError::at(
                    &FieldPath::root("providers").index(i).key("models").index(j),
                    e,
                )
            })?;
            let deployment = DeploymentSpec {
                provider: i,
                upstream_model: model.clone(),
                weight: 1,
                api: DeploymentApi::Chat,
            };
            match groups.iter_mut().find(|g| &g.name == model) {
                Some(group) => group.deployments.push(deployment),
                None => groups.push(GroupSpec {
                    name: model.clone(),
                    deployments: vec![deployment],
                    fallbacks: Vec::new(),
                }),
            }
        }
    }
    Ok(())
}

/// Aliases are exact names that no group and no other alias already has.
fn aliases(models: &[schema::ModelConfig], groups: &[GroupSpec]) -> Result<(), ConfigError> {
    let mut seen = HashSet::new();
    for (i, m) in models.iter().enumerate() {
        for (j, alias) in m.aliases.iter().enumerate() {
            let at = FieldPath::root("models").index(i).key("aliases").index(j);
            let name = alias.name();
            if name.trim().is_empty() || pattern::prefix(name).is_some() {
                return Err(ConfigError::at(
                    &at,
                    "an alias is an exact, non-empty model name (no `*`)",
                ));
            }
            if groups.iter().any(|g| g.name == name) || !seen.insert(name) {
                return Err(ConfigError::at(
                    &at,
                    format!("`{name}` already names a model or another alias"),
                ));
            }
        }
    }
    Ok(())
}

/// Whether a client sending `name` reaches a group: its own name, an alias, or a pattern.
fn routable(name: &str, models: &[schema::ModelConfig], groups: &[GroupSpec]) -> bool {
    groups.iter().any(|g| {
        g.name == name
            || pattern::prefix(&g.name).is_some_and(|p| pattern::capture(p, name).is_some())
    }) || models
        .iter()
        .any(|m| m.aliases.iter().any(|a| a.name() == name))
}

fn fallbacks(models: &[schema::ModelConfig], groups: &[GroupSpec]) -> Result<(), ConfigError> {
    for (i, m) in models.iter().enumerate() {
        for (j, fallback) in m.fallbacks.iter().enumerate() {
            let at = FieldPath::root("models").index(i).key("fallbacks").index(j);
            if fallback == &m.name {
                return Err(ConfigError::at(&at, "a model cannot fall back to itself"));
            }
            if !routable(fallback, models, groups) {
                return Err(ConfigError::at(&at, format!("unknown model `{fallback}`")));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_support::assert_rejects;
    use crate::parse;

    #[test]
    fn rejects_bad_models() {
        assert_rejects(&[
            (
                "models:\n  - name: x\n    deployments: []\n",
                "models[0].deployments",
                "at least one",
            ),
            (
                "models:\n  - name: m\n    deployments: [{provider: p}]\n    fallbacks: [zz]\n",
                "models[0].fallbacks[0]",
                "unknown model",
            ),
            (
                "models:\n  - name: n\n    deployments: [{provider: p, weight: 0}]\n",
                "models[0].deployments[0].weight",
                "at least 1",
            ),
            (
                "models:\n  - name: 'a*b'\n    deployments: [{provider: p}]\n",
                "models[0].name",
                "may only end",
            ),
            (
                "models:\n  - name: n\n    deployments: [{provider: p}]\n    aliases: [m]\n",
                "models[0].aliases[0]",
                "already names",
            ),
            (
                "models:\n  - name: n\n    deployments: [{provider: p}]\n    aliases: ['x*']\n",
                "models[0].aliases[0]",
                "exact",
            ),
            (
                "models:\n  - name: 'openai/*'\n    deployments: [{provider: p}]\n    fallbacks: [gpt]\n",
                "models[0].fallbacks[0]",
                "unknown model",
            ),
        ]);
    }

    #[test]
    fn same_model_on_two_providers_is_one_group() {
        let text = "providers:\n  - {name: a, type: mock, models: [m]}\n  - {name: b, type: mock, models: [m, n]}\n";
        let cfg = parse(text, None).unwrap();
        let names: Vec<_> = cfg
            .groups
            .iter()
            .map(|g| (g.name.as_str(), g.deployments.len()))
            .collect();
        assert_eq!(names, [("m", 2), ("n", 1)]);
    }
}
