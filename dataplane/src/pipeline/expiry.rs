//! Timers: idle user sessions expire, long ones report interim accounting.
//!
//! Packets only move `last_seen_ms`; when an entry's slot in the timer wheel
//! comes round, it is either re-armed (still active) or expired here: its
//! port goes to quarantine, its server's load drops, and a final
//! accounting record is emitted.

use super::{Worker, WHEEL_TICK_MS};
use crate::event::{AccountingEvent, EndReason, Event, EventSink, RecordKind, UsageReport};
use crate::prefetch::Prefetch;
use crate::tier2::user_sessions::SessionFlags;
use crate::tier2::{FlowState, QuarantineClass, TcpState, UserSession};

/// Admission-table slots looked at per timer tick (its table is twice the
/// user-session capacity; 10 ticks a second).
const ADMISSION_SWEEP: usize = 4096;
/// Ripe quarantined ports moved back to the free list per gateway address
/// per timer tick (100 ms): bounded work, 2,560 ports a second.
const RECLAIM_PER_TICK: usize = 256;

pub(super) fn record(
    worker: &Worker,
    (idx, e): (u32, &UserSession),
    kind: RecordKind,
    reason: EndReason,
    now_ms: u64,
) -> AccountingEvent {
    // NAT64: the IPv6 ends from the side array; the IPv4 fields hold only
    // the key's folds, so they say nothing.
    let ipv6 = worker.nat64_ends(idx, e);
    let unless_v6 = |a: std::net::Ipv4Addr| {
        if ipv6.is_some() {
            std::net::Ipv4Addr::UNSPECIFIED
        } else {
            a
        }
    };
    AccountingEvent {
        ipv6,
        kind,
        end_reason: reason,
        proto: e.proto,
        user_session_type: e.session_type,
        worker: worker.cfg.index,
        session_id: e.session_id,
        terminal_ip: unless_v6(e.client_ip),
        terminal_port: e.client_port,
        gateway_ip: worker.cfg.gateway_addrs[usize::from(e.gw_addr)],
        gateway_port: e.gw_port,
        dest_ip: unless_v6(e.orig_dst_ip),
        dest_port: e.orig_dst_port,
        server_ip: e.server_ip,
        server_port: e.server_port,
        service: e.group_index,
        packets_up: e.to_server.packets,
        bytes_up: e.to_server.bytes,
        packets_down: e.to_client.packets,
        bytes_down: e.to_client.bytes,
        start_ms: e.created_ms,
        // A user session closed by FIN or RST ended with its last packet;
        // one the operator ended, or an interim report, ends now. (An idle
        // timeout ends at its deadline: `remove` sets that.)
        end_ms: match (kind, reason) {
            (RecordKind::Final, EndReason::Fin | EndReason::Rst) => e.last_seen_ms,
            _ => now_ms,
        },
    }
}

/// The usage report of a user session counted against a quota.
fn usage(worker: &Worker, e: &UserSession, ended: bool) -> Event {
    Event::Usage(UsageReport {
        session_id: e.session_id,
        // A NAT64 key's fold is no IPv4 terminal (whose prefix could
        // name a quota plan).
        terminal_ip: if e.flags.contains(SessionFlags::NAT64) {
            std::net::Ipv4Addr::UNSPECIFIED
        } else {
            e.client_ip
        },
        worker: worker.cfg.index,
        gateway_ip: worker.cfg.gateway_addrs[usize::from(e.gw_addr)],
        gateway_port: e.gw_port,
        created_ms: e.created_ms,
        bytes_up: e.to_server.bytes,
        bytes_down: e.to_client.bytes,
        ended,
    })
}

/// A state change (e.g. the TCP close) may bring a user session's end
/// closer than its armed deadline: re-arm it then. (Later deadlines need
/// nothing: the wheel re-checks lazily.)
#[inline]
pub(super) fn shorten(wheel: &mut crate::tier2::TimerWheel, idx: u32, deadline_ms: u64) {
    if wheel.deadline_of(idx).is_some_and(|d| deadline_ms < d) {
        wheel.arm(idx, deadline_ms);
    }
}

/// Removes user session `idx` and releases what it held.
pub(super) fn remove<E: EventSink>(
    w: &mut Worker,
    idx: u32,
    reason: Option<EndReason>,
    now_ms: u64,
    ev: &mut E,
) {
    let Some(e) = w.gw.table.remove(idx) else {
        return;
    };
    if reason.is_none()
        && e.state == FlowState::Tcp(TcpState::SynSent)
        && e.server_index != u32::MAX
    {
        // The server never answered the SYN: a passive health failure.
        w.emit(
            ev,
            Event::ServerFailure {
                server: e.server_index,
            },
        );
    }
    w.gw.wheel.disarm(idx);
    if e.flags.contains(SessionFlags::QUOTA) {
        let last = usage(w, &e, true);
        w.emit(ev, last);
    }
    if e.flags.contains(SessionFlags::LIMITED) {
        w.gw.admission.release(e.session_id, now_ms);
    }
    w.gw.ports.release(
        e.gw_addr,
        e.gw_port,
        QuarantineClass::for_proto(e.proto),
        now_ms,
    );
    if e.server_index != u32::MAX {
        w.gw.load.dec(e.server_index as usize);
    }
    let accounted = w
        .snaps
        .policy
        .get()
        .classifier
        .get(e.session_type)
        .is_none_or(|t| t.accounted);
    if accounted {
        // A TCP user session already closed by FIN or RST ended that way,
        // even when the operator (or shutdown, or a used-up quota) removes it.
        let own = e.state.end_reason_on_expiry();
        let r = match reason {
            // Marked by a used-up quota (quota_end.rs): that is its end,
            // whether by resets or by its closing timeout.
            _ if e.flags.contains(SessionFlags::QUOTA_ENDED) => EndReason::QuotaExhausted,
            Some(EndReason::Admin | EndReason::QuotaExhausted) if own != EndReason::Timeout => own,
            Some(r) => r,
            None => own,
        };
        let mut rec = record(w, (idx, &e), RecordKind::Final, r, now_ms);
        if r == EndReason::Timeout {
            // It expired at its deadline (last activity + the idle timeout
            // of its state), not when the wheel came round to it.
            let policy = w.snaps.policy.get();
            let deadline = e.deadline_ms(policy.timeouts_for(e.session_type));
            rec.end_ms = deadline.min(now_ms);
        }
        w.emit(ev, Event::Accounting(rec));
    }
    w.counters.user_sessions_expired.inc();
    w.counters
        .user_sessions_live
        .set(u64::from(w.gw.table.len()));
}

pub(super) fn run<E: EventSink, P: Prefetch>(
    w: &mut Worker,
    now_ms: u64,
    budget: usize,
    ev: &mut E,
    hint: &P,
) -> usize {
    let target = now_ms / WHEEL_TICK_MS;
    if w.gw.wheel.current_tick() >= target {
        return 0;
    }
    // Ports whose quarantine ended go back to the free lists even while no
    // new user session asks for one, so the quarantine gauge falls when
    // the worker is idle.
    w.gw.ports.reclaim(now_ms, RECLAIM_PER_TICK);
    w.update_pool_gauges();
    w.gw.admission.sweep(now_ms, ADMISSION_SWEEP);
    let policy = w.snaps.policy.arc();
    let interim = policy.interim_ms;
    let mut expired: [u32; 64] = [0; 64];
    let mut n_expired = 0usize;
    let mut interims: [u32; 64] = [0; 64];
    let mut n_interim = 0usize;
    let mut reports: [u32; 64] = [0; 64];
    let mut n_reports = 0usize;
    let budget = budget.min(64);
    let table = &w.gw.table;
    let done = w.gw.wheel.advance(now_ms, budget, |idx| {
        let e = table.get(idx)?;
        let deadline = e.deadline_ms(policy.timeouts_for(e.session_type));
        if deadline > now_ms {
            let mut next = deadline;
            if interim > 0 {
                let due = e.last_report_ms.saturating_add(interim);
                if due <= now_ms && n_interim < interims.len() {
                    interims[n_interim] = idx;
                    n_interim += 1;
                    next = next.min(now_ms + interim);
                } else {
                    next = next.min(due.max(now_ms + 1));
                }
            }
            if e.flags.contains(SessionFlags::QUOTA) {
                // Counted against a quota: report on every visit, and visit
                // again within the report interval.
                if n_reports < reports.len() {
                    reports[n_reports] = idx;
                    n_reports += 1;
                }
                next = next.min(now_ms + super::USAGE_REPORT_MS);
            }
            Some(next)
        } else {
            if n_expired < expired.len() {
                expired[n_expired] = idx;
                n_expired += 1;
            }
            None
        }
    });
    for &idx in &interims[..n_interim] {
        if let Some(e) = w.gw.table.get(idx) {
            let accounted = policy
                .classifier
                .get(e.session_type)
                .is_none_or(|t| t.accounted);
            let sid = e.session_id;
            if accounted {
                let rec = record(w, (idx, e), RecordKind::Interim, EndReason::Timeout, now_ms);
                w.emit(ev, Event::Accounting(rec));
            }
            w.emit(ev, Event::SessionActive { session_id: sid });
        }
        if let Some(e) = w.gw.table.get_mut(idx) {
            e.last_report_ms = now_ms;
        }
    }
    for &idx in &reports[..n_reports] {
        if let Some(e) = w.gw.table.get(idx) {
            let report = usage(w, e, false);
            w.emit(ev, report);
        }
    }
    // The expired sessions' index buckets, reply cells and port states are
    // cold: ask for all of them before removing the first.
    for &idx in &expired[..n_expired] {
        w.gw.table.prefetch_remove(idx, hint);
        if let Some(e) = w.gw.table.get(idx) {
            if let Some((state, ready)) = w.gw.ports.release_memory(e.gw_addr, e.gw_port) {
                hint.read(state);
                hint.read(ready);
            }
        }
    }
    for &idx in &expired[..n_expired] {
        remove(w, idx, None, now_ms, ev);
    }
    // Still behind (the budget ran out): report work so the caller comes back.
    done + usize::from(w.gw.wheel.current_tick() < target)
}

/// Ends every user session now (shutdown).
pub(super) fn end_all<E: EventSink>(w: &mut Worker, now_ms: u64, ev: &mut E) -> usize {
    w.end_user_sessions(
        super::inspect::Filter::default(),
        EndReason::Admin,
        now_ms,
        ev,
    )
}
