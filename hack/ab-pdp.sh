#!/usr/bin/env bash
# Compares two agentguard binaries' CPU per PDP decision, side by side: each
# run starts both at the same moment, each under its own load generator
# (hack/loadgen, agentguard only), so both servers share the same CPU at the
# same time and see the same machine. On a shared machine whose speed drifts
# by tens of percent between minutes, runs one after the other cannot show a
# 2% change; side by side, an A/A comparison stays within about ±2% per run.
#
#   hack/ab-pdp.sh BIN_A BIN_B [RUNS] [loadgen flags...]
#
# Prints the server CPU per request of each binary per run, B ÷ A, and the
# mean of B ÷ A over the runs (below 1: B is cheaper).
set -euo pipefail
a=${1:?BIN_A}; b=${2:?BIN_B}; runs=${3:-5}
shift $(( $# < 3 ? $# : 3 ))
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$root" && go build -o "$tmp/loadgen" ./hack/loadgen)

cpu() { grep "agentguard round 1" "$1" | sed -n 's/.*cpu\/req server \([0-9.]*\)µs.*/\1/p'; }

sum=0
for i in $(seq "$runs"); do
  "$tmp/loadgen" -opa "" -agentguard "$a" -rounds 1 -requests 150000 -warmup 10000 "$@" >"$tmp/a.txt" 2>&1 &
  pa=$!
  "$tmp/loadgen" -opa "" -agentguard "$b" -rounds 1 -requests 150000 -warmup 10000 "$@" >"$tmp/b.txt" 2>&1 &
  pb=$!
  if ! wait "$pa" || ! wait "$pb"; then
    cat "$tmp/a.txt" "$tmp/b.txt" >&2
    exit 1
  fi
  ca=$(cpu "$tmp/a.txt"); cb=$(cpu "$tmp/b.txt")
  r=$(awk -v a="$ca" -v b="$cb" 'BEGIN { printf "%.3f", b / a }')
  sum=$(awk -v s="$sum" -v r="$r" 'BEGIN { print s + r }')
  echo "run $i: A ${ca}µs  B ${cb}µs  B/A $r"
done
awk -v s="$sum" -v n="$runs" 'BEGIN { printf "mean B/A over %d runs: %.3f\n", n, s / n }'
