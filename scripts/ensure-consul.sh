#!/usr/bin/env bash
# Puts a Consul agent at bin/consul for the tests. Consul is not packaged in Debian, so it is built
# from its Go module once (about 3 minutes) and cached in the user's cache directory, where fresh
# clones find it.
set -euo pipefail
VERSION=1.20.6
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/switchboard/consul-$VERSION"
mkdir -p "$root/bin"
if [ ! -x "$cache/consul" ]; then
  echo "building consul $VERSION from its Go module (once; cached in $cache)" >&2
  src="$(go mod download -json "github.com/hashicorp/consul@v$VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [ -d "$src" ] || { echo "could not download github.com/hashicorp/consul@v$VERSION" >&2; exit 1; }
  work="$(mktemp -d)"
  trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
  cp -r "$src/." "$work/"
  chmod -R u+w "$work"
  (
    cd "$work"
    # The module's replace directives point at directories inside its repository, which the
    # module zip does not carry; the published versions of those modules serve instead.
    awk '/^replace \(/{block=1; next} block && /^\)/{block=0} block && /=>/{print $1} /^replace [^(]/{print $2}' go.mod |
      while read -r old; do go mod edit -dropreplace "$old"; done
    grep -q '=>' go.mod && { echo "replace directives left in consul's go.mod" >&2; exit 1; }
    mkdir -p "$cache"
    GOFLAGS=-mod=mod go build -o "$cache/consul.tmp" . && mv "$cache/consul.tmp" "$cache/consul"
  )
fi
ln -sf "$cache/consul" "$root/bin/consul"
version="$("$root/bin/consul" version)" # no pipe to head: SIGPIPE would fail the script
echo "${version%%$'\n'*}"
