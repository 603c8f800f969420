//! Tier-2, server → terminal: the destination port names the user session;
//! only its recorded server may answer; the reply is translated back to
//! exactly what the terminal sent to.

use super::l2::{normalize, rd16, rd32};
use super::nat::{rewrite, Rewrite};
use super::parse::Ip;
use super::proxy_protocol::Downstream;
use super::steer::Rx;
use super::synproxy::FromServer;
use super::{Verdict, Worker};
use crate::counters::DropReason;
use crate::event::{Event, EventSink};
use crate::frame::Frame;
use crate::tier2::user_sessions::SessionFlags;
use crate::tier2::{Direction, FlowState, FragmentKey, TcpState};
use crate::wire::checksum::{checksum, update16, update32};
use crate::wire::{
    Ipv4Packet, ETHERNET_HEADER_LEN, ICMP_ECHO_REPLY, PROTO_ICMP, PROTO_TCP, PROTO_UDP,
};

const IP: usize = ETHERNET_HEADER_LEN;

impl Worker {
    /// `FIRST_FRAGMENT`: `ip` is a first fragment (`fragments.rs`, `first`
    /// its fragment table key), recorded just before its rewrite; a
    /// constant, so the established path's copy has no fragment code.
    pub(super) fn downlink<const FIRST_FRAGMENT: bool, F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        rx: &Rx,
        ip: &Ip,
        (gw_addr, gw_port): (u8, u16),
        first: Option<FragmentKey>,
        ev: &mut E,
    ) -> Verdict {
        let now_ms = rx.now_ms;
        if !normalize(f, ip.start(), ip.total) {
            return Verdict::Drop(DropReason::Truncated);
        }
        let Some(idx) = self.gw.table.find_reply(gw_addr, gw_port) else {
            return Verdict::Drop(DropReason::NoUserSession);
        };
        let proto = ip.proto;
        if proto == PROTO_ICMP && rx.frame.l4.is_ok_and(|l4| l4.icmp_type != ICMP_ECHO_REPLY) {
            if ip.ttl <= 1 {
                return Verdict::Drop(DropReason::TtlExpired);
            }
            return self.icmp_error_to_client(f, idx, ip.header_len(), (now_ms, ev));
        }
        let l4 = match rx.frame.l4 {
            Ok(x) => x,
            Err(r) => return Verdict::Drop(r),
        };
        let src = ip.src;
        let ip_len = u32::from(ip.total);
        if ip.ttl <= 1 {
            return Verdict::Drop(DropReason::TtlExpired);
        }
        let Some(e) = self.gw.table.get_mut(idx) else {
            return Verdict::Drop(DropReason::NoUserSession);
        };
        let from_server = e.proto == proto
            && match proto {
                PROTO_TCP | PROTO_UDP => e.is_from_server(src, l4.src_port),
                _ => e.server_ip == src,
            };
        if !from_server {
            return Verdict::Drop(DropReason::ReplyMismatch);
        }
        // Fabric hook (fabric.rs): too big for the fabric to a terminal
        // behind another appliance's tier-1 unit: the server hears of it,
        // nothing is translated or counted.
        // (NAT64 makes the packet 20 bytes longer, a fragment 28: IPv6's
        // header and its fragment header.)
        let grows = if e.flags.contains(SessionFlags::NAT64) {
            if FIRST_FRAGMENT {
                28
            } else {
                20
            }
        } else {
            0
        };
        if super::fabric::too_big_for_tier1(self.cfg.fabric, &e.client_path, ip.total + grows) {
            let path = e.client_path;
            return self.server_too_big_for_fabric(f, rx, ip, (&path, grows));
        }
        // Bitrate limit hook (rate_limit.rs): dropped, or re-marked where
        // its type says so; NAT64 hook (nat64.rs) behind the same test.
        if e.flags.0 & (SessionFlags::BITRATE.0 | SessionFlags::NAT64.0) != 0 {
            if e.flags.contains(SessionFlags::NAT64) {
                return self.downlink_nat64(f, rx, ip, (idx, first), &l4, ev);
            }
            if !super::rate_limit::conforms(
                &mut self.gw.admission,
                &self.snaps.policy,
                e,
                (Direction::ToClient, ip_len),
                now_ms,
            ) {
                match super::rate_limit::over_limit_dscp(&self.snaps.policy, e) {
                    Some(d) => self.over_limit = Some((idx, d)),
                    None => return Verdict::Drop(DropReason::BitrateLimited),
                }
                self.counters.bitrate_remarked.inc();
            }
        }
        // SYN proxy hook (synproxy/): ends the server handshake, then spliced below.
        let splice = if e.flags.0 & SessionFlags::SYN_PROXY != 0 {
            let (seq, ack) = super::synproxy::splice::seq_ack(f.bytes(), IP + l4.ihl());
            match self.gw.synproxy.server_segment(idx, e, l4.flags, seq, ack) {
                FromServer::Splice(d) => Some(d),
                FromServer::AckServer(first) => {
                    return self.syn_proxy_ack_server(f, idx, l4.ihl(), first, now_ms, ev)
                }
                FromServer::Drop(r) => return Verdict::Drop(r),
            }
        } else {
            None
        };
        // PROXY protocol hook (proxy_protocol/): acks back into the
        // terminal's numbers, below.
        let proxied = if e.flags.0 & SessionFlags::PROXY_V2.0 != 0 && proto == PROTO_TCP {
            if e.flags.contains(SessionFlags::PROXY_V2_ACKED) {
                Some(Downstream::Acked)
            } else {
                let (d, acked) = self.gw.proxy.server_segment(idx, l4.flags, l4.seg.ack);
                if acked {
                    e.flags.insert(SessionFlags::PROXY_V2_ACKED);
                }
                Some(d)
            }
        } else {
            None
        };
        // Window tracking works in the terminal's view: a spliced server's
        // sequence numbers are shifted into the cookie's space first, a
        // PROXY session's acknowledgements out of the header's.
        let mut seg = l4.seg;
        if let Some(delta) = splice {
            seg.seq = seg.seq.wrapping_add(delta);
        }
        if let Some(d) = proxied {
            if l4.flags.ack() {
                seg.ack = d.client_ack(seg.ack);
            }
        }
        // Quota end hook (quota_end.rs): resets instead of the segment.
        if e.flags.contains(SessionFlags::QUOTA_ENDED) {
            return self.quota_ended_from_server(f, idx, seg.seq, now_ms, ev);
        }
        let in_window = l4.proto != PROTO_TCP || e.guard.track_tcp(Direction::ToClient, &seg);
        if !in_window && (l4.flags.rst() || l4.flags.fin()) {
            return Verdict::Drop(DropReason::TcpOutOfWindow);
        }
        let refused = in_window && l4.flags.rst() && e.state == FlowState::Tcp(TcpState::SynSent);
        let server_index = e.server_index;
        if in_window {
            let before = e.state;
            e.on_packet(Direction::ToClient, ip_len, l4.flags, now_ms);
            if e.state != before {
                let deadline = e.deadline_ms(self.snaps.policy.get().timeouts_for(e.session_type));
                super::expiry::shorten(&mut self.gw.wheel, idx, deadline);
            }
        } else {
            // Forwarded (the terminal judges it) and counted, but it
            // neither moves the state nor keeps the session alive.
            e.count(Direction::ToClient, ip_len);
        }
        let rw = Rewrite {
            src: e.orig_dst_ip,
            src_port: e.orig_dst_port,
            dst: e.client_ip,
            dst_port: e.client_port,
        };
        let path = e.client_path;
        let dscp = super::marks::dscp(
            self.dscp_marks,
            self.snaps.policy.get(),
            e,
            (&mut self.over_limit, idx),
        );
        if refused && server_index != u32::MAX {
            self.emit(
                ev,
                Event::ServerFailure {
                    server: server_index,
                },
            );
        }
        // Fragments hook (fragments.rs): the first of a datagram's pieces,
        // about to leave, leaves the entry the later ones follow.
        if FIRST_FRAGMENT {
            if let Err(r) = self.open_fragment(first, idx, now_ms) {
                return Verdict::Drop(r);
            }
        }
        rewrite(&mut f.bytes_mut()[IP..], l4.ihl(), proto, &rw, false);
        if let Some(delta) = splice {
            super::synproxy::splice::to_client(&mut f.bytes_mut()[IP + l4.ihl()..], delta);
        }
        if let Some(d) = proxied {
            super::proxy_protocol::segment::to_client(
                &mut f.bytes_mut()[IP + l4.ihl()..],
                |a| d.client_ack(a),
                super::proxy_protocol::HEADER_LEN,
            );
        }
        // MSS clamp and DSCP (marks.rs), on the GTP-U outer header too.
        self.mark(f.bytes_mut(), &l4, path.port, dscp);
        let verdict = self.send_to_client(f, &path, now_ms, ev);
        self.mark_tunnel_of(f, &path, dscp, verdict)
    }

    /// An ICMP error from the server side quoting a packet we translated
    /// (e.g. port unreachable, fragmentation needed): translate the quoted
    /// packet back to what the terminal sent, address the error to the
    /// terminal from the address it talked to, and send it along its path.
    fn icmp_error_to_client<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        idx: u32,
        ihl: usize,
        (now_ms, ev): (u64, &mut E),
    ) -> Verdict {
        let Some(e) = self.gw.table.get(idx) else {
            return Verdict::Drop(DropReason::NoUserSession);
        };
        if e.flags.contains(SessionFlags::NAT64) {
            // nat64_icmp.rs: an ICMPv6 error to the IPv6 terminal.
            return self.icmp_error_to_nat64(f, idx, ihl, (now_ms, ev));
        }
        let (client_ip, client_port, vip, vip_port, path) = (
            e.client_ip,
            e.client_port,
            e.orig_dst_ip,
            e.orig_dst_port,
            e.client_path,
        );
        let (server_ip, gw_ip) = (e.server_ip, self.cfg.gateway_addrs[usize::from(e.gw_addr)]);
        let proxied = e.flags.contains(SessionFlags::PROXY_V2);
        let b = f.bytes_mut();
        let icmp_off = IP + ihl;
        let q = icmp_off + 8;
        if b.len() < q + 28 || check_ipv4_quoted(&b[q..]).is_none() {
            return Verdict::Drop(DropReason::IcmpUnmatched);
        }
        let quoted = Ipv4Packet::new_unchecked(&b[q..]);
        let qihl = quoted.header_len();
        if b.len() < q + qihl + 8 || quoted.src() != gw_ip || quoted.dst() != server_ip {
            return Verdict::Drop(DropReason::IcmpUnmatched);
        }
        let qproto = b[q + 9];
        // Quoted IP header: src gateway → terminal, dst server → VIP.
        let mut c = rd16(b, q + 10);
        c = update32(c, u32::from(gw_ip), u32::from(client_ip));
        c = update32(c, u32::from(server_ip), u32::from(vip));
        b[q + 10..q + 12].copy_from_slice(&c.to_be_bytes());
        b[q + 12..q + 16].copy_from_slice(&client_ip.octets());
        b[q + 16..q + 20].copy_from_slice(&vip.octets());
        let ql4 = q + qihl;
        // The end of the ICMP message (the frame may carry padding).
        let end = (IP + usize::from(rd16(b, IP + 2))).min(b.len());
        match qproto {
            PROTO_TCP | PROTO_UDP => {
                let (sport, dport, seq) = (rd16(b, ql4), rd16(b, ql4 + 2), rd32(b, ql4 + 4));
                b[ql4..ql4 + 2].copy_from_slice(&client_port.to_be_bytes());
                b[ql4 + 2..ql4 + 4].copy_from_slice(&vip_port.to_be_bytes());
                if proxied && qproto == PROTO_TCP {
                    // The terminal checks the quoted sequence number
                    // against what it sent (e.g. before taking a smaller
                    // path MTU): back out of the PROXY header's shift.
                    self.gw.proxy.quoted_to_client(idx, &mut b[ql4..]);
                }
                // The quoted checksum, where the quote holds it, follows
                // the pseudo header's addresses, the ports and a shifted
                // sequence number (a UDP checksum of 0 stays "none").
                let at = ql4 + if qproto == PROTO_TCP { 16 } else { 6 };
                if at + 2 <= end {
                    let old = rd16(b, at);
                    if qproto == PROTO_TCP || old != 0 {
                        let mut c = update32(old, u32::from(gw_ip), u32::from(client_ip));
                        c = update32(c, u32::from(server_ip), u32::from(vip));
                        c = update16(c, sport, client_port);
                        c = update16(c, dport, vip_port);
                        if qproto == PROTO_TCP {
                            c = update32(c, seq, rd32(b, ql4 + 4));
                        } else if c == 0 {
                            c = 0xffff;
                        }
                        b[at..at + 2].copy_from_slice(&c.to_be_bytes());
                    }
                }
            }
            PROTO_ICMP => b[ql4 + 4..ql4 + 6].copy_from_slice(&client_port.to_be_bytes()),
            _ => return Verdict::Drop(DropReason::IcmpUnmatched),
        }
        // Outer header: from the VIP to the terminal.
        let outer = Ipv4Packet::new_unchecked(&b[IP..]);
        let (old_src, old_dst) = (u32::from(outer.src()), u32::from(outer.dst()));
        let mut c = rd16(b, IP + 10);
        c = update32(c, old_src, u32::from(vip));
        c = update32(c, old_dst, u32::from(client_ip));
        let old_ttl = rd16(b, IP + 8);
        b[IP + 8] = b[IP + 8].saturating_sub(1);
        c = update16(c, old_ttl, rd16(b, IP + 8));
        b[IP + 10..IP + 12].copy_from_slice(&c.to_be_bytes());
        b[IP + 12..IP + 16].copy_from_slice(&vip.octets());
        b[IP + 16..IP + 20].copy_from_slice(&client_ip.octets());
        // The ICMP checksum covers the whole message: errors are rare and
        // short, so recompute it.
        b[icmp_off + 2..icmp_off + 4].copy_from_slice(&[0, 0]);
        let c = checksum(&b[icmp_off..end]);
        b[icmp_off + 2..icmp_off + 4].copy_from_slice(&c.to_be_bytes());
        self.send_to_client(f, &path, now_ms, ev)
    }
}

/// The quoted header of an ICMP error needs only to be a plausible IPv4
/// header (its total length refers to the original, untruncated packet).
pub(super) fn check_ipv4_quoted(q: &[u8]) -> Option<()> {
    if q.len() < 20 || q[0] >> 4 != 4 || usize::from(q[0] & 0x0f) * 4 < 20 {
        return None;
    }
    Some(())
}
