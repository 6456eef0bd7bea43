//! Newline-delimited JSON (NDJSON, `application/x-ndjson`): splitting a byte stream into whole
//! lines, one JSON value each. Ollama streams this way; any upstream that does can reuse it.

use bytes::{Bytes, BytesMut};
use memchr::memchr;

/// The longest single line we buffer; a longer one means a broken or hostile upstream.
pub const MAX_LINE_BYTES: usize = 8 << 20;

/// Splits incoming chunks into complete lines. Lines inside a chunk are handed out as zero-copy
/// slices of it; only a line split across chunks is copied into the buffer, and only until its
/// end arrives.
#[derive(Debug, Default)]
pub struct Framer {
    pending: BytesMut,
}

/// A line longer than [`MAX_LINE_BYTES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineTooLong;

impl Framer {
    /// Feeds one chunk and appends every line it completes to `out`, without its line ending
    /// (`\n` or `\r\n`). Blank lines carry no value and are skipped.
    pub fn push(&mut self, chunk: Bytes, out: &mut Vec<Bytes>) -> Result<(), LineTooLong> {
        let mut start = 0;
        if !self.pending.is_empty() {
            let Some(end) = memchr(b'\n', &chunk) else {
                self.pending.extend_from_slice(&chunk);
                return self.check();
            };
            self.pending.extend_from_slice(&chunk[..end]);
            emit(self.pending.split().freeze(), out);
            start = end + 1;
        }
        while let Some(offset) = memchr(b'\n', &chunk[start..]) {
            emit(chunk.slice(start..start + offset), out);
            start += offset + 1;
        }
        self.pending.extend_from_slice(&chunk[start..]);
        self.check()
    }

    /// Feeds one chunk and returns the lines it completes — the first step of a line
    /// translator's `on_chunk`.
    pub fn split(&mut self, chunk: Bytes) -> Result<Vec<Bytes>, super::StreamFault> {
        let mut lines = Vec::new();
        self.push(chunk, &mut lines)
            .map_err(|_| super::StreamFault::EventTooLarge)?;
        Ok(lines)
    }

    /// What is left when the stream ends: a last line without its line ending, if any.
    pub fn finish(&mut self) -> Option<Bytes> {
        let rest = trim_line(self.pending.split().freeze());
        (!rest.is_empty()).then_some(rest)
    }

    fn check(&self) -> Result<(), LineTooLong> {
        if self.pending.len() > MAX_LINE_BYTES {
            Err(LineTooLong)
        } else {
            Ok(())
        }
    }
}

/// Appends `line` (its `\n` already cut) unless it is blank.
fn emit(line: Bytes, out: &mut Vec<Bytes>) {
    let line = trim_line(line);
    if !line.is_empty() {
        out.push(line);
    }
}

/// Cuts surrounding whitespace (a `\r` of CRLF, stray spaces) without copying.
fn trim_line(line: Bytes) -> Bytes {
    let trimmed = line.trim_ascii();
    if trimmed.len() == line.len() {
        return line;
    }
    line.slice_ref(trimmed)
}

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
        let lines = out
            .iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect();
        let rest = framer
            .finish()
            .map(|b| String::from_utf8_lossy(&b).into_owned());
        (lines, rest)
    }

    /// Input chunks, expected lines, expected leftover.
    type FramingCase = (
        &'static [&'static [u8]],
        &'static [&'static str],
        Option<&'static str>,
    );

    #[test]
    fn splits_lines_across_chunk_boundaries_and_line_endings() {
        let cases: [FramingCase; 8] = [
            (
                &[b"{\"a\":1}\n{\"b\":2}\n"],
                &["{\"a\":1}", "{\"b\":2}"],
                None,
            ),
            (&[b"{\"a\"", b":1}\n{\"b\""], &["{\"a\":1}"], Some("{\"b\"")),
            (&[b"{\"a\":1}\r\n\r\n{}\r\n"], &["{\"a\":1}", "{}"], None),
            (&[b"{\"a\":1}\r", b"\n"], &["{\"a\":1}"], None),
            (&[b"{", b"\"a\"", b":1}", b"\n"], &["{\"a\":1}"], None),
            (&[b"{}", b"\n{}\n{", b"}\n"], &["{}", "{}", "{}"], None),
            (&[b"\n\n  \n"], &[], None),
            (&[b"{}\n", b"  "], &["{}"], None),
        ];
        for (chunks, want, rest) in cases {
            let (lines, tail) = frame(chunks);
            assert_eq!(lines, want, "{chunks:?}");
            assert_eq!(tail.as_deref(), rest, "{chunks:?}");
        }
    }

    #[test]
    fn complete_lines_are_zero_copy_slices() {
        let chunk = Bytes::from_static(b"{\"a\":1}\n{\"b\":2}\n");
        let mut framer = Framer::default();
        let mut out = Vec::new();
        framer.push(chunk.clone(), &mut out).unwrap();
        assert_eq!(out[0].as_ptr(), chunk.as_ptr());
        assert_eq!(out[1].as_ptr(), chunk[8..].as_ptr());
    }

    #[test]
    fn an_oversized_line_is_an_error() {
        let mut framer = Framer::default();
        let big = Bytes::from(vec![b'x'; MAX_LINE_BYTES + 1]);
        assert_eq!(framer.push(big, &mut Vec::new()), Err(LineTooLong));
        let mut framer = Framer::default();
        framer
            .push(Bytes::from(vec![b'x'; MAX_LINE_BYTES]), &mut Vec::new())
            .unwrap();
        assert_eq!(
            framer.push(Bytes::from_static(b"xx"), &mut Vec::new()),
            Err(LineTooLong)
        );
    }
}
