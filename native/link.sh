#!/bin/sh
# Linker of the static x86_64 musl build (.cargo/config.toml): `cc` with LLD, told to lay out
# first the functions the gateway runs at start and on the request path (native/hot.order).
#
# Why: the kernel maps an executable's pages 64 KiB at a time around each page fault
# ("fault-around"). With the linker's default layout the code that runs is scattered over the
# whole `.text`, so an idle gateway kept 5.2-5.6 of its 8.1 MiB of code resident; grouped, it
# keeps about 2.4 MiB (BENCHMARKS.md, "hot code first").
#
# native/hot.order holds symbol names without what changes from build to build (hashes, crate
# disambiguators: the profile, the toolchain and the flags change them), so this script finds
# the names the objects being linked really define (nm) and writes LLD's ordering file from
# them. A name that no longer exists is skipped; if a tool is missing, the link goes on in the
# default layout, which only costs resident memory.
set -u

here=$(cd "$(dirname "$0")" && pwd)
order="$here/hot.order"
cc=${LLM_SIDECAR_LINK_CC:-cc}

# rustc puts its tools directory (rust-lld, and gcc-ld/ld.lld for a `cc -fuse-ld=lld` link) on
# the linker's PATH.
lld=$(command -v rust-lld 2>/dev/null || true)
gcc_ld=${lld%/*}/gcc-ld
if [ -z "$lld" ] || [ ! -x "$gcc_ld/ld.lld" ] || [ ! -f "$order" ] || ! command -v nm >/dev/null 2>&1; then
    echo "native/link.sh: rust-lld, nm or $order missing: linking in the default layout" >&2
    exec "$cc" "$@"
fi

work=$(mktemp -d) || exec "$cc" "$@"
trap 'rm -rf "$work"' EXIT

# The objects being linked: fat LTO puts all Rust code in one; C code (jemalloc, ring, musl)
# keeps its unhashed names, which the ordering file can name as they are. rustc passes its
# arguments in a file (`@path`, one per line) when the command line is too long.
for arg in "$@"; do
    case $arg in
        @*) grep '\.o$' "${arg#@}" ;;
        *.o) printf '%s\n' "$arg" ;;
    esac
done >"$work/objects"
while IFS= read -r obj; do
    nm --defined-only "$obj" 2>/dev/null
done <"$work/objects" >"$work/symbols"

# Every defined function whose name, made build-independent, is in the order file, in the
# file's order; the few functions that share such a name all go in its place.
awk '
    # A name without what changes from build to build: the legacy hash, LTO'"'"'s `.llvm.N` suffix,
    # and in v0 names the crate disambiguators, the back-references they shift and the crate
    # that instantiated a generic.
    function last_index(s, t,   i, j) {
        i = 0
        while ((j = index(substr(s, i + 1), t)) > 0) i += j
        return i
    }
    function key(name,   at, root) {
        sub(/\.llvm\.[0-9]+$/, "", name)
        sub(/17h[0-9a-f]+E$/, "E", name)
        if (name ~ /^_R/) {
            gsub(/Cs[0-9A-Za-z]*_/, "Cs_", name); gsub(/B[0-9A-Za-z]*_/, "B_", name)
            # The crate a generic instance was made in (a crate root or a back-reference that
            # ends the name): LTO keeps one of several identical instances.
            at = last_index(name, "Cs_")
            root = substr(name, at + 3)
            if (at > 0 && match(root, /^[0-9]+/) && length(root) - RLENGTH == substr(root, 1, RLENGTH) + 0)
                name = substr(name, 1, at - 1)
            else
                sub(/B_$/, "", name)
        }
        return name
    }
    FILENAME == ARGV[1] {
        if ($(NF - 1) ~ /^[TtWw]$/) {
            k = key($NF)
            if (k in names) names[k] = names[k] "\n" $NF
            else names[k] = $NF
        }
        next
    }
    /^#/ || NF == 0 { next }
    { k = key($0) }
    k in names && !(k in done) { print names[k]; done[k] = 1; next }
    !(k in names) { print }
' "$work/symbols" "$order" >"$work/order"

# Kept beside the output (`<binary>.hot-order`) to show what the layout was given.
out=
prev=
for arg in "$@"; do
    [ "$prev" = "-o" ] && out=$arg
    prev=$arg
done
[ -n "$out" ] && cp "$work/order" "$out.hot-order"

# --icf=all folds functions whose code is identical (monomorphized copies that differ only in
# a type no instruction depends on): 132 KB less binary. Rust guarantees no unique function
# addresses, and `--icf=safe` folds nothing here (fat LTO's object has no address-significance
# table).
#
# native/no-unwind.ld discards the unwind tables, which a binary that aborts on panic never
# reads (0.76 MB; the script says why). Only from a stripped binary: the profiling build
# (symbols kept) keeps them for perf's and valgrind's stack walks.
stripped=
for arg in "$@"; do
    case $arg in
        -Wl,--strip-all) stripped=1 ;;
        @*) grep -qx -- '-Wl,--strip-all' "${arg#@}" && stripped=1 ;;
    esac
done
[ -n "$stripped" ] && set -- "$@" "-Wl,-T,$here/no-unwind.ld"
"$cc" "$@" -fuse-ld=lld "-B$gcc_ld" "-Wl,--symbol-ordering-file=$work/order" -Wl,--no-warn-symbol-ordering \
    -Wl,--icf=all
