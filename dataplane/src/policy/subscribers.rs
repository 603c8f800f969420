//! Service authentication (claim 5): which services a subscriber may use.
//!
//! A subscriber is found by its mobile session ID, else by the longest
//! prefix containing the terminal's address, else the default applies.
//! An entry also carries the [`Limits`] on each session ID's user sessions.
//!
//! IPv6 terminals have prefix entries of their own: an IPv6 prefix covers
//! every session ID (the terminal's /48../64 prefix) inside it; IPv4
//! prefixes never match an IPv6 terminal, nor IPv6 prefixes an IPv4 one.

use super::Limits;
use crate::tier1::{SessionId, SessionIdKind};
use hashbrown::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

/// A set of service indexes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServiceSet {
    All,
    /// Bit i = service i.
    Some(Vec<u64>),
}

impl ServiceSet {
    pub fn none() -> ServiceSet {
        ServiceSet::Some(Vec::new())
    }

    pub fn from_indexes(ix: impl IntoIterator<Item = u32>) -> ServiceSet {
        let mut bits = Vec::new();
        for i in ix {
            let w = (i / 64) as usize;
            if bits.len() <= w {
                bits.resize(w + 1, 0u64);
            }
            bits[w] |= 1 << (i % 64);
        }
        ServiceSet::Some(bits)
    }

    #[inline]
    pub fn contains(&self, service: u32) -> bool {
        match self {
            ServiceSet::All => true,
            ServiceSet::Some(bits) => bits
                .get((service / 64) as usize)
                .is_some_and(|w| w & (1 << (service % 64)) != 0),
        }
    }
}

/// What a subscriber may use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entitlement {
    pub services: ServiceSet,
    /// May reach servers outside the system (claim 6).
    pub external: bool,
    /// Limits on the user sessions of each session ID this applies to.
    pub limits: Limits,
}

impl Entitlement {
    pub fn allow_all() -> Entitlement {
        Entitlement {
            services: ServiceSet::All,
            external: true,
            limits: Limits::NONE,
        }
    }

    pub fn deny_all() -> Entitlement {
        Entitlement {
            services: ServiceSet::none(),
            external: false,
            limits: Limits::NONE,
        }
    }
}

/// The subscriber table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscribers {
    /// For unknown subscribers.
    pub default: Entitlement,
    by_session: HashMap<u64, Entitlement>,
    /// (network, prefix length, entitlement), longest prefix first.
    by_prefix: Vec<(u32, u8, Entitlement)>,
    /// IPv6 (network, prefix length, entitlement), longest prefix first.
    by_prefix6: Vec<(u128, u8, Entitlement)>,
}

impl Default for Subscribers {
    fn default() -> Self {
        Subscribers::new(Entitlement::allow_all())
    }
}

fn mask6(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len.min(128)))
    }
}

fn mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len.min(32)))
    }
}

impl Subscribers {
    pub fn new(default: Entitlement) -> Subscribers {
        Subscribers {
            default,
            by_session: HashMap::new(),
            by_prefix: Vec::new(),
            by_prefix6: Vec::new(),
        }
    }

    pub fn set_session(&mut self, session_id: u64, e: Entitlement) {
        self.by_session.insert(session_id, e);
    }

    pub fn remove_session(&mut self, session_id: u64) -> bool {
        self.by_session.remove(&session_id).is_some()
    }

    pub fn set_prefix(&mut self, net: Ipv4Addr, len: u8, e: Entitlement) {
        let n = u32::from(net) & mask(len);
        self.by_prefix
            .retain(|(pn, pl, _)| !(*pn == n && *pl == len));
        self.by_prefix.push((n, len, e));
        self.by_prefix.sort_by_key(|p| std::cmp::Reverse(p.1));
    }

    pub fn remove_prefix(&mut self, net: Ipv4Addr, len: u8) -> bool {
        let n = u32::from(net) & mask(len);
        let before = self.by_prefix.len();
        self.by_prefix
            .retain(|(pn, pl, _)| !(*pn == n && *pl == len));
        self.by_prefix.len() != before
    }

    /// An entry for the IPv6 terminals whose session ID (prefix) lies
    /// inside `net/len` (host bits ignored).
    pub fn set_prefix6(&mut self, net: Ipv6Addr, len: u8, e: Entitlement) {
        let n = net.to_bits() & mask6(len);
        self.by_prefix6
            .retain(|(pn, pl, _)| !(*pn == n && *pl == len));
        self.by_prefix6.push((n, len, e));
        self.by_prefix6.sort_by_key(|p| std::cmp::Reverse(p.1));
    }

    pub fn remove_prefix6(&mut self, net: Ipv6Addr, len: u8) -> bool {
        let n = net.to_bits() & mask6(len);
        let before = self.by_prefix6.len();
        self.by_prefix6
            .retain(|(pn, pl, _)| !(*pn == n && *pl == len));
        self.by_prefix6.len() != before
    }

    /// The entitlement of the subscriber behind `session_id` / `terminal`.
    pub fn lookup(&self, session_id: u64, terminal: Ipv4Addr) -> &Entitlement {
        if let Some(e) = self.by_session.get(&session_id) {
            return e;
        }
        let t = u32::from(terminal);
        self.by_prefix
            .iter()
            .find(|(n, l, _)| t & mask(*l) == *n)
            .map_or(&self.default, |(_, _, e)| e)
    }

    /// The entitlement of an IPv6 terminal's session `session_id`: its
    /// session entry, else the longest IPv6 prefix entry that holds the
    /// whole session-ID prefix (a /48 entry covers each /64 session ID in
    /// it; a /72 entry covers none), else the default. A session ID that
    /// is no prefix (a TEID) matches session entries only. IPv4 prefix
    /// entries never match an IPv6 terminal, not even `0.0.0.0/0`. Cost:
    /// one hash lookup, then an ordered scan of the IPv6 prefix entries
    /// (asked once per new user session, and by the bitrate hook once per
    /// session ID and reload; never on the IPv4 path).
    pub fn lookup_v6(&self, session_id: u64) -> &Entitlement {
        if let Some(e) = self.by_session.get(&session_id) {
            return e;
        }
        if self.by_prefix6.is_empty() {
            return &self.default;
        }
        let SessionIdKind::Ipv6Prefix { addr, len } = SessionId(session_id).kind() else {
            return &self.default;
        };
        let (a, bits) = (addr.to_bits(), len.bits());
        self.by_prefix6
            .iter()
            .find(|(n, l, _)| *l <= bits && a & mask6(*l) == *n)
            .map_or(&self.default, |(_, _, e)| e)
    }

    pub fn sessions(&self) -> impl Iterator<Item = (u64, &Entitlement)> {
        self.by_session.iter().map(|(k, v)| (*k, v))
    }

    pub fn prefixes(&self) -> impl Iterator<Item = (Ipv4Addr, u8, &Entitlement)> {
        self.by_prefix
            .iter()
            .map(|(n, l, e)| (Ipv4Addr::from(*n), *l, e))
    }

    pub fn prefixes6(&self) -> impl Iterator<Item = (Ipv6Addr, u8, &Entitlement)> {
        self.by_prefix6
            .iter()
            .map(|(n, l, e)| (Ipv6Addr::from_bits(*n), *l, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_terminal_matches_its_session_entry_and_never_an_ipv4_prefix() {
        let mut s = Subscribers::new(Entitlement::deny_all());
        let mut everyone = Entitlement::deny_all();
        everyone.external = true;
        s.set_prefix(Ipv4Addr::UNSPECIFIED, 0, everyone.clone());
        let mut mine = Entitlement::deny_all();
        mine.limits.max_live = Some(3);
        s.set_session(77, mine.clone());
        assert_eq!(s.lookup_v6(77), &mine);
        assert_eq!(s.lookup_v6(78), &Entitlement::deny_all());
        assert_eq!(s.lookup(78, Ipv4Addr::UNSPECIFIED), &everyone);
    }

    fn only(service: u32) -> Entitlement {
        Entitlement {
            services: ServiceSet::from_indexes([service]),
            external: false,
            limits: Limits::NONE,
        }
    }

    fn sid64(a: &str) -> u64 {
        use crate::tier1::Ipv6SessionPrefix;
        SessionId::from_ipv6_prefix(a.parse().unwrap(), Ipv6SessionPrefix::P64)
            .unwrap()
            .0
    }

    #[test]
    fn an_ipv6_prefix_entry_covers_the_session_ids_inside_it_longest_first() {
        let mut s = Subscribers::new(Entitlement::deny_all());
        s.set_prefix6("2001:db8:5::".parse().unwrap(), 48, only(1));
        s.set_prefix6("2001:db8:5:700::".parse().unwrap(), 56, only(2));
        // Longer than the /64 session IDs: covers none of them.
        s.set_prefix6("2001:db8:5:1::".parse().unwrap(), 72, only(3));
        // IPv4 catch-all: never an IPv6 terminal's.
        s.set_prefix(Ipv4Addr::UNSPECIFIED, 0, Entitlement::allow_all());
        assert_eq!(s.lookup_v6(sid64("2001:db8:5:1::")), &only(1));
        assert_eq!(s.lookup_v6(sid64("2001:db8:5:7ab::")), &only(2));
        assert_eq!(s.lookup_v6(sid64("2001:db8:6::")), &Entitlement::deny_all());
        // The exact session ID wins over any prefix.
        s.set_session(sid64("2001:db8:5:7ab::"), only(4));
        assert_eq!(s.lookup_v6(sid64("2001:db8:5:7ab::")), &only(4));
        // A TEID session matches session entries only.
        let teid = SessionId::from_teid(9).0;
        assert_eq!(s.lookup_v6(teid), &Entitlement::deny_all());
        // IPv6 entries never match an IPv4 terminal.
        let mut v6only = Subscribers::new(Entitlement::deny_all());
        v6only.set_prefix6(Ipv6Addr::UNSPECIFIED, 0, Entitlement::allow_all());
        assert_eq!(
            v6only.lookup_v6(sid64("2001:db8::")),
            &Entitlement::allow_all()
        );
        assert_eq!(
            v6only.lookup(1, Ipv4Addr::new(10, 8, 0, 5)),
            &Entitlement::deny_all()
        );
        assert!(s.remove_prefix6("2001:db8:5:700::".parse().unwrap(), 56));
        assert!(!s.remove_prefix6("2001:db8:5:700::".parse().unwrap(), 56));
        assert_eq!(s.lookup_v6(sid64("2001:db8:5:7ac::")), &only(1));
        assert_eq!(s.prefixes6().count(), 2);
    }

    #[test]
    fn session_beats_prefix_beats_default() {
        let mut s = Subscribers::new(Entitlement::deny_all());
        s.set_prefix(
            Ipv4Addr::new(10, 1, 0, 0),
            16,
            Entitlement {
                services: ServiceSet::from_indexes([0]),
                external: false,
                limits: Limits::NONE,
            },
        );
        s.set_prefix(
            Ipv4Addr::new(10, 1, 5, 0),
            24,
            Entitlement {
                services: ServiceSet::from_indexes([1, 70]),
                external: true,
                limits: Limits::NONE,
            },
        );
        s.set_session(42, Entitlement::allow_all());

        let t = Ipv4Addr::new(10, 1, 5, 9);
        assert!(s.lookup(42, t).services.contains(3));
        let e = s.lookup(1, t);
        assert!(e.services.contains(1) && e.services.contains(70) && !e.services.contains(0));
        assert!(e.external);
        let e = s.lookup(1, Ipv4Addr::new(10, 1, 6, 1));
        assert!(e.services.contains(0) && !e.services.contains(1));
        let e = s.lookup(1, Ipv4Addr::new(10, 2, 0, 1));
        assert!(!e.services.contains(0) && !e.external);

        assert!(s.remove_prefix(Ipv4Addr::new(10, 1, 5, 0), 24));
        assert!(!s.lookup(1, t).services.contains(1));
        assert!(s.remove_session(42));
        assert!(!s.remove_session(42));
    }
}
