//! Just enough `multipart/form-data` to find and replace one text field (the `model` of an
//! audio transcription or an image edit) without parsing or copying the file parts.

use std::ops::Range;

use memchr::memmem;

/// The boundary of a `multipart/form-data; boundary=…` content type.
pub fn boundary(content_type: &str) -> Option<&str> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params
        .split(';')
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim().trim_matches('"'))
        .filter(|b| !b.is_empty())
}

/// A form with the same field name in two parts: which one counts depends on the parser, so the
/// gateway refuses it rather than check one value and forward the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duplicate;

/// The byte range of the value of form field `name` (not a file part) in `body`; `None` when no
/// part carries it, [`Duplicate`] when several parts do (file parts included: an upstream may
/// read either).
pub fn field(body: &[u8], boundary: &str, name: &str) -> Result<Option<Range<usize>>, Duplicate> {
    let mut found = None;
    for part in parts(body, boundary) {
        let headers = String::from_utf8_lossy(&body[part.headers.clone()]);
        let Some(disposition) = headers.split("\r\n").find_map(disposition) else {
            continue;
        };
        if param(disposition, "name") != Some(name) {
            continue;
        }
        if found.is_some() {
            return Err(Duplicate);
        }
        let is_file = param(disposition, "filename").is_some();
        found = Some((!is_file).then_some(part.value));
    }
    Ok(found.flatten())
}

/// One part: where its headers and its value are.
struct Part {
    headers: Range<usize>,
    value: Range<usize>,
}

/// The parts of `body`. A delimiter is `--boundary` at the very start or after a CRLF (a
/// boundary string inside a file's bytes is data, as for every conforming parser); parsing
/// ends at the close delimiter or at anything that does not parse. Linear in the body.
fn parts<'b>(body: &'b [u8], boundary: &str) -> impl Iterator<Item = Part> + 'b {
    let delimiter = format!("\r\n--{boundary}").into_bytes();
    let finder = memmem::Finder::new(&delimiter).into_owned();
    // The first delimiter may open the body without the CRLF.
    let mut at = if body.starts_with(&delimiter[2..]) {
        Some(delimiter.len() - 2)
    } else {
        finder.find(body).map(|n| n + delimiter.len())
    };
    std::iter::from_fn(move || {
        let start = at?;
        // `--` after the delimiter closes the body; otherwise the line ends with CRLF.
        let rest = body.get(start..)?;
        if rest.starts_with(b"--") {
            at = None;
            return None;
        }
        let line_end = memmem::find(rest, b"\r\n")?;
        let headers_start = start + line_end + 2;
        let header_end = memmem::find(body.get(headers_start..)?, b"\r\n\r\n")?;
        let value_start = headers_start + header_end + 4;
        // The delimiter's CRLF may be the blank line's own: a part with an empty value is
        // followed at once by `--boundary` (it must not swallow the next part).
        let search_from = value_start - 2;
        let next = finder.find(body.get(search_from..)?)? + search_from;
        at = Some(next + delimiter.len());
        Some(Part {
            headers: headers_start..headers_start + header_end,
            value: value_start..next.max(value_start),
        })
    })
}

/// The value of a `Content-Disposition` header line (name matched case-insensitively).
fn disposition(line: &str) -> Option<&str> {
    let (name, value) = line.split_once(':')?;
    name.trim()
        .eq_ignore_ascii_case("content-disposition")
        .then_some(value)
}

/// A parameter of a `Content-Disposition` value (`form-data; name="model"`): its name matched
/// case-insensitively, its value quoted or not. Parameters are split on `;` outside quoted
/// strings only (a quoted value may hold `; name=…`, which is data).
fn param<'d>(disposition: &'d str, wanted: &str) -> Option<&'d str> {
    parameters(disposition).skip(1).find_map(|p| {
        let (key, value) = p.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case(wanted)
            .then(|| unquote(value.trim()))
    })
}

/// `text` split on `;` outside double-quoted strings (with `\"` escapes inside them).
fn parameters(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let current = rest?;
        let (mut quoted, mut escaped) = (false, false);
        for (i, c) in current.char_indices() {
            match (quoted, escaped, c) {
                (true, true, _) => escaped = false,
                (true, false, '\\') => escaped = true,
                (_, false, '"') => quoted = !quoted,
                (false, _, ';') => {
                    rest = Some(&current[i + 1..]);
                    return Some(&current[..i]);
                }
                _ => {}
            }
        }
        rest = None;
        Some(current)
    })
}

/// A parameter value without its surrounding quotes.
fn unquote(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

/// `body` with the value at `range` replaced by `value`.
pub fn replace(body: &[u8], range: Range<usize>, value: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + value.len());
    out.extend_from_slice(&body[..range.start]);
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(&body[range.end..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\nRIFF--binary--\r\n--XyZ\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n--XyZ\r\nContent-Disposition: form-data; name=\"language\"\r\n\r\nen\r\n--XyZ--\r\n";

    #[test]
    fn finds_and_replaces_a_field() {
        let range = field(BODY.as_bytes(), "XyZ", "model").unwrap().unwrap();
        assert_eq!(&BODY[range.clone()], "whisper-1");
        let replaced = replace(BODY.as_bytes(), range, "my-whisper");
        let text = String::from_utf8(replaced).unwrap();
        assert!(text.contains("name=\"model\"\r\n\r\nmy-whisper\r\n--XyZ"));
        assert!(text.contains("RIFF--binary--"));
        assert_eq!(
            field(BODY.as_bytes(), "XyZ", "language").map(|r| r.map(|r| &BODY[r])),
            Ok(Some("en"))
        );
        assert_eq!(
            field(BODY.as_bytes(), "XyZ", "file"),
            Ok(None),
            "file parts are not fields"
        );
        assert_eq!(field(BODY.as_bytes(), "XyZ", "missing"), Ok(None));
    }

    #[test]
    fn a_field_given_twice_is_refused_however_it_is_spelled() {
        let part = |disposition: &str, value: &str| {
            format!("--B\r\nContent-Disposition: {disposition}\r\n\r\n{value}\r\n")
        };
        let cheap = part("form-data; name=\"model\"", "cheap-up");
        let cases = [
            part("form-data; name=\"model\"", "expensive-up"),
            part("form-data; NAME=\"model\"", "expensive-up"),
            part("form-data; name=model", "expensive-up"),
            part(
                "form-data; name=\"model\"; filename=\"m.txt\"",
                "expensive-up",
            ),
        ];
        for second in cases {
            let body = format!("{cheap}{second}--B--\r\n");
            assert_eq!(
                field(body.as_bytes(), "B", "model"),
                Err(Duplicate),
                "{second}"
            );
        }
        // A boundary string inside a part's bytes (not after CRLF) is data, not a delimiter.
        let body = format!(
            "{}--B--\r\n",
            part(
                "form-data; name=\"file\"; filename=\"a\"",
                "x--B\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nevil"
            )
        );
        let body = format!("{cheap}{body}");
        let range = field(body.as_bytes(), "B", "model").unwrap().unwrap();
        assert_eq!(&body[range], "cheap-up");
    }

    #[test]
    fn malformed_bodies_end_the_search() {
        for body in ["", "--B", "--B\r\n", "--B\r\nX: y", "--B--\r\n", "garbage"] {
            assert_eq!(field(body.as_bytes(), "B", "model"), Ok(None), "{body:?}");
        }
    }

    #[test]
    fn reads_boundaries() {
        let cases = [
            ("multipart/form-data; boundary=XyZ", Some("XyZ")),
            (
                "multipart/form-data; charset=utf-8; boundary=\"a b\"",
                Some("a b"),
            ),
            ("application/json", None),
            ("multipart/form-data", None),
        ];
        for (ct, want) in cases {
            assert_eq!(boundary(ct), want, "{ct}");
        }
    }
}
