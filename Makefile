# Switchboard: `make run` starts the gateway on the embedded example, `make test` runs every test.
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
STATICCHECK_VERSION := v0.8.2
DEMO_ADDR ?= 127.0.0.1:3001

.PHONY: build run test lint fuzz bench loadtest image clean consul hydra redis nginx chromium k6 helm demo-consul

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
	echo "  Console:      http://127.0.0.1:9090/admin/  (open it in a browser)"; \
	echo; \
	DEMO_HTTP_URL=http://$(DEMO_ADDR)/mcp $(BIN)/switchboard serve --config examples/switchboard.yaml

# Real peers for the end-to-end tests: the npm reference server and the TypeScript SDK client.
e2e/node/node_modules/.installed: e2e/node/package.json e2e/node/package-lock.json
	@command -v npm >/dev/null || { echo "npm is required for the end-to-end tests (Debian: apt-get install nodejs npm)"; exit 1; }
	npm ci --prefix e2e/node --no-audit --no-fund --loglevel=error
	touch $@

# A real Consul agent for the tests, built once from its Go module and cached (see the script).
consul:
	scripts/ensure-consul.sh

# Ory Hydra, the real OAuth2/OIDC provider of the auth tests, built once from its Go module and
# cached (see the script).
hydra:
	scripts/ensure-hydra.sh

# The container image, built without a container engine: a static binary on an empty base,
# non-root, as an OCI image layout in bin/image (the Dockerfile builds the same with an engine).
image:
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -ldflags "-s -w $(LDFLAGS)" -o $(BIN)/switchboard-linux-amd64 ./cmd/switchboard
	$(GO) run ./internal/tools/ociimage -binary $(BIN)/switchboard-linux-amd64 -out $(BIN)/image -tag switchboard:$(VERSION)

# helm for the chart's tests, pinned, built once and cached (see the script).
helm:
	scripts/ensure-go-tool.sh helm helm.sh/helm/v3/cmd/helm v3.22.0

# k6 for the load tests, pinned, built once from its Go module and cached (see the script).
k6:
	scripts/ensure-go-tool.sh k6 go.k6.io/k6 v1.8.1

# A k6 scenario through the gateway, with an mcp-demo upstream (SCENARIO=smoke|open|ramp,
# ERA=2025-11-25|2026-07-28, DIRECT=1 to run it against the upstream too; see loadtest/README.md).
loadtest: build k6
	loadtest/run.sh

# redis-server for the cache tests (Debian's package; installed when running as root).
redis:
	scripts/ensure-redis.sh

# nginx as the round-robin balancer in front of several gateways in the end-to-end tests
# (Debian's package; installed when running as root).
nginx:
	scripts/ensure-nginx.sh

# The official MCP conformance suite, with the Node 22 it needs, from npm.
e2e/conformance/node_modules/.installed: e2e/conformance/package.json e2e/conformance/package-lock.json
	npm ci --prefix e2e/conformance --no-audit --no-fund --loglevel=error
	touch $@

# Headless chromium for the admin console's browser test (Debian's package; installed when
# running as root).
chromium:
	scripts/ensure-chromium.sh

test: e2e/node/node_modules/.installed e2e/conformance/node_modules/.installed consul hydra redis nginx chromium k6 helm
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
	$(GO) test ./router -run '^$$' -fuzz '^FuzzReadMessage$$' -fuzztime $(FUZZTIME)
	$(GO) test ./router -run '^$$' -fuzz '^FuzzResultShape$$' -fuzztime $(FUZZTIME)
	$(GO) test ./authn -run '^$$' -fuzz '^FuzzParseBearer$$' -fuzztime $(FUZZTIME)
	$(GO) test ./middleware -run '^$$' -fuzz '^FuzzCheckEnvelope$$' -fuzztime $(FUZZTIME)
	$(GO) test ./upstream -run '^$$' -fuzz '^FuzzParsePage$$' -fuzztime $(FUZZTIME)
	$(GO) test ./registry -run '^$$' -fuzz '^FuzzParseInstance$$' -fuzztime $(FUZZTIME)
	$(GO) test ./cache -run '^$$' -fuzz '^FuzzCanonical$$' -fuzztime $(FUZZTIME)
	$(GO) test ./middleware -run '^$$' -fuzz '^FuzzRequestID$$' -fuzztime $(FUZZTIME)
	$(GO) test ./middleware -run '^$$' -fuzz '^FuzzClientAddr$$' -fuzztime $(FUZZTIME)
	$(GO) test ./glob -run '^$$' -fuzz '^FuzzPattern$$' -fuzztime $(FUZZTIME)
	$(GO) test ./sessions -run '^$$' -fuzz '^FuzzOpen$$' -fuzztime $(FUZZTIME)
	$(GO) test ./toolsearch -run '^$$' -fuzz '^FuzzSearch$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/envelope -run '^$$' -fuzz '^FuzzMembers$$' -fuzztime $(FUZZTIME)
	$(GO) test ./bridge -run '^$$' -fuzz '^FuzzReadEvents$$' -fuzztime $(FUZZTIME)
	$(GO) test ./glob -run '^$$' -fuzz '^FuzzURIPattern$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pinning -run '^$$' -fuzz '^FuzzParseTarget$$' -fuzztime $(FUZZTIME)

# Watch discovery work: a Consul dev agent, the gateway discovering from it, and two mcp-demo
# instances registered as one service "demo". Ctrl-C stops everything.
demo-consul: build consul
	@set -m; tmp=$$(mktemp -d); pids=; \
	trap 'kill $$pids 2>/dev/null; rm -rf $$tmp' EXIT; \
	$(BIN)/consul agent -dev -bind 127.0.0.1 -client 127.0.0.1 -log-level warn >$$tmp/consul.log 2>&1 & pids="$$pids $$!"; \
	until $(BIN)/consul members >/dev/null 2>&1; do sleep 0.2; done; \
	$(BIN)/mcp-demo --listen 127.0.0.1:3101 --name demo-1 & pids="$$pids $$!"; \
	$(BIN)/mcp-demo --listen 127.0.0.1:3102 --name demo-2 & pids="$$pids $$!"; \
	for i in 1 2; do \
	  printf '{"ID":"demo-%s","Name":"demo","Tags":["mcp"],"Address":"127.0.0.1","Port":310%s,"Meta":{"mcp_path":"/mcp"},"Check":{"TCP":"127.0.0.1:310%s","Interval":"2s"}}' $$i $$i $$i > $$tmp/demo-$$i.json; \
	  curl -sf -X PUT --data @$$tmp/demo-$$i.json http://127.0.0.1:8500/v1/agent/service/register; \
	done; \
	printf 'listen: 127.0.0.1:8080\nadmin_listen: 127.0.0.1:9090\nconsul: {address: 127.0.0.1:8500}\n' > $$tmp/switchboard.yaml; \
	echo; echo "Consul UI: http://127.0.0.1:8500/ui   MCP: http://127.0.0.1:8080/mcp   (demo__whoami answers demo-1 or demo-2)"; \
	echo "Deregister one: curl -X PUT http://127.0.0.1:8500/v1/agent/service/deregister/demo-1"; echo; \
	$(BIN)/switchboard serve --config $$tmp/switchboard.yaml

# Benchmarks; figures and how to read them are in docs/BENCHMARKS.md.
bench: e2e/node/node_modules/.installed e2e/conformance/node_modules/.installed consul redis k6
	$(GO) test ./router ./authn ./ratelimit ./upstream ./cache -run '^$$' -bench . -benchmem -benchtime 2s -count 3
	$(GO) test ./e2e -run '^$$' -bench 'ToolsCall|ConsulPropagation' -benchtime 3s -count 3
	$(GO) test ./e2e -run '^$$' -bench Ratios -benchtime 1x -v
	$(GO) test ./e2e -run '^$$' -bench Hop -benchtime 1x -v

clean:
	rm -rf $(BIN) e2e/node/node_modules
