#!/usr/bin/env bash
# The dataplane (and its tests and benchmarks) must build without DPDK:
# neither its normal nor its dev dependencies may reach dpdk-ffi.
# Run from anywhere: scripts/check_no_dpdk_in_dataplane.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if cargo tree -p dataplane -e normal,dev --offline 2>/dev/null | grep -i dpdk; then
    echo "FAIL: dataplane depends on DPDK (above)" >&2
    exit 1
fi
# cargo tree itself must have worked, or the grep above proves nothing.
cargo tree -p dataplane -e normal,dev --offline >/dev/null
echo "ok: dataplane builds without DPDK"
