//! Service authentication (claim 5): which services a subscriber may use.
//!
//! A subscriber is found by its mobile session ID, else by the longest
//! prefix containing the terminal's address, else the default applies.
//! An entry also carries the [`Limits`] on each session ID's user sessions.

use super::Limits;
use hashbrown::HashMap;
use std::net::Ipv4Addr;

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
}

impl Default for Subscribers {
    fn default() -> Self {
        Subscribers::new(Entitlement::allow_all())
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

    /// The entitlement of an IPv6 terminal's session `session_id` (its
    /// prefix): its session entry, else the default. IPv4 prefix entries
    /// never match an IPv6 terminal, not even `0.0.0.0/0`.
    pub fn lookup_v6(&self, session_id: u64) -> &Entitlement {
        self.by_session.get(&session_id).unwrap_or(&self.default)
    }

    pub fn sessions(&self) -> impl Iterator<Item = (u64, &Entitlement)> {
        self.by_session.iter().map(|(k, v)| (*k, v))
    }

    pub fn prefixes(&self) -> impl Iterator<Item = (Ipv4Addr, u8, &Entitlement)> {
        self.by_prefix
            .iter()
            .map(|(n, l, e)| (Ipv4Addr::from(*n), *l, e))
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
