#!/usr/bin/env bash
# Puts helm at bin/helm, built pinned from its Go module (helm.sh/helm/v3) once and cached in the user's cache
# directory, where fresh clones find it.
set -euo pipefail
VERSION=v3.22.0
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/switchboard/helm-$VERSION"
mkdir -p "$root/bin"
if [ ! -x "$cache/helm" ]; then
  echo "building helm $VERSION (once; cached in $cache)" >&2
  mkdir -p "$cache"
  GOBIN="$cache" go install "helm.sh/helm/v3/cmd/helm@$VERSION"
fi
ln -sf "$cache/helm" "$root/bin/helm"
version="$("$root/bin/helm" version --short)" # no pipe to head: SIGPIPE would fail the script
echo "${version%%$'\n'*}"
