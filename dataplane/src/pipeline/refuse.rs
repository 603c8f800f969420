//! The one refusal of a new user session: the subscriber may not use the
//! service (`uplink`), is over its limits (`limit.rs`) or its usage quota
//! is used up (`on_exhausted: Block`). The terminal's packet becomes the
//! answer, a TCP RST or an ICMP administratively prohibited, within the
//! worker's reply rate, and a final accounting record with the reason is
//! written where the user-session type is accounted.

use super::l2::rd16;
use super::uplink::Opening;
use super::{Verdict, Worker};
use crate::counters::DropReason;
use crate::event::{AccountingEvent, EndReason, Event, EventSink, RecordKind};
use crate::frame::Frame;
use crate::wire::{ETHERNET_HEADER_LEN, PROTO_TCP};
use std::net::Ipv4Addr;

const IP: usize = ETHERNET_HEADER_LEN;

/// The user session a refused packet would have opened, for its record:
/// service and user-session type, and whether that type is accounted.
#[derive(Clone, Copy, Debug)]
pub(super) struct Refused {
    pub service: u32,
    pub ty: u8,
    pub accounted: bool,
}

/// The drop reason a refusal counts its packet under.
fn drop_reason(end_reason: EndReason) -> DropReason {
    match end_reason {
        EndReason::NotEntitled => DropReason::NotEntitled,
        EndReason::SubscriberLimit => DropReason::SubscriberLimit,
        _ => DropReason::QuotaExhausted,
    }
}

/// The length of the IPv6 packet in `frame` (its header and payload
/// length), after the Ethernet header and any VLAN tag; 0 if cut short.
fn ipv6_packet_len(frame: &[u8]) -> u64 {
    let l3 = crate::wire::EthernetFrame::new_checked(frame).map_or(IP, |e| e.payload_offset());
    frame
        .get(l3 + 4..l3 + 6)
        .map_or(0, |p| 40 + u64::from(u16::from_be_bytes([p[0], p[1]])))
}

impl Worker {
    /// Refuses `o`'s packet with `end_reason`: the record (if `refused`
    /// names an accounted user session), then the answer, or a drop as
    /// `budget_drop` when the reply rate is spent. A not-entitled refusal
    /// counts in `refused`; the others count the packet as dropped under
    /// their reason (its answer still goes out).
    pub(super) fn refuse<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        o: &Opening,
        (end_reason, budget_drop): (EndReason, DropReason),
        refused: Option<Refused>,
        ev: &mut E,
    ) -> Verdict {
        let (key, sid, path, now_ms) = (&o.key, o.sid, &o.path, o.now_ms);
        let reason = drop_reason(end_reason);
        if end_reason == EndReason::NotEntitled {
            self.counters.refused.inc();
        }
        if let Some(r) = refused.filter(|r| r.accounted) {
            let bytes = match o.v6 {
                None => u64::from(rd16(f.bytes(), IP + 2)),
                Some(_) => ipv6_packet_len(f.bytes()),
            };
            // NAT64: the IPv6 ends (the key holds only their folds).
            let ipv6 = o.v6.map(|v6| crate::event::Ipv6Ends {
                terminal: v6.src,
                dest: v6.dst,
                post_nat: None,
            });
            let v4 = |a: Ipv4Addr| {
                if ipv6.is_some() {
                    Ipv4Addr::UNSPECIFIED
                } else {
                    a
                }
            };
            self.emit(
                ev,
                Event::Accounting(AccountingEvent {
                    kind: RecordKind::Final,
                    end_reason,
                    proto: key.proto,
                    user_session_type: r.ty,
                    worker: self.cfg.index,
                    session_id: sid.0,
                    terminal_ip: v4(key.client_ip),
                    terminal_port: key.client_port,
                    gateway_ip: Ipv4Addr::UNSPECIFIED,
                    gateway_port: 0,
                    dest_ip: v4(key.dst_ip),
                    dest_port: key.dst_port,
                    server_ip: Ipv4Addr::UNSPECIFIED,
                    server_port: 0,
                    service: r.service,
                    packets_up: 1,
                    bytes_up: bytes,
                    packets_down: 0,
                    bytes_down: 0,
                    start_ms: now_ms,
                    end_ms: now_ms,
                    ipv6,
                }),
            );
        }
        let rate = self.snaps.policy.get().reply_rate_per_s;
        if !self.limiter.allow(now_ms, rate) {
            return Verdict::Drop(budget_drop);
        }
        let mut out = [0u8; 192];
        let written = if let Some(v6) = o.v6 {
            // NAT64: a RST in IPv6, or an ICMPv6 unreachable (code 1,
            // administratively prohibited) from the address the terminal
            // addressed, quoting what fits in `out`.
            match key.proto {
                PROTO_TCP => crate::wire::write_tcp_rst_reply_v6(f.bytes(), &mut out),
                _ => crate::wire::write_dest_unreachable_v6(f.bytes(), &mut out, v6.dst, 1),
            }
            .map_err(|_| crate::wire::WireError::UnsupportedProtocol)
        } else if key.proto == PROTO_TCP {
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
            return Verdict::Drop(reason);
        };
        if !super::own_addresses::replace_contents(f, &out[..n]) {
            return Verdict::Drop(DropReason::NoRoom);
        }
        if end_reason != EndReason::NotEntitled {
            // The refused packet is counted as dropped; its answer goes out.
            self.counters.count_drop(reason);
        }
        if key.proto == PROTO_TCP {
            self.counters.rst_sent.inc();
        } else {
            self.counters.icmp_errors_sent.inc();
        }
        self.send_to_client(f, path, now_ms, ev)
    }
}
