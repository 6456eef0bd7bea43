//! Checks of the `routing` section: the default provider, the "something to serve" rule, and
//! the circuit-breaker settings.

use std::collections::BTreeMap;

use super::GroupSpec;
use crate::schema::{self, RawConfig};
use crate::{ConfigError, FieldPath};

/// The default provider must exist, and without one there must be at least one group, or the
/// gateway would start with nothing it can answer.
pub(super) fn routing(
    raw: &RawConfig,
    providers: &BTreeMap<String, usize>,
    groups: &[GroupSpec],
) -> Result<(), ConfigError> {
    if let Some(name) = &raw.routing.default_provider
        && !providers.contains_key(name)
    {
        return Err(ConfigError::at(
            &FieldPath::root("routing").key("default_provider"),
            format!("unknown provider `{name}`"),
        ));
    }
    if groups.is_empty() && raw.routing.default_provider.is_none() {
        return Err(ConfigError::whole(
            "no models to serve: list models under providers[].models or models[], or set routing.default_provider",
        ));
    }
    Ok(())
}

/// The breaker library asserts on these (a panic is an abort in release builds), so they are
/// checked here.
pub(super) fn breaker(b: &schema::BreakerConfig) -> Result<(), ConfigError> {
    let at = FieldPath::root("routing").key("circuit_breaker");
    if !(b.failure_ratio > 0.0 && b.failure_ratio <= 1.0) {
        return Err(ConfigError::at(
            &at.key("failure_ratio"),
            "must be greater than 0 and at most 1",
        ));
    }
    if b.window < crate::routing::MIN_BREAKER_WINDOW {
        return Err(ConfigError::at(&at.key("window"), "must be at least 1s"));
    }
    if b.failure_threshold == 0 {
        return Err(ConfigError::at(
            &at.key("failure_threshold"),
            "must be at least 1",
        ));
    }
    if b.open_for.is_zero() {
        return Err(ConfigError::at(
            &at.key("open_for"),
            "must be greater than zero",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_support::assert_rejects;

    #[test]
    fn rejects_bad_routing() {
        assert_rejects(&[
            (
                "providers:\n  - name: p\n    type: mock\n",
                "",
                "no models to serve",
            ),
            (
                "routing:\n  default_provider: q\n",
                "routing.default_provider",
                "unknown provider",
            ),
            (
                "routing:\n  circuit_breaker: {failure_ratio: 1.5}\n",
                "routing.circuit_breaker.failure_ratio",
                "at most 1",
            ),
            (
                "routing:\n  circuit_breaker: {window: 500ms}\n",
                "routing.circuit_breaker.window",
                "at least 1s",
            ),
        ]);
    }
}
