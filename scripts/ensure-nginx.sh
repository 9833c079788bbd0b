#!/usr/bin/env bash
# Makes sure nginx (Debian's package) is installed, for the end-to-end tests that put a
# round-robin balancer in front of several gateways: installs it when running as root, otherwise
# says what to run. The binary lives in /usr/sbin, which is not on every user's PATH.
set -euo pipefail
PATH="$PATH:/usr/sbin:/sbin"
if command -v nginx >/dev/null 2>&1; then
  nginx -v
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "nginx is missing; install it with: sudo apt-get install -y nginx" >&2
  exit 1
fi
echo "installing nginx" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q nginx >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q nginx >/dev/null; }
# The package starts a system-wide server on port 80; the tests start their own on free ports,
# with their own configuration, and never read /etc/nginx.
service nginx stop >/dev/null 2>&1 || true
nginx -v
