//! Bitrate limits per user-session type (issue 15): a type may limit each
//! terminal's user sessions of that type (e.g. `video` at 5 Mbit/s down
//! per session ID), on top of the subscriber's own limit.
//!
//! The rates are the same for every session ID, so a worker keeps one copy
//! of them ([`TypeLimits`], taken from the policy once per published
//! generation) and each session ID only its buckets: an array of
//! [`TypeBuckets`] per admission-table entry, one per *limited* type (the
//! types with a limit get slots 0, 1, ... in the order of the config, at
//! most [`MAX_LIMITED_TYPES`]; the number is fixed when the worker starts,
//! so the buckets are preallocated: 32 bytes per limited type and entry).

use super::meter::{shape, UNSET};
use super::{Bitrate, Shape, TokenBucket};

/// Most user-session types that may have a bitrate limit.
pub const MAX_LIMITED_TYPES: usize = 8;

/// One session ID's buckets of one limited type, up and down (32 bytes).
pub type TypeBuckets = [TokenBucket; 2];

/// The value of a type without a slot in [`TypeLimits::slot_of`].
const NO_SLOT: u8 = u8::MAX;

/// Which bucket slot each user-session type uses and the rates of each
/// slot, as of one policy generation.
#[derive(Clone, Debug)]
pub struct TypeLimits {
    /// Per type index: its slot, or [`NO_SLOT`].
    slot_of: [u8; 256],
    /// Per slot: up, down, as the buckets use them
    /// ([`Shape::UNLIMITED`] where that direction has none).
    rates: [[Shape; 2]; MAX_LIMITED_TYPES],
    /// Slots each session ID has (allocated at start).
    slots: u8,
    /// The policy generation these come from (`meter::UNSET`: none yet).
    pub generation: u64,
}

impl TypeLimits {
    /// Limits for `slots` limited types (at most [`MAX_LIMITED_TYPES`]),
    /// none applied yet.
    pub fn new(slots: usize) -> TypeLimits {
        TypeLimits {
            slot_of: [NO_SLOT; 256],
            rates: [[Shape::UNLIMITED; 2]; MAX_LIMITED_TYPES],
            slots: slots.min(MAX_LIMITED_TYPES) as u8,
            generation: UNSET,
        }
    }

    /// Slots per session ID.
    pub fn slots(&self) -> usize {
        usize::from(self.slots)
    }

    /// Takes the limits of the policy's types, in order (`limits[t]`: type
    /// `t`'s). Types with a limit get the slots in order; one beyond the
    /// slots allocated at start gets none (the config check refuses a
    /// reload that would need more). The buckets keep their tokens; a
    /// direction whose limit is lifted passes everything from the next
    /// millisecond (an unlimited bucket refills to the brim each one).
    pub fn apply<'a>(&mut self, limits: impl IntoIterator<Item = Option<&'a Bitrate>>) {
        self.slot_of = [NO_SLOT; 256];
        let mut next = 0u8;
        for (t, limit) in limits.into_iter().take(256).enumerate() {
            let Some(b) = limit else { continue };
            if next >= self.slots {
                break;
            }
            self.slot_of[t] = next;
            self.rates[usize::from(next)] = [shape(b.up), shape(b.down)];
            next += 1;
        }
    }

    /// The slot of type `ty`, if it has a limit.
    #[inline]
    pub fn slot(&self, ty: u8) -> Option<usize> {
        let s = self.slot_of[usize::from(ty)];
        (s != NO_SLOT).then_some(usize::from(s))
    }

    /// The rates of `slot`, up and down.
    #[inline]
    pub fn rates(&self, slot: usize) -> &[Shape; 2] {
        &self.rates[slot % MAX_LIMITED_TYPES]
    }

    /// Whether every bucket of one session ID's `buckets` (all its slots)
    /// is full by `now_ms`: forgetting them then changes nothing.
    pub fn all_full(&self, buckets: &mut [TypeBuckets], now_ms: u64) -> bool {
        buckets.iter_mut().zip(&self.rates).all(|(b, rates)| {
            b.iter_mut()
                .zip(rates)
                .all(|(b, r)| !r.is_limited() || b.is_full(r, now_ms))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shaping::{Meter, Rate};
    use crate::tier2::Direction;
    use proptest::prelude::*;

    fn down(bytes_per_s: u64, burst_bytes: u64) -> Bitrate {
        Bitrate {
            up: None,
            down: Some(Rate {
                bytes_per_s,
                burst_bytes,
            }),
        }
    }

    #[test]
    fn limited_types_get_slots_in_order_up_to_the_allocation() {
        let video = down(625_000, 64_000);
        let bulk = down(125_000, 64_000);
        let mut l = TypeLimits::new(1);
        l.apply([None, Some(&video), None, Some(&bulk)]);
        assert_eq!(l.slot(0), None);
        assert_eq!(l.slot(1), Some(0));
        assert_eq!(l.slot(3), None, "one slot allocated");
        assert_eq!(l.rates(0)[1].per_ms, 625_000);
        assert_eq!(l.rates(0)[0], Shape::UNLIMITED);
        let mut l = TypeLimits::new(2);
        l.apply([None, Some(&video), None, Some(&bulk)]);
        assert_eq!(l.slot(3), Some(1));
        l.apply([None, None, None, None]);
        assert_eq!((l.slot(1), l.slot(3)), (None, None), "a reload lifts them");
    }

    #[test]
    fn a_packet_one_bucket_refuses_takes_nothing_from_the_other() {
        // Type: 1000 bytes a ms; subscriber: 100 bytes a ms; both 20 000 deep.
        let ty_rate = Rate {
            bytes_per_s: 1_000_000,
            burst_bytes: 20_000,
        };
        let sub_rate = Rate {
            bytes_per_s: 100_000,
            burst_bytes: 20_000,
        };
        let mut m = Meter::EMPTY;
        m.apply(
            Some(Bitrate {
                up: None,
                down: Some(sub_rate),
            }),
            1,
        );
        let mut ty: TypeBuckets = [TokenBucket::new(); 2];
        let rates = [Shape::UNLIMITED, ty_rate.shape()];
        // The type bucket is emptied by the type's own packets...
        assert!(ty[1].take(&ty_rate, 0, 20_000));
        // ...so this packet is refused, and the subscriber keeps its tokens.
        assert!(!m.take_with(Some((&mut ty, &rates)), Direction::ToClient, 5000, 0));
        assert!(m.take(Direction::ToClient, 20_000, 0), "all 20 000 left");
        // 10 ms later the type has 10 000 again, the subscriber 1000: the
        // subscriber refuses, and the type keeps its 10 000.
        assert!(!m.take_with(Some((&mut ty, &rates)), Direction::ToClient, 5000, 10));
        assert_eq!(ty[1].available_bytes(&ty_rate, 10), 10_000);
        // Up is limited by neither.
        assert!(m.take_with(Some((&mut ty, &rates)), Direction::ToServer, 9000, 10));
    }

    proptest! {
        /// A type limit never lets more through than its rate x time +
        /// burst while a looser subscriber limit is configured too, over
        /// any packet sequence, and the stricter of the two governs: the
        /// bytes that pass stay within both bounds, in both orders of
        /// strictness.
        #[test]
        fn the_stricter_of_type_and_subscriber_governs(
            type_bps in 1_000u64..5_000_000,
            sub_bps in 1_000u64..5_000_000,
            type_burst in 1u64..100_000,
            sub_burst in 1u64..100_000,
            other_share in 0u8..4,
            packets in proptest::collection::vec((0u64..20, 40u32..9000, 0u8..4), 1..400),
        ) {
            let ty_rate = Rate { bytes_per_s: type_bps, burst_bytes: type_burst };
            let sub_rate = Rate { bytes_per_s: sub_bps, burst_bytes: sub_burst };
            let mut m = Meter::EMPTY;
            m.apply(Some(Bitrate { up: None, down: Some(sub_rate) }), 1);
            let mut limits = TypeLimits::new(1);
            limits.apply([None, Some(&Bitrate { up: None, down: Some(ty_rate) })]);
            let mut buckets = [[TokenBucket::new(); 2]; 1];
            let mut now = 7u64;
            let start = now;
            let (mut typed, mut all) = (0u128, 0u128);
            for (gap, len, pick) in packets {
                now += gap;
                // Some packets are of the unlimited type 0 (subscriber only).
                let t = u8::from(pick >= other_share);
                let ty = limits
                    .slot(t)
                    .map(|s| (&mut buckets[s], limits.rates(s)));
                if m.take_with(ty, Direction::ToClient, len, now) {
                    all += u128::from(len);
                    if t == 1 {
                        typed += u128::from(len);
                    }
                }
                let elapsed = u128::from(now - start);
                let ty_bound = u128::from(ty_rate.effective_burst())
                    + u128::from(type_bps) * elapsed / 1000;
                let sub_bound = u128::from(sub_rate.effective_burst())
                    + u128::from(sub_bps) * elapsed / 1000;
                prop_assert!(typed <= ty_bound, "type: {typed} > {ty_bound}");
                prop_assert!(typed <= ty_bound.min(sub_bound), "stricter: {typed}");
                prop_assert!(all <= sub_bound, "subscriber: {all} > {sub_bound}");
            }
        }

        /// A greedy sender of the limited type gets the stricter rate (not
        /// less: a refusal by one bucket never wastes the other's tokens).
        #[test]
        fn a_greedy_sender_gets_the_stricter_rate(
            type_kbit in 100u64..50_000,
            sub_kbit in 100u64..50_000,
        ) {
            let ty_rate = Rate::from_bits_per_s(type_kbit * 1000, 0);
            let sub_rate = Rate::from_bits_per_s(sub_kbit * 1000, 0);
            let mut m = Meter::EMPTY;
            m.apply(Some(Bitrate { up: Some(sub_rate), down: None }), 1);
            let rates = [ty_rate.shape(), Shape::UNLIMITED];
            let mut ty: TypeBuckets = [TokenBucket::new(); 2];
            let (len, secs) = (1500u32, 2u64);
            let mut passed = 0u128;
            for ms in 0..=secs * 1000 {
                while m.take_with(Some((&mut ty, &rates)), Direction::ToServer, len, ms) {
                    passed += u128::from(len);
                }
            }
            let stricter = ty_rate.bytes_per_s.min(sub_rate.bytes_per_s);
            let want = u128::from(stricter) * u128::from(secs);
            prop_assert!(passed + u128::from(len) >= want, "{passed} < {want}");
            let burst = ty_rate.effective_burst().max(sub_rate.effective_burst());
            prop_assert!(passed <= want + u128::from(burst));
        }
    }
}
