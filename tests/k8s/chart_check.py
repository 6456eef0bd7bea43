#!/usr/bin/env python3
"""Checks charts/llm-sidecar and manifests/ without a cluster.

For every Helm binary given: `helm lint --strict`, then `helm template` for each mode (standalone,
demo with a native and with a plain sidecar, library, and the example app chart that injects the
sidecar), and for each rendered resource:
  - schema validation (kubernetes-validate, strict: unknown fields fail) against the oldest
    Kubernetes the mode supports and the newest schema shipped; ServiceMonitor and PodMonitor
    have no schema there and are skipped;
  - the pod invariants the chart promises (sidecar placement, probes on the admin port, hardened
    securityContext, grace period >= drain, socket shared with the app);
  - the gateway's own `--check` on every rendered config.yaml.
Then values that must be refused are refused, manifests/ validates against the same schemas,
and manifests/ matches the chart rendered with tests/k8s/manifests.values.yaml.

Usage: chart_check.py --helm HELM [--helm HELM ...] --bin LLM_SIDECAR
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "llm-sidecar"
APP_CHART = ROOT / "charts" / "examples" / "my-app"
MANIFESTS = ROOT / "manifests"
SYNC_VALUES = ROOT / "tests" / "k8s" / "manifests.values.yaml"
RELEASE = "llm-sidecar"

# Native sidecars need 1.29; kubernetes-validate's oldest schema is 1.25.
OLDEST_NATIVE = "1.29.0"
OLDEST_PLAIN = "1.25.0"
NEWEST = kubernetes_validate.latest_version()
NO_SCHEMA_KINDS = {"ServiceMonitor", "PodMonitor"}
WORKLOAD_KINDS = {"Deployment", "Pod"}
SIDECAR = "llm-sidecar"
ADMIN_PORT_NAME = "llm-admin"
# Exit code of `llm-sidecar --check` for a valid config.
CHECK_OK = 0

# (name, helm template arguments, Kubernetes versions to validate against, how the gateway runs)
MODES = [
    ("standalone", [], [OLDEST_PLAIN, NEWEST], "standalone"),
    (
        "standalone+monitors+secret",
        [
            "--set", "metrics.serviceMonitor.enabled=true",
            "--set", "metrics.podMonitor.enabled=true",
            "--set", "secret.create=true",
            "--set", "secret.stringData.openai-api-key=sk-test",
            "--set", "rollOnConfigChange=true",
        ],
        [OLDEST_PLAIN, NEWEST],
        "standalone",
    ),
    ("demo-native", ["--set", "mode=demo", "--kube-version", OLDEST_NATIVE], [OLDEST_NATIVE, NEWEST], "native"),
    (
        "demo-plain",
        ["--set", "mode=demo", "--set", "sidecar.native=false", "--kube-version", OLDEST_PLAIN],
        [OLDEST_PLAIN, NEWEST],
        "plain",
    ),
    ("library", ["--set", "mode=library"], [OLDEST_PLAIN, NEWEST], "standalone"),
]

# Values the chart must refuse, with a piece of the error it must give.
REFUSED = [
    (["--set", "mode=demo", "--kube-version", "1.28.0"], "sidecar.native needs Kubernetes >= 1.29"),
    (["--set", "terminationGracePeriodSeconds=10"], "is shorter than drain.delaySeconds"),
    (["--set", "config.server.admin=0.0.0.0:1"], "config.server.admin is set by the chart"),
    (["--set", "mode=sidecar"], "mode"),
    (["--set", "ports.admin=70000"], "ports"),
]


class Checks:
    def __init__(self):
        self.passed = 0
        self.failures = []

    def ok(self, condition, what):
        if condition:
            self.passed += 1
        else:
            self.failures.append(what)
            print(f"FAIL: {what}", file=sys.stderr)
        return condition


def run(args, **kwargs):
    return subprocess.run(args, capture_output=True, text=True, **kwargs)


def docs(text):
    return [d for d in yaml.safe_load_all(text) if d]


def pod_spec(resource):
    return resource["spec"] if resource["kind"] == "Pod" else resource["spec"]["template"]["spec"]


def pod_labels(resource):
    meta = resource["metadata"] if resource["kind"] == "Pod" else resource["spec"]["template"]["metadata"]
    return meta.get("labels", {})


def go_seconds(text):
    """Seconds in a config duration the chart writes ("5s")."""
    assert text.endswith("s") and text[:-1].isdigit(), text
    return int(text[:-1])


def validate(checks, resource, versions, where):
    if resource["kind"] in NO_SCHEMA_KINDS:
        return
    for version in versions:
        try:
            kubernetes_validate.validate(resource, version, strict=True)
            checks.ok(True, "")
        except kubernetes_validate.ValidationError as e:
            path = "/".join(str(p) for p in e.path)
            checks.ok(False, f"{where}: {resource['kind']} {resource['metadata']['name']} invalid for {version} at {path}: {e.message}")


def check_config(checks, binary, resource, where):
    """Parses a rendered config and runs `llm-sidecar --check` on it, unless it reads secret
    files (which exist only in the pod)."""
    text = resource.get("data", {}).get("config.yaml")
    if text is None:
        return None
    config = yaml.safe_load(text)
    if "file:" in yaml.safe_dump(config):
        return config
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        f.write(text)
        f.flush()
        result = run([binary, "--config", f.name, "--check"])
    checks.ok(result.returncode == CHECK_OK, f"{where}: llm-sidecar --check refused {resource['metadata']['name']}: {result.stdout}{result.stderr}")
    return config


def how_it_runs(resource):
    """The way the gateway runs: "native", "plain" (a sidecar container) or "standalone", read from the pod spec."""
    spec = pod_spec(resource)
    if any(c["name"] == SIDECAR for c in spec.get("initContainers") or []):
        return "native"
    volumes = {v["name"] for v in spec.get("volumes", [])}
    return "plain" if "llm-sidecar-socket" in volumes else "standalone"


def check_pod(checks, resource, config, expected, where):
    """The invariants of a pod that carries the gateway, which runs as `expected` (or as its
    spec says, for "auto")."""
    spec = pod_spec(resource)
    init = {c["name"]: c for c in spec.get("initContainers") or []}
    main = {c["name"]: c for c in spec.get("containers") or []}
    mode = how_it_runs(resource) if expected == "auto" else expected
    if mode == "native":
        sidecar = init.get(SIDECAR)
        checks.ok(sidecar is not None and sidecar.get("restartPolicy") == "Always", f"{where}: native sidecar is not an init container with restartPolicy: Always")
    else:
        sidecar = main.get(SIDECAR)
        checks.ok(sidecar is not None and "restartPolicy" not in sidecar, f"{where}: gateway is not a plain container")
    if sidecar is None:
        return
    probes = [sidecar.get(p) for p in ("startupProbe", "readinessProbe", "livenessProbe")]
    checks.ok(all(p and p["httpGet"]["port"] == ADMIN_PORT_NAME for p in probes), f"{where}: probes missing or not on {ADMIN_PORT_NAME}")
    checks.ok(probes[1]["httpGet"]["path"] == "/health/ready" and probes[2]["httpGet"]["path"] == "/health/live", f"{where}: probe paths")
    sc = sidecar.get("securityContext", {})
    hardened = (
        sc.get("runAsNonRoot") is True
        and sc.get("readOnlyRootFilesystem") is True
        and sc.get("allowPrivilegeEscalation") is False
        and sc.get("capabilities", {}).get("drop") == ["ALL"]
        and sc.get("seccompProfile", {}).get("type") == "RuntimeDefault"
    )
    checks.ok(hardened, f"{where}: gateway securityContext is not hardened: {sc}")
    checks.ok("limits" in sidecar.get("resources", {}) and "requests" in sidecar["resources"], f"{where}: resources")
    if config is not None:
        server = config["server"]
        drain = go_seconds(server["drain_delay"]) + go_seconds(server["drain_timeout"])
        checks.ok(spec.get("terminationGracePeriodSeconds", 30) >= drain, f"{where}: grace period shorter than the drain ({drain}s)")
        admin_port = int(server["admin"].rsplit(":", 1)[1])
        ports = {p["name"]: p["containerPort"] for p in sidecar["ports"]}
        checks.ok(ports.get(ADMIN_PORT_NAME) == admin_port, f"{where}: {ADMIN_PORT_NAME} port is not the config's admin port")
    checks.ok(pod_labels(resource).get("llm-sidecar/injected") == "true", f"{where}: pod lacks the llm-sidecar/injected label")
    if mode == "standalone":
        return
    # A sidecar: the socket's emptyDir in memory, shared read-only with the app, which gets hints.
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    checks.ok(volumes.get("llm-sidecar-socket", {}).get("emptyDir", {}).get("medium") == "Memory", f"{where}: socket volume is not an emptyDir in memory")
    apps = [c for name, c in main.items() if name != SIDECAR]
    for app in apps:
        mounts = {m["name"]: m for m in app.get("volumeMounts", [])}
        checks.ok(mounts.get("llm-sidecar-socket", {}).get("readOnly") is True, f"{where}: app {app['name']} lacks the read-only socket mount")
        env = {e["name"]: e.get("value") for e in app.get("env", [])}
        checks.ok("LLM_SIDECAR_SOCKET" in env and "OPENAI_BASE_URL" in env, f"{where}: app {app['name']} lacks the env hints")
        if config is not None:
            listen = config["server"]["listen"]
            hints = (env.get("LLM_SIDECAR_SOCKET"), env.get("OPENAI_BASE_URL"))
            expected = (listen["unix"], f"http://{listen['tcp']}/v1")
            checks.ok(hints == expected, f"{where}: app {app['name']} env hints {hints} do not match the config {expected}")


def template(helm, chart, extra, checks, where, release=RELEASE):
    result = run([helm, "template", release, str(chart), *extra])
    checks.ok(result.returncode == 0, f"{where}: helm template failed: {result.stderr}")
    return docs(result.stdout) if result.returncode == 0 else []


def check_rendered(checks, binary, resources, versions, expected, where):
    configs = {}
    for r in resources:
        validate(checks, r, versions, where)
        if r["kind"] == "ConfigMap":
            configs[r["metadata"]["name"]] = check_config(checks, binary, r, where)
    for r in resources:
        if r["kind"] in WORKLOAD_KINDS:
            volumes = {v["name"]: v for v in pod_spec(r).get("volumes", [])}
            name = volumes.get("llm-sidecar-config", {}).get("configMap", {}).get("name")
            check_pod(checks, r, configs.get(name), expected, f"{where} {r['kind']} {r['metadata']['name']}")


def app_chart(helm, checks, work):
    """The example app chart, with this chart as its dependency, rendered the way a user would."""
    charts = Path(work) / "charts"
    shutil.copytree(ROOT / "charts", charts, ignore=shutil.ignore_patterns("charts", "Chart.lock"))
    chart = charts / APP_CHART.relative_to(ROOT / "charts")
    result = run([helm, "dependency", "update", str(chart)])
    if not checks.ok(result.returncode == 0, f"my-app: helm dependency update: {result.stderr}"):
        return []
    lint = run([helm, "lint", "--strict", str(chart)])
    checks.ok(lint.returncode == 0, f"my-app: helm lint: {lint.stdout}{lint.stderr}")
    # Injecting from a dependency left in standalone mode would give a sidecar without a socket.
    standalone = run([helm, "template", "shop", str(chart), "--set", "llm-sidecar.mode=standalone"])
    checks.ok(
        standalone.returncode != 0 and "set llm-sidecar.mode=library" in standalone.stderr,
        f"my-app: a standalone dependency was not refused: {standalone.stderr}",
    )
    return template(helm, chart, ["--kube-version", OLDEST_NATIVE], checks, "my-app", release="shop")


def by_kind_name(resources):
    return {(r["kind"], r["metadata"]["name"]): r for r in resources}


def diff(a, b, path=""):
    """Paths where two parsed YAML trees differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            out += diff(a.get(k, "<missing>"), b.get(k, "<missing>"), f"{path}.{k}")
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in diff(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: chart {a!r} != manifests {b!r}"]


def check_sync(helm, checks):
    """manifests/ spells out what the chart renders: pod specs, configs, Service ports."""
    manifests = by_kind_name(r for f in sorted(MANIFESTS.glob("*.yaml")) for r in docs(f.read_text()))
    sidecar = by_kind_name(template(helm, CHART, ["-f", str(SYNC_VALUES), "--set", "mode=demo"], checks, "sync demo"))
    gateway = by_kind_name(template(helm, CHART, ["-f", str(SYNC_VALUES), "--set", "fullnameOverride=llm-sidecar-gateway"], checks, "sync standalone"))
    pairs = [
        (sidecar.get(("ConfigMap", "llm-sidecar")), manifests.get(("ConfigMap", "llm-sidecar")), "config"),
        (sidecar.get(("Deployment", "llm-sidecar-demo")), manifests.get(("Pod", "my-app")), "pod"),
        (gateway.get(("ConfigMap", "llm-sidecar-gateway")), manifests.get(("ConfigMap", "llm-sidecar-gateway")), "config"),
        (gateway.get(("Deployment", "llm-sidecar-gateway")), manifests.get(("Deployment", "llm-sidecar-gateway")), "pod"),
        (gateway.get(("Service", "llm-sidecar-gateway")), manifests.get(("Service", "llm-sidecar-gateway")), "service"),
    ]
    for chart_r, manifest_r, part in pairs:
        if not checks.ok(chart_r is not None and manifest_r is not None, f"sync: a {part} resource is missing on one side"):
            continue
        where = f"sync {manifest_r['kind']} {manifest_r['metadata']['name']}"
        if part == "config":
            a, b = (yaml.safe_load(r["data"]["config.yaml"]) for r in (chart_r, manifest_r))
        elif part == "pod":
            a, b = pod_spec(chart_r), pod_spec(manifest_r)
        else:
            a, b = ({"type": r["spec"]["type"], "ports": r["spec"]["ports"]} for r in (chart_r, manifest_r))
        differences = diff(a, b)
        checks.ok(not differences, f"{where} differs from the chart:\n  " + "\n  ".join(differences))
    # Each Service selects its own pods.
    for side in (gateway, manifests):
        service = side.get(("Service", "llm-sidecar-gateway"))
        deployment = side.get(("Deployment", "llm-sidecar-gateway"))
        if service and deployment:
            selector = service["spec"]["selector"].items()
            checks.ok(selector <= pod_labels(deployment).items(), "sync: the gateway Service does not select its pods")


def check_versions(checks):
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    cargo = next(line for line in (ROOT / "Cargo.toml").read_text().splitlines() if line.startswith("version"))
    version = cargo.split('"')[1]
    checks.ok(chart["appVersion"] == version == values["image"]["tag"], f"versions: appVersion {chart['appVersion']}, image.tag {values['image']['tag']}, Cargo {version} must agree")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--helm", action="append", required=True, help="a helm binary (repeatable)")
    parser.add_argument("--bin", required=True, help="the llm-sidecar binary, for --check")
    args = parser.parse_args()
    checks = Checks()
    check_versions(checks)
    for helm in args.helm:
        version = run([helm, "version", "--short"]).stdout.strip()
        print(f"{helm}: {version}")
        lint = run([helm, "lint", "--strict", str(CHART)])
        checks.ok(lint.returncode == 0, f"helm lint: {lint.stdout}{lint.stderr}")
        for name, extra, versions, expected in MODES:
            check_rendered(checks, args.bin, template(helm, CHART, extra, checks, name), versions, expected, f"{version} {name}")
        with tempfile.TemporaryDirectory() as work:
            check_rendered(checks, args.bin, app_chart(helm, checks, work), [OLDEST_NATIVE, NEWEST], "native", f"{version} my-app")
        for extra, message in REFUSED:
            result = run([helm, "template", RELEASE, str(CHART), *extra])
            checks.ok(result.returncode != 0 and message in result.stderr, f"{version}: {extra} was not refused with {message!r}: {result.stderr}")
        check_sync(helm, checks)
    manifests = [r for f in sorted(MANIFESTS.glob("*.yaml")) for r in docs(f.read_text())]
    check_rendered(checks, args.bin, manifests, [OLDEST_NATIVE, NEWEST], "auto", "manifests")
    print(f"k8s: {checks.passed} passed, {len(checks.failures)} failed")
    return 1 if checks.failures else 0


if __name__ == "__main__":
    sys.exit(main())
