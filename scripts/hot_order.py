#!/usr/bin/env python3
"""Writes native/hot.order (`make hot-order`): the functions the static gateway runs, start first.

native/link.sh lays these functions out first in the static binary, so the pages an idle or
busy pod keeps resident hold code that runs instead of its neighbours (BENCHMARKS.md, "Hot code
first"). The list comes from valgrind's callgrind on the static build with symbols (the
`profiling` profile), in three runs against the bench upstream (examples/bench_upstream.rs):

1. start: the gateway starts, answers the kubelet's probes and a Prometheus scrape (what an
   idle pod does), and drains on SIGTERM, once on each config of START_CONFIGS;
2. requests: the same, plus the requests of a working pod over both listeners: OpenAI chat
   (whole and streamed), embeddings, models, Anthropic messages, through an OpenAI-compatible
   upstream and through the built-in mock;
3. burst: scripts/footprint.py's scenario in small: many streams at once over the socket, half
   abandoned by their clients mid-stream, half read to the end, then a quiet spell in which the
   gateway returns the burst's memory (src/memory.rs).

The file lists run 1's functions, then those only run 2 ran, then those only run 3 ran, each
group in name order. Run 3 adds the few functions only a burst and its aftermath run (about
20: the quiet-time trim, an abandoned stream's token estimate, jemalloc's control interface),
which otherwise each pulled a cold 64 KiB window into memory after a burst. Names
lose Rust's per-build hash (native/link.sh matches them without it), so the file stays valid
across builds; rerun this after large changes to the code that runs at start or per request
(`make static-check` fails when the idle static binary stops fitting its budget).
"""

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

from bench import free_port, uds_get
from footprint import drain_to_end, open_stream

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
MUSL = "x86_64-unknown-linux-musl"
GATEWAY = os.path.join(TARGET, MUSL, "profiling", "llm-sidecar")
UPSTREAM = os.path.join(TARGET, "release", "examples", "bench_upstream")
OUT = os.path.join(ROOT, "native", "hot.order")
# What changes from build to build in a symbol's name (native/link.sh strips the same): LTO's
# `.llvm.N` suffix; the hash that ends a legacy-mangled name (`17h`, 16 hex digits, `E`); in a
# v0-mangled name, crate disambiguators, the back-references their length shifts, and the crate
# that instantiated a generic (LTO keeps one of several identical instances).
LLVM_SUFFIX = re.compile(r"\.llvm\.[0-9]+$")
HASH = re.compile(r"17h[0-9a-f]+E$")
V0_CRATE = re.compile(r"Cs[0-9A-Za-z]*_")
V0_BACKREF = re.compile(r"B[0-9A-Za-z]*_")
DIGITS = re.compile(r"[0-9]+")
RECURSION = re.compile(r"'[0-9]+$")


def key(name):
    name = HASH.sub("E", LLVM_SUFFIX.sub("", name))
    if name.startswith("_R"):
        name = V0_BACKREF.sub("B_", V0_CRATE.sub("Cs_", name))
        at = name.rfind("Cs_")
        length = DIGITS.match(name, at + 3) if at >= 0 else None
        if length and len(name) - length.end() == int(length.group()):
            name = name[:at]
        elif name.endswith("B_"):
            name = name[:-2]
    return name
# Requests per kind in run 2: enough to reach every branch a steady pod takes (pools warm,
# connections reused), few enough for valgrind.
ROUNDS = 5
# Streams run 3 opens at once, and how many of them it abandons: enough for the code of many
# connections and timers in flight, few enough for valgrind.
BURST_STREAMS = 40
BURST_ABANDONED = 20
# Words of the mock's answer in run 3: at its 40 ms per chunk, still streaming when abandoned.
BURST_REPLY_WORDS = 200
# Run 3's quiet spell: past src/memory.rs's quiet check (2 s) and one flush, at valgrind's pace.
BURST_QUIET_S = 8.0
# How long the gateway may take to be ready under valgrind, which runs it ~50x slower.
READY_TIMEOUT_S = 60.0

HEADER = """\
# Functions the static gateway runs, without Rust's per-build hash: those of start, probes,
# a scrape and drain first, then those only requests run, then those only a burst of many
# streams (some abandoned) and the quiet after it run. Written by `make hot-order`
# (scripts/hot_order.py); read by native/link.sh.
"""


def listen(dirname, tcp_port):
    return f"""server:
  listen:
    tcp: "127.0.0.1:{tcp_port}"
    unix: "{dirname}/llm.sock"
  drain_delay: 0s
  drain_timeout: 5s
"""


def working_config(dirname, tcp_port, upstream_port):
    """An OpenAI-compatible upstream and the mock: what run 2 sends its requests through."""
    return listen(dirname, tcp_port) + f"""providers:
  - name: up
    type: openai
    api_key: sk-hot-order
    base_url: http://127.0.0.1:{upstream_port}/v1
    models: [bench-model, text-embedding-3-small]
  - name: mock
    type: mock
    models: [m]
logging:
  level: info
"""


def example_config(dirname, tcp_port, _upstream_port):
    """config/example.yaml (what `make run` serves) on this run's listeners."""
    with open(os.path.join(ROOT, "config", "example.yaml")) as f:
        text = f.read()
    return listen(dirname, tcp_port) + text[text.index("providers:"):]


def minimal_config(dirname, tcp_port, _upstream_port, reply_words=2):
    """scripts/footprint.py's config: few settings and a streaming mock."""
    reply = " ".join(["word"] * reply_words)
    return listen(dirname, tcp_port) + f"""  max_connections: 4096
providers:
  - name: mock
    type: mock
    models: [m]
    mock: {{chunk_delay: 40ms, reply: "{reply}"}}
logging:
  level: warn
"""


def burst_config(dirname, tcp_port, upstream_port):
    """minimal_config with an answer long enough that abandoned streams are still running."""
    return minimal_config(dirname, tcp_port, upstream_port, BURST_REPLY_WORDS)


# Run 1 starts the gateway on each of these: config parsing runs different code per shape.
START_CONFIGS = (working_config, example_config, minimal_config)


def http(sock_path, tcp_port, method, url, body=None, headers=()):
    """One request over the Unix socket (sock_path) or TCP; returns the status line."""
    status = send(sock_path, tcp_port, method, url, body, headers)
    if " 200 " not in status + " ":
        sys.exit(f"hot_order: {method} {url} answered {status!r}: the run would miss its code")
    return status


def send(sock_path, tcp_port, method, url, body, headers):
    if sock_path:
        s = socket.socket(socket.AF_UNIX)
        s.connect(sock_path)
    else:
        s = socket.create_connection(("127.0.0.1", tcp_port))
    try:
        data = body.encode() if body else b""
        head = f"{method} {url} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        for h in headers:
            head += h + "\r\n"
        if body is not None:
            head += f"content-type: application/json\r\ncontent-length: {len(data)}\r\n"
        s.sendall(head.encode() + b"\r\n" + data)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out.split(b"\r\n", 1)[0].decode()
    finally:
        s.close()


def chat(model, stream):
    return json.dumps({"model": model, "stream": stream,
                       "messages": [{"role": "user", "content": "Say hello."}]})


def idle_pod(sock, port):
    for url in ("/health/live", "/health/ready"):
        http(sock, None, "GET", url)
    http(None, port, "GET", "/metrics")


def working_pod(sock, port):
    anthropic = json.dumps({"model": "bench-model", "max_tokens": 16,
                            "messages": [{"role": "user", "content": "Say hello."}]})
    embed = json.dumps({"model": "text-embedding-3-small", "input": "hello"})
    for _ in range(ROUNDS):
        for where in ((sock, None), (None, port)):
            for model in ("bench-model", "m"):
                for stream in (False, True):
                    http(*where, "POST", "/v1/chat/completions", chat(model, stream))
            http(*where, "POST", "/v1/embeddings", embed)
            http(*where, "GET", "/v1/models")
            http(*where, "POST", "/v1/messages", anthropic, ("anthropic-version: 2023-06-01",))
    idle_pod(sock, port)


def burst_pod(sock, port):
    asyncio.run(burst(sock))
    time.sleep(BURST_QUIET_S)
    idle_pod(sock, port)


async def burst(sock):
    streams = await asyncio.gather(*(open_stream(sock) for _ in range(BURST_STREAMS)))
    for _, writer in streams[:BURST_ABANDONED]:
        writer.transport.abort()
    await asyncio.gather(*(drain_to_end(reader) for reader, _ in streams[BURST_ABANDONED:]))
    for _, writer in streams[BURST_ABANDONED:]:
        writer.close()


def run(command, upstream_port, work, make_config=working_config, env=None,
        ready_timeout=READY_TIMEOUT_S):
    """Starts the gateway (`command`, then `--config`) on a config from `make_config`, runs
    `work` against it once it is ready, and drains it with SIGTERM: a clean exit, which is also
    what writes an instrumented build's profile (scripts/pgo.py)."""
    with tempfile.TemporaryDirectory() as dirname:
        port = free_port()
        config = os.path.join(dirname, "hot.yaml")
        with open(config, "w") as f:
            f.write(make_config(dirname, port, upstream_port))
        sock = os.path.join(dirname, "llm.sock")
        proc = subprocess.Popen(command + ["--config", config], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + ready_timeout
        while True:
            try:
                if uds_get(sock, "/health/ready") == b"200":
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                sys.exit(f"{os.path.basename(sys.argv[0])}: the gateway did not become ready")
            time.sleep(0.2)
        work(sock, port)
        proc.send_signal(signal.SIGTERM)
        if proc.wait() != 0:
            sys.exit(f"{os.path.basename(sys.argv[0])}: the gateway exited with {proc.returncode}")


def functions(upstream_port, work, make_config=working_config):
    """The names (as `key` makes them) of every function the gateway ran during `work`."""
    names = set()
    with tempfile.TemporaryDirectory() as out_dir:
        out = os.path.join(out_dir, "callgrind.out")
        run(["valgrind", "--tool=callgrind", "--dump-instr=no", "--compress-strings=no",
             "--compress-pos=no", "--demangle=no", f"--callgrind-out-file={out}", GATEWAY],
            upstream_port, work, make_config)
        with open(out) as f:
            for line in f:
                if line.startswith("fn="):
                    # Callgrind marks a recursive call's cycle with `'N`.
                    name = RECURSION.sub("", line[3:].strip())
                    # Callgrind names code without a symbol by address, and the entry by "(below main)".
                    if not name.startswith(("0x", "(")):
                        names.add(key(name))
    return names


def main():
    upstream_port = free_port()
    upstream = subprocess.Popen([UPSTREAM, f"127.0.0.1:{upstream_port}"], stdout=subprocess.DEVNULL)
    try:
        start = set().union(*(functions(upstream_port, idle_pod, c) for c in START_CONFIGS))
        running = functions(upstream_port, working_pod)
        burst = functions(upstream_port, burst_pod, burst_config)
    finally:
        upstream.terminate()
        upstream.wait()
    with open(OUT, "w") as f:
        f.write(HEADER)
        for name in sorted(start) + sorted(running - start) + sorted(burst - running - start):
            f.write(name + "\n")
    print(f"hot_order: {len(start)} functions at start, {len(running - start)} more per request, "
          f"{len(burst - running - start)} more in a burst -> {OUT}")


if __name__ == "__main__":
    main()
