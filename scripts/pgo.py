#!/usr/bin/env python3
"""Writes native/pgo.profdata (`make pgo`): the profile the static build is optimized with.

`make static` compiles the gateway with `-C profile-use=native/pgo.profdata`: LLVM then lays out
branches, inlines and unrolls by what really runs, and optimizes for size the code the profile
never saw run (BENCHMARKS.md, "Profile-guided optimization"). The profile comes from the
`pgo-gen` build (`-C profile-generate`) run through the workloads `make hot-order` uses
(scripts/hot_order.py: start on several configs, the requests of a working pod over both
listeners, a burst of streams half abandoned) plus many keep-alive requests, so the request path
outweighs start-up as it does in a pod's life.

Like native/hot.order, the file is committed: builds stay reproducible and fast, and a profile
that code changes have made stale only loses speed (LLVM skips functions whose shape changed).
Rerun after large changes to the request path.
"""

import glob
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile

import hot_order
from bench import free_port

ROOT = hot_order.ROOT
GATEWAY = os.path.join(hot_order.TARGET, hot_order.MUSL, "pgo-gen", "llm-sidecar")
OUT = os.path.join(ROOT, "native", "pgo.profdata")
# Keep-alive requests per transport and kind on top of hot_order's working pod: enough that the
# request path's counts dwarf start-up's, as in a pod that runs for days.
STEADY_REQUESTS = 500
# An instrumented gateway starts in well under a second; this only bounds a broken build.
READY_TIMEOUT_S = 20.0


class UnixConnection(http.client.HTTPConnection):
    """http.client over the gateway's Unix socket, keeping the connection alive like a pool."""

    def __init__(self, path):
        super().__init__("localhost")
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(self.path)


def steady(conn, body, headers=None):
    """STEADY_REQUESTS posts of `body` on one kept-alive connection, each read to the end."""
    url = "/v1/messages" if headers else "/v1/chat/completions"
    for _ in range(STEADY_REQUESTS):
        conn.request("POST", url, body, {"content-type": "application/json", **(headers or {})})
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            sys.exit(f"pgo: POST {url} answered {response.status}: the profile would miss its code")


def steady_pod(sock, port):
    """hot_order's working pod, then kept-alive traffic over both listeners."""
    hot_order.working_pod(sock, port)
    anthropic = json.dumps({"model": "bench-model", "max_tokens": 16,
                            "messages": [{"role": "user", "content": "Say hello."}]})
    for conn in (UnixConnection(sock), http.client.HTTPConnection("127.0.0.1", port)):
        try:
            for stream in (False, True):
                steady(conn, hot_order.chat("bench-model", stream))
            steady(conn, anthropic, {"anthropic-version": "2023-06-01"})
        finally:
            conn.close()


def main():
    profdata = os.environ.get("LLVM_PROFDATA", "llvm-profdata")
    with tempfile.TemporaryDirectory() as raw:
        env = dict(os.environ, LLVM_PROFILE_FILE=os.path.join(raw, "%p.profraw"))
        upstream_port = free_port()
        upstream = subprocess.Popen([hot_order.UPSTREAM, f"127.0.0.1:{upstream_port}"],
                                    stdout=subprocess.DEVNULL)
        runs = [(hot_order.idle_pod, c) for c in hot_order.START_CONFIGS]
        runs += [(steady_pod, hot_order.working_config), (hot_order.burst_pod, hot_order.burst_config)]
        try:
            for work, config in runs:
                hot_order.run([GATEWAY], upstream_port, work, config, env, READY_TIMEOUT_S)
        finally:
            upstream.terminate()
            upstream.wait()
        files = sorted(glob.glob(os.path.join(raw, "*.profraw")))
        if len(files) != len(runs):
            sys.exit(f"pgo: {len(files)} profiles for {len(runs)} runs: a run did not exit cleanly")
        subprocess.run([profdata, "merge", "--output", OUT, *files], check=True)
    print(f"pgo: {len(files)} runs merged -> {OUT} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()
