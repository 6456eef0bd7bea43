//! Amazon Web Services plumbing shared by the AWS providers (Bedrock): SigV4 request signing
//! (`sigv4`) and the AWS SDKs' credential chain with its cache and refresh (`credentials`).
//! No provider logic lives here.

pub mod credentials;
pub mod sigv4;
