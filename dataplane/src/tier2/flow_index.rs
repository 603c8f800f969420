//! The index from a terminal's flow key to its user session's slab slot.
//!
//! A general-purpose hash map costs what the fast path cannot afford at
//! millions of sessions: hashbrown keeps a control byte array and a bucket
//! array apart (two cache misses per lookup), stores the key next to the
//! value (the key is already in the slab entry) and must be reserved at
//! twice the capacity to never grow. This index is one array of 64-byte
//! buckets, each holding seven 8-byte entries (32 bits of the key's hash
//! and the 32-bit slab index) and an overflow count. A lookup reads one
//! bucket, normally the home bucket, and then the slab entry to confirm the
//! key: two cache lines, both known before the lookup starts, so a burst can
//! ask for all of them at once ([`FlowIndex::bucket_of`]).
//!
//! Collisions go to the next buckets (linear probing by bucket). Each bucket
//! counts the entries that passed it because it was full; a lookup stops at
//! the first bucket whose count is zero, so a miss costs one bucket as long
//! as the neighbourhood is not full. Removal decrements the counts along the
//! way, so there are no tombstones and no rehashing, ever. Nothing is
//! allocated after construction; an insert that would probe past
//! [`MAX_PROBE`] buckets is refused.
//!
//! The hash is seeded per table from the process's random state, so an
//! outside sender cannot aim its flows at one bucket.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use crate::hash::{hash_u64, mix64};

use super::user_sessions::FlowKey;

/// Entries per bucket (the eighth word is the overflow count).
const WAYS: usize = 7;
/// Buckets an insert may probe before it gives up.
pub const MAX_PROBE: usize = 64;
/// Sessions per bucket the index is sized for: at full capacity at most
/// 5 of 7 entries are used on average (71% load).
const SESSIONS_PER_BUCKET: usize = 5;
/// An empty entry (tag 0 is never stored: tags have their low bit set).
const EMPTY: u64 = 0;

/// One cache line of entries.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
pub struct Bucket {
    /// `tag << 32 | slab index`, or [`EMPTY`].
    entries: [u64; WAYS],
    /// Entries stored beyond this bucket that probed through it.
    overflow: u64,
}

const EMPTY_BUCKET: Bucket = Bucket {
    entries: [EMPTY; WAYS],
    overflow: 0,
};

/// Why an insert was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexFull {
    /// No free entry within [`MAX_PROBE`] buckets of the home bucket.
    ProbeLimit,
}

/// Flow key → slab index, fixed size.
#[derive(Debug)]
pub struct FlowIndex {
    buckets: Box<[Bucket]>,
    mask: usize,
    /// The seed, already mixed (`hash_u64(0, seed)`), so a key costs two
    /// mixes, not three.
    seed: u64,
    len: usize,
}

/// The hash of a key: which bucket it lives in and the tag it is stored under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyHash(u64);

impl KeyHash {
    #[inline]
    fn tag(self) -> u64 {
        // The upper half, low bit forced on so a tag is never EMPTY.
        (self.0 >> 32) | 1
    }
}

impl FlowIndex {
    /// An index for up to `capacity` keys, with a seed from the process's
    /// random state.
    pub fn with_capacity(capacity: usize) -> FlowIndex {
        FlowIndex::with_seed(capacity, RandomState::new().hash_one(0x666c_6f77_u64))
    }

    /// An index for up to `capacity` keys with a fixed hash seed (tests and
    /// benchmarks that need repeatable placement).
    pub fn with_seed(capacity: usize, seed: u64) -> FlowIndex {
        let buckets = Self::buckets_for(capacity);
        FlowIndex {
            buckets: vec![EMPTY_BUCKET; buckets].into_boxed_slice(),
            mask: buckets - 1,
            seed: hash_u64(0, seed),
            len: 0,
        }
    }

    /// Keys in the index.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes the index occupies.
    /// Buckets of an index for `capacity` keys.
    fn buckets_for(capacity: usize) -> usize {
        capacity
            .div_ceil(SESSIONS_PER_BUCKET)
            .max(1)
            .next_power_of_two()
    }

    /// Bytes an index for `capacity` keys allocates (without allocating).
    pub fn preallocated_bytes(capacity: usize) -> u64 {
        (Self::buckets_for(capacity) * std::mem::size_of::<Bucket>()) as u64
    }

    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.buckets)
    }

    /// The hash of `key` under this index's seed.
    #[inline]
    pub fn hash(&self, key: &FlowKey) -> KeyHash {
        let client = (u64::from(u32::from(key.client_ip)) << 32)
            | (u64::from(key.client_port) << 16)
            | u64::from(key.proto);
        let dst = (u64::from(u32::from(key.dst_ip)) << 16) | u64::from(key.dst_port);
        KeyHash(mix64(mix64(client ^ self.seed) ^ dst))
    }

    /// The home bucket of a hash: what a burst prefetches before looking up.
    #[inline]
    pub fn bucket_of(&self, hash: KeyHash) -> &Bucket {
        &self.buckets[self.home(hash)]
    }

    #[inline]
    fn home(&self, hash: KeyHash) -> usize {
        (hash.0 as usize) & self.mask
    }

    /// The slab index stored under `hash` for which `is_key` says yes.
    /// `is_key` is asked only about entries whose tag matches.
    #[inline]
    pub fn find(&self, hash: KeyHash, mut is_key: impl FnMut(u32) -> bool) -> Option<u32> {
        let tag = hash.tag();
        let mut at = self.home(hash);
        for _ in 0..=MAX_PROBE {
            let bucket = &self.buckets[at];
            for entry in bucket.entries {
                if entry >> 32 == tag && is_key(entry as u32) {
                    return Some(entry as u32);
                }
            }
            if bucket.overflow == 0 {
                return None;
            }
            at = (at + 1) & self.mask;
        }
        None
    }

    /// The first slab index in the home bucket whose tag matches: where the
    /// key most likely is, before anything confirms it (to prefetch).
    #[inline]
    pub fn first_candidate(&self, hash: KeyHash) -> Option<u32> {
        let tag = hash.tag();
        self.buckets[self.home(hash)]
            .entries
            .iter()
            .find(|entry| **entry >> 32 == tag)
            .map(|entry| *entry as u32)
    }

    /// Stores `slab` under `hash`. The caller has checked that the key is
    /// not present.
    #[inline]
    pub fn insert(&mut self, hash: KeyHash, slab: u32) -> Result<(), IndexFull> {
        let home = self.home(hash);
        let mut at = home;
        for probed in 0..MAX_PROBE.min(self.buckets.len()) {
            if let Some(free) = self.buckets[at].entries.iter().position(|e| *e == EMPTY) {
                self.buckets[at].entries[free] = (hash.tag() << 32) | u64::from(slab);
                // Every bucket passed on the way now has one more overflow.
                let mut passed = home;
                for _ in 0..probed {
                    self.buckets[passed].overflow += 1;
                    passed = (passed + 1) & self.mask;
                }
                self.len += 1;
                return Ok(());
            }
            at = (at + 1) & self.mask;
        }
        Err(IndexFull::ProbeLimit)
    }

    /// Removes the entry of `slab` stored under `hash`; false when there is
    /// none.
    #[inline]
    pub fn remove(&mut self, hash: KeyHash, slab: u32) -> bool {
        let wanted = (hash.tag() << 32) | u64::from(slab);
        let home = self.home(hash);
        let mut at = home;
        for probed in 0..=MAX_PROBE.min(self.buckets.len()) {
            if let Some(found) = self.buckets[at].entries.iter().position(|e| *e == wanted) {
                self.buckets[at].entries[found] = EMPTY;
                let mut passed = home;
                for _ in 0..probed {
                    let count = &mut self.buckets[passed].overflow;
                    *count = count.saturating_sub(1);
                    passed = (passed + 1) & self.mask;
                }
                self.len -= 1;
                return true;
            }
            if self.buckets[at].overflow == 0 {
                return false;
            }
            at = (at + 1) & self.mask;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::net::Ipv4Addr;

    use proptest::prelude::*;

    fn key(n: u32) -> FlowKey {
        FlowKey {
            proto: 6,
            client_ip: Ipv4Addr::from(0x0a00_0000 + (n >> 4)),
            client_port: 1024 + (n & 15) as u16,
            dst_ip: Ipv4Addr::new(10, 9, 0, 1),
            dst_port: 80,
        }
    }

    #[test]
    fn a_bucket_is_one_cache_line() {
        assert_eq!(std::mem::size_of::<Bucket>(), 64);
        assert_eq!(std::mem::align_of::<Bucket>(), 64);
    }

    #[test]
    fn sized_at_most_five_keys_per_bucket() {
        let index = FlowIndex::with_seed(1_000_000, 1);
        assert_eq!(index.buckets.len(), 262_144);
        assert!(index.memory_bytes() <= 17 * 1_000_000);
        assert_eq!(FlowIndex::with_seed(0, 1).buckets.len(), 1);
    }

    #[test]
    fn finds_only_what_was_inserted() {
        let mut index = FlowIndex::with_seed(1000, 7);
        for n in 0..1000 {
            index.insert(index.hash(&key(n)), n).unwrap();
        }
        assert_eq!(index.len(), 1000);
        for n in 0..1000 {
            assert_eq!(index.find(index.hash(&key(n)), |s| s == n), Some(n));
        }
        assert_eq!(index.find(index.hash(&key(5000)), |_| true), None);
        assert!(index.remove(index.hash(&key(10)), 10));
        assert!(!index.remove(index.hash(&key(10)), 10));
        assert_eq!(index.find(index.hash(&key(10)), |s| s == 10), None);
        assert_eq!(index.len(), 999);
    }

    #[test]
    fn one_bucket_overflows_into_the_next_and_back() {
        // Capacity 1: one bucket, every key collides.
        let mut index = FlowIndex::with_seed(1, 3);
        for n in 0..7 {
            index.insert(index.hash(&key(n)), n).unwrap();
        }
        // The only bucket is full and probing wraps onto itself.
        assert_eq!(
            index.insert(index.hash(&key(7)), 7),
            Err(IndexFull::ProbeLimit)
        );
        assert_eq!(index.len(), 7);
        for n in 0..7 {
            assert!(index.remove(index.hash(&key(n)), n));
        }
        assert!(index.is_empty());
        assert_eq!(index.buckets[0].overflow, 0);
    }

    #[test]
    fn seeds_change_placement() {
        let a = FlowIndex::with_seed(1 << 20, 1);
        let b = FlowIndex::with_seed(1 << 20, 2);
        let same = (0..1000)
            .filter(|n| a.home(a.hash(&key(*n))) == b.home(b.hash(&key(*n))))
            .count();
        assert!(same < 10, "{same}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any interleaving of inserts and removes, in a small index that
        /// overflows a lot, agrees with a model map, and the overflow counts
        /// come back to zero when the index is empty.
        #[test]
        fn agrees_with_a_model(ops in prop::collection::vec((any::<bool>(), 0u32..96), 1..600)) {
            let mut index = FlowIndex::with_seed(40, 11);
            let mut model: HashMap<u32, ()> = HashMap::new();
            for (insert, n) in ops {
                let hash = index.hash(&key(n));
                if insert {
                    if model.contains_key(&n) {
                        continue;
                    }
                    match index.insert(hash, n) {
                        Ok(()) => { model.insert(n, ()); }
                        Err(IndexFull::ProbeLimit) => prop_assert!(index.len() >= 56 - 7),
                    }
                } else {
                    prop_assert_eq!(index.remove(hash, n), model.remove(&n).is_some());
                }
                prop_assert_eq!(index.len(), model.len());
            }
            for n in 0..96 {
                let found = index.find(index.hash(&key(n)), |s| s == n);
                prop_assert_eq!(found.is_some(), model.contains_key(&n));
            }
            for n in model.keys().copied().collect::<Vec<_>>() {
                prop_assert!(index.remove(index.hash(&key(n)), n));
            }
            prop_assert!(index.buckets.iter().all(|b| b.overflow == 0 && b.entries == [EMPTY; WAYS]));
        }
    }
}
