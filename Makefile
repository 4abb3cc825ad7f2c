# The front door. `make run` and `make test` set everything up themselves on a fresh clone.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
UV_VERSION := 0.13.8
PY_READY := $(VENV)/.ready
PY_BYTECODE := $(VENV)/.bytecode
# The checkout's own Python, compiled by `setup` (stale files are recompiled, fresh ones skipped).
SOURCES := app.py functions infra layers local media_workers tests tools
NODE_READY := node_modules/.ready
# The portal and the dashboard, built when their sources change.
WEB_READY := web/dist/.ready
WEB_SOURCES := $(shell find web/src web/index.html web/dashboard web/vite.config.ts web/tsconfig.json -type f 2>/dev/null)
# The browser tests drive Debian's Chromium; Playwright never downloads a browser of its own.
CHROMIUM := /usr/bin/chromium
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

# jsii (CDK from Python) runs on Node; this wrapper drops the Node end-of-life banner only.
export JSII_NODE := $(CURDIR)/tools/jsii-node
export PATH := $(BIN):$(CURDIR)/node_modules/.bin:$(PATH)

.PHONY: help setup run reset test test-unit test-infra lint format synth bench docs lock clean token demo

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(PY_READY): locks/dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip sync --quiet --python $(BIN)/python --require-hashes locks/dev.txt
	@# The repository root and the shared package on the path, as a layer puts it in Lambda.
	@$(BIN)/python -c 'import site, sys; open(site.getsitepackages()[0] + "/telehealth-dev.pth", "w").write("\n".join(sys.argv[1:]) + "\n")' \
		"$(CURDIR)" "$(CURDIR)/layers/telehealth"
	@touch $@

# Every process of a run (the test session with the CDK app, the platform, its function hosts, the
# stand-ins) imports compiled bytecode. Where PYTHONDONTWRITEBYTECODE is set, as in containers,
# Python never keeps what it compiles: each process compiled each module from source, every time
# (the CDK's modules alone 12 s of the test session; a platform start 27 s instead of 14).
# uv compiles the whole environment, as its docs advise for start-up time (once, about 90 s).
$(PY_BYTECODE): $(PY_READY)
	$(BIN)/uv pip sync --quiet --python $(BIN)/python --require-hashes --compile-bytecode locks/dev.txt
	@touch $@

$(NODE_READY): package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# Debian's package, so the browser comes from the same archive as the rest of the machine and
# updates with it. Fonts: screenshots need real glyphs (chromium only recommends them).
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing Debian's chromium for the browser tests (apt-get)..."; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			chromium fonts-liberation >/dev/null; \
	else \
		echo "The browser tests need Debian's chromium package at $(CHROMIUM), and this setup can only"; \
		echo "install it as root on Debian. Please run: sudo apt-get install --no-install-recommends chromium fonts-liberation"; \
		exit 1; \
	fi
	@test -x $@ || { echo "apt-get finished but $@ is still missing."; exit 1; }

$(WEB_READY): $(NODE_READY) $(WEB_SOURCES)
	cd web && vite build --logLevel warn
	@touch $@

setup: $(PY_READY) $(PY_BYTECODE) $(NODE_READY) $(WEB_READY) $(CHROMIUM) ## create .venv and node_modules from the lock files, build the web apps, install chromium
	@$(BIN)/python -m compileall -q -j 0 $(SOURCES)

run: setup ## start the whole platform locally, keeping its data in .local/state/ (FRESH=1: forget it first)
	$(BIN)/python -m local $(if $(filter 1 yes true,$(FRESH)),--fresh)

reset: setup ## forget the local platform's data (.local/state/)
	$(BIN)/python -m local --reset

# The platform's tests mostly wait (on the workflow, the outbox, the browsers), so they run in two
# halves side by side, each with a platform of its own (tests/conftest.py SECOND_HALF), and the
# tests that need no platform run beside them, niced, in a session of their own (all share one
# synthesis of the app); so does mypy, which takes three minutes on a fresh checkout
# (aws-cdk-lib's typings, no cache yet). Each verdict counts the same; the other outputs follow
# the first half's.
test: setup ## lint, then every test suite (the platform's in two halves, and beside them the rest and mypy)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	cd web && tsc --noEmit -p .
	(cd web && vitest run --silent)
	@mkdir -p .local; rm -rf .local/test-assembly; export TEST_ASSEMBLY_DIR=.local/test-assembly; \
	  echo "beside the first half of the platform's tests: its second half, pytest --part rest and mypy (their output follows)"; \
	  nice -n 10 $(BIN)/mypy > .local/mypy.log 2>&1 & typing=$$!; \
	  nice -n 4 $(BIN)/python -m pytest --part rest -p no:cacheprovider > .local/rest.log 2>&1 & rest=$$!; \
	  $(BIN)/python -m pytest --part platform-2 -p no:cacheprovider > .local/platform-2.log 2>&1 & second=$$!; \
	  $(BIN)/python -m pytest --part platform-1; first=$$?; \
	  wait $$second; seconded=$$?; echo "--- pytest --part platform-2:"; cat .local/platform-2.log; \
	  wait $$rest; rested=$$?; echo "--- pytest --part rest:"; cat .local/rest.log; \
	  wait $$typing; typed=$$?; echo "--- mypy:"; cat .local/mypy.log; \
	  test $$first -eq 0 && test $$seconded -eq 0 && test $$rested -eq 0 && test $$typed -eq 0

test-unit: setup ## the domain's unit tests only
	$(BIN)/python -m pytest tests/unit

test-infra: setup ## synthesized templates: cdk-nag HIPAA, cfn-lint, allow-list, settings
	$(BIN)/python -m pytest tests/infra

lint: setup ## ruff, ruff format --check, mypy, tsc
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	cd web && tsc --noEmit -p .

format: setup ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

synth: setup ## write cdk.out/: the baseline and one template per tenant, HIPAA-checked
	cdk synth --quiet

bench: setup ## print the figures: synth time, acknowledgments, resources, handler imports
	$(BIN)/python -m tools.bench

demo: setup ## drive one whole video visit over HTTP (starts the platform if needed; UI=1: in two browsers)
	$(BIN)/python -m tools.demo $(if $(filter 1 yes true,$(UI)),--ui)

docs: setup ## regenerate the generated docs (compliance, the OpenAPI document)
	$(BIN)/python -m infra.compliance > docs/compliance.md
	$(BIN)/python -m tools.openapi > docs/openapi.json
	$(BIN)/python -m tools.healthlake_support > local/standins/healthlake/support.json

lock: setup ## re-resolve locks/ after editing pyproject.toml
	UV=$(BIN)/uv tools/lock.sh

clean: ## remove build output (not the virtual environment)
	rm -rf cdk.out .build .pytest_cache .mypy_cache .ruff_cache

token: setup ## print a token from the running platform: make token WHO=<e-mail or machine client>
	@$(BIN)/python -m local.token $(WHO)
