//! The control plane's loop on the main lcore: drains worker events, pins
//! sessions, learns and resolves neighbours, aggregates server load,
//! publishes snapshots and reclaims old ones, and exports accounting.

use super::shared::Shared;
use crate::clock::Clock;
use dataplane::event::Event;
use dataplane::tier1::{GatewayId, PinOutcome, SessionId};
use dataplane::wire::frames::arp_frame;
use dataplane::wire::{ArpOp, ArpRepr, MacAddr};
use dpdk_ffi::{Burst, Mbuf};
use neighbour_book::NeighbourBook;
use neighbours::Books;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;
use tracing::{debug, info, warn};

/// The resolution bookkeeping shared by ARP and ND, and `Control`'s
/// handling of neighbours with it: children of this module (declared
/// here, not in `runtime/mod.rs`), as only `Control` uses them.
#[path = "neighbour_book.rs"]
mod neighbour_book;
#[path = "control_neighbours.rs"]
mod neighbours;

/// How often loads are summed and published.
const LOAD_PUBLISH_MS: u64 = 50;

pub struct Control {
    pub shared: Shared,
    clock: Clock,
    /// Address resolution and what ARP / ND may teach (anti-poisoning).
    books: Books,
    last_load_ms: u64,
    last_second_ms: u64,
    pending_pins: Vec<(SessionId, Option<GatewayId>)>,
    neighbours_dirty: bool,
    stats_interval_ms: u64,
    last_stats_ms: u64,
    pub health: super::health::HealthState,
    /// Requests from the control API and the metrics endpoints.
    pub api: Option<crossbeam::channel::Receiver<crate::api::server::ApiCall>>,
    /// Membership of a cluster (docs/cluster.md); `None` stand-alone.
    pub cluster: Option<crate::cluster::Link>,
    /// Usage quotas (`quota.rs`): the ledger and its crossings not yet
    /// acted on.
    pub(super) quota: super::quota_ledger::QuotaLedger,
    pub(super) quota_changes: Vec<super::quota_ledger::Change>,
}

impl Control {
    pub fn new(
        shared: Shared,
        clock: Clock,
        stats_interval_s: u64,
        health: crate::config::Health,
    ) -> Control {
        // Static neighbours from the config: ARP and ND never change them.
        let statics: Vec<(u16, std::net::IpAddr)> = shared
            .cfg
            .ports
            .iter()
            .enumerate()
            .flat_map(|(i, p)| p.neighbours.iter().map(move |n| (i as u16, n.ip.0)))
            .collect();
        let arp = NeighbourBook::new(statics.iter().filter_map(|&(p, a)| match a {
            std::net::IpAddr::V4(a) => Some((p, a)),
            std::net::IpAddr::V6(_) => None,
        }));
        let nd = NeighbourBook::new(statics.iter().filter_map(|&(p, a)| match a {
            std::net::IpAddr::V4(_) => None,
            std::net::IpAddr::V6(a) => Some((p, a)),
        }));
        Control {
            shared,
            clock,
            books: Books { arp, nd },
            last_load_ms: 0,
            last_second_ms: 0,
            pending_pins: Vec::new(),
            neighbours_dirty: false,
            stats_interval_ms: stats_interval_s.saturating_mul(1000),
            last_stats_ms: clock.now_ms(),
            api: None,
            cluster: None,
            health: super::health::HealthState::new(health),
            quota: Default::default(),
            quota_changes: Vec::new(),
        }
    }

    /// The control plane's clock now (epoch milliseconds).
    pub(super) fn clock_now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// Sends a frame built by the control plane on `port`, on the control
    /// plane's own tx queue.
    pub fn send(&self, port: u16, frame: &[u8]) -> bool {
        let s = &self.shared;
        let mut control_tx = s.control_tx.borrow_mut();
        let Some(queue) = control_tx.get_mut(usize::from(port)) else {
            return false;
        };
        let Some(m) = Mbuf::from_bytes(&s.pool, frame) else {
            return false;
        };
        let mut b = Burst::new();
        if b.push(m).is_err() {
            return false;
        }
        queue.tx_burst(&mut b) == 1
    }

    fn arp_request(&self, port: u16, target: Ipv4Addr, sender: Ipv4Addr) -> bool {
        let mac = MacAddr(self.shared.topo.mac(port));
        let req = ArpRepr {
            op: ArpOp::Request,
            sender_mac: mac,
            sender_ip: sender,
            target_mac: MacAddr([0; 6]),
            target_ip: target,
        };
        match arp_frame(&req, mac, MacAddr::BROADCAST, None) {
            Ok(f) => self.send(port, &f),
            Err(_) => false,
        }
    }

    /// Gratuitous ARP for every address Tandem owns, so neighbours learn
    /// (or re-learn) where it is.
    pub fn announce(&self) {
        let mut n = 0;
        for (port, ip, _) in self.shared.topo.locals() {
            if self.arp_request(port, ip, ip) {
                n += 1;
            }
        }
        info!(count = n, "sent gratuitous ARP for our addresses");
    }

    /// Asks for the MAC of every server and next hop we know of, IPv4 and
    /// IPv6, so the first packets do not wait for resolution.
    pub fn resolve_known(&mut self) {
        let now = self.clock.now_ms();
        let policy = self.shared.policy.current();
        let servers = &policy.services.servers;
        let topo = &self.shared.topo;
        let v4: Vec<(u16, Ipv4Addr)> = servers
            .iter()
            .filter(|s| s.addr6.is_none())
            .filter_map(|s| topo.route(s.addr))
            .map(|h| (h.port, h.ip))
            .collect();
        let v6: Vec<(u16, Ipv6Addr)> = servers
            .iter()
            .filter_map(|s| topo.route_v6(s.addr6?))
            .map(|h| (h.port, h.ip))
            .collect();
        for (port, ip) in v4 {
            self.resolve(port, ip, now);
        }
        for (port, ip) in v6 {
            self.resolve(port, ip, now);
        }
    }

    /// The next hop toward server address `addr` is being resolved now
    /// (if not known, and if routed); returns how many ARP requests or
    /// Neighbor Solicitations were sent for it so far.
    pub fn unresolved_tries(&mut self, addr: IpAddr) -> u32 {
        let now = self.clock.now_ms();
        match addr {
            IpAddr::V4(a) => match self.shared.topo.route(a) {
                Some(hop) => {
                    self.resolve(hop.port, hop.ip, now);
                    self.books.arp.tries(hop.port, hop.ip)
                }
                None => 0,
            },
            IpAddr::V6(a) => match self.shared.topo.route_v6(a) {
                Some(hop) => {
                    self.resolve(hop.port, hop.ip, now);
                    self.books.nd.tries(hop.port, hop.ip)
                }
                None => 0,
            },
        }
    }

    fn handle(&mut self, e: Event, now: u64) {
        match e {
            Event::Pin {
                session_id,
                gateway,
            } => {
                match self.shared.manager.pin_request(
                    SessionId(session_id),
                    GatewayId(gateway),
                    now,
                ) {
                    Ok(PinOutcome::Refused) => {
                        let refused = self.shared.manager.pins_refused();
                        if refused.is_power_of_two() {
                            warn!(
                                refused,
                                learned = self.shared.manager.learned_pins(),
                                "learned-pin cap or rate reached: new sessions steer by Maglev without a pin"
                            );
                        }
                    }
                    Ok(_) => {}
                    Err(err) => debug!(session = session_id, "pin refused: {err}"),
                }
            }
            Event::SessionActive { session_id } => {
                let _ = self.shared.manager.touch(SessionId(session_id), now);
            }
            Event::NeighbourSeen {
                port,
                ip,
                mac,
                kind,
            } => self.neighbour_seen(port, ip, mac, kind, now),
            Event::NeighbourMiss { port, ip } => self.resolve(port, ip, now),
            Event::NeighbourSeenV6 {
                port,
                ip,
                mac,
                kind,
            } => self.neighbour_seen(port, ip, mac, kind, now),
            Event::NeighbourMissV6 { port, ip } => self.resolve(port, ip, now),
            Event::Accounting(a) => self.shared.accounting.push(a),
            Event::Usage(r) => self.on_usage(&r, now),
            Event::ServerFailure { server } => self.on_server_failure(server, now),
            Event::ProbeReply {
                server,
                port,
                probe_port,
                ok,
                ack,
                ..
            } => self.on_probe_reply(server, port, probe_port, ok, ack, now),
        }
    }

    /// Handles every event queued in the workers' rings now (no bound per
    /// ring) and hands the accounting records to the exporters. For the
    /// times a worker emits many records at once (shutdown, ending user
    /// sessions) and waits for room; returns the number of events handled.
    pub fn drain_events(&mut self) -> usize {
        let now = self.clock.now_ms();
        let mut n = 0;
        let mut queues = std::mem::take(&mut self.shared.events);
        for q in queues.iter_mut() {
            while let Ok(e) = q.pop() {
                self.handle(e, now);
                n += 1;
            }
        }
        self.shared.events = queues;
        if n > 0 {
            let policy = self.shared.policy.current();
            self.shared.accounting.flush(&policy);
        }
        n
    }

    /// Events the workers could not queue so far (all kinds).
    pub fn events_lost(&self) -> u64 {
        self.shared
            .counters
            .iter()
            .map(|c| c.events_lost.get())
            .sum()
    }

    /// One line at shutdown: the final records written, and how many
    /// events were lost since `lost_before` (the count when stopping began:
    /// those are final records the workers gave up on).
    pub fn log_final_accounting(&mut self, lost_before: u64) {
        let lost_now = self.events_lost();
        self.shared.accounting.note_lost_total(lost_now);
        let Some(acct) = self.shared.accounting.counters() else {
            return;
        };
        let lost_at_stop = lost_now.saturating_sub(lost_before);
        if lost_at_stop > 0 || acct.failed > 0 {
            warn!(
                records = self.shared.accounting.records,
                exported = acct.exported,
                lost_at_stop,
                lost = acct.lost,
                failed = acct.failed,
                "final accounting: some records were not written"
            );
        } else {
            info!(
                records = self.shared.accounting.records,
                exported = acct.exported,
                lost = acct.lost,
                "final accounting: every final record written"
            );
        }
    }

    /// One round of control-plane work. Returns the number of events handled.
    pub fn tick(&mut self) -> usize {
        let now = self.clock.now_ms();
        let mut n = 0;
        let mut queues = std::mem::take(&mut self.shared.events);
        for q in queues.iter_mut() {
            // Bounded per round so one busy worker cannot starve the rest.
            for _ in 0..4096 {
                let Ok(e) = q.pop() else { break };
                self.handle(e, now);
                n += 1;
            }
        }
        self.shared.events = queues;
        // API requests, one at a time.
        let calls: Vec<crate::api::server::ApiCall> = match &self.api {
            Some(rx) => rx.try_iter().take(64).collect(),
            None => Vec::new(),
        };
        for call in calls {
            // Shared changes go through etcd; the agent answers them.
            let Some(call) = self.cluster_forward(call) else {
                n += 1;
                continue;
            };
            let answer = self.handle_request(call.request);
            let _ = call.reply.send(answer);
            n += 1;
        }
        self.cluster_tick(now);
        // Pins decided by the session manager become a new steering snapshot.
        self.pending_pins.extend(self.shared.manager.take_changes());
        // Drains go with the pins of the same round, in one snapshot.
        let drains = self.shared.manager.take_drain_changes();
        self.shared.staged_drains.extend(drains);
        if !self.pending_pins.is_empty() || !self.shared.staged_drains.is_empty() {
            let changes = std::mem::take(&mut self.pending_pins);
            self.shared.publish_pins(&changes);
        }
        self.neighbours_due::<Ipv4Addr>(now);
        self.neighbours_due::<Ipv6Addr>(now);
        if self.neighbours_dirty {
            self.neighbours_dirty = false;
            self.shared.publish_neighbours();
        }
        self.health_tick(now);
        if now.saturating_sub(self.last_load_ms) >= LOAD_PUBLISH_MS {
            self.last_load_ms = now;
            self.shared.publish_loads();
        }
        let second = now.saturating_sub(self.last_second_ms) >= 1000;
        if second {
            self.last_second_ms = now;
            self.every_second(now);
        }
        self.quota_tick(now, second);
        let lost: u64 = self
            .shared
            .counters
            .iter()
            .map(|c| c.events_lost.get())
            .sum();
        self.shared.accounting.note_lost_total(lost);
        let policy = self.shared.policy.current();
        self.shared.accounting.flush(&policy);
        self.shared.reclaim();
        n
    }

    /// One line with the counters that tell whether traffic flows.
    pub fn log_stats(&self) {
        let c = &self.shared.counters;
        let sum = |f: fn(&dataplane::counters::WorkerCounters) -> u64| {
            c.iter().map(|w| f(w)).sum::<u64>()
        };
        let acct = self.shared.accounting.counters().unwrap_or_default();
        info!(
            rx = sum(|w| w.rx_packets.get()),
            tx = sum(|w| w.tx_packets.get()),
            dropped = sum(|w| w.dropped_total()),
            handoffs = sum(|w| w.handoff_out.get()),
            user_sessions = sum(|w| w.user_sessions_live.get()),
            created = sum(|w| w.user_sessions_created.get()),
            sessions = self.shared.manager.len(),
            neighbours = self.shared.neighbours_work.len(),
            records = self.shared.accounting.records,
            exported = acct.exported,
            lost = acct.lost,
            "stats"
        );
    }

    fn every_second(&mut self, now: u64) {
        if self.stats_interval_ms > 0
            && now.saturating_sub(self.last_stats_ms) >= self.stats_interval_ms
        {
            self.last_stats_ms = now;
            self.log_stats();
        }
        // Sessions idle too long are unpinned (they fall back to Maglev).
        let expired = self.shared.manager.expire_idle(now);
        if !expired.is_empty() {
            debug!(count = expired.len(), "unpinned idle sessions");
        }
        // Moved sessions whose drain time is over: what is left on the old
        // gateway is cut off.
        let drained = self.shared.manager.expire_drains(now);
        if drained > 0 {
            debug!(count = drained, "moved sessions finished draining");
        }
        // Addresses still unresolved: retry (slower after a while);
        // learned neighbours are refreshed now and then, and forgotten
        // after three unanswered requests.
        self.neighbours_every_second::<Ipv4Addr>(now);
        self.neighbours_every_second::<Ipv6Addr>(now);
    }

    /// Runs until `stop` says so, sleeping briefly when there is nothing to do.
    pub fn run(&mut self, stop: &dyn Fn() -> bool, hup: &dyn Fn() -> bool) {
        self.announce();
        self.resolve_known();
        while !stop() {
            if hup() {
                match self.reload() {
                    Ok(msg) => info!("SIGHUP: {msg}"),
                    Err(e) => warn!("SIGHUP: reload refused: {e}"),
                }
            }
            if self.tick() == 0 {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }
}
