#!/usr/bin/env bash
# Makes sure chromium (Debian's package) is installed, for the admin console's browser test
# (e2e/console_test.go drives it headless): installs it when running as root, otherwise says
# what to run.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  chromium --version 2>/dev/null || true
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "chromium is missing; install it with: sudo apt-get install -y chromium" >&2
  exit 1
fi
echo "installing chromium" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }
command -v chromium >/dev/null || { echo "chromium did not install" >&2; exit 1; }
chromium --version 2>/dev/null || true
