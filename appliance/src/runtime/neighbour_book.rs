//! When the control plane asks for a neighbour, and when it forgets one:
//! the bookkeeping of address resolution, the same for ARP (IPv4) and
//! Neighbor Discovery (IPv6), so it is written once, generic over the
//! address type. `control.rs` keeps one book per IP version, sends what a
//! book asks for and changes the neighbour table as it says.
//!
//! * An unknown address is asked for at most once per [`RETRY_MS`]; after
//!   [`SLOW_AFTER`] unanswered requests only every tenth second.
//! * A learned neighbour is asked again once [`REFRESH_MS`] have passed
//!   since it last answered, once a second, and forgotten when three such
//!   requests go unanswered.
//! * What a neighbour's messages may teach is the [`NeighbourGuard`]'s
//!   decision (the book tells it of every request it asks for).

use crate::runtime::neighbour_guard::{NeighbourGuard, Seen};
use dataplane::event::ArpKind;
use hashbrown::HashMap;
use std::hash::Hash;

/// Requests for one address at most this often.
pub const RETRY_MS: u64 = 1000;
/// Learned neighbours are re-checked after this long.
pub const REFRESH_MS: u64 = 300_000;
/// Unanswered requests after which an address is asked only every tenth
/// second.
pub const SLOW_AFTER: u32 = 30;

/// Why a request is to be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    /// The address is unknown; `tries` requests with this one.
    Resolve { tries: u32 },
    /// A learned neighbour is due to prove it is still there (IPv6 asks
    /// the MAC it has directly).
    Refresh,
    /// A live neighbour claims a new MAC: ask everyone on the link, so the
    /// old MAC and the new one can both answer.
    Confirm,
}

/// What the caller is to do for a neighbour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step<A> {
    /// Send a request for `ip` on `port` (the guard already knows).
    Ask { port: u16, ip: A, why: Why },
    /// Remove `ip` on `port` from the neighbour table: it stopped
    /// answering.
    Forget { port: u16, ip: A },
}

/// Resolution state of one (port, address).
#[derive(Clone, Copy, Debug)]
struct Resolving {
    tries: u32,
    last_ms: u64,
}

/// The resolution bookkeeping for addresses of type `A`.
pub struct NeighbourBook<A> {
    resolving: HashMap<(u16, A), Resolving>,
    learned_at: HashMap<(u16, A), u64>,
    /// Decides what ARP / ND may teach (anti-poisoning).
    pub guard: NeighbourGuard<A>,
}

impl<A: Copy + Eq + Hash> NeighbourBook<A> {
    /// A book whose `statics` (from the config) never change.
    pub fn new(statics: impl IntoIterator<Item = (u16, A)>) -> NeighbourBook<A> {
        NeighbourBook {
            resolving: HashMap::new(),
            learned_at: HashMap::new(),
            guard: NeighbourGuard::new(statics),
        }
    }

    /// Requests sent so far for an address not yet resolved.
    pub fn tries(&self, port: u16, ip: A) -> u32 {
        self.resolving.get(&(port, ip)).map_or(0, |r| r.tries)
    }

    /// A packet needs `ip` on `port` (`known`: the table has it): the
    /// request to send now, if any.
    pub fn resolve(&mut self, port: u16, ip: A, known: bool, now: u64) -> Option<Step<A>> {
        if known {
            self.resolving.remove(&(port, ip));
            return None;
        }
        let e = self.resolving.entry((port, ip)).or_insert(Resolving {
            tries: 0,
            last_ms: 0,
        });
        if e.tries > 0 && now.saturating_sub(e.last_ms) < RETRY_MS {
            return None;
        }
        e.tries += 1;
        e.last_ms = now;
        let why = Why::Resolve { tries: e.tries };
        Some(self.ask(port, ip, why, now))
    }

    /// A neighbour's message the workers reported (`current`: the MAC the
    /// table has): what the guard makes of it, noted here. On `Learn` the
    /// caller installs `mac`; on `Confirm` it sends the request this
    /// returns.
    pub fn seen(
        &mut self,
        port: u16,
        ip: A,
        mac: [u8; 6],
        kind: ArpKind,
        current: Option<[u8; 6]>,
        now: u64,
    ) -> (Seen, Option<Step<A>>) {
        let seen = self.guard.seen(port, ip, mac, kind, current, now);
        let step = match seen {
            Seen::Learn | Seen::Refresh => {
                self.learned_at.insert((port, ip), now);
                self.resolving.remove(&(port, ip));
                None
            }
            Seen::Confirm => Some(self.ask(port, ip, Why::Confirm, now)),
            Seen::Ignore => None,
        };
        (seen, step)
    }

    /// MAC changes whose confirmation time is up: `Some(mac)` to install
    /// (noted as learned now), `None` refused.
    pub fn due(&mut self, now: u64) -> Vec<(u16, A, Option<[u8; 6]>)> {
        let due = self.guard.due(now);
        for &(port, ip, new) in &due {
            if new.is_some() {
                self.learned_at.insert((port, ip), now);
            }
        }
        due
    }

    /// Once a second: retries for addresses still unresolved (`known`
    /// says which the table has meanwhile), refreshes of neighbours
    /// learned long ago, and the ones to forget.
    pub fn every_second(&mut self, now: u64, known: impl Fn(u16, A) -> bool) -> Vec<Step<A>> {
        self.guard.prune(now);
        let mut steps = Vec::new();
        let pending: Vec<(u16, A)> = self.resolving.keys().copied().collect();
        for (port, ip) in pending {
            let tries = self.tries(port, ip);
            if tries < SLOW_AFTER || tries.is_multiple_of(10) {
                steps.extend(self.resolve(port, ip, known(port, ip), now));
            } else if let Some(r) = self.resolving.get_mut(&(port, ip)) {
                r.tries += 1;
            }
        }
        let stale: Vec<((u16, A), u64)> = self
            .learned_at
            .iter()
            .filter(|(_, &at)| now.saturating_sub(at) > REFRESH_MS)
            .map(|(&k, &at)| (k, at))
            .collect();
        for ((port, ip), at) in stale {
            if now.saturating_sub(at) > REFRESH_MS + 3 * RETRY_MS {
                self.learned_at.remove(&(port, ip));
                steps.push(Step::Forget { port, ip });
            } else {
                steps.push(self.ask(port, ip, Why::Refresh, now));
            }
        }
        steps
    }

    /// A request to send, told to the guard so that its answer counts.
    fn ask(&mut self, port: u16, ip: A, why: Why, now: u64) -> Step<A> {
        self.guard.asked(port, ip, now);
        Step::Ask { port, ip, why }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::neighbour_guard::CONFIRM_MS;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const NEW: [u8; 6] = [2, 0, 0, 0, 0, 2];

    /// The same scenarios for both address types.
    fn both(check: impl Fn(Box<dyn Scenario>)) {
        check(Box::new(Book(
            NeighbourBook::new([]),
            Ipv4Addr::new(10, 2, 0, 11),
        )));
        check(Box::new(Book(
            NeighbourBook::new([]),
            Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0x21),
        )));
    }

    /// A book and the address its scenario is about, with the address
    /// type erased so one test body serves IPv4 and IPv6.
    struct Book<A>(NeighbourBook<A>, A);

    trait Scenario {
        fn resolve(&mut self, known: bool, now: u64) -> Option<Why>;
        fn seen(
            &mut self,
            mac: [u8; 6],
            kind: ArpKind,
            current: Option<[u8; 6]>,
            now: u64,
        ) -> (Seen, Option<Why>);
        fn due(&mut self, now: u64) -> Vec<Option<[u8; 6]>>;
        /// Asks (their reasons) and whether the address was forgotten.
        fn every_second(&mut self, now: u64) -> (Vec<Why>, bool);
        fn tries(&self) -> u32;
    }

    impl<A: Copy + Eq + Hash + std::fmt::Debug> Scenario for Book<A> {
        fn resolve(&mut self, known: bool, now: u64) -> Option<Why> {
            self.0
                .resolve(1, self.1, known, now)
                .map(|s| why(s, self.1))
        }
        fn seen(
            &mut self,
            mac: [u8; 6],
            kind: ArpKind,
            current: Option<[u8; 6]>,
            now: u64,
        ) -> (Seen, Option<Why>) {
            let (seen, step) = self.0.seen(1, self.1, mac, kind, current, now);
            (seen, step.map(|s| why(s, self.1)))
        }
        fn due(&mut self, now: u64) -> Vec<Option<[u8; 6]>> {
            self.0.due(now).into_iter().map(|(_, _, m)| m).collect()
        }
        fn every_second(&mut self, now: u64) -> (Vec<Why>, bool) {
            let steps = self.0.every_second(now, |_, _| false);
            let forgot = steps.contains(&Step::Forget {
                port: 1,
                ip: self.1,
            });
            let asks = steps
                .into_iter()
                .filter(|s| matches!(s, Step::Ask { .. }))
                .map(|s| why(s, self.1))
                .collect();
            (asks, forgot)
        }
        fn tries(&self) -> u32 {
            self.0.tries(1, self.1)
        }
    }

    fn why<A: Eq + std::fmt::Debug>(step: Step<A>, ip: A) -> Why {
        match step {
            Step::Ask {
                port: 1,
                ip: at,
                why,
            } if at == ip => why,
            other => panic!("not an ask for the address: {other:?}"),
        }
    }

    #[test]
    fn unknown_addresses_are_asked_once_a_second_then_every_ten() {
        both(|mut b| {
            assert_eq!(b.resolve(true, 0), None, "known: nothing to ask");
            assert_eq!(b.resolve(false, 0), Some(Why::Resolve { tries: 1 }));
            assert_eq!(b.resolve(false, RETRY_MS - 1), None);
            assert_eq!(b.resolve(false, RETRY_MS), Some(Why::Resolve { tries: 2 }));
            let mut now = RETRY_MS;
            while b.tries() < SLOW_AFTER {
                now += 1000;
                assert_eq!(b.every_second(now).0.len(), 1);
            }
            // Slow now: one request in ten seconds.
            let asked: usize = (0..10)
                .map(|_| {
                    now += 1000;
                    b.every_second(now).0.len()
                })
                .sum();
            assert_eq!(asked, 1);
        });
    }

    #[test]
    fn answers_to_our_requests_teach_and_stop_the_requests() {
        both(|mut b| {
            // Unasked: nothing.
            assert_eq!(b.seen(MAC, ArpKind::ReplyToUs, None, 0).0, Seen::Ignore);
            b.resolve(false, 10);
            assert_eq!(
                b.seen(MAC, ArpKind::ReplyToUs, None, 20),
                (Seen::Learn, None)
            );
            assert_eq!(b.tries(), 0, "resolved");
            assert_eq!(b.every_second(1000), (vec![], false));
        });
    }

    #[test]
    fn a_new_mac_is_confirmed_by_asking_everyone() {
        both(|mut b| {
            assert_eq!(
                b.seen(NEW, ArpKind::Unsolicited, Some(MAC), 0),
                (Seen::Confirm, Some(Why::Confirm))
            );
            // Only the new MAC answers the request the book asked for.
            b.seen(NEW, ArpKind::ReplyToUs, Some(MAC), 5);
            assert_eq!(b.due(CONFIRM_MS), vec![Some(NEW)]);
        });
    }

    #[test]
    fn learned_neighbours_are_refreshed_and_forgotten_when_silent() {
        both(|mut b| {
            assert_eq!(b.seen(MAC, ArpKind::RequestForUs, None, 0).0, Seen::Learn);
            assert_eq!(b.every_second(REFRESH_MS), (vec![], false));
            // Due: asked once a second, three times.
            for s in 1..=3 {
                let now = REFRESH_MS + s * RETRY_MS;
                assert_eq!(b.every_second(now), (vec![Why::Refresh], false), "{s}");
            }
            // An answer keeps it.
            let t = REFRESH_MS + 3 * RETRY_MS;
            assert_eq!(
                b.seen(MAC, ArpKind::ReplyToUs, Some(MAC), t).0,
                Seen::Refresh
            );
            assert_eq!(b.every_second(t + 1000), (vec![], false));
            // Silence through the next refresh forgets it.
            let next = t + REFRESH_MS;
            for s in 1..=3 {
                assert_eq!(b.every_second(next + s * RETRY_MS).0, vec![Why::Refresh]);
            }
            assert_eq!(b.every_second(next + 4 * RETRY_MS), (vec![], true));
            assert_eq!(b.every_second(next + 5 * RETRY_MS), (vec![], false));
        });
    }
}
