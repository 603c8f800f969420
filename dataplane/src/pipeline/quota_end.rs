//! Ending the open TCP connections of a subscriber whose usage quota ran
//! out with `on_exhausted: Block`, with a RST to each side. A worker has no
//! frame of its own to send, so the control plane's end command
//! (`scan`, reason `quota_exhausted`) only marks each open connection
//! (`SessionFlags::QUOTA_ENDED`, closing timeout from now) and the next
//! segments carry the resets:
//!
//! * a terminal's segment is answered by a RST from the address it talked
//!   to (its acknowledgement number is the sequence the terminal expects);
//! * the first server segment becomes a RST to the terminal with the
//!   server's sequence number (the terminal's next expected byte when it
//!   is in order; otherwise the terminal's challenge ACK is answered as
//!   above);
//! * a server segment once the terminal has been reset is answered by a
//!   RST to the server, and the user session is removed (final record,
//!   reason `quota_exhausted`).
//!
//! A connection on which neither side sends within the closing timeout is
//! removed without resets, with the same record. UDP and ICMP user sessions
//! are removed at once; a terminal's next packet opens nothing and is
//! answered by ICMP administratively prohibited (`uplink::create`).

use super::l2::ClientPath;
use super::{Verdict, Worker};
use crate::counters::DropReason;
use crate::event::{EndReason, EventSink};
use crate::frame::Frame;
use crate::tier2::user_sessions::SessionFlags;
use crate::tier2::{FlowState, TcpState};
use crate::wire::{Ipv4Repr, TcpFlags, TcpRepr, ETHERNET_HEADER_LEN, PROTO_TCP, TCP_HEADER_LEN};
use std::net::Ipv4Addr;

const IP: usize = ETHERNET_HEADER_LEN;
/// Ethernet + IPv4 + TCP without options.
const RST_FRAME_LEN: usize = ETHERNET_HEADER_LEN + 20 + TCP_HEADER_LEN;

/// Marks user session `idx` for ending by resets (see the module doc), or
/// says it must be removed now (`false`: not an open TCP connection).
pub(super) fn mark(w: &mut Worker, idx: u32, now_ms: u64) -> bool {
    let Some(e) = w.gw.table.get_mut(idx) else {
        return false;
    };
    if e.proto != PROTO_TCP
        || matches!(
            e.state,
            FlowState::Tcp(TcpState::TimeWait | TcpState::Close)
        )
        || e.flags.contains(SessionFlags::QUOTA_ENDED)
    {
        return e.flags.contains(SessionFlags::QUOTA_ENDED);
    }
    e.flags.insert(SessionFlags::QUOTA_ENDED);
    // Not reset yet: a closing state, so it goes after the closing timeout.
    e.state = FlowState::Tcp(TcpState::FinWait);
    e.last_seen_ms = now_ms;
    let deadline = e.deadline_ms(w.snaps.policy.get().timeouts_for(e.session_type));
    super::expiry::shorten(&mut w.gw.wheel, idx, deadline);
    true
}

impl Worker {
    /// A terminal's segment of a marked user session: a RST back to it.
    /// Out of line: the established path only tests the flag.
    #[cold]
    #[inline(never)]
    pub(super) fn quota_ended_from_client<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        idx: u32,
        path: &ClientPath,
        now_ms: u64,
        ev: &mut E,
    ) -> Verdict {
        if let Some(e) = self.gw.table.get_mut(idx) {
            e.state = FlowState::Tcp(TcpState::Close);
        }
        self.counters.count_drop(DropReason::QuotaExhausted);
        let rate = self.snaps.policy.get().reply_rate_per_s;
        if !self.limiter.allow(now_ms, rate) {
            return Verdict::Drop(DropReason::QuotaExhausted);
        }
        let mut out = [0u8; 192];
        let Ok(n) = crate::wire::write_tcp_rst_reply(f.bytes(), &mut out) else {
            return Verdict::Drop(DropReason::QuotaExhausted);
        };
        if !super::own_addresses::replace_contents(f, &out[..n]) {
            return Verdict::Drop(DropReason::NoRoom);
        }
        self.counters.rst_sent.inc();
        self.send_to_client(f, path, now_ms, ev)
    }

    /// A server's segment (sequence number `seq` in the terminal's view)
    /// of a marked user session: a RST to the terminal the first time, a
    /// RST back to the server once the terminal has had its own.
    #[cold]
    #[inline(never)]
    pub(super) fn quota_ended_from_server<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        idx: u32,
        seq: u32,
        now_ms: u64,
        ev: &mut E,
    ) -> Verdict {
        let Some(e) = self.gw.table.get_mut(idx) else {
            return Verdict::Drop(DropReason::NoUserSession);
        };
        self.counters.count_drop(DropReason::QuotaExhausted);
        let terminal_reset = e.state == FlowState::Tcp(TcpState::Close);
        e.state = FlowState::Tcp(TcpState::Close);
        let (vip, vport, client, cport, path) = (
            e.orig_dst_ip,
            e.orig_dst_port,
            e.client_ip,
            e.client_port,
            e.client_path,
        );
        let server = e.server_ip;
        let rate = self.snaps.policy.get().reply_rate_per_s;
        if terminal_reset {
            let mut out = [0u8; 192];
            let written = crate::wire::write_tcp_rst_reply(f.bytes(), &mut out);
            super::expiry::remove(self, idx, Some(EndReason::QuotaExhausted), now_ms, ev);
            let Ok(n) = written else {
                return Verdict::Drop(DropReason::QuotaExhausted);
            };
            if !self.limiter.allow(now_ms, rate) {
                return Verdict::Drop(DropReason::QuotaExhausted);
            }
            if !super::own_addresses::replace_contents(f, &out[..n]) {
                return Verdict::Drop(DropReason::NoRoom);
            }
            self.counters.rst_sent.inc();
            // The full way (not the per-server hop cache: a second caller
            // would keep `send_to_server` from being inlined into the uplink).
            return self.send_to_network(f, server, now_ms, ev);
        }
        if !self.limiter.allow(now_ms, rate) {
            return Verdict::Drop(DropReason::QuotaExhausted);
        }
        let mut out = [0u8; RST_FRAME_LEN];
        if write_rst(f.bytes(), (vip, vport), (client, cport), seq, &mut out).is_none()
            || !super::own_addresses::replace_contents(f, &out)
        {
            return Verdict::Drop(DropReason::NoRoom);
        }
        self.counters.rst_sent.inc();
        self.send_to_client(f, &path, now_ms, ev)
    }
}

/// A bare RST from `src` to `dst` with sequence number `seq`, after the
/// Ethernet header of `frame` (its addresses are set on the way out).
fn write_rst(
    frame: &[u8],
    src: (Ipv4Addr, u16),
    dst: (Ipv4Addr, u16),
    seq: u32,
    out: &mut [u8; RST_FRAME_LEN],
) -> Option<()> {
    out[..IP].copy_from_slice(frame.get(..IP)?);
    out[12..14].copy_from_slice(&crate::wire::ETHERTYPE_IPV4.to_be_bytes());
    let l4 = IP
        + Ipv4Repr::new(src.0, dst.0, PROTO_TCP, TCP_HEADER_LEN)
            .emit(&mut out[IP..])
            .ok()?;
    TcpRepr {
        src_port: src.1,
        dst_port: dst.1,
        seq,
        ack: 0,
        flags: TcpFlags::RST,
        window: 0,
    }
    .emit(&mut out[l4..], src.0, dst.0)
    .ok()?;
    Some(())
}
