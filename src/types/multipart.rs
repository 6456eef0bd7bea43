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

/// The byte range of the value of form field `name` (not a file part) in `body`.
pub fn field(body: &[u8], boundary: &str, name: &str) -> Option<Range<usize>> {
    let delimiter = format!("--{boundary}");
    let wanted = format!("name=\"{name}\"");
    let mut at = memmem::find(body, delimiter.as_bytes())?;
    loop {
        let part_start = at + delimiter.len();
        let next =
            memmem::find(&body[part_start..], delimiter.as_bytes()).map(|n| part_start + n)?;
        let part = &body[part_start..next];
        if let Some(header_end) = memmem::find(part, b"\r\n\r\n") {
            let headers = String::from_utf8_lossy(&part[..header_end]);
            let disposition = headers
                .lines()
                .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))
                .unwrap_or("");
            let is_field = disposition.split(';').any(|p| p.trim() == wanted)
                && !disposition.contains("filename=");
            if is_field {
                let value_start = part_start + header_end + 4;
                // The value ends before the CRLF that precedes the next delimiter.
                let value_end = next.checked_sub(2).filter(|e| *e >= value_start)?;
                return Some(value_start..value_end);
            }
        }
        at = next;
    }
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
        let range = field(BODY.as_bytes(), "XyZ", "model").unwrap();
        assert_eq!(&BODY[range.clone()], "whisper-1");
        let replaced = replace(BODY.as_bytes(), range, "my-whisper");
        let text = String::from_utf8(replaced).unwrap();
        assert!(text.contains("name=\"model\"\r\n\r\nmy-whisper\r\n--XyZ"));
        assert!(text.contains("RIFF--binary--"));
        assert_eq!(
            field(BODY.as_bytes(), "XyZ", "language").map(|r| &BODY[r]),
            Some("en")
        );
        assert_eq!(
            field(BODY.as_bytes(), "XyZ", "file"),
            None,
            "file parts are not fields"
        );
        assert_eq!(field(BODY.as_bytes(), "XyZ", "missing"), None);
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
