//! A token bucket per direction of a subscriber's traffic.
//!
//! The pipeline's clock is in milliseconds, so tokens are kept in
//! milli-bytes: one millisecond at a rate of `R` bytes per second adds
//! exactly `R` milli-bytes, with no rounding and no drift however the
//! packets fall between ticks. A bucket is 16 bytes (tokens, last refill);
//! its rate and burst live in the policy, shared by every bucket of that
//! policy, so a change of rate applies to live subscribers at the next
//! packet.

/// A rate limit: sustained bytes per second and the largest burst.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Sustained rate, bytes per second (> 0).
    pub bytes_per_s: u64,
    /// Bucket depth, bytes: what may pass at once after a pause.
    pub burst_bytes: u64,
}

impl Rate {
    /// A rate from bits per second; the burst is `burst_bytes`, at least one
    /// full-size frame so that a limit never blocks a packet forever.
    pub fn from_bits_per_s(bits_per_s: u64, burst_bytes: u64) -> Rate {
        Rate {
            bytes_per_s: (bits_per_s / 8).max(1),
            burst_bytes: burst_bytes.max(MIN_BURST_BYTES),
        }
    }

    /// The burst the bucket really holds: at least what one millisecond at
    /// the rate brings plus one jumbo frame. The pipeline's clock ticks in
    /// milliseconds, so a shallower bucket would overflow at each tick and
    /// a greedy sender would get less than the rate.
    #[inline]
    pub fn effective_burst(&self) -> u64 {
        self.burst_bytes
            .max((self.bytes_per_s / 1000).saturating_add(MIN_BURST_BYTES))
    }

    /// The rate as a bucket uses it, computed once (when a meter takes
    /// its rates), not per packet.
    #[inline]
    pub fn shape(&self) -> Shape {
        Shape {
            per_ms: self.bytes_per_s,
            // Saturating: a burst this large is unlimited in practice.
            depth: self.effective_burst().saturating_mul(1000),
        }
    }
}

/// A [`Rate`] in the units of the bucket: milli-bytes added per
/// millisecond (= bytes per second) and the depth in milli-bytes.
/// [`Shape::UNLIMITED`] is a bucket that is never short (it refills to
/// `u64::MAX` at every millisecond, more than 10^13 frames), so the
/// established path needs no test for "not limited".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub per_ms: u64,
    pub depth: u64,
}

impl Shape {
    /// A direction without a limit.
    pub const UNLIMITED: Shape = Shape {
        per_ms: u64::MAX,
        depth: u64::MAX,
    };

    #[inline]
    pub fn is_limited(&self) -> bool {
        self.depth != u64::MAX
    }
}

/// The smallest burst: one jumbo frame, so every frame can pass eventually.
pub const MIN_BURST_BYTES: u64 = 9216;

/// Tokens and the time they were last added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenBucket {
    /// Milli-bytes available now; `u64::MAX` in a bucket that has not seen
    /// a packet yet, so that its first refill fills it to the depth.
    tokens: u64,
    /// When tokens were last added (ms).
    last_ms: u64,
}

impl Default for TokenBucket {
    fn default() -> Self {
        TokenBucket::new()
    }
}

impl TokenBucket {
    /// A bucket that has not been used yet; it starts full at its first packet.
    pub const fn new() -> TokenBucket {
        TokenBucket {
            tokens: u64::MAX,
            last_ms: 0,
        }
    }

    #[inline]
    fn refill(&mut self, shape: &Shape, now_ms: u64) {
        // A clock that goes backwards adds nothing (and does not move
        // `last_ms` back, which would add the same time twice later).
        let elapsed = now_ms.saturating_sub(self.last_ms);
        if elapsed > 0 {
            let add = elapsed.saturating_mul(shape.per_ms);
            self.tokens = self.tokens.saturating_add(add).min(shape.depth);
            self.last_ms = now_ms;
        } else if self.tokens > shape.depth {
            // A new bucket, or the burst was lowered by a policy change.
            self.tokens = shape.depth;
        }
    }

    /// Takes `len` bytes from the bucket if they are there (the packet
    /// conforms) and returns true; otherwise takes nothing and returns false.
    #[inline]
    pub fn take(&mut self, rate: &Rate, now_ms: u64, len: usize) -> bool {
        let need = (len as u64).saturating_mul(1000);
        if self.fits(&rate.shape(), now_ms, need) {
            self.spend(need);
            true
        } else {
            false
        }
    }

    /// Whether `need_milli` milli-bytes are there by `now_ms`, taking
    /// nothing: a packet that must pass two buckets asks both before it
    /// [`spend`](Self::spend)s from either.
    #[inline]
    pub fn fits(&mut self, shape: &Shape, now_ms: u64, need_milli: u64) -> bool {
        self.refill(shape, now_ms);
        self.tokens >= need_milli
    }

    /// Takes `need_milli` milli-bytes that [`fits`](Self::fits) found.
    #[inline]
    pub fn spend(&mut self, need_milli: u64) {
        self.tokens = self.tokens.saturating_sub(need_milli);
    }

    /// Whether the bucket is full by `now_ms` (forgetting it then changes
    /// nothing: a new one starts full).
    #[inline]
    pub fn is_full(&mut self, shape: &Shape, now_ms: u64) -> bool {
        self.refill(shape, now_ms);
        self.tokens >= shape.depth
    }

    /// Whole bytes available now (for `ctl` and tests).
    pub fn available_bytes(&mut self, rate: &Rate, now_ms: u64) -> u64 {
        self.available(&rate.shape(), now_ms)
    }

    /// [`available_bytes`](Self::available_bytes) at a [`Shape`].
    pub fn available(&mut self, shape: &Shape, now_ms: u64) -> u64 {
        self.refill(shape, now_ms);
        self.tokens / 1000
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MBIT10: Rate = Rate {
        bytes_per_s: 1_250_000,
        burst_bytes: 12_500,
    };

    #[test]
    fn a_new_bucket_starts_full_then_refills_at_the_rate() {
        let mut b = TokenBucket::new();
        // 12 500 bytes of burst: eight 1500-byte packets pass, the ninth not.
        let passed = (0..9).filter(|_| b.take(&MBIT10, 1000, 1500)).count();
        assert_eq!(passed, 8);
        // 1 ms later: 1250 bytes more, so 500 + 1250 = 1750 -> one packet.
        assert!(b.take(&MBIT10, 1001, 1500));
        assert!(!b.take(&MBIT10, 1001, 1500));
        assert_eq!(b.available_bytes(&MBIT10, 1001), 250);
    }

    #[test]
    fn a_long_pause_fills_to_the_burst_and_no_more() {
        let mut b = TokenBucket::new();
        assert!(b.take(&MBIT10, 0, 12_500));
        assert_eq!(b.available_bytes(&MBIT10, 3_600_000), 12_500);
    }

    #[test]
    fn a_clock_going_backwards_adds_nothing() {
        let mut b = TokenBucket::new();
        assert!(b.take(&MBIT10, 5000, 12_500));
        assert_eq!(b.available_bytes(&MBIT10, 4000), 0);
        // Only the time since 5000 counts, once.
        assert_eq!(b.available_bytes(&MBIT10, 5002), 2500);
    }

    #[test]
    fn a_lowered_burst_applies_at_the_next_packet() {
        let mut b = TokenBucket::new();
        let deep = Rate {
            burst_bytes: 100_000,
            ..MBIT10
        };
        assert_eq!(b.available_bytes(&deep, 0), 100_000);
        assert_eq!(b.available_bytes(&MBIT10, 0), 12_500);
    }

    #[test]
    fn the_burst_holds_at_least_a_millisecond_and_a_frame() {
        // 200 Mbit/s = 25 000 bytes a millisecond.
        let r = Rate::from_bits_per_s(200_000_000, 1500);
        assert_eq!(r.effective_burst(), 25_000 + MIN_BURST_BYTES);
        assert_eq!(MBIT10.effective_burst(), 12_500);
    }

    #[test]
    fn a_bucket_is_16_bytes() {
        assert_eq!(std::mem::size_of::<TokenBucket>(), 16);
    }

    #[test]
    fn from_bits_keeps_a_frame_sized_burst() {
        let r = Rate::from_bits_per_s(1_000_000, 0);
        assert_eq!(r.bytes_per_s, 125_000);
        assert_eq!(r.burst_bytes, MIN_BURST_BYTES);
    }

    proptest! {
        /// Over any sequence of packets at any times, the bytes that pass
        /// between the first packet and the last are at most
        /// burst + rate x elapsed: the promise an operator measures.
        #[test]
        fn never_more_than_rate_times_time_plus_burst(
            bytes_per_s in 1u64..50_000_000,
            burst_bytes in 1u64..200_000,
            start in 0u64..1_000_000,
            packets in proptest::collection::vec((0u64..50, 1usize..9000), 1..400),
        ) {
            let rate = Rate { bytes_per_s, burst_bytes };
            let mut b = TokenBucket::new();
            let mut now = start;
            let mut passed: u128 = 0;
            for (gap, len) in packets {
                now += gap;
                if b.take(&rate, now, len) {
                    passed += len as u128;
                }
                let bound = u128::from(rate.effective_burst())
                    + u128::from(bytes_per_s) * u128::from(now - start) / 1000;
                prop_assert!(passed <= bound, "{passed} > {bound}");
            }
        }

        /// A sender that offers more than the rate gets the rate: after the
        /// burst, at least rate x time minus one packet passes.
        #[test]
        fn a_greedy_sender_gets_the_rate(
            kbit in 100u64..200_000,
            len in 64usize..1500,
        ) {
            let rate = Rate::from_bits_per_s(kbit * 1000, 0);
            let mut b = TokenBucket::new();
            let mut passed: u128 = 0;
            let secs = 2u64;
            for ms in 0..=secs * 1000 {
                while b.take(&rate, ms, len) {
                    passed += len as u128;
                }
            }
            let want = u128::from(rate.bytes_per_s) * u128::from(secs);
            prop_assert!(passed + len as u128 >= want, "{passed} < {want}");
            prop_assert!(passed <= want + u128::from(rate.effective_burst()));
        }
    }
}
