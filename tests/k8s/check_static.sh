#!/usr/bin/env bash
# Fails unless the binary is statically linked (no ELF interpreter, no shared-library
# dependencies), at most MAX_MIB MiB (the image is this one file, so its size is the image's),
# and, started on a minimal config, resident in at most IDLE_MAX_KIB KiB once ready: what every
# pod pays for the sidecar at rest, most of it the binary's own code pages (a stale
# native/hot.order shows here first; `make hot-order` rewrites it).
# Usage: check_static.sh BINARY   (prints the kind, size and idle RSS)
set -euo pipefail
MAX_MIB=${MAX_MIB:-11}
IDLE_MAX_KIB=${IDLE_MAX_KIB:-6144}
# How long the binary may take to answer /health/ready (it takes milliseconds).
READY_TIMEOUT_S=10
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
# native/no-unwind.ld drops the unwind tables (0.76 MB) of a binary that aborts on panic; a link
# that silently fell back to the default linker would keep them.
if readelf -SW "$bin" | grep -qE '\.eh_frame|\.gcc_except_table'; then
    echo "FAIL: $bin carries unwind tables (native/link.sh did not apply native/no-unwind.ld)" >&2
    exit 1
fi

# Idle RSS, on a minimal config, once /health/ready answers.
dir=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
cat >"$dir/idle.yaml" <<EOF
server:
  listen:
    unix: "$dir/llm.sock"
providers:
  - name: mock
    type: mock
    models: [m]
logging:
  level: warn
EOF
"$bin" --config "$dir/idle.yaml" 2>/dev/null &
pid=$!
python3 - "$dir/llm.sock" "$READY_TIMEOUT_S" <<'PY' || { echo "FAIL: $bin did not become ready" >&2; exit 1; }
import socket, sys, time
path, deadline = sys.argv[1], time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(path)
            s.sendall(b"GET /health/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            if s.recv(64).startswith(b"HTTP/1.1 200"):
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.05)
sys.exit(1)
PY
rss_kib=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
if [ "$rss_kib" -gt "$IDLE_MAX_KIB" ]; then
    echo "FAIL: $bin idles at $rss_kib KiB resident, over the $IDLE_MAX_KIB KiB budget (make hot-order?)" >&2
    exit 1
fi
echo "ok: $bin idles at $rss_kib KiB resident <= $IDLE_MAX_KIB KiB"
