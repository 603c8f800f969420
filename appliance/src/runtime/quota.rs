//! Usage quotas on the control plane (issue 15): the workers' usage
//! reports go into the ledger (`quota_ledger.rs`); its crossings become
//! interim accounting records (reason `quota_threshold` with the
//! percentage, or `quota_exhausted`), metrics, and the verdicts the
//! workers act on, published with the policy snapshot. A subscriber that
//! runs out with `on_exhausted: Block` also has its open user sessions
//! ended (reason `quota_exhausted`); a later segment of one is answered by
//! RST (TCP) or ICMP prohibited by its worker. `ctl usage`, `ctl quota
//! grant` and `ctl quota reset` read and change the ledger here.

use super::control::Control;
use super::quota_ledger::{Account, Change};
use super::worker::WorkerCmd;
use dataplane::event::{AccountingEvent, EndReason, RecordKind, UsageReport, EXTERNAL_SERVICE};
use dataplane::pipeline::inspect::Filter;
use dataplane::policy::Policy;
use dataplane::shaping::{OnExhausted, QuotaEvent, QuotaPlan, QuotaState};
use dataplane::tier1::SessionId;
use serde_json::{json, Value};
use std::net::Ipv4Addr;
use tracing::info;

/// The quota in force for `session_id` (whose terminal is `terminal`).
pub fn plan_of(policy: &Policy, session_id: u64, terminal: Ipv4Addr) -> Option<QuotaPlan> {
    policy.subscribers.lookup(session_id, terminal).limits.quota
}

/// The terminal address a session ID names, if it names one (the
/// subscriber entry of a prefix is found by it).
fn terminal_of(sid: SessionId) -> Ipv4Addr {
    match sid.kind() {
        dataplane::tier1::SessionIdKind::SourceIp(a) => a,
        dataplane::tier1::SessionIdKind::SourceIpVlan { addr, .. } => addr,
        _ => Ipv4Addr::UNSPECIFIED,
    }
}

/// The subscriber's record of a crossing (`percent` for a threshold).
fn record(c: &Change, percent: Option<u8>, now_ms: u64) -> AccountingEvent {
    AccountingEvent {
        kind: RecordKind::Interim,
        end_reason: if percent.is_some() {
            EndReason::QuotaThreshold
        } else {
            EndReason::QuotaExhausted
        },
        proto: 0,
        user_session_type: 0,
        worker: 0,
        session_id: c.session_id,
        terminal_ip: c.account.terminal_ip,
        terminal_port: 0,
        gateway_ip: Ipv4Addr::UNSPECIFIED,
        gateway_port: 0,
        dest_ip: Ipv4Addr::UNSPECIFIED,
        dest_port: 0,
        server_ip: Ipv4Addr::UNSPECIFIED,
        server_port: 0,
        service: EXTERNAL_SERVICE,
        packets_up: 0,
        bytes_up: c.account.bytes_up,
        packets_down: 0,
        bytes_down: c.account.bytes_down,
        start_ms: c.account.usage.period_start_s.saturating_mul(1000),
        end_ms: now_ms,
        ipv6: None,
    }
}

fn state_word(state: QuotaState) -> &'static str {
    match state {
        QuotaState::Open => "open",
        QuotaState::Exhausted(OnExhausted::Block) => "blocked",
        QuotaState::Exhausted(OnExhausted::Throttle(_)) => "throttled",
    }
}

/// One subscriber's line of `ctl usage`.
fn usage_row(sid: u64, a: &Account, plan: &QuotaPlan) -> Value {
    let u = &a.usage;
    let (bytes_left, secs_left) = u.remaining(plan);
    let period_end = (plan.period_s > 0).then(|| {
        crate::accounting::record::rfc3339_utc_ms(
            u.period_start_s.saturating_add(plan.period_s) * 1000,
        )
    });
    json!({
        "subscriber": SessionId(sid).to_string(),
        "state": state_word(u.state(plan)),
        "used_bytes": u.bytes,
        "quota_bytes": plan.bytes.map(|b| b.saturating_add(u.granted_bytes)),
        "remaining_bytes": bytes_left,
        "used_s": u.online_s,
        "quota_s": plan.online_s.map(|s| s.saturating_add(u.granted_s)),
        "remaining_s": secs_left,
        "bytes_up": a.bytes_up,
        "bytes_down": a.bytes_down,
        "period_start": crate::accounting::record::rfc3339_utc_ms(u.period_start_s * 1000),
        "period_end": period_end,
    })
}

impl Control {
    /// The ledger's counters and the verdicts in force, for metrics.
    pub(super) fn quota_stats(&self) -> crate::api::stats::QuotaStats {
        let c = self.quota.counters;
        let verdicts = &self.shared.policy.current().quota;
        crate::api::stats::QuotaStats {
            thresholds: c.thresholds,
            exhausted: c.exhausted,
            renewed: c.renewed,
            blocked: verdicts.blocked().count() as u64,
            throttled: verdicts.throttled().count() as u64,
            accounts: self.quota.accounts().count() as u64,
        }
    }

    /// A worker's usage report into the ledger.
    pub(super) fn on_usage(&mut self, r: &UsageReport, now: u64) {
        let plan = plan_of(&self.shared.policy.current(), r.session_id, r.terminal_ip);
        self.quota
            .report(r, plan.as_ref(), now, &mut self.quota_changes);
    }

    /// Acts on what the ledger reported: records, the workers' verdicts,
    /// and the end of a blocked subscriber's user sessions. Once a second
    /// it also counts online time and rolls periods over.
    pub(super) fn quota_tick(&mut self, now: u64, second: bool) {
        if second {
            let policy = self.shared.policy.current();
            self.quota.every_second(
                now,
                |sid, t| plan_of(&policy, sid, t),
                &mut self.quota_changes,
            );
        }
        if self.quota_changes.is_empty() {
            return;
        }
        let changes = std::mem::take(&mut self.quota_changes);
        let mut verdicts_changed = false;
        for c in &changes {
            let sid = SessionId(c.session_id);
            match c.event {
                QuotaEvent::Threshold(pct) => {
                    info!(subscriber = %sid, percent = pct, used = c.account.usage.bytes, "quota threshold crossed");
                    self.shared
                        .accounting
                        .push_quota(record(c, Some(pct), now), Some(pct));
                }
                QuotaEvent::Exhausted => {
                    info!(subscriber = %sid, used = c.account.usage.bytes, "quota used up");
                    self.shared
                        .accounting
                        .push_quota(record(c, None, now), None);
                    verdicts_changed = true;
                }
                QuotaEvent::Renewed => {
                    info!(subscriber = %sid, "quota renewed");
                    verdicts_changed = true;
                }
            }
        }
        if verdicts_changed {
            self.publish_quota_verdicts();
            // Blocked now: end the open user sessions (no answer awaited;
            // their final records come through the event rings).
            let policy = self.shared.policy.current();
            for c in &changes {
                if c.event == QuotaEvent::Exhausted && policy.quota.is_blocked(c.session_id) {
                    self.end_quietly(c.session_id);
                }
            }
        }
    }

    /// Publishes the ledger's verdicts with the policy in force.
    pub(super) fn publish_quota_verdicts(&mut self) {
        let current = self.shared.policy.current();
        let verdicts = self.quota.verdicts(|sid, t| plan_of(&current, sid, t));
        if verdicts == current.quota {
            return;
        }
        let mut p = (*current).clone();
        p.quota = verdicts;
        self.shared.publish_policy(p);
    }

    /// Ends `session_id`'s user sessions on every worker with reason
    /// `quota_exhausted`, without waiting for the answers.
    fn end_quietly(&mut self, session_id: u64) {
        for q in &self.shared.commands {
            let (tx, _rx) = crossbeam::channel::bounded(1);
            let _ = q.push(WorkerCmd::End {
                filter: Filter {
                    session_id: Some(session_id),
                    ..Filter::default()
                },
                reason: EndReason::QuotaExhausted,
                reply: tx,
            });
        }
    }

    /// After a reload: every account settles under its (possibly changed)
    /// plan, and the verdicts follow.
    pub(super) fn quota_replan(&mut self) {
        let now = self.clock_now_ms();
        let policy = self.shared.policy.current();
        let ids: Vec<(u64, Ipv4Addr)> = self
            .quota
            .accounts()
            .map(|(sid, a)| (sid, a.terminal_ip))
            .collect();
        for (sid, t) in ids {
            if let Some(plan) = plan_of(&policy, sid, t) {
                self.quota.settle(sid, &plan, now, &mut self.quota_changes);
            }
        }
        let was_blocked: Vec<u64> = self.shared.policy.current().quota.blocked().collect();
        self.quota_tick(now, false);
        self.publish_quota_verdicts();
        // A used-up quota whose action became Block: its open user
        // sessions end now, as if it had run out under Block.
        let newly: Vec<u64> = self
            .shared
            .policy
            .current()
            .quota
            .blocked()
            .filter(|sid| !was_blocked.contains(sid))
            .collect();
        for sid in newly {
            self.end_quietly(sid);
        }
    }

    fn quota_subject(&self, subscriber: &str) -> Result<(SessionId, QuotaPlan), String> {
        let sid: SessionId = subscriber.parse().map_err(|e| format!("{e}"))?;
        let t = self
            .quota
            .account(sid.0)
            .map_or_else(|| terminal_of(sid), |a| a.terminal_ip);
        let plan = plan_of(&self.shared.policy.current(), sid.0, t)
            .ok_or_else(|| format!("subscriber {sid} has no quota"))?;
        Ok((sid, plan))
    }

    /// `ctl usage [SUBSCRIBER]`.
    pub(super) fn usage(&self, subscriber: Option<String>) -> Result<Value, String> {
        let policy = self.shared.policy.current();
        if let Some(s) = subscriber {
            let (sid, plan) = self.quota_subject(&s)?;
            return Ok(match self.quota.account(sid.0) {
                Some(a) => Value::Array(vec![usage_row(sid.0, a, &plan)]),
                None => Value::Array(Vec::new()),
            });
        }
        let mut rows: Vec<(u64, Value)> = self
            .quota
            .accounts()
            .filter_map(|(sid, a)| {
                plan_of(&policy, sid, a.terminal_ip).map(|p| (sid, usage_row(sid, a, &p)))
            })
            .collect();
        rows.sort_by_key(|(sid, _)| *sid);
        Ok(Value::Array(rows.into_iter().map(|(_, v)| v).collect()))
    }

    /// `ctl quota grant SUBSCRIBER --bytes N [--seconds S]`.
    pub(super) fn quota_grant(
        &mut self,
        subscriber: &str,
        bytes: u64,
        seconds: u64,
    ) -> Result<Value, String> {
        if bytes == 0 && seconds == 0 {
            return Err("grant what? give --bytes N and/or --seconds S above 0".into());
        }
        let (sid, plan) = self.quota_subject(subscriber)?;
        if !self
            .quota
            .grant(sid.0, &plan, (bytes, seconds), &mut self.quota_changes)
        {
            return Err(format!(
                "subscriber {sid} has used nothing yet; nothing to grant against"
            ));
        }
        let now = self.clock_now_ms();
        self.quota_tick(now, false);
        Ok(
            json!({ "message": format!("granted {bytes} bytes and {seconds} s to {sid} for this period") }),
        )
    }

    /// `ctl quota reset SUBSCRIBER`.
    pub(super) fn quota_reset(&mut self, subscriber: &str) -> Result<Value, String> {
        let (sid, plan) = self.quota_subject(subscriber)?;
        let now = self.clock_now_ms();
        if !self.quota.reset(sid.0, &plan, now, &mut self.quota_changes) {
            return Err(format!(
                "subscriber {sid} has used nothing yet; nothing to reset"
            ));
        }
        self.quota_tick(now, false);
        Ok(json!({ "message": format!("quota of {sid} reset: a new period starts now") }))
    }
}
