#!/usr/bin/env bash
# The test command: installs what is missing, builds, runs every test.
# Needs root (DPDK vdevs, network namespaces, taps). Safe to run again.
#   scripts/test.sh            everything
#   scripts/test.sh --quick    unit tests only (no DPDK processes, no namespaces)
# TANDEM_SKIP_FUZZ=1 skips the fuzz seed replay (it installs cargo-fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
[ "${1:-}" = "--quick" ] && quick=1

scripts/setup.sh --test-tools
export PATH="$HOME/.cargo/bin:$PATH"

echo "== format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
scripts/check_no_dpdk_in_dataplane.sh

if [ "$quick" = 1 ]; then
  echo "== unit tests"
  cargo test --workspace --lib --bins
  exit 0
fi

echo "== unit, property and DPDK integration tests"
# Integration tests start tandem with --no-huge on vdevs; each uses its own
# --file-prefix, so they may run in parallel.
cargo test --workspace

echo "== end-to-end tests with real hosts (network namespaces, net_tap)"
tests/e2e/run.sh

echo "== hostile traffic through the real binary (issue 13)"
tests/e2e/tcp_hardening.sh
tests/e2e/subscriber_limits.sh
tests/e2e/syn_flood.sh

echo "== subscriber service policy through the real binary (issue 15)"
tests/e2e/marks.sh
tests/e2e/rate_limits.sh
tests/e2e/proxy_protocol.sh
tests/e2e/quotas.sh
tests/e2e/remark.sh

echo "== IPv6 on port addresses, IPv4 fragments (issue 14)"
tests/e2e/ipv6.sh
tests/e2e/ipv6_records.sh
tests/e2e/fragments.sh

echo "== a cluster of five appliances with etcd (issue 12)"
tests/e2e/cluster.sh

if [ "${TANDEM_SKIP_FUZZ:-0}" != 1 ]; then
  echo "== fuzz regression: replay every committed seed (scripts/fuzz.sh --seeds)"
  scripts/fuzz.sh --seeds
fi
