//! What the control plane learns from ARP and from IPv6 Neighbor
//! Discovery (hardening against neighbour poisoning: one host on a server
//! network must not be able to blackhole a server by claiming its
//! address). The same rules for both, so the guard is generic over the
//! address type: `NeighbourGuard` (IPv4) and `NeighbourGuard<Ipv6Addr>`.
//!
//! * A neighbour is created only by a reply to a request of ours (asked in
//!   the last [`ANSWER_MS`]) or by a request aimed at one of our addresses
//!   (the sender announcing itself). Unasked replies are ignored.
//! * A new MAC for a live neighbour is never used at once: we ask the
//!   address (one ARP request, or one Neighbor Solicitation to its
//!   solicited-node group) and wait [`CONFIRM_MS`]. If the MAC we have
//!   answers, the change is refused; if only the new MAC answers our
//!   request, it is taken. Anything else refuses it.
//! * Static neighbours (from the config) never change.
//!
//! Pure bookkeeping: the caller sends the requests and owns the table.

use crate::api::stats::NeighbourStats;
use dataplane::event::ArpKind;
use hashbrown::{HashMap, HashSet};
use std::hash::Hash;
use std::net::Ipv4Addr;

/// A reply counts as an answer to a request sent at most this long before.
pub const ANSWER_MS: u64 = 3000;
/// How long a MAC change waits for answers to its confirming request.
pub const CONFIRM_MS: u64 = 1000;

type Key<A> = (u16, A);

/// What to do with an ARP (or ND message) the workers reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// A new neighbour: install it.
    Learn,
    /// The MAC we have, confirmed: the neighbour is alive.
    Refresh,
    /// A new MAC for a live neighbour: send a request to confirm it (the
    /// change is decided by [`NeighbourGuard::due`]).
    Confirm,
    /// Nothing to do.
    Ignore,
}

#[derive(Clone, Copy, Debug)]
struct Pending {
    new_mac: [u8; 6],
    since_ms: u64,
    old_answered: bool,
    new_answered: bool,
}

/// The guard for addresses of type `A` (`Ipv4Addr` or `Ipv6Addr`).
pub struct NeighbourGuard<A = Ipv4Addr> {
    statics: HashSet<Key<A>>,
    asked: HashMap<Key<A>, u64>,
    confirming: HashMap<Key<A>, Pending>,
    pub stats: NeighbourStats,
}

impl<A> Default for NeighbourGuard<A> {
    fn default() -> Self {
        NeighbourGuard {
            statics: HashSet::new(),
            asked: HashMap::new(),
            confirming: HashMap::new(),
            stats: NeighbourStats::default(),
        }
    }
}

impl<A: Copy + Eq + Hash> NeighbourGuard<A> {
    pub fn new(statics: impl IntoIterator<Item = (u16, A)>) -> NeighbourGuard<A> {
        NeighbourGuard {
            statics: statics.into_iter().collect(),
            ..NeighbourGuard::default()
        }
    }

    /// We sent an ARP request (a Neighbor Solicitation) for `ip` on `port`.
    pub fn asked(&mut self, port: u16, ip: A, now_ms: u64) {
        self.asked.insert((port, ip), now_ms);
    }

    fn was_asked(&self, key: Key<A>, now_ms: u64) -> bool {
        self.asked
            .get(&key)
            .is_some_and(|&at| now_ms.saturating_sub(at) <= ANSWER_MS)
    }

    /// An ARP (ND message) from `ip` with `mac` on `port`; `current` is
    /// the MAC we have.
    pub fn seen(
        &mut self,
        port: u16,
        ip: A,
        mac: [u8; 6],
        kind: ArpKind,
        current: Option<[u8; 6]>,
        now_ms: u64,
    ) -> Seen {
        let key = (port, ip);
        if self.statics.contains(&key) {
            if current != Some(mac) {
                self.stats.neighbour_changes_refused += 1;
            }
            return Seen::Ignore;
        }
        let asked = self.was_asked(key, now_ms);
        match current {
            Some(have) if have == mac => {
                if let Some(p) = self.confirming.get_mut(&key) {
                    if kind == ArpKind::ReplyToUs {
                        p.old_answered = true;
                    }
                }
                if kind == ArpKind::Unsolicited {
                    Seen::Ignore
                } else {
                    Seen::Refresh
                }
            }
            None => match kind {
                ArpKind::ReplyToUs if asked => Seen::Learn,
                ArpKind::RequestForUs => Seen::Learn,
                ArpKind::ReplyToUs | ArpKind::Unsolicited => {
                    self.stats.arp_unsolicited_ignored += 1;
                    Seen::Ignore
                }
            },
            Some(_) => match self.confirming.get_mut(&key) {
                Some(p) => {
                    if kind == ArpKind::ReplyToUs && asked && p.new_mac == mac {
                        p.new_answered = true;
                    }
                    Seen::Ignore
                }
                None => {
                    self.confirming.insert(
                        key,
                        Pending {
                            new_mac: mac,
                            since_ms: now_ms,
                            old_answered: false,
                            new_answered: false,
                        },
                    );
                    Seen::Confirm
                }
            },
        }
    }

    /// Confirmations whose time is up: `(port, ip, Some(new MAC))` to
    /// install, `(port, ip, None)` refused (counted either way).
    pub fn due(&mut self, now_ms: u64) -> Vec<(u16, A, Option<[u8; 6]>)> {
        if self.confirming.is_empty() {
            return Vec::new();
        }
        let done: Vec<Key<A>> = self
            .confirming
            .iter()
            .filter(|(_, p)| now_ms.saturating_sub(p.since_ms) >= CONFIRM_MS)
            .map(|(k, _)| *k)
            .collect();
        let mut out = Vec::with_capacity(done.len());
        for key in done {
            let Some(p) = self.confirming.remove(&key) else {
                continue;
            };
            if p.new_answered && !p.old_answered {
                self.stats.neighbour_changed += 1;
                out.push((key.0, key.1, Some(p.new_mac)));
            } else {
                self.stats.neighbour_changes_refused += 1;
                out.push((key.0, key.1, None));
            }
        }
        out
    }

    /// Forgets requests too old to be answered.
    pub fn prune(&mut self, now_ms: u64) {
        self.asked
            .retain(|_, at| now_ms.saturating_sub(*at) <= ANSWER_MS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Ipv4Addr = Ipv4Addr::new(10, 2, 0, 11);
    const OLD: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const EVIL: [u8; 6] = [2, 0xee, 0, 0, 0, 2];

    #[test]
    fn only_answers_and_requests_to_us_create_neighbours() {
        let mut g = NeighbourGuard::new([]);
        assert_eq!(g.seen(1, S, OLD, ArpKind::ReplyToUs, None, 0), Seen::Ignore);
        assert_eq!(g.stats.arp_unsolicited_ignored, 1);
        g.asked(1, S, 10);
        assert_eq!(g.seen(1, S, OLD, ArpKind::ReplyToUs, None, 20), Seen::Learn);
        // An answer long after the request is unsolicited again.
        assert_eq!(
            g.seen(1, S, OLD, ArpKind::ReplyToUs, None, 20 + ANSWER_MS),
            Seen::Ignore
        );
        assert_eq!(
            g.seen(1, S, OLD, ArpKind::RequestForUs, None, 0),
            Seen::Learn
        );
    }

    #[test]
    fn a_live_neighbour_that_answers_keeps_its_mac() {
        let mut g = NeighbourGuard::new([]);
        assert_eq!(
            g.seen(1, S, EVIL, ArpKind::Unsolicited, Some(OLD), 0),
            Seen::Confirm
        );
        g.asked(1, S, 0);
        // The poisoner answers our request too, but so does the server.
        g.seen(1, S, EVIL, ArpKind::ReplyToUs, Some(OLD), 5);
        assert_eq!(
            g.seen(1, S, OLD, ArpKind::ReplyToUs, Some(OLD), 6),
            Seen::Refresh
        );
        assert!(g.due(CONFIRM_MS - 1).is_empty());
        assert_eq!(g.due(CONFIRM_MS), vec![(1, S, None)]);
        assert_eq!(g.stats.neighbour_changes_refused, 1);
        assert_eq!(g.stats.neighbour_changed, 0);
    }

    #[test]
    fn a_new_mac_that_alone_answers_is_taken() {
        let mut g = NeighbourGuard::new([]);
        assert_eq!(
            g.seen(1, S, EVIL, ArpKind::RequestForUs, Some(OLD), 0),
            Seen::Confirm
        );
        // Unasked claims during the confirmation change nothing.
        g.seen(1, S, EVIL, ArpKind::ReplyToUs, Some(OLD), 1);
        g.asked(1, S, 2);
        g.seen(1, S, EVIL, ArpKind::ReplyToUs, Some(OLD), 3);
        assert_eq!(g.due(CONFIRM_MS), vec![(1, S, Some(EVIL))]);
        assert_eq!(g.stats.neighbour_changed, 1);
        // Nobody answering: refused.
        g.seen(1, S, OLD, ArpKind::Unsolicited, Some(EVIL), 5000);
        assert_eq!(g.due(5000 + CONFIRM_MS), vec![(1, S, None)]);
    }

    #[test]
    fn static_neighbours_never_change() {
        let mut g = NeighbourGuard::new([(1, S)]);
        g.asked(1, S, 0);
        assert_eq!(
            g.seen(1, S, EVIL, ArpKind::ReplyToUs, Some(OLD), 1),
            Seen::Ignore
        );
        assert_eq!(
            g.seen(1, S, EVIL, ArpKind::RequestForUs, Some(OLD), 1),
            Seen::Ignore
        );
        assert_eq!(g.stats.neighbour_changes_refused, 2);
        assert!(g.due(10_000).is_empty());
    }

    #[test]
    fn ipv6_neighbours_follow_the_same_rules() {
        use std::net::Ipv6Addr;
        const S6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0x21);
        let other = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0x22);
        let mut g: NeighbourGuard<Ipv6Addr> = NeighbourGuard::new([(1, other)]);
        // Unasked advertisements create nothing; answers and solicitations do.
        assert_eq!(
            g.seen(1, S6, OLD, ArpKind::ReplyToUs, None, 0),
            Seen::Ignore
        );
        assert_eq!(g.stats.arp_unsolicited_ignored, 1);
        g.asked(1, S6, 10);
        assert_eq!(
            g.seen(1, S6, OLD, ArpKind::ReplyToUs, None, 20),
            Seen::Learn
        );
        assert_eq!(
            g.seen(1, S6, OLD, ArpKind::RequestForUs, None, 5000),
            Seen::Learn
        );
        // A new MAC waits for confirmation; only it answered: taken.
        assert_eq!(
            g.seen(1, S6, EVIL, ArpKind::Unsolicited, Some(OLD), 100),
            Seen::Confirm
        );
        g.asked(1, S6, 100);
        g.seen(1, S6, EVIL, ArpKind::ReplyToUs, Some(OLD), 101);
        assert_eq!(g.due(100 + CONFIRM_MS), vec![(1, S6, Some(EVIL))]);
        // The same address on another port is another neighbour.
        assert_eq!(
            g.seen(2, S6, OLD, ArpKind::ReplyToUs, None, 200),
            Seen::Ignore
        );
        // Static ones never change.
        assert_eq!(
            g.seen(1, other, EVIL, ArpKind::RequestForUs, Some(OLD), 300),
            Seen::Ignore
        );
        assert_eq!(g.stats.neighbour_changes_refused, 1);
    }
}
