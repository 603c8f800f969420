//! SYN flood defence: a SYN proxy with cookies.
//!
//! A flood of SYNs from forged sources would otherwise take one user
//! session and one gateway port per SYN, until the table or the pool is
//! full and real terminals are refused. For a service whose `syn_proxy`
//! mode is `Always`, or `Auto` while this worker's table or a gateway
//! address's port pool is at least `syn_proxy_fill_percent` full, the
//! gateway answers the terminal's SYN itself with a SYN-ACK from the VIP
//! whose ISN is a cookie (`tier2::syncookie`) and keeps nothing. Only the
//! terminal's ACK returning the cookie, which a forged source never sees,
//! opens a user session and takes a port. Then:
//!
//! 1. the ACK is turned into a SYN from the gateway address and port to the
//!    chosen server, carrying the terminal's ISN, its window and the MSS
//!    from the cookie (no other option);
//! 2. the server's SYN-ACK is answered with the handshake's last ACK and is
//!    not passed on (the terminal had its SYN-ACK already);
//! 3. from then on every segment is spliced (`splice`): the server's
//!    sequence numbers are shifted into the cookie's space and the
//!    terminal's acknowledgements back.
//!
//! The cookie SYN-ACK offers no SACK, timestamps or window scaling (a
//! cookie has no room for them), and the SYN to the server asks for none,
//! so both ends run without them and no option needs translating.
//!
//! Segments the terminal sends before the server has answered (data sent
//! with or right after its ACK) are dropped (`syn_proxy_pending`): the
//! terminal retransmits them once its retransmission timer fires (≥ 200 ms
//! on Linux), so the first request of a proxied connection may wait that
//! long; nothing is lost. A RST from the terminal passes; a RST from the
//! server is passed to the terminal with the sequence number it expects.
//!
//! State: one 8-byte slot per user-session slab index (the terminal's ISN
//! and the cookie, then the splice delta), allocated with the table, and
//! two flag bits in the user session; `UserSession` does not grow.

mod segments;
pub(super) mod splice;

#[cfg(test)]
mod tests;

use super::l2::{rd16, ClientPath};
use super::uplink::{L4Info, Opening};
use super::{Verdict, Worker};
use crate::counters::DropReason;
use crate::event::EventSink;
use crate::frame::Frame;
use crate::policy::SynProxyMode;
use crate::tier2::syncookie::{mss_index, CookieTuple, SynCookies, MSS_TABLE};
use crate::tier2::user_sessions::SessionFlags;
use crate::tier2::{Direction, FlowKey, TcpFlags, UserSession};
use crate::wire::{ETHERNET_HEADER_LEN, PROTO_TCP};
use segments::{Segment, FLAG_ACK, FLAG_SYN};

const IP: usize = ETHERNET_HEADER_LEN;

/// What the proxy keeps for one proxied user session.
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    /// The sequence number of the terminal's SYN.
    client_isn: u32,
    /// The cookie while the server has not answered; then the splice delta
    /// (cookie − server ISN).
    cookie_or_delta: u32,
}

/// One worker's SYN proxy: cookie keys and per-session splice slots.
#[derive(Debug)]
pub(super) struct SynProxy {
    cookies: SynCookies,
    slots: Box<[Slot]>,
}

/// What a proxied session's segment from the server comes to.
pub(super) enum FromServer {
    /// Translate it with this delta and pass it on.
    Splice(u32),
    /// The server's SYN-ACK: answer it with the handshake's last ACK
    /// (`true` the first time, when the splice begins).
    AckServer(bool),
    Drop(DropReason),
}

impl SynProxy {
    pub(super) fn new(capacity: u32) -> SynProxy {
        SynProxy {
            cookies: SynCookies::new(),
            slots: vec![Slot::default(); capacity as usize].into_boxed_slice(),
        }
    }

    /// Bytes [`new`](SynProxy::new) allocates for `capacity` user sessions.
    pub(super) fn preallocated_bytes(capacity: u32) -> u64 {
        u64::from(capacity) * std::mem::size_of::<Slot>() as u64
    }

    /// A segment from the terminal of proxied session `idx`: `Ok(Some(d))`
    /// to pass it with its ack shifted by `d`, `Ok(None)` to pass it as it
    /// is, `Err` to drop it.
    #[inline]
    pub(super) fn client_segment(
        &self,
        idx: u32,
        e: &mut UserSession,
        flags: TcpFlags,
    ) -> Result<Option<u32>, DropReason> {
        if flags.syn() && !flags.ack() {
            // The terminal opens the 5-tuple anew (after TIME_WAIT): this
            // connection goes straight to the server, unproxied.
            e.flags.remove(SessionFlags::SYN_PROXY_OPENING);
            e.flags.remove(SessionFlags::SYN_PROXY_SPLICED);
            return Ok(None);
        }
        if e.flags.contains(SessionFlags::SYN_PROXY_OPENING) {
            return if flags.rst() {
                Ok(None)
            } else {
                Err(DropReason::SynProxyPending)
            };
        }
        match self.slots.get(idx as usize) {
            Some(s) => Ok(Some(s.cookie_or_delta)),
            None => Err(DropReason::NoUserSession),
        }
    }

    /// A segment from the server of proxied session `idx`, with its
    /// sequence and acknowledgement numbers.
    #[inline]
    pub(super) fn server_segment(
        &mut self,
        idx: u32,
        e: &mut UserSession,
        flags: TcpFlags,
        seq: u32,
        ack: u32,
    ) -> FromServer {
        let Some(slot) = self.slots.get_mut(idx as usize) else {
            return FromServer::Drop(DropReason::NoUserSession);
        };
        if e.flags.contains(SessionFlags::SYN_PROXY_OPENING) {
            if flags.rst() {
                // Refused: the terminal accepts a RST at its RCV.NXT.
                e.flags.remove(SessionFlags::SYN_PROXY_OPENING);
                return FromServer::Splice(slot.cookie_or_delta.wrapping_add(1).wrapping_sub(seq));
            }
            if flags.syn() && flags.ack() && ack == slot.client_isn.wrapping_add(1) {
                slot.cookie_or_delta = slot.cookie_or_delta.wrapping_sub(seq);
                e.flags.remove(SessionFlags::SYN_PROXY_OPENING);
                e.flags.insert(SessionFlags::SYN_PROXY_SPLICED);
                return FromServer::AckServer(true);
            }
            return FromServer::Drop(DropReason::SynProxyPending);
        }
        if flags.syn() && flags.ack() {
            // Our ACK was lost and the server repeats its SYN-ACK.
            return FromServer::AckServer(false);
        }
        FromServer::Splice(slot.cookie_or_delta)
    }
}

impl Worker {
    /// Whether `Auto` services are proxied now: this worker's table, or
    /// one of its gateway addresses' port pools, is `fill` percent full.
    fn syn_proxy_filled(&self, fill: u8) -> bool {
        let fill = u64::from(fill);
        if u64::from(self.gw.table.len()) * 100 >= u64::from(self.cfg.table_capacity) * fill {
            return true;
        }
        (0..self.gw.ports.n_addrs()).any(|a| {
            self.gw
                .ports
                .pool(a)
                .is_some_and(|p| u64::from(p.in_use()) * 100 >= u64::from(p.capacity()) * fill)
        })
    }

    /// A TCP segment of `key` with no user session: answers a SYN with a
    /// cookie while the service is proxied, or opens the user session of a
    /// valid cookie ACK. `None`: not the proxy's business, go on as usual.
    ///
    /// Runs before the drain handoff of a moved session: a SYN opens a new
    /// connection here anyway, and a valid cookie ACK belongs to a SYN this
    /// worker answered (another worker's keys would refuse it). Any other
    /// ACK of a draining session is left to the handoff: it may belong to
    /// a connection still open on the old gateway.
    pub(super) fn syn_proxy_first<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        o: &Opening,
        ev: &mut E,
    ) -> Option<Verdict> {
        let (key, l4, sid, path, now_ms) = (&o.key, &o.l4, o.sid, &o.path, o.now_ms);
        let (mode, fill) = {
            let policy = self.snaps.policy.get();
            let s = policy.services.find(PROTO_TCP, key.dst_ip, key.dst_port)?;
            let mode = policy.services.services.get(s as usize)?.syn_proxy;
            (mode, policy.syn_proxy_fill_percent)
        };
        let active = match mode {
            SynProxyMode::Off => return None,
            SynProxyMode::Always => true,
            SynProxyMode::Auto => self.syn_proxy_filled(fill),
        };
        let fl = l4.flags;
        let (seq, ack) = splice::seq_ack(f.bytes(), IP + l4.ihl());
        if fl.syn() && !fl.ack() && !fl.rst() {
            return active.then(|| self.answer_syn(f, key, l4, seq, path, (now_ms, ev)));
        }
        if !fl.ack() || fl.syn() || fl.rst() {
            return None;
        }
        let t = CookieTuple {
            client_ip: key.client_ip,
            client_port: key.client_port,
            vip: key.dst_ip,
            vip_port: key.dst_port,
            client_isn: seq.wrapping_sub(1),
        };
        let cookie = ack.wrapping_sub(1);
        match self.gw.synproxy.cookies.verify(&t, cookie, now_ms) {
            Some(mss_ix) => Some(self.open_from_cookie(f, o, &t, cookie, mss_ix, ev)),
            None if active && self.drain_handoff(sid, l4, 0).is_none() => {
                Some(Verdict::Drop(DropReason::SynCookieInvalid))
            }
            None => None,
        }
    }

    /// Turns the terminal's SYN into the cookie SYN-ACK from the VIP.
    fn answer_syn<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        key: &FlowKey,
        l4: &L4Info,
        seq: u32,
        path: &ClientPath,
        (now_ms, ev): (u64, &mut E),
    ) -> Verdict {
        let b = f.bytes();
        let tcp_off = IP + l4.ihl();
        let mss = b.get(tcp_off..).and_then(crate::wire::tcp_options::mss);
        let mss_ix = mss_index(mss);
        let announced = self.clamped_mss(MSS_TABLE[usize::from(mss_ix)], path.port);
        let t = CookieTuple {
            client_ip: key.client_ip,
            client_port: key.client_port,
            vip: key.dst_ip,
            vip_port: key.dst_port,
            client_isn: seq,
        };
        let cookie = self.gw.synproxy.cookies.encode(&t, mss_ix, now_ms);
        let s = Segment {
            src: key.dst_ip,
            dst: key.client_ip,
            src_port: key.dst_port,
            dst_port: key.client_port,
            seq: cookie,
            ack: seq.wrapping_add(1),
            flags: FLAG_SYN | FLAG_ACK,
            window: segments::WINDOW,
            mss: Some(announced),
            tos: b[IP + 1],
        };
        if !self.put_segment(f, &s) {
            return Verdict::Drop(DropReason::NoRoom);
        }
        self.counters.syn_cookies_sent.inc();
        self.send_to_client(f, path, now_ms, ev)
    }

    /// A valid cookie ACK: opens the user session (policy, server choice,
    /// port) and turns the ACK into the SYN to the server.
    fn open_from_cookie<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        o: &Opening,
        t: &CookieTuple,
        cookie: u32,
        mss_ix: u8,
        ev: &mut E,
    ) -> Verdict {
        let (l4, now_ms) = (&o.l4, o.now_ms);
        self.counters.syn_cookies_valid.inc();
        let as_syn = Opening {
            l4: L4Info {
                flags: TcpFlags::of(true, false, false, false),
                ..*l4
            },
            ..*o
        };
        let idx = match self.create(f, &as_syn, ev) {
            Ok(i) => i,
            Err(v) => return v,
        };
        let mss = self.clamped_mss(MSS_TABLE[usize::from(mss_ix & 3)], o.path.port);
        let b = f.bytes();
        let (tos, window) = (b[IP + 1], rd16(b, IP + l4.ihl() + 14));
        let Some(slot) = self.gw.synproxy.slots.get_mut(idx as usize) else {
            return Verdict::Drop(DropReason::NoUserSession);
        };
        *slot = Slot {
            client_isn: t.client_isn,
            cookie_or_delta: cookie,
        };
        let Some(e) = self.gw.table.get_mut(idx) else {
            return Verdict::Drop(DropReason::NoUserSession);
        };
        e.flags.insert(SessionFlags::SYN_PROXY_OPENING);
        e.on_packet(Direction::ToServer, 44, as_syn.l4.flags, now_ms);
        // Window tracking learns the handshake the terminal saw: its SYN
        // and the cookie SYN-ACK (neither reached the tracker).
        let client_syn = crate::tier2::Segment {
            seq: t.client_isn,
            ack: 0,
            window,
            payload: 0,
            flags: as_syn.l4.flags,
            window_scale: None,
        };
        let cookie_syn_ack = crate::tier2::Segment {
            seq: cookie,
            ack: t.client_isn.wrapping_add(1),
            window: segments::WINDOW,
            payload: 0,
            flags: TcpFlags::of(true, true, false, false),
            window_scale: None,
        };
        e.guard.track_tcp(Direction::ToServer, &client_syn);
        e.guard.track_tcp(Direction::ToClient, &cookie_syn_ack);
        let s = Segment {
            src: self.cfg.gateway_addrs[usize::from(e.gw_addr)],
            dst: e.server_ip,
            src_port: e.gw_port,
            dst_port: e.server_port,
            seq: t.client_isn,
            ack: 0,
            flags: FLAG_SYN,
            window,
            mss: Some(mss),
            tos: marked_tos(
                tos,
                crate::pipeline::marks::dscp(self.dscp_marks, self.snaps.policy.get(), e),
            ),
        };
        let server = e.server_ip;
        if !self.put_segment(f, &s) {
            return Verdict::Drop(DropReason::NoRoom);
        }
        self.send_to_network(f, server, now_ms, ev)
    }

    /// The server's SYN-ACK to proxied session `idx`: becomes the ACK that
    /// completes the server-side handshake.
    pub(super) fn syn_proxy_ack_server<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        idx: u32,
        ihl: usize,
        first: bool,
        now_ms: u64,
        ev: &mut E,
    ) -> Verdict {
        let b = f.bytes();
        let (server_isn, _) = splice::seq_ack(b, IP + ihl);
        let (ip_len, tos) = (u32::from(rd16(b, IP + 2)), b[IP + 1]);
        let client_isn = match self.gw.synproxy.slots.get(idx as usize) {
            Some(s) => s.client_isn,
            None => return Verdict::Drop(DropReason::NoUserSession),
        };
        let Some(e) = self.gw.table.get_mut(idx) else {
            return Verdict::Drop(DropReason::NoUserSession);
        };
        let before = e.state;
        let syn_ack = TcpFlags::of(true, true, false, false);
        e.on_packet(Direction::ToClient, ip_len, syn_ack, now_ms);
        e.on_packet(
            Direction::ToServer,
            40,
            TcpFlags::from_header_byte(FLAG_ACK),
            now_ms,
        );
        let s = Segment {
            src: self.cfg.gateway_addrs[usize::from(e.gw_addr)],
            dst: e.server_ip,
            src_port: e.gw_port,
            dst_port: e.server_port,
            seq: client_isn.wrapping_add(1),
            ack: server_isn.wrapping_add(1),
            flags: FLAG_ACK,
            window: segments::WINDOW,
            mss: None,
            tos: marked_tos(
                tos,
                crate::pipeline::marks::dscp(self.dscp_marks, self.snaps.policy.get(), e),
            ),
        };
        let server = e.server_ip;
        if e.state != before {
            let deadline = e.deadline_ms(self.snaps.policy.get().timeouts_for(e.session_type));
            super::expiry::shorten(&mut self.gw.wheel, idx, deadline);
        }
        if first {
            self.counters.syn_proxy_opened.inc();
        }
        if !self.put_segment(f, &s) {
            return Verdict::Drop(DropReason::NoRoom);
        }
        self.send_to_network(f, server, now_ms, ev)
    }

    // The handshake segments to the server go the full way
    // (`send_to_network`), not through the per-server next-hop cache of
    // `send_to_server`: a second caller stopped that from being inlined
    // into the established path (+17 instructions per packet, callgrind).

    /// Replaces the frame's contents with segment `s`, keeping its
    /// Ethernet addresses for the sender to overwrite.
    fn put_segment<F: Frame>(&self, f: &mut F, s: &Segment) -> bool {
        let mut out = [0u8; segments::MAX_LEN];
        let n = segments::write(s, &mut out);
        super::own_addresses::replace_contents(f, &out[..n])
    }
}

/// The TOS byte of a segment the proxy writes toward the server: `tos`
/// with the user session's DSCP, if it has one (ECN kept).
fn marked_tos(tos: u8, dscp: Option<u8>) -> u8 {
    dscp.map_or(tos, |d| {
        (d & crate::wire::dscp::DSCP_MAX) << 2 | (tos & 0x03)
    })
}
