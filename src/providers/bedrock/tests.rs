//! The fixture helpers the Bedrock translators' tests (each module's sibling `tests.rs`) share.

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bedrock");

/// A fixture file's text (`tests/fixtures/bedrock/{name}`).
pub(super) fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap()
}
