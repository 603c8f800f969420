//! One session ID's bitrate meter: a token bucket per direction and the
//! rates it was last given, kept next to that session ID's admission entry
//! (`tier2::admission`) on its gateway worker. The rates are a copy of the
//! policy snapshot's, tagged with the snapshot's generation, so the
//! established path reads the policy only when a reload has published a new
//! one (once per session ID and reload), never per packet.

use super::{Rate, Shape, TokenBucket, TypeBuckets};
use crate::tier2::Direction;

/// A limit up (terminal → server) and down (server → terminal); `None`:
/// that direction is not limited.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Bitrate {
    pub up: Option<Rate>,
    pub down: Option<Rate>,
}

/// Generation of a meter that has not been given rates yet.
pub const UNSET: u64 = u64::MAX;

/// Buckets and rates of one session ID (72 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meter {
    /// Up, down, as the buckets use them ([`Shape::UNLIMITED`]: none).
    rates: [Shape; 2],
    buckets: [TokenBucket; 2],
    /// The policy generation `rates` come from ([`UNSET`]: none yet).
    pub generation: u64,
}

impl Meter {
    pub const EMPTY: Meter = Meter {
        rates: [Shape::UNLIMITED; 2],
        buckets: [TokenBucket::new(); 2],
        generation: UNSET,
    };

    /// Takes the rates of policy `generation` (`None`: no limit any more).
    /// The buckets keep their tokens: a lower burst applies at the next
    /// packet, a new rate from now on.
    pub fn apply(&mut self, limit: Option<Bitrate>, generation: u64) {
        let b = limit.unwrap_or_default();
        self.rates = [shape(b.up), shape(b.down)];
        for (bucket, rate) in self.buckets.iter_mut().zip(&self.rates) {
            if !rate.is_limited() {
                // No limit any more: at once, not at the next millisecond.
                *bucket = TokenBucket::new();
            }
        }
        self.generation = generation;
    }

    /// Whether a packet of `len` bytes in `dir` conforms (and takes its
    /// tokens if so).
    #[inline]
    pub fn take(&mut self, dir: Direction, len: u32, now_ms: u64) -> bool {
        self.take_with(None, dir, len, now_ms)
    }

    /// Like [`take`](Self::take) for a packet that must also pass the
    /// buckets of its user-session type (`ty`: this session ID's buckets of
    /// that type and the type's rates, up and down). It conforms only if
    /// both buckets hold its bytes, and only then are they taken, from
    /// both: a packet one bucket refuses takes nothing from the other.
    #[inline]
    pub fn take_with(
        &mut self,
        ty: Option<(&mut TypeBuckets, &[Shape; 2])>,
        dir: Direction,
        len: u32,
        now_ms: u64,
    ) -> bool {
        let d = match dir {
            Direction::ToServer => 0,
            Direction::ToClient => 1,
        };
        // A direction without a limit is a bucket that is never short
        // (`Shape::UNLIMITED`): no test for it here.
        let need = u64::from(len) * 1000;
        if !self.buckets[d].fits(&self.rates[d], now_ms, need) {
            return false;
        }
        if let Some((buckets, rates)) = ty {
            if !buckets[d].fits(&rates[d], now_ms, need) {
                return false;
            }
            buckets[d].spend(need);
        }
        self.buckets[d].spend(need);
        true
    }

    /// Whether both buckets are full by `now_ms`: forgetting the meter then
    /// changes nothing (a new one starts full), so the sweep may.
    pub fn is_full(&mut self, now_ms: u64) -> bool {
        (0..2).all(|d| {
            let shape = self.rates[d];
            !shape.is_limited() || self.buckets[d].is_full(&shape, now_ms)
        })
    }
}

/// A direction's rate as a bucket uses it; `None`: not limited.
pub(super) fn shape(rate: Option<Rate>) -> Shape {
    rate.map_or(Shape::UNLIMITED, |r| r.shape())
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: Rate = Rate {
        bytes_per_s: 1_250_000,
        burst_bytes: 12_500,
    };

    #[test]
    fn each_direction_has_its_own_bucket() {
        let mut m = Meter::EMPTY;
        m.apply(
            Some(Bitrate {
                up: Some(R),
                down: None,
            }),
            1,
        );
        assert!(m.take(Direction::ToServer, 12_500, 0));
        assert!(!m.take(Direction::ToServer, 1, 0), "up is empty");
        assert!(m.take(Direction::ToClient, 1_000_000, 0), "down unlimited");
        assert!(!m.is_full(5));
        assert!(m.is_full(10), "10 ms refill 12 500 bytes");
    }

    #[test]
    fn a_new_rate_applies_at_once_and_none_lifts_the_limit() {
        let mut m = Meter::EMPTY;
        m.apply(
            Some(Bitrate {
                up: None,
                down: Some(R),
            }),
            1,
        );
        assert!(m.take(Direction::ToClient, 12_500, 0));
        assert!(!m.take(Direction::ToClient, 1_250, 0));
        let double = Rate {
            bytes_per_s: 2_500_000,
            ..R
        };
        m.apply(
            Some(Bitrate {
                up: None,
                down: Some(double),
            }),
            2,
        );
        // 1 ms at the new rate: 2 500 bytes.
        assert!(m.take(Direction::ToClient, 2_500, 1));
        assert!(!m.take(Direction::ToClient, 1, 1));
        m.apply(None, 3);
        assert!(m.take(Direction::ToClient, 9000, 1));
        assert!(m.is_full(1));
    }

    #[test]
    fn a_meter_is_72_bytes() {
        assert_eq!(std::mem::size_of::<Meter>(), 72);
    }
}
