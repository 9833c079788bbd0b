# Switchboard: `make run` starts the gateway on the embedded example, `make test` runs every test.
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
STATICCHECK_VERSION := v0.8.2
DEMO_ADDR ?= 127.0.0.1:3001

.PHONY: build run test lint fuzz bench clean

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/switchboard ./cmd/switchboard
	$(GO) build -o $(BIN)/mcp-demo ./cmd/mcp-demo

# The example aggregates mcp-demo twice: over stdio (started by the gateway) and over Streamable
# HTTP (started here). Ctrl-C stops both.
run: build
	@$(BIN)/mcp-demo --listen $(DEMO_ADDR) --name demohttp & demo=$$!; \
	trap 'kill $$demo 2>/dev/null' EXIT; \
	echo; \
	echo "Give this URL to your MCP client:  http://127.0.0.1:8080/mcp"; \
	echo "  Claude Code:  claude mcp add --transport http switchboard http://127.0.0.1:8080/mcp"; \
	echo "  VS Code:      .vscode/mcp.json {\"servers\": {\"switchboard\": {\"type\": \"http\", \"url\": \"http://127.0.0.1:8080/mcp\"}}}"; \
	echo "  Readiness:    curl http://127.0.0.1:9090/readyz"; \
	echo; \
	DEMO_HTTP_URL=http://$(DEMO_ADDR)/mcp $(BIN)/switchboard serve --config examples/switchboard.yaml

# Real peers for the end-to-end tests: the npm reference server and the TypeScript SDK client.
e2e/node/node_modules/.installed: e2e/node/package.json e2e/node/package-lock.json
	@command -v npm >/dev/null || { echo "npm is required for the end-to-end tests (Debian: apt-get install nodejs npm)"; exit 1; }
	npm ci --prefix e2e/node --no-audit --no-fund --loglevel=error
	touch $@

test: e2e/node/node_modules/.installed
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 12m ./...

lint:
	$(GO) vet ./...
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	$(BIN)/staticcheck ./...

# Short runs of every fuzz target; FUZZTIME=5m for a longer look.
FUZZTIME ?= 20s
fuzz:
	$(GO) test ./router -run '^$$' -fuzz '^FuzzExposedNames$$' -fuzztime $(FUZZTIME)
	$(GO) test ./router -run '^$$' -fuzz '^FuzzRewriteMessage$$' -fuzztime $(FUZZTIME)

# Benchmarks; figures and how to read them are in docs/BENCHMARKS.md.
bench: e2e/node/node_modules/.installed
	$(GO) test ./e2e -run '^$$' -bench . -benchtime 3s -count 3

clean:
	rm -rf $(BIN) e2e/node/node_modules
