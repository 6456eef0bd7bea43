//! Server-sent events: splitting a byte stream into whole events (LF, CRLF or CR line endings),
//! reading an event's `event:` and `data:` fields, and encoding events.

use std::borrow::Cow;

use bytes::{Bytes, BytesMut};
use memchr::memchr2;

/// The largest single event we buffer; a larger one means a broken or hostile upstream.
pub const MAX_EVENT_BYTES: usize = 8 << 20;

/// Splits incoming chunks into complete SSE events. Complete events inside a chunk are handed out
/// as zero-copy slices of it; only a trailing partial event is copied into the buffer. Each byte
/// is scanned once: a partial event's scan resumes where the last chunk's stopped, so an event
/// that arrives a byte at a time costs linear, not quadratic, time.
#[derive(Debug, Default)]
pub struct Framer {
    pending: BytesMut,
    resume: Resume,
}

/// Where the scan of `pending` for an event's end stopped.
#[derive(Debug, Default, Clone, Copy)]
struct Resume {
    /// The next byte to look at.
    at: usize,
    /// Where the line being scanned starts.
    line_start: usize,
}

/// An event larger than [`MAX_EVENT_BYTES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventTooLarge;

impl Framer {
    /// Feeds one chunk and appends every event it completes (each with its terminating blank
    /// line) to `out`.
    pub fn push(&mut self, chunk: Bytes, out: &mut Vec<Bytes>) -> Result<(), EventTooLarge> {
        if self.pending.is_empty() {
            let mut start = 0;
            let mut resume = Resume::default();
            while let Some(end) = event_end(&chunk[start..], &mut resume) {
                out.push(chunk.slice(start..start + end));
                start += end;
            }
            // The scan state of the tail carries over: the tail becomes `pending` as it is.
            self.resume = resume;
            self.pending.extend_from_slice(&chunk[start..]);
        } else {
            self.pending.extend_from_slice(&chunk);
            while let Some(end) = event_end(&self.pending, &mut self.resume) {
                out.push(self.pending.split_to(end).freeze());
            }
        }
        if self.pending.len() > MAX_EVENT_BYTES {
            return Err(EventTooLarge);
        }
        Ok(())
    }

    /// Feeds one chunk and returns the events it completes — the first step of every event
    /// translator's `on_chunk`.
    pub fn split(&mut self, chunk: Bytes) -> Result<Vec<Bytes>, super::StreamFault> {
        let mut events = Vec::new();
        self.push(chunk, &mut events)
            .map_err(|_| super::StreamFault::EventTooLarge)?;
        Ok(events)
    }

    /// What is left when the stream ends: a final event without its blank line, if any.
    pub fn finish(&mut self) -> Option<Bytes> {
        self.resume = Resume::default();
        let rest = self.pending.split().freeze();
        (!rest.iter().all(u8::is_ascii_whitespace)).then_some(rest)
    }
}

/// Length of the first complete event in `buf` (through its blank line), if there is one. The
/// scan starts at `resume` and leaves it where it stopped: reset after an event, else at the
/// end of what was scanned, for the next call on the same (grown) buffer.
fn event_end(buf: &[u8], resume: &mut Resume) -> Option<usize> {
    let Resume {
        mut at,
        mut line_start,
    } = *resume;
    while let Some(offset) = buf.get(at..).and_then(|rest| memchr2(b'\n', b'\r', rest)) {
        let pos = at + offset;
        let term = if buf[pos] == b'\r' {
            match buf.get(pos + 1) {
                Some(b'\n') => 2,
                Some(_) => 1,
                // A lone CR at the end may be the first half of CRLF: look at it again later.
                None => {
                    *resume = Resume {
                        at: pos,
                        line_start,
                    };
                    return None;
                }
            }
        } else {
            1
        };
        if pos == line_start {
            *resume = Resume::default();
            return Some(pos + term);
        }
        line_start = pos + term;
        at = line_start;
    }
    *resume = Resume {
        at: buf.len(),
        line_start,
    };
    None
}

/// The fields of one event that the gateway reads.
#[derive(Debug, PartialEq, Eq)]
pub struct Event<'a> {
    /// The `event:` name, if any.
    pub name: Option<&'a str>,
    /// The `data:` payload; several data lines are joined with `\n`.
    pub data: Cow<'a, [u8]>,
}

/// Reads the `event:` and `data:` fields of one raw event.
pub fn parse_event(raw: &[u8]) -> Event<'_> {
    let mut name = None;
    let mut data: Option<Cow<'_, [u8]>> = None;
    for line in raw.split(|&b| b == b'\n' || b == b'\r') {
        if let Some(value) = field_value(line, b"data") {
            data = Some(match data {
                None => Cow::Borrowed(value),
                Some(prev) => {
                    let mut joined = prev.into_owned();
                    joined.push(b'\n');
                    joined.extend_from_slice(value);
                    Cow::Owned(joined)
                }
            });
        } else if let Some(value) = field_value(line, b"event") {
            name = std::str::from_utf8(value).ok();
        }
    }
    Event {
        name,
        data: data.unwrap_or(Cow::Borrowed(&[])),
    }
}

fn field_value<'a>(line: &'a [u8], field: &[u8]) -> Option<&'a [u8]> {
    let rest = line.strip_prefix(field)?.strip_prefix(b":")?;
    Some(rest.strip_prefix(b" ").unwrap_or(rest))
}

/// `event` (a stream's unterminated last event) with the line ending and blank line it lacks,
/// so that it reads as one whole event and nothing sent after it joins it.
pub fn complete_event(event: Bytes) -> Bytes {
    if event.ends_with(b"\n\n") || event.ends_with(b"\r\n\r\n") {
        return event;
    }
    let missing: &[u8] = match event.as_ref() {
        // The last line is ended: only the blank line is missing.
        [.., b'\n'] => b"\n",
        // A trailing CR after a line ending is the blank line, waiting for its LF.
        [.., b'\n' | b'\r', b'\r'] => b"\n",
        // A CR ending the last line: LF joins it (CRLF), then the blank line.
        _ => b"\n\n",
    };
    let mut out = BytesMut::with_capacity(event.len() + missing.len());
    out.extend_from_slice(&event);
    out.extend_from_slice(missing);
    out.freeze()
}

/// Encodes `data: <payload>\n\n`.
pub fn data_event(payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(payload.len() + 8);
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\n\n");
    out.freeze()
}

/// Encodes `event: <name>\ndata: <payload>\n\n`.
pub fn named_event(name: &str, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(name.len() + payload.len() + 16);
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\n\n");
    out.freeze()
}

/// The OpenAI stream terminator.
pub const DONE: &[u8] = b"data: [DONE]\n\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(chunks: &[&[u8]]) -> (Vec<String>, Option<String>) {
        let mut framer = Framer::default();
        let mut out = Vec::new();
        for chunk in chunks {
            framer
                .push(Bytes::copy_from_slice(chunk), &mut out)
                .unwrap();
        }
        let events = out
            .iter()
            .map(|e| String::from_utf8_lossy(e).into_owned())
            .collect();
        (
            events,
            framer
                .finish()
                .map(|b| String::from_utf8_lossy(&b).into_owned()),
        )
    }

    /// Input chunks, expected events, expected leftover.
    type FramingCase = (
        &'static [&'static [u8]],
        &'static [&'static str],
        Option<&'static str>,
    );

    #[test]
    fn splits_events_across_chunk_boundaries_and_line_endings() {
        let cases: [FramingCase; 6] = [
            (
                &[b"data: a\n\ndata: b\n\n"],
                &["data: a\n\n", "data: b\n\n"],
                None,
            ),
            (
                &[b"data: a\n", b"\ndata: b"],
                &["data: a\n\n"],
                Some("data: b"),
            ),
            (&[b"data: a\r\n\r\n"], &["data: a\r\n\r\n"], None),
            (&[b"data: a\r", b"\n\r\n"], &["data: a\r\n\r\n"], None),
            (
                &[b"event: x\ndata: 1\n\n: comment\n\n"],
                &["event: x\ndata: 1\n\n", ": comment\n\n"],
                None,
            ),
            (
                &[b"da", b"ta: ", b"split\n", b"\n"],
                &["data: split\n\n"],
                None,
            ),
        ];
        for (chunks, want, rest) in cases {
            let (events, tail) = frame(chunks);
            assert_eq!(events, want, "{chunks:?}");
            assert_eq!(tail.as_deref(), rest, "{chunks:?}");
        }
    }

    #[test]
    fn complete_events_are_zero_copy_slices() {
        let chunk = Bytes::from_static(b"data: a\n\ndata: b\n\n");
        let mut framer = Framer::default();
        let mut out = Vec::new();
        framer.push(chunk.clone(), &mut out).unwrap();
        assert_eq!(out[0].as_ptr(), chunk.as_ptr());
    }

    #[test]
    fn an_event_arriving_byte_by_byte_is_scanned_once() {
        // A 1 MiB event one byte at a time: quadratic rescans would take minutes, not ms.
        let mut event = b"data: ".to_vec();
        event.extend(std::iter::repeat_n(b'x', 1 << 20));
        event.extend_from_slice(b"\r\n\r\ndata: b\n\n");
        let mut framer = Framer::default();
        let mut out = Vec::new();
        for byte in &event {
            framer
                .push(Bytes::copy_from_slice(&[*byte]), &mut out)
                .unwrap();
        }
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].len(), (1 << 20) + "data: \r\n\r\n".len());
        assert_eq!(&out[1][..], b"data: b\n\n");
        assert_eq!(framer.finish(), None);
    }

    #[test]
    fn an_unterminated_last_event_is_completed() {
        for tail in [
            "data: x",
            "data: x\n",
            "data: x\r",
            "data: x\r\n",
            ":\r",
            "data: x\n\r",
        ] {
            let completed = complete_event(Bytes::from(tail));
            let (events, rest) = frame(&[&completed]);
            assert_eq!((events.len(), rest), (1, None), "{tail:?}");
        }
        let whole = Bytes::from_static(b"data: x\n\n");
        assert_eq!(complete_event(whole.clone()), whole);
    }

    #[test]
    fn oversized_event_is_an_error() {
        let mut framer = Framer::default();
        let big = Bytes::from(vec![b'x'; MAX_EVENT_BYTES + 1]);
        assert_eq!(framer.push(big, &mut Vec::new()), Err(EventTooLarge));
    }

    #[test]
    fn parses_fields() {
        let cases: [(&[u8], Option<&str>, &[u8]); 4] = [
            (b"data: {\"a\":1}\n\n", None, b"{\"a\":1}"),
            (
                b"event: message_start\ndata: {}\n\n",
                Some("message_start"),
                b"{}",
            ),
            (b"data:x\ndata: y\r\n\r\n", None, b"x\ny"),
            (b": keep-alive\n\n", None, b""),
        ];
        for (raw, name, data) in cases {
            let event = parse_event(raw);
            assert_eq!(event.name, name);
            assert_eq!(event.data.as_ref(), data);
        }
    }

    #[test]
    fn encodes() {
        assert_eq!(&data_event(b"{}")[..], b"data: {}\n\n");
        assert_eq!(
            &named_event("ping", b"{}")[..],
            b"event: ping\ndata: {}\n\n"
        );
    }
}
