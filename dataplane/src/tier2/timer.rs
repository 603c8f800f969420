//! Idle-expiry timers of one core's user sessions: a hashed timing wheel
//! over slab indices.
//!
//! Each armed index sits in the slot of its deadline's tick, in an intrusive
//! doubly-linked list kept in arrays sized once at construction, so arming,
//! disarming and firing are O(1) and never allocate. Packets do not touch
//! the wheel: they only move the session's `last_seen_ms`. When a deadline
//! comes round, `advance` asks the caller, which either re-arms the index at
//! the session's new deadline or expires it (lazy re-arming).
//!
//! A deadline more than one revolution away simply waits in its slot and is
//! skipped each time the slot comes round early. `advance` processes a tick
//! only once it has fully passed, so an entry fires no earlier than its
//! deadline and, given enough budget, no later than one tick after it.

/// Index meaning "none" in the link arrays.
const NIL: u32 = u32::MAX;

/// Hashed timing wheel over indices `0..capacity`.
#[derive(Debug)]
pub struct TimerWheel {
    tick_ms: u64,
    /// First and last index linked in each slot.
    heads: Box<[u32]>,
    tails: Box<[u32]>,
    next: Box<[u32]>,
    prev: Box<[u32]>,
    /// Slot each index is linked in; `NIL` when not armed.
    slot_of: Box<[u32]>,
    /// Deadline of each armed index (never before the tick it is in).
    deadline_ms: Box<[u64]>,
    /// Every tick before this one has been processed.
    cur_tick: u64,
    /// Processing of `cur_tick`'s slot has started and stopped for budget;
    /// `cursor` is the next index to look at there (`NIL`: slot finished).
    mid_slot: bool,
    cursor: u32,
    armed: u32,
}

impl TimerWheel {
    /// A wheel for indices `0..capacity` (at most `u32::MAX - 1`) with
    /// `n_slots` slots of `tick_ms` each, starting at time `start_ms`.
    /// A zero tick or slot count is taken as 1.
    /// Bytes [`new`](Self::new) allocates for these sizes (without
    /// allocating).
    pub fn preallocated_bytes(capacity: u32, n_slots: u32) -> u64 {
        let capacity = u64::from(capacity.min(NIL - 1));
        let n_slots = u64::from(n_slots.clamp(1, NIL - 1));
        n_slots * 2 * 4 + capacity * (3 * 4 + 8)
    }

    pub fn new(capacity: u32, tick_ms: u64, n_slots: u32, start_ms: u64) -> TimerWheel {
        let capacity = capacity.min(NIL - 1) as usize;
        let n_slots = n_slots.clamp(1, NIL - 1) as usize;
        let tick_ms = tick_ms.max(1);
        TimerWheel {
            tick_ms,
            heads: vec![NIL; n_slots].into_boxed_slice(),
            tails: vec![NIL; n_slots].into_boxed_slice(),
            next: vec![NIL; capacity].into_boxed_slice(),
            prev: vec![NIL; capacity].into_boxed_slice(),
            slot_of: vec![NIL; capacity].into_boxed_slice(),
            deadline_ms: vec![0; capacity].into_boxed_slice(),
            cur_tick: start_ms / tick_ms,
            mid_slot: false,
            cursor: NIL,
            armed: 0,
        }
    }

    #[inline]
    fn slot_for_tick(&self, tick: u64) -> usize {
        (tick % self.heads.len() as u64) as usize
    }

    /// Appends `idx` (not armed) to the slot of `deadline_ms`, but no earlier
    /// than tick `min_tick`.
    #[inline]
    fn link(&mut self, idx: u32, deadline_ms: u64, min_tick: u64) {
        let tick = (deadline_ms / self.tick_ms).max(min_tick);
        let deadline_ms = deadline_ms.max(min_tick.saturating_mul(self.tick_ms));
        let slot = self.slot_for_tick(tick);
        let i = idx as usize;
        let tail = self.tails[slot];
        self.prev[i] = tail;
        self.next[i] = NIL;
        if tail == NIL {
            self.heads[slot] = idx;
        } else {
            self.next[tail as usize] = idx;
        }
        self.tails[slot] = idx;
        self.slot_of[i] = slot as u32;
        self.deadline_ms[i] = deadline_ms;
        self.armed += 1;
        // Appended behind a finished scan of the slot being processed: make
        // sure the scan picks it up.
        if self.mid_slot && self.cursor == NIL && slot == self.slot_for_tick(self.cur_tick) {
            self.cursor = idx;
        }
    }

    /// Takes `idx` (armed) out of its slot.
    #[inline]
    fn unlink(&mut self, idx: u32) {
        let i = idx as usize;
        let slot = self.slot_of[i] as usize;
        let (prev, next) = (self.prev[i], self.next[i]);
        if prev == NIL {
            self.heads[slot] = next;
        } else {
            self.next[prev as usize] = next;
        }
        if next == NIL {
            self.tails[slot] = prev;
        } else {
            self.prev[next as usize] = prev;
        }
        if self.cursor == idx {
            self.cursor = next;
        }
        self.slot_of[i] = NIL;
        self.prev[i] = NIL;
        self.next[i] = NIL;
        self.armed -= 1;
    }

    /// Arms (or re-arms) `idx` to fire at `deadline_ms`. A deadline already
    /// passed fires at the next tick processed. False when `idx` is out of
    /// range.
    #[inline]
    pub fn arm(&mut self, idx: u32, deadline_ms: u64) -> bool {
        if idx as usize >= self.slot_of.len() {
            return false;
        }
        if self.slot_of[idx as usize] != NIL {
            self.unlink(idx);
        }
        self.link(idx, deadline_ms, self.cur_tick);
        true
    }

    /// Disarms `idx`; returns whether it was armed.
    #[inline]
    pub fn disarm(&mut self, idx: u32) -> bool {
        if !self.is_armed(idx) {
            return false;
        }
        self.unlink(idx);
        true
    }

    #[inline]
    pub fn is_armed(&self, idx: u32) -> bool {
        self.slot_of
            .get(idx as usize)
            .is_some_and(|&slot| slot != NIL)
    }

    /// The deadline `idx` is armed for (raised to the current tick if it was
    /// armed in the past).
    pub fn deadline_of(&self, idx: u32) -> Option<u64> {
        self.is_armed(idx).then(|| self.deadline_ms[idx as usize])
    }

    /// Armed indices.
    pub fn len(&self) -> u32 {
        self.armed
    }

    pub fn is_empty(&self) -> bool {
        self.armed == 0
    }

    pub fn capacity(&self) -> u32 {
        self.slot_of.len() as u32
    }

    pub fn tick_ms(&self) -> u64 {
        self.tick_ms
    }

    /// Processes every tick that ended by `now_ms`: each due index is
    /// disarmed and passed to `on_due`, which returns `Some(deadline)` to
    /// re-arm it (the session saw traffic since) or `None` when the caller
    /// expired it.
    ///
    /// `budget` bounds the work of one call: one unit per index looked at
    /// (so at most `budget` calls of `on_due`) and one per tick passed. The
    /// next call resumes exactly where this one stopped. Returns the number
    /// of `on_due` calls. A re-arm deadline that is not in the future is
    /// moved to the next tick, so it cannot fire twice in one pass.
    /// The tick the wheel has walked up to (ticks are `now_ms / tick_ms`).
    #[inline]
    pub fn current_tick(&self) -> u64 {
        self.cur_tick
    }

    pub fn advance(
        &mut self,
        now_ms: u64,
        budget: usize,
        mut on_due: impl FnMut(u32) -> Option<u64>,
    ) -> usize {
        let target_tick = now_ms / self.tick_ms;
        let mut work = 0usize;
        let mut fired = 0usize;
        while self.cur_tick < target_tick {
            if self.armed == 0 && !self.mid_slot {
                // Nothing can be due: skip the empty ticks at once.
                self.cur_tick = target_tick;
                break;
            }
            let slot = self.slot_for_tick(self.cur_tick);
            if !self.mid_slot {
                self.cursor = self.heads[slot];
                self.mid_slot = true;
            }
            let tick_end_ms = (self.cur_tick + 1).saturating_mul(self.tick_ms);
            while self.cursor != NIL {
                if work >= budget {
                    return fired;
                }
                work += 1;
                let idx = self.cursor;
                self.cursor = self.next[idx as usize];
                if self.deadline_ms[idx as usize] < tick_end_ms {
                    self.unlink(idx);
                    fired += 1;
                    if let Some(deadline_ms) = on_due(idx) {
                        self.link(idx, deadline_ms, self.cur_tick + 1);
                    }
                }
            }
            if work >= budget {
                return fired;
            }
            work += 1;
            self.mid_slot = false;
            self.cur_tick += 1;
        }
        fired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_after_deadline_within_one_tick() {
        let mut w = TimerWheel::new(8, 100, 16, 0);
        assert!(w.arm(3, 250));
        let mut fired = Vec::new();
        w.advance(250, usize::MAX, |i| {
            fired.push(i);
            None
        });
        assert!(fired.is_empty(), "tick 2 (200..300) has not ended");
        w.advance(299, usize::MAX, |i| {
            fired.push(i);
            None
        });
        assert!(fired.is_empty());
        w.advance(300, usize::MAX, |i| {
            fired.push(i);
            None
        });
        assert_eq!(fired, vec![3]);
        assert!(!w.is_armed(3));
        assert!(w.is_empty());
    }

    #[test]
    fn deadlines_beyond_one_revolution_wait() {
        // 4 slots of 10 ms: one revolution is 40 ms.
        let mut w = TimerWheel::new(4, 10, 4, 0);
        w.arm(0, 105);
        w.arm(1, 15);
        let mut fired = Vec::new();
        let record = |now: u64, w: &mut TimerWheel, fired: &mut Vec<(u64, u32)>| {
            w.advance(now, usize::MAX, |i| {
                fired.push((now, i));
                None
            });
        };
        for now in (0..=120).step_by(5) {
            record(now, &mut w, &mut fired);
        }
        assert_eq!(fired, vec![(20, 1), (110, 0)]);
    }

    #[test]
    fn rearm_from_callback_and_disarm() {
        let mut w = TimerWheel::new(4, 100, 8, 1000);
        w.arm(0, 1100);
        w.arm(1, 1100);
        w.arm(2, 1100);
        assert!(w.disarm(2));
        assert!(!w.disarm(2));
        let mut seen = Vec::new();
        // Index 0 saw traffic: push its deadline out; index 1 expires.
        w.advance(1200, usize::MAX, |i| {
            seen.push(i);
            (i == 0).then_some(1500)
        });
        assert_eq!(seen, vec![0, 1]);
        assert!(w.is_armed(0));
        assert_eq!(w.deadline_of(0), Some(1500));
        assert!(!w.is_armed(1));
        seen.clear();
        w.advance(1599, usize::MAX, |i| {
            seen.push(i);
            None
        });
        assert!(seen.is_empty());
        w.advance(1600, usize::MAX, |i| {
            seen.push(i);
            None
        });
        assert_eq!(seen, vec![0]);
    }

    #[test]
    fn past_deadline_fires_at_next_tick_and_rearm_in_past_waits_a_tick() {
        let mut w = TimerWheel::new(2, 100, 8, 0);
        w.advance(1000, usize::MAX, |_| None);
        w.arm(0, 10); // long gone
        let mut calls = 0;
        w.advance(1099, usize::MAX, |_| {
            calls += 1;
            None
        });
        assert_eq!(calls, 0);
        // Fires once at 1100 although the callback keeps returning a past
        // deadline: the re-arm goes to the next tick.
        w.advance(1100, usize::MAX, |_| {
            calls += 1;
            Some(0)
        });
        assert_eq!(calls, 1);
        w.advance(1200, usize::MAX, |_| {
            calls += 1;
            None
        });
        assert_eq!(calls, 2);
    }

    #[test]
    fn budget_bounds_callbacks_and_work_resumes() {
        let mut w = TimerWheel::new(100, 100, 16, 0);
        for i in 0..100 {
            w.arm(i, 50 + u64::from(i % 3) * 100);
        }
        let mut fired = Vec::new();
        let mut calls = 0;
        while !w.is_empty() {
            let n = w.advance(10_000, 7, |i| {
                fired.push(i);
                None
            });
            assert!(n <= 7);
            calls += 1;
            assert!(calls < 100, "no progress");
        }
        fired.sort_unstable();
        assert_eq!(fired, (0..100).collect::<Vec<_>>());
        assert_eq!(w.advance(10_000, 0, |_| panic!("no budget")), 0);
    }

    #[test]
    fn arm_into_the_slot_being_scanned_is_not_missed() {
        let mut w = TimerWheel::new(8, 100, 4, 0);
        w.arm(0, 10);
        w.arm(1, 20);
        // Budget 1: look at index 0 only, stop inside tick 0's slot.
        assert_eq!(w.advance(100, 1, |_| None), 1);
        // Disarm the next one (the resume point) and arm a new one due in
        // the same tick: the scan must still reach it.
        assert!(w.disarm(1));
        w.arm(2, 30);
        let mut seen = Vec::new();
        w.advance(100, usize::MAX, |i| {
            seen.push(i);
            None
        });
        assert_eq!(seen, vec![2]);
    }

    #[test]
    fn out_of_range_index_is_refused() {
        let mut w = TimerWheel::new(2, 100, 4, 0);
        assert!(!w.arm(2, 100));
        assert!(!w.disarm(5));
        assert!(!w.is_armed(5));
        assert_eq!(w.deadline_of(5), None);
    }

    #[test]
    fn idle_wheel_skips_long_gaps_at_once() {
        let mut w = TimerWheel::new(2, 1, 4, 0);
        // A billion empty ticks cost nothing when nothing is armed.
        assert_eq!(w.advance(1_000_000_000, 1, |_| None), 0);
        w.arm(0, 1_000_000_005);
        assert_eq!(w.advance(1_000_000_005, usize::MAX, |_| None), 0);
        assert_eq!(w.advance(1_000_000_006, usize::MAX, |_| None), 1);
    }
}
