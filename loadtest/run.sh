#!/usr/bin/env bash
# make loadtest: starts an mcp-demo upstream and the gateway on free local ports, runs a k6
# scenario through the gateway (and, with DIRECT=1, straight at the upstream), then stops both.
#   SCENARIO=smoke|open|ramp  ERA=2025-11-25|2026-07-28  RATE, DURATION, VUS  (see mcp.js)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/bin"
tmp="$(mktemp -d)"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$tmp"' EXIT
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
up="127.0.0.1:$(port)"; gw="127.0.0.1:$(port)"; adm="127.0.0.1:$(port)"
"$bin/mcp-demo" --listen "$up" --name demo >"$tmp/demo.log" 2>&1 & pids+=($!)
cat >"$tmp/switchboard.yaml" <<YAML
listen: $gw
admin_listen: $adm
cache: {tools: {"demo__counter": {ttl: 1m}}}
upstreams: [{name: demo, url: http://$up/mcp}]
YAML
"$bin/switchboard" serve --config "$tmp/switchboard.yaml" >"$tmp/gw.log" 2>&1 & pids+=($!)
for _ in $(seq 100); do curl -sf "http://$adm/readyz" >/dev/null && break; sleep 0.1; done
curl -sf "http://$adm/readyz" >/dev/null || { cat "$tmp/gw.log"; exit 1; }
if [ "${DIRECT:-0}" = 1 ]; then
  echo "== directly against the upstream"
  "$bin/k6" run --quiet -e MCP_URL="http://$up/mcp" -e PREFIX= "$root/loadtest/mcp.js"
fi
echo "== through the gateway"
"$bin/k6" run --quiet -e MCP_URL="http://$gw/mcp" "$root/loadtest/mcp.js"
