//! OpenAI `/v1/embeddings` ↔ Vertex AI's `:predict` for Google's embedding models
//! (`text-embedding-*`, `gemini-embedding-*`): the input read as for Gemini's API
//! ([`crate::providers::gemini::embed::parse`]), sent as `instances` in batches the model takes,
//! and the `predictions` answered as Gemini's vectors are.

use serde::{Deserialize, Serialize};

use crate::providers::gemini::embed::EmbedInput;
use crate::providers::gemini::wire::ContentEmbedding;

/// Most instances a `text-embedding-*` model takes in one call.
pub const MAX_BATCH: usize = 250;
/// `gemini-embedding-*` models take one instance per call.
const GEMINI_EMBEDDING_BATCH: usize = 1;

/// One `:predict` body.
#[derive(Debug, Serialize, PartialEq)]
pub struct PredictRequest<'a> {
    instances: Vec<Instance<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<Parameters>,
}

#[derive(Debug, Serialize, PartialEq)]
struct Instance<'a> {
    content: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    task_type: Option<&'a str>,
}

#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct Parameters {
    output_dimensionality: u64,
}

impl PredictRequest<'_> {
    /// How many texts it embeds.
    pub fn len(&self) -> usize {
        self.instances.len()
    }

    /// Whether it embeds nothing.
    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
    }
}

/// The `:predict` bodies for `input` on `model`, in order.
pub fn batches<'a>(input: &'a EmbedInput, model: &str) -> Vec<PredictRequest<'a>> {
    let size = if model.starts_with("gemini-embedding") {
        GEMINI_EMBEDDING_BATCH
    } else {
        MAX_BATCH
    };
    input
        .texts
        .chunks(size)
        .map(|chunk| PredictRequest {
            instances: chunk
                .iter()
                .map(|text| Instance {
                    content: text,
                    task_type: input.task_type.as_deref(),
                })
                .collect(),
            parameters: input.dimensions.map(|d| Parameters {
                output_dimensionality: d,
            }),
        })
        .collect()
}

/// A `:predict` answer.
#[derive(Debug, Deserialize)]
pub struct PredictResponse {
    /// One prediction per instance, in order.
    #[serde(default)]
    pub predictions: Vec<Prediction>,
}

/// One prediction.
#[derive(Debug, Deserialize)]
pub struct Prediction {
    /// The vector.
    pub embeddings: ContentEmbedding,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(n: usize, dimensions: Option<u64>) -> EmbedInput {
        EmbedInput {
            texts: (0..n).map(|i| format!("t{i}")).collect(),
            dimensions,
            task_type: Some("RETRIEVAL_QUERY".into()),
            base64: false,
        }
    }

    #[test]
    fn inputs_are_batched_for_the_model() {
        let cases = [
            ("text-embedding-005", 3, vec![3]),
            ("text-embedding-005", MAX_BATCH + 1, vec![MAX_BATCH, 1]),
            ("gemini-embedding-001", 3, vec![1, 1, 1]),
        ];
        for (model, n, want) in cases {
            let input = input(n, None);
            let sizes: Vec<usize> = batches(&input, model)
                .iter()
                .map(PredictRequest::len)
                .collect();
            assert_eq!(sizes, want, "{model} {n}");
        }
        let input = input(1, Some(256));
        let body = serde_json::to_value(&batches(&input, "text-embedding-005")[0]).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "instances": [{"content": "t0", "task_type": "RETRIEVAL_QUERY"}],
                "parameters": {"outputDimensionality": 256}
            })
        );
    }

    #[test]
    fn answers_are_read() {
        let body = r#"{"predictions":[{"embeddings":{"values":[0.5,-1],"statistics":{"token_count":2,"truncated":false}}}],"metadata":{"billableCharacterCount":2}}"#;
        let answer: PredictResponse = serde_json::from_str(body).unwrap();
        assert_eq!(answer.predictions[0].embeddings.values, vec![0.5, -1.0]);
    }
}
