//! One worker's pipeline: tier-1 steering and the tier-2 gateway.
//!
//! A worker hands each received frame to [`Worker::process`] and gets a
//! [`Verdict`] back; frames that another worker owns come back to that
//! worker through [`Worker::process_handoff`]. The pipeline rewrites the
//! frame in place and never allocates, logs, locks or panics per packet.
//! Everything it shares with other workers comes from snapshots it refreshes
//! once per burst ([`Worker::begin_burst`], its quiescent point).

mod downlink;
mod expiry;
pub mod fabric;
mod fragments;
pub mod hold;
pub mod inspect;
mod l2;
mod limit;
mod marks;
pub mod nat;
mod nat64;
mod nat64_fragments;
mod nat64_icmp;
mod nat64_mtu;
pub(crate) mod nat64_split;
mod nat66;
mod nat66_icmp;
mod own_addresses;
mod own_addresses_v6;
mod parse;
mod prefetch_pass;
mod probe_reply;
mod proxy_protocol;
mod quota_end;
mod rate_limit;
mod refuse;
pub mod scan;
mod steer;
mod synproxy;
mod ttl;
mod uplink;

pub use nat64::Nat64Config;
pub use parse::FrameRecord;
pub use prefetch_pass::PREFETCH_MAX;
pub use steer::Ingress;

#[cfg(test)]
mod tests;

use crate::counters::{Counter, DropReason, WorkerCounters};
use crate::event::{Event, EventSink};
use crate::policy::{Policy, MAX_SERVERS};
use crate::rcu::Reader;
use crate::tier1::{Ipv6SessionPrefix, SessionKeyMode, SteeringTable};
use crate::tier2::{
    Admission, FragmentLimits, FragmentTable, PortAllocator, Quarantine, TimerWheel,
    UserSessionTable,
};
use crate::topology::{Neighbours, Topology};
use std::net::Ipv4Addr;
use std::sync::Arc;

/// What to do with a frame after the pipeline saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Send the (rewritten) frame on this port.
    Forward(u16),
    /// Give the frame, unchanged, to this worker (by index).
    Handoff(u16),
    /// Free the frame and count the reason (already counted by the pipeline).
    Drop(DropReason),
    /// The pipeline took what it needed (e.g. a neighbour from an ARP
    /// reply); free the frame, it is not a drop.
    Consumed,
    /// Ready to leave on `port` but the MAC of `next_hop` is not known yet
    /// (resolution has been asked for): hold the frame briefly and finish
    /// it with [`Worker::complete_held`], or drop it as `neighbour_miss`.
    Hold { port: u16, next_hop: Ipv4Addr },
    /// [`Hold`](Self::Hold) for a packet to IPv6 server number `server`
    /// (its route's next hop is being resolved by Neighbor Discovery).
    HoldV6 { port: u16, server: u32 },
}

impl Verdict {
    /// Where a held frame (`Hold` or `HoldV6`) is to go and what it waits
    /// for; None for any other verdict.
    #[inline]
    pub fn held(self) -> Option<(u16, hold::WaitingFor)> {
        match self {
            Verdict::Hold { port, next_hop } => Some((port, hold::WaitingFor::Ipv4(next_hop))),
            Verdict::HoldV6 { port, server } => Some((port, hold::WaitingFor::ServerV6(server))),
            _ => None,
        }
    }
}

/// Live user sessions per server, summed over all workers by the control
/// plane and published as a snapshot.
#[derive(Clone, Debug, Default)]
pub struct ServerLoads {
    /// Sum over workers, per server index.
    pub total: Vec<u64>,
    /// What each worker had when the total was taken: `by_worker[w][s]`.
    pub by_worker: Vec<Vec<u32>>,
}

/// This worker's live user sessions per server (one writer: the worker).
#[derive(Debug)]
pub struct LocalLoad {
    per_server: Vec<Counter>,
}

impl Default for LocalLoad {
    fn default() -> Self {
        LocalLoad {
            per_server: (0..MAX_SERVERS).map(|_| Counter::default()).collect(),
        }
    }
}

impl LocalLoad {
    #[inline]
    pub fn get(&self, server: usize) -> u64 {
        self.per_server.get(server).map_or(0, Counter::get)
    }

    #[inline]
    fn inc(&self, server: usize) {
        if let Some(c) = self.per_server.get(server) {
            c.inc();
        }
    }

    #[inline]
    fn dec(&self, server: usize) {
        if let Some(c) = self.per_server.get(server) {
            let v = c.get();
            c.set(v.saturating_sub(1));
        }
    }

    /// Values for servers `0..n`.
    pub fn snapshot(&self, n: usize) -> Vec<u32> {
        self.per_server
            .iter()
            .take(n)
            .map(|c| c.get().min(u64::from(u32::MAX)) as u32)
            .collect()
    }
}

/// Use of one gateway address's port pool on one worker (gauges).
#[derive(Debug, Default)]
pub struct PoolGauge {
    pub capacity: Counter,
    pub in_use: Counter,
    pub quarantined: Counter,
    pub free: Counter,
}

/// Fixed settings of one worker, from the config.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// This worker's index (= its gateway ID and its port-range share).
    pub index: u16,
    pub n_workers: u16,
    /// Gateway addresses (user-session source addresses).
    pub gateway_addrs: Vec<Ipv4Addr>,
    /// Gateway IPv6 addresses (sources of IPv6 → IPv6 user sessions,
    /// `nat66.rs`). They take the address indexes after the IPv4 ones;
    /// `Worker::new` gives each an unspecified entry in `gateway_addrs`
    /// so that an index always names an entry there.
    pub gateway_addrs6: Vec<std::net::Ipv6Addr>,
    pub port_range: (u16, u16),
    pub table_capacity: u32,
    pub quarantine: Quarantine,
    pub session_key: SessionKeyMode,
    /// How much of an IPv6 terminal's source address is its session ID
    /// (`steering.ipv6_prefix_len`; only under `SessionKeyMode::SourceIp`).
    pub ipv6_session_prefix: Ipv6SessionPrefix,
    /// Source ports of active health probes (outside `port_range`): answers
    /// to them are reported to the control plane, never translated.
    pub probe_ports: Option<(u16, u16)>,
    /// Allocate a bitrate meter per session ID (the config has a bitrate
    /// limit); without, bitrate limits cannot apply.
    pub bitrate_meters: bool,
    /// With `bitrate_meters`: user-session types with a bitrate limit of
    /// their own that each session ID has buckets for (at most
    /// `shaping::MAX_LIMITED_TYPES`; types limited beyond them are not).
    pub limited_types: usize,
    /// This appliance's place on the cluster fabric (`fabric.rs`); `None`
    /// stand-alone.
    pub fabric: Option<fabric::FabricConfig>,
    /// Bounds of the fragment table (`fragments.rs`): how many fragmented
    /// datagrams are followed at once, for how long.
    pub fragments: FragmentLimits,
    /// NAT64 for IPv6 terminals (`nat64.rs`); `None`: the config has no
    /// IPv6 VIP and no `nat64` section, and nothing is allocated for it.
    pub nat64: Option<Nat64Config>,
}

/// The snapshots a worker reads.
pub struct Snapshots {
    pub steering: Reader<SteeringTable>,
    pub policy: Reader<Policy>,
    pub neighbours: Reader<Neighbours>,
    pub loads: Reader<ServerLoads>,
}

/// Token bucket for replies Tandem generates (RST, ICMP errors).
#[derive(Debug)]
struct ReplyLimiter {
    tokens: u32,
    last_ms: u64,
}

impl ReplyLimiter {
    #[inline]
    fn allow(&mut self, now_ms: u64, rate_per_s: u32) -> bool {
        let elapsed = now_ms.saturating_sub(self.last_ms);
        if elapsed > 0 {
            let add =
                (elapsed.saturating_mul(u64::from(rate_per_s)) / 1000).min(u64::from(rate_per_s));
            if add > 0 {
                self.tokens = (self.tokens as u64 + add).min(u64::from(rate_per_s.max(1))) as u32;
                self.last_ms = now_ms;
            }
        }
        if self.tokens > 0 {
            self.tokens -= 1;
            true
        } else {
            false
        }
    }
}

/// Slots in the cache of recent pin requests (a direct-mapped filter that
/// keeps a session's packets from flooding the event queue while the
/// control plane publishes the pin).
const PIN_CACHE: usize = 1024;
/// How long a pin request suppresses the next one for the same session.
const PIN_RETRY_MS: u64 = 200;

/// Where a server's frames went last: valid while the neighbour snapshot
/// has this generation and the server index still names this address
/// (topology and routes never change while running).
#[derive(Clone, Copy, Debug)]
pub(super) struct ServerHop {
    generation: u64,
    server: Ipv4Addr,
    port: u16,
    mac: [u8; 6],
}

impl ServerHop {
    const UNKNOWN: ServerHop = ServerHop {
        generation: u64::MAX,
        server: Ipv4Addr::UNSPECIFIED,
        port: 0,
        mac: [0; 6],
    };
}

/// One worker: tier-1 for the queues it polls, tier-2 for the sessions it owns.
pub struct Worker {
    cfg: WorkerConfig,
    topo: Arc<Topology>,
    /// Shared state, refreshed once per burst (steering for tier 1; policy,
    /// neighbours and server loads for tier 2).
    snaps: Snapshots,
    counters: Arc<WorkerCounters>,
    /// Tier 1's own state: recent pin requests (session ID, time), a
    /// direct-mapped filter (see `steer::request_pin`).
    pin_cache: Box<[(u64, u64)]>,
    /// Tier 2: the user sessions this worker owns and what serves them.
    gw: Gateway,
    /// Rate limit of the replies Tandem generates (RST, ICMP errors).
    limiter: ReplyLimiter,
    /// Recently reported neighbour misses (address, time).
    miss_cache: [(Ipv4Addr, u64); 64],
    /// Recently reported ARP (address, MAC, time), see `own_addresses::arp`.
    arp_seen: [(Ipv4Addr, [u8; 6], u64); 64],
    /// This 100 ms window's ARP claims of new MACs: (start, used).
    arp_budget: (u64, u32),
    pools: Arc<Vec<PoolGauge>>,
    /// Whether the policy snapshot marks any DSCP (`marks.rs`): without,
    /// the established path skips the per-packet lookup.
    dscp_marks: bool,
    /// The user session (slab index) whose packet in flight is over its
    /// bitrate limit and re-marked, and the DSCP (`rate_limit::take_remark`).
    over_limit: Option<(u32, u8)>,
    /// Where frames to other appliances' fabric addresses went last and
    /// their outer headers, by the destination's low bits
    /// (`fabric::FabricHop`): like `Gateway::server_hops`, no route scan
    /// and neighbour lookup per encapsulated packet.
    fabric_hops: [fabric::FabricHop; FABRIC_HOPS],
    /// The fabric member that sent the last fabric packet
    /// (`fabric::FabricSender`).
    fabric_sender: fabric::FabricSender,
    /// NAT64: the buffer a packet is translated into (`nat64.rs`; empty
    /// without NAT64) and the IPv4 identification counter.
    nat64_buf: Box<[u8]>,
    nat64_ident: u32,
    /// NAT64: the spare frames the later IPv6 fragments of a packet are
    /// built in (`nat64_split::MAX_PIECES` - 1 of them; none without
    /// NAT64), how many the last packet left, how many the caller took
    /// ([`Worker::take_extra`]), and the port they leave on.
    extras: Vec<crate::frame::VecFrame>,
    extra_ready: usize,
    extra_next: usize,
    extra_port: Option<u16>,
}

/// Slots of `Worker::fabric_hops` (a power of two).
const FABRIC_HOPS: usize = 16;

/// Tier 2's state: the user-session table and everything that serves it.
struct Gateway {
    ports: PortAllocator,
    table: UserSessionTable,
    /// Live and new user sessions per session ID (subscriber limits).
    admission: Admission,
    wheel: TimerWheel,
    /// This worker's live user sessions per server.
    load: Arc<LocalLoad>,
    /// Buffers and rotor of the admission decision (`policy::admit`).
    admit_scratch: crate::policy::admit::Scratch,
    /// Where each server index's frames went last (see `uplink::send_to_server`).
    server_hops: Box<[ServerHop]>,
    /// SYN flood defence: cookie keys and splice slots (`synproxy`).
    synproxy: synproxy::SynProxy,
    /// PROXY protocol v2 toward servers: per-session ISN slots (`proxy_protocol`).
    proxy: proxy_protocol::ProxyV2,
    /// Fragmented datagrams being followed (`fragments.rs`).
    fragments: FragmentTable,
    /// NAT64: the IPv6 addresses per slab index (`nat64.rs`).
    nat64: nat64::Side,
}

/// Timer wheel geometry: 100 ms ticks, 4096 slots (one turn ≈ 7 minutes;
/// longer deadlines wait in their slot and are re-checked).
const WHEEL_TICK_MS: u64 = 100;
/// A user session of a subscriber with a usage quota reports its totals
/// (`Event::Usage`) at least this often while it lives: with the wheel's
/// tick, what it carries reaches the ledger within 0.35 s.
pub const USAGE_REPORT_MS: u64 = 250;
const WHEEL_SLOTS: u32 = 4096;

impl Worker {
    pub fn new(
        cfg: WorkerConfig,
        topo: Arc<Topology>,
        snaps: Snapshots,
        load: Arc<LocalLoad>,
        counters: Arc<WorkerCounters>,
        now_ms: u64,
    ) -> Result<Worker, String> {
        let (lo, hi) = cfg.port_range;
        let mut cfg = cfg;
        let n_ipv4 = cfg.gateway_addrs.len();
        let n_addrs = n_ipv4 + cfg.gateway_addrs6.len();
        if n_ipv4 == 0 || n_addrs > usize::from(u8::MAX) {
            return Err(format!(
                "{n_ipv4} IPv4 and {} IPv6 gateway addresses; need 1 to 255 in all, at least one IPv4",
                cfg.gateway_addrs6.len()
            ));
        }
        cfg.gateway_addrs.resize(n_addrs, Ipv4Addr::UNSPECIFIED);
        let mut ports = PortAllocator::new(
            n_addrs as u8,
            lo,
            hi,
            cfg.index,
            cfg.n_workers,
            cfg.quarantine,
        )
        .map_err(|e| format!("port range ({lo}, {hi}): {e:?}"))?;
        ports.split_ipv6(n_ipv4);
        let table = UserSessionTable::with_capacity(cfg.table_capacity, n_addrs as u8);
        let wheel = TimerWheel::new(cfg.table_capacity, WHEEL_TICK_MS, WHEEL_SLOTS, now_ms);
        let admission = Admission::new(cfg.table_capacity, cfg.bitrate_meters, cfg.limited_types);
        let synproxy = synproxy::SynProxy::new(cfg.table_capacity);
        let proxy = proxy_protocol::ProxyV2::new(cfg.table_capacity);
        let dscp_marks = snaps.policy.get().marks_dscp();
        let fragments = cfg.fragments;
        let nat64_on = cfg.nat64.is_some();
        let nat64 = nat64::Side::new(cfg.table_capacity, nat64_on);
        let nat64_buf = vec![0u8; if nat64_on { nat64::BUFFER_LEN } else { 0 }].into_boxed_slice();
        Ok(Worker {
            nat64_buf,
            nat64_ident: 0,
            extras: if nat64_on {
                vec![crate::frame::VecFrame::new(&[]); nat64_split::MAX_PIECES - 1]
            } else {
                Vec::new()
            },
            extra_ready: 0,
            extra_next: 0,
            extra_port: None,
            dscp_marks,
            over_limit: None,
            fabric_hops: [fabric::FabricHop::UNKNOWN; FABRIC_HOPS],
            fabric_sender: fabric::FabricSender::UNKNOWN,
            cfg,
            topo,
            snaps,
            counters,
            pin_cache: vec![(u64::MAX, 0); PIN_CACHE].into_boxed_slice(),
            gw: Gateway {
                ports,
                table,
                admission,
                wheel,
                load,
                admit_scratch: crate::policy::admit::Scratch::with_capacity(MAX_SERVERS),
                server_hops: vec![ServerHop::UNKNOWN; MAX_SERVERS].into_boxed_slice(),
                synproxy,
                proxy,
                fragments: FragmentTable::new(fragments),
                nat64,
            },
            // Starts full: the first refusals are answered at once.
            limiter: ReplyLimiter {
                tokens: 0,
                last_ms: 0,
            },
            miss_cache: [(Ipv4Addr::UNSPECIFIED, 0); 64],
            arp_seen: [(Ipv4Addr::UNSPECIFIED, [0; 6], 0); 64],
            arp_budget: (0, 0),
            pools: Arc::new((0..n_addrs).map(|_| PoolGauge::default()).collect()),
        })
    }

    pub fn index(&self) -> u16 {
        self.cfg.index
    }

    pub fn counters(&self) -> &Arc<WorkerCounters> {
        &self.counters
    }

    pub fn table(&self) -> &UserSessionTable {
        &self.gw.table
    }

    pub fn port_allocator(&self) -> &PortAllocator {
        &self.gw.ports
    }

    /// Port pool gauges per gateway address, updated every timer tick; the
    /// control plane reads them.
    pub fn pool_gauges(&self) -> &Arc<Vec<PoolGauge>> {
        &self.pools
    }

    fn update_pool_gauges(&self) {
        for (a, g) in self.pools.iter().enumerate() {
            if let Some(s) = self.gw.ports.stats(a as u8) {
                g.capacity.set(u64::from(s.capacity));
                g.in_use.set(u64::from(s.in_use));
                g.quarantined.set(u64::from(s.quarantined));
                g.free.set(u64::from(s.free));
            }
        }
    }

    /// Start of a burst: the worker's quiescent point. Picks up any newly
    /// published snapshots; returns true if one changed.
    #[inline]
    pub fn begin_burst(&mut self) -> bool {
        let mut changed = self.snaps.steering.refresh();
        if self.snaps.policy.refresh() {
            changed = true;
            self.dscp_marks = self.snaps.policy.get().marks_dscp();
        }
        changed |= self.snaps.neighbours.refresh();
        changed |= self.snaps.loads.refresh();
        if changed {
            self.counters.snapshot_generation.set(
                self.snaps
                    .steering
                    .generation()
                    .max(self.snaps.policy.generation()),
            );
        }
        changed
    }

    /// A frame received on `in_port` (a DPDK port index).
    #[inline(never)]
    pub fn process<F: crate::frame::Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        in_port: u16,
        now_ms: u64,
        ev: &mut E,
    ) -> Verdict {
        self.counters.rx_packets.inc();
        self.counters.rx_bytes.add(f.len() as u64);
        let v = self.dispatch(f, in_port, now_ms, ev, steer::Ingress::Port);
        self.account(v)
    }

    /// [`process`](Self::process) (or, for [`Ingress::Handoff`],
    /// [`process_handoff`](Self::process_handoff)) for a frame the prefetch
    /// pass has read ([`prefetch_records`](Self::prefetch_records)): its
    /// headers are not parsed again. A record of another frame (other
    /// length or port) is ignored and the frame parsed here.
    ///
    /// Never inlined (nor is `process`): one call per packet keeps the
    /// pipeline one function in profiles (`scripts/instructions.sh`).
    #[inline(never)]
    pub fn process_recorded<F: crate::frame::Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        record: &FrameRecord,
        ingress: Ingress,
        in_port: u16,
        now_ms: u64,
        ev: &mut E,
    ) -> Verdict {
        match ingress {
            Ingress::Port => {
                self.counters.rx_packets.inc();
                self.counters.rx_bytes.add(f.len() as u64);
            }
            Ingress::Handoff => self.counters.handoff_in.inc(),
        }
        let v = match self.topo.role(in_port) {
            Some(role) if record.describes(f.len(), in_port) => {
                let rx = steer::Rx {
                    port: in_port,
                    now_ms,
                    ingress,
                    frame: &record.parsed,
                    fabric: None,
                };
                self.steer(f, &rx, role, ev)
            }
            _ => self.dispatch(f, in_port, now_ms, ev, ingress),
        };
        self.account(v)
    }

    /// A frame another worker's tier-1 handed to this worker.
    pub fn process_handoff<F: crate::frame::Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        in_port: u16,
        now_ms: u64,
        ev: &mut E,
    ) -> Verdict {
        self.counters.handoff_in.inc();
        let v = self.dispatch(f, in_port, now_ms, ev, steer::Ingress::Handoff);
        self.account(v)
    }

    #[inline]
    fn account(&self, v: Verdict) -> Verdict {
        match v {
            Verdict::Drop(r) => self.counters.count_drop(r),
            Verdict::Handoff(_) => self.counters.handoff_out.inc(),
            Verdict::Forward(_)
            | Verdict::Consumed
            | Verdict::Hold { .. }
            | Verdict::HoldV6 { .. } => {}
        }
        v
    }

    #[inline]
    fn emit<E: EventSink>(&self, ev: &mut E, e: Event) {
        if !ev.push(e) {
            self.counters.events_lost.inc();
        }
    }

    /// Finishes a held frame if its next hop has been resolved since: sets
    /// the Ethernet addresses and returns true (send it on `port`).
    pub fn complete_held<F: crate::frame::Frame>(
        &self,
        f: &mut F,
        port: u16,
        waiting: hold::WaitingFor,
    ) -> bool {
        let neighbours = self.snaps.neighbours.get();
        let mac = match waiting {
            hold::WaitingFor::Ipv4(next_hop) => neighbours.get(port, next_hop),
            hold::WaitingFor::ServerV6(server) => self
                .server_v6(server)
                .and_then(|s| self.topo.route_v6(s))
                .filter(|hop| hop.port == port)
                .and_then(|hop| neighbours.get_v6(port, hop.ip)),
        };
        let Some(mac) = mac else {
            return false;
        };
        l2::set_macs(f.bytes_mut(), mac, self.topo.mac(port));
        self.counters.tx_packets.inc();
        self.counters.tx_bytes.add(f.len() as u64);
        true
    }

    /// Expires idle user sessions; at most `budget` entries examined.
    pub fn run_timers<E: EventSink>(&mut self, now_ms: u64, budget: usize, ev: &mut E) -> usize {
        expiry::run(self, now_ms, budget, ev, &crate::prefetch::NoPrefetch)
    }

    /// [`run_timers`](Self::run_timers), prefetching the state of the
    /// sessions it removes with `hint` before removing the first.
    pub fn run_timers_prefetched<E: EventSink, P: crate::prefetch::Prefetch>(
        &mut self,
        now_ms: u64,
        budget: usize,
        ev: &mut E,
        hint: &P,
    ) -> usize {
        expiry::run(self, now_ms, budget, ev, hint)
    }

    /// Bytes [`new`](Self::new) allocates for a table of `table_capacity`
    /// user sessions over `n_gateway_addrs` addresses (session table, timer
    /// wheel, port pools; an upper bound within a few bytes per session),
    /// computed without allocating.
    pub fn preallocated_bytes(
        table_capacity: u32,
        n_gateway_addrs: u8,
        bitrate_meters: bool,
        limited_types: usize,
    ) -> u64 {
        UserSessionTable::preallocated_bytes(table_capacity, n_gateway_addrs)
            + TimerWheel::preallocated_bytes(table_capacity, WHEEL_SLOTS)
            + PortAllocator::preallocated_bytes(n_gateway_addrs)
            + Admission::preallocated_bytes(table_capacity, bitrate_meters, limited_types)
            + synproxy::SynProxy::preallocated_bytes(table_capacity)
            + proxy_protocol::ProxyV2::preallocated_bytes(table_capacity)
    }

    /// Ends every user session (shutdown or admin), with accounting.
    pub fn end_all<E: EventSink>(&mut self, now_ms: u64, ev: &mut E) -> usize {
        expiry::end_all(self, now_ms, ev)
    }
}
