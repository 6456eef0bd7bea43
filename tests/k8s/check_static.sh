#!/usr/bin/env bash
# Fails unless the binary is statically linked (no ELF interpreter, no shared-library
# dependencies) and at most MAX_MIB MiB: the image is this one file, so its size is the image's.
# Usage: check_static.sh BINARY   (prints the kind and size)
set -euo pipefail
MAX_MIB=${MAX_MIB:-12}
bin=${1:?usage: check_static.sh BINARY}
[ -x "$bin" ] || { echo "FAIL: $bin is missing or not executable (run make static)" >&2; exit 1; }

kind=$(file -b "$bin")
# `file` says "static-pie linked" for Rust's default musl output (a static PIE keeps ASLR) and
# "statically linked" for a non-PIE static binary: both load no shared library.
case "$kind" in
    *"statically linked"* | *"static-pie linked"*) ;;
    *) echo "FAIL: not static: $kind" >&2; exit 1 ;;
esac
# `file` reads heuristics; the program headers and dynamic section are the proof.
if readelf -lW "$bin" | grep -q 'INTERP'; then
    echo "FAIL: $bin has an ELF interpreter (dynamically linked)" >&2; exit 1
fi
if readelf -dW "$bin" | grep -q '(NEEDED)'; then
    echo "FAIL: $bin needs shared libraries: $(readelf -dW "$bin" | grep NEEDED)" >&2; exit 1
fi

bytes=$(stat -c %s "$bin")
max_bytes=$((MAX_MIB * 1024 * 1024))
mib=$(awk -v b="$bytes" 'BEGIN { printf "%.2f", b / 1048576 }')
if [ "$bytes" -gt "$max_bytes" ]; then
    echo "FAIL: $bin is $mib MiB, over the $MAX_MIB MiB budget" >&2; exit 1
fi
echo "ok: $bin is static ($kind), $mib MiB ($bytes bytes) <= $MAX_MIB MiB"
