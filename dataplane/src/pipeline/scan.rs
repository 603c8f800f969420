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
//! Ending user sessions emits one final accounting record each. A step
//! ends user sessions only while the event sink says it has room
//! ([`EventSink::room`]) and otherwise stops at that slot, to go on once
//! the control plane has drained the ring: the worker never waits and no
//! record is lost.
//!
//! Allocation is fine here (the answer is a list), it is not per packet.

use super::inspect::{state_name, Filter, UserSessionInfo};
use super::{expiry, Worker};
use crate::event::{EndReason, EventSink};
use crate::tier2::UserSession;

/// What ending one user session costs out of a step's budget, in slots
/// looked at: it touches the index, the timer wheel, the port pool and the
/// event ring, several cache misses where looking at a slot is one. At
/// most 63 ends a step: about 0.35 µs each in one go at 1M user sessions,
/// and the longest 4096-slot step measured 0.14 ms (`benches/scan.rs`).
pub const REMOVE_COST: u32 = 64;

/// Per mobile session: live user sessions, bytes up and bytes down.
pub type SessionTotals = hashbrown::HashMap<u64, (u64, u64, u64)>;

/// Mobile sessions one totals map holds. A map made with room for this
/// many never grows: growing a large map rehashes all of it inside one
/// step (a 7.7 ms step at 125 000 sessions in one growing map,
/// `benches/scan.rs`), so a walk that meets more sessions starts another
/// map and the reader adds them up.
pub const TOTALS_CHUNK: usize = 4096;

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
    /// Maps of at most [`TOTALS_CHUNK`] sessions each; one session may be
    /// in several (add them up, off the worker's core).
    Totals(Vec<SessionTotals>),
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
            ScanJob::Totals => ScanResult::Totals(Vec::new()),
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
pub(super) fn info(w: &Worker, idx: u32, e: &UserSession) -> UserSessionInfo {
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
        ipv6: w.nat64_ends(idx, e),
    }
}

impl Worker {
    /// Looks at up to `budget` slab slots from the scan's cursor on, each
    /// user session ended counting [`REMOVE_COST`] more (a listing that has
    /// its `limit` stops early; ending stops early while `ev` has no room). Returns `true` when the
    /// scan is complete and [`Scan::into_result`] holds the answer.
    pub fn advance_scan<E: EventSink>(
        &mut self,
        scan: &mut Scan,
        budget: u32,
        now_ms: u64,
        ev: &mut E,
    ) -> bool {
        let capacity = self.gw.table.capacity();
        if scan.cursor == 0 {
            if let (ScanJob::List { limit, .. }, ScanResult::List(out)) =
                (&scan.job, &mut scan.result)
            {
                // Room for the whole answer at once: growing a long list
                // would copy it inside one step.
                out.reserve((*limit).min(self.gw.table.len() as usize));
            }
        }
        let budget = budget.max(1);
        let mut spent = 0u32;
        let mut idx = scan.cursor;
        while idx < capacity && spent < budget {
            spent += 1;
            let Some(e) = self.gw.table.get(idx) else {
                idx += 1;
                continue;
            };
            match (&scan.job, &mut scan.result) {
                (ScanJob::List { filter, limit }, ScanResult::List(out)) => {
                    if out.len() >= *limit {
                        idx = capacity;
                        break;
                    }
                    if filter.matches(e) {
                        out.push(info(self, idx, e));
                    }
                }
                (ScanJob::Totals, ScanResult::Totals(maps)) => {
                    let full = |m: &SessionTotals| {
                        m.len() >= TOTALS_CHUNK && !m.contains_key(&e.session_id)
                    };
                    if maps.last().is_none_or(full) {
                        maps.push(SessionTotals::with_capacity(TOTALS_CHUNK));
                    }
                    if let Some(totals) = maps.last_mut() {
                        let t = totals.entry(e.session_id).or_default();
                        t.0 += 1;
                        t.1 += e.to_server.bytes;
                        t.2 += e.to_client.bytes;
                    }
                }
                (ScanJob::End { filter, reason }, ScanResult::Ended(n)) if filter.matches(e) => {
                    if ev.room() == 0 {
                        // No room for its final record: go on from this
                        // slot once the control plane has drained the ring.
                        break;
                    }
                    let reason = *reason;
                    // A used-up quota ends open TCP connections with resets
                    // on their next segments (quota_end.rs).
                    let marked = reason == crate::event::EndReason::QuotaExhausted
                        && super::quota_end::mark(self, idx, now_ms);
                    if !marked {
                        expiry::remove(self, idx, Some(reason), now_ms, ev);
                    }
                    *n += 1;
                    spent = spent.saturating_add(REMOVE_COST);
                }
                // Not to be ended; `Scan::new` pairs every job with its
                // result, so nothing else reaches here.
                _ => {}
            }
            idx += 1;
        }
        scan.cursor = idx;
        if let (ScanJob::List { limit, .. }, ScanResult::List(out)) = (&scan.job, &scan.result) {
            if out.len() >= *limit {
                scan.cursor = capacity;
            }
        }
        scan.cursor >= capacity
    }

    /// Runs `job` to the end in one go (tests, and the final walk at
    /// shutdown when nothing is forwarded any more). It never pauses for
    /// room: what a full sink does with an event is the sink's business.
    pub fn run_scan<E: EventSink>(&mut self, job: ScanJob, now_ms: u64, ev: &mut E) -> ScanResult {
        let mut scan = Scan::new(job);
        while !self.advance_scan(&mut scan, u32::MAX, now_ms, &mut NoPause(ev)) {}
        scan.into_result()
    }
}

/// A sink that claims unlimited room, so a walk run in one go never pauses.
struct NoPause<'a, E>(&'a mut E);

impl<E: EventSink> EventSink for NoPause<'_, E> {
    fn push(&mut self, e: crate::event::Event) -> bool {
        self.0.push(e)
    }
}
