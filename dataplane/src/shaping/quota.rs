//! A subscriber's usage quota: bytes and/or online time per period, the
//! thresholds that emit an interim accounting record when crossed, and
//! what happens when it is used up.
//!
//! The ledger is kept by the control plane, which adds what the workers
//! counted since its last collection; it must survive a reload and take
//! grants and resets from `ctl`, none of which a worker can do. This module
//! is the arithmetic only — plain values, deterministic, no clock of its
//! own — so every rule (crossing order, period roll-over, grants after
//! exhaustion) is tested here.

use super::Bitrate;

/// Most thresholds one quota may have.
pub const MAX_THRESHOLDS: usize = 8;

/// What happens to a subscriber whose quota is used up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnExhausted {
    /// New user sessions are refused and open ones ended.
    Block,
    /// Traffic continues at these rates (up and down; the subscriber's
    /// bitrate meters take them instead of its own `bitrate` limit).
    Throttle(Bitrate),
}

/// A quota as the config gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuotaPlan {
    /// Bytes per period, both directions together.
    pub bytes: Option<u64>,
    /// Online seconds per period (time with at least one live user session).
    pub online_s: Option<u64>,
    /// Length of a period in seconds; 0 = the quota never renews by itself.
    pub period_s: u64,
    /// Percentages of the quota at which an interim record is written,
    /// ascending, each 1..=99 (the first `n_thresholds` are used).
    pub thresholds: [u8; MAX_THRESHOLDS],
    pub n_thresholds: u8,
    pub on_exhausted: OnExhausted,
}

/// What the ledger tells the caller as usage grows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuotaEvent {
    /// This percentage of the quota (bytes or time, whichever is further)
    /// was crossed: write an interim record.
    Threshold(u8),
    /// The quota is used up: apply [`QuotaPlan::on_exhausted`].
    Exhausted,
    /// A new period began (or a reset/grant made room): lift the action.
    Renewed,
}

/// Where a subscriber stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuotaState {
    Open,
    Exhausted(OnExhausted),
}

/// One subscriber's usage in the current period.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Start of the current period (s, the caller's clock).
    pub period_start_s: u64,
    pub bytes: u64,
    pub online_s: u64,
    /// Extra allowance granted through `ctl` for this period.
    pub granted_bytes: u64,
    pub granted_s: u64,
    /// Thresholds already reported this period (bit i = `thresholds[i]`).
    reported: u8,
    exhausted: bool,
}

impl Usage {
    /// A ledger entry whose first period starts at `now_s`.
    pub fn starting(now_s: u64) -> Usage {
        Usage {
            period_start_s: now_s,
            ..Usage::default()
        }
    }

    /// Bytes and seconds left this period (`None` where the plan sets no
    /// limit of that kind).
    pub fn remaining(&self, plan: &QuotaPlan) -> (Option<u64>, Option<u64>) {
        (
            plan.bytes.map(|b| {
                b.saturating_add(self.granted_bytes)
                    .saturating_sub(self.bytes)
            }),
            plan.online_s.map(|s| {
                s.saturating_add(self.granted_s)
                    .saturating_sub(self.online_s)
            }),
        )
    }

    pub fn state(&self, plan: &QuotaPlan) -> QuotaState {
        if self.exhausted {
            QuotaState::Exhausted(plan.on_exhausted)
        } else {
            QuotaState::Open
        }
    }

    /// The furthest use of either limit, in per-mille of the allowance.
    fn used_permille(&self, plan: &QuotaPlan) -> u64 {
        let part = |used: u64, limit: Option<u64>, granted: u64| {
            limit.map_or(0, |l| {
                let total = l.saturating_add(granted);
                if total == 0 {
                    1000
                } else {
                    (u128::from(used) * 1000 / u128::from(total)).min(1000) as u64
                }
            })
        };
        part(self.bytes, plan.bytes, self.granted_bytes).max(part(
            self.online_s,
            plan.online_s,
            self.granted_s,
        ))
    }

    /// Starts a new period if the current one is over; true if it did.
    fn roll(&mut self, plan: &QuotaPlan, now_s: u64) -> bool {
        if plan.period_s == 0 || now_s < self.period_start_s.saturating_add(plan.period_s) {
            return false;
        }
        // Whole periods since the start, so period boundaries stay aligned.
        let periods = (now_s - self.period_start_s) / plan.period_s;
        *self = Usage::starting(self.period_start_s + periods * plan.period_s);
        true
    }

    /// Checks thresholds and exhaustion after usage or allowance changed.
    fn settle(&mut self, plan: &QuotaPlan, was_exhausted: bool, out: &mut impl FnMut(QuotaEvent)) {
        let permille = self.used_permille(plan);
        let n = usize::from(plan.n_thresholds).min(MAX_THRESHOLDS);
        for (i, &pct) in plan.thresholds[..n].iter().enumerate() {
            let bit = 1u8 << i;
            if self.reported & bit == 0 && permille >= u64::from(pct) * 10 {
                self.reported |= bit;
                out(QuotaEvent::Threshold(pct));
            }
        }
        self.exhausted = (plan.bytes.is_some() || plan.online_s.is_some()) && permille >= 1000;
        match (was_exhausted, self.exhausted) {
            (false, true) => out(QuotaEvent::Exhausted),
            (true, false) => out(QuotaEvent::Renewed),
            _ => {}
        }
    }

    /// Adds what was used since the last call (bytes both ways, online
    /// seconds) at `now_s`, and reports crossings in order.
    pub fn add(
        &mut self,
        plan: &QuotaPlan,
        now_s: u64,
        bytes: u64,
        online_s: u64,
        out: &mut impl FnMut(QuotaEvent),
    ) {
        let was = self.exhausted;
        let rolled = self.roll(plan, now_s);
        self.bytes = self.bytes.saturating_add(bytes);
        self.online_s = self.online_s.saturating_add(online_s);
        // A roll-over clears `exhausted`; report it even if the new
        // usage is already enough to exhaust again.
        if rolled && was {
            out(QuotaEvent::Renewed);
            self.settle(plan, false, out);
        } else {
            self.settle(plan, was, out);
        }
    }

    /// Grants extra bytes/seconds for this period (`ctl`).
    pub fn grant(
        &mut self,
        plan: &QuotaPlan,
        bytes: u64,
        secs: u64,
        out: &mut impl FnMut(QuotaEvent),
    ) {
        self.granted_bytes = self.granted_bytes.saturating_add(bytes);
        self.granted_s = self.granted_s.saturating_add(secs);
        let was = self.exhausted;
        self.settle(plan, was, out);
    }

    /// Starts a fresh period now (`ctl`).
    pub fn reset(&mut self, plan: &QuotaPlan, now_s: u64, out: &mut impl FnMut(QuotaEvent)) {
        let was = self.exhausted;
        *self = Usage::starting(now_s);
        self.settle(plan, was, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MB: u64 = 1_000_000;

    fn plan(bytes: Option<u64>, online_s: Option<u64>, period_s: u64, th: &[u8]) -> QuotaPlan {
        let mut thresholds = [0; MAX_THRESHOLDS];
        thresholds[..th.len()].copy_from_slice(th);
        QuotaPlan {
            bytes,
            online_s,
            period_s,
            thresholds,
            n_thresholds: th.len() as u8,
            on_exhausted: OnExhausted::Block,
        }
    }

    fn add(u: &mut Usage, p: &QuotaPlan, now: u64, bytes: u64, secs: u64) -> Vec<QuotaEvent> {
        let mut ev = Vec::new();
        u.add(p, now, bytes, secs, &mut |e| ev.push(e));
        ev
    }

    #[test]
    fn thresholds_then_exhaustion_in_order_each_once() {
        let p = plan(Some(10 * MB), None, 0, &[50, 80]);
        let mut u = Usage::starting(0);
        assert_eq!(add(&mut u, &p, 1, 4 * MB, 0), []);
        assert_eq!(add(&mut u, &p, 2, MB, 0), [QuotaEvent::Threshold(50)]);
        // One jump over the second threshold and the end: both, in order.
        assert_eq!(
            add(&mut u, &p, 3, 6 * MB, 0),
            [QuotaEvent::Threshold(80), QuotaEvent::Exhausted]
        );
        assert_eq!(u.state(&p), QuotaState::Exhausted(OnExhausted::Block));
        assert_eq!(u.remaining(&p), (Some(0), None));
        assert_eq!(add(&mut u, &p, 4, MB, 0), []);
    }

    #[test]
    fn a_grant_lifts_exhaustion_and_a_reset_starts_over() {
        let p = plan(Some(10 * MB), None, 0, &[50]);
        let mut u = Usage::starting(0);
        add(&mut u, &p, 1, 10 * MB, 0);
        let mut ev = Vec::new();
        u.grant(&p, 5 * MB, 0, &mut |e| ev.push(e));
        assert_eq!(ev, [QuotaEvent::Renewed]);
        assert_eq!(u.remaining(&p), (Some(5 * MB), None));
        ev.clear();
        u.reset(&p, 100, &mut |e| ev.push(e));
        assert_eq!(ev, []);
        assert_eq!(u.remaining(&p), (Some(10 * MB), None));
        // Thresholds are reported again in the new period.
        assert_eq!(add(&mut u, &p, 101, 6 * MB, 0), [QuotaEvent::Threshold(50)]);
    }

    #[test]
    fn the_period_rolls_over_on_aligned_boundaries() {
        let p = plan(Some(MB), None, 3600, &[]);
        let mut u = Usage::starting(1000);
        assert_eq!(add(&mut u, &p, 2000, MB, 0), [QuotaEvent::Exhausted]);
        // 2.5 periods later: the period started at 1000 + 2 * 3600.
        assert_eq!(add(&mut u, &p, 1000 + 9000, 10, 0), [QuotaEvent::Renewed]);
        assert_eq!(u.period_start_s, 1000 + 7200);
        assert_eq!(u.bytes, 10);
    }

    #[test]
    fn time_quota_counts_online_seconds() {
        let p = plan(None, Some(60), 0, &[50]);
        let mut u = Usage::starting(0);
        assert_eq!(
            add(&mut u, &p, 30, 10 * MB, 30),
            [QuotaEvent::Threshold(50)]
        );
        assert_eq!(add(&mut u, &p, 60, 0, 30), [QuotaEvent::Exhausted]);
    }

    #[test]
    fn no_limit_never_exhausts() {
        let p = plan(None, None, 0, &[]);
        let mut u = Usage::starting(0);
        assert_eq!(add(&mut u, &p, 1, u64::MAX, u64::MAX), []);
        assert_eq!(u.state(&p), QuotaState::Open);
    }

    proptest! {
        /// Over any usage sequence within one period: every threshold is
        /// reported at most once and only once crossed, Exhausted exactly
        /// when usage reaches the quota, and never before.
        #[test]
        fn events_match_usage(quota in 1u64..1_000_000, th in proptest::collection::btree_set(1u8..100, 0..8),
                              adds in proptest::collection::vec(0u64..200_000, 1..50)) {
            let th: Vec<u8> = th.into_iter().collect();
            let p = plan(Some(quota), None, 0, &th);
            let mut u = Usage::starting(0);
            let mut seen = Vec::new();
            let mut total = 0u64;
            for (i, a) in adds.into_iter().enumerate() {
                total += a;
                for e in add(&mut u, &p, i as u64, a, 0) {
                    match e {
                        QuotaEvent::Threshold(pct) => {
                            prop_assert!(!seen.contains(&pct));
                            prop_assert!(u128::from(total) * 100 >= u128::from(pct) * u128::from(quota));
                            seen.push(pct);
                        }
                        QuotaEvent::Exhausted => prop_assert!(total >= quota),
                        QuotaEvent::Renewed => prop_assert!(false, "no renewal without a new period"),
                    }
                }
                prop_assert_eq!(u.state(&p) != QuotaState::Open, total >= quota);
            }
            // Every crossed threshold was reported.
            for pct in th {
                let crossed = u128::from(total) * 100 >= u128::from(pct) * u128::from(quota);
                prop_assert_eq!(crossed, seen.contains(&pct));
            }
        }
    }
}
