//! The usage-quota ledger the control plane keeps (issue 15): what each
//! session ID with a quota has used this period, from the workers' usage
//! reports (`Event::Usage`: totals per user session, at least every
//! `USAGE_REPORT_MS`, and once at its end). The ledger remembers the totals
//! it last saw per user session and adds only the difference, so a lost
//! report delays counting but never loses or doubles it (only a lost
//! *last* report loses what followed the one before it). Online time is
//! counted once a second for every session ID with a user session that
//! reported within `STALE_MS`.
//!
//! No I/O and no clock of its own: the caller passes the time and gets the
//! crossings back (`Change`), so every rule is tested here; `quota.rs`
//! turns them into records, verdicts for the workers and metrics.

use dataplane::event::UsageReport;
use dataplane::shaping::{QuotaEvent, QuotaPlan, QuotaState, QuotaVerdicts, Usage};
use hashbrown::HashMap;
use std::net::Ipv4Addr;

/// A user session that has not reported for this long has ended without
/// its last report (lost in a full event ring): forgotten, and no longer
/// counted as online.
pub const STALE_MS: u64 = 5000;

/// One session ID's account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Account {
    pub usage: Usage,
    /// Its terminal's address as last reported (the subscriber entry of a
    /// prefix is found by it).
    pub terminal_ip: Ipv4Addr,
    /// This period's bytes each way (the usage holds their sum).
    pub bytes_up: u64,
    pub bytes_down: u64,
    /// Online milliseconds not yet counted as a whole second.
    online_carry_ms: u64,
}

/// A crossing the caller acts on: a record, a verdict, a metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    pub session_id: u64,
    pub event: QuotaEvent,
    pub account: Account,
}

/// What the ledger has reported since start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QuotaCounters {
    pub thresholds: u64,
    pub exhausted: u64,
    pub renewed: u64,
}

/// The totals last seen of one user session.
#[derive(Clone, Copy, Debug)]
struct Open {
    session_id: u64,
    up: u64,
    down: u64,
    seen_ms: u64,
}

/// (worker, gateway address, gateway port, creation time): a user session.
type OpenKey = (u16, Ipv4Addr, u16, u64);

#[derive(Debug, Default)]
pub struct QuotaLedger {
    accounts: HashMap<u64, Account>,
    open: HashMap<OpenKey, Open>,
    last_second_ms: Option<u64>,
    pub counters: QuotaCounters,
}

fn secs(ms: u64) -> u64 {
    ms / 1000
}

impl QuotaLedger {
    pub fn account(&self, session_id: u64) -> Option<&Account> {
        self.accounts.get(&session_id)
    }

    pub fn accounts(&self) -> impl Iterator<Item = (u64, &Account)> {
        self.accounts.iter().map(|(k, v)| (*k, v))
    }

    fn note(&mut self, out: &mut Vec<Change>, session_id: u64, event: QuotaEvent) {
        match event {
            QuotaEvent::Threshold(_) => self.counters.thresholds += 1,
            QuotaEvent::Exhausted => self.counters.exhausted += 1,
            QuotaEvent::Renewed => self.counters.renewed += 1,
        }
        if let Some(account) = self.accounts.get(&session_id) {
            out.push(Change {
                session_id,
                event,
                account: *account,
            });
        }
    }

    /// Adds `(up, down, online_s)` to `session_id`'s account under `plan`
    /// at `now_ms`, opening the account if needed.
    fn add(
        &mut self,
        session_id: u64,
        terminal_ip: Ipv4Addr,
        plan: &QuotaPlan,
        (up, down, online_s): (u64, u64, u64),
        now_ms: u64,
        out: &mut Vec<Change>,
    ) {
        let a = self.accounts.entry(session_id).or_insert(Account {
            usage: Usage::starting(secs(now_ms)),
            terminal_ip,
            bytes_up: 0,
            bytes_down: 0,
            online_carry_ms: 0,
        });
        a.terminal_ip = terminal_ip;
        let period = a.usage.period_start_s;
        let mut events = [None; 12];
        let mut n = 0;
        a.usage.add(
            plan,
            secs(now_ms),
            up.saturating_add(down),
            online_s,
            &mut |e| {
                if n < events.len() {
                    events[n] = Some(e);
                    n += 1;
                }
            },
        );
        if a.usage.period_start_s != period {
            a.bytes_up = 0;
            a.bytes_down = 0;
        }
        a.bytes_up = a.bytes_up.saturating_add(up);
        a.bytes_down = a.bytes_down.saturating_add(down);
        for e in events.into_iter().flatten() {
            self.note(out, session_id, e);
        }
    }

    /// Takes a worker's usage report; `plan` is the quota of its
    /// subscriber now (`None`: it has none any more, nothing is counted).
    pub fn report(
        &mut self,
        r: &UsageReport,
        plan: Option<&QuotaPlan>,
        now_ms: u64,
        out: &mut Vec<Change>,
    ) {
        let key = (r.worker, r.gateway_ip, r.gateway_port, r.created_ms);
        let (up0, down0) = self.open.get(&key).map_or((0, 0), |o| (o.up, o.down));
        let (up, down) = (
            r.bytes_up.saturating_sub(up0),
            r.bytes_down.saturating_sub(down0),
        );
        if r.ended {
            self.open.remove(&key);
        } else {
            self.open.insert(
                key,
                Open {
                    session_id: r.session_id,
                    up: r.bytes_up.max(up0),
                    down: r.bytes_down.max(down0),
                    seen_ms: now_ms,
                },
            );
        }
        if let Some(plan) = plan {
            self.add(
                r.session_id,
                r.terminal_ip,
                plan,
                (up, down, 0),
                now_ms,
                out,
            );
        }
    }

    /// Once a second: online time for session IDs with a live user
    /// session, period roll-overs for all, stale user sessions forgotten.
    /// `plan_of(session ID, terminal)` is the quota in force.
    pub fn every_second(
        &mut self,
        now_ms: u64,
        plan_of: impl Fn(u64, Ipv4Addr) -> Option<QuotaPlan>,
        out: &mut Vec<Change>,
    ) {
        let elapsed = self
            .last_second_ms
            .map_or(0, |t| now_ms.saturating_sub(t).min(2000));
        self.last_second_ms = Some(now_ms);
        self.open
            .retain(|_, o| now_ms.saturating_sub(o.seen_ms) < STALE_MS);
        let mut online: hashbrown::HashSet<u64> = hashbrown::HashSet::new();
        for o in self.open.values() {
            online.insert(o.session_id);
        }
        let ids: Vec<(u64, Ipv4Addr)> = self
            .accounts
            .iter()
            .map(|(k, a)| (*k, a.terminal_ip))
            .collect();
        for (sid, terminal) in ids {
            let Some(plan) = plan_of(sid, terminal) else {
                continue;
            };
            let mut whole = 0;
            if online.contains(&sid) {
                if let Some(a) = self.accounts.get_mut(&sid) {
                    a.online_carry_ms += elapsed;
                    whole = a.online_carry_ms / 1000;
                    a.online_carry_ms %= 1000;
                }
            }
            self.add(sid, terminal, &plan, (0, 0, whole), now_ms, out);
        }
    }

    /// Settles `session_id`'s account under `plan` (after a reload
    /// changed it): thresholds, exhaustion or renewal as the kept usage
    /// now stands.
    pub fn settle(
        &mut self,
        session_id: u64,
        plan: &QuotaPlan,
        now_ms: u64,
        out: &mut Vec<Change>,
    ) {
        if let Some(t) = self.accounts.get(&session_id).map(|a| a.terminal_ip) {
            self.add(session_id, t, plan, (0, 0, 0), now_ms, out);
        }
    }

    /// Grants `bytes` and `secs` more for this period (`ctl quota grant`).
    pub fn grant(
        &mut self,
        session_id: u64,
        plan: &QuotaPlan,
        (bytes, secs): (u64, u64),
        out: &mut Vec<Change>,
    ) -> bool {
        let Some(a) = self.accounts.get_mut(&session_id) else {
            return false;
        };
        let mut events = Vec::new();
        a.usage.grant(plan, bytes, secs, &mut |e| events.push(e));
        for e in events {
            self.note(out, session_id, e);
        }
        true
    }

    /// Starts a fresh period now (`ctl quota reset`).
    pub fn reset(
        &mut self,
        session_id: u64,
        plan: &QuotaPlan,
        now_ms: u64,
        out: &mut Vec<Change>,
    ) -> bool {
        let Some(a) = self.accounts.get_mut(&session_id) else {
            return false;
        };
        let mut events = Vec::new();
        a.usage.reset(plan, secs(now_ms), &mut |e| events.push(e));
        a.bytes_up = 0;
        a.bytes_down = 0;
        for e in events {
            self.note(out, session_id, e);
        }
        true
    }

    /// The session IDs the workers must block or throttle now.
    pub fn verdicts(&self, plan_of: impl Fn(u64, Ipv4Addr) -> Option<QuotaPlan>) -> QuotaVerdicts {
        let mut blocked = Vec::new();
        let mut throttled = Vec::new();
        for (sid, a) in &self.accounts {
            let Some(plan) = plan_of(*sid, a.terminal_ip) else {
                continue;
            };
            match a.usage.state(&plan) {
                QuotaState::Open => {}
                QuotaState::Exhausted(dataplane::shaping::OnExhausted::Block) => blocked.push(*sid),
                QuotaState::Exhausted(dataplane::shaping::OnExhausted::Throttle(b)) => {
                    throttled.push((*sid, b))
                }
            }
        }
        QuotaVerdicts::new(blocked, throttled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::shaping::{OnExhausted, MAX_THRESHOLDS};

    const T: Ipv4Addr = Ipv4Addr::new(10, 8, 0, 5);
    const SID: u64 = 0x0a08_0005;

    fn plan(bytes: u64, th: &[u8], period_s: u64) -> QuotaPlan {
        let mut thresholds = [0; MAX_THRESHOLDS];
        thresholds[..th.len()].copy_from_slice(th);
        QuotaPlan {
            bytes: Some(bytes),
            online_s: None,
            period_s,
            thresholds,
            n_thresholds: th.len() as u8,
            on_exhausted: OnExhausted::Block,
        }
    }

    fn report(port: u16, up: u64, down: u64, ended: bool) -> UsageReport {
        UsageReport {
            session_id: SID,
            terminal_ip: T,
            worker: 0,
            gateway_ip: Ipv4Addr::new(10, 2, 0, 10),
            gateway_port: port,
            created_ms: 1000,
            bytes_up: up,
            bytes_down: down,
            ended,
        }
    }

    fn events(out: &[Change]) -> Vec<QuotaEvent> {
        out.iter().map(|c| c.event).collect()
    }

    #[test]
    fn totals_are_counted_once_across_reports_and_user_sessions() {
        let p = plan(10_000, &[50], 0);
        let mut l = QuotaLedger::default();
        let mut out = Vec::new();
        l.report(&report(2000, 100, 1000, false), Some(&p), 10_000, &mut out);
        // The same totals again (a second visit with nothing new): no change.
        l.report(&report(2000, 100, 1000, false), Some(&p), 10_250, &mut out);
        l.report(&report(2001, 0, 2000, false), Some(&p), 10_300, &mut out);
        // One report lost: the next carries the total.
        l.report(&report(2000, 200, 3000, true), Some(&p), 10_800, &mut out);
        let a = l.account(SID).unwrap();
        assert_eq!((a.bytes_up, a.bytes_down), (200, 5000));
        assert_eq!(a.usage.bytes, 5200);
        assert_eq!(events(&out), [QuotaEvent::Threshold(50)]);
        assert_eq!(out[0].account.usage.bytes, 5200);
        // Past the quota: exhausted, and the verdict blocks.
        out.clear();
        l.report(&report(2001, 0, 7000, false), Some(&p), 11_000, &mut out);
        assert_eq!(events(&out), [QuotaEvent::Exhausted]);
        let v = l.verdicts(|_, _| Some(p));
        assert!(v.is_blocked(SID));
        // A grant lifts it.
        out.clear();
        assert!(l.grant(SID, &p, (5000, 0), &mut out));
        assert_eq!(events(&out), [QuotaEvent::Renewed]);
        assert!(!l.verdicts(|_, _| Some(p)).is_blocked(SID));
        // No plan (a reload removed it): reports count nothing.
        out.clear();
        l.report(&report(2001, 0, 99_000, false), None, 11_500, &mut out);
        assert_eq!(l.account(SID).unwrap().usage.bytes, 10_200);
    }

    #[test]
    fn a_changed_plan_settles_the_kept_usage() {
        let mut l = QuotaLedger::default();
        let mut out = Vec::new();
        let small = plan(1000, &[], 0);
        l.report(&report(2000, 0, 1500, false), Some(&small), 5000, &mut out);
        assert_eq!(events(&out), [QuotaEvent::Exhausted]);
        out.clear();
        let big = plan(2000, &[50], 0);
        l.settle(SID, &big, 6000, &mut out);
        assert_eq!(
            events(&out),
            [QuotaEvent::Threshold(50), QuotaEvent::Renewed]
        );
        assert_eq!(l.account(SID).unwrap().usage.bytes, 1500, "usage kept");
    }

    #[test]
    fn online_time_counts_while_a_user_session_reports_and_periods_roll() {
        let mut p = plan(1_000_000, &[], 60);
        p.online_s = Some(3);
        let mut l = QuotaLedger::default();
        let mut out = Vec::new();
        l.report(&report(2000, 10, 10, false), Some(&p), 0, &mut out);
        for s in 0..=3u64 {
            l.every_second(s * 1000, |_, _| Some(p), &mut out);
            l.report(
                &report(2000, 10, 10, false),
                Some(&p),
                s * 1000 + 500,
                &mut out,
            );
        }
        assert_eq!(l.account(SID).unwrap().usage.online_s, 3);
        assert_eq!(events(&out), [QuotaEvent::Exhausted]);
        // Silent past STALE_MS: no longer online; the period rolls over.
        out.clear();
        l.every_second(3000 + STALE_MS, |_, _| Some(p), &mut out);
        let before = l.account(SID).unwrap().usage.online_s;
        l.every_second(4000 + STALE_MS, |_, _| Some(p), &mut out);
        assert_eq!(l.account(SID).unwrap().usage.online_s, before);
        l.every_second(61_000, |_, _| Some(p), &mut out);
        assert_eq!(events(&out), [QuotaEvent::Renewed]);
        assert_eq!(l.account(SID).unwrap().usage.online_s, 0);
        assert_eq!(l.account(SID).unwrap().bytes_down, 0, "new period");
    }
}
