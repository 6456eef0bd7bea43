//! The SSE framer (`stream::sse::Framer`, with `parse_event`) and the NDJSON framer
//! (`stream::ndjson::Framer`): where an upstream's chunks happen to be cut never changes the
//! events; arbitrary bytes never panic and are accounted for byte for byte; a large event fed
//! one byte at a time still finishes (each byte is scanned once).

use bytes::Bytes;
use llm_sidecar::stream::{ndjson, sse};
use proptest::prelude::*;
use serde_json::Value;

use crate::support::{chunks, config, cuts, framing_bytes};

/// Longest arbitrary input fed to a framer.
const MAX_GARBAGE: usize = 512;
/// Most events (or lines) in a generated valid stream.
const MAX_EVENTS: usize = 12;
/// Most fields in a generated SSE event.
const MAX_FIELDS: usize = 5;
/// Most fields of a generated NDJSON object.
const MAX_OBJECT_FIELDS: usize = 3;
/// Size of the event fed one byte at a time: large enough that a rescan per byte (quadratic,
/// tens of billions of byte visits) would keep the test running for minutes, small enough to
/// take about a second when linear in a debug build.
const LARGE_EVENT_BYTES: usize = 1 << 18;

/// What a framer made of a stream: its complete events (or lines) and the leftover at the end.
#[derive(Debug, PartialEq, Eq)]
struct Framed {
    events: Vec<Bytes>,
    rest: Option<Bytes>,
}

fn sse_frame(chunks: impl IntoIterator<Item = Bytes>) -> Framed {
    let mut framer = sse::Framer::default();
    let mut events = Vec::new();
    for chunk in chunks {
        framer.push(chunk, &mut events).unwrap();
    }
    Framed {
        events,
        rest: framer.finish(),
    }
}

fn ndjson_frame(chunks: impl IntoIterator<Item = Bytes>) -> Framed {
    let mut framer = ndjson::Framer::default();
    let mut lines = Vec::new();
    for chunk in chunks {
        framer.push(chunk, &mut lines).unwrap();
    }
    Framed {
        events: lines,
        rest: framer.finish(),
    }
}

/// The SSE events of a whole stream, read the way the spec (and the framer's docs) says: a line
/// ends at LF, CRLF or CR; an event ends at an empty line. A CR that is the stream's last byte
/// may be half a CRLF, so nothing after the last complete line before it counts as framed.
fn sse_reference(input: &[u8]) -> (Vec<&[u8]>, &[u8]) {
    let mut events = Vec::new();
    let (mut event_start, mut line_start, mut at) = (0, 0, 0);
    while at < input.len() {
        let term = match (input[at], input.get(at + 1)) {
            (b'\r', Some(b'\n')) => 2,
            (b'\r', None) => break,
            (b'\r' | b'\n', _) => 1,
            _ => {
                at += 1;
                continue;
            }
        };
        if at == line_start {
            events.push(&input[event_start..at + term]);
            event_start = at + term;
        }
        at += term;
        line_start = at;
    }
    (events, &input[event_start..])
}

/// The NDJSON lines of a whole stream: split at LF, each trimmed, blank ones dropped; the part
/// after the last LF is the leftover.
fn ndjson_reference(input: &[u8]) -> (Vec<&[u8]>, &[u8]) {
    let mut pieces: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
    let rest = pieces.pop().unwrap_or_default().trim_ascii();
    let lines = pieces
        .into_iter()
        .map(<[u8]>::trim_ascii)
        .filter(|l| !l.is_empty())
        .collect();
    (lines, rest)
}

/// One field line of a generated SSE event.
#[derive(Debug, Clone)]
enum Field {
    Data(String),
    Event(String),
    Id(String),
    Comment(String),
}

/// A line ending: LF, CRLF or CR.
fn line_ending() -> impl Strategy<Value = &'static str> {
    prop::sample::select(&["\n", "\r\n", "\r"][..])
}

/// Text of a field value: anything but a line ending.
fn line_text() -> impl Strategy<Value = String> {
    "[^\r\n]{0,40}"
}

fn field() -> impl Strategy<Value = Field> {
    prop_oneof![
        3 => line_text().prop_map(Field::Data),
        1 => "[a-z_.]{1,24}".prop_map(Field::Event),
        1 => line_text().prop_map(Field::Id),
        1 => line_text().prop_map(Field::Comment),
    ]
}

/// A valid SSE stream and, per event, the `event:` name and the `data:` payload a reader must
/// see. Each line takes its own line ending.
#[derive(Debug, Clone)]
struct SseStream {
    bytes: Vec<u8>,
    events: Vec<(Option<String>, String)>,
}

fn sse_stream() -> impl Strategy<Value = SseStream> {
    let event = (
        // At least one field: an event of nothing but a blank CR at the very end is whitespace,
        // which `finish` rightly drops (the arbitrary-bytes property covers it).
        prop::collection::vec((field(), line_ending(), any::<bool>()), 1..=MAX_FIELDS),
        line_ending(),
    );
    prop::collection::vec(event, 0..=MAX_EVENTS).prop_map(|events| {
        let mut bytes = Vec::new();
        let mut expected = Vec::new();
        // After a lone CR, an LF would join it into one CRLF: the blank line that ends the event
        // then takes CR too.
        let mut last_ending = "";
        for (fields, blank) in events {
            let mut name = None;
            let mut data: Option<String> = None;
            for (field, ending, tight) in fields {
                let line = match field {
                    Field::Data(value) => {
                        // `data:value` only when dropping the space cannot eat the value's own.
                        let sep = if tight && !value.starts_with(' ') {
                            ":"
                        } else {
                            ": "
                        };
                        let line = format!("data{sep}{value}");
                        data = Some(match data {
                            Some(joined) => format!("{joined}\n{value}"),
                            None => value,
                        });
                        line
                    }
                    Field::Event(value) => {
                        let line = format!("event: {value}");
                        name = Some(value);
                        line
                    }
                    Field::Id(value) => format!("id: {value}"),
                    Field::Comment(value) => format!(":{value}"),
                };
                bytes.extend_from_slice(line.as_bytes());
                bytes.extend_from_slice(ending.as_bytes());
                last_ending = ending;
            }
            let blank = if last_ending == "\r" && blank == "\n" {
                "\r"
            } else {
                blank
            };
            bytes.extend_from_slice(blank.as_bytes());
            last_ending = blank;
            expected.push((name, data.unwrap_or_default()));
        }
        SseStream {
            bytes,
            events: expected,
        }
    })
}

/// A valid NDJSON stream (compact JSON values, LF or CRLF, blank and padded lines between) and
/// the lines a reader must see.
fn ndjson_stream() -> impl Strategy<Value = (Vec<u8>, Vec<String>)> {
    let value = prop_oneof![
        any::<i64>().prop_map(Value::from),
        ".{0,24}".prop_map(Value::from),
        prop::collection::btree_map("[a-z]{1,8}", ".{0,16}", 0..=MAX_OBJECT_FIELDS)
            .prop_map(|m| serde_json::to_value(m).unwrap()),
    ];
    let line = (
        value,
        prop::sample::select(&["", " ", "\t", "  "][..]),
        prop::sample::select(&["\n", "\r\n", "\n\n", "\n \n"][..]),
    );
    (prop::collection::vec(line, 0..=MAX_EVENTS), any::<bool>()).prop_map(|(lines, trailing)| {
        let mut bytes = Vec::new();
        let mut expected = Vec::new();
        let count = lines.len();
        for (i, (value, pad, ending)) in lines.into_iter().enumerate() {
            let text = value.to_string();
            bytes.extend_from_slice(pad.as_bytes());
            bytes.extend_from_slice(text.as_bytes());
            bytes.extend_from_slice(pad.as_bytes());
            // The last line may end with the stream instead of a line ending.
            if i + 1 < count || trailing {
                bytes.extend_from_slice(ending.as_bytes());
            }
            expected.push(text);
        }
        (bytes, expected)
    })
}

proptest! {
    #![proptest_config(config())]

    /// Arbitrary bytes: the framer agrees with the reference reading, and every input byte is
    /// in an event or in the leftover (or was trailing whitespace `finish` drops).
    #[test]
    fn sse_frames_any_bytes_like_the_reference(input in framing_bytes(MAX_GARBAGE), cuts in cuts()) {
        let framed = sse_frame(chunks(&input, &cuts));
        let (events, rest) = sse_reference(&input);
        prop_assert_eq!(&framed.events, &events);
        let emitted: usize = framed.events.iter().map(Bytes::len).sum();
        prop_assert_eq!(emitted + rest.len(), input.len());
        match &framed.rest {
            Some(tail) => prop_assert_eq!(&tail[..], rest),
            None => prop_assert!(rest.iter().all(u8::is_ascii_whitespace), "{:?}", rest),
        }
    }

    /// Arbitrary splits of a valid stream give the same events as the whole stream, and those
    /// events carry exactly the names and data that were written.
    #[test]
    fn sse_split_anywhere_reads_the_same_events(stream in sse_stream(), cuts in cuts()) {
        let whole = sse_frame([Bytes::from(stream.bytes.clone())]);
        let split = sse_frame(chunks(&stream.bytes, &cuts));
        prop_assert_eq!(&split, &whole);
        // A CR ending the stream may still become a CRLF: the last event then waits in `rest`.
        let mut events = split.events.clone();
        events.extend(split.rest.clone());
        let read: Vec<(Option<String>, String)> = events
            .iter()
            .map(|raw| {
                let event = sse::parse_event(raw);
                (
                    event.name.map(str::to_owned),
                    String::from_utf8(event.data.into_owned()).unwrap(),
                )
            })
            .collect();
        prop_assert_eq!(read, stream.events);
    }

    /// `parse_event` reads any bytes without panicking, and a data payload it returns is made of
    /// the input's bytes (plus the joining newlines).
    #[test]
    fn sse_parse_event_takes_any_bytes(input in framing_bytes(MAX_GARBAGE)) {
        let event = sse::parse_event(&input);
        prop_assert!(event.data.len() <= input.len());
        if let Some(name) = event.name {
            prop_assert!(!name.contains(['\r', '\n']));
        }
    }

    /// Arbitrary bytes: lines agree with the reference reading, whatever the split.
    #[test]
    fn ndjson_frames_any_bytes_like_the_reference(input in framing_bytes(MAX_GARBAGE), cuts in cuts()) {
        let framed = ndjson_frame(chunks(&input, &cuts));
        let (lines, rest) = ndjson_reference(&input);
        prop_assert_eq!(&framed.events, &lines);
        prop_assert_eq!(framed.rest.as_deref(), (!rest.is_empty()).then_some(rest));
    }

    /// Arbitrary splits of a valid stream give the lines that were written, in order.
    #[test]
    fn ndjson_split_anywhere_reads_the_same_lines((bytes, lines) in ndjson_stream(), cuts in cuts()) {
        let whole = ndjson_frame([Bytes::from(bytes.clone())]);
        let split = ndjson_frame(chunks(&bytes, &cuts));
        prop_assert_eq!(&split, &whole);
        let read: Vec<String> = split
            .events
            .iter()
            .chain(&split.rest)
            .map(|l| String::from_utf8(l.to_vec()).unwrap())
            .collect();
        prop_assert_eq!(read, lines);
    }
}

/// A large event (and a large line) fed one byte at a time, with each line ending the SSE
/// framer must look past a chunk boundary for: it finishes, and the bytes out are the bytes in.
#[test]
fn a_large_event_fed_byte_by_byte_is_framed_whole() {
    for ending in ["\n", "\r\n", "\r"] {
        let mut input = b"data: ".to_vec();
        input.resize(LARGE_EVENT_BYTES, b'x');
        input.extend_from_slice(format!("{ending}{ending}data: tail").as_bytes());
        let framed = sse_frame(input.chunks(1).map(Bytes::copy_from_slice));
        assert_eq!(framed.events.len(), 1, "{ending:?}");
        let emitted: usize = framed.events.iter().map(Bytes::len).sum();
        let rest = framed.rest.as_deref().unwrap();
        assert_eq!(rest, b"data: tail", "{ending:?}");
        assert_eq!(emitted + rest.len(), input.len(), "{ending:?}");
    }
    let mut input = vec![b'x'; LARGE_EVENT_BYTES];
    input.extend_from_slice(b"\r\n{}");
    let framed = ndjson_frame(input.chunks(1).map(Bytes::copy_from_slice));
    assert_eq!(framed.events.len(), 1);
    assert_eq!(framed.events[0].len(), LARGE_EVENT_BYTES);
    assert_eq!(framed.rest.as_deref(), Some(&b"{}"[..]));
}
