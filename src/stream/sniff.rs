//! Byte-for-byte passthrough for the OpenAI endpoints the gateway does not translate (Responses,
//! legacy completions, images, audio, moderations): SSE bodies are framed only to read usage
//! objects as they pass; other bodies (audio) are forwarded chunk by chunk untouched.

use bytes::Bytes;

use std::sync::LazyLock;

use super::openai::{TextKeys, error_events};
use super::sse::{self, Framer};
use super::{StreamFault, Tally, Translate};
use crate::error::GatewayError;
use crate::types::usage::usage_anywhere;

/// String fields whose values are generated text in Responses/completions streams.
static TEXT_KEYS: LazyLock<TextKeys<2>> =
    LazyLock::new(|| TextKeys::new([b"\"delta\":\"", b"\"text\":\""]));

/// Forwards a stream untouched, tallying what it can.
#[derive(Debug)]
pub struct Sniff {
    framer: Option<Framer>,
    tally: Tally,
}

impl Sniff {
    /// For `text/event-stream` bodies: events are read for usage.
    pub fn sse() -> Self {
        Self {
            framer: Some(Framer::default()),
            tally: Tally::default(),
        }
    }

    /// For any other body: bytes only.
    pub fn raw() -> Self {
        Self {
            framer: None,
            tally: Tally::default(),
        }
    }

    fn event(tally: &mut Tally, raw: Bytes, out: &mut Vec<Bytes>) {
        let event = sse::parse_event(&raw);
        if let Some(usage) = usage_anywhere(&event.data) {
            tally.usage = Some(usage);
        } else {
            TEXT_KEYS.add_to(&event.data, tally);
        }
        out.push(raw);
    }
}

impl Translate for Sniff {
    fn on_chunk(&mut self, chunk: Bytes, out: &mut Vec<Bytes>) -> Result<(), StreamFault> {
        let Some(framer) = self.framer.as_mut() else {
            out.push(chunk);
            return Ok(());
        };
        for event in framer.split(chunk)? {
            Self::event(&mut self.tally, event, out);
        }
        Ok(())
    }

    fn on_end(&mut self, out: &mut Vec<Bytes>) -> Result<(), StreamFault> {
        if let Some(rest) = self.framer.as_mut().and_then(Framer::finish) {
            Self::event(&mut self.tally, rest, out);
        }
        // These APIs end by closing the stream (the Responses API sends no `[DONE]`).
        self.tally.done = true;
        Ok(())
    }

    fn on_error(&mut self, error: &GatewayError, out: &mut Vec<Bytes>) {
        self.tally.gateway_error = true;
        // Only an event stream can carry an error after the status went out.
        if self.framer.is_some() {
            error_events(error, out);
        }
    }

    fn tally(&self) -> &Tally {
        &self.tally
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Usage;

    #[test]
    fn sse_is_forwarded_untouched_and_usage_read() {
        let input = concat!(
            "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"Hi!\"}\n\n",
            "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":5,\"output_tokens\":2}}}\n\n",
        );
        let mut sniff = Sniff::sse();
        let mut out = Vec::new();
        for piece in input.as_bytes().chunks(10) {
            sniff
                .on_chunk(Bytes::copy_from_slice(piece), &mut out)
                .unwrap();
        }
        assert_eq!(sniff.on_end(&mut out), Ok(()));
        assert_eq!(out.concat(), input.as_bytes());
        assert_eq!(
            sniff.tally().usage,
            Some(Usage {
                input: 5,
                output: 2,
                ..Usage::default()
            })
        );
        assert_eq!(sniff.tally().content_bytes, 3);
    }

    #[test]
    fn raw_bodies_pass_chunk_by_chunk() {
        let mut sniff = Sniff::raw();
        let mut out = Vec::new();
        sniff
            .on_chunk(Bytes::from_static(b"\x00\x01binary"), &mut out)
            .unwrap();
        sniff.on_error(&GatewayError::Internal("x".into()), &mut out);
        assert_eq!(out, [Bytes::from_static(b"\x00\x01binary")]);
    }
}
