//! Which user session the later fragments of a datagram belong to (IPv4,
//! and an IPv6 terminal's through NAT64).
//!
//! Only a datagram's first fragment carries its ports, so only it can find
//! (or open) a user session; the fragments after it carry just addresses,
//! protocol and the identification (IPv4 header, or IPv6 fragment header). The pipeline records, when a first
//! fragment passes, (source, destination, protocol, ID, direction) → what
//! to do with the rest ([`Follow`]), and each later fragment looks that up
//! here (`pipeline/fragments.rs`). Nothing is reassembled or buffered.
//!
//! The table is fixed at start: `max_datagrams` entries at most, in
//! `WAYS`-way sets of a power-of-two count, allocated once. An entry ends
//! when the datagram's last fragment (MF clear) is looked up, when it is
//! past its deadline (`timeout_ms` after the first fragment: the lookup
//! that finds it so says [`Miss::Timeout`]; an insert may take its place
//! silently), or is replaced by the same key's next first fragment.
//! Whether its user session still lives is the caller's check.

use crate::hash::mix64;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Entries per set: an insert or lookup reads one set, nothing else.
const WAYS: usize = 4;

/// Bounds of a worker's fragment table (`gateway.fragments` in the config).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FragmentLimits {
    /// Datagrams followed at once; 0: fragments are not followed at all
    /// (every one is dropped `ip_fragment`).
    pub max_datagrams: u32,
    /// How long after its first fragment a datagram's later ones are
    /// followed, ms.
    pub timeout_ms: u64,
}

impl FragmentLimits {
    /// The config's defaults.
    pub const DEFAULT: FragmentLimits = FragmentLimits {
        max_datagrams: 1024,
        timeout_ms: 2000,
    };
    /// Fragments not followed.
    pub const OFF: FragmentLimits = FragmentLimits {
        max_datagrams: 0,
        timeout_ms: 0,
    };
}

/// What identifies a fragmented datagram, seen from one side. IPv4
/// addresses are held IPv4-mapped (`::ffff:a.b.c.d`), which no IPv6
/// terminal (`2000::/3` sources only) nor NAT64 destination is, so the two
/// versions' keys never meet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FragmentKey {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    /// The protocol (IPv6: the fragment header's next header).
    pub proto: u8,
    /// The IPv4 identification, or the IPv6 fragment header's.
    pub ident: u32,
    /// True for terminal → server, false for server → gateway address.
    pub uplink: bool,
}

impl FragmentKey {
    /// An IPv4 datagram's key.
    #[inline]
    pub fn v4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, ident: u16, uplink: bool) -> FragmentKey {
        FragmentKey {
            src: src.to_ipv6_mapped(),
            dst: dst.to_ipv6_mapped(),
            proto,
            ident: u32::from(ident),
            uplink,
        }
    }

    /// An IPv6 datagram's key.
    #[inline]
    pub fn v6(src: Ipv6Addr, dst: Ipv6Addr, proto: u8, ident: u32, uplink: bool) -> FragmentKey {
        FragmentKey {
            src,
            dst,
            proto,
            ident,
            uplink,
        }
    }

    #[inline]
    fn hash(&self) -> u64 {
        let (s, d) = (u128::from(self.src), u128::from(self.dst));
        let rest =
            (u64::from(self.proto) << 33) | (u64::from(self.ident) << 1) | u64::from(self.uplink);
        let srcs = mix64((s >> 64) as u64 ^ mix64(s as u64));
        let dsts = mix64((d >> 64) as u64 ^ mix64(d as u64));
        mix64(srcs ^ mix64(dsts ^ mix64(rest)))
    }
}

/// What a datagram's later fragments do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Follow {
    /// Translated like the first, for this user session (slab index), as
    /// long as the slot still holds the session that was there (same
    /// gateway port, same creation time).
    Session {
        idx: u32,
        gw_port: u16,
        created_ms: u64,
    },
    /// Handed to this worker, which owns the user session (tier 1 of a
    /// server-side fragment: only the first one's port names the owner).
    Worker(u16),
}

/// Why a later fragment has nowhere to go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Miss {
    /// No entry: its first fragment did not pass here.
    NoFirst,
    /// Its entry is past its deadline (now ended).
    Timeout,
}

/// No room for another datagram (`max_datagrams` in use, or its set full
/// of live entries).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full;

#[derive(Clone, Copy, Debug)]
struct Entry {
    key: FragmentKey,
    follow: Follow,
    deadline_ms: u64,
    used: bool,
}

const EMPTY: Entry = Entry {
    key: FragmentKey {
        src: Ipv6Addr::UNSPECIFIED,
        dst: Ipv6Addr::UNSPECIFIED,
        proto: 0,
        ident: 0,
        uplink: false,
    },
    follow: Follow::Worker(0),
    deadline_ms: 0,
    used: false,
};

/// One worker's fragment table (see the module doc).
#[derive(Debug)]
pub struct FragmentTable {
    entries: Box<[Entry]>,
    /// Sets - 1 (the set count is a power of two).
    set_mask: usize,
    /// Entries in use (expired ones included until they end).
    used: u32,
    limits: FragmentLimits,
}

impl FragmentTable {
    /// A table for `limits`, allocated here and never again. With
    /// `max_datagrams` 0 it holds nothing and follows nothing.
    pub fn new(limits: FragmentLimits) -> FragmentTable {
        let slots = Self::slots(limits.max_datagrams);
        FragmentTable {
            entries: vec![EMPTY; slots].into_boxed_slice(),
            set_mask: (slots / WAYS).max(1) - 1,
            used: 0,
            limits,
        }
    }

    fn slots(max_datagrams: u32) -> usize {
        if max_datagrams == 0 {
            return 0;
        }
        let sets = (max_datagrams as usize).div_ceil(WAYS).next_power_of_two();
        sets * WAYS
    }

    /// Bytes [`new`](Self::new) allocates for `max_datagrams`.
    pub fn preallocated_bytes(max_datagrams: u32) -> u64 {
        (Self::slots(max_datagrams) * std::mem::size_of::<Entry>()) as u64
    }

    /// Whether fragments are followed at all.
    #[inline]
    pub fn enabled(&self) -> bool {
        self.limits.max_datagrams > 0
    }

    /// Entries in use.
    pub fn len(&self) -> u32 {
        self.used
    }

    pub fn is_empty(&self) -> bool {
        self.used == 0
    }

    #[inline]
    fn set(&self, key: &FragmentKey) -> std::ops::Range<usize> {
        let start = (key.hash() as usize & self.set_mask) * WAYS;
        start..start + WAYS
    }

    /// Records a first fragment's datagram. The same key's entry is
    /// replaced; else a free entry of its set is taken (within
    /// `max_datagrams`), else one past its deadline. Err: no room.
    pub fn open(&mut self, key: FragmentKey, follow: Follow, now_ms: u64) -> Result<(), Full> {
        if !self.enabled() {
            return Err(Full);
        }
        let set = self.set(&key);
        let deadline_ms = now_ms.saturating_add(self.limits.timeout_ms);
        let fresh = Entry {
            key,
            follow,
            deadline_ms,
            used: true,
        };
        let slots = &mut self.entries[set];
        if let Some(e) = slots.iter_mut().find(|e| e.used && e.key == key) {
            *e = fresh;
            return Ok(());
        }
        if self.used < self.limits.max_datagrams {
            if let Some(e) = slots.iter_mut().find(|e| !e.used) {
                *e = fresh;
                self.used += 1;
                return Ok(());
            }
        }
        match slots.iter_mut().find(|e| e.used && e.deadline_ms < now_ms) {
            Some(e) => {
                *e = fresh;
                Ok(())
            }
            None => Err(Full),
        }
    }

    /// A later fragment of `key`'s datagram: where it goes. `last` (MF
    /// clear) ends the entry; so does finding it past its deadline.
    pub fn follow(&mut self, key: &FragmentKey, last: bool, now_ms: u64) -> Result<Follow, Miss> {
        if !self.enabled() {
            return Err(Miss::NoFirst);
        }
        let set = self.set(key);
        let Some(e) = self.entries[set]
            .iter_mut()
            .find(|e| e.used && e.key == *key)
        else {
            return Err(Miss::NoFirst);
        };
        let (follow, expired) = (e.follow, e.deadline_ms < now_ms);
        if expired || last {
            e.used = false;
            self.used -= 1;
        }
        if expired {
            return Err(Miss::Timeout);
        }
        Ok(follow)
    }

    /// Ends `key`'s entry, if any (its user session is gone).
    pub fn end(&mut self, key: &FragmentKey) {
        if !self.enabled() {
            return;
        }
        let set = self.set(key);
        if let Some(e) = self.entries[set]
            .iter_mut()
            .find(|e| e.used && e.key == *key)
        {
            e.used = false;
            self.used -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ident: u16) -> FragmentKey {
        FragmentKey::v4(
            Ipv4Addr::new(10, 1, 0, 2),
            Ipv4Addr::new(10, 9, 0, 3),
            17,
            ident,
            true,
        )
    }

    const TO: Follow = Follow::Worker(3);

    #[test]
    fn a_datagram_is_followed_until_its_last_fragment() {
        let mut t = FragmentTable::new(FragmentLimits::DEFAULT);
        t.open(key(1), TO, 0).unwrap();
        assert_eq!(t.follow(&key(1), false, 10), Ok(TO));
        assert_eq!(t.follow(&key(2), false, 10), Err(Miss::NoFirst));
        assert_eq!(t.follow(&key(1), true, 20), Ok(TO));
        assert_eq!(t.follow(&key(1), false, 30), Err(Miss::NoFirst));
        assert!(t.is_empty());
    }

    #[test]
    fn past_the_deadline_a_datagram_times_out_once() {
        let mut t = FragmentTable::new(FragmentLimits {
            max_datagrams: 8,
            timeout_ms: 100,
        });
        t.open(key(1), TO, 0).unwrap();
        assert_eq!(t.follow(&key(1), false, 100), Ok(TO));
        assert_eq!(t.follow(&key(1), false, 101), Err(Miss::Timeout));
        assert_eq!(t.follow(&key(1), false, 102), Err(Miss::NoFirst));
        assert!(t.is_empty());
    }

    #[test]
    fn the_table_holds_max_datagrams_then_reuses_expired_entries() {
        let mut t = FragmentTable::new(FragmentLimits {
            max_datagrams: 3,
            timeout_ms: 100,
        });
        for i in 0..3 {
            t.open(key(i), TO, 0).unwrap();
        }
        assert_eq!(t.open(key(9), TO, 50), Err(Full));
        // The same key again only refreshes its entry.
        assert_eq!(t.open(key(1), TO, 50), Ok(()));
        assert_eq!(t.len(), 3);
        // Past the deadline of 0 and 2 (not 1), room again.
        assert_eq!(t.open(key(9), TO, 101), Ok(()));
        assert_eq!(t.follow(&key(9), true, 102), Ok(TO));
        t.end(&key(1));
        assert_eq!(t.follow(&key(1), false, 102), Err(Miss::NoFirst));
    }

    #[test]
    fn directions_and_protocols_are_apart() {
        let mut t = FragmentTable::new(FragmentLimits::DEFAULT);
        t.open(key(1), TO, 0).unwrap();
        let down = FragmentKey {
            uplink: false,
            ..key(1)
        };
        let tcp = FragmentKey { proto: 6, ..key(1) };
        assert_eq!(t.follow(&down, false, 1), Err(Miss::NoFirst));
        assert_eq!(t.follow(&tcp, false, 1), Err(Miss::NoFirst));
    }

    #[test]
    fn an_ipv6_datagram_never_meets_an_ipv4_one() {
        let mut t = FragmentTable::new(FragmentLimits::DEFAULT);
        let (src, dst) = (Ipv4Addr::new(10, 1, 0, 2), Ipv4Addr::new(10, 9, 0, 3));
        t.open(key(1), TO, 0).unwrap();
        // The same 32 bits as IPv4-compatible IPv6 addresses.
        let compat = |a: Ipv4Addr| Ipv6Addr::from(u128::from(u32::from(a)));
        let v6 = FragmentKey::v6(compat(src), compat(dst), 17, 1, true);
        assert_eq!(t.follow(&v6, false, 1), Err(Miss::NoFirst));
        // An identification above 16 bits is its own datagram.
        let term = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 5);
        let vip = Ipv6Addr::new(0x2001, 0xdb8, 9, 0, 0, 0, 0, 0x80);
        t.open(FragmentKey::v6(term, vip, 17, 0x1_0001, true), TO, 0)
            .unwrap();
        let low = FragmentKey::v6(term, vip, 17, 1, true);
        assert_eq!(t.follow(&low, false, 1), Err(Miss::NoFirst));
        let high = FragmentKey::v6(term, vip, 17, 0x1_0001, true);
        assert_eq!(t.follow(&high, true, 1), Ok(TO));
    }

    #[test]
    fn zero_datagrams_follows_nothing_and_allocates_nothing() {
        let mut t = FragmentTable::new(FragmentLimits::OFF);
        assert!(!t.enabled());
        assert_eq!(t.open(key(1), TO, 0), Err(Full));
        assert_eq!(t.follow(&key(1), false, 0), Err(Miss::NoFirst));
        assert_eq!(FragmentTable::preallocated_bytes(0), 0);
    }
}
