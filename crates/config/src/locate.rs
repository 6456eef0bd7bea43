//! Finds the line of a config value from its field path (`models[0].deployments[1].provider`), so
//! errors found after parsing (cross-references, conflicts) still name a line. It re-reads the
//! YAML with a seed that walks the path and fails at the target node; serde_yaml stamps that
//! failure with the node's position.

use std::fmt;

use serde::Deserializer;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// A map key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// A field path such as `providers[0].api_key`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldPath(pub Vec<Seg>);

impl FieldPath {
    /// The path of a top-level key.
    pub fn root(key: &str) -> Self {
        Self(vec![Seg::Key(key.to_owned())])
    }

    /// This path extended by a map key.
    pub fn key(&self, key: &str) -> Self {
        let mut segs = self.0.clone();
        segs.push(Seg::Key(key.to_owned()));
        Self(segs)
    }

    /// This path extended by a sequence index.
    pub fn index(&self, index: usize) -> Self {
        let mut segs = self.0.clone();
        segs.push(Seg::Index(index));
        Self(segs)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if i == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

const FOUND: &str = "\u{0}located";

/// The 1-based line of the node at `path` in `yaml`, or `None` when the path is absent.
pub fn line_of(yaml: &str, path: &FieldPath) -> Option<usize> {
    let de = serde_yaml::Deserializer::from_str(yaml);
    match (Locate { path: &path.0 }).deserialize(de) {
        Err(e) if e.to_string().contains(FOUND) => e.location().map(|l| l.line()),
        _ => None,
    }
}

struct Locate<'p> {
    path: &'p [Seg],
}

impl<'de> DeserializeSeed<'de> for Locate<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Locate<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any node")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((Seg::Key(want), rest)) = self.path.split_first() else {
            return Err(de::Error::custom(FOUND));
        };
        while let Some(key) = map.next_key::<serde_yaml::Value>()? {
            if key.as_str() == Some(want.as_str()) {
                return map.next_value_seed(Locate { path: rest });
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some((Seg::Index(want), rest)) = self.path.split_first() else {
            return Err(de::Error::custom(FOUND));
        };
        for _ in 0..*want {
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(());
            }
        }
        seq.next_element_seed(Locate { path: rest }).map(|_| ())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.scalar()
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.scalar()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.scalar()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.scalar()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.scalar()
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.scalar()
    }
}

impl Locate<'_> {
    fn scalar<E: de::Error>(&self) -> Result<(), E> {
        if self.path.is_empty() {
            Err(E::custom(FOUND))
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
server:
  port: 8080
providers:
  - name: a
    models: [x, y]
  - name: b
    base_url: http://b
models:
  - name: m
    deployments:
      - provider: a
      - provider: zzz
";

    #[test]
    fn finds_lines() {
        let p = |segs: Vec<Seg>| FieldPath(segs);
        let k = |s: &str| Seg::Key(s.into());
        let cases = [
            (p(vec![k("server"), k("port")]), Some(2)),
            (
                p(vec![k("providers"), Seg::Index(1), k("base_url")]),
                Some(7),
            ),
            (p(vec![k("providers"), Seg::Index(1)]), Some(6)),
            (
                p(vec![
                    k("providers"),
                    Seg::Index(0),
                    k("models"),
                    Seg::Index(1),
                ]),
                Some(5),
            ),
            (
                p(vec![
                    k("models"),
                    Seg::Index(0),
                    k("deployments"),
                    Seg::Index(1),
                    k("provider"),
                ]),
                Some(12),
            ),
            (p(vec![k("routing")]), None),
            (p(vec![k("providers"), Seg::Index(9)]), None),
        ];
        for (path, want) in cases {
            assert_eq!(line_of(DOC, &path), want, "{path}");
        }
    }

    #[test]
    fn displays_paths() {
        let path = FieldPath::root("models")
            .index(0)
            .key("deployments")
            .index(2)
            .key("provider");
        assert_eq!(path.to_string(), "models[0].deployments[2].provider");
    }
}
