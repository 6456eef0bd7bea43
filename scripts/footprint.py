#!/usr/bin/env python3
"""Memory footprint of gateway binaries, as a pod pays it (`make bench`, or by hand:
`scripts/footprint.py BINARY... [--streams N] [--return-wait S] [--soak 10m]`).

Runs the gateway on the built-in mock provider (40 ms per streamed chunk) and reports, from
/proc/<pid>/status:
- idle RSS after start;
- RSS with N streams held open over the Unix socket (each has received its first chunk);
- RSS after the clients abandon those streams, every second until it is back within 1.5x idle
  or the wait is over (memory returned after a burst);
- the same after N streams that run to their end;
- with --soak, RSS under steady load (oha, non-streamed chat at c=8) for that long (at least
  two minutes): the mean of the second minute against the mean of the last.
Results go to bench/out/footprint.json and a Markdown table on stdout.
"""

import argparse
import asyncio
import contextlib
import re
import threading
import json
import os
import subprocess
import sys
import tempfile
import time

CHUNK_DELAY_MS = 40
# Words of the mock's answer: long enough that no held stream ends while they are counted.
REPLY_WORDS = 2000
SHORT_REPLY_WORDS = 20
RETURN_FACTOR = 1.5


def rss_mib(pid, key="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def write_config(dirname, words):
    reply = " ".join(["word"] * words)
    config = os.path.join(dirname, "footprint.yaml")
    with open(config, "w") as f:
        f.write(f"""server:
  listen:
    unix: "{dirname}/llm.sock"
  drain_delay: 0s
  drain_timeout: 1s
  max_connections: 4096
providers:
  - name: mock
    type: mock
    models: [m]
    mock: {{chunk_delay: {CHUNK_DELAY_MS}ms, reply: "{reply}"}}
logging:
  level: warn
""")
    return config


REQUEST = json.dumps({"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]})


async def open_stream(sock):
    reader, writer = await asyncio.open_unix_connection(sock)
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(REQUEST)}\r\n\r\n{REQUEST}")
    writer.write(head.encode())
    await writer.drain()
    # The status line and headers, then the first chunk: the stream is in flight.
    await reader.readuntil(b"\r\n\r\n")
    await reader.readuntil(b"\n\n")
    return reader, writer


async def drain_to_end(reader):
    while await reader.read(65536):
        pass


async def hold(sock, n, pid, abandon):
    streams = await asyncio.gather(*(open_stream(sock) for _ in range(n)))
    held = rss_mib(pid)
    if abandon:
        for _, writer in streams:
            writer.transport.abort()
    else:
        await asyncio.gather(*(drain_to_end(reader) for reader, _ in streams))
        for _, writer in streams:
            writer.close()
    return held


def returned(pid, idle, wait):
    """RSS each second until it is within RETURN_FACTOR of idle (or `wait` passed)."""
    samples = []
    for second in range(wait + 1):
        rss = rss_mib(pid)
        samples.append(round(rss, 1))
        if rss <= idle * RETURN_FACTOR:
            return {"rss_mib": round(rss, 1), "after_s": second, "samples": samples}
        time.sleep(1)
    return {"rss_mib": samples[-1], "after_s": None, "samples": samples}


@contextlib.contextmanager
def gateway(binary, words):
    """The gateway on a fresh config and socket, until the block ends: (process, socket path)."""
    with tempfile.TemporaryDirectory() as dirname:
        config = write_config(dirname, words)
        sock = os.path.join(dirname, "llm.sock")
        # FOOTPRINT_STDERR=1 shows the gateway's stderr (e.g. allocator statistics at exit).
        stderr = None if os.environ.get("FOOTPRINT_STDERR") else subprocess.DEVNULL
        proc = subprocess.Popen([binary, "--config", config], stdout=subprocess.DEVNULL,
                                stderr=stderr)
        try:
            for _ in range(200):
                if os.path.exists(sock):
                    break
                time.sleep(0.05)
            yield proc, sock
        finally:
            proc.terminate()
            proc.wait()


def run(binary, streams, wait, words, abandon):
    with gateway(binary, words) as (proc, sock):
        time.sleep(1)
        idle = rss_mib(proc.pid)
        held = asyncio.run(hold(sock, streams, proc.pid, abandon))
        after = returned(proc.pid, idle, wait)
        return {"idle_rss_mib": round(idle, 1), "held_rss_mib": round(held, 1),
                "peak_rss_mib": round(rss_mib(proc.pid, "VmHWM"), 1), "after": after}


SOAK_CONCURRENCY = 8
SOAK_SAMPLE_S = 5
WARMUP_S = 60
CHAT = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]})


def seconds(text):
    """'90s', '10m', '1h' or a number of seconds."""
    m = re.fullmatch(r"(\d+)([smh]?)", text)
    if not m:
        sys.exit(f"bad duration {text!r}")
    return int(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def soak(binary, duration):
    """RSS every few seconds under steady load; the second minute's mean against the last's."""
    # Non-streamed requests: the chunk delay does not apply.
    with gateway(binary, SHORT_REPLY_WORDS) as (proc, sock):
        load = threading.Thread(target=subprocess.run, args=([
            "oha", "--no-tui", "-z", f"{duration}s", "-c", str(SOAK_CONCURRENCY), "-m", "POST",
            "-H", "content-type: application/json", "-d", CHAT, "--unix-socket", sock,
            "http://localhost/v1/chat/completions"],), kwargs={"capture_output": True})
        load.start()
        samples, start = [], time.monotonic()
        while load.is_alive():
            samples.append((round(time.monotonic() - start), round(rss_mib(proc.pid), 2)))
            time.sleep(SOAK_SAMPLE_S)
        load.join()
    # RSS under load swings by several MiB as buffers come and go: compare the mean of the minute
    # after the warm-up with the mean of the last minute, so a trend shows and a swing does not.
    first = [rss for t, rss in samples if WARMUP_S <= t < 2 * WARMUP_S]
    last = [rss for t, rss in samples if t >= samples[-1][0] - WARMUP_S]
    mean = lambda xs: sum(xs) / len(xs) if xs else 0.0
    base, end = mean(first), mean(last)
    growth = round((end - base) / base * 100, 2) if base else None
    return {"seconds": duration, "mean_second_minute_mib": round(base, 2),
            "mean_last_minute_mib": round(end, 2), "max_mib": max(r for _, r in samples),
            "growth_pct": growth, "samples": samples}


def measure(binary, streams, wait, soak_s):
    result = {"binary": binary, "size_mib": round(os.path.getsize(binary) / 2**20, 2),
              "streams": streams,
              "abandoned": run(binary, streams, wait, REPLY_WORDS, abandon=True),
              "finished": run(binary, streams, wait, SHORT_REPLY_WORDS, abandon=False)}
    if soak_s:
        result["soak"] = soak(binary, soak_s)
    return result


def print_table(results):
    print("| build | binary MiB | idle RSS | N streams held | after abandon (s) | after finish (s) "
          "| soak: 2nd minute → last minute |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        a, f = r["abandoned"], r["finished"]
        soak = r.get("soak")
        soak_cell = (f"{soak['mean_second_minute_mib']} → {soak['mean_last_minute_mib']} MiB "
                     f"({soak['seconds']} s)" if soak and soak["growth_pct"] is not None else "–")
        after = lambda x: f"{x['after']['rss_mib']} MiB ({x['after']['after_s'] if x['after']['after_s'] is not None else '>' + str(len(x['after']['samples']) - 1)})"
        build = "static (musl)" if "-musl" in r["binary"] else "glibc"
        print(f"| {build} | {r['size_mib']} | {a['idle_rss_mib']} MiB | {r['streams']}: "
              f"{a['held_rss_mib']} MiB | {after(a)} | {after(f)} | {soak_cell} |")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binaries", nargs="+")
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--return-wait", type=int, default=30)
    parser.add_argument("--soak", default=os.environ.get("BENCH_SOAK", "0"))
    args = parser.parse_args()
    soak_s = seconds(args.soak)
    results = [measure(b, args.streams, args.return_wait, soak_s) for b in args.binaries]
    out = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench", "out")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "footprint.json"), "w") as f:
        json.dump(results, f, indent=1)
    print_table(results)


if __name__ == "__main__":
    main()
