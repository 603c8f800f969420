//! Per-subscriber limits at user-session creation: the hook `uplink` calls
//! once a new user session is entitled, and the refusal when it is over its
//! subscriber's limits (answered like an entitlement refusal: TCP RST or
//! ICMP administratively prohibited, within the reply rate, and a final
//! accounting record with reason `subscriber_limit`).

use super::l2::rd16;
use super::uplink::Opening;
use super::{Verdict, Worker};
use crate::counters::DropReason;
use crate::event::{AccountingEvent, EndReason, Event, EventSink, RecordKind};
use crate::frame::Frame;
use crate::policy::Limits;
use crate::tier1::SessionId;
use crate::wire::{ETHERNET_HEADER_LEN, PROTO_TCP};
use std::net::Ipv4Addr;

const IP: usize = ETHERNET_HEADER_LEN;

impl Worker {
    /// Counts a new user session of `sid` (of service and user-session type
    /// `(service, ty)`) against `limits`; over them, the
    /// frame becomes the refusal's answer (or is dropped) and `Err` says
    /// what to return. `Ok(true)`: counted; the user session gets
    /// `SessionFlags::LIMITED` (its end releases it), or, if it is not
    /// created after all, [`Self::unadmit`] gives the count back.
    /// `Ok(false)`: no limits, nothing counted (no cost for subscribers
    /// without limits; a reload that adds limits counts only user sessions
    /// created after it).
    pub(super) fn admit<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        o: &Opening,
        limits: &Limits,
        (service, ty): (u32, u8),
        ev: &mut E,
    ) -> Result<bool, Verdict> {
        let (key, sid, path, now_ms) = (&o.key, o.sid, &o.path, o.now_ms);
        if limits.is_none() {
            return Ok(false);
        }
        if self.gw.admission.admit(sid.0, limits, now_ms).is_ok() {
            return Ok(true);
        }
        let accounted = self
            .snaps
            .policy
            .get()
            .classifier
            .get(ty)
            .is_none_or(|t| t.accounted);
        if accounted {
            let bytes = u64::from(rd16(f.bytes(), IP + 2));
            self.emit(
                ev,
                Event::Accounting(AccountingEvent {
                    kind: RecordKind::Final,
                    end_reason: EndReason::SubscriberLimit,
                    proto: key.proto,
                    user_session_type: ty,
                    worker: self.cfg.index,
                    session_id: sid.0,
                    terminal_ip: key.client_ip,
                    terminal_port: key.client_port,
                    gateway_ip: Ipv4Addr::UNSPECIFIED,
                    gateway_port: 0,
                    dest_ip: key.dst_ip,
                    dest_port: key.dst_port,
                    server_ip: Ipv4Addr::UNSPECIFIED,
                    server_port: 0,
                    service,
                    packets_up: 1,
                    bytes_up: bytes,
                    packets_down: 0,
                    bytes_down: 0,
                    start_ms: now_ms,
                    end_ms: now_ms,
                }),
            );
        }
        let rate = self.snaps.policy.get().reply_rate_per_s;
        if !self.limiter.allow(now_ms, rate) {
            return Err(Verdict::Drop(DropReason::SubscriberLimit));
        }
        let mut out = [0u8; 192];
        let written = if key.proto == PROTO_TCP {
            crate::wire::write_tcp_rst_reply(f.bytes(), &mut out)
        } else {
            crate::wire::write_icmp_error(
                f.bytes(),
                &mut out,
                crate::wire::ICMP_DEST_UNREACHABLE,
                crate::wire::UNREACH_ADMIN_PROHIBITED,
                key.dst_ip,
            )
        };
        let Ok(n) = written else {
            return Err(Verdict::Drop(DropReason::SubscriberLimit));
        };
        if !super::own_addresses::replace_contents(f, &out[..n]) {
            return Err(Verdict::Drop(DropReason::SubscriberLimit));
        }
        // The refused packet is counted as dropped; its answer goes out.
        self.counters.count_drop(DropReason::SubscriberLimit);
        if key.proto == PROTO_TCP {
            self.counters.rst_sent.inc();
        } else {
            self.counters.icmp_errors_sent.inc();
        }
        Err(self.send_to_client(f, path, now_ms, ev))
    }

    /// Gives back an admission whose user session was not created.
    #[inline]
    pub(super) fn unadmit(&mut self, counted: bool, sid: SessionId, now_ms: u64) {
        if counted {
            self.gw.admission.release(sid.0, now_ms);
        }
    }
}
