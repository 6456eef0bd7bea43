#!/usr/bin/env bash
# Builds the image from Dockerfile.distroless without a Docker daemon and runs it the way a pod
# would, then checks what a cluster relies on:
#   - hadolint passes;
#   - buildah builds it (final stage FROM scratch with the prebuilt static binary: no registry
#     can be pulled from here, so neither the Rust builder nor the distroless base);
#   - skopeo reads user 65532:65532, the entrypoint, the exposed ports; the image is < MAX_MB;
#   - podman runs it read-only, all capabilities dropped, no new privileges, no network, with the
#     ConfigMap's config (manifests/configmap.yaml) and a bind-mounted socket directory;
#   - a client running as uid 65532 gets answers over the Unix socket; a uid outside the
#     socket's group is refused (mode 0660);
#   - the probes answer on the admin port (inside the container's network namespace);
#   - SIGTERM (podman stop) exits 0 within the grace period and removes the socket.
# Usage: image_test.sh STATIC_BINARY
set -euo pipefail

BIN=${1:?usage: image_test.sh STATIC_BINARY}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MAX_MB=15                     # the image budget, in MB (10^6 bytes)
UID_GW=65532                  # the image's user and group
UID_STRANGER=12345            # neither the socket's owner nor in its group
GRACE_S=10                    # podman stop's grace before SIGKILL
READY_WAIT_S=10
RLIMIT=4096                   # open files and processes in the container
IMAGE=localhost/llm-sidecar:image-test
CONTAINER=llm-sidecar-image-test-$$
SOCKET_DIR_IN=/var/run/llm-sidecar

work=$(mktemp -d)
# The socket's clients run as other uids: they must be able to walk to it.
chmod 755 "$work"
# Private storage: nothing of the machine's own containers is touched, and all of it goes at exit.
STORE=(--storage-driver vfs --root "$work/storage" --runroot "$work/run")
podman_() { podman "${STORE[@]}" --runtime runc --cgroup-manager cgroupfs --events-backend none "$@"; }
cleanup() {
    podman_ rm -f -t 0 "$CONTAINER" >/dev/null 2>&1 || true
    buildah "${STORE[@]}" rmi -a -f >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

hadolint "$ROOT/Dockerfile.distroless" || fail "hadolint"
pass "hadolint Dockerfile.distroless"

# The build context holds only the binary: the prebuilt stage copies it.
mkdir -p "$work/context"
cp "$BIN" "$work/context/llm-sidecar"
started=$(date +%s.%N)
buildah "${STORE[@]}" bud --quiet --isolation chroot --layers=false \
    -f "$ROOT/Dockerfile.distroless" --build-arg BIN_FROM=prebuilt --build-arg BASE=scratch \
    -t "$IMAGE" "$work/context" >/dev/null || fail "buildah bud"
pass "built $IMAGE in $(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }') s"

ref="containers-storage:[vfs@$work/storage+$work/run]$IMAGE"
config=$(skopeo inspect --config "$ref")
python3 - "$config" "$UID_GW" <<'EOF' || fail "image config"
import json, sys
config = json.loads(sys.argv[1])["config"]
uid = sys.argv[2]
expect = {
    "User": f"{uid}:{uid}",
    "Entrypoint": ["/llm-sidecar"],
    "Cmd": ["--config", "/etc/llm-sidecar/config/config.yaml"],
}
for key, value in expect.items():
    assert config.get(key) == value, f"{key}: {config.get(key)!r} != {value!r}"
ports = set(config.get("ExposedPorts", {}))
assert {"8080/tcp", "9901/tcp"} <= ports, ports
EOF
bytes=$(podman_ image inspect --format '{{.Size}}' "$IMAGE")
[ "$bytes" -lt $((MAX_MB * 1000 * 1000)) ] || fail "image is $bytes bytes, over $MAX_MB MB"
pass "image config: user $UID_GW:$UID_GW, entrypoint /llm-sidecar, ports 8080 9901; size $(awk -v b="$bytes" 'BEGIN { printf "%.2f", b / 1e6 }') MB < $MAX_MB MB"

# The sidecar's own config, as the ConfigMap mounts it.
mkdir -p "$work/config" "$work/socket"
python3 -c 'import sys, yaml; d = yaml.safe_load(open(sys.argv[1])); print(d["data"]["config.yaml"])' \
    "$ROOT/manifests/configmap.yaml" > "$work/config/config.yaml"
# The emptyDir's stand-in: writable by the gateway's user.
chown "$UID_GW:$UID_GW" "$work/socket"
sock="$work/socket/llm.sock"

# This sandbox refuses podman's default rlimits (setting RLIMIT_NPROC that high fails with EPERM):
# explicit modest ones, plenty for one gateway.
podman_ run -d --name "$CONTAINER" --network none --read-only --cap-drop ALL \
    --security-opt no-new-privileges \
    --ulimit "nofile=$RLIMIT:$RLIMIT" --ulimit "nproc=$RLIMIT:$RLIMIT" \
    -v "$work/config:/etc/llm-sidecar/config:ro" -v "$work/socket:$SOCKET_DIR_IN" \
    "$IMAGE" >/dev/null || fail "podman run"

deadline=$((SECONDS + READY_WAIT_S))
until podman_ logs "$CONTAINER" 2>&1 | grep -q '"llm-sidecar ready"'; do
    [ $SECONDS -lt $deadline ] || fail "not ready within ${READY_WAIT_S}s: $(podman_ logs "$CONTAINER" 2>&1)"
    sleep 0.1
done
[ "$(stat -c %u "$sock")" = "$UID_GW" ] || fail "socket owner is $(stat -c %u "$sock"), not $UID_GW"
pass "ready; socket created by uid $UID_GW, mode $(stat -c %a "$sock")"

as_uid() { local uid=$1; shift; setpriv --reuid "$uid" --regid "$uid" --clear-groups "$@"; }
models=$(as_uid "$UID_GW" curl -sS --fail --unix-socket "$sock" http://localhost/v1/models) ||
    fail "GET /v1/models over the socket as uid $UID_GW"
grep -q '"gpt-4o-mini"' <<<"$models" || fail "models: $models"
answer=$(as_uid "$UID_GW" curl -sS --fail --unix-socket "$sock" http://localhost/v1/chat/completions \
    -H 'content-type: application/json' \
    -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}') ||
    fail "POST /v1/chat/completions over the socket as uid $UID_GW"
grep -q '"chat.completion"' <<<"$answer" || fail "chat answer: $answer"
pass "uid $UID_GW: /v1/models and a chat completion over the socket"
if as_uid "$UID_STRANGER" curl -sS --unix-socket "$sock" http://localhost/v1/models >/dev/null 2>&1; then
    fail "uid $UID_STRANGER reached the 0660 socket"
fi
pass "uid $UID_STRANGER (not in the socket's group) is refused"

# The kubelet probes the pod IP; here that is the container's own network namespace.
pid=$(podman_ inspect --format '{{.State.Pid}}' "$CONTAINER")
for path in /health/live /health/ready; do
    status=$(nsenter -t "$pid" -n curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:9901$path")
    [ "$status" = 200 ] || fail "$path answered $status"
done
pass "probes: /health/live and /health/ready answer 200 on the admin port"

started=$(date +%s.%N)
podman_ stop -t "$GRACE_S" "$CONTAINER" >/dev/null
took=$(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
code=$(podman_ inspect --format '{{.State.ExitCode}}' "$CONTAINER")
[ "$code" = 0 ] || fail "exit code $code after SIGTERM: $(podman_ logs "$CONTAINER" 2>&1 | tail -5)"
awk -v t="$took" -v g="$GRACE_S" 'BEGIN { exit !(t < g) }' || fail "stop took ${took}s, the grace period is ${GRACE_S}s"
[ ! -e "$sock" ] || fail "socket left behind"
pass "SIGTERM: exit 0 in ${took}s (grace ${GRACE_S}s), socket removed"
