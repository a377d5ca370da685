#!/usr/bin/env bash
# Installs a Go tool at a pinned version through the Go module proxy. The
# binary is cached by name and version under $AGENTGUARD_CACHE (default
# ~/.cache/agentguard/tools) so a fresh clone reuses it, and linked into OUT_DIR.
#
#   hack/install-tool.sh OUT_DIR NAME PACKAGE VERSION
set -euo pipefail
out=${1:?OUT_DIR}; name=${2:?NAME}; pkg=${3:?PACKAGE}; ver=${4:?VERSION}
cache=${AGENTGUARD_CACHE:-$HOME/.cache/agentguard}
dest="$cache/tools/$name-$ver"
mkdir -p "$out" && out=$(cd "$out" && pwd)
if [[ ! -x "$dest/$name" ]]; then
  echo ">> building $name $ver (cached in $dest)"
  rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
  GOBIN="$dest.tmp" GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0 go install "$pkg@$ver"
  built=$(ls "$dest.tmp")
  [[ "$built" == "$name" ]] || mv "$dest.tmp/$built" "$dest.tmp/$name"
  rm -rf "$dest" && mv "$dest.tmp" "$dest"
fi
ln -sfn "$dest/$name" "$out/$name"
