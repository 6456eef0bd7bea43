//! Values as LiteLLM reads them: PyYAML parses YAML 1.1, where `20_000` is a number and `yes`
//! a boolean, and a string `os.environ/NAME` is read from the environment. These helpers turn
//! such values into what our schema takes: numbers, booleans, and `${NAME}` expansions (with
//! `environment_variables:` as defaults).

use std::collections::BTreeMap;

use serde_yaml::Value;

/// LiteLLM's prefix of values read from the environment.
pub const ENV_PREFIX: &str = "os.environ/";

/// The environment a translation sees: `environment_variables:` as defaults, and whether a
/// variable is set in the process (a reference to an unset one with no default is dropped with
/// a warning, as LiteLLM reads it as nothing).
pub struct Env<'a> {
    /// `environment_variables:` of the file.
    pub defaults: BTreeMap<String, String>,
    /// Whether the process has the variable.
    pub is_set: &'a dyn Fn(&str) -> bool,
}

/// A value after `os.environ/` references were resolved to our syntax.
#[derive(Debug, PartialEq)]
pub enum Resolved {
    /// Text for our config (`${NAME}` expansions included).
    Text(String),
    /// An `os.environ/NAME` whose variable is unset and has no default.
    Unset(String),
}

impl Env<'_> {
    /// `value` as config text: strings with `os.environ/NAME` become `${NAME}` (or
    /// `${NAME:-default}`), numbers and booleans their text. `None` for maps, lists and null.
    pub fn text(&self, value: &Value) -> Option<Resolved> {
        let text = scalar_text(value)?;
        let Some(name) = text.trim().strip_prefix(ENV_PREFIX) else {
            return Some(Resolved::Text(escape(&text)));
        };
        let name = name.trim();
        match self.defaults.get(name) {
            Some(default) if !default.contains('}') => {
                Some(Resolved::Text(format!("${{{name}:-{default}}}")))
            }
            Some(default) if !(self.is_set)(name) => Some(Resolved::Text(escape(default))),
            _ if (self.is_set)(name) => Some(Resolved::Text(format!("${{{name}}}"))),
            _ => Some(Resolved::Unset(name.to_owned())),
        }
    }

    /// The value of a variable as the translation can know it now: the process's, else
    /// `environment_variables:`' (for settings that must be read while translating).
    pub fn now(&self, value: &Value) -> Option<String> {
        let text = scalar_text(value)?;
        match text.trim().strip_prefix(ENV_PREFIX) {
            Some(name) => std::env::var(name.trim())
                .ok()
                .or_else(|| self.defaults.get(name.trim()).cloned()),
            None => Some(text),
        }
    }
}

/// A literal from a LiteLLM file, escaped so our `${…}` expansion leaves it as it is.
fn escape(text: &str) -> String {
    if text.contains("${") {
        // Our expansion has no escape for `${`; such literals cannot be carried. They do not
        // occur in credentials or URLs, and `:-` defaults never hold a `}`.
        text.replace("${", "$ {")
    } else {
        text.to_owned()
    }
}

/// The text of a scalar: strings as they are, numbers and booleans printed.
pub fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A number as YAML 1.1 reads it: `20_000` and `"480"` included.
pub fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().replace('_', "").parse().ok(),
        _ => None,
    }
}

/// A non-negative whole number (`rpm`, `tpm`, counts); fractions are rounded down.
pub fn count(value: &Value) -> Option<u64> {
    number(value)
        .filter(|n| n.is_finite() && *n >= 0.0)
        .map(|n| n.floor() as u64)
}

/// A boolean as YAML 1.1 reads it (`True`, `yes`, `on`).
pub fn boolean(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "y" => Some(true),
            "false" | "no" | "off" | "n" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// Seconds (LiteLLM's timeouts are float seconds) as our duration text, in milliseconds so
/// fractions survive; at least one millisecond.
pub fn seconds(value: &Value) -> Option<String> {
    const MS_PER_SECOND: f64 = 1000.0;
    number(value)
        .filter(|n| n.is_finite() && *n > 0.0)
        .map(|n| format!("{}ms", ((n * MS_PER_SECOND).round() as u64).max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(set: &'static [&'static str]) -> Env<'static> {
        let is_set: &'static dyn Fn(&str) -> bool =
            Box::leak(Box::new(move |name: &str| set.contains(&name)));
        Env {
            defaults: BTreeMap::from([("REDIS_PORT".to_owned(), "6380".to_owned())]),
            is_set,
        }
    }

    #[test]
    fn environment_references_become_expansions() {
        let env = env(&["OPENAI_API_KEY"]);
        let s = |t: &str| Value::String(t.to_owned());
        let cases = [
            (
                s("os.environ/OPENAI_API_KEY"),
                Resolved::Text("${OPENAI_API_KEY}".into()),
            ),
            (
                s("os.environ/REDIS_PORT"),
                Resolved::Text("${REDIS_PORT:-6380}".into()),
            ),
            (s("os.environ/MISSING"), Resolved::Unset("MISSING".into())),
            (s("sk-literal"), Resolved::Text("sk-literal".into())),
            (s("a${b}"), Resolved::Text("a$ {b}".into())),
            (Value::from(300), Resolved::Text("300".into())),
            (Value::Bool(true), Resolved::Text("true".into())),
        ];
        for (value, want) in cases {
            assert_eq!(env.text(&value), Some(want), "{value:?}");
        }
        assert_eq!(env.text(&Value::Null), None);
    }

    #[test]
    fn yaml_1_1_scalars() {
        let s = |t: &str| Value::String(t.to_owned());
        assert_eq!(count(&s("20_000")), Some(20_000));
        assert_eq!(count(&Value::from(480)), Some(480));
        assert_eq!(count(&s("-1")), None);
        assert_eq!(count(&s("many")), None);
        assert_eq!(boolean(&s("True")), Some(true));
        assert_eq!(boolean(&s("off")), Some(false));
        assert_eq!(boolean(&s("maybe")), None);
        assert_eq!(seconds(&Value::from(300)), Some("300000ms".into()));
        assert_eq!(seconds(&Value::from(0.001)), Some("1ms".into()));
        assert_eq!(seconds(&Value::from(0.0001)), Some("1ms".into()));
        assert_eq!(seconds(&Value::from(0)), None);
    }
}
