//! Human-friendly units in config values: durations (`500ms`, `5s`, `1m`, `30d`) and byte sizes
//! (`10MiB`, `512KB`), parsed into std types with serde helpers.

use std::time::Duration;

use serde::{Deserializer, Serializer};

const SECS_PER_MINUTE: u64 = 60;
const SECS_PER_HOUR: u64 = 60 * SECS_PER_MINUTE;
const SECS_PER_DAY: u64 = 24 * SECS_PER_HOUR;
/// Longest duration a config value may name: ten years, past any timeout or budget period, and
/// far from where `Instant + duration` overflows (a panic on every request that used it).
pub const MAX_DURATION: Duration = Duration::from_secs(3650 * SECS_PER_DAY);

/// Parses a duration such as `250ms`, `5s`, `1m`, `2h`, `30d`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid duration `{text}`: expected e.g. `500ms`, `5s`, `1m`"))?;
    let scale = match unit.trim() {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" => SECS_PER_MINUTE as f64,
        "h" => SECS_PER_HOUR as f64,
        "d" => SECS_PER_DAY as f64,
        other => {
            return Err(format!(
                "invalid duration unit `{other}` in `{text}`: use ms, s, m, h or d"
            ));
        }
    };
    let duration = Duration::try_from_secs_f64(value * scale)
        .map_err(|e| format!("invalid duration `{text}`: {e}"))?;
    if duration > MAX_DURATION {
        return Err(format!(
            "invalid duration `{text}`: at most {}d",
            MAX_DURATION.as_secs() / SECS_PER_DAY
        ));
    }
    Ok(duration)
}

/// Formats a duration the way config files write it (`1500ms`, `5s`), for echoing config back.
pub fn format_duration(d: Duration) -> String {
    if d.subsec_millis() != 0 || d.as_secs() == 0 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs())
    }
}

/// Parses a byte size such as `10MiB`, `512KB`, `1GiB` or a bare number of bytes.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: u64 = number
        .parse()
        .map_err(|_| format!("invalid size `{text}`: expected e.g. `10MiB`"))?;
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KB" | "kB" => 1_000,
        "KiB" => 1 << 10,
        "MB" => 1_000_000,
        "MiB" => 1 << 20,
        "GB" => 1_000_000_000,
        "GiB" => 1 << 30,
        other => return Err(format!("invalid size unit `{other}` in `{text}`")),
    };
    value
        .checked_mul(scale)
        .ok_or_else(|| format!("size `{text}` is too large"))
}

/// A config scalar as written: text or a non-negative integer.
pub enum Scalar<'a> {
    /// A string value.
    Text(&'a str),
    /// An integer value.
    Int(u64),
}

/// Visits one scalar and converts it with a parser, so that serde_yaml reports a parse error at
/// the scalar's own line (an error raised after deserializing would point at the parent map).
struct ScalarVisitor<F> {
    expecting: &'static str,
    parse: F,
}

impl<'de, T, F> serde::de::Visitor<'de> for ScalarVisitor<F>
where
    F: FnOnce(Scalar<'_>) -> Result<T, String>,
{
    type Value = T;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
        (self.parse)(Scalar::Text(v)).map_err(E::custom)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<T, E> {
        (self.parse)(Scalar::Int(v)).map_err(E::custom)
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<T, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(E::custom(format!("expected {}, got {v}", self.expecting))),
        }
    }
}

/// Deserializes one scalar (text or integer) through `parse`, keeping the scalar's location.
pub fn deserialize_scalar<'de, D, T>(
    d: D,
    expecting: &'static str,
    parse: impl FnOnce(Scalar<'_>) -> Result<T, String>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    d.deserialize_any(ScalarVisitor { expecting, parse })
}

/// Serde helpers for `Duration` fields.
pub mod duration {
    use super::*;

    /// Parses a duration scalar: `5s`-style text or a bare number of seconds.
    pub fn from_scalar(s: Scalar<'_>) -> Result<Duration, String> {
        match s {
            Scalar::Int(secs) => Ok(Duration::from_secs(secs)),
            Scalar::Text(text) => parse_duration(text),
        }
    }

    /// Deserializes a duration from `5s`-style text or a bare number of seconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        deserialize_scalar(d, "a duration like `5s`", from_scalar)
    }

    /// Serializes a duration as config text.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(*d))
    }
}

/// Serde helpers for optional `Duration` fields.
pub mod opt_duration {
    use super::*;

    /// Deserializes an optional duration.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        super::duration::deserialize(d).map(Some)
    }

    /// Serializes an optional duration as config text or null.
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&format_duration(*d)),
            None => s.serialize_none(),
        }
    }
}

/// Serde helpers for byte-size fields.
pub mod bytes {
    use super::*;

    /// Deserializes a byte size from `10MiB`-style text or a bare number of bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        deserialize_scalar(d, "a size like `10MiB`", |s| match s {
            Scalar::Int(n) => Ok(n),
            Scalar::Text(text) => parse_bytes(text),
        })
    }

    /// Serializes a byte size as a plain number.
    pub fn serialize<S: Serializer>(n: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(*n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let cases = [
            ("500ms", Some(Duration::from_millis(500))),
            ("5s", Some(Duration::from_secs(5))),
            ("1m", Some(Duration::from_secs(60))),
            ("2h", Some(Duration::from_secs(7200))),
            ("30d", Some(Duration::from_secs(30 * 86_400))),
            ("1.5s", Some(Duration::from_millis(1500))),
            ("7", Some(Duration::from_secs(7))),
            ("", None),
            ("5 parsecs", None),
            ("fast", None),
            ("-1s", None),
            ("3650d", Some(MAX_DURATION)),
            ("3651d", None),
            ("18000000000000000000s", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_duration(text).ok(), want, "{text}");
        }
    }

    #[test]
    fn byte_sizes() {
        let cases = [
            ("10MiB", Some(10 << 20)),
            ("512KB", Some(512_000)),
            ("1GiB", Some(1 << 30)),
            ("42", Some(42)),
            ("10 MiB", Some(10 << 20)),
            ("10XB", None),
            ("MiB", None),
            ("99999999999999999999GiB", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_bytes(text).ok(), want, "{text}");
        }
    }

    #[test]
    fn formats_round_trip() {
        for d in [
            Duration::from_millis(250),
            Duration::from_secs(5),
            Duration::ZERO,
        ] {
            assert_eq!(parse_duration(&format_duration(d)).ok(), Some(d));
        }
    }
}
