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
# The official OpenAI/Anthropic Python SDKs the integration tests drive the gateway with.
SDK_VENV ?= $(HOME)/.cache/llm-sidecar/venv
export LLM_SIDECAR_PYTHON := $(SDK_VENV)/bin/python

.PHONY: run build static test lint fmt check-fmt clippy unit coverage audit bench tools tools-system tools-nextest tools-python tools-coverage tools-audit tools-musl tools-bench clean

## run: build and serve config/example.yaml (mock provider) on ./llm.sock and 127.0.0.1:8080
run:
	$(CARGO) run --bin llm-sidecar -- --config $(CONFIG)

## build: optimized binary in target/release/llm-sidecar
build:
	$(CARGO) build --release --locked

## static: statically linked musl binary (x86_64)
static: tools-musl
	$(CARGO) build --release --locked --target $(MUSL_TARGET)
	@ls -l target/$(MUSL_TARGET)/release/llm-sidecar 2>/dev/null || ls -l $${CARGO_TARGET_DIR}/$(MUSL_TARGET)/release/llm-sidecar

## test: format check, clippy -D warnings, every unit and integration test
test: tools lint
ifeq ($(COVERAGE),1)
	$(CARGO) llvm-cov nextest --locked --no-fail-fast --fail-under-lines $(COVERAGE_MIN) \
		--ignore-filename-regex '(tests/|examples/)'
else
	$(CARGO) nextest run --locked --no-fail-fast
endif

## lint: rustfmt check and clippy with warnings as errors
lint: check-fmt clippy

check-fmt:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --locked --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## coverage: line coverage report; fails under $(COVERAGE_MIN)% lines
coverage: tools tools-coverage
	$(CARGO) llvm-cov nextest --locked --fail-under-lines $(COVERAGE_MIN) \
		--ignore-filename-regex '(tests/|examples/)'

## audit: RustSec audit against the offline advisory database
audit: tools-audit
	$(CARGO) audit --db $(ADVISORY_DB) --no-fetch --deny warnings

## bench: load test over UDS and TCP vs the upstream directly; writes bench/out/results.json
bench: tools-bench
	$(CARGO) build --release --locked --bin llm-sidecar --example bench_upstream
	python3 scripts/bench.py
	$(CARGO) bench --locked --bench translate

# ---- tool installation (idempotent) -------------------------------------------------------

tools: tools-system tools-nextest tools-python $(if $(filter 1,$(COVERAGE)),tools-coverage)

APT_GET := $(shell command -v sudo >/dev/null 2>&1 && [ "$$(id -u)" != 0 ] && echo sudo) apt-get

# System packages the integration tests call.
tools-system:
	@missing=""; \
	command -v curl >/dev/null || missing="$$missing curl"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
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

tools-coverage:
	@rustup component list --installed | grep -q llvm-tools || rustup component add llvm-tools-preview
	@command -v cargo-llvm-cov >/dev/null || $(CARGO) install cargo-llvm-cov --locked

tools-audit:
	@command -v cargo-audit >/dev/null || $(CARGO) install cargo-audit --locked

tools-musl:
	@rustup target list --installed | grep -q $(MUSL_TARGET) || rustup target add $(MUSL_TARGET)
	@command -v musl-gcc >/dev/null || $(APT_GET) install -y musl-tools || ($(APT_GET) update && $(APT_GET) install -y musl-tools)

tools-bench:
	@command -v oha >/dev/null || $(CARGO) install oha --locked

clean:
	$(CARGO) clean
