# Portico developer entry points. `make` alone lists the targets.
#
# Everything the build, tests and `make run` need beyond Go itself is
# installed by `make tools`, idempotently, so a fresh Debian machine (or CI)
# only needs `make test`.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules

# The Go toolchain lives here on the project's machines and may not be on a
# non-login shell's PATH.
export PATH := /usr/local/go/bin:$(PATH)

GO ?= go
CACHE_DIR ?= $(HOME)/.cache/portico
TOOLS_BIN := $(CACHE_DIR)/bin

# Keep in sync with devstack.TemporalCLIVersion: the Go code looks for the
# binary in this versioned directory.
TEMPORAL_CLI_VERSION := v1.5.1
TEMPORAL_DIR := $(CACHE_DIR)/temporal-$(TEMPORAL_CLI_VERSION)
TEMPORAL_BIN := $(TEMPORAL_DIR)/temporal

# v0.6.0 is the latest release; it is a standalone analyzer that matches
# go.temporal.io/sdk/workflow by import path, so it works with SDK v1.50.0.
WORKFLOWCHECK_VERSION := v0.6.0
WORKFLOWCHECK := $(TOOLS_BIN)/workflowcheck

CHROMIUM := /usr/bin/chromium
PG_BIN_DIR := /usr/lib/postgresql/15/bin

# apt needs root; use sudo only when we are not root already.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: help tools tools-apt tools-temporal tools-workflowcheck \
	test fmt fmt-check vet workflowcheck run bench chaos fuzz clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

tools: tools-apt tools-temporal tools-workflowcheck ## Install Chromium, PostgreSQL 15, the Temporal CLI and workflowcheck if missing

tools-apt:
	@pkgs=(); \
	[[ -x $(CHROMIUM) ]] || pkgs+=(chromium); \
	[[ -x $(PG_BIN_DIR)/pg_ctl ]] || pkgs+=(postgresql-15); \
	if (( $${#pkgs[@]} )); then \
		echo "tools: installing $${pkgs[*]} with apt-get"; \
		$(SUDO) apt-get update; \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y "$${pkgs[@]}"; \
	fi

# Built from source through the Go module proxy (no prebuilt downloads are
# reachable here); this takes about 9 minutes on 2 cores, once. Installed
# via a temporary GOBIN so an interrupted build never leaves a partial
# binary that would look installed.
tools-temporal:
	@if [[ ! -x $(TEMPORAL_BIN) ]]; then \
		echo "tools: building temporal CLI $(TEMPORAL_CLI_VERSION) into $(TEMPORAL_DIR) (takes several minutes)"; \
		rm -rf $(TEMPORAL_DIR).tmp; \
		GOBIN=$(TEMPORAL_DIR).tmp $(GO) install github.com/temporalio/cli/cmd/temporal@$(TEMPORAL_CLI_VERSION); \
		mkdir -p $(TEMPORAL_DIR); \
		mv $(TEMPORAL_DIR).tmp/temporal $(TEMPORAL_BIN); \
		rm -rf $(TEMPORAL_DIR).tmp; \
	fi

# The installed module version is read back from the binary, so bumping
# WORKFLOWCHECK_VERSION reinstalls it.
tools-workflowcheck:
	@if ! { [[ -x $(WORKFLOWCHECK) ]] && $(GO) version -m $(WORKFLOWCHECK) 2>/dev/null \
			| grep -qE '^\s+mod\s+go.temporal.io/sdk/contrib/tools/workflowcheck\s+$(WORKFLOWCHECK_VERSION)(\s|$$)'; }; then \
		echo "tools: installing workflowcheck $(WORKFLOWCHECK_VERSION) into $(TOOLS_BIN)"; \
		GOBIN=$(TOOLS_BIN) $(GO) install go.temporal.io/sdk/contrib/tools/workflowcheck@$(WORKFLOWCHECK_VERSION); \
	fi

# TEMPORAL_DEBUG turns off the SDK's 1 s workflow deadlock detector in tests: under -race on a loaded
# 2-core machine a workflow task can take longer than that without anything being wrong.
test: tools fmt-check vet workflowcheck ## Check formatting, vet, workflowcheck, then run all tests with -race
	TEMPORAL_DEBUG=1 $(GO) test -race -count=1 -parallel 8 -timeout 40m ./...

# Go files outside generated state and testdata (which may be unformatted
# on purpose).
GO_FILES_CMD := find . -name '*.go' -not -path './.state/*' -not -path './vendor/*' -not -path '*/testdata/*' -print0

fmt-check:
	@out=$$($(GO_FILES_CMD) | xargs -0 -r gofmt -l); \
	if [[ -n "$$out" ]]; then \
		echo "gofmt: these files need formatting (run \`make fmt\`):"; echo "$$out"; exit 1; \
	fi

fmt: ## Format all Go files in place
	@$(GO_FILES_CMD) | xargs -0 -r gofmt -w

vet: ## Run go vet on all packages
	$(GO) vet ./...

workflowcheck: tools-workflowcheck
	$(WORKFLOWCHECK) ./...

run: tools ## Start Postgres, Temporal and Portico locally (state in ./.state)
	$(GO) run ./internal/devstack/cmd/portico-dev

# The benchmarks run one package at a time (-p 1) so they do not measure each other; each is one
# measurement (-benchtime 1x) that compares itself with a baseline taken in the same run. The output is
# kept in bench/last.txt and turned into the table in bench/results.md, even when a benchmark failed
# (its row says so; the target still fails). BENCH picks benchmarks by name, BENCH_PKGS packages; the
# PORTICO_BENCH_* variables (README) shrink them for a quick run.
BENCH ?= .
BENCH_PKGS ?= ./...
BENCH_TIMEOUT ?= 170m
bench: tools ## Run the benchmarks and write the table to bench/results.md (about an hour on 2 cores)
	@mkdir -p bench
	@status=0; \
	$(GO) test -p 1 -run '^$$' -bench '$(BENCH)' -benchtime 1x -timeout $(BENCH_TIMEOUT) $(BENCH_PKGS) 2>&1 | tee bench/last.txt || status=$$?; \
	$(GO) run ./internal/benchenv/cmd/benchtable -o bench/results.md -cmd "make bench BENCH='$(BENCH)' BENCH_PKGS='$(BENCH_PKGS)'" < bench/last.txt; \
	exit $$status

# The full chaos run: 40 invoices, 24 SIGKILLs of the worker, a PostgreSQL and a Temporal restart and 8
# portal faults (internal/chaos). `make test` runs the short plan. Its report goes to bench/chaos.md and
# into the chaos section of bench/results.md.
chaos: tools ## Chaos run: kill -9 the worker, restart PostgreSQL and Temporal, inject portal faults (about 15 min)
	PORTICO_CHAOS=full $(GO) test -count=1 -run '^TestChaos$$' -timeout 40m -v ./internal/chaos/
	$(GO) run ./internal/benchenv/cmd/benchtable -chaos-only -o bench/results.md

# Each fuzz target runs for FUZZTIME; `make test` runs their committed seed corpora
# (testdata/fuzz) as ordinary tests.
FUZZTIME ?= 30s
FUZZ_TARGETS := ./internal/erp:FuzzInvoiceRequest ./internal/money:FuzzParse \
	./internal/portaldef:FuzzParse ./internal/vault:FuzzNormalizeTOTPSecret

fuzz: tools-apt ## Fuzz the ERP JSON, money parsing, portal definitions and TOTP secrets (FUZZTIME each; the ERP target needs PostgreSQL)
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz: $$name in $$pkg for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	done

clean: ## Remove local dev state (./.state)
	rm -rf ./.state
