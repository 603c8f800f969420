//! Tier-2, terminal → server: find or create the user session, rewrite to
//! (gateway address, unique port) → (server, service port), send it on.

use super::l2::{normalize, set_macs, ClientPath};
use super::nat::{rewrite, Rewrite};
use super::parse::Ip;
pub(super) use super::parse::L4Info;
use super::refuse::Refused;
use super::steer::Rx;
use super::{Verdict, Worker};
use crate::counters::DropReason;
use crate::event::{EndReason, Event, EventSink};
use crate::frame::Frame;
use crate::policy::admit::{self, Decision, NewFlow};
use crate::tier1::SessionId;
use crate::tier2::user_sessions::SessionFlags;
use crate::tier2::{
    Direction, FlowKey, FlowState, FragmentKey, GtpTunnel, InsertError, PathChange, TcpState,
    UserSession,
};
use crate::topology::Role;
use crate::wire::{ETHERNET_HEADER_LEN, ICMP_ECHO_REQUEST, PROTO_ICMP, PROTO_TCP};
use std::net::Ipv4Addr;

const IP: usize = ETHERNET_HEADER_LEN;

/// A flow's first packet on its way to a new user session: what creating
/// it (policy, limits, SYN proxy, refusals) needs to know.
#[derive(Clone, Copy, Debug)]
pub(super) struct Opening {
    pub key: FlowKey,
    pub l4: L4Info,
    pub dscp: u8,
    pub sid: SessionId,
    pub path: ClientPath,
    pub now_ms: u64,
    /// An IPv6 terminal's flow (NAT64, `nat64.rs`); `None` for IPv4.
    pub v6: Option<super::nat64::V6Opening>,
}

impl Worker {
    #[inline(always)]
    pub(super) fn uplink<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        rx: &Rx,
        sid: SessionId,
        ev: &mut E,
    ) -> Verdict {
        // Borrowed from the record, not copied out of its `Result`.
        let inner = match &rx.frame.inner {
            Ok(ip) => ip,
            // IPv6 in a G-PDU: NAT64 as on the port (nat64.rs).
            Err(DropReason::Ipv6NotServed) if rx.frame.tunnel.is_some() => {
                return self.uplink_gtp_v6(f, rx, sid, ev)
            }
            Err(r) => return Verdict::Drop(*r),
        };
        // Fragments hook (fragments.rs): a later one follows its first; a
        // first one goes the way below and is recorded before its rewrite.
        if inner.is_fragment() {
            return self.uplink_fragment(f, rx, sid, inner, ev);
        }
        self.uplink_packet::<false, F, E>(f, rx, sid, inner, None, ev)
    }

    /// [`uplink`](Self::uplink) for a packet that is not a fragment
    /// (`FIRST_FRAGMENT` false, `first` None), or for a first fragment
    /// (`fragments.rs`: true, its fragment table key): a constant, so the
    /// established path's copy has no fragment code in it.
    #[inline(always)]
    pub(super) fn uplink_packet<const FIRST_FRAGMENT: bool, F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        rx: &Rx,
        sid: SessionId,
        inner: &Ip,
        first: Option<FragmentKey>,
        ev: &mut E,
    ) -> Verdict {
        let (in_port, now_ms, p) = (rx.port, rx.now_ms, rx.frame);
        if !normalize(f, inner.start(), inner.total) {
            return Verdict::Drop(DropReason::Truncated);
        }
        let l4 = match &p.l4 {
            Ok(x) => x,
            Err(r) => return Verdict::Drop(*r),
        };
        if l4.proto == PROTO_ICMP && l4.icmp_type != ICMP_ECHO_REQUEST {
            // Only echo requests open user sessions from the terminal side.
            return Verdict::Drop(DropReason::IcmpIgnored);
        }
        let path = ClientPath {
            port: in_port,
            mac: p.l2.src_mac,
            vlan: p.l2.vlan.unwrap_or(0),
            tunnel: match rx.fabric {
                // Behind another appliance's tier-1 unit (fabric.rs).
                Some(fi) => super::fabric::fabric_tunnel(fi.peer, fi.io_point),
                None => p
                    .tunnel
                    .map_or(GtpTunnel::NONE, |(peer_ip, teid)| GtpTunnel {
                        peer_ip,
                        teid,
                    }),
            },
        };
        if inner.ttl <= 1 {
            return self.ttl_exceeded(f, &path, now_ms, ev);
        }
        let key = FlowKey {
            proto: l4.proto,
            client_ip: inner.src,
            client_port: l4.src_port,
            dst_ip: inner.dst,
            dst_port: l4.dst_port,
        };
        // "This network" (0.0.0.0/8) is no destination, and its keys are
        // NAT64's: an IPv4 packet to it is `no_route`, tested off the
        // established path (on a miss, below, and by the NAT64 flag of a
        // slot found).
        let dscp = inner.dscp;
        let found = match p.client_hash {
            Some(hash) => self
                .gw
                .table
                .find_client_hinted(hash, p.client_candidate, &key),
            None => self.gw.table.find_client(&key),
        };
        let found = match found {
            Some(i)
                if self.reuses_closed_tuple(i, l4)
                    && !super::nat64::is_nat64_key_space(inner.dst) =>
            {
                // A new connection on the 4-tuple of a closed one: the old
                // user session ends here and the SYN opens its own, with a
                // new gateway port (the old one may still be in the
                // server's TIME_WAIT).
                super::expiry::remove(self, i, None, now_ms, ev);
                None
            }
            other => other,
        };
        let idx = match found {
            Some(i) => i,
            None => {
                if super::nat64::is_nat64_key_space(inner.dst) {
                    return Verdict::Drop(DropReason::NoRoute);
                }
                let opening = Opening {
                    key,
                    l4: *l4,
                    dscp,
                    sid,
                    path,
                    now_ms,
                    v6: None,
                };
                // SYN proxy hook (synproxy/): cookie SYN-ACK, or open on a cookie ACK.
                if l4.proto == PROTO_TCP {
                    if let Some(v) = self.syn_proxy_first(f, &opening, ev) {
                        return v;
                    }
                }
                if let Some(previous) = self.drain_handoff(sid, l4, rx.fabric) {
                    return self.second_chance(f, rx, (&path, sid), previous, ev);
                }
                match self.create(f, &opening, ev) {
                    Ok(i) => i,
                    Err(v) => return v,
                }
            }
        };
        let ip_len = u32::from(inner.total);
        let Some(e) = self.gw.table.get_mut(idx) else {
            return Verdict::Drop(DropReason::NoUserSession);
        };
        // Bitrate limit and quota end hooks (rate_limit.rs, quota_end.rs),
        // and an IPv4 packet that found a NAT64 user session by its folded
        // key (only a destination in 0.0.0.0/8 can): one flag test for user
        // sessions with none of these.
        if e.flags.0
            & (SessionFlags::BITRATE.0 | SessionFlags::QUOTA_ENDED.0 | SessionFlags::NAT64.0)
            != 0
        {
            // One test for the metered user session's common case.
            if e.flags.0 & (SessionFlags::QUOTA_ENDED.0 | SessionFlags::NAT64.0) != 0 {
                if e.flags.contains(SessionFlags::NAT64) {
                    return Verdict::Drop(DropReason::NoRoute);
                }
                return self.quota_ended_from_client(f, idx, &path, now_ms, ev);
            }
            if !super::rate_limit::conforms(
                &mut self.gw.admission,
                &self.snaps.policy,
                e,
                (Direction::ToServer, ip_len),
                now_ms,
            ) {
                // Re-marked instead of dropped where its type says so.
                match super::rate_limit::over_limit_dscp(&self.snaps.policy, e) {
                    Some(d) => self.over_limit = Some((idx, d)),
                    None => return Verdict::Drop(DropReason::BitrateLimited),
                }
                self.counters.bitrate_remarked.inc();
            }
        }
        // SYN proxy hook (synproxy/): held until the server answers, then spliced below.
        let splice = if e.flags.0 & SessionFlags::SYN_PROXY != 0 {
            match self.gw.synproxy.client_segment(idx, e, l4.flags) {
                Ok(d) => d,
                Err(r) => return Verdict::Drop(r),
            }
        } else {
            None
        };
        // Window tracking sees the terminal's side of a proxied connection
        // (its own sequence numbers, acks of the cookie ISN), as it arrives.
        let in_window = l4.proto != PROTO_TCP || e.guard.track_tcp(Direction::ToServer, &l4.seg);
        let same_path = e.client_path == path;
        match e.guard.decide(
            l4.proto,
            same_path,
            in_window,
            now_ms.saturating_sub(e.created_ms),
        ) {
            PathChange::Same => {}
            PathChange::Moved => {
                // The terminal moved to another I/O point: replies follow it.
                e.client_path = path;
                self.counters.client_path_moved.inc();
            }
            PathChange::Refused => self.counters.client_path_refused.inc(),
        }
        if !in_window {
            if l4.flags.rst() || l4.flags.fin() {
                return Verdict::Drop(DropReason::TcpOutOfWindow);
            }
            // Forwarded (the server judges it), counted, but it neither
            // moves the state nor keeps the session alive.
            e.count(Direction::ToServer, ip_len);
        } else {
            let before = e.state;
            e.on_packet(Direction::ToServer, ip_len, l4.flags, now_ms);
            if e.state != before {
                let deadline = e.deadline_ms(self.snaps.policy.get().timeouts_for(e.session_type));
                super::expiry::shorten(&mut self.gw.wheel, idx, deadline);
            }
        }
        let rw = Rewrite {
            src: self.cfg.gateway_addrs[usize::from(e.gw_addr)],
            src_port: e.gw_port,
            dst: e.server_ip,
            dst_port: e.server_port,
        };
        let (server, server_index) = (e.server_ip, e.server_index);
        let dscp = super::marks::dscp(
            self.dscp_marks,
            self.snaps.policy.get(),
            e,
            (&mut self.over_limit, idx),
        );
        let proxy_v2 = e.flags.0 & (SessionFlags::PROXY_V2.0 | SessionFlags::PROXY_V2_ACKED.0);
        // PROXY protocol hook (proxy_protocol/): header in front of the
        // terminal's first byte, sequence numbers shifted after it (before
        // the translation, which updates the checksums incrementally).
        if proxy_v2 != 0 {
            if FIRST_FRAGMENT {
                // The header would not fit in front of a piece.
                return Verdict::Drop(DropReason::Fragment);
            }
            if let Err(r) = self.proxy_to_server(f, idx, l4, proxy_v2) {
                return Verdict::Drop(r);
            }
        }
        // A first fragment that leaves: its datagram's later ones follow.
        if FIRST_FRAGMENT {
            if let Err(r) = self.open_fragment(first, idx, now_ms) {
                return Verdict::Drop(r);
            }
        }
        let b = f.bytes_mut();
        rewrite(&mut b[IP..], l4.ihl(), l4.proto, &rw, true);
        if let Some(delta) = splice {
            super::synproxy::splice::to_server(&mut b[IP + l4.ihl()..], delta);
        }
        // MSS clamp and DSCP (marks.rs).
        self.mark(b, l4, in_port, dscp);
        self.send_to_server(f, server, server_index, now_ms, ev)
    }

    /// [`send_to_network`](Self::send_to_network) for the server of a user
    /// session, remembering the answer per server index while the neighbour
    /// snapshot stays the same: the established path then does no route
    /// scan and no neighbour hash lookup, so the flow-index lookup is its
    /// only hashed one. External hosts (no server index) take the full way.
    #[inline(always)]
    pub(super) fn send_to_server<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        server: Ipv4Addr,
        server_index: u32,
        now_ms: u64,
        ev: &mut E,
    ) -> Verdict {
        let generation = self.snaps.neighbours.generation();
        let slot = server_index as usize;
        if let Some(hop) = self.gw.server_hops.get(slot) {
            if hop.generation == generation && hop.server == server {
                set_macs(f.bytes_mut(), hop.mac, self.topo.mac(hop.port));
                self.counters.tx_packets.inc();
                self.counters.tx_bytes.add(f.len() as u64);
                return Verdict::Forward(hop.port);
            }
        }
        let verdict = self.send_to_network(f, server, now_ms, ev);
        if let (Verdict::Forward(port), Some(hop)) = (verdict, self.gw.server_hops.get_mut(slot)) {
            // send_to_network has just written the neighbour's MAC.
            let mut mac = [0u8; 6];
            mac.copy_from_slice(&f.bytes()[..6]);
            *hop = super::ServerHop {
                generation,
                server,
                port,
                mac,
            };
        }
        verdict
    }

    /// Whether a terminal's packet is a fresh SYN on the 4-tuple of user
    /// session `idx` after that connection has closed (time-wait or reset).
    #[inline]
    pub(super) fn reuses_closed_tuple(&self, idx: u32, l4: &L4Info) -> bool {
        l4.proto == PROTO_TCP
            && l4.flags.syn()
            && !l4.flags.ack()
            && !l4.flags.rst()
            && self.gw.table.get(idx).is_some_and(|e| {
                matches!(
                    e.state,
                    FlowState::Tcp(TcpState::TimeWait | TcpState::Close)
                )
            })
    }

    /// Sets the Ethernet header towards `dst` and picks the output port.
    /// An unknown neighbour is reported to the control plane (which
    /// resolves it by ARP), at most once per 100 ms per address.
    #[inline]
    pub(super) fn send_to_network<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        dst: Ipv4Addr,
        now_ms: u64,
        ev: &mut E,
    ) -> Verdict {
        let Some(hop) = self.topo.route(dst) else {
            return Verdict::Drop(DropReason::NoRoute);
        };
        let Some(mac) = self.snaps.neighbours.get().get(hop.port, hop.ip) else {
            let slot = (u32::from(hop.ip) as usize) % self.miss_cache.len();
            let (ip, at) = self.miss_cache[slot];
            if ip != hop.ip || now_ms.saturating_sub(at) >= 100 {
                self.miss_cache[slot] = (hop.ip, now_ms);
                self.emit(
                    ev,
                    Event::NeighbourMiss {
                        port: hop.port,
                        ip: hop.ip,
                    },
                );
            }
            return Verdict::Hold {
                port: hop.port,
                next_hop: hop.ip,
            };
        };
        set_macs(f.bytes_mut(), mac, self.topo.mac(hop.port));
        self.counters.tx_packets.inc();
        self.counters.tx_bytes.add(f.len() as u64);
        Verdict::Forward(hop.port)
    }

    /// Opens a user session for the first packet of a flow.
    pub(super) fn create<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        o: &Opening,
        ev: &mut E,
    ) -> Result<u32, Verdict> {
        let (key, l4, dscp, sid, path, now_ms) = (&o.key, &o.l4, o.dscp, o.sid, &o.path, o.now_ms);
        // Quota used up with `Block` (the control plane's verdict, in the
        // policy snapshot): refused below, once the record can name the
        // service; a TCP segment of a user session the quota ended gets
        // its RST here, without a record.
        let quota_blocked = self.snaps.policy.get().quota.is_blocked(sid.0);
        let quota_refusal = (EndReason::QuotaExhausted, DropReason::QuotaExhausted);
        if key.proto == PROTO_TCP && !(l4.flags.syn() && !l4.flags.ack() && !l4.flags.rst()) {
            if quota_blocked && !l4.flags.rst() {
                return Err(self.refuse(f, o, quota_refusal, None, ev));
            }
            return Err(Verdict::Drop(DropReason::NotSyn));
        }
        let flow = NewFlow {
            proto: key.proto,
            client_ip: key.client_ip,
            dst_ip: o.v6.map_or(key.dst_ip, |v6| v6.dst4),
            dst_port: key.dst_port,
            dscp,
            session_id: sid.0,
            ipv6: o.v6.map(|v6| v6.vip),
            v6_ends: o.v6.map(|v6| (v6.src, v6.dst)),
        };
        let (decision, limits) = {
            let (loads, local) = (self.snaps.loads.get(), &self.gw.load);
            let me = usize::from(self.cfg.index);
            // Other workers' user sessions as last published, this
            // worker's counted exactly.
            let load = |i: usize| {
                let published = loads.total.get(i).copied().unwrap_or(0);
                let mine_then = loads
                    .by_worker
                    .get(me)
                    .and_then(|v| v.get(i))
                    .copied()
                    .unwrap_or(0);
                published.saturating_sub(u64::from(mine_then)) + local.get(i)
            };
            let topo = &self.topo;
            let external = |dst| {
                topo.route(dst)
                    .is_some_and(|h| topo.role(h.port) == Some(Role::External))
            };
            let policy = self.snaps.policy.get();
            admit::decide(policy, &flow, load, external, &mut self.gw.admit_scratch)
        };
        let (server_ip, server_port, server_index, group, ty, timeouts) = match decision {
            Decision::Serve {
                server_ip,
                server_port,
                server_index,
                service,
                ty,
                timeouts,
            } => (server_ip, server_port, server_index, service, ty, timeouts),
            Decision::Refuse {
                service,
                ty,
                accounted,
            } => {
                let refused = Refused {
                    service,
                    ty,
                    accounted,
                };
                let not_entitled = (EndReason::NotEntitled, DropReason::RateLimited);
                return Err(self.refuse(f, o, not_entitled, Some(refused), ev));
            }
            Decision::Drop(r) => return Err(Verdict::Drop(r)),
        };

        if quota_blocked {
            let accounted =
                (self.snaps.policy.get().classifier.get(ty)).is_none_or(|t| t.accounted);
            let refused = Refused {
                service: group,
                ty,
                accounted,
            };
            return Err(self.refuse(f, o, quota_refusal, Some(refused), ev));
        }
        // Entitled: within the subscriber's limits? (see limit.rs) A type
        // with a bitrate limit of its own meters even without them.
        let type_metered = self.gw.admission.limited_types() > 0
            && self.snaps.policy.get().classifier.has_bitrate(ty);
        let counted = self.admit(f, o, &limits, type_metered, (group, ty), ev)?;
        // An IPv6 server (nat66.rs): a port of an IPv6 gateway address.
        let server6 = match o.v6 {
            Some(_) => self
                .snaps
                .policy
                .get()
                .services
                .servers
                .get(server_index as usize)
                .and_then(|s| s.addr6),
            None => None,
        };
        let port = match server6 {
            Some(_) => self.gw.ports.alloc_v6(now_ms),
            None => self.gw.ports.alloc(now_ms),
        };
        let Some((gw_addr, gw_port)) = port else {
            self.unadmit(counted, sid, now_ms);
            return Err(Verdict::Drop(DropReason::PortExhausted));
        };
        // The PROXY option of the service whose servers serve it (a type
        // pool's, when the terminal's type is pooled elsewhere).
        let proxy_v2 = key.proto == PROTO_TCP && o.v6.is_none() && {
            let services = &self.snaps.policy.get().services;
            let serving = services.serving(group, ty);
            services
                .services
                .get(serving as usize)
                .is_some_and(|s| s.proxy_v2)
        };
        let mut e = UserSession::new(key, gw_addr, gw_port, now_ms);
        e.server_ip = server_ip;
        e.server_port = server_port;
        e.server_index = server_index;
        e.group_index = group;
        e.session_type = ty;
        e.session_id = sid.0;
        if counted {
            e.flags
                .insert(crate::tier2::user_sessions::SessionFlags::LIMITED);
            if limits.metered() || type_metered {
                e.flags.insert(SessionFlags::BITRATE);
            }
            if limits.quota.is_some() {
                e.flags.insert(SessionFlags::QUOTA);
            }
        }
        if proxy_v2 {
            e.flags.insert(SessionFlags::PROXY_V2);
        }
        if o.v6.is_some() {
            e.flags.insert(SessionFlags::NAT64);
        }
        if server6.is_some() {
            e.flags.insert(SessionFlags::NAT66);
        }
        e.client_path = *path;
        e.last_report_ms = now_ms;
        let interim = self.snaps.policy.get().interim_ms;
        let mut deadline = e.deadline_ms(&timeouts);
        if interim > 0 {
            deadline = deadline.min(now_ms.saturating_add(interim));
        }
        if e.flags.contains(SessionFlags::QUOTA) {
            deadline = deadline.min(now_ms.saturating_add(super::USAGE_REPORT_MS));
        }
        match self.gw.table.insert(*key, e) {
            Ok(idx) => {
                if proxy_v2 {
                    self.gw.proxy.open(idx, l4.seg.seq);
                }
                if let Some(v6) = &o.v6 {
                    self.nat64_opened(idx, v6);
                }
                if server_index != u32::MAX {
                    self.gw.load.inc(server_index as usize);
                }
                self.gw.wheel.arm(idx, deadline);
                self.counters.user_sessions_created.inc();
                self.counters
                    .user_sessions_live
                    .set(u64::from(self.gw.table.len()));
                self.emit(ev, Event::SessionActive { session_id: sid.0 });
                Ok(idx)
            }
            Err(err) => {
                self.unadmit(counted, sid, now_ms);
                // The port never appeared on the wire: no quarantine.
                self.gw.ports.unalloc(gw_addr, gw_port);
                Err(Verdict::Drop(match err {
                    InsertError::TableFull => DropReason::TableFull,
                    _ => DropReason::NoUserSession,
                }))
            }
        }
    }

    /// Sends a plain frame back to a terminal along `path` (through the
    /// fabric when the terminal is behind another appliance's tier-1 unit:
    /// its path names the fabric port, `fabric.rs`).
    #[inline]
    pub(super) fn send_to_client<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        path: &ClientPath,
        now_ms: u64,
        ev: &mut E,
    ) -> Verdict {
        if self.cfg.fabric.is_some_and(|fab| fab.port == path.port) {
            return self.send_to_tier1(f, path, now_ms, ev);
        }
        let our_ip = self
            .topo
            .port_address(path.port)
            .unwrap_or(Ipv4Addr::UNSPECIFIED);
        if !super::l2::to_client(f, path, self.topo.mac(path.port), our_ip) {
            return Verdict::Drop(DropReason::NoRoom);
        }
        self.counters.tx_packets.inc();
        self.counters.tx_bytes.add(f.len() as u64);
        Verdict::Forward(path.port)
    }
}
