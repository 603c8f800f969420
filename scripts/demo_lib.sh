# What the two demo scenes (demo.sh, demo-cluster.sh) share: how they
# print, check root and tools, refuse to run beside another demo, and build
# tandem. Sourced, never run; the caller sets `profile` (debug|release)
# before `demo_build`.

bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
say() { printf '   %s\n' "$*"; }

# demo_preflight NAME "TOOLS" "INTERFACES" "NAMESPACES"
# Needs root; installs what is missing (scripts/setup.sh --test-tools) when
# one of TOOLS or DPDK's pkg-config entry is absent; refuses to start when
# one of INTERFACES exists (another demo, or a tandem started by hand with
# the same config) or one of NAMESPACES has processes; removes NAMESPACES a
# crashed demo left. Sets PYTHON (the one with scapy).
demo_preflight() {
  local name=$1 tools=$2 ifaces=$3 namespaces=$4
  if [ "$(id -u)" != 0 ]; then
    echo "$name: needs root (network namespaces, taps, DPDK): sudo $0" >&2
    exit 2
  fi
  local need=0 t
  for t in $tools; do
    command -v "$t" >/dev/null || need=1
  done
  pkg-config --exists libdpdk 2>/dev/null || need=1
  if [ "$need" = 1 ]; then
    bold "installing what is missing (scripts/setup.sh --test-tools)"
    scripts/setup.sh --test-tools || exit 2
  fi
  PYTHON=${PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}
  local ifc ns
  for ifc in $ifaces; do
    if ip link show dev "$ifc" >/dev/null 2>&1; then
      echo "$name: $ifc exists: is another demo (or a tandem with the same config) running?" >&2
      exit 2
    fi
  done
  for ns in $namespaces; do
    ip netns list | awk '{ print $1 }' | grep -qx "$ns" || continue
    if [ -n "$(ip netns pids "$ns" 2>/dev/null)" ]; then
      echo "$name: namespace $ns is in use: is another demo running?" >&2
      exit 2
    fi
    ip netns del "$ns"
  done
}

# demo_build: builds the appliance in $profile and sets TANDEM.
demo_build() {
  bold "building tandem ($profile)"
  if [ "$profile" = release ]; then
    cargo build -q --release -p appliance || exit 2
  else
    cargo build -q -p appliance || exit 2
  fi
  TANDEM="target/$profile/tandem"
}
