#!/usr/bin/env bash
# Builds kube-apiserver and etcd from source through the Go module proxy for envtest.
# The binaries are cached by name and version under $AGENTGUARD_CACHE (default
# ~/.cache/agentguard), so a fresh clone does not rebuild them, and linked into $1.
#
#   hack/build-k8s-bins.sh OUT_DIR   (env: K8S_VERSION, ETCD_VERSION)
set -euo pipefail

out=${1:?usage: build-k8s-bins.sh OUT_DIR}
mkdir -p "$out" && out=$(cd "$out" && pwd)
k8s=${K8S_VERSION:-v1.37.2}
etcd=${ETCD_VERSION:-v3.6.16}
cache=${AGENTGUARD_CACHE:-$HOME/.cache/agentguard}
dest="$cache/k8s/kube-${k8s}_etcd-${etcd}"
staging="v0.${k8s#v1.}"

mkdir -p "$out"
if [[ -x "$dest/kube-apiserver" && -x "$dest/etcd" ]]; then
  ln -sfn "$dest/kube-apiserver" "$out/kube-apiserver"
  ln -sfn "$dest/etcd" "$out/etcd"
  echo "envtest binaries cached in $dest"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GOFLAGS=-mod=mod GOWORK=off CGO_ENABLED=0

# kube-apiserver: k8s.io/kubernetes names its staging modules v0.0.0 with local
# replaces, so pin every staging module it requires to the matching release.
echo ">> kube-apiserver $k8s (staging modules $staging)"
mkdir -p "$work/kube" && cd "$work/kube"
go mod init agentguard.local/kube-bins >/dev/null 2>&1
modfile=$(go mod download -json "k8s.io/kubernetes@$k8s" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging' "$modfile" | awk '{print $1}' | sort -u > staging.txt
[[ -s staging.txt ]] || { echo "no staging modules found in $modfile" >&2; exit 1; }
args=(-require="k8s.io/kubernetes@$k8s")
while read -r m; do args+=(-replace="$m=$m@$staging"); done < staging.txt
go mod edit "${args[@]}"
cat > tools.go <<'GO'
//go:build tools

package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
GO
go mod tidy >/dev/null
mkdir -p "$dest.tmp"
go build -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$k8s" \
  -o "$dest.tmp/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver

echo ">> etcd $etcd"
mkdir -p "$work/etcd" && cd "$work/etcd"
go mod init agentguard.local/etcd-bin >/dev/null 2>&1
cat > main.go <<'GO'
// Command etcd is etcd's server entry point, as in etcd's own main.go.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
go get "go.etcd.io/etcd/server/v3@$etcd" >/dev/null
go mod tidy >/dev/null
go build -trimpath -ldflags "-s -w" -o "$dest.tmp/etcd" .

rm -rf "$dest" && mv "$dest.tmp" "$dest"
ln -sfn "$dest/kube-apiserver" "$out/kube-apiserver"
ln -sfn "$dest/etcd" "$out/etcd"
echo "envtest binaries built into $dest"
