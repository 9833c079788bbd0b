#!/usr/bin/env bash
# Puts k6 at bin/k6, built pinned from its Go module once and cached in the user's cache
# directory, where fresh clones find it.
set -euo pipefail
VERSION=v1.8.1
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/switchboard/k6-$VERSION"
mkdir -p "$root/bin"
if [ ! -x "$cache/k6" ]; then
  echo "building k6 $VERSION (once; cached in $cache)" >&2
  mkdir -p "$cache"
  GOBIN="$cache" go install "go.k6.io/k6@$VERSION"
fi
ln -sf "$cache/k6" "$root/bin/k6"
version="$("$root/bin/k6" version)" # no pipe to head: SIGPIPE would fail the script
echo "${version%%$'\n'*}"
