#!/usr/bin/env bash
# Puts Ory Hydra at bin/hydra, the real OAuth2/OIDC provider of the end-to-end tests. It is built
# from its Go module once (about 2 minutes on 2 cores) and cached in the user's cache directory,
# where fresh clones find it.
set -euo pipefail
VERSION=2.3.0
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/switchboard/hydra-v$VERSION"
mkdir -p "$root/bin"
if [ ! -x "$cache/hydra" ]; then
  echo "building hydra $VERSION from its Go module (once; cached in $cache)" >&2
  src="$(go mod download -json "github.com/ory/hydra/v2@v$VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [ -d "$src" ] || { echo "could not download github.com/ory/hydra/v2@v$VERSION" >&2; exit 1; }
  work="$(mktemp -d)"
  trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
  cp -r "$src/." "$work/"
  chmod -R u+w "$work"
  (
    cd "$work"
    # The module's replace directive for its generated client (github.com/ory/hydra-client-go/v2)
    # points at a directory inside its repository, which the module zip does not carry; the
    # published version serves instead. Replacements by other modules (its fork of pop) stay.
    awk '/^replace \(/{block=1; next} block && /^\)/{block=0} block && $3 ~ /^[.\/]/{print $1} /^replace [^(]/ && $4 ~ /^[.\/]/{print $2}' go.mod |
      while read -r old; do go mod edit -dropreplace "$old"; done
    grep -Eq '=>[[:space:]]*[./]' go.mod && { echo "local replace directives left in hydra's go.mod" >&2; exit 1; }
    mkdir -p "$cache"
    # DSN=memory, which the tests use, is an in-memory SQLite database: Hydra handles it only when
    # built with the sqlite tag, and SQLite (mattn/go-sqlite3) needs cgo.
    CGO_ENABLED=1 GOFLAGS=-mod=mod go build -tags sqlite,sqlite_omit_load_extension \
      -ldflags "-X github.com/ory/hydra/v2/driver/config.Version=v$VERSION" -o "$cache/hydra.tmp" . &&
      mv "$cache/hydra.tmp" "$cache/hydra"
  )
fi
ln -sf "$cache/hydra" "$root/bin/hydra"
"$root/bin/hydra" version
