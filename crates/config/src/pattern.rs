//! Model-name patterns: a model group named `*` serves every name, one named `anthropic/*` every
//! name starting `anthropic/`. The part the `*` matched (the *remainder*) replaces the `*` in a
//! deployment's upstream model, so `anthropic/*` → `{provider: anthropic, model: "*"}` sends
//! `anthropic/claude-sonnet-4-5` upstream as `claude-sonnet-4-5`. Exact names beat patterns and
//! the longest prefix wins, so the most specific route is the one taken.

/// The wildcard character of model-name patterns.
pub const WILDCARD: char = '*';

/// The literal prefix of a pattern name (`"anthropic/"` of `anthropic/*`, `""` of `*`), or
/// `None` for an exact name. Only a trailing `*` makes a pattern.
pub fn prefix(name: &str) -> Option<&str> {
    name.strip_suffix(WILDCARD)
}

/// Why `name` is not a usable model group name, if it is not: a `*` anywhere but at the end.
pub fn check(name: &str) -> Result<(), String> {
    let body = prefix(name).unwrap_or(name);
    if body.contains(WILDCARD) {
        return Err(format!(
            "`{name}`: `*` may only end a model name (`*`, `openai/*`)"
        ));
    }
    Ok(())
}

/// The remainder of `model` matched by the pattern with `prefix`, when it matches.
pub fn capture<'m>(prefix: &str, model: &'m str) -> Option<&'m str> {
    model.strip_prefix(prefix)
}

/// The upstream model for a deployment whose configured model is `upstream`, reached through a
/// pattern that captured `rest`: the first `*` replaced by `rest` (a model without `*` is sent
/// as configured: every matching name goes to that one model).
pub fn substitute(upstream: &str, rest: &str) -> String {
    match upstream.split_once(WILDCARD) {
        Some((head, tail)) => [head, rest, tail].concat(),
        None => upstream.to_owned(),
    }
}

/// Of `patterns` (prefixes), the index of the longest one `model` starts with.
pub fn most_specific<'p>(
    patterns: impl IntoIterator<Item = &'p str>,
    model: &str,
) -> Option<usize> {
    patterns
        .into_iter()
        .enumerate()
        .filter(|(_, p)| model.starts_with(p))
        .max_by_key(|(_, p)| p.len())
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_and_checks() {
        let cases = [
            ("*", Some(""), true),
            ("anthropic/*", Some("anthropic/"), true),
            ("gpt-4o*", Some("gpt-4o"), true),
            ("gpt-4o", None, true),
            ("a*b", None, false),
            ("*/*", Some("*/"), false),
            ("**", Some("*"), false),
        ];
        for (name, want_prefix, ok) in cases {
            assert_eq!(prefix(name), want_prefix, "{name}");
            assert_eq!(check(name).is_ok(), ok, "{name}");
        }
    }

    #[test]
    fn substitutes_the_remainder() {
        let cases = [
            ("*", "claude-3", "claude-3"),
            ("openai/*", "gpt-4o", "openai/gpt-4o"),
            ("gpt-4o-mini", "anything", "gpt-4o-mini"),
            ("*-latest", "claude", "claude-latest"),
        ];
        for (upstream, rest, want) in cases {
            assert_eq!(substitute(upstream, rest), want, "{upstream}");
        }
    }

    #[test]
    fn longest_prefix_wins() {
        let patterns = ["", "anthropic/", "anthropic/claude-"];
        let cases = [
            ("gpt-4o", Some(0)),
            ("anthropic/x", Some(1)),
            ("anthropic/claude-3", Some(2)),
        ];
        for (model, want) in cases {
            assert_eq!(most_specific(patterns, model), want, "{model}");
        }
        assert_eq!(most_specific(["openai/"], "gpt"), None);
        assert_eq!(capture("anthropic/", "anthropic/claude"), Some("claude"));
        assert_eq!(capture("anthropic/", "openai/gpt"), None);
    }
}
