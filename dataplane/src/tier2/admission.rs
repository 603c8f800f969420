//! Per-subscriber admission of new user sessions on one worker: live user
//! sessions per session ID (a cap) and new ones per second (a token
//! bucket), so that one terminal or one spoofed source range cannot take
//! the whole user-session table or port pool.
//!
//! Every user session of a session ID lives on the one gateway worker the
//! steering table picks, so the counts can be per worker with no sharing.
//! The table is preallocated (twice the user-session capacity, open
//! addressing with linear probing and backward-shift deletion, hash seeded
//! per table): no allocation per packet. An entry lives while its session
//! ID has live user sessions, and after that until its bucket has refilled
//! (a bounded sweep on the timer tick removes it), so ending sessions
//! quickly does not buy a fresh burst.
//!
//! Each entry also has a bitrate [`Meter`] (a parallel array, moved with
//! its entry): the byte buckets of the session ID's user sessions, up and
//! down. An entry is kept until they too are full again. The meters are
//! allocated only when the config has a bitrate limit at start (72 bytes a
//! slot, two slots per user session): a gateway without limits does not
//! pay for them.
//!
//! Next to them, for the user-session types with a bitrate limit of their
//! own (`shaping::TypeLimits`), each entry has that many [`TypeBuckets`]
//! (another parallel array, 32 bytes per limited type and slot, also
//! allocated only when the config has such a type): the buckets of the
//! session ID's user sessions of each limited type. An entry is kept until
//! they are full again too.
//!
//! Tokens are counted in thousandths so that `per_s` tokens a second is
//! exactly `per_s` thousandths a millisecond: over any interval of `t` ms
//! at most `burst + per_s * t / 1000` user sessions are admitted.

use crate::hash::splitmix64;
use crate::policy::Limits;
use crate::shaping::{Meter, Shape, TokenBucket, TypeBuckets, TypeLimits};
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

/// Why a new user session was not admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The session ID already has its maximum of live user sessions.
    Live,
    /// The session ID's new-user-session bucket is empty.
    Rate,
    /// The admission table itself is full (counted like a limit).
    TableFull,
}

const MILLI: u32 = 1000;
/// Largest burst and rate the bucket holds (thousandths fit a u32).
pub const MAX_RATE: u32 = 1_000_000;

/// One session ID's counts: 32 bytes.
#[derive(Clone, Copy, Debug)]
struct Slot {
    /// `tag(session ID)`; 0 = empty.
    tag: u64,
    /// When `tokens` was last brought up to date.
    at_ms: u64,
    /// Thousandths of a token.
    tokens: u32,
    /// The bucket size (thousandths) when last admitted: the sweep may drop
    /// the entry once it would be full again.
    cap: u32,
    /// Refill per ms (thousandths), from the limits last applied.
    per_ms: u32,
    live: u32,
}

const EMPTY: Slot = Slot {
    tag: 0,
    at_ms: 0,
    tokens: 0,
    cap: 0,
    per_ms: 0,
    live: 0,
};

/// A session ID as stored: never 0 (IDs `u64::MAX - 1` and `u64::MAX`
/// share one entry; no session key produces either).
#[inline]
fn tag(key: u64) -> u64 {
    key.saturating_add(1)
}

/// Live counts and token buckets per session ID, on one worker.
pub struct Admission {
    slots: Box<[Slot]>,
    /// The bitrate meter of the entry in the same slot.
    meters: Box<[Meter]>,
    /// The type buckets of the entry in slot `i`:
    /// `type_buckets[i * types.slots()..][..types.slots()]`.
    type_buckets: Box<[TypeBuckets]>,
    /// The rates of the limited types and which buckets each uses.
    types: TypeLimits,
    mask: usize,
    /// Where a tag's probe starts: the top bits of `tag * mult` (multiply-
    /// shift, Dietzfelbinger et al. 1997: for a random odd multiplier two
    /// tags share a home with probability at most 2 / slots, so session
    /// IDs chosen by a sender cannot be aimed at one chain), `shift` =
    /// 64 - log2(slots). One multiply per lookup instead of a full mix.
    mult: u64,
    shift: u32,
    len: usize,
    /// Next slot the sweep looks at.
    sweep_at: usize,
}

impl Admission {
    /// A table for the session IDs of up to `user_sessions` user sessions.
    /// With `meters`, each entry has a bitrate meter, and buckets for
    /// `limited_types` user-session types with limits of their own (at most
    /// `shaping::MAX_LIMITED_TYPES`); without, [`metered`] finds none (no
    /// bitrate limit can apply).
    ///
    /// [`metered`]: Admission::metered
    pub fn new(user_sessions: u32, meters: bool, limited_types: usize) -> Admission {
        let seed = RandomState::new().hash_one(0x6164_6d69_u64);
        Admission::with_seed_and_meters(user_sessions, seed, meters, limited_types)
    }

    /// Like [`new`](Admission::new) with a fixed hash seed and meters, and
    /// buckets for two limited types (tests).
    pub fn with_seed(user_sessions: u32, seed: u64) -> Admission {
        Admission::with_seed_and_meters(user_sessions, seed, true, 2)
    }

    fn with_seed_and_meters(
        user_sessions: u32,
        seed: u64,
        meters: bool,
        limited_types: usize,
    ) -> Admission {
        let n = (user_sessions.max(8) as usize * 2).next_power_of_two();
        let types = TypeLimits::new(if meters { limited_types } else { 0 });
        Admission {
            slots: vec![EMPTY; n].into_boxed_slice(),
            meters: vec![Meter::EMPTY; if meters { n } else { 0 }].into_boxed_slice(),
            type_buckets: vec![[TokenBucket::new(); 2]; n * types.slots()].into_boxed_slice(),
            types,
            mask: n - 1,
            mult: splitmix64(seed) | 1,
            shift: 64 - n.trailing_zeros(),
            len: 0,
            sweep_at: 0,
        }
    }

    /// Bytes [`new`](Admission::new) allocates for `user_sessions` (what
    /// `check-config` adds up before start).
    pub fn preallocated_bytes(user_sessions: u32, meters: bool, limited_types: usize) -> u64 {
        let n = (user_sessions.max(8) as u64 * 2).next_power_of_two();
        let meter = if meters {
            std::mem::size_of::<Meter>()
                + TypeLimits::new(limited_types).slots() * std::mem::size_of::<TypeBuckets>()
        } else {
            0
        };
        n * (std::mem::size_of::<Slot>() + meter) as u64
    }

    /// Whether this table has bitrate meters.
    pub fn has_meters(&self) -> bool {
        !self.meters.is_empty()
    }

    /// Slots for limited user-session types each entry has.
    pub fn limited_types(&self) -> usize {
        self.types.slots()
    }

    #[inline]
    fn meter_full(&mut self, i: usize, now_ms: u64) -> bool {
        let k = self.types.slots();
        self.meters.get_mut(i).is_none_or(|m| m.is_full(now_ms))
            && (k == 0 || {
                let buckets = &mut self.type_buckets[i * k..(i + 1) * k];
                self.types.all_full(buckets, now_ms)
            })
    }

    #[inline]
    fn clear_meter(&mut self, i: usize) {
        if let Some(m) = self.meters.get_mut(i) {
            *m = Meter::EMPTY;
        }
        let k = self.types.slots();
        if let Some(b) = self.type_buckets.get_mut(i * k..(i + 1) * k) {
            b.fill([TokenBucket::new(); 2]);
        }
    }

    /// Moves the meter and type buckets of slot `from` to slot `to` (the
    /// backward shift), leaving `from` empty.
    #[inline]
    fn move_meter(&mut self, from: usize, to: usize) {
        if let Some(&m) = self.meters.get(from) {
            self.meters[to] = m;
        }
        let k = self.types.slots();
        if k > 0 {
            self.type_buckets
                .copy_within(from * k..(from + 1) * k, to * k);
        }
        self.clear_meter(from);
    }

    /// Session IDs tracked (live or still refilling).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Live user sessions counted for `key`.
    pub fn live(&self, key: u64) -> u32 {
        self.find(key).map_or(0, |i| self.slots[i].live)
    }

    #[inline]
    fn home(&self, key: u64) -> usize {
        self.home_of_tag(tag(key))
    }

    #[inline]
    fn home_of_tag(&self, t: u64) -> usize {
        // `n` >= 16 slots: the shift is at most 60.
        (t.wrapping_mul(self.mult) >> self.shift) as usize & self.mask
    }

    #[inline]
    fn find(&self, key: u64) -> Option<usize> {
        let t = tag(key);
        let mut i = self.home_of_tag(t);
        // A quarter of the slots stays free, so a probe ends at an empty
        // one; the bound only guards against a bug (and is counted off the
        // path of a hit at home, the established path's case).
        let mut probed = 0;
        loop {
            let s = self.slots.get(i)?;
            if s.tag == t {
                return Some(i);
            }
            if s.tag == 0 || probed == self.mask {
                return None;
            }
            probed += 1;
            i = (i + 1) & self.mask;
        }
    }

    /// The bitrate meter of `key`, while it has an entry (a user session
    /// counted by [`admit`](Self::admit) is live, or its buckets refill).
    #[inline]
    pub fn meter(&mut self, key: u64) -> Option<&mut Meter> {
        let i = self.find(key)?;
        self.meters.get_mut(i)
    }

    /// What a packet of a user session of `key` and type `ty` is metered
    /// by (the established path, `pipeline::rate_limit`): the session ID's
    /// meter and, if `ty` has a limit, its buckets of that type and the
    /// type's rates. A meter that has not seen policy `generation` is
    /// first given to `refresh` with the worker's type limits (which it
    /// must bring up to that generation too, if they are not).
    #[inline]
    pub fn meters_for(
        &mut self,
        key: u64,
        ty: u8,
        generation: u64,
        refresh: impl FnOnce(&mut Meter, &mut TypeLimits),
    ) -> Option<(&mut Meter, Option<TypeMeter<'_>>)> {
        let i = self.find(key)?;
        let meter = self.meters.get_mut(i)?;
        if meter.generation != generation {
            refresh(meter, &mut self.types);
        }
        let types = &self.types;
        let ty = match types.slot(ty) {
            Some(s) => self
                .type_buckets
                .get_mut(i * types.slots() + s)
                .map(|b| (b, types.rates(s))),
            None => None,
        };
        Some((meter, ty))
    }

    /// The meter of `key` with all its type buckets and the worker's type
    /// limits (inspection and tests; see [`meter`](Self::meter)).
    pub fn metered(&mut self, key: u64) -> Option<Metered<'_>> {
        let i = self.find(key)?;
        let meter = self.meters.get_mut(i)?;
        let k = self.types.slots();
        Some(Metered {
            meter,
            types: &mut self.types,
            buckets: &mut self.type_buckets[i * k..(i + 1) * k],
        })
    }

    /// A new user session of `key` under `limits`: admitted (counted live,
    /// one token taken) or refused. Every admission must be matched by one
    /// [`release`](Self::release) when that user session ends.
    pub fn admit(&mut self, key: u64, limits: &Limits, now_ms: u64) -> Result<(), Refusal> {
        let i = match self.find(key) {
            Some(i) => i,
            None => {
                // Keep a free quarter so probe chains stay short.
                if self.len >= self.slots.len() - self.slots.len() / 4 {
                    return Err(Refusal::TableFull);
                }
                let mut i = self.home(key);
                while self.slots[i].tag != 0 {
                    i = (i + 1) & self.mask;
                }
                let (cap, per_ms) = bucket(limits);
                self.slots[i] = Slot {
                    tag: tag(key),
                    live: 0,
                    tokens: cap,
                    at_ms: now_ms,
                    cap,
                    per_ms,
                };
                self.clear_meter(i);
                self.len += 1;
                i
            }
        };
        let s = &mut self.slots[i];
        if let Some(max) = limits.max_live {
            if s.live >= max {
                return Err(Refusal::Live);
            }
        }
        let (cap, per_ms) = bucket(limits);
        if limits.rate.is_some() {
            let elapsed = now_ms.saturating_sub(s.at_ms);
            // A bucket that had no rate before starts full.
            let before = if s.per_ms == 0 { cap } else { s.tokens };
            let refill = elapsed.saturating_mul(u64::from(per_ms));
            s.tokens = u64::from(before).saturating_add(refill).min(u64::from(cap)) as u32;
            s.at_ms = s.at_ms.max(now_ms);
            s.cap = cap;
            s.per_ms = per_ms;
            if s.tokens < MILLI {
                return Err(Refusal::Rate);
            }
            s.tokens -= MILLI;
        } else {
            s.cap = 0;
            s.per_ms = 0;
            s.tokens = 0;
            s.at_ms = now_ms;
        }
        s.live += 1;
        Ok(())
    }

    /// A user session of `key` admitted earlier has ended (or was never
    /// created after all): one live fewer. An entry with nothing live and
    /// no bucket to refill is removed at once.
    pub fn release(&mut self, key: u64, now_ms: u64) {
        let Some(i) = self.find(key) else {
            return;
        };
        let s = &mut self.slots[i];
        s.live = s.live.saturating_sub(1);
        if s.live == 0 && refilled(s, now_ms) && self.meter_full(i, now_ms) {
            self.remove_at(i);
        }
    }

    /// Removes entries with nothing live whose bucket has refilled, looking
    /// at no more than `budget` slots (call it on every timer tick).
    pub fn sweep(&mut self, now_ms: u64, budget: usize) {
        if self.len == 0 {
            return;
        }
        let mut n = 0;
        while n < budget.min(self.slots.len()) {
            let i = self.sweep_at;
            let s = &self.slots[i];
            if s.tag != 0 && s.live == 0 && refilled(s, now_ms) && self.meter_full(i, now_ms) {
                // The shift may move an unvisited entry into slot i: look
                // at it again.
                self.remove_at(i);
            } else {
                self.sweep_at = (i + 1) & self.mask;
            }
            n += 1;
        }
    }

    /// Backward-shift deletion: no tombstones.
    fn remove_at(&mut self, mut hole: usize) {
        self.slots[hole] = EMPTY;
        self.clear_meter(hole);
        self.len -= 1;
        let mut i = (hole + 1) & self.mask;
        while self.slots[i].tag != 0 {
            let home = self.home_of_tag(self.slots[i].tag);
            // Move i into the hole if its home is not in (hole, i].
            let dist_home = i.wrapping_sub(home) & self.mask;
            let dist_hole = i.wrapping_sub(hole) & self.mask;
            if dist_home >= dist_hole {
                self.slots[hole] = self.slots[i];
                self.slots[i] = EMPTY;
                self.move_meter(i, hole);
                hole = i;
            }
            i = (i + 1) & self.mask;
        }
    }
}

/// A session ID's buckets of one user-session type and that type's rates,
/// up and down ([`Admission::meters_for`]).
pub type TypeMeter<'a> = (&'a mut TypeBuckets, &'a [Shape; 2]);

/// One session ID's bitrate state on this worker ([`Admission::metered`]).
pub struct Metered<'a> {
    /// Its own limit's buckets and rates.
    pub meter: &'a mut Meter,
    /// The worker's limits of user-session types (shared by all entries).
    pub types: &'a mut TypeLimits,
    /// Its buckets of each limited type, by slot.
    pub buckets: &'a mut [TypeBuckets],
}

/// (bucket size, refill per ms), in thousandths of a token.
#[inline]
fn bucket(limits: &Limits) -> (u32, u32) {
    match limits.rate {
        Some(r) => (r.burst.clamp(1, MAX_RATE) * MILLI, r.per_s.min(MAX_RATE)),
        None => (0, 0),
    }
}

/// Whether a bucket would be full by `now_ms` (forgetting it then changes
/// nothing: a new entry starts full).
#[inline]
fn refilled(s: &Slot, now_ms: u64) -> bool {
    if s.per_ms == 0 {
        return true;
    }
    let missing = u64::from(s.cap.saturating_sub(s.tokens));
    now_ms
        .saturating_sub(s.at_ms)
        .saturating_mul(u64::from(s.per_ms))
        >= missing
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Rate;
    use proptest::prelude::*;

    fn limits(max_live: Option<u32>, per_s: u32, burst: u32) -> Limits {
        Limits {
            max_live,
            rate: (per_s > 0).then_some(Rate { per_s, burst }),
            ..Limits::NONE
        }
    }

    #[test]
    fn live_cap_is_exact_and_counts_return_to_zero() {
        let mut a = Admission::with_seed(64, 1);
        let l = limits(Some(5), 0, 0);
        for _ in 0..5 {
            assert_eq!(a.admit(7, &l, 0), Ok(()));
        }
        assert_eq!(a.admit(7, &l, 0), Err(Refusal::Live));
        // Another subscriber is not affected.
        assert_eq!(a.admit(8, &l, 0), Ok(()));
        assert_eq!(a.live(7), 5);
        a.release(7, 1);
        assert_eq!(a.admit(7, &l, 1), Ok(()));
        assert_eq!(a.admit(7, &l, 1), Err(Refusal::Live));
        for _ in 0..5 {
            a.release(7, 2);
        }
        a.release(8, 2);
        assert_eq!(a.live(7), 0);
        assert!(a.is_empty(), "entries with nothing live are removed");
    }

    #[test]
    fn bucket_refills_at_its_rate() {
        let mut a = Admission::with_seed(64, 1);
        let l = limits(None, 10, 3);
        for _ in 0..3 {
            assert_eq!(a.admit(1, &l, 1000), Ok(()));
        }
        assert_eq!(a.admit(1, &l, 1000), Err(Refusal::Rate));
        // 10/s: one token per 100 ms.
        assert_eq!(a.admit(1, &l, 1099), Err(Refusal::Rate));
        assert_eq!(a.admit(1, &l, 1100), Ok(()));
        // Ending the sessions does not give the burst back early.
        for _ in 0..4 {
            a.release(1, 1100);
        }
        assert_eq!(a.admit(1, &l, 1100), Err(Refusal::Rate));
        // Once refilled, the sweep forgets it.
        a.sweep(1500, 1 << 20);
        assert!(a.is_empty());
    }

    #[test]
    fn without_meters_no_bitrate_applies_and_none_is_allocated() {
        let mut a = Admission::new(64, false, 2);
        assert!(!a.has_meters());
        assert_eq!(a.admit(3, &limits(Some(10), 0, 0), 0), Ok(()));
        assert!(a.meter(3).is_none());
        a.release(3, 0);
        assert!(a.is_empty());
        assert!(a.metered(3).is_none() && a.limited_types() == 0);
        assert!(
            Admission::preallocated_bytes(64, false, 2)
                < Admission::preallocated_bytes(64, true, 0)
        );
        assert_eq!(
            Admission::preallocated_bytes(64, true, 2) - Admission::preallocated_bytes(64, true, 0),
            128 * 2 * 32,
            "128 slots, two limited types of 32 bytes"
        );
    }

    #[test]
    fn an_entry_stays_until_its_bitrate_buckets_refill() {
        use crate::shaping::{Bitrate, Rate as ByteRate};
        use crate::tier2::Direction;
        let mut a = Admission::with_seed(64, 1);
        let l = limits(Some(10), 0, 0);
        assert_eq!(a.admit(3, &l, 0), Ok(()));
        let r = ByteRate {
            bytes_per_s: 1_000_000,
            burst_bytes: 20_000,
        };
        let m = a.meter(3).expect("a meter while live");
        m.apply(
            Some(Bitrate {
                up: Some(r),
                down: None,
            }),
            1,
        );
        assert!(m.take(Direction::ToServer, 20_000, 0));
        // Nothing live, but the bucket is empty: a new user session must
        // not find a fresh burst.
        a.release(3, 0);
        assert_eq!(a.len(), 1);
        a.sweep(19, 1 << 20);
        assert_eq!(a.len(), 1, "19 ms refill 19 000 of 20 000 bytes");
        a.sweep(20, 1 << 20);
        assert!(a.is_empty());
    }

    /// Type limits of a test: type 1 limited down to 1 byte a second,
    /// 1 MB deep (so a bucket keeps what was taken from it).
    fn slow_type(a: &mut Admission, key: u64) {
        use crate::shaping::{Bitrate, Rate as ByteRate};
        let r = ByteRate {
            bytes_per_s: 1,
            burst_bytes: 1_000_000,
        };
        let b = Bitrate {
            up: None,
            down: Some(r),
        };
        let m = a.metered(key).expect("metered");
        m.types.apply([None, Some(&b)]);
        m.types.generation = 1;
    }

    /// Bytes left in `key`'s type-1 bucket down at `now_ms`.
    fn type_left(a: &mut Admission, key: u64, now_ms: u64) -> u64 {
        let m = a.metered(key).expect("metered");
        let s = m.types.slot(1).expect("type 1 limited");
        let r = m.types.rates(s)[1];
        m.buckets[s][1].available(&r, now_ms)
    }

    #[test]
    fn an_entry_stays_until_its_type_buckets_refill() {
        let mut a = Admission::with_seed(64, 1);
        assert_eq!(a.admit(3, &Limits::NONE, 0), Ok(()));
        slow_type(&mut a, 3);
        let m = a.metered(3).expect("metered");
        let (s, r) = (m.types.slot(1).expect("slot"), m.types.rates(0)[1]);
        assert!(m.buckets[s][1].fits(&r, 0, 1_000_000_000));
        m.buckets[s][1].spend(1_000_000_000);
        a.release(3, 0);
        a.sweep(10_000, 1 << 20);
        assert_eq!(a.len(), 1, "10 s refill 10 of 1 000 000 bytes");
        a.sweep(1_000_000_000, 1 << 20);
        assert!(a.is_empty());
    }

    #[test]
    fn full_table_refuses() {
        let mut a = Admission::with_seed(8, 1);
        let l = limits(Some(1), 0, 0);
        let mut refused = 0;
        for k in 0..100u64 {
            if a.admit(k, &l, 0) == Err(Refusal::TableFull) {
                refused += 1;
            }
        }
        assert_eq!(a.len(), 12, "3/4 of 16 slots");
        assert_eq!(refused, 88);
    }

    proptest! {
        /// Over any run, a session ID gets at most burst + rate × time
        /// admissions, and never more live than the cap; after every
        /// session ends and the buckets refill, nothing is left.
        #[test]
        fn never_more_than_rate_times_time_plus_burst(
            per_s in 1u32..2000,
            burst in 1u32..50,
            max_live in 1u32..40,
            steps in proptest::collection::vec((0u64..50, 0u8..4, any::<bool>()), 1..400),
        ) {
            let mut a = Admission::with_seed(64, 9);
            let l = limits(Some(max_live), per_s, burst);
            let mut now = 0u64;
            let mut admitted = [0u64; 4];
            let mut live = [0u32; 4];
            for (dt, key, end_one) in steps {
                now += dt;
                let k = u64::from(key);
                if end_one && live[key as usize] > 0 {
                    a.release(k, now);
                    live[key as usize] -= 1;
                }
                if a.admit(k, &l, now).is_ok() {
                    admitted[key as usize] += 1;
                    live[key as usize] += 1;
                }
                prop_assert!(live[key as usize] <= max_live);
                prop_assert_eq!(a.live(k), live[key as usize]);
                let bound = u64::from(burst) + u64::from(per_s) * now / 1000;
                prop_assert!(admitted[key as usize] <= bound,
                    "{} admitted by {} ms, bound {}", admitted[key as usize], now, bound);
            }
            for k in 0..4u64 {
                for _ in 0..live[k as usize] {
                    a.release(k, now);
                }
                prop_assert_eq!(a.live(k), 0);
            }
            a.sweep(now + 100_000, 1 << 20);
            prop_assert!(a.is_empty());
        }

        /// Random inserts and releases keep every key findable (the
        /// backward shift never loses an entry).
        #[test]
        fn deletion_keeps_keys_findable(ops in proptest::collection::vec((0u64..40, any::<bool>()), 1..500)) {
            let mut a = Admission::with_seed(16, 3);
            let l = limits(Some(1000), 0, 0);
            let mut live = std::collections::HashMap::new();
            let mut marked = std::collections::HashSet::new();
            for (k, add) in ops {
                let n = live.entry(k).or_insert(0u32);
                if add {
                    if a.admit(k, &l, 0).is_ok() {
                        *n += 1;
                        if k % 2 == 0 && marked.insert(k) {
                            // Even keys' type buckets hold what says whose
                            // they are (and so keep their entries: they
                            // never refill); odd keys' entries go at release.
                            slow_type(&mut a, k);
                            let m = a.metered(k).expect("metered");
                            let r = m.types.rates(0)[1];
                            let need = (k + 1) * 1000;
                            prop_assert!(m.buckets[0][1].fits(&r, 0, need));
                            m.buckets[0][1].spend(need);
                        }
                    }
                } else if *n > 0 {
                    a.release(k, 0);
                    *n -= 1;
                }
                for (&k2, &n2) in &live {
                    prop_assert_eq!(a.live(k2), n2);
                }
                for &k2 in &marked {
                    // The backward shift moves the type buckets with their entry.
                    prop_assert_eq!(type_left(&mut a, k2, 0), 1_000_000 - k2 - 1);
                }
            }
        }
    }
}
