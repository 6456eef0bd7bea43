//! Token counts: bytes / 4 for admission ([`estimate_from_bytes`]), a calibrated per-script
//! estimate for usage an upstream did not report ([`estimate_text`], [`estimate_scaled`]), and
//! exact counts from tiktoken-rs for `count_tokens` ([`count_text`]).
//!
//! A tokenizer is expensive (o200k: ~200 ms to build, ~40 MiB resident), so it exists only while
//! something asks for exact counts: the first [`count_text`] starts building it on a background
//! thread and answers with the estimate, as does every call until it is ready; it is released
//! (and its memory returned) after `limits.tokenizer_idle` without a count. An abandoned stream
//! or an upstream without usage never builds it: their estimate is the calibrated one, which
//! samples cannot make exact anyway. `limits.tokenizer: false` keeps it unbuilt.
//!
//! Only `o200k_base` is compiled in, in the compact form of [`vocabulary`] (each token a pair of
//! ranks, deflated: 0.73 MB instead of tiktoken-rs's 3.6 MB of base64 text): each vocabulary
//! costs its size in the binary, and
//! tiktoken-rs's own `o200k_base` alone took the static binary over its 12 MiB budget. Models of
//! the `cl100k_base` family (GPT-4, GPT-3.5, `text-embedding-*`) are counted with `o200k_base`
//! too: on English text and code the two agree within about 0.5 % (on German text o200k counts
//! about a quarter fewer tokens), against 10–25 % for the byte heuristic.

mod estimate;
mod vocabulary;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;
use tiktoken_rs::{CoreBPE, Rank};

pub use estimate::estimate_text;

/// Average bytes per token of English text under the common BPE encodings: the admission
/// estimate's rule, which errs high on purpose (it reserves budget before anything is counted).
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
    /// Whether the tokenizer counted them (else the calibrated estimate).
    pub exact: bool,
}

/// Tokens of `text`: counted by the tokenizer when it is built, else the calibrated estimate
/// (and the tokenizer starts building in the background). Every model is counted with
/// `o200k_base`, the one vocabulary compiled in (see the module docs). Encoding costs about
/// 35 µs per KB once built.
pub fn count_text(text: &str) -> Estimate {
    TOKENIZER.count(text, ENABLED.load(Ordering::Relaxed))
}

/// Whether the tokenizer may be used (`limits.tokenizer`).
static ENABLED: AtomicBool = AtomicBool::new(true);
/// `limits.tokenizer_idle` in milliseconds.
static IDLE_MS: AtomicU64 = AtomicU64::new(0);

/// Applies `limits.tokenizer` and `limits.tokenizer_idle` (at start and on every reload).
/// Turning the tokenizer off releases it at the next [`release_when_idle`] check.
pub fn configure(config: &crate::config::Config) {
    let limits = &config.raw.limits;
    ENABLED.store(limits.tokenizer, Ordering::Relaxed);
    let idle = u64::try_from(limits.tokenizer_idle.as_millis()).unwrap_or(u64::MAX);
    IDLE_MS.store(idle, Ordering::Relaxed);
}

/// Tokens in `total_bytes` bytes of text of which `sample` is the beginning: the calibrated
/// estimate of the sample, scaled to the whole. Bounded work: the sample is what a caller kept,
/// a few KiB at most; a sample cut inside a character loses only that character.
pub fn estimate_scaled(sample: &[u8], total_bytes: u64) -> u64 {
    let text = estimate::utf8_prefix(sample);
    if text.is_empty() {
        return total_bytes.div_ceil(BYTES_PER_TOKEN);
    }
    scale(estimate_text(text), total_bytes, text.len() as u64)
}

/// Builds the tokenizer now unless it is built; returns whether it is usable. For tests and
/// tools: it blocks for the whole build, even when a background build is already running (the
/// last one stored wins).
pub fn warm_blocking() -> bool {
    TOKENIZER.get_or_build().is_some()
}

/// Releases the tokenizer whenever it has gone `limits.tokenizer_idle` without a count (or is
/// turned off), checking a few times per idle period. Runs for the life of the process.
pub async fn release_when_idle() {
    loop {
        let idle = Duration::from_millis(IDLE_MS.load(Ordering::Relaxed));
        tokio::time::sleep((idle / IDLE_CHECKS_PER_PERIOD).max(MIN_IDLE_CHECK)).await;
        let enabled = ENABLED.load(Ordering::Relaxed);
        if let Some(released) = TOKENIZER.release_if_idle(idle, enabled) {
            // Freeing ~400k allocations takes milliseconds: not on a request worker.
            let _ = tokio::task::spawn_blocking(move || drop(released)).await;
            tracing::info!("tokenizer released after being idle");
        }
    }
}

/// Checks per `limits.tokenizer_idle` period: a tokenizer is released at most a quarter of
/// the period late.
const IDLE_CHECKS_PER_PERIOD: u32 = 4;
/// Shortest time between two idle checks, whatever the period.
const MIN_IDLE_CHECK: Duration = Duration::from_secs(1);

/// The process's tokenizer.
static TOKENIZER: Slot = Slot::new();

/// A tokenizer built on first need and released when idle.
struct Slot {
    tokenizer: Mutex<Option<Arc<CoreBPE>>>,
    /// Whether a build is in progress (one at a time).
    building: AtomicBool,
    /// When a count last used the tokenizer, in milliseconds since [`epoch`].
    last_used_ms: AtomicU64,
}

/// The instant `last_used_ms` counts from.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ms() -> u64 {
    u64::try_from(epoch().elapsed().as_millis()).unwrap_or(u64::MAX)
}

impl Slot {
    const fn new() -> Self {
        Self {
            tokenizer: Mutex::new(None),
            building: AtomicBool::new(false),
            last_used_ms: AtomicU64::new(0),
        }
    }

    /// The tokenizer, if it is built. The lock only guards a pointer copy: a panic cannot
    /// leave it half-written, so a poisoned lock is still good.
    fn ready(&self) -> Option<Arc<CoreBPE>> {
        self.tokenizer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn store(&self, bpe: Option<Arc<CoreBPE>>) -> Option<Arc<CoreBPE>> {
        let mut slot = self
            .tokenizer
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        std::mem::replace(&mut *slot, bpe)
    }

    /// Builds the tokenizer on the calling thread unless it is built.
    fn get_or_build(&self) -> Option<Arc<CoreBPE>> {
        if let Some(bpe) = self.ready() {
            return Some(bpe);
        }
        let bpe = Arc::new(build()?);
        self.last_used_ms.store(now_ms(), Ordering::Relaxed);
        self.store(Some(bpe.clone()));
        Some(bpe)
    }

    /// The count of `text`: exact when built, else the estimate (starting the build); always
    /// the estimate when not `enabled`.
    fn count(&'static self, text: &str, enabled: bool) -> Estimate {
        if enabled {
            self.last_used_ms.store(now_ms(), Ordering::Relaxed);
            if let Some(bpe) = self.ready() {
                return Estimate {
                    tokens: count_bounded(&bpe, text),
                    exact: true,
                };
            }
            self.start();
        }
        Estimate {
            tokens: estimate_text(text),
            exact: false,
        }
    }

    /// Takes the tokenizer out when it went `idle` without a count, or is not `enabled`.
    fn release_if_idle(&self, idle: Duration, enabled: bool) -> Option<Arc<CoreBPE>> {
        let unused_ms = now_ms().saturating_sub(self.last_used_ms.load(Ordering::Relaxed));
        let idle_ms = u64::try_from(idle.as_millis()).unwrap_or(u64::MAX);
        if enabled && unused_ms < idle_ms {
            return None;
        }
        self.store(None)
    }

    /// Starts a background build unless one is running.
    fn start(&'static self) {
        if self.building.swap(true, Ordering::AcqRel) {
            return;
        }
        let spawned = std::thread::Builder::new()
            .name(BUILDER_THREAD.to_owned())
            .spawn(move || {
                self.get_or_build();
                self.building.store(false, Ordering::Release);
            });
        if let Err(e) = spawned {
            // Out of threads: keep estimating, and let a later call try again.
            self.building.store(false, Ordering::Release);
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

/// `o200k_base`'s ordinary tokens in the compact form of [`vocabulary`], deflated (see build.rs).
static O200K_DEFLATED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/o200k_base.bin.deflate"));
/// Most bytes the vocabulary may inflate to (it is 1.2 MB): a corrupt stream cannot grow past it.
const MAX_VOCABULARY_BYTES: usize = 4 << 20;
/// `o200k_base`'s special tokens and their ranks (as tiktoken defines them).
const O200K_SPECIALS: [(&str, Rank); 2] = [
    (tiktoken_rs::ENDOFTEXT, 199_999),
    (tiktoken_rs::ENDOFPROMPT, 200_018),
];

/// Builds the tokenizer from the vocabulary compiled into the binary, and says so (it costs the
/// process tens of MiB until it is released).
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
    let tokens =
        miniz_oxide::inflate::decompress_to_vec_with_limit(O200K_DEFLATED, MAX_VOCABULARY_BYTES)
            .ok();
    let Some(encoder) = tokens.as_deref().and_then(encoder) else {
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

/// The token → rank map of a compact vocabulary (see [`vocabulary`]); `None` when it is malformed.
fn encoder(data: &[u8]) -> Option<FxHashMap<Vec<u8>, Rank>> {
    let tokens = vocabulary::decode(data)?;
    let mut encoder = FxHashMap::with_capacity_and_hasher(tokens.len(), Default::default());
    for (rank, token) in tokens.into_iter().enumerate() {
        encoder.insert(token, Rank::try_from(rank).ok()?);
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
    }

    #[test]
    fn the_compact_vocabulary_is_tiktoken_rs_own() {
        let tokens = miniz_oxide::inflate::decompress_to_vec(O200K_DEFLATED).unwrap();
        let ours = vocabulary::decode(&tokens).unwrap();
        let theirs = tiktoken_rs::o200k_base().unwrap();
        assert_eq!(ours.len(), 199_998);
        for (rank, token) in ours.iter().enumerate() {
            let want = theirs.decode_bytes(&[rank as Rank]).unwrap();
            assert_eq!(token, &want, "rank {rank}");
        }
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
        // A private slot that nothing has built: the estimate answers, and the first call
        // starts the build (whose result this test does not wait for).
        let slot: &'static Slot = Box::leak(Box::new(Slot::new()));
        let text = "hello world, twelve";
        let estimate = Estimate {
            tokens: estimate_text(text),
            exact: false,
        };
        // Disabled: the estimate, and no build is started.
        assert_eq!(slot.count(text, false), estimate);
        assert!(!slot.building.load(Ordering::Acquire));
        assert_eq!(slot.count(text, true), estimate);
        assert!(
            slot.building.load(Ordering::Acquire) || slot.ready().is_some(),
            "the first count starts the build"
        );
    }

    #[test]
    fn an_idle_or_disabled_tokenizer_is_released() {
        assert!(warm_blocking());
        let bpe = TOKENIZER.ready().unwrap();
        let hour = Duration::from_secs(3600);
        // (idle period, enabled, released?)
        let cases = [
            (hour, true, false),
            (Duration::ZERO, true, true),
            (hour, false, true),
        ];
        for (idle, enabled, released) in cases {
            let slot = Slot::new();
            slot.store(Some(bpe.clone()));
            slot.last_used_ms.store(now_ms(), Ordering::Relaxed);
            assert_eq!(
                slot.release_if_idle(idle, enabled).is_some(),
                released,
                "{idle:?} {enabled}"
            );
            assert_eq!(slot.ready().is_none(), released);
        }
    }

    #[test]
    fn scaled_estimates_estimate_the_sample_and_scale_it() {
        let text = "The quick brown fox jumps over the lazy dog.";
        let estimate = estimate_text(text);
        let len = text.len() as u64;
        let cases = [
            ("", 10, 3),
            (text, len, estimate),
            (text, 2 * len, 2 * estimate),
            (text, len / 2, estimate),
        ];
        for (sample, total, want) in cases {
            assert_eq!(
                estimate_scaled(sample.as_bytes(), total),
                want,
                "{sample:?} of {total}"
            );
        }
        // A sample cut inside a character still counts what comes before it.
        let cut = &"ab é".as_bytes()[..4];
        assert_eq!(estimate_scaled(cut, 4), estimate_text("ab "));
    }

    /// The calibrated estimate against the tokenizer on the corpus: within 10 % on average and
    /// 20 % on any text, where the byte rule is off by more than twice as much on average.
    #[test]
    fn the_estimate_stays_close_to_the_tokenizer_on_real_text() {
        assert!(warm_blocking());
        let bpe = TOKENIZER.ready().unwrap();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tokens");
        let (mut ours, mut bytes_rule, mut texts) = (0.0, 0.0, 0.0);
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "txt") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let exact = count_bounded(&bpe, &text) as f64;
            let error = (estimate_text(&text) as f64 - exact).abs() / exact;
            assert!(error < 0.2, "{}: {:.0} %", path.display(), error * 100.0);
            ours += error;
            bytes_rule += (estimate_from_bytes(text.len()) as f64 - exact).abs() / exact;
            texts += 1.0;
        }
        assert!(texts >= 16.0, "the corpus is in {}", dir.display());
        let (ours, bytes_rule) = (ours / texts, bytes_rule / texts);
        assert!(ours < 0.1, "mean error {:.1} %", ours * 100.0);
        assert!(ours * 2.0 < bytes_rule, "{ours} vs {bytes_rule}");
    }

    #[test]
    fn long_texts_are_counted_in_bounded_pieces() {
        assert!(warm_blocking());
        let bpe = TOKENIZER.ready().unwrap();
        let bpe = &*bpe;
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
