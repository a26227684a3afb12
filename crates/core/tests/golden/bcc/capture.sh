#!/usr/bin/env bash
# Captures BCC's own output (bpfcc-tools 0.26) for the golden tests of
# crates/core/src/render/bcc_golden.rs: each tool traces rtools-testprog, a
# workload of known counts, filtered by its pid, and its stdout is stored
# beside the command that made it. Run once, as root, from anywhere; the
# files are committed (CI never runs BCC).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../../../../.."
. scripts/lib.sh
bcc_env
cargo build --quiet --package rtools-testprog
prog=$PWD/target/debug/rtools-testprog

# capture NAME WORKLOAD... -- BCC_TOOL ARGS... ({pid} and {prog} filled in)
capture() {
  local name=$1; shift
  local work=() bcc=()
  while [ "$1" != "--" ]; do work+=("$1"); shift; done
  shift
  bcc=("$@")
  coproc WORK { "$prog" "${work[@]}"; }
  local pid
  read -r _ pid <&"${WORK[0]}"  # "ready PID"
  local args=("${bcc[@]//\{pid\}/$pid}")
  args=("${args[@]//\{prog\}/$prog}")
  env --default-signal=INT /usr/bin/python3 -u "/usr/sbin/${args[0]}" "${args[@]:1}" \
    > "$here/$name.out" 2> "$here/$name.err" &
  local bcc_pid=$!
  until grep -q '^Tracing' "$here/$name.err" "$here/$name.out" 2>/dev/null; do sleep 0.2; done
  sleep 1  # BCC prints Tracing before its probes are all in place
  echo >&"${WORK[1]}"  # go
  read -r _ <&"${WORK[0]}"  # done
  sleep 0.5
  kill -INT "$bcc_pid"
  wait "$bcc_pid" || true
  exec {WORK[1]}>&-
  wait "$WORK_PID" || true
  {
    echo "# bpfcc-tools $(dpkg-query -W -f='${Version}' bpfcc-tools), $(date -u +%F)"
    echo "# workload: rtools-testprog ${work[*]}"
    echo "# command: ${bcc[*]}"
  } > "$here/$name.cmd"
  rm -f "$here/$name.err"
}

capture funccount funcs 4999 3001 1009 -- \
  funccount-bpfcc -p '{pid}' -r '{prog}:^rtools_test_(one|two|three)$'
capture stackcount stacks 13 7 -- \
  stackcount-bpfcc -U -p '{pid}' '{prog}:gamma'
capture funclatency latency 3 11 -- \
  funclatency-bpfcc -p '{pid}' '{prog}:lat_*'
