//! The AWS event-stream decoder (`stream::eventstream::Decoder`, with `encode`), the Bedrock
//! ConverseStream translator (`providers::bedrock::stream::ConverseStream`) over it, and the
//! Bedrock model path (`providers::bedrock::path::model_path`). Arbitrary bytes never panic
//! and never come out larger than they went in; where the chunks were cut never changes the
//! messages or the error; every encodable message decodes back to itself; the translator ends
//! every stream with `[DONE]` or a fault whatever it is fed; and any model id is refused or
//! becomes exactly one path segment that decodes back to it.

use bytes::Bytes;
use llm_sidecar::providers::bedrock::path::{Operation, model_path};
use llm_sidecar::providers::bedrock::stream::ConverseStream;
use llm_sidecar::stream::Translate;
use llm_sidecar::stream::eventstream::{
    Decoder, FrameError, Header, HeaderValue, MIN_MESSAGE_BYTES, Message, encode, encode_event,
    encode_exception,
};
use proptest::prelude::*;
use proptest::sample::Index;

use crate::support::{chunks, config, cuts};

/// Longest arbitrary input fed to the decoder.
const MAX_GARBAGE: usize = 512;
/// Most messages in a generated stream.
const MAX_MESSAGES: usize = 8;
/// Most headers in a generated message.
const MAX_HEADERS: usize = 6;
/// Longest generated payload.
const MAX_PAYLOAD: usize = 200;
/// Most events in a generated ConverseStream.
const MAX_EVENTS: usize = 14;

/// What a decoder made of a stream: its messages and how the stream ended.
#[derive(Debug, PartialEq)]
struct Decoded {
    messages: Vec<Message>,
    end: Result<(), FrameError>,
}

fn decode(chunks: Vec<Bytes>) -> Decoded {
    let mut decoder = Decoder::default();
    let mut messages = Vec::new();
    for chunk in chunks {
        if let Err(e) = decoder.push(chunk, &mut messages) {
            return Decoded {
                messages,
                end: Err(e),
            };
        }
    }
    Decoded {
        messages,
        end: decoder.finish(),
    }
}

/// Bytes that often look like a prelude: a small total length, then anything.
fn framing_garbage() -> impl Strategy<Value = Vec<u8>> {
    let small_prelude = (MIN_MESSAGE_BYTES as u32..64u32, 0u32..48u32).prop_map(|(t, h)| {
        let mut bytes = t.to_be_bytes().to_vec();
        bytes.extend_from_slice(&h.to_be_bytes());
        bytes
    });
    (
        prop::option::of(small_prelude),
        prop::collection::vec(any::<u8>(), 0..=MAX_GARBAGE),
    )
        .prop_map(|(prelude, rest)| {
            prelude
                .unwrap_or_default()
                .into_iter()
                .chain(rest)
                .collect()
        })
}

fn header_value() -> impl Strategy<Value = HeaderValue> {
    prop_oneof![
        any::<bool>().prop_map(HeaderValue::Bool),
        any::<i8>().prop_map(HeaderValue::Byte),
        any::<i16>().prop_map(HeaderValue::Int16),
        any::<i32>().prop_map(HeaderValue::Int32),
        any::<i64>().prop_map(HeaderValue::Int64),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(|b| HeaderValue::Bytes(b.into())),
        ".{0,24}".prop_map(HeaderValue::String),
        any::<i64>().prop_map(HeaderValue::Timestamp),
        any::<[u8; 16]>().prop_map(HeaderValue::Uuid),
    ]
}

/// A message anything could encode: headers of every type (names of up to 40 characters, so
/// within the 255-byte name limit) and a payload.
fn message() -> impl Strategy<Value = Message> {
    let header = (".{0,40}", header_value()).prop_map(|(name, value)| Header { name, value });
    (
        prop::collection::vec(header, 0..=MAX_HEADERS),
        prop::collection::vec(any::<u8>(), 0..=MAX_PAYLOAD),
    )
        .prop_map(|(headers, payload)| Message {
            headers,
            payload: payload.into(),
        })
}

/// One ConverseStream message: a real event, an exception, a message of another type, or
/// garbage bytes.
fn converse_piece() -> impl Strategy<Value = Vec<u8>> {
    let events: Vec<(&str, &str)> = vec![
        ("messageStart", r#"{"role":"assistant"}"#),
        (
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"text":"Hi \"there\""}}"#,
        ),
        (
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"reasoningContent":{"text":"hmm"}}}"#,
        ),
        (
            "contentBlockStart",
            r#"{"contentBlockIndex":1,"start":{"toolUse":{"toolUseId":"t1","name":"f"}}}"#,
        ),
        (
            "contentBlockDelta",
            r#"{"contentBlockIndex":1,"delta":{"toolUse":{"input":"{\"a\":"}}}"#,
        ),
        ("contentBlockStop", r#"{"contentBlockIndex":1}"#),
        ("messageStop", r#"{"stopReason":"end_turn"}"#),
        (
            "metadata",
            r#"{"usage":{"inputTokens":3,"outputTokens":4,"totalTokens":7}}"#,
        ),
        ("contentBlockDelta", r#"{"contentBlockIndex":"#),
        ("unknownEvent", r#"{}"#),
    ];
    prop_oneof![
        8 => prop::sample::select(events)
            .prop_map(|(kind, payload)| encode_event(kind, payload.as_bytes()).unwrap()),
        1 => Just(encode_exception("throttlingException", br#"{"message":"slow"}"#).unwrap()),
        1 => prop::collection::vec(any::<u8>(), 0..32),
    ]
}

/// Drives a translator as `stream::Translated` does: a fault from a chunk or the end goes to
/// `on_error`. Returns the client's bytes.
fn drive(chunks: Vec<Bytes>) -> Vec<u8> {
    let mut translator = ConverseStream::new("prop", "m", true);
    let mut out = Vec::new();
    let mut faulted = false;
    for chunk in chunks {
        if translator.on_chunk(chunk, &mut out).is_err() {
            faulted = true;
            break;
        }
    }
    if faulted || translator.on_end(&mut out).is_err() {
        let error = llm_sidecar::error::GatewayError::UpstreamProtocol {
            provider: "prop".into(),
            detail: "fault".into(),
        };
        translator.on_error(&error, &mut out);
    }
    out.concat()
}

/// The client's bytes with the generated completion id and the clock blanked.
fn normalized(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    text.split("\n\n")
        .map(|event| {
            let Some(data) = event.strip_prefix("data: ") else {
                return event.to_owned();
            };
            match serde_json::from_str::<serde_json::Value>(data) {
                Ok(mut chunk) => {
                    if let Some(object) = chunk.as_object_mut() {
                        object.remove("id");
                        object.remove("created");
                    }
                    chunk.to_string()
                }
                Err(_) => data.to_owned(),
            }
        })
        .collect()
}

/// Percent-decodes a path segment (`%XX` only; the encoder writes nothing else).
fn percent_decode(segment: &str) -> Option<Vec<u8>> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic_and_cuts_do_not_matter(
        input in framing_garbage(),
        cuts in cuts(),
    ) {
        let whole = decode(vec![Bytes::from(input.clone())]);
        let out: usize = whole
            .messages
            .iter()
            .map(|m| m.payload.len() + m.headers.len())
            .sum();
        prop_assert!(out <= input.len());
        prop_assert_eq!(decode(chunks(&input, &cuts)), whole);
    }

    #[test]
    fn encoded_messages_decode_back(
        messages in prop::collection::vec(message(), 0..=MAX_MESSAGES),
        cuts in cuts(),
    ) {
        let stream: Vec<u8> = messages
            .iter()
            .flat_map(|m| encode(&m.headers, &m.payload).unwrap())
            .collect();
        let decoded = decode(chunks(&stream, &cuts));
        prop_assert_eq!(decoded.end, Ok(()));
        prop_assert_eq!(decoded.messages, messages);
    }

    #[test]
    fn a_flipped_byte_is_always_caught(message in message(), at in any::<Index>(), bit in 0u8..8) {
        let mut bytes = encode(&message.headers, &message.payload).unwrap();
        let at = at.index(bytes.len());
        bytes[at] ^= 1 << bit;
        // CRC32 catches every single-bit error: the message never decodes.
        let decoded = decode(vec![Bytes::from(bytes)]);
        prop_assert!(decoded.messages.is_empty());
        prop_assert!(decoded.end.is_err());
    }

    #[test]
    fn converse_streams_end_properly_wherever_cut(
        pieces in prop::collection::vec(converse_piece(), 0..=MAX_EVENTS),
        cuts in cuts(),
    ) {
        let stream: Vec<u8> = pieces.concat();
        let whole = drive(vec![Bytes::from(stream.clone())]);
        let text = String::from_utf8(whole.clone()).unwrap();
        prop_assert!(text.ends_with("data: [DONE]\n\n"), "{}", text);
        prop_assert_eq!(text.matches("data: [DONE]").count(), 1);
        prop_assert_eq!(normalized(&drive(chunks(&stream, &cuts))), normalized(&whole));
    }

    #[test]
    fn model_ids_are_refused_or_one_segment(id in prop_oneof![".{0,300}", "[a-z0-9.:/-]{0,80}"]) {
        match model_path(&id, Operation::Converse) {
            Err(error) => prop_assert_eq!(error.status().as_u16(), 400),
            Ok(path) => {
                let segment = path
                    .strip_prefix("/model/")
                    .and_then(|rest| rest.strip_suffix("/converse"))
                    .unwrap();
                prop_assert!(!segment.contains(['/', '?', '#']), "{}", path);
                prop_assert!(segment != "." && segment != "..");
                prop_assert_eq!(percent_decode(segment).unwrap(), id.as_bytes());
            }
        }
    }
}
