#!/usr/bin/env bash
# Instructions per packet on the established path, counted by callgrind
# (reproducible: no timing, independent of the machine's load).
#
# Builds the `instructions` bench binary (dataplane/benches/instructions.rs:
# N live user sessions, 8 flows per terminal, terminals pinned, data
# segments of random sessions in bursts of 32 through the prefetch pass and
# the pipeline, as `established/pipeline/N` in benches/pipeline.rs) and runs
# it under `valgrind --tool=callgrind` with B and 2B bursts: the difference
# is the cost of B bursts with the set-up cancelled out. Three figures, each
# from its own pair of runs:
#   burst       the prefetch pass + pipeline + burst loop (`measured_burst`,
#               i.e. Lab::process_burst; not the copy into the burst buffers)
#   pipeline    `Worker::process*` (tier 1, tier 2, rewrite; the bench calls
#               `process_recorded` with the prefetch pass's frame records)
#   pass+loop   burst - pipeline: the prefetch pass, begin_burst, the loop
#
# Usage: scripts/instructions.sh [SESSIONS (1000)] [BURSTS (500)]
# BITRATE=1 scripts/instructions.sh ...: every subscriber has a bitrate limit
# (too high to drop anything), to see what the metering costs; BITRATE=type:
# and the traffic's user-session type has one of its own (two buckets);
# BITRATE=type_only: the type's limit alone (one bucket, the type's).
# PROXY=on scripts/instructions.sh ...: the service sends PROXY protocol v2
# headers (acknowledged; data past the first byte, so shifted); PROXY=off:
# the same traffic without the option, the figure to compare with.
# FABRIC=encapsulate or FABRIC=decap_tier2 scripts/instructions.sh ...: the
# two ends of the cluster fabric instead (issue 12; the tier-1 unit wrapping
# each segment in Geneve, the gateway unwrapping it and running tier 2).
# NAT64=1 scripts/instructions.sh ...: IPv6 terminals (one /64 each) through
# the NAT64 prefix to the same VIP (issue 14): the same data segments in
# IPv6, translated to IPv4 (compare with the plain run). NAT64=down: the
# servers' data segments back, translated into IPv6 toward the terminals.
# NAT66=1 scripts/instructions.sh ...: IPv6 terminals to an IPv6 VIP served
# by IPv6 servers (IPv6 -> IPv6 full NAT, issue 14), the same data segments
# rewritten toward the servers; NAT66=down: the servers' segments back.
set -euo pipefail
cd "$(dirname "$0")/.."

sessions=${1:-1000}
bursts=${2:-500}
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }

case ${NAT64:-} in
    "") nat64_mode="" ;;
    down) nat64_mode=nat64_down ;;
    *) nat64_mode=nat64 ;;
esac
case ${NAT66:-} in
    "") ;;
    down) nat64_mode=nat66_down ;;
    *) nat64_mode=nat66 ;;
esac
case ${BITRATE:-} in
    "") bitrate_mode="" ;;
    type) bitrate_mode=bitrate_type ;;
    type_only) bitrate_mode=type_only ;;
    *) bitrate_mode=bitrate ;;
esac

bin=$(cargo bench -p dataplane --bench instructions --no-run --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
[ -x "$bin" ] || { echo "could not build the instructions bench" >&2; exit 1; }

work=$(mktemp -d /tmp/instructions.XXXXXX)
trap 'rm -rf "$work"' EXIT

# Instructions callgrind collected for one run ($1: bursts, $2: toggle
# pattern or empty for the whole program).
count() {
    local n=$1 toggle=$2 out="$work/cg.$1.$RANDOM"
    local args=(--tool=callgrind --callgrind-out-file="$out")
    [ -n "$toggle" ] && args+=(--collect-atstart=no "--toggle-collect=$toggle")
    valgrind "${args[@]}" "$bin" "$sessions" "$n" ${bitrate_mode:+"$bitrate_mode"} ${PROXY:+proxy_$PROXY} ${FABRIC:+"$FABRIC"} ${nat64_mode:+"$nat64_mode"} >/dev/null 2>"$out.log" ||
        { cat "$out.log" >&2; exit 1; }
    sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$out"
}

# Per packet of the extra B bursts: (count(2B) - count(B)) / (32 B).
per_packet() {
    local one two
    one=$(count "$bursts" "$1")
    two=$(count "$((2 * bursts))" "$1")
    echo $(((two - one) / (32 * bursts)))
}

burst=$(per_packet '*measured_burst*')
pipeline=$(per_packet 'dataplane::pipeline::Worker::process*')
program=$(per_packet '')
[ "$pipeline" -gt 0 ] || { echo "Worker::process not found (inlined?)" >&2; exit 1; }

echo "established path, $sessions live user sessions${bitrate_mode:+ ($bitrate_mode)}${PROXY:+ (PROXY protocol $PROXY)}${FABRIC:+ (fabric: $FABRIC)}${nat64_mode:+ ($nat64_mode: IPv6 terminals)}, $bursts vs $((2 * bursts)) bursts of 32"
echo "instructions per packet:"
printf '  %-34s %6d\n' "burst (prefetch pass + pipeline)" "$burst"
printf '  %-34s %6d\n' "pipeline (Worker::process)" "$pipeline"
printf '  %-34s %6d\n' "prefetch pass + burst loop" "$((burst - pipeline))"
printf '  %-34s %6d\n' "whole program (+ copy into bufs)" "$program"
