//! Reading the presented credential (`auth::credentials::presented_key`) and comparing secrets
//! (`constant_time_eq`): arbitrary header values never panic; a value is taken as a key only in
//! the exact forms `Authorization: Bearer <key>` (or `bearer`) and `x-api-key: <key>`, and then
//! the key is exactly what was sent, without its surrounding whitespace.

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue};
use llm_sidecar::auth::credentials::{constant_time_eq, presented_key};
use proptest::prelude::*;

use crate::support::config;

/// The Anthropic clients' key header.
const X_API_KEY: &str = "x-api-key";
/// Longest generated header value.
const MAX_VALUE: usize = 48;
/// Longest secret compared (short, so that equal ones come up often).
const MAX_SECRET: usize = 4;
/// Most values given for one header name.
const MAX_REPEATS: usize = 3;

/// A header value as a client might send it: any bytes a header value can hold (visible ASCII,
/// tabs, spaces, and obs-text bytes `0x80..=0xFF`, which `to_str` refuses).
fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        3 => 0x20u8..0x7f,
        1 => Just(b'\t'),
        1 => 0x80u8..=0xff,
    ];
    prop::collection::vec(byte, 0..=MAX_VALUE)
}

/// A key: visible ASCII without spaces (what the gateway hands out and clients copy).
fn key() -> impl Strategy<Value = String> {
    "[!-~]{1,40}"
}

/// An `Authorization` value around `key`: the exact forms, and near misses that are not.
fn authorization(key: String) -> impl Strategy<Value = (String, bool)> {
    let forms: &[(&str, &str, bool)] = &[
        ("Bearer ", "", true),
        ("bearer ", "", true),
        ("Bearer  ", " ", true),
        ("Bearer \t", "\t", true),
        ("BEARER ", "", false),
        ("Bearer", "", false),
        ("Basic ", "", false),
        ("Token ", "", false),
        (" Bearer ", "", false),
        ("Bearer:", "", false),
        ("", "", false),
    ];
    prop::sample::select(forms)
        .prop_map(move |(prefix, suffix, exact)| (format!("{prefix}{key}{suffix}"), exact))
}

/// Headers holding each of `values` under `name`, in order.
fn headers(values: &[(&'static str, Vec<u8>)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in values {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            map.append(*name, value);
        }
    }
    map
}

/// What a key header holds, read the way the docs say: the first value of the header, as text,
/// whitespace around it cut.
fn first_text<'h>(map: &'h HeaderMap, name: &str) -> Option<&'h str> {
    map.get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim_matches([' ', '\t']))
}

proptest! {
    #![proptest_config(config())]

    /// Arbitrary values under both headers, repeated: never panics; a key it returns is
    /// non-empty, has no whitespace around it, and is exactly the first `Authorization` value
    /// after `Bearer `/`bearer `, or else exactly the first `x-api-key` value.
    #[test]
    fn any_header_values_give_an_exact_key_or_none(
        auth in prop::collection::vec(header_bytes(), 0..=MAX_REPEATS),
        api in prop::collection::vec(header_bytes(), 0..=MAX_REPEATS),
    ) {
        let values: Vec<(&'static str, Vec<u8>)> = auth
            .into_iter()
            .map(|v| (AUTHORIZATION.as_str(), v))
            .chain(api.into_iter().map(|v| (X_API_KEY, v)))
            .collect();
        let map = headers(&values);
        let bearer = map
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(|k| k.trim_matches([' ', '\t']));
        // A bearer value wins even when it is empty (then there is no key at all).
        let want = match bearer {
            Some(key) => Some(key),
            None => first_text(&map, X_API_KEY),
        }
        .filter(|k| !k.is_empty());
        let got = presented_key(&map);
        prop_assert_eq!(got, want);
        if let Some(key) = got {
            prop_assert!(!key.starts_with([' ', '\t']) && !key.ends_with([' ', '\t']));
        }
    }

    /// A key sent in an exact form is read back unchanged; a near miss of the `Authorization`
    /// form is not a key (and does not hide an `x-api-key`).
    #[test]
    fn exact_forms_are_keys_and_near_misses_are_not(
        (key, (value, exact)) in key().prop_flat_map(|k| (Just(k.clone()), authorization(k))),
        api in prop::option::of(key()),
    ) {
        let mut values = vec![(AUTHORIZATION.as_str(), value.into_bytes())];
        values.extend(api.iter().map(|k| (X_API_KEY, k.clone().into_bytes())));
        let map = headers(&values);
        let got = presented_key(&map);
        if exact {
            prop_assert_eq!(got, Some(key.as_str()));
        } else {
            prop_assert_eq!(got, api.as_deref());
        }
    }

    /// `x-api-key` alone: the key is the value without surrounding whitespace.
    #[test]
    fn an_api_key_header_is_read_exactly(key in key(), pad in "[ \t]{0,3}") {
        let map = headers(&[(X_API_KEY, format!("{pad}{key}{pad}").into_bytes())]);
        prop_assert_eq!(presented_key(&map), Some(key.as_str()));
    }

    /// `constant_time_eq` is plain equality.
    #[test]
    fn constant_time_eq_is_equality(
        a in prop::collection::vec(any::<u8>(), 0..=MAX_SECRET),
        b in prop::collection::vec(any::<u8>(), 0..=MAX_SECRET),
    ) {
        prop_assert_eq!(constant_time_eq(&a, &b), a == b);
        prop_assert!(constant_time_eq(&a, &a));
    }
}
