//! OpenAI chat chunks as the translators into other client formats (Anthropic Messages, the
//! Responses API) read them: leniently, since servers differ in which of `id`, `object` and
//! `created` they send, and the upstream's in-band error object.

use std::borrow::Cow;

use serde::Deserialize;

use crate::types::chat::ChunkChoice;

/// A chunk read leniently: only `choices` matters, `id` and `model` when present.
#[derive(Deserialize)]
pub struct Chunk<'a> {
    /// Completion id (empty when the server sent none).
    #[serde(default, borrow)]
    pub id: Cow<'a, str>,
    /// The model that answers (empty when the server sent none).
    #[serde(default, borrow)]
    pub model: Cow<'a, str>,
    /// Choice deltas.
    #[serde(default, borrow)]
    pub choices: Vec<ChunkChoice<'a>>,
}

/// An in-band OpenAI error `{"error":{"message","type","code"}}`.
#[derive(Deserialize, Default)]
pub struct InBandError {
    /// The error object.
    #[serde(default)]
    pub error: InBandDetail,
}

/// The fields of an in-band error, each optional.
#[derive(Deserialize, Default)]
pub struct InBandDetail {
    /// What went wrong, as the upstream wrote it (bound it before showing it).
    #[serde(default)]
    pub message: Option<String>,
    /// OpenAI's error `type`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// OpenAI's error `code`.
    #[serde(default)]
    pub code: Option<String>,
}

impl InBandDetail {
    /// The error in `data` (an in-band error payload); empty fields when it does not parse.
    pub fn of(data: &[u8]) -> Self {
        serde_json::from_slice::<InBandError>(data)
            .unwrap_or_default()
            .error
    }
}
