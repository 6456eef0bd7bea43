//! AWS event-stream framing (`application/vnd.amazon.eventstream`), the binary framing of
//! Bedrock's ConverseStream (and of every other AWS streaming API): splitting a byte stream
//! into whole messages with both CRC32 checks, reading their typed headers, and encoding
//! messages for tests and fake upstreams.
//!
//! One message on the wire, all integers big-endian:
//!
//! ```text
//! total_length u32 | headers_length u32 | prelude_crc u32 | headers | payload | message_crc u32
//! ```
//!
//! `prelude_crc` is the CRC32 (IEEE) of the first 8 bytes and `message_crc` that of everything
//! before it. A header is `name_len u8 | name | type u8 | value`. Every length is checked
//! before anything is buffered, so an upstream cannot make the decoder hold more than
//! [`MAX_MESSAGE_BYTES`]; after an error the stream cannot be resynchronised (no length after a
//! bad one can be trusted) and the decoder keeps refusing.

use bytes::{Buf, Bytes, BytesMut};

/// The largest message accepted: AWS documents 16 MiB as the event-stream message limit.
pub const MAX_MESSAGE_BYTES: usize = 16 << 20;
/// The largest headers section accepted: 128 KiB, what the AWS SDKs allow; real messages carry
/// three short headers.
pub const MAX_HEADERS_BYTES: usize = 128 << 10;
/// The most headers one message may carry (aws-c-event-stream's limit), so a headers section of
/// two-byte headers cannot become a huge list.
pub const MAX_HEADERS: usize = 1024;

/// `total_length`, `headers_length` and `prelude_crc`.
const PRELUDE_BYTES: usize = 12;
/// The part of the prelude that `prelude_crc` covers: both lengths.
const PRELUDE_CRC_COVERS: usize = 8;
/// Where `headers_length` starts (after `total_length`).
const HEADERS_LENGTH_AT: usize = 4;
/// A CRC32 on the wire.
const CRC_BYTES: usize = 4;
/// A message with no headers and no payload: prelude and message CRC.
pub const MIN_MESSAGE_BYTES: usize = PRELUDE_BYTES + CRC_BYTES;
/// Length of a UUID header value.
const UUID_BYTES: usize = 16;

/// The header naming what a message is: `event`, `exception` or `error`.
pub const MESSAGE_TYPE: &str = ":message-type";
/// The event's name (`contentBlockDelta`, …) when `:message-type` is `event`.
pub const EVENT_TYPE: &str = ":event-type";
/// The exception's name (`throttlingException`, …) when `:message-type` is `exception`.
pub const EXCEPTION_TYPE: &str = ":exception-type";
/// The error code when `:message-type` is `error`.
pub const ERROR_CODE: &str = ":error-code";
/// The error message when `:message-type` is `error`.
pub const ERROR_MESSAGE: &str = ":error-message";
/// The payload's media type.
pub const CONTENT_TYPE: &str = ":content-type";

/// Why a stream could not be framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The prelude's CRC does not match its lengths.
    #[error("event-stream prelude checksum mismatch")]
    PreludeCrc,
    /// The message CRC does not match its bytes.
    #[error("event-stream message checksum mismatch")]
    MessageCrc,
    /// `total_length` is below the 16 bytes of an empty message.
    #[error("event-stream message shorter than its framing")]
    TooShort,
    /// `total_length` exceeds [`MAX_MESSAGE_BYTES`].
    #[error("event-stream message over {MAX_MESSAGE_BYTES} bytes")]
    TooLarge,
    /// `headers_length` exceeds the message or [`MAX_HEADERS_BYTES`].
    #[error("event-stream headers length out of bounds")]
    HeadersLength,
    /// A header is cut short, has an unknown type, or a name or string that is not UTF-8.
    #[error("invalid event-stream header")]
    InvalidHeader,
    /// More than [`MAX_HEADERS`] headers.
    #[error("more than {MAX_HEADERS} event-stream headers")]
    TooManyHeaders,
    /// The stream ended inside a message.
    #[error("event-stream ended inside a message")]
    Truncated,
}

impl FrameError {
    /// The stream fault a translator reports for this error.
    pub fn fault(self) -> super::StreamFault {
        match self {
            Self::TooLarge => super::StreamFault::EventTooLarge,
            Self::Truncated => super::StreamFault::Truncated,
            _ => super::StreamFault::Malformed,
        }
    }
}

/// A header value, by wire type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderValue {
    /// Types 0 (true) and 1 (false).
    Bool(bool),
    /// Type 2.
    Byte(i8),
    /// Type 3.
    Int16(i16),
    /// Type 4.
    Int32(i32),
    /// Type 5.
    Int64(i64),
    /// Type 6 (at most `u16::MAX` bytes).
    Bytes(Bytes),
    /// Type 7 (UTF-8, at most `u16::MAX` bytes).
    String(String),
    /// Type 8: milliseconds since the Unix epoch.
    Timestamp(i64),
    /// Type 9.
    Uuid([u8; UUID_BYTES]),
}

/// Wire type codes.
mod kind {
    pub const TRUE: u8 = 0;
    pub const FALSE: u8 = 1;
    pub const BYTE: u8 = 2;
    pub const INT16: u8 = 3;
    pub const INT32: u8 = 4;
    pub const INT64: u8 = 5;
    pub const BYTES: u8 = 6;
    pub const STRING: u8 = 7;
    pub const TIMESTAMP: u8 = 8;
    pub const UUID: u8 = 9;
}

/// One header: a name (at most 255 bytes of UTF-8) and a typed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The name, e.g. `:event-type`.
    pub name: String,
    /// The value.
    pub value: HeaderValue,
}

impl Header {
    /// A string header (what AWS uses for every `:…` header).
    pub fn string(name: &str, value: &str) -> Self {
        Self {
            name: name.to_owned(),
            value: HeaderValue::String(value.to_owned()),
        }
    }
}

/// One whole message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The headers, in wire order.
    pub headers: Vec<Header>,
    /// The payload (a slice of the chunk it arrived in when the message was inside one chunk).
    pub payload: Bytes,
}

impl Message {
    /// The first header called `name`.
    pub fn header(&self, name: &str) -> Option<&HeaderValue> {
        self.headers
            .iter()
            .find(|h| h.name == name)
            .map(|h| &h.value)
    }

    /// The value of string header `name` ([`MESSAGE_TYPE`], [`EVENT_TYPE`], …); `None` when it is
    /// absent or not a string.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        match self.header(name)? {
            HeaderValue::String(value) => Some(value),
            _ => None,
        }
    }
}

/// Splits incoming chunks into whole messages. Messages inside one chunk are decoded from
/// zero-copy slices of it; only a message split across chunks is copied into the buffer, and
/// only once its prelude has been checked (so the buffer never outgrows [`MAX_MESSAGE_BYTES`]).
#[derive(Debug, Default)]
pub struct Decoder {
    /// The start of a message split across chunks.
    pending: BytesMut,
    /// The checked `total_length` of the pending message, once its prelude is complete.
    pending_total: Option<usize>,
    /// The error that stopped the stream: nothing after it can be framed.
    failed: Option<FrameError>,
}

impl Decoder {
    /// Feeds one chunk and appends every message it completes to `out`.
    pub fn push(&mut self, chunk: Bytes, out: &mut Vec<Message>) -> Result<(), FrameError> {
        if let Some(error) = self.failed {
            return Err(error);
        }
        let result = self.push_inner(chunk, out);
        if let Err(error) = result {
            self.failed = Some(error);
            self.pending.clear();
        }
        result
    }

    fn push_inner(&mut self, mut chunk: Bytes, out: &mut Vec<Message>) -> Result<(), FrameError> {
        if !self.pending.is_empty() && !self.complete_pending(&mut chunk, out)? {
            return Ok(());
        }
        // Whole messages straight from the chunk, zero-copy.
        while chunk.len() >= PRELUDE_BYTES {
            let total = check_prelude(&chunk[..PRELUDE_BYTES])?;
            if chunk.len() < total {
                self.pending_total = Some(total);
                break;
            }
            out.push(decode_message(chunk.split_to(total))?);
        }
        // The start of the next message waits for the rest (its prelude, if whole, is checked).
        self.pending.extend_from_slice(&chunk);
        Ok(())
    }

    /// Moves bytes from `chunk` into the pending message, as many as it still needs; decodes it
    /// when it is whole. `false` when the chunk ran out first.
    fn complete_pending(
        &mut self,
        chunk: &mut Bytes,
        out: &mut Vec<Message>,
    ) -> Result<bool, FrameError> {
        if self.pending_total.is_none() {
            let take = (PRELUDE_BYTES - self.pending.len()).min(chunk.len());
            self.pending.extend_from_slice(&chunk.split_to(take));
            if self.pending.len() < PRELUDE_BYTES {
                return Ok(false);
            }
            self.pending_total = Some(check_prelude(&self.pending[..PRELUDE_BYTES])?);
        }
        let total = self.pending_total.unwrap_or(MIN_MESSAGE_BYTES);
        let take = total.saturating_sub(self.pending.len()).min(chunk.len());
        self.pending.extend_from_slice(&chunk.split_to(take));
        if self.pending.len() < total {
            return Ok(false);
        }
        self.pending_total = None;
        out.push(decode_message(self.pending.split().freeze())?);
        Ok(true)
    }

    /// Checks the end of the stream: [`FrameError::Truncated`] when it ended inside a message.
    pub fn finish(&mut self) -> Result<(), FrameError> {
        if let Some(error) = self.failed {
            return Err(error);
        }
        if self.pending.is_empty() {
            Ok(())
        } else {
            Err(FrameError::Truncated)
        }
    }
}

/// Checks a prelude (its CRC and both lengths) and returns the message's total length.
fn check_prelude(prelude: &[u8]) -> Result<usize, FrameError> {
    let mut fields = prelude;
    let total = fields.get_u32() as usize;
    let headers = fields.get_u32() as usize;
    if crc32(&prelude[..PRELUDE_CRC_COVERS]) != fields.get_u32() {
        return Err(FrameError::PreludeCrc);
    }
    if total < MIN_MESSAGE_BYTES {
        return Err(FrameError::TooShort);
    }
    if total > MAX_MESSAGE_BYTES {
        return Err(FrameError::TooLarge);
    }
    if headers > total - MIN_MESSAGE_BYTES || headers > MAX_HEADERS_BYTES {
        return Err(FrameError::HeadersLength);
    }
    Ok(total)
}

/// Decodes one whole message whose prelude was checked.
fn decode_message(mut bytes: Bytes) -> Result<Message, FrameError> {
    let body_end = bytes.len() - CRC_BYTES;
    let expected = (&bytes[body_end..]).get_u32();
    if crc32(&bytes[..body_end]) != expected {
        return Err(FrameError::MessageCrc);
    }
    let headers_len = (&bytes[HEADERS_LENGTH_AT..PRELUDE_CRC_COVERS]).get_u32() as usize;
    bytes.truncate(body_end);
    bytes.advance(PRELUDE_BYTES);
    let headers = bytes.split_to(headers_len);
    Ok(Message {
        headers: decode_headers(headers)?,
        payload: bytes,
    })
}

/// Reads a headers section.
fn decode_headers(mut section: Bytes) -> Result<Vec<Header>, FrameError> {
    let mut headers = Vec::new();
    while section.has_remaining() {
        if headers.len() == MAX_HEADERS {
            return Err(FrameError::TooManyHeaders);
        }
        let name_len = usize::from(take_u8(&mut section)?);
        let name = utf8(take(&mut section, name_len)?)?;
        let value = decode_value(&mut section)?;
        headers.push(Header { name, value });
    }
    Ok(headers)
}

/// Reads one typed value.
fn decode_value(section: &mut Bytes) -> Result<HeaderValue, FrameError> {
    let fixed = |section: &mut Bytes, n: usize| take(section, n);
    Ok(match take_u8(section)? {
        kind::TRUE => HeaderValue::Bool(true),
        kind::FALSE => HeaderValue::Bool(false),
        kind::BYTE => HeaderValue::Byte(fixed(section, 1)?.get_i8()),
        kind::INT16 => HeaderValue::Int16(fixed(section, 2)?.get_i16()),
        kind::INT32 => HeaderValue::Int32(fixed(section, 4)?.get_i32()),
        kind::INT64 => HeaderValue::Int64(fixed(section, 8)?.get_i64()),
        kind::TIMESTAMP => HeaderValue::Timestamp(fixed(section, 8)?.get_i64()),
        kind::BYTES => {
            let len = usize::from(fixed(section, 2)?.get_u16());
            HeaderValue::Bytes(take(section, len)?)
        }
        kind::STRING => {
            let len = usize::from(fixed(section, 2)?.get_u16());
            HeaderValue::String(utf8(take(section, len)?)?)
        }
        kind::UUID => {
            let mut uuid = [0; UUID_BYTES];
            fixed(section, UUID_BYTES)?.copy_to_slice(&mut uuid);
            HeaderValue::Uuid(uuid)
        }
        _ => return Err(FrameError::InvalidHeader),
    })
}

fn take_u8(section: &mut Bytes) -> Result<u8, FrameError> {
    Ok(take(section, 1)?.get_u8())
}

/// The next `n` bytes, or an error when the section is shorter.
fn take(section: &mut Bytes, n: usize) -> Result<Bytes, FrameError> {
    if section.len() < n {
        return Err(FrameError::InvalidHeader);
    }
    Ok(section.split_to(n))
}

fn utf8(bytes: Bytes) -> Result<String, FrameError> {
    String::from_utf8(bytes.into()).map_err(|_| FrameError::InvalidHeader)
}

/// Encodes one message. Used by tests and by fake upstreams that serve event streams; the
/// gateway itself only decodes. Fails when a name, a value or the message exceeds what the
/// framing can express ([`FrameError::InvalidHeader`], [`FrameError::TooLarge`]).
pub fn encode(headers: &[Header], payload: &[u8]) -> Result<Vec<u8>, FrameError> {
    let mut section = Vec::new();
    for header in headers {
        let name_len = u8::try_from(header.name.len()).map_err(|_| FrameError::InvalidHeader)?;
        section.push(name_len);
        section.extend_from_slice(header.name.as_bytes());
        encode_value(&header.value, &mut section)?;
    }
    let total = MIN_MESSAGE_BYTES + section.len() + payload.len();
    if total > MAX_MESSAGE_BYTES || section.len() > MAX_HEADERS_BYTES {
        return Err(FrameError::TooLarge);
    }
    // Both fit in u32: they are bounded by MAX_MESSAGE_BYTES.
    let mut message = Vec::with_capacity(total);
    message.extend_from_slice(&(total as u32).to_be_bytes());
    message.extend_from_slice(&(section.len() as u32).to_be_bytes());
    let prelude_crc = crc32(&message);
    message.extend_from_slice(&prelude_crc.to_be_bytes());
    message.extend_from_slice(&section);
    message.extend_from_slice(payload);
    let message_crc = crc32(&message);
    message.extend_from_slice(&message_crc.to_be_bytes());
    Ok(message)
}

fn encode_value(value: &HeaderValue, out: &mut Vec<u8>) -> Result<(), FrameError> {
    let sized = |code: u8, bytes: &[u8], out: &mut Vec<u8>| {
        let len = u16::try_from(bytes.len()).map_err(|_| FrameError::InvalidHeader)?;
        out.push(code);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(bytes);
        Ok(())
    };
    match value {
        HeaderValue::Bool(true) => out.push(kind::TRUE),
        HeaderValue::Bool(false) => out.push(kind::FALSE),
        HeaderValue::Byte(v) => out.extend([kind::BYTE, v.to_be_bytes()[0]]),
        HeaderValue::Int16(v) => push_fixed(kind::INT16, &v.to_be_bytes(), out),
        HeaderValue::Int32(v) => push_fixed(kind::INT32, &v.to_be_bytes(), out),
        HeaderValue::Int64(v) => push_fixed(kind::INT64, &v.to_be_bytes(), out),
        HeaderValue::Timestamp(v) => push_fixed(kind::TIMESTAMP, &v.to_be_bytes(), out),
        HeaderValue::Uuid(v) => push_fixed(kind::UUID, v, out),
        HeaderValue::Bytes(v) => return sized(kind::BYTES, v, out),
        HeaderValue::String(v) => return sized(kind::STRING, v.as_bytes(), out),
    }
    Ok(())
}

fn push_fixed(code: u8, bytes: &[u8], out: &mut Vec<u8>) {
    out.push(code);
    out.extend_from_slice(bytes);
}

/// An `event` message as AWS services send them: `:message-type: event`, `:event-type`,
/// `:content-type: application/json`, and the event's JSON body as the payload. For tests and
/// fakes, like [`encode`].
pub fn encode_event(event_type: &str, payload: &[u8]) -> Result<Vec<u8>, FrameError> {
    encode(
        &[
            Header::string(EVENT_TYPE, event_type),
            Header::string(CONTENT_TYPE, JSON),
            Header::string(MESSAGE_TYPE, "event"),
        ],
        payload,
    )
}

/// An `exception` message (`:message-type: exception`, `:exception-type`), the JSON body
/// (`{"message": …}`) as the payload. For tests and fakes, like [`encode`].
pub fn encode_exception(exception_type: &str, payload: &[u8]) -> Result<Vec<u8>, FrameError> {
    encode(
        &[
            Header::string(EXCEPTION_TYPE, exception_type),
            Header::string(CONTENT_TYPE, JSON),
            Header::string(MESSAGE_TYPE, "exception"),
        ],
        payload,
    )
}

/// The content type of JSON payloads.
const JSON: &str = "application/json";

/// CRC32 (IEEE 802.3, reflected polynomial 0xEDB88320), the checksum of the framing.
pub fn crc32(bytes: &[u8]) -> u32 {
    !bytes.iter().fold(!0u32, |crc, &byte| {
        CRC_TABLE[usize::from((crc as u8) ^ byte)] ^ (crc >> 8)
    })
}

/// The reflected IEEE polynomial.
const CRC_POLYNOMIAL: u32 = 0xEDB8_8320;

/// The CRC of every byte value, computed at compile time (one table lookup per byte).
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < table.len() {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < u8::BITS {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ CRC_POLYNOMIAL
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests;
