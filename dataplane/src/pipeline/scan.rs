//! Control-plane walks over a worker's user sessions, done a little at a
//! time so the worker keeps forwarding while it answers.
//!
//! `tandem ctl sessions`, `ctl user-sessions` and `ctl session delete` need
//! to look at every live user session of a worker. The slab holds up to
//! `user_sessions_per_worker` slots (12.9M at most), and walking all of them
//! in one go stops the worker's loop for tens of milliseconds: every frame
//! that arrives meanwhile waits in the NIC's ring and may be dropped there.
//!
//! A [`Scan`] is a cursor over slab indexes. The worker advances it by a
//! fixed number of slots per loop iteration ([`Worker::advance_scan`]),
//! between bursts, like the timer wheel's bounded work; the answer is ready
//! when the cursor has passed the last slot. The walk is not a snapshot: a
//! user session created behind the cursor while the scan runs is not seen,
//! and one that ends ahead of it is not reported; every user session that
//! lives for the whole scan is seen exactly once.
//!
//! Allocation is fine here (the answer is a list), it is not per packet.

use super::inspect::{state_name, Filter, UserSessionInfo};
use super::{expiry, Worker};
use crate::event::{EndReason, EventSink};
use crate::tier2::UserSession;

/// Per mobile session: live user sessions, bytes up and bytes down.
pub type SessionTotals = hashbrown::HashMap<u64, (u64, u64, u64)>;

/// What a scan collects or does.
#[derive(Debug)]
pub enum ScanJob {
    /// Up to `limit` user sessions matching `filter`.
    List { filter: Filter, limit: usize },
    /// Per-mobile-session totals of live user sessions.
    Totals,
    /// End the user sessions matching `filter` with accounting `reason`.
    End { filter: Filter, reason: EndReason },
}

/// The answer of a finished scan.
#[derive(Debug)]
pub enum ScanResult {
    List(Vec<UserSessionInfo>),
    Totals(SessionTotals),
    Ended(usize),
}

/// A walk over the slab in progress.
#[derive(Debug)]
pub struct Scan {
    job: ScanJob,
    /// Next slab index to look at.
    cursor: u32,
    result: ScanResult,
}

impl Scan {
    pub fn new(job: ScanJob) -> Scan {
        let result = match job {
            ScanJob::List { .. } => ScanResult::List(Vec::new()),
            ScanJob::Totals => ScanResult::Totals(SessionTotals::new()),
            ScanJob::End { .. } => ScanResult::Ended(0),
        };
        Scan {
            job,
            cursor: 0,
            result,
        }
    }

    /// The slab index the next step starts at.
    pub fn cursor(&self) -> u32 {
        self.cursor
    }

    /// The answer, once [`Worker::advance_scan`] has returned `true`.
    pub fn into_result(self) -> ScanResult {
        self.result
    }
}

/// Everything the control plane shows of one user session.
pub(super) fn info(w: &Worker, e: &UserSession) -> UserSessionInfo {
    UserSessionInfo {
        worker: w.cfg.index,
        session_id: e.session_id,
        proto: e.proto,
        terminal: (e.client_ip, e.client_port),
        destination: (e.orig_dst_ip, e.orig_dst_port),
        gateway: (w.cfg.gateway_addrs[usize::from(e.gw_addr)], e.gw_port),
        server: (e.server_ip, e.server_port),
        service: e.group_index,
        user_session_type: e.session_type,
        state: state_name(e.state),
        packets_up: e.to_server.packets,
        bytes_up: e.to_server.bytes,
        packets_down: e.to_client.packets,
        bytes_down: e.to_client.bytes,
        created_ms: e.created_ms,
        last_seen_ms: e.last_seen_ms,
        access_port: e.client_path.port,
    }
}

impl Worker {
    /// Looks at up to `budget` slab slots from the scan's cursor on (a
    /// listing that has its `limit` stops early). Returns `true` when the
    /// scan is complete and [`Scan::into_result`] holds the answer.
    pub fn advance_scan<E: EventSink>(
        &mut self,
        scan: &mut Scan,
        budget: u32,
        now_ms: u64,
        ev: &mut E,
    ) -> bool {
        let capacity = self.table.capacity();
        let end = scan.cursor.saturating_add(budget.max(1)).min(capacity);
        for idx in scan.cursor..end {
            let Some(e) = self.table.get(idx) else {
                continue;
            };
            match (&scan.job, &mut scan.result) {
                (ScanJob::List { filter, limit }, ScanResult::List(out)) => {
                    if out.len() >= *limit {
                        scan.cursor = capacity;
                        return true;
                    }
                    if filter.matches(e) {
                        out.push(info(self, e));
                    }
                }
                (ScanJob::Totals, ScanResult::Totals(totals)) => {
                    let t = totals.entry(e.session_id).or_default();
                    t.0 += 1;
                    t.1 += e.to_server.bytes;
                    t.2 += e.to_client.bytes;
                }
                (ScanJob::End { filter, reason }, ScanResult::Ended(n)) if filter.matches(e) => {
                    let reason = *reason;
                    expiry::remove(self, idx, Some(reason), now_ms, ev);
                    *n += 1;
                }
                // Not to be ended; `Scan::new` pairs every job with its
                // result, so nothing else reaches here.
                _ => {}
            }
        }
        scan.cursor = end;
        if let (ScanJob::List { limit, .. }, ScanResult::List(out)) = (&scan.job, &scan.result) {
            if out.len() >= *limit {
                scan.cursor = capacity;
            }
        }
        scan.cursor >= capacity
    }

    /// Runs `job` to the end in one go (tests, and the final walk at
    /// shutdown when nothing is forwarded any more).
    pub fn run_scan<E: EventSink>(&mut self, job: ScanJob, now_ms: u64, ev: &mut E) -> ScanResult {
        let mut scan = Scan::new(job);
        while !self.advance_scan(&mut scan, u32::MAX, now_ms, ev) {}
        scan.into_result()
    }
}
