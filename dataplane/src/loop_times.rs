//! How long a worker's loop iterations take, for the operator.
//!
//! A worker that spends too long in one iteration (a huge burst, a control
//! command walking the session table, a slow timer round) leaves frames
//! waiting in the NIC's receive ring, where they are dropped once it fills.
//! The worker records the busy part of every iteration (idle back-off sleeps
//! are not counted) into a fixed histogram and a "longest since last read"
//! value; the control plane exports both (Prometheus
//! `tandem_worker_loop_seconds` and `tandem_worker_loop_max_seconds`).
//!
//! One writer (the worker): recording is a few compares and relaxed
//! load/store pairs, no read-modify-write. The reader takes the maximum with
//! a `swap(0)`; a worker that loaded the old maximum just before that swap
//! stores its own measurement only if it is larger than what it loaded, so
//! the value after a read is always a real iteration of the new interval,
//! never a stale one.

use crate::counters::Counter;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds of the histogram buckets, in nanoseconds (the last bucket,
/// +Inf, is implicit).
pub const LOOP_BUCKETS_NS: [u64; 10] = [
    10_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000,
    50_000_000,
];

/// Loop-iteration times of one worker.
#[derive(Debug, Default)]
pub struct LoopTimes {
    /// Iterations per bucket (not cumulative); the last is +Inf.
    buckets: [Counter; LOOP_BUCKETS_NS.len() + 1],
    count: Counter,
    sum_ns: Counter,
    max_ns: AtomicU64,
}

/// A copy of the histogram with cumulative buckets, as Prometheus wants it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoopHistogram {
    /// `cumulative[i]`: iterations that took at most `LOOP_BUCKETS_NS[i]`;
    /// the last entry is every iteration (+Inf).
    pub cumulative: Vec<u64>,
    pub count: u64,
    pub sum_ns: u64,
}

impl LoopTimes {
    /// Records one iteration that was busy for `ns` nanoseconds (worker only).
    #[inline]
    pub fn record(&self, ns: u64) {
        let i = LOOP_BUCKETS_NS
            .iter()
            .position(|&b| ns <= b)
            .unwrap_or(LOOP_BUCKETS_NS.len());
        self.buckets[i].inc();
        self.count.inc();
        self.sum_ns.add(ns);
        if ns > self.max_ns.load(Ordering::Relaxed) {
            self.max_ns.store(ns, Ordering::Relaxed);
        }
    }

    /// The longest iteration since the previous call, and starts a new
    /// interval (control plane).
    pub fn take_max_ns(&self) -> u64 {
        self.max_ns.swap(0, Ordering::Relaxed)
    }

    /// The longest iteration of the current interval, without starting a new
    /// one.
    pub fn peek_max_ns(&self) -> u64 {
        self.max_ns.load(Ordering::Relaxed)
    }

    pub fn histogram(&self) -> LoopHistogram {
        let mut cumulative = Vec::with_capacity(self.buckets.len());
        let mut total = 0;
        for b in &self.buckets {
            total += b.get();
            cumulative.push(total);
        }
        LoopHistogram {
            cumulative,
            count: self.count.get(),
            sum_ns: self.sum_ns.get(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_bounds_inclusive() {
        let t = LoopTimes::default();
        for ns in [5_000, 10_000, 10_001, 900_000, 60_000_000] {
            t.record(ns);
        }
        let h = t.histogram();
        assert_eq!(h.count, 5);
        assert_eq!(h.sum_ns, 5_000 + 10_000 + 10_001 + 900_000 + 60_000_000);
        // <= 10 us: 5 000 and 10 000 (the bound is inclusive).
        assert_eq!(h.cumulative[0], 2);
        // <= 50 us adds 10 001.
        assert_eq!(h.cumulative[1], 3);
        // <= 1 ms (index 5) adds 900 000.
        assert_eq!(h.cumulative[5], 4);
        // 60 ms only in +Inf.
        assert_eq!(h.cumulative[LOOP_BUCKETS_NS.len() - 1], 4);
        assert_eq!(*h.cumulative.last().unwrap(), 5);
    }

    #[test]
    fn max_is_per_interval() {
        let t = LoopTimes::default();
        t.record(3_000);
        t.record(7_000);
        t.record(2_000);
        assert_eq!(t.peek_max_ns(), 7_000);
        assert_eq!(t.take_max_ns(), 7_000);
        assert_eq!(t.take_max_ns(), 0, "a read starts a new interval");
        t.record(1_000);
        assert_eq!(t.take_max_ns(), 1_000);
    }
}
