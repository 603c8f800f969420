//! The shape of a Tandem config file (RON), as serde reads it.
//!
//! Every struct denies unknown fields so a typo is an error with its
//! position, not a silently ignored setting. Defaults are the values an
//! operator would expect without saying anything. Cross-field rules (names
//! unique, workers off the main lcore, ...) live in `validate.rs`.

use super::net::{Ip, Ipv4Cidr, Ipv6Cidr, Mac, PortAddr};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub eal: Eal,
    pub ports: Vec<Port>,
    pub workers: Vec<Worker>,
    #[serde(default)]
    pub mempool: Mempool,
    #[serde(default)]
    pub rings: Rings,
    #[serde(default)]
    pub idle: Idle,
    pub gateway: Gateway,
    #[serde(default)]
    pub steering: Steering,
    /// SYN flood defence: when services with `syn_proxy: Auto` are proxied.
    #[serde(default)]
    pub syn_proxy: SynProxy,
    /// TCP MSS clamp for user sessions through access ports without their
    /// own `mss_clamp` (536..=9176); absent = no clamp.
    #[serde(default)]
    pub mss_clamp: Option<u16>,
    #[serde(default)]
    pub services: Vec<Service>,
    #[serde(default)]
    pub timeouts: Timeouts,
    /// User-session types (claim 9); the first is the default type.
    #[serde(default)]
    pub user_session_types: Vec<UserSessionType>,
    /// Ordered rules naming the type of a new user session.
    #[serde(default)]
    pub classify: Vec<ClassRule>,
    /// Who may use which service (claim 5).
    #[serde(default)]
    pub subscribers: Subscribers,
    /// Accounting records and where they go (claim 6).
    #[serde(default)]
    pub accounting: Accounting,
    #[serde(default)]
    pub health: Health,
    #[serde(default)]
    pub api: Api,
    #[serde(default)]
    pub metrics: Metrics,
    #[serde(default)]
    pub log: Log,
    /// Membership of a cluster of appliances sharing state in etcd; absent
    /// = a stand-alone appliance (see docs/cluster.md).
    #[serde(default)]
    pub cluster: Option<super::cluster::Cluster>,
    /// NAT64 for IPv6 terminals: destinations inside `prefix` are the IPv4
    /// hosts they embed (RFC 6052). Absent: only services' `vip6`.
    #[serde(default)]
    pub nat64: Option<Nat64>,
}

/// Server health checks.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// Count unanswered or reset SYNs of real traffic as failures.
    #[serde(default = "yes")]
    pub passive: bool,
    /// Failures within `window_s` that inhibit a server.
    #[serde(default = "default_fall")]
    pub fall: u32,
    #[serde(default = "default_window")]
    pub window_s: u64,
    /// A failing server is inhibited this long, doubling on each new
    /// inhibition up to `backoff_max_s`.
    #[serde(default = "default_backoff")]
    pub backoff_s: u64,
    #[serde(default = "default_backoff_max")]
    pub backoff_max_s: u64,
    /// Active TCP connect probes; absent = none.
    #[serde(default)]
    pub active: Option<ActiveHealth>,
    /// What happens to the user sessions of a server that goes down.
    #[serde(default)]
    pub on_down: OnDown,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            passive: true,
            fall: default_fall(),
            window_s: default_window(),
            backoff_s: default_backoff(),
            backoff_max_s: default_backoff_max(),
            active: None,
            on_down: OnDown::Keep,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
pub enum OnDown {
    /// Existing user sessions run on (they may fail by themselves).
    #[default]
    Keep,
    /// Existing user sessions are ended at once (accounting reason admin).
    Reset,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ActiveHealth {
    #[serde(default = "default_probe_interval")]
    pub interval_ms: u64,
    #[serde(default = "default_probe_timeout")]
    pub timeout_ms: u64,
    /// Successes in a row that bring a server back.
    #[serde(default = "default_rise")]
    pub rise: u32,
    /// Failures in a row that take it down.
    #[serde(default = "default_fall")]
    pub fall: u32,
    /// Source ports of probes, outside `gateway.port_range`.
    #[serde(default = "default_probe_ports")]
    pub source_ports: (u16, u16),
}

fn default_fall() -> u32 {
    3
}
fn default_rise() -> u32 {
    2
}
fn default_window() -> u64 {
    10
}
fn default_backoff() -> u64 {
    1
}
fn default_backoff_max() -> u64 {
    60
}
fn default_probe_interval() -> u64 {
    1000
}
fn default_probe_timeout() -> u64 {
    500
}
fn default_probe_ports() -> (u16, u16) {
    (1000, 1023)
}

/// The control API (`tandem ctl`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Api {
    /// Unix socket path, created with mode 0600; absent =
    /// `/run/tandem/<eal.file_prefix>.sock` (so the default instance
    /// answers on `/run/tandem/tandem.sock`, where `tandem ctl` looks).
    #[serde(default)]
    pub socket: Option<std::path::PathBuf>,
}

impl Config {
    /// Where the control API listens.
    pub fn api_socket(&self) -> std::path::PathBuf {
        self.api
            .socket
            .clone()
            .unwrap_or_else(|| format!("/run/tandem/{}.sock", self.eal.file_prefix).into())
    }
}

/// Prometheus endpoint and DPDK telemetry commands.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    /// Address for `GET /metrics`, e.g. `"127.0.0.1:9469"`; absent = off.
    #[serde(default)]
    pub listen: Option<String>,
}

/// EAL settings: what becomes DPDK's command line.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Eal {
    /// DPDK `--lcores` mapping, e.g. `"0-1"` or `"0@0,1@1,2@1"`.
    pub lcores: String,
    /// The lcore that runs the control plane.
    #[serde(default)]
    pub main_lcore: u32,
    /// Memory to reserve in MiB (`-m`).
    #[serde(default = "default_memory_mb")]
    pub memory_mb: u32,
    /// Run without hugepages (`--no-huge`): laptops and tests.
    #[serde(default)]
    pub no_huge: bool,
    /// `--file-prefix`: must differ between concurrent DPDK processes.
    #[serde(default = "default_file_prefix")]
    pub file_prefix: String,
    /// Virtual devices, DPDK syntax: `"net_tap0,iface=tdm-acc0"`.
    #[serde(default)]
    pub vdevs: Vec<String>,
    /// PCI devices to use (`-a`); empty with vdevs only means `--no-pci`.
    #[serde(default)]
    pub pci_allow: Vec<String>,
    /// Further EAL arguments passed as they are (e.g. `"--log-level=lib.eal:debug"`).
    #[serde(default)]
    pub extra_args: Vec<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Hash)]
pub enum Role {
    /// Mobile side: terminals' traffic enters here (tier-1 input, I/O point).
    Access,
    /// Service network: the servers of the service groups.
    Server,
    /// The outside world: servers external to the system.
    External,
    /// The second network joining the appliances of a cluster (tier-1
    /// units to packet gateways); needs a `cluster:` section.
    Fabric,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Port {
    /// Name used elsewhere in the config, in `tandem ctl` and in metrics.
    pub name: String,
    /// DPDK device name: a vdev name (`net_tap0`) or a PCI address (`0000:03:00.0`).
    pub device: String,
    pub role: Role,
    /// Addresses with prefix on this port's network: IPv4 ones give
    /// connected routes; IPv6 ones answer Neighbor Discovery and echo
    /// only (no IPv6 forwarding yet).
    #[serde(default)]
    pub addresses: Vec<PortAddr>,
    /// Receive queues (each polled by exactly one worker).
    #[serde(default = "one")]
    pub rx_queues: u16,
    /// Static routes leaving through this port: (prefix, next hop).
    #[serde(default)]
    pub routes: Vec<Route>,
    /// Static neighbours on this port (address → MAC), besides ARP.
    #[serde(default)]
    pub neighbours: Vec<Neighbour>,
    /// Put the port in promiscuous mode.
    #[serde(default)]
    pub promiscuous: bool,
    /// Access ports only: the source prefixes allowed in (anti-spoofing,
    /// like uRPF). Absent = any source. On a GTP-U port this checks the
    /// outer source (the tunnel peer), not the terminal's address.
    #[serde(default)]
    pub allowed_sources: Option<Vec<Ipv4Cidr>>,
    /// Access ports only: the largest TCP MSS a SYN or SYN-ACK of a user
    /// session through this port may announce (536..=9176); absent = the
    /// global `mss_clamp`.
    #[serde(default)]
    pub mss_clamp: Option<u16>,
    /// The device's MTU (largest IP packet, L2 header excluded), set at
    /// start: `Some(1400)`; absent = the device's default (1500 on most).
    #[serde(default)]
    pub mtu: Option<u16>,
}

impl Port {
    /// The port's IPv4 addresses, in the order given (the first is the
    /// source of what Tandem sends there).
    pub fn ipv4_addresses(&self) -> impl Iterator<Item = Ipv4Cidr> + '_ {
        self.addresses.iter().filter_map(PortAddr::v4)
    }

    /// The port's IPv6 addresses, in the order given.
    pub fn ipv6_addresses(&self) -> impl Iterator<Item = Ipv6Cidr> + '_ {
        self.addresses.iter().filter_map(PortAddr::v6)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// IPv4 or IPv6 (an IPv6 route leads to IPv6 servers); `via` is of
    /// the same version.
    pub prefix: PortAddr,
    pub via: super::net::NextHopIp,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Neighbour {
    /// IPv4, or IPv6 (Neighbor Discovery never changes it either).
    pub ip: super::net::NextHopIp,
    pub mac: Mac,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Worker {
    pub lcore: u32,
    /// The (port, queue) pairs this worker polls.
    pub poll: Vec<PollQueue>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PollQueue {
    pub port: String,
    #[serde(default)]
    pub queue: u16,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Mempool {
    #[serde(default = "default_mbufs")]
    pub mbufs: u32,
    #[serde(default = "default_cache")]
    pub cache: u32,
    #[serde(default = "default_data_room")]
    pub data_room: u16,
}

impl Default for Mempool {
    fn default() -> Self {
        Mempool {
            mbufs: default_mbufs(),
            cache: default_cache(),
            data_room: default_data_room(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rings {
    /// Slots in each worker→worker handoff ring (power of two).
    #[serde(default = "default_handoff")]
    pub handoff: u32,
    #[serde(default = "default_desc")]
    pub rx_desc: u16,
    #[serde(default = "default_desc")]
    pub tx_desc: u16,
    /// Slots in each worker→control-plane event queue.
    #[serde(default = "default_events")]
    pub events: u32,
}

impl Default for Rings {
    fn default() -> Self {
        Rings {
            handoff: default_handoff(),
            rx_desc: default_desc(),
            tx_desc: default_desc(),
            events: default_events(),
        }
    }
}

/// What a worker does when a poll finds nothing.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Idle {
    /// Spin without sleeping (bare metal, dedicated cores).
    #[serde(default)]
    pub busy_poll: bool,
    /// Longest sleep after consecutive empty polls, in microseconds.
    #[serde(default = "default_sleep_us")]
    pub max_sleep_us: u32,
}

impl Default for Idle {
    fn default() -> Self {
        Idle {
            busy_poll: false,
            max_sleep_us: default_sleep_us(),
        }
    }
}

/// The tier-2 gateway: its addresses and per-worker table sizes.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Gateway {
    /// Source addresses for translated user sessions, towards servers and
    /// external destinations alike; answered on server and external ports.
    /// Each gives `port_range` ports.
    pub addresses: Vec<Ip>,
    /// Source addresses for IPv6 user sessions toward IPv6 servers (a
    /// service with a `vip6` and IPv6 servers: IPv6 → IPv6 full NAT), each
    /// inside an IPv6 network of a server or external port; answered
    /// there. Each gives `port_range` ports.
    #[serde(default)]
    pub ipv6_addresses: Vec<super::net::Ip6>,
    #[serde(default = "default_port_range")]
    pub port_range: (u16, u16),
    /// User-session table capacity of each worker (preallocated).
    #[serde(default = "default_user_sessions")]
    pub user_sessions_per_worker: u32,
    /// Time a released TCP port waits before reuse, ms.
    #[serde(default = "default_quarantine_tcp")]
    pub quarantine_tcp_ms: u64,
    /// Same for UDP and ICMP, ms.
    #[serde(default = "default_quarantine_other")]
    pub quarantine_other_ms: u64,
    /// IPv4 fragments that follow their datagram's first (per worker).
    #[serde(default)]
    pub fragments: Fragments,
}

/// `gateway.fragments`: each worker follows the later fragments of at most
/// `max_datagrams` fragmented IPv4 datagrams at once, each for
/// `timeout_ms` after its first fragment (a table allocated at start).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Fragments {
    /// 0: no fragment is followed (every one is dropped `ip_fragment`).
    #[serde(default = "default_fragment_datagrams")]
    pub max_datagrams: u32,
    #[serde(default = "default_fragment_timeout")]
    pub timeout_ms: u64,
}

impl Default for Fragments {
    fn default() -> Self {
        Fragments {
            max_datagrams: default_fragment_datagrams(),
            timeout_ms: default_fragment_timeout(),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
pub enum SessionKey {
    /// The terminal's IPv4 source address.
    SourceIp,
    /// Source address within its VLAN.
    SourceIpVlan,
    /// The TEID of GTP-U (UDP 2152) packets; decapsulated on the way in.
    GtpTeid,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Steering {
    #[serde(default = "default_session_key")]
    pub key: SessionKey,
    /// Pinned sessions idle longer than this are unpinned, seconds.
    #[serde(default = "default_idle_unpin")]
    pub idle_unpin_s: u64,
    /// After `ctl session move`, how long the user sessions that were open
    /// keep running on the gateway the session left, seconds (0: cut off).
    #[serde(default = "default_move_drain")]
    pub move_drain_s: u64,
    /// At most this many pins learned from traffic (API pins not counted);
    /// past it, new sessions steer by Maglev without a pin. Absent = no cap.
    #[serde(default)]
    pub learned_pins_max: Option<u64>,
    /// At most this many new pins learned from traffic per second (a token
    /// bucket holding one second's worth). Absent = no limit.
    #[serde(default)]
    pub learned_pins_per_s: Option<u32>,
    /// How many leading bits of an IPv6 terminal's source address are its
    /// session ID under `key: SourceIp` (48, 56, 60 or 64): a terminal that
    /// changes the rest keeps its session and gateway.
    #[serde(default = "default_ipv6_prefix_len")]
    pub ipv6_prefix_len: u8,
}

impl Default for Steering {
    fn default() -> Self {
        Steering {
            key: default_session_key(),
            idle_unpin_s: default_idle_unpin(),
            move_drain_s: default_move_drain(),
            learned_pins_max: None,
            learned_pins_per_s: None,
            ipv6_prefix_len: default_ipv6_prefix_len(),
        }
    }
}

/// The `nat64` section.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Nat64 {
    /// The RFC 6052 prefix (a /96) whose addresses embed IPv4 ones.
    #[serde(default = "default_nat64_prefix")]
    pub prefix: super::net::Ipv6Cidr,
}

fn default_nat64_prefix() -> super::net::Ipv6Cidr {
    super::net::Ipv6Cidr {
        addr: std::net::Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0),
        prefix_len: 96,
    }
}

/// Global settings of the SYN proxy (SYN flood defence).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SynProxy {
    /// From this fill level (percent, 1 to 100) of a worker's user-session
    /// table, or of one gateway address's port pool on that worker, the
    /// worker answers SYNs to `Auto` services with cookies.
    #[serde(default = "default_syn_proxy_fill")]
    pub fill_percent: u8,
}

impl Default for SynProxy {
    fn default() -> Self {
        SynProxy {
            fill_percent: default_syn_proxy_fill(),
        }
    }
}

/// Per service: when Tandem answers SYNs itself with a cookie SYN-ACK and
/// opens the user session only on the terminal's valid ACK.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
pub enum SynProxyMode {
    /// Never (every SYN opens a user session at once).
    #[default]
    Off,
    /// While the worker's table or a port pool is `syn_proxy.fill_percent` full.
    Auto,
    /// For every new connection.
    Always,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Hash)]
pub enum Proto {
    Tcp,
    Udp,
}

/// A service group: servers providing the same service behind one VIP.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub name: String,
    /// The representative address; absent for a pool reached only through
    /// another service's `pools`.
    #[serde(default)]
    pub vip: Option<Ip>,
    /// An IPv6 VIP instead: IPv6 terminals reach the (IPv4) servers
    /// through NAT64.
    #[serde(default)]
    pub vip6: Option<super::net::Ip6>,
    pub proto: Proto,
    /// Destination port, or the first of a range.
    pub port: u16,
    /// Last port of a range; absent = single port.
    #[serde(default)]
    pub port_end: Option<u16>,
    pub servers: Vec<Server>,
    /// User sessions of these types go to another service's servers.
    #[serde(default)]
    pub pools: Vec<TypePool>,
    /// SYN flood defence for this (TCP) service.
    #[serde(default)]
    pub syn_proxy: SynProxyMode,
    /// DSCP (0..=63) set on this service's packets both ways, unless the
    /// user-session type sets one.
    #[serde(default)]
    pub dscp: Option<u8>,
    /// PROXY protocol header toward this (TCP) service's servers.
    #[serde(default)]
    pub proxy_protocol: ProxyProtocol,
}

/// Per service: whether the servers are told each terminal's address and
/// port (and session ID) in a PROXY protocol header ahead of the data.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
pub enum ProxyProtocol {
    /// No header: servers see the gateway's address (the default).
    #[default]
    Off,
    /// A binary version 2 header with the session ID as TLV 0xE0.
    V2,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TypePool {
    pub user_session_type: String,
    pub service: String,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
pub enum Selection {
    LeastLoad,
    #[default]
    WeightedLeastLoad,
    Sticky,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UserSessionType {
    pub name: String,
    #[serde(default)]
    pub selection: Selection,
    #[serde(default = "yes")]
    pub accounted: bool,
    /// Absent: the global `timeouts`.
    #[serde(default)]
    pub timeouts: Option<Timeouts>,
    /// DSCP (0..=63) set on this type's packets both ways (wins over the
    /// service's `dscp`).
    #[serde(default)]
    pub dscp: Option<u8>,
    /// DSCP (0..=63) a packet of this type over its subscriber's bitrate
    /// limit (or this type's own) is re-marked to, instead of being
    /// dropped; absent = dropped.
    #[serde(default)]
    pub over_limit_dscp: Option<u8>,
    /// A bitrate limit on each session ID's user sessions of this type
    /// (shared by them on their gateway, on top of the subscriber's own
    /// limit); same syntax as a subscriber's `bitrate`.
    #[serde(default)]
    pub bitrate: Option<BitrateLimit>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Hash)]
pub enum ClassProto {
    Tcp,
    Udp,
    Icmp,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClassRule {
    #[serde(default)]
    pub proto: Option<ClassProto>,
    /// Destination ports, inclusive.
    #[serde(default)]
    pub ports: Option<(u16, u16)>,
    #[serde(default)]
    pub dscp: Option<u8>,
    /// The terminal's address is in this prefix (IPv4, or IPv6 for IPv6
    /// terminals); a bare address is a /32 or /128.
    #[serde(default)]
    pub terminal: Option<super::net::IpCidr>,
    /// The destination the terminal addressed is in this prefix (an IPv6
    /// one: a service's `vip6` or an address of the NAT64 prefix).
    #[serde(default)]
    pub dst: Option<super::net::IpCidr>,
    pub user_session_type: String,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
pub enum DefaultPolicy {
    #[default]
    Allow,
    Deny,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Subscribers {
    /// For subscribers matching no entry: every service, or none.
    #[serde(default)]
    pub default: DefaultPolicy,
    /// Whether unknown subscribers may reach external servers.
    #[serde(default = "yes")]
    pub default_external: bool,
    /// Limits for subscribers matching no entry, and for entries that
    /// give none.
    #[serde(default)]
    pub default_limits: SubscriberLimits,
    #[serde(default)]
    pub entries: Vec<Subscriber>,
}

impl Default for Subscribers {
    fn default() -> Self {
        Subscribers {
            default: DefaultPolicy::Allow,
            default_external: true,
            default_limits: SubscriberLimits::default(),
            entries: Vec::new(),
        }
    }
}

/// Limits on the user sessions of each mobile session ID (a prefix entry
/// limits each session ID it matches on its own). Absent = no limit.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SubscriberLimits {
    /// Live user sessions at most.
    #[serde(default)]
    pub max_user_sessions: Option<u32>,
    /// New user sessions per second (token bucket).
    #[serde(default)]
    pub new_user_sessions_per_s: Option<u32>,
    /// New user sessions allowed at once; default: one second's worth.
    #[serde(default)]
    pub burst: Option<u32>,
    /// Bitrate limits, shared by all of the session ID's user sessions.
    #[serde(default)]
    pub bitrate: Option<BitrateLimit>,
    /// A usage quota of each session ID (a prefix entry gives each session
    /// ID it matches its own); absent = none.
    #[serde(default)]
    pub quota: Option<Quota>,
}

/// A usage quota: bytes and/or online time per period, the thresholds that
/// write an interim accounting record, and what happens once it is used up.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    /// Bytes per period, both directions together (IP bytes).
    #[serde(default)]
    pub bytes: Option<u64>,
    /// Seconds per period with at least one live user session.
    #[serde(default)]
    pub online_s: Option<u64>,
    /// Length of a period, seconds; absent = the quota never renews by
    /// itself (only `tandem ctl quota grant` or `reset` renew it).
    #[serde(default)]
    pub period_s: Option<u64>,
    /// Percentages (1..=99, ascending, at most 8) at which an interim
    /// record with reason `quota_threshold` is written.
    #[serde(default)]
    pub thresholds: Vec<u8>,
    #[serde(default)]
    pub on_exhausted: OnExhausted,
}

/// What happens to a subscriber whose quota is used up.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
pub enum OnExhausted {
    /// New user sessions are refused and open ones ended.
    #[default]
    Block,
    /// Traffic goes on at (up, down) Mbit/s.
    Throttle(u32, u32),
}

/// A bitrate limit per direction (token buckets; exceeding packets are
/// dropped). Absent direction = not limited; at least one is given.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BitrateLimit {
    /// Terminal → server, Mbit/s (of IP packets).
    #[serde(default)]
    pub up_mbit: Option<u32>,
    /// Server → terminal, Mbit/s (of IP packets).
    #[serde(default)]
    pub down_mbit: Option<u32>,
    /// Bucket depth per direction, kB (1000 bytes); default: half a second
    /// of the rate, at least 64 kB.
    #[serde(default)]
    pub burst_kb: Option<u32>,
}

/// One subscriber (by mobile session ID) or group of them (by prefix).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Subscriber {
    /// A session ID as `tandem ctl` prints it (`10.1.0.5`, `teid:0x10`).
    #[serde(default)]
    pub session: Option<String>,
    /// An IPv4 prefix of terminal addresses, or an IPv6 prefix of
    /// terminals' session IDs (`2001:db8:5::/48` covers each /64 in it).
    #[serde(default)]
    pub prefix: Option<super::net::IpCidr>,
    /// Service names; absent = all services.
    #[serde(default)]
    pub services: Option<Vec<String>>,
    #[serde(default)]
    pub external: bool,
    /// Absent: `default_limits`.
    #[serde(default)]
    pub limits: Option<SubscriberLimits>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Accounting {
    /// Interim records for long user sessions every this many seconds (0 = off).
    #[serde(default = "default_interim")]
    pub interim_s: u64,
    #[serde(default)]
    pub json: Option<crate::accounting::JsonSink>,
    #[serde(default)]
    pub ipfix: Option<crate::accounting::IpfixSink>,
}

impl Default for Accounting {
    fn default() -> Self {
        Accounting {
            interim_s: default_interim(),
            json: None,
            ipfix: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// IPv4, or IPv6 in a service with a `vip6` (all of a service's
    /// servers are of one version).
    pub addr: super::net::ServerIp,
    /// Server port; absent = the port the terminal addressed.
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default = "default_weight")]
    pub weight: u32,
    #[serde(default)]
    pub state: ServerState,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
pub enum ServerState {
    #[default]
    Active,
    Draining,
    Down,
}

/// Idle timeouts in seconds (LVS-like defaults).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    pub tcp_syn_s: u32,
    pub tcp_established_s: u32,
    pub tcp_closing_s: u32,
    pub udp_s: u32,
    pub udp_replied_s: u32,
    pub icmp_s: u32,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            tcp_syn_s: 10,
            tcp_established_s: 900,
            tcp_closing_s: 10,
            udp_s: 30,
            udp_replied_s: 120,
            icmp_s: 30,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Log {
    /// `tracing` filter, e.g. `"info"` or `"tandem=debug"`; `RUST_LOG` wins.
    #[serde(default = "default_log_level")]
    pub level: String,
    /// A summary line of counters every this many seconds (0 = never).
    #[serde(default = "default_stats_interval")]
    pub stats_interval_s: u64,
}

impl Default for Log {
    fn default() -> Self {
        Log {
            level: default_log_level(),
            stats_interval_s: default_stats_interval(),
        }
    }
}

fn default_stats_interval() -> u64 {
    60
}

fn default_memory_mb() -> u32 {
    512
}
fn default_file_prefix() -> String {
    "tandem".into()
}
fn one() -> u16 {
    1
}
fn default_mbufs() -> u32 {
    16383
}
fn default_cache() -> u32 {
    256
}
fn default_data_room() -> u16 {
    2176
}
fn default_handoff() -> u32 {
    1024
}
fn default_desc() -> u16 {
    1024
}
fn default_events() -> u32 {
    16384
}
fn default_sleep_us() -> u32 {
    200
}
fn default_port_range() -> (u16, u16) {
    (1024, 65535)
}
fn default_user_sessions() -> u32 {
    1 << 20
}
fn default_quarantine_tcp() -> u64 {
    60_000
}
fn default_quarantine_other() -> u64 {
    1_000
}
fn default_fragment_datagrams() -> u32 {
    1024
}
fn default_fragment_timeout() -> u64 {
    2_000
}
fn default_session_key() -> SessionKey {
    SessionKey::SourceIp
}
fn default_ipv6_prefix_len() -> u8 {
    64
}
fn default_idle_unpin() -> u64 {
    3600
}
fn default_move_drain() -> u64 {
    300
}
fn default_syn_proxy_fill() -> u8 {
    80
}
fn default_weight() -> u32 {
    1
}
fn yes() -> bool {
    true
}
fn default_interim() -> u64 {
    300
}
fn default_log_level() -> String {
    "info".into()
}

impl Config {
    /// Whether any subscriber limit (an entry's or the default) has a
    /// bitrate limit or a quota that throttles, or a user-session type has
    /// a bitrate limit: then the workers allocate bitrate meters at start,
    /// and a reload cannot add the first one (restart needed).
    pub fn has_bitrate_limits(&self) -> bool {
        self.limited_types() > 0 || self.has_subscriber_bitrate_limits()
    }

    /// User-session types with a bitrate limit of their own: each session
    /// ID's meter has buckets for this many (fixed at start; a reload
    /// cannot raise it).
    pub fn limited_types(&self) -> usize {
        self.user_session_types
            .iter()
            .filter(|t| t.bitrate.is_some())
            .count()
    }

    fn has_subscriber_bitrate_limits(&self) -> bool {
        // A quota that throttles once used up meters too.
        let metered = |l: &SubscriberLimits| {
            l.bitrate.is_some()
                || l.quota
                    .as_ref()
                    .is_some_and(|q| matches!(q.on_exhausted, OnExhausted::Throttle(..)))
        };
        metered(&self.subscribers.default_limits)
            || self
                .subscribers
                .entries
                .iter()
                .any(|e| e.limits.as_ref().is_some_and(metered))
    }
}
