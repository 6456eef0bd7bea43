//! The request path of a Bedrock Runtime operation. The model id comes from the client (a
//! foundation model id, an inference profile id, or an ARN with `:` and `/`), so it reaches the
//! URL only as one percent-encoded path segment (DESIGN §5a): nothing in it can add a segment,
//! a query or a fragment to a URL the gateway signs with its own credentials.

use crate::error::GatewayError;
use crate::providers::path::segment;

/// A Bedrock Runtime operation on a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `Converse`: one whole answer.
    Converse,
    /// `ConverseStream`: the answer as an event stream.
    ConverseStream,
    /// `InvokeModel`: the model's own body (embeddings).
    Invoke,
}

impl Operation {
    /// The path segment after the model id.
    fn suffix(self) -> &'static str {
        match self {
            Self::Converse => "converse",
            Self::ConverseStream => "converse-stream",
            Self::Invoke => "invoke",
        }
    }
}

/// `/model/{modelId}/{operation}` with the model id as one segment: every byte outside
/// `A-Za-z0-9-._~` percent-encoded, e.g.
/// `/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile%2Fabc/converse`.
/// An empty id, `.`, `..` or one longer than [`crate::providers::path::MAX_SEGMENT_BYTES`] (the
/// longest model name the gateway takes from a client; Bedrock ids and ARNs are far shorter) is
/// a 400 naming `model`.
pub fn model_path(model_id: &str, operation: Operation) -> Result<String, GatewayError> {
    let model = segment(model_id, "model")?;
    Ok(format!("/model/{model}/{}", operation.suffix()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::path::MAX_SEGMENT_BYTES;

    #[test]
    fn model_ids_become_one_segment() {
        let cases = [
            (
                "anthropic.claude-3-5-sonnet-20240620-v1:0",
                Operation::Converse,
                "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse",
            ),
            (
                "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                Operation::ConverseStream,
                "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse-stream",
            ),
            (
                "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc",
                Operation::Converse,
                "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile%2Fabc/converse",
            ),
            (
                "amazon.titan-embed-text-v2:0",
                Operation::Invoke,
                "/model/amazon.titan-embed-text-v2%3A0/invoke",
            ),
            (
                "../../x?y#z",
                Operation::Invoke,
                "/model/..%2F..%2Fx%3Fy%23z/invoke",
            ),
        ];
        for (id, operation, want) in cases {
            assert_eq!(model_path(id, operation).unwrap(), want, "{id}");
        }
        for bad in ["", ".", "..", &"m".repeat(MAX_SEGMENT_BYTES + 1)] {
            let error = model_path(bad, Operation::Converse).unwrap_err();
            assert_eq!(
                (error.status().as_u16(), error.param()),
                (400, Some("model"))
            );
        }
    }
}
