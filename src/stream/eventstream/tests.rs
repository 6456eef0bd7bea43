use serde_json::{Value, json};

use super::*;
use crate::types::base64::encode as base64_encode;

/// AWS's event-stream test vectors (aws-sdk-go's testdata; tests/fixtures/bedrock/PROVENANCE.md).
const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/bedrock/eventstream"
);
const POSITIVE: [&str; 5] = [
    "all_headers",
    "empty_message",
    "int32_header",
    "payload_no_headers",
    "payload_one_str_header",
];
const NEGATIVE: [&str; 4] = [
    "corrupted_header_len",
    "corrupted_headers",
    "corrupted_length",
    "corrupted_payload",
];

fn read(kind: &str, sign: &str, name: &str) -> Vec<u8> {
    std::fs::read(format!("{VECTORS}/{kind}/{sign}/{name}")).unwrap()
}

fn decode_chunks(chunks: &[&[u8]]) -> Result<Vec<Message>, FrameError> {
    let mut decoder = Decoder::default();
    let mut out = Vec::new();
    for chunk in chunks {
        decoder.push(Bytes::copy_from_slice(chunk), &mut out)?;
    }
    decoder.finish()?;
    Ok(out)
}

/// A decoded message in the vectors' JSON form (byte values as base64).
fn as_vector_json(message: &Message) -> Value {
    let headers: Vec<Value> = message
        .headers
        .iter()
        .map(|h| {
            let (kind, value) = match &h.value {
                HeaderValue::Bool(true) => (kind::TRUE, json!(true)),
                HeaderValue::Bool(false) => (kind::FALSE, json!(false)),
                HeaderValue::Byte(v) => (kind::BYTE, json!(v)),
                HeaderValue::Int16(v) => (kind::INT16, json!(v)),
                HeaderValue::Int32(v) => (kind::INT32, json!(v)),
                HeaderValue::Int64(v) => (kind::INT64, json!(v)),
                HeaderValue::Timestamp(v) => (kind::TIMESTAMP, json!(v)),
                HeaderValue::Bytes(v) => (kind::BYTES, json!(base64_encode(v))),
                HeaderValue::String(v) => (kind::STRING, json!(base64_encode(v.as_bytes()))),
                HeaderValue::Uuid(v) => (kind::UUID, json!(base64_encode(v))),
            };
            json!({"name": h.name, "type": kind, "value": value})
        })
        .collect();
    json!({"headers": headers, "payload": base64_encode(&message.payload)})
}

#[test]
fn aws_positive_vectors_decode_and_encode_back() {
    for name in POSITIVE {
        let encoded = read("encoded", "positive", name);
        let want: Value = serde_json::from_slice(&read("decoded", "positive", name)).unwrap();
        let messages = decode_chunks(&[&encoded]).unwrap();
        assert_eq!(messages.len(), 1, "{name}");
        let got = as_vector_json(&messages[0]);
        assert_eq!(got["headers"], want["headers"], "{name}");
        assert_eq!(got["payload"], want["payload"], "{name}");
        // The encoder writes the same bytes, so both CRCs and lengths match AWS's too.
        let again = encode(&messages[0].headers, &messages[0].payload).unwrap();
        assert_eq!(again, encoded, "{name}");
        // The vectors write the CRC as a signed 32-bit number.
        let want_crc = want["message_crc"].as_i64().unwrap() as u32;
        assert_eq!(
            crc32(&encoded[..encoded.len() - CRC_BYTES]),
            want_crc,
            "{name}"
        );
    }
}

#[test]
fn aws_negative_vectors_fail_with_the_documented_error() {
    for name in NEGATIVE {
        let encoded = read("encoded", "negative", name);
        let reason = String::from_utf8(read("decoded", "negative", name)).unwrap();
        let want = match reason.trim() {
            "Prelude checksum mismatch" => FrameError::PreludeCrc,
            "Message checksum mismatch" => FrameError::MessageCrc,
            other => panic!("unknown expectation {other:?}"),
        };
        // Whole, and followed by a valid message (which must not resynchronise the stream).
        assert_eq!(decode_chunks(&[&encoded]).unwrap_err(), want, "{name}");
        let valid = read("encoded", "positive", "empty_message");
        let mut decoder = Decoder::default();
        let mut out = Vec::new();
        let first = decoder.push(Bytes::from(encoded), &mut out);
        let second = decoder.push(Bytes::from(valid), &mut out);
        assert!(first.is_err() || second.is_err(), "{name}");
        assert_eq!(decoder.push(Bytes::new(), &mut out), Err(want), "{name}");
    }
}

/// Header bytes wrapped in a valid prelude and valid CRCs, so only the headers are at fault.
fn with_headers(section: &[u8]) -> Vec<u8> {
    let total = (MIN_MESSAGE_BYTES + section.len()) as u32;
    let mut message = total.to_be_bytes().to_vec();
    message.extend_from_slice(&(section.len() as u32).to_be_bytes());
    message.extend_from_slice(&crc32(&message).to_be_bytes());
    message.extend_from_slice(section);
    message.extend_from_slice(&crc32(&message).to_be_bytes());
    message
}

/// A prelude with a valid CRC over the given lengths (and nothing else).
fn prelude(total: u32, headers: u32) -> Vec<u8> {
    let mut bytes = total.to_be_bytes().to_vec();
    bytes.extend_from_slice(&headers.to_be_bytes());
    bytes.extend_from_slice(&crc32(&bytes).to_be_bytes());
    bytes
}

#[test]
fn constructed_invalid_messages_fail() {
    let too_large = u32::try_from(MAX_MESSAGE_BYTES + 1).unwrap();
    let many_headers: Vec<u8> = std::iter::repeat_n([0u8, kind::TRUE], MAX_HEADERS + 1)
        .flatten()
        .collect();
    let cases: Vec<(&str, Vec<u8>, FrameError)> = vec![
        (
            "unknown type 10",
            with_headers(b"\x01a\x0a"),
            FrameError::InvalidHeader,
        ),
        (
            "name cut short",
            with_headers(b"\x05ab"),
            FrameError::InvalidHeader,
        ),
        (
            "string cut short",
            with_headers(b"\x01a\x07\x00\x09abc"),
            FrameError::InvalidHeader,
        ),
        (
            "int64 cut short",
            with_headers(b"\x01a\x05\x00\x00"),
            FrameError::InvalidHeader,
        ),
        (
            "name not UTF-8",
            with_headers(b"\x01\xff\x00"),
            FrameError::InvalidHeader,
        ),
        (
            "string not UTF-8",
            with_headers(b"\x01a\x07\x00\x01\xff"),
            FrameError::InvalidHeader,
        ),
        (
            "too many headers",
            with_headers(&many_headers),
            FrameError::TooManyHeaders,
        ),
        ("total below 16", prelude(15, 0), FrameError::TooShort),
        (
            "total over the limit",
            prelude(too_large, 0),
            FrameError::TooLarge,
        ),
        (
            "headers past the message",
            prelude(20, 5),
            FrameError::HeadersLength,
        ),
        (
            "headers over their limit",
            prelude(1 << 20, u32::try_from(MAX_HEADERS_BYTES + 1).unwrap()),
            FrameError::HeadersLength,
        ),
    ];
    for (what, bytes, want) in cases {
        assert_eq!(decode_chunks(&[&bytes]).unwrap_err(), want, "{what}");
    }
}

#[test]
fn a_stream_cut_inside_a_message_is_truncated() {
    let encoded = read("encoded", "positive", "all_headers");
    for cut in 1..encoded.len() {
        assert_eq!(
            decode_chunks(&[&encoded[..cut]]).unwrap_err(),
            FrameError::Truncated,
            "cut at {cut}"
        );
    }
}

/// Every positive vector, back to back.
fn all_positive() -> Vec<u8> {
    POSITIVE
        .iter()
        .flat_map(|name| read("encoded", "positive", name))
        .collect()
}

#[test]
fn splits_at_every_offset_decode_identically() {
    let stream = all_positive();
    let whole = decode_chunks(&[&stream]).unwrap();
    assert_eq!(whole.len(), POSITIVE.len());
    for cut in 0..=stream.len() {
        let (a, b) = stream.split_at(cut);
        assert_eq!(decode_chunks(&[a, b]).unwrap(), whole, "cut at {cut}");
    }
    let bytes: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(decode_chunks(&bytes).unwrap(), whole);
}

#[test]
fn messages_inside_one_chunk_are_zero_copy() {
    let chunk = Bytes::from(all_positive());
    let mut out = Vec::new();
    Decoder::default().push(chunk.clone(), &mut out).unwrap();
    let range = chunk.as_ptr_range();
    for message in out.iter().filter(|m| !m.payload.is_empty()) {
        assert!(range.contains(&message.payload.as_ptr()));
    }
}

#[test]
fn every_header_type_round_trips() {
    let headers = vec![
        Header::string(MESSAGE_TYPE, "event"),
        Header {
            name: "t".into(),
            value: HeaderValue::Bool(true),
        },
        Header {
            name: "f".into(),
            value: HeaderValue::Bool(false),
        },
        Header {
            name: "b".into(),
            value: HeaderValue::Byte(-49),
        },
        Header {
            name: "i16".into(),
            value: HeaderValue::Int16(-2),
        },
        Header {
            name: "i32".into(),
            value: HeaderValue::Int32(40_972),
        },
        Header {
            name: "i64".into(),
            value: HeaderValue::Int64(-42_424_242),
        },
        Header {
            name: "bytes".into(),
            value: HeaderValue::Bytes(Bytes::from_static(b"\x00\xff")),
        },
        Header {
            name: "ts".into(),
            value: HeaderValue::Timestamp(8_675_309),
        },
        Header {
            name: "uuid".into(),
            value: HeaderValue::Uuid([7; UUID_BYTES]),
        },
    ];
    let encoded = encode(&headers, b"{}").unwrap();
    let decoded = decode_chunks(&[&encoded]).unwrap();
    assert_eq!(decoded[0].headers, headers);
    assert_eq!(decoded[0].header_str(MESSAGE_TYPE), Some("event"));
    assert_eq!(decoded[0].header_str("i32"), None);
    assert_eq!(decoded[0].header_str(EVENT_TYPE), None);
}

#[test]
fn bedrock_style_events_and_exceptions() {
    let event = encode_event("contentBlockDelta", br#"{"contentBlockIndex":0}"#).unwrap();
    let exception = encode_exception("throttlingException", br#"{"message":"slow"}"#).unwrap();
    let messages = decode_chunks(&[&event, &exception]).unwrap();
    assert_eq!(messages[0].header_str(MESSAGE_TYPE), Some("event"));
    assert_eq!(
        messages[0].header_str(EVENT_TYPE),
        Some("contentBlockDelta")
    );
    assert_eq!(
        messages[0].header_str(CONTENT_TYPE),
        Some("application/json")
    );
    assert_eq!(messages[1].header_str(MESSAGE_TYPE), Some("exception"));
    assert_eq!(
        messages[1].header_str(EXCEPTION_TYPE),
        Some("throttlingException")
    );
    assert_eq!(&messages[1].payload[..], br#"{"message":"slow"}"#);
}

#[test]
fn encoding_refuses_what_the_framing_cannot_express() {
    let long_name = Header::string(&"n".repeat(256), "v");
    assert_eq!(encode(&[long_name], b""), Err(FrameError::InvalidHeader));
    let long_value = Header::string("n", &"v".repeat(usize::from(u16::MAX) + 1));
    assert_eq!(encode(&[long_value], b""), Err(FrameError::InvalidHeader));
    let payload = vec![0; MAX_MESSAGE_BYTES];
    assert_eq!(encode(&[], &payload), Err(FrameError::TooLarge));
}

#[test]
fn crc32_matches_the_ieee_check_value() {
    // The standard check value of CRC-32/ISO-HDLC.
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(crc32(b""), 0);
}

#[test]
fn frame_errors_become_stream_faults() {
    use crate::stream::StreamFault;
    assert_eq!(FrameError::TooLarge.fault(), StreamFault::EventTooLarge);
    assert_eq!(FrameError::Truncated.fault(), StreamFault::Truncated);
    assert_eq!(FrameError::MessageCrc.fault(), StreamFault::Malformed);
}
