#!/usr/bin/env bash
# Makes sure redis-server (Debian's package) is installed, for the cache tests: installs it when
# running as root, otherwise says what to run.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then
  redis-server --version
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "redis-server is missing; install it with: sudo apt-get install -y redis-server" >&2
  exit 1
fi
echo "installing redis-server" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q redis-server >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q redis-server >/dev/null; }
# The package starts a system-wide server on 6379; the tests start their own on free ports.
service redis-server stop >/dev/null 2>&1 || true
redis-server --version
