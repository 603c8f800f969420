//! Accounting events from the workers on their way to the exporters.
//!
//! Events carry indexes; here they get their names (service, user-session
//! type, subscriber) from the policy in force and go to the configured
//! sinks in batches. Events the workers could not queue are counted as
//! lost and reported.

use crate::accounting::record::NameResolver;
use crate::accounting::{AccountingExporter, AccountingRecord};
use dataplane::event::AccountingEvent;
use dataplane::policy::Policy;
use dataplane::tier1::SessionId;

struct Names<'a>(&'a Policy);

impl NameResolver for Names<'_> {
    fn service_name(&self, idx: u32) -> String {
        self.0
            .services
            .services
            .get(idx as usize)
            .map_or_else(|| format!("service#{idx}"), |s| s.name.clone())
    }
    fn type_name(&self, idx: u8) -> String {
        self.0.classifier.type_name(idx).to_string()
    }
    fn subscriber(&self, session_id: u64) -> String {
        SessionId(session_id).to_string()
    }
}

/// Collects accounting events and hands them to the exporters in batches.
pub struct AccountingPipe {
    exporter: Option<AccountingExporter>,
    pending: Vec<AccountingEvent>,
    /// Subscribers' quota records (`runtime::quota`), with the threshold
    /// percentage of a threshold record.
    pending_quota: Vec<(AccountingEvent, Option<u8>)>,
    /// Records produced so far (exported or not).
    pub records: u64,
    lost_seen: u64,
}

impl AccountingPipe {
    pub fn new(exporter: Option<AccountingExporter>) -> AccountingPipe {
        AccountingPipe {
            exporter,
            pending: Vec::new(),
            pending_quota: Vec::new(),
            records: 0,
            lost_seen: 0,
        }
    }

    pub fn push(&mut self, e: AccountingEvent) {
        self.pending.push(e);
    }

    /// A subscriber's quota record (threshold `percent`, or exhausted).
    pub fn push_quota(&mut self, e: AccountingEvent, percent: Option<u8>) {
        self.pending_quota.push((e, percent));
    }

    /// Reports events lost in the workers' queues; `total` is the sum of
    /// the workers' lost-event counters.
    pub fn note_lost_total(&mut self, total: u64) {
        if total > self.lost_seen {
            if let Some(x) = self.exporter.as_mut() {
                x.note_lost(total - self.lost_seen);
            }
            self.lost_seen = total;
        }
    }

    pub fn flush(&mut self, policy: &Policy) {
        if self.pending.is_empty() && self.pending_quota.is_empty() {
            if let Some(x) = self.exporter.as_mut() {
                x.tick();
            }
            return;
        }
        self.records += (self.pending.len() + self.pending_quota.len()) as u64;
        if let Some(x) = self.exporter.as_mut() {
            let names = Names(policy);
            let recs: Vec<AccountingRecord> = self
                .pending
                .iter()
                .map(|e| AccountingRecord::from_event(e, &names))
                .chain(
                    self.pending_quota
                        .iter()
                        .map(|(e, pct)| AccountingRecord::quota(e, *pct, &names)),
                )
                .collect();
            x.export(&recs);
        }
        self.pending.clear();
        self.pending_quota.clear();
    }

    pub fn counters(&self) -> Option<crate::accounting::AccountingCounters> {
        self.exporter.as_ref().map(|x| x.counters())
    }
}
