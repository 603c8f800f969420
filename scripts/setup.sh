#!/usr/bin/env bash
# Installs what Tandem needs on Debian bookworm; safe to run again.
#   scripts/setup.sh                 packages only
#   scripts/setup.sh --hugepages N   also reserve N 2 MiB hugepages and mount hugetlbfs
#   scripts/setup.sh --test-tools    also the tools the test suite drives (curl, iperf3, ...)
set -euo pipefail

hugepages=""
test_tools=0
while [ $# -gt 0 ]; do
  case "$1" in
    --hugepages) hugepages="${2:?--hugepages needs a count}"; shift 2 ;;
    --test-tools) test_tools=1; shift ;;
    -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

# protobuf-compiler: protoc, which the etcd client crate needs to build,
# and libprotobuf-dev: the google/protobuf/*.proto it imports (without it,
# on a fresh bookworm with --no-install-recommends, etcd-client's build
# script fails: "google/protobuf/descriptor.proto: File not found");
# etcd-server: the shared state of a cluster (docs/cluster.md) and its tests.
packages=(libdpdk-dev dpdk dpdk-dev clang libclang-dev pkg-config iproute2 build-essential libpcap-dev python3 protobuf-compiler libprotobuf-dev etcd-server)
if [ "$test_tools" = 1 ]; then
  packages+=(curl iperf3 netcat-openbsd iputils-ping tcpdump tshark nfdump prometheus procps psmisc hping3 python3-scapy tcpreplay apache2-utils)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup.sh: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # tshark asks whether non-root users may capture; answer no without a prompt.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections 2>/dev/null || true
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# nginx-light: the PROXY protocol server of tests/e2e/proxy_protocol.sh,
# which runs its own nginx inside a namespace. Debian starts a newly
# installed service (nginx on port 80) unless policy-rc.d says no: it says
# no for this one install when nothing says so already.
if [ "$test_tools" = 1 ] && ! command -v nginx >/dev/null 2>&1; then
  echo "setup.sh: installing nginx-light (its service left stopped)"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO=sudo
  own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    own_policy=1
  fi
  rc=0
  $SUDO apt-get update -qq || rc=$?
  [ "$rc" != 0 ] || $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light || rc=$?
  [ "$own_policy" = 0 ] || $SUDO rm -f /usr/sbin/policy-rc.d
  [ "$rc" = 0 ] || exit "$rc"
  if command -v systemctl >/dev/null 2>&1; then
    $SUDO systemctl disable --now nginx >/dev/null 2>&1 || true
  fi
fi

if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    echo "setup.sh: cargo not found; install Rust from https://rustup.rs (stable) and run again" >&2
    exit 1
  fi
fi

pkg-config --atleast-version=22.11 libdpdk || { echo "setup.sh: DPDK >= 22.11 not found by pkg-config" >&2; exit 1; }

if [ -n "$hugepages" ]; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO=sudo
  echo "$hugepages" | $SUDO tee /proc/sys/vm/nr_hugepages >/dev/null
  got=$(cat /proc/sys/vm/nr_hugepages)
  [ "$got" -ge "$hugepages" ] || echo "setup.sh: asked for $hugepages hugepages, the kernel gave $got" >&2
  if ! mountpoint -q /dev/hugepages 2>/dev/null; then
    $SUDO mkdir -p /dev/hugepages
    $SUDO mount -t hugetlbfs nodev /dev/hugepages
  fi
  echo "setup.sh: $got hugepages of $(awk '/Hugepagesize/ {print $2 $3}' /proc/meminfo) reserved, hugetlbfs on /dev/hugepages"
fi
