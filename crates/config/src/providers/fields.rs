//! The field names of a settings struct, asked of its own `Deserialize` (which passes them to
//! `deserialize_struct`): the list of keys a type takes is never written twice.

use std::cell::Cell;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// The fields `T` deserializes (empty for anything that is not a struct).
pub fn of<T: for<'de> Deserialize<'de>>() -> &'static [&'static str] {
    let seen = Cell::new(None);
    let _ = T::deserialize(Probe(&seen));
    seen.get().unwrap_or(&[])
}

/// A deserializer that only notes the fields it is asked for, then stops.
struct Probe<'s>(&'s Cell<Option<&'static [&'static str]>>);

/// The probe's way of stopping.
#[derive(Debug)]
struct Stop;

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("field names probed")
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<M: fmt::Display>(_: M) -> Self {
        Self
    }
}

impl<'de> Deserializer<'de> for Probe<'_> {
    type Error = Stop;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
        Err(Stop)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Stop> {
        self.0.set(Some(fields));
        Err(Stop)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_fields_of_a_struct() {
        #[derive(Deserialize)]
        #[allow(dead_code, reason = "only its shape is read")]
        struct Settings {
            api_version: String,
            #[serde(rename = "beta")]
            flags: Vec<String>,
        }
        assert_eq!(of::<Settings>(), ["api_version", "beta"]);
        assert_eq!(of::<String>(), [] as [&str; 0]);
    }
}
