//! How the control plane resolves, learns, refreshes and forgets its
//! neighbours, IPv4 (ARP) and IPv6 (Neighbor Discovery) alike: the
//! `NeighbourSeen*` / `NeighbourMiss*` events, the confirmations that are
//! due and the once-a-second retries, written once for both versions over
//! the [`Family`] trait. Apart from `control.rs` so that file keeps to
//! the loop; the decisions themselves are `neighbour_book.rs`'s.

use super::neighbour_book::{NeighbourBook, Step, Why, SLOW_AFTER};
use super::Control;
use crate::api::stats::NeighbourStats;
use crate::runtime::neighbour_guard::Seen;
use dataplane::event::ArpKind;
use dataplane::topology::Neighbours;
use dataplane::wire::{neighbor_solicitation, MacAddr};
use std::fmt::Display;
use std::hash::Hash;
use std::net::{Ipv4Addr, Ipv6Addr};
use tracing::{debug, info, warn};

/// One neighbour book per IP version.
pub(super) struct Books {
    pub(super) arp: NeighbourBook<Ipv4Addr>,
    pub(super) nd: NeighbourBook<Ipv6Addr>,
}

/// What differs between IPv4 and IPv6 neighbours for the control plane:
/// their book, their half of the neighbour table, and how to ask (ARP or
/// Neighbor Discovery). Everything else in handling them is written once,
/// below.
pub(super) trait Family: Copy + Eq + Hash + Display {
    /// "ARP" or "ND", for logs.
    const PROTOCOL: &'static str;
    fn book(books: &mut Books) -> &mut NeighbourBook<Self>;
    fn get(n: &Neighbours, port: u16, ip: Self) -> Option<[u8; 6]>;
    fn insert(n: &mut Neighbours, port: u16, ip: Self, mac: [u8; 6]);
    fn remove(n: &mut Neighbours, port: u16, ip: Self);
    /// Sends the request a book asked for.
    fn ask(c: &Control, port: u16, ip: Self, why: Why) -> bool;
}

impl Family for Ipv4Addr {
    const PROTOCOL: &'static str = "ARP";
    fn book(books: &mut Books) -> &mut NeighbourBook<Self> {
        &mut books.arp
    }
    fn get(n: &Neighbours, port: u16, ip: Self) -> Option<[u8; 6]> {
        n.get(port, ip)
    }
    fn insert(n: &mut Neighbours, port: u16, ip: Self, mac: [u8; 6]) {
        n.insert(port, ip, mac);
    }
    fn remove(n: &mut Neighbours, port: u16, ip: Self) {
        n.remove(port, ip);
    }
    /// A broadcast ARP request from the port's address, whatever the
    /// reason.
    fn ask(c: &Control, port: u16, ip: Self, _why: Why) -> bool {
        let sender = c
            .shared
            .topo
            .port_address(port)
            .unwrap_or(Ipv4Addr::UNSPECIFIED);
        c.arp_request(port, ip, sender)
    }
}

impl Family for Ipv6Addr {
    const PROTOCOL: &'static str = "ND";
    fn book(books: &mut Books) -> &mut NeighbourBook<Self> {
        &mut books.nd
    }
    fn get(n: &Neighbours, port: u16, ip: Self) -> Option<[u8; 6]> {
        n.get_v6(port, ip)
    }
    fn insert(n: &mut Neighbours, port: u16, ip: Self, mac: [u8; 6]) {
        n.insert_v6(port, ip, mac);
    }
    fn remove(n: &mut Neighbours, port: u16, ip: Self) {
        n.remove_v6(port, ip);
    }
    /// A refresh goes to the MAC we have (RFC 4861 7.3.3's probe);
    /// resolution and a MAC change's confirmation to the solicited-node
    /// group, so that every claimant can answer.
    fn ask(c: &Control, port: u16, ip: Self, why: Why) -> bool {
        let unicast = match why {
            Why::Refresh => c.shared.neighbours_work.get_v6(port, ip).map(MacAddr),
            Why::Resolve { .. } | Why::Confirm => None,
        };
        c.solicit(port, ip, unicast)
    }
}

impl Control {
    /// A Neighbor Solicitation for `target` on `port`, from the port's
    /// IPv6 address: to the target's solicited-node group, or with
    /// `dst_mac` to the target itself. Not sent (false) from a port
    /// without an IPv6 address.
    fn solicit(&self, port: u16, target: Ipv6Addr, dst_mac: Option<MacAddr>) -> bool {
        let Some(src) = self.shared.topo.port_address_v6(port) else {
            debug!(port, %target, "port has no IPv6 address: neighbour not solicited");
            return false;
        };
        let mac = MacAddr(self.shared.topo.mac(port));
        match neighbor_solicitation(mac, dst_mac, src, target) {
            Ok(f) => self.send(port, &f),
            Err(_) => false,
        }
    }

    /// A neighbour's address resolution is needed: ask for it (if not
    /// known and not asked for in the last second).
    pub(super) fn resolve<A: Family>(&mut self, port: u16, ip: A, now: u64) {
        let known = A::get(&self.shared.neighbours_work, port, ip).is_some();
        if let Some(step) = A::book(&mut self.books).resolve(port, ip, known, now) {
            self.neighbour_step(step);
        }
    }

    /// An ARP or ND message the workers reported: learned, refreshed, or
    /// a claimed new MAC asked to confirm, as the guard decides.
    pub(super) fn neighbour_seen<A: Family>(
        &mut self,
        port: u16,
        ip: A,
        mac: [u8; 6],
        kind: ArpKind,
        now: u64,
    ) {
        let current = A::get(&self.shared.neighbours_work, port, ip);
        let (seen, step) = A::book(&mut self.books).seen(port, ip, mac, kind, current, now);
        match seen {
            Seen::Learn => {
                info!(port, %ip, mac = %MacAddr(mac), "neighbour learned");
                A::insert(&mut self.shared.neighbours_work, port, ip, mac);
                self.neighbours_dirty = true;
            }
            Seen::Confirm => info!(port, %ip, new = %MacAddr(mac), ?kind,
                "neighbour claims a new MAC; asking it to confirm"),
            Seen::Refresh | Seen::Ignore => {}
        }
        if let Some(step) = step {
            self.neighbour_step(step);
        }
        self.update_neighbour_stats();
    }

    /// MAC changes whose confirmation time is up: installed or refused.
    pub(super) fn neighbours_due<A: Family>(&mut self, now: u64) {
        let due = A::book(&mut self.books).due(now);
        if due.is_empty() {
            return;
        }
        for (port, ip, new) in due {
            match new {
                Some(mac) => {
                    info!(port, %ip, mac = %MacAddr(mac), "neighbour changed MAC (confirmed)");
                    A::insert(&mut self.shared.neighbours_work, port, ip, mac);
                    self.neighbours_dirty = true;
                }
                None => warn!(port, %ip, "neighbour MAC change refused (not confirmed)"),
            }
        }
        self.update_neighbour_stats();
    }

    /// Retries, refreshes and forgetting, once a second.
    pub(super) fn neighbours_every_second<A: Family>(&mut self, now: u64) {
        let table = &self.shared.neighbours_work;
        let steps = A::book(&mut self.books)
            .every_second(now, |port, ip| A::get(table, port, ip).is_some());
        for step in steps {
            self.neighbour_step(step);
        }
    }

    /// Does what a book said: sends a request, or forgets a neighbour.
    fn neighbour_step<A: Family>(&mut self, step: Step<A>) {
        match step {
            Step::Ask { port, ip, why } => {
                if let Why::Resolve { tries } = why {
                    let protocol = A::PROTOCOL;
                    if tries > SLOW_AFTER {
                        let unanswered = tries - 1;
                        warn!(port, %ip, "no {protocol} answer after {unanswered} requests; still trying every 10 s");
                    } else if tries <= 3 || tries.is_multiple_of(10) {
                        debug!(port, %ip, tries, "{protocol} request");
                    }
                }
                A::ask(self, port, ip, why);
            }
            Step::Forget { port, ip } => {
                info!(port, %ip, "neighbour did not answer; forgotten");
                A::remove(&mut self.shared.neighbours_work, port, ip);
                self.neighbours_dirty = true;
            }
        }
    }

    /// The guards' counters, IPv4 and IPv6 together, for the stats API.
    fn update_neighbour_stats(&mut self) {
        let (a, b) = (&self.books.arp.guard.stats, &self.books.nd.guard.stats);
        self.shared.neighbour_stats = NeighbourStats {
            arp_unsolicited_ignored: a.arp_unsolicited_ignored + b.arp_unsolicited_ignored,
            neighbour_changes_refused: a.neighbour_changes_refused + b.neighbour_changes_refused,
            neighbour_changed: a.neighbour_changed + b.neighbour_changed,
        };
    }
}
