//! OpenAI `/v1/embeddings` ↔ Gemini `:batchEmbedContents`. Gemini embeds text only (no token
//! arrays), takes at most [`MAX_BATCH`] texts per call and reports no usage, so the usage is a
//! byte-length estimate. `encoding_format: base64` is honoured (little-endian float32, as
//! OpenAI encodes it), since the OpenAI SDKs ask for it by default.

use serde::Serialize;
use serde_json::Value;

use super::wire::{BatchEmbedRequest, Content, ContentEmbedding, EmbedContentRequest, Part};
use crate::error::GatewayError;
use crate::providers::translate::{base64_encode, embedding_texts, top_field};
use crate::tokens::estimate_from_bytes;
use crate::types::{TopLevel, Usage};

/// Most requests Gemini takes in one `batchEmbedContents` call.
pub const MAX_BATCH: usize = 100;

/// What the client asked to embed, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbedInput {
    /// The texts, in order.
    pub texts: Vec<String>,
    /// `dimensions` → `outputDimensionality`.
    pub dimensions: Option<u64>,
    /// `task_type` (LiteLLM's extension) → `taskType`.
    pub task_type: Option<String>,
    /// Vectors as base64 float32 instead of JSON arrays.
    pub base64: bool,
}

/// Reads `input`, `dimensions`, `encoding_format` and `task_type` from the request.
pub fn parse(top: &TopLevel<'_>) -> Result<EmbedInput, GatewayError> {
    let field = |key: &str| top_field(top, key);
    let texts = embedding_texts(field("input")?.unwrap_or(Value::Null), "Gemini")?;
    let dimensions = match field("dimensions")? {
        None => None,
        Some(v) => Some(v.as_u64().filter(|d| *d > 0).ok_or_else(|| {
            GatewayError::invalid(
                "Invalid 'dimensions': expected a positive integer.",
                Some("dimensions"),
            )
        })?),
    };
    let base64 = match field("encoding_format")?.as_ref().map(Value::as_str) {
        None | Some(Some("float")) => false,
        Some(Some("base64")) => true,
        Some(_) => {
            return Err(GatewayError::invalid(
                "Invalid 'encoding_format': expected 'float' or 'base64'.",
                Some("encoding_format"),
            ));
        }
    };
    let task_type = field("task_type")?
        .as_ref()
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(EmbedInput {
        texts,
        dimensions,
        task_type,
        base64,
    })
}

/// The `batchEmbedContents` bodies for `input`, [`MAX_BATCH`] texts each, in order;
/// `resource` is the model's resource name (`models/{model}`), repeated in every request.
pub fn batches(input: &EmbedInput, resource: &str) -> Vec<BatchEmbedRequest> {
    input
        .texts
        .chunks(MAX_BATCH)
        .map(|chunk| BatchEmbedRequest {
            requests: chunk
                .iter()
                .map(|text| EmbedContentRequest {
                    model: resource.to_owned(),
                    content: Content {
                        role: None,
                        parts: vec![Part::text(text.clone())],
                    },
                    task_type: input.task_type.clone(),
                    title: None,
                    output_dimensionality: input.dimensions,
                })
                .collect(),
        })
        .collect()
}

/// OpenAI's embeddings list, serialized straight from Gemini's vectors (a JSON tree of the
/// numbers would cost several times their size).
#[derive(Serialize)]
pub struct EmbeddingList<'a> {
    object: &'static str,
    data: Vec<EmbeddingItem<'a>>,
    model: &'a str,
    usage: ListUsage,
}

#[derive(Serialize)]
struct EmbeddingItem<'a> {
    object: &'static str,
    index: usize,
    embedding: Vector<'a>,
}

/// A vector as numbers, or as OpenAI's base64 float32 form.
#[derive(Serialize)]
#[serde(untagged)]
enum Vector<'a> {
    Floats(&'a [f64]),
    Base64(String),
}

#[derive(Serialize)]
struct ListUsage {
    prompt_tokens: u64,
    total_tokens: u64,
}

/// The OpenAI embeddings list for Gemini's vectors, with an estimated usage.
pub fn to_openai<'a>(
    embeddings: &'a [ContentEmbedding],
    input: &EmbedInput,
    model: &'a str,
) -> (EmbeddingList<'a>, Usage) {
    let data = embeddings
        .iter()
        .enumerate()
        .map(|(index, e)| EmbeddingItem {
            object: "embedding",
            index,
            embedding: if input.base64 {
                Vector::Base64(float32_base64(&e.values))
            } else {
                Vector::Floats(&e.values)
            },
        })
        .collect();
    let bytes = input.texts.iter().map(String::len).sum();
    let tokens = estimate_from_bytes(bytes);
    let body = EmbeddingList {
        object: "list",
        data,
        model,
        usage: ListUsage {
            prompt_tokens: tokens,
            total_tokens: tokens,
        },
    };
    let usage = Usage {
        input: tokens,
        ..Usage::default()
    };
    (body, usage)
}

/// A vector as OpenAI's base64 form: little-endian float32 values.
fn float32_base64(values: &[f64]) -> String {
    // Narrowing to f32 is the format: OpenAI's base64 embeddings are float32.
    let bytes: Vec<u8> = values
        .iter()
        .flat_map(|v| (*v as f32).to_le_bytes())
        .collect();
    base64_encode(&bytes)
}

#[cfg(test)]
mod tests;
