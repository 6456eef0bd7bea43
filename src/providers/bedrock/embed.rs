//! OpenAI `/v1/embeddings` ↔ Bedrock `InvokeModel` (`POST /model/{modelId}/invoke`) for the
//! text embedding models, whose bodies differ by family:
//!
//! - Titan Text Embeddings V2 (`amazon.titan-embed-text-v2:0`): `{inputText, dimensions?}`, one
//!   text per call, answered `{embedding: […], inputTextTokenCount}`;
//! - Titan V1 (`amazon.titan-embed-text-v1`, `amazon.titan-embed-g1-text-02`): `{inputText}`;
//! - Cohere Embed (`cohere.embed-english-v3`, `cohere.embed-multilingual-v3`, `cohere.embed-v4`):
//!   `{texts: […], input_type, truncate?}`, at most [`COHERE_MAX_BATCH`] texts per call,
//!   answered `{embeddings: [[…]], id, response_type}` (or `{embeddings: {float: [[…]]}}` when
//!   typed), with no token count: usage is a byte-length estimate, as on the Gemini path.
//!
//! The family is read from the model id, which may carry a cross-region prefix (`us.cohere…`)
//! or be a foundation-model or inference-profile ARN (its last path segment names the model).
//! An application inference profile ARN names no model: its family cannot be inferred, and it
//! is a 400. `dimensions` exists only for Titan V2; `encoding_format: base64` is honoured for
//! every family through the shared OpenAI answer writer.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::error::GatewayError;
use crate::providers::translate::{EmbeddingEncoding, embedding_texts, embeddings_body, top_field};
use crate::tokens::estimate_from_bytes;
use crate::types::{TopLevel, Usage};

/// Most texts Cohere embeds in one call (Bedrock's documented limit).
pub const COHERE_MAX_BATCH: usize = 96;
/// Cohere's `input_type` when the client gave none: embeddings for storage and search.
const DEFAULT_INPUT_TYPE: &str = "search_document";

/// The body an embedding model takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Titan Text Embeddings V2 (takes `dimensions`).
    TitanV2,
    /// Titan Text Embeddings V1 (G1).
    TitanV1,
    /// Cohere Embed (batches).
    Cohere,
}

/// Model-id markers of each family, most specific first.
const FAMILIES: [(&str, Family); 4] = [
    ("amazon.titan-embed-text-v2", Family::TitanV2),
    ("amazon.titan-embed-text-v1", Family::TitanV1),
    ("amazon.titan-embed-g1-text", Family::TitanV1),
    ("cohere.embed", Family::Cohere),
];

/// The family of `model_id`: the id itself, an id with a region prefix, or the last segment of
/// an ARN. A 400 naming `model` when no family matches (including application inference
/// profile ARNs, which do not say which model they route to).
pub fn family(model_id: &str) -> Result<Family, GatewayError> {
    let name = model_id.rsplit('/').next().unwrap_or(model_id);
    FAMILIES
        .iter()
        .find(|(marker, _)| name.contains(marker))
        .map(|(_, family)| *family)
        .ok_or_else(|| {
            GatewayError::invalid(
                format!(
                    "Model '{}' is not a Bedrock text embedding model this gateway knows (Titan Text Embeddings or Cohere Embed); an application inference profile ARN does not say which model it routes to, so name the model.",
                    &model_id[..model_id.floor_char_boundary(MAX_SHOWN_BYTES)]
                ),
                Some("model"),
            )
        })
}

/// Longest piece of a model id quoted in an error.
const MAX_SHOWN_BYTES: usize = 120;

/// What the client asked to embed, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbedInput {
    /// The family the bodies are written for.
    pub family: Family,
    /// The texts, in order.
    pub texts: Vec<String>,
    /// `dimensions` (Titan V2 only).
    pub dimensions: Option<u64>,
    /// Cohere's `input_type` (LiteLLM's extension; default `search_document`).
    pub input_type: String,
    /// Cohere's `truncate` (`NONE`, `START`, `END`), when the client set it.
    pub truncate: Option<String>,
    /// How the client wants the vectors.
    pub encoding: EmbeddingEncoding,
}

/// Reads `input`, `dimensions`, `encoding_format`, `input_type` and `truncate` for `family`.
pub fn parse(top: &TopLevel<'_>, family: Family) -> Result<EmbedInput, GatewayError> {
    let texts = embedding_texts(top_field(top, "input")?.unwrap_or(Value::Null), "Bedrock")?;
    let dimensions = match top_field(top, "dimensions")? {
        None => None,
        Some(_) if family != Family::TitanV2 => {
            return Err(GatewayError::invalid(
                "'dimensions' is supported only by Titan Text Embeddings V2 among Bedrock models.",
                Some("dimensions"),
            ));
        }
        Some(v) => Some(v.as_u64().filter(|d| *d > 0).ok_or_else(|| {
            GatewayError::invalid(
                "Invalid 'dimensions': expected a positive integer.",
                Some("dimensions"),
            )
        })?),
    };
    let text_field = |key: &str| -> Result<Option<String>, GatewayError> {
        match top_field(top, key)? {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(GatewayError::invalid(
                format!("Invalid '{key}': expected a string."),
                Some(key),
            )),
        }
    };
    Ok(EmbedInput {
        family,
        texts,
        dimensions,
        input_type: text_field("input_type")?.unwrap_or_else(|| DEFAULT_INPUT_TYPE.to_owned()),
        truncate: text_field("truncate")?,
        encoding: EmbeddingEncoding::of(top)?,
    })
}

/// One `InvokeModel` body.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum InvokeBody<'a> {
    /// Titan: one text.
    Titan(TitanRequest<'a>),
    /// Cohere: a batch.
    Cohere(CohereRequest<'a>),
}

impl InvokeBody<'_> {
    /// How many texts the body carries (as many vectors must come back).
    pub fn texts(&self) -> usize {
        match self {
            Self::Titan(_) => 1,
            Self::Cohere(body) => body.texts.len(),
        }
    }
}

/// A Titan embeddings body.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TitanRequest<'a> {
    /// The text to embed.
    pub input_text: &'a str,
    /// Vector size (V2: 256, 512 or 1024).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<u64>,
}

/// A Cohere embeddings body.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CohereRequest<'a> {
    /// The texts to embed, answered in order.
    pub texts: &'a [String],
    /// `search_document`, `search_query`, `classification` or `clustering`.
    pub input_type: &'a str,
    /// How over-long texts are cut.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncate: Option<&'a str>,
}

/// The `InvokeModel` bodies for `input`, in order: one per text for Titan, one per
/// [`COHERE_MAX_BATCH`] texts for Cohere. The adapter sends each and reads each answer with
/// [`read_answer`].
pub fn invoke_bodies(input: &EmbedInput) -> Vec<InvokeBody<'_>> {
    match input.family {
        Family::TitanV2 | Family::TitanV1 => input
            .texts
            .iter()
            .map(|text| {
                InvokeBody::Titan(TitanRequest {
                    input_text: text,
                    dimensions: input.dimensions,
                })
            })
            .collect(),
        Family::Cohere => input
            .texts
            .chunks(COHERE_MAX_BATCH)
            .map(|texts| {
                InvokeBody::Cohere(CohereRequest {
                    texts,
                    input_type: &input.input_type,
                    truncate: input.truncate.as_deref(),
                })
            })
            .collect(),
    }
}

/// What one `InvokeModel` answer holds: its vectors (as Bedrock wrote them) and, for Titan,
/// the tokens it counted.
#[derive(Debug)]
pub struct Answer<'a> {
    /// The vectors, in the order of the texts sent.
    pub vectors: Vec<&'a RawValue>,
    /// Input tokens Bedrock reported.
    pub tokens: Option<u64>,
}

/// Titan's answer.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TitanAnswer<'a> {
    #[serde(borrow)]
    embedding: &'a RawValue,
    #[serde(default)]
    input_text_token_count: Option<u64>,
}

/// Cohere's answer: `embeddings` is a list of vectors, or by type when types were asked for.
/// (Read in two steps: serde's untagged enums cannot borrow raw values.)
#[derive(Deserialize)]
struct CohereAnswer<'a> {
    #[serde(borrow)]
    embeddings: &'a RawValue,
}

/// `embeddings` by type.
#[derive(Deserialize)]
struct CohereByType<'a> {
    #[serde(borrow)]
    float: Vec<&'a RawValue>,
}

/// The vectors of a Cohere answer, in either form.
fn cohere_vectors(embeddings: &RawValue) -> Result<Vec<&RawValue>, serde_json::Error> {
    let text = embeddings.get();
    if text.trim_start().starts_with('{') {
        serde_json::from_str::<CohereByType<'_>>(text).map(|t| t.float)
    } else {
        serde_json::from_str(text)
    }
}

/// Reads one `InvokeModel` answer of `family`; `expected` is how many texts its body carried.
pub fn read_answer<'a>(
    family: Family,
    bytes: &'a [u8],
    expected: usize,
    provider: &str,
) -> Result<Answer<'a>, GatewayError> {
    let protocol = |detail: String| GatewayError::UpstreamProtocol {
        provider: provider.to_owned(),
        detail,
    };
    let answer = match family {
        Family::TitanV2 | Family::TitanV1 => {
            serde_json::from_slice::<TitanAnswer<'_>>(bytes).map(|a| Answer {
                vectors: vec![a.embedding],
                tokens: a.input_text_token_count,
            })
        }
        Family::Cohere => serde_json::from_slice::<CohereAnswer<'_>>(bytes)
            .and_then(|a| cohere_vectors(a.embeddings))
            .map(|vectors| Answer {
                vectors,
                tokens: None,
            }),
    }
    .map_err(|e| protocol(format!("unexpected embeddings answer: {e}")))?;
    if answer.vectors.len() != expected {
        return Err(protocol(format!(
            "asked for {expected} embeddings, got {}",
            answer.vectors.len()
        )));
    }
    Ok(answer)
}

/// The OpenAI embeddings list for every answer's vectors, in order, and its usage: the tokens
/// Titan reported, summed, or (Cohere) an estimate from the texts' length.
pub fn to_openai(
    model: &str,
    answers: &[Answer<'_>],
    input: &EmbedInput,
    provider: &str,
) -> Result<(Vec<u8>, Usage), GatewayError> {
    let vectors: Vec<&RawValue> = answers.iter().flat_map(|a| a.vectors.clone()).collect();
    let reported = answers
        .iter()
        .map(|a| a.tokens)
        .try_fold(0u64, |sum, tokens| tokens.map(|t| sum.saturating_add(t)));
    let tokens =
        reported.unwrap_or_else(|| estimate_from_bytes(input.texts.iter().map(String::len).sum()));
    // Base64 output reads each vector as numbers: a vector that is not is the upstream's fault.
    let body = embeddings_body(model, &vectors, input.encoding, tokens).map_err(|e| {
        GatewayError::UpstreamProtocol {
            provider: provider.to_owned(),
            detail: format!("an embedding is not a list of numbers: {e}"),
        }
    })?;
    let usage = Usage {
        input: tokens,
        ..Usage::default()
    };
    Ok((body, usage))
}

#[cfg(test)]
mod tests;
