//! Amazon Bedrock Runtime adapter. OpenAI chat requests are translated to the Converse API
//! (`POST /model/{modelId}/converse`, and `/converse-stream` for streams, whose answer is the
//! binary AWS event stream of [`crate::stream::eventstream`]); embeddings go to `InvokeModel`
//! (`/model/{modelId}/invoke`) in the body of the model's family (Titan or Cohere). The model id
//! a client names reaches the URL as one percent-encoded segment ([`path::model_path`]).
//! Translation lives in pure modules: `request` (chat request → Converse body), `response`
//! (Converse answer → chat completion), `stream` (ConverseStream → OpenAI chunks), `embed`
//! (embeddings both ways), `errors` (Bedrock errors and stream exceptions → client errors),
//! `wire` (Bedrock's JSON shapes) and `path` (the request path).

pub mod embed;
pub mod errors;
pub mod path;
pub mod request;
pub mod response;
pub mod stream;
pub mod wire;

#[cfg(test)]
mod tests;
