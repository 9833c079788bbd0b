#!/usr/bin/env bash
# ensure-go-tool.sh NAME PACKAGE VERSION: puts the tool NAME at bin/NAME, built pinned with
# `go install PACKAGE@VERSION` once and cached in the user's cache directory, where fresh clones
# find it. Used for k6 and helm.
set -euo pipefail
name="$1" package="$2" version="$3"
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/switchboard/$name-$version"
mkdir -p "$root/bin"
if [ ! -x "$cache/$name" ]; then
  echo "building $name $version (once; cached in $cache)" >&2
  mkdir -p "$cache"
  GOBIN="$cache" go install "$package@$version"
fi
ln -sf "$cache/$name" "$root/bin/$name"
echo "$name $version: bin/$name"
