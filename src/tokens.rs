//! Token counts: a byte-length heuristic that costs nothing (admission always uses it), and
//! counts from tiktoken-rs once its tokenizer is built, for usage an upstream did not report.
//!
//! A tokenizer is expensive (o200k: ~200 ms to build, ~44 MiB resident), so it is never built at
//! start or on the request path: the first count ([`count_text`], [`estimate_scaled`]) starts
//! building it on a background thread and answers with the heuristic, as does every call until
//! it is ready. It is built at most once per process and shared; `limits.tokenizer: false`
//! keeps it unbuilt.
//!
//! Only `o200k_base` is compiled in, and in a compact form `build.rs` writes (1.6 MB instead of
//! tiktoken-rs's 3.6 MB of base64 text): each vocabulary costs its size in the binary, and
//! tiktoken-rs's own `o200k_base` alone took the static binary over its 12 MiB budget. Models of
//! the `cl100k_base` family (GPT-4, GPT-3.5, `text-embedding-*`) are counted with `o200k_base`
//! too: on English text and code the two agree within about 0.5 % (on German text o200k counts
//! about a quarter fewer tokens), against 10–25 % for the byte heuristic.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use rustc_hash::FxHashMap;
use tiktoken_rs::{CoreBPE, Rank};

/// Average bytes per token of English text under the common BPE encodings.
pub const BYTES_PER_TOKEN: u64 = 4;

/// Name of the thread that builds the tokenizer.
const BUILDER_THREAD: &str = "tokenizer-build";

/// Longest text handed to the tokenizer in one call. Its pre-tokenizing regex (fancy-regex, a
/// backtracking engine) overflows its stack on about 1 MB of whitespace, which under
/// `panic = "abort"` would take the process down; pieces this size encode in a few ms at worst.
const PIECE_BYTES: usize = 8 * 1024;
/// Most text the tokenizer reads for one count. The worst input (whitespace) encodes at about
/// 0.5 µs per byte, so a count stays near 60 ms of CPU; a longer text is counted from evenly
/// spaced pieces of this total size and scaled to its length.
const COUNT_BUDGET_BYTES: usize = 128 * 1024;

/// Estimated tokens in `bytes` bytes of text (rounded up, so any text is at least one token).
pub fn estimate_from_bytes(bytes: usize) -> u64 {
    (bytes as u64).div_ceil(BYTES_PER_TOKEN)
}

/// A token count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    /// Tokens in the text.
    pub tokens: u64,
    /// Whether the tokenizer counted them (else the byte heuristic estimated them).
    pub exact: bool,
}

/// Tokens of `text`: counted by the tokenizer when it is built, else the byte estimate (and the
/// tokenizer starts building in the background). Every model is counted with `o200k_base`, the
/// one vocabulary compiled in (see the module docs). Encoding costs about 35 µs per KB once
/// built.
pub fn count_text(text: &str) -> Estimate {
    TOKENIZER.count(text, ENABLED.load(Ordering::Relaxed))
}

/// Whether the tokenizer may be used (`limits.tokenizer`).
static ENABLED: AtomicBool = AtomicBool::new(true);

/// Applies `limits.tokenizer` (at start and on every reload). Turning it off after the
/// tokenizer was built stops its use, not its memory: that needs a restart.
pub fn configure(config: &crate::config::Config) {
    ENABLED.store(config.raw.limits.tokenizer, Ordering::Relaxed);
}

/// Tokens in `total_bytes` bytes of text of which `sample` is the beginning: the sample counted
/// by the tokenizer and scaled to the whole (exact when the sample is the whole), or the byte
/// heuristic while the tokenizer is not built (the call starts the build). Bounded work: the
/// sample is what a caller kept, a few KiB at most.
pub fn estimate_scaled(sample: &[u8], total_bytes: u64) -> u64 {
    if sample.is_empty() {
        return total_bytes.div_ceil(BYTES_PER_TOKEN);
    }
    let counted = TOKENIZER.count(
        &String::from_utf8_lossy(sample),
        ENABLED.load(Ordering::Relaxed),
    );
    if !counted.exact {
        return total_bytes.div_ceil(BYTES_PER_TOKEN);
    }
    scale(counted.tokens, total_bytes, sample.len() as u64)
}

/// Builds the tokenizer now, or waits for the build in progress; returns whether it is usable.
/// For tests and tools: it blocks for the whole build.
pub fn warm_blocking() -> bool {
    TOKENIZER.get_or_build().is_some()
}

/// The process's tokenizer.
static TOKENIZER: Slot = Slot::new();

/// A tokenizer that is built once, on first need.
struct Slot {
    /// `Some(None)` when the build failed (it cannot with the vocabulary compiled in; the
    /// heuristic then stays in use rather than retrying a 200 ms build on every call).
    tokenizer: OnceLock<Option<CoreBPE>>,
    /// Whether a background build was started.
    started: AtomicBool,
}

impl Slot {
    const fn new() -> Self {
        Self {
            tokenizer: OnceLock::new(),
            started: AtomicBool::new(false),
        }
    }

    /// The tokenizer, if it is built.
    fn ready(&self) -> Option<&CoreBPE> {
        self.tokenizer.get().and_then(Option::as_ref)
    }

    /// Builds the tokenizer on the calling thread, or waits for the build in progress.
    fn get_or_build(&self) -> Option<&CoreBPE> {
        self.tokenizer.get_or_init(build).as_ref()
    }

    /// The count of `text`: exact when built, else the estimate (starting the build); always
    /// the estimate when not `enabled`.
    fn count(&'static self, text: &str, enabled: bool) -> Estimate {
        match self.ready().filter(|_| enabled) {
            Some(bpe) => Estimate {
                tokens: count_bounded(bpe, text),
                exact: true,
            },
            None => {
                if enabled {
                    self.start();
                }
                Estimate {
                    tokens: estimate_from_bytes(text.len()),
                    exact: false,
                }
            }
        }
    }

    /// Starts the background build once.
    fn start(&'static self) {
        if self.started.swap(true, Ordering::AcqRel) {
            return;
        }
        let spawned = std::thread::Builder::new()
            .name(BUILDER_THREAD.to_owned())
            .spawn(move || {
                self.get_or_build();
            });
        if let Err(e) = spawned {
            // Out of threads: keep estimating, and let a later call try again.
            self.started.store(false, Ordering::Release);
            tracing::warn!(error = %e, "cannot start the tokenizer build");
        }
    }
}

/// Tokens of `text` with bounded work: counted piece by piece (at most [`PIECE_BYTES`] each), all
/// of it up to [`COUNT_BUDGET_BYTES`], else evenly spaced pieces of that total size, scaled to the
/// whole length. Cutting between pieces may split a token the tokenizer would have merged: a
/// difference of at most one token per piece.
fn count_bounded(bpe: &CoreBPE, text: &str) -> u64 {
    let encode = |piece: &str| bpe.encode_ordinary(piece).len() as u64;
    if text.len() <= COUNT_BUDGET_BYTES {
        return pieces(text).map(encode).sum();
    }
    let windows = COUNT_BUDGET_BYTES / PIECE_BYTES;
    let stride = text.len() / windows;
    let (mut tokens, mut counted) = (0u64, 0u64);
    for k in 0..windows {
        let start = text.floor_char_boundary(k * stride);
        let end = text.floor_char_boundary(start + PIECE_BYTES);
        if let Some(piece) = text.get(start..end) {
            tokens += encode(piece);
            counted += piece.len() as u64;
        }
    }
    scale(tokens, text.len() as u64, counted)
}

/// `text` cut into pieces of at most [`PIECE_BYTES`], each ending before a whitespace character
/// where one is near the limit (the tokenizer starts tokens at a space, so words stay whole).
fn pieces(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut end = rest.floor_char_boundary(PIECE_BYTES);
        if end < rest.len() {
            let half = rest.floor_char_boundary(end / 2);
            let tail = rest.get(half..end).unwrap_or_default();
            if let Some(space) = tail.rfind(char::is_whitespace).filter(|&at| at > 0) {
                end = half + space;
            }
        }
        if end == 0 {
            // A first character longer than a piece cannot exist (PIECE_BYTES > 4); stay safe.
            end = rest.len();
        }
        let (piece, tail) = rest.split_at_checked(end).unwrap_or((rest, ""));
        rest = tail;
        Some(piece)
    })
}

/// `tokens` counted in `counted` of `total` bytes, scaled to the whole (u128: no overflow,
/// whatever a caller claims the total is).
fn scale(tokens: u64, total: u64, counted: u64) -> u64 {
    if counted == 0 || total <= counted {
        return tokens;
    }
    let scaled = u128::from(tokens) * u128::from(total) / u128::from(counted);
    u64::try_from(scaled).unwrap_or(u64::MAX)
}

/// `o200k_base`'s ordinary tokens in rank order, each behind a one-byte length (see build.rs).
static O200K_TOKENS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/o200k_base.bin"));
/// `o200k_base`'s special tokens and their ranks (as tiktoken defines them).
const O200K_SPECIALS: [(&str, Rank); 2] = [
    (tiktoken_rs::ENDOFTEXT, 199_999),
    (tiktoken_rs::ENDOFPROMPT, 200_018),
];

/// Builds the tokenizer from the vocabulary compiled into the binary, and says so (it costs the
/// process tens of MiB for the rest of its life).
fn build() -> Option<CoreBPE> {
    let started = std::time::Instant::now();
    let built = build_bpe();
    if built.is_some() {
        tracing::info!(
            build_ms = started.elapsed().as_millis() as u64,
            "tokenizer ready"
        );
    }
    built
}

fn build_bpe() -> Option<CoreBPE> {
    let Some(encoder) = vocabulary(O200K_TOKENS) else {
        tracing::error!("cannot build the tokenizer: the embedded vocabulary is malformed");
        return None;
    };
    let specials = O200K_SPECIALS
        .iter()
        .map(|&(token, rank)| (token.to_owned(), rank))
        .collect();
    CoreBPE::new(encoder, specials, tiktoken_rs::O200K_BASE_PAT_STR)
        .map_err(|e| tracing::error!(error = %e, "cannot build the tokenizer"))
        .ok()
}

/// The token → rank map of a compact vocabulary; `None` when it is cut short.
fn vocabulary(mut data: &[u8]) -> Option<FxHashMap<Vec<u8>, Rank>> {
    let mut encoder = FxHashMap::default();
    let mut rank: Rank = 0;
    while let Some((&len, rest)) = data.split_first() {
        let len = usize::from(len);
        // Length 0 marks a rank without a token.
        if len > 0 {
            encoder.insert(rest.get(..len)?.to_vec(), rank);
        }
        data = rest.get(len..)?;
        rank += 1;
    }
    Some(encoder)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_round_up() {
        for (bytes, want) in [(0, 0), (1, 1), (4, 1), (5, 2), (400, 100)] {
            assert_eq!(estimate_from_bytes(bytes), want);
        }
    }

    #[test]
    fn the_compact_vocabulary_counts_like_tiktoken_rs() {
        assert!(warm_blocking());
        let ours = TOKENIZER.ready().unwrap();
        let theirs = tiktoken_rs::o200k_base().unwrap();
        let texts = [
            "Hello, world!",
            "Grüße aus München — 東京 🚀",
            "fn main() { println!(\"{}\", 1 + 2); }\n\n\t",
            "<|endoftext|> stays ordinary text",
        ];
        for text in texts {
            assert_eq!(
                ours.encode_ordinary(text),
                theirs.encode_ordinary(text),
                "{text}"
            );
        }
        assert_eq!(
            vocabulary(&[3, b'a']),
            None,
            "a cut-short vocabulary is refused"
        );
        assert_eq!(vocabulary(&[]).map(|v| v.len()), Some(0));
    }

    #[test]
    fn the_tokenizer_is_on_unless_the_config_says_no() {
        let base = "providers:\n  - {name: m, type: mock, models: [m]}\n";
        let cases = [
            ("", true),
            ("limits: {tokenizer: true}\n", true),
            ("limits: {tokenizer: false}\n", false),
        ];
        for (limits, want) in cases {
            let config = crate::config::parse(&format!("{base}{limits}"), None).unwrap();
            assert_eq!(config.raw.limits.tokenizer, want, "{limits:?}");
        }
    }

    #[test]
    fn estimates_until_ready() {
        // A private slot that nothing has built: the heuristic answers, and the first call
        // starts the build (whose result this test does not wait for).
        let slot: &'static Slot = Box::leak(Box::new(Slot::new()));
        let estimate = Estimate {
            tokens: 5,
            exact: false,
        };
        // Disabled: the estimate, and no build is started.
        assert_eq!(slot.count("hello world, twelve", false), estimate);
        assert!(!slot.started.load(Ordering::Acquire));
        assert_eq!(slot.count("hello world, twelve", true), estimate);
        assert!(slot.started.load(Ordering::Acquire));
    }

    #[test]
    fn scaled_estimates_count_the_sample_and_scale_it() {
        assert!(warm_blocking());
        let text = "The quick brown fox jumps over the lazy dog.";
        let exact = count_text(text).tokens;
        let len = text.len() as u64;
        let cases = [
            ("", 10, 3),
            (text, len, exact),
            (text, 2 * len, 2 * exact),
            (text, len / 2, exact),
        ];
        for (sample, total, want) in cases {
            assert_eq!(
                estimate_scaled(sample.as_bytes(), total),
                want,
                "{sample:?} of {total}"
            );
        }
    }

    #[test]
    fn long_texts_are_counted_in_bounded_pieces() {
        assert!(warm_blocking());
        let bpe = TOKENIZER.ready().unwrap();
        // Whitespace runs overflow the tokenizer's regex stack at about 1 MB in one call; these
        // inputs encode to a known number of bytes per token.
        let cases = [
            (" ".repeat(2 << 20), 128),
            ("\n".repeat(2 << 20), 16),
            ("a".repeat(3 << 20), 8),
        ];
        for (text, bytes_per_token) in &cases {
            let pieces: Vec<&str> = pieces(text).collect();
            assert_eq!(pieces.concat(), *text, "pieces cover the text");
            assert!(
                pieces
                    .iter()
                    .all(|p| !p.is_empty() && p.len() <= PIECE_BYTES)
            );
            let want = text.len() as u64 / bytes_per_token;
            assert_eq!(count_bounded(bpe, text), want, "{} bytes", text.len());
        }
        // A long text is counted from a sample; on varied prose the scaled count stays close.
        let prose = "The quick brown fox jumps over the lazy dog. Grüße aus München! 東京 ";
        let text = prose.repeat(COUNT_BUDGET_BYTES * 3 / prose.len());
        let exact: u64 = pieces(&text)
            .map(|p| bpe.encode_ordinary(p).len() as u64)
            .sum();
        let sampled = count_bounded(bpe, &text);
        assert!(
            sampled.abs_diff(exact) * 100 < exact * 2,
            "{sampled} vs {exact}"
        );
        // Within the budget, the cuts cost at most a token each.
        let text = prose.repeat(1_000);
        let whole = bpe.encode_ordinary(&text).len() as u64;
        let cuts = pieces(&text).count() as u64;
        assert!(count_bounded(bpe, &text).abs_diff(whole) <= cuts);
    }

    #[test]
    fn pieces_cut_before_whitespace_and_on_char_boundaries() {
        let word = "é".repeat(PIECE_BYTES); // no whitespace at all: cut on a char boundary
        assert!(pieces(&word).all(|p| p.len() <= PIECE_BYTES && p.starts_with('é')));
        let words = "word ".repeat(PIECE_BYTES);
        assert!(pieces(&words).skip(1).all(|p| p.starts_with(' ')));
        assert_eq!(pieces("").count(), 0);
        assert_eq!(pieces("hi").collect::<Vec<_>>(), ["hi"]);
    }

    #[test]
    fn exact_once_ready() {
        assert!(warm_blocking());
        assert!(TOKENIZER.ready().is_some());
        let cases = [
            ("hello world", 2),
            ("", 0),
            ("Hello, world!", 4),
            ("tiktoken is great!", 6),
        ];
        for (text, want) in cases {
            assert_eq!(
                count_text(text),
                Estimate {
                    tokens: want,
                    exact: true
                },
                "{text}"
            );
        }
    }
}
