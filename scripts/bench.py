#!/usr/bin/env python3
"""Benchmark for llm-sidecar (`make bench`).

Runs a fast fixed-answer upstream (examples/bench_upstream.rs), the release gateway in front of
it, and `oha` against (a) the upstream directly over TCP, (b) the gateway over its Unix socket,
(c) the gateway over TCP, in the same run. Reports RPS, p50/p99, latency added by the gateway,
gateway CPU seconds per 1,000 requests, peak and idle RSS, and time from exec to ready.
Results go to bench/out/results.json and a Markdown table on stdout.
"""

import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
# `make bench` runs it twice: the glibc build, then the static one named by BENCH_GATEWAY.
GATEWAY = os.environ.get("BENCH_GATEWAY") or os.path.join(TARGET, "release", "llm-sidecar")
UPSTREAM = os.path.join(TARGET, "release", "examples", "bench_upstream")
DURATION = os.environ.get("BENCH_DURATION", "10s")
# Unmeasured load per transport and concurrency before a gateway's cases.
WARM_UP = "1s"
READY_RUNS = int(os.environ.get("BENCH_READY_RUNS", "20"))
CLK_TCK = os.sysconf("SC_CLK_TCK")
BODY = json.dumps({"model": "bench-model", "messages": [{"role": "user", "content": "Say hello to the benchmark."}]})
STREAM_BODY = json.dumps({"model": "bench-model", "stream": True, "messages": [{"role": "user", "content": "Say hello."}]})


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def uds_get(path, url):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(path)
        s.sendall(f"GET {url} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        return s.recv(64).split(b" ")[1]
    finally:
        s.close()


def write_config(dirname, port, upstream_port, level="info"):
    config = os.path.join(dirname, "bench.yaml")
    with open(config, "w") as f:
        f.write(f"""server:
  listen:
    tcp: "127.0.0.1:{port}"
    unix: "{dirname}/llm.sock"
  drain_delay: 0s
providers:
  - name: up
    type: openai
    api_key: sk-bench
    base_url: http://127.0.0.1:{upstream_port}/v1
    models: [bench-model]
logging:
  level: {level}
""")
    return config


def start_gateway(config, workers=None):
    env = dict(os.environ)
    if workers:
        env["LLM_SIDECAR_WORKERS"] = str(workers)
    return subprocess.Popen([GATEWAY, "--config", config], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)


def wait_ready(sock, proc, timeout=10.0):
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if proc.poll() is not None:
            raise RuntimeError("gateway exited")
        try:
            if uds_get(sock, "/health/ready") == b"200":
                return
        except OSError:
            pass
    raise RuntimeError("gateway not ready")


def time_to_ready(dirname, upstream_port):
    samples = []
    for _ in range(READY_RUNS):
        port = free_port()
        config = write_config(dirname, port, upstream_port)
        sock = os.path.join(dirname, "llm.sock")
        t0 = time.perf_counter()
        proc = start_gateway(config)
        wait_ready(sock, proc)
        samples.append((time.perf_counter() - t0) * 1e3)
        proc.terminate()
        proc.wait()
    samples.sort()
    return {"median_ms": samples[len(samples) // 2], "max_ms": samples[-1]}


def oha(target, concurrency, body, unix=None, duration=None):
    cmd = ["oha", "--no-tui", "--output-format", "json", "-z", duration or DURATION, "-c", str(concurrency),
           "-m", "POST", "-H", "content-type: application/json", "-d", body]
    if unix:
        cmd += ["--unix-socket", unix]
    cmd.append(target)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    data = json.loads(out)
    summary, pct = data["summary"], data["latencyPercentiles"]
    codes = data.get("statusCodeDistribution", {})
    return {
        "rps": summary["requestsPerSec"],
        "p50_us": pct["p50"] * 1e6,
        "p99_us": pct["p99"] * 1e6,
        "requests": sum(codes.values()),
        "non_200": sum(v for k, v in codes.items() if k != "200"),
    }


def warm_up(uds_url, sock, tcp_url):
    """Unmeasured load over both transports first: the upstream connections, the allocator's
    caches and the first requests' one-time work would otherwise be billed to whichever case
    runs first (it made the socket look dearer than TCP at c=1)."""
    for c in (1, 50):
        oha(uds_url, c, BODY, unix=sock, duration=WARM_UP)
        oha(tcp_url, c, BODY, duration=WARM_UP)


def run_case(name, gw_pid, fn):
    before = cpu_seconds(gw_pid) if gw_pid else 0.0
    result = fn()
    if gw_pid:
        used = cpu_seconds(gw_pid) - before
        result["gateway_cpu_s_per_1k"] = used / max(result["requests"], 1) * 1000
    result["case"] = name
    print(f"  {name}: {result['rps']:.0f} rps, p50 {result['p50_us']:.0f} µs, p99 {result['p99_us']:.0f} µs", file=sys.stderr)
    return result


def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release()}


def main():
    for binary in (GATEWAY, UPSTREAM):
        if not os.path.exists(binary):
            sys.exit(f"missing {binary}: run `make bench`")
    results = {"machine": machine(), "duration": DURATION, "cases": []}
    with tempfile.TemporaryDirectory() as dirname:
        up_port = free_port()
        upstream = subprocess.Popen([UPSTREAM, f"127.0.0.1:{up_port}"], stdout=subprocess.DEVNULL)
        time.sleep(0.3)
        try:
            results["time_to_ready"] = time_to_ready(dirname, up_port)
            gw_port = free_port()
            config = write_config(dirname, gw_port, up_port)
            sock = os.path.join(dirname, "llm.sock")
            gw = start_gateway(config)
            wait_ready(sock, gw)
            time.sleep(1.0)
            results["idle_rss_kib"] = status_kib(gw.pid, "VmRSS")
            direct = f"http://127.0.0.1:{up_port}/v1/chat/completions"
            via_gw = f"http://127.0.0.1:{gw_port}/v1/chat/completions"
            uds_url = "http://localhost/v1/chat/completions"
            warm_up(uds_url, sock, via_gw)
            for c in (1, 50):
                results["cases"].append(run_case(f"direct c={c}", None, lambda: oha(direct, c, BODY)))
                results["cases"].append(run_case(f"gateway uds c={c}", gw.pid, lambda: oha(uds_url, c, BODY, unix=sock)))
                results["cases"].append(run_case(f"gateway tcp c={c}", gw.pid, lambda: oha(via_gw, c, BODY)))
            results["cases"].append(run_case("direct stream c=64", None, lambda: oha(direct, 64, STREAM_BODY)))
            results["cases"].append(run_case("gateway uds stream c=64", gw.pid, lambda: oha(uds_url, 64, STREAM_BODY, unix=sock)))
            results["peak_rss_kib"] = status_kib(gw.pid, "VmHWM")
            gw.terminate()
            gw.wait()
            # The chart's default one-CPU limit gives the gateway one worker.
            gw = start_gateway(config, workers=1)
            wait_ready(sock, gw)
            warm_up(uds_url, sock, via_gw)
            for c in (1, 50):
                results["cases"].append(run_case(f"gateway uds c={c}, 1 worker", gw.pid, lambda: oha(uds_url, c, BODY, unix=sock)))
            gw.terminate()
            gw.wait()
        finally:
            upstream.terminate()
            upstream.wait()
    by = {c["case"]: c for c in results["cases"]}
    for c in (1, 50):
        for via in ("uds", "tcp", "uds 1 worker"):
            name = f"gateway uds c={c}, 1 worker" if via == "uds 1 worker" else f"gateway {via} c={c}"
            g, d = by[name], by[f"direct c={c}"]
            g["added_p50_us"] = g["p50_us"] - d["p50_us"]
            g["added_p99_us"] = g["p99_us"] - d["p99_us"]
    os.makedirs(os.path.join(ROOT, "bench", "out"), exist_ok=True)
    out = os.environ.get("BENCH_OUT", "results.json")
    with open(os.path.join(ROOT, "bench", "out", out), "w") as f:
        json.dump(results, f, indent=2)
    print_table(results)


def print_table(r):
    m = r["machine"]
    print(f"Gateway: {GATEWAY}")
    print(f"Machine: {m['cpu']}, {m['cores']} cores, Linux {m['kernel']}; {r['duration']} per case\n")
    print("| case | RPS | p50 µs | p99 µs | added p50 µs | added p99 µs | gateway CPU µs / req | non-200 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for c in r["cases"]:
        print(f"| {c['case']} | {c['rps']:.0f} | {c['p50_us']:.0f} | {c['p99_us']:.0f} | "
              f"{c.get('added_p50_us', float('nan')):.0f} | {c.get('added_p99_us', float('nan')):.0f} | "
              f"{c.get('gateway_cpu_s_per_1k', float('nan')) * 1000:.0f} | {c['non_200']} |")
    print(f"\nTime from exec to ready: median {r['time_to_ready']['median_ms']:.1f} ms, "
          f"max {r['time_to_ready']['max_ms']:.1f} ms")
    print(f"Idle RSS: {r['idle_rss_kib'] / 1024:.1f} MiB; peak RSS under load: {r['peak_rss_kib'] / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
