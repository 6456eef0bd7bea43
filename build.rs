//! Build script: writes the `o200k_base` vocabulary in a compact form the binary embeds.
//!
//! tiktoken-rs embeds its vocabularies as base64 text with a decimal rank on every line (3.6 MB
//! for `o200k_base`), which took the static binary over its 12 MiB budget. The same tokens as
//! pairs of ranks (`src/tokens/vocabulary.rs`, which this script compiles in as well, so writer
//! and reader share one definition) deflate to 0.73 MB; `src/tokens` builds the tokenizer from
//! them. The vocabulary still comes from tiktoken-rs (a build dependency of the same version), so
//! the two cannot drift apart.
//!
//! For the static x86_64 musl build it also compiles `native/mem.c`, a `memcpy`/`memmove` that
//! replaces musl's slow-starting ones at link time (see that file and BENCHMARKS.md).

use std::error::Error;
use std::path::PathBuf;

#[path = "src/tokens/vocabulary.rs"]
#[allow(dead_code, reason = "`decode` is the binary's")]
mod vocabulary;

/// miniz's highest compression level.
const DEFLATE_LEVEL: u8 = 10;

/// Ranks of `o200k_base` ordinary tokens are `0..ORDINARY_RANKS` (its special tokens come after).
const ORDINARY_RANKS: u32 = 199_998;

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=src/tokens/vocabulary.rs");
    // native/link.sh links the static build with this layout: a new one must relink it.
    println!("cargo::rerun-if-changed=native/hot.order");
    println!("cargo::rerun-if-changed=native/link.sh");
    fast_mem();
    let bpe = tiktoken_rs::o200k_base()?;
    let tokens = (0..ORDINARY_RANKS)
        .map(|rank| bpe.decode_bytes(&[rank]))
        .collect::<Result<Vec<_>, _>>()?;
    let compact = vocabulary::encode(&tokens)?;
    // Deflated at the highest level: inflating it costs the first `count_tokens` a few ms.
    let deflated = miniz_oxide::deflate::compress_to_vec(&compact, DEFLATE_LEVEL);
    let path = PathBuf::from(std::env::var("OUT_DIR")?).join("o200k_base.bin.deflate");
    std::fs::write(path, deflated)?;
    Ok(())
}

/// Compiles `native/mem.c` when building for x86_64 musl, where libc's `memcpy` is the slow one.
fn fast_mem() {
    println!("cargo::rerun-if-changed=native/mem.c");
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if env != "musl" || arch != "x86_64" {
        return;
    }
    cc::Build::new()
        .file("native/mem.c")
        .opt_level(2)
        // The file is its own `memcpy`: nothing in it may be turned back into a call to one.
        .flag("-ffreestanding")
        .flag_if_supported("-fno-tree-loop-distribute-patterns")
        .compile("llm_sidecar_mem");
}
