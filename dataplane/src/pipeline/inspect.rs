//! What the control plane may ask a worker about its user sessions (for
//! `tandem ctl user-sessions`) or tell it to end. Runs between bursts on
//! the worker's own core; allocation is fine here, it is not per packet.

use super::{expiry, Worker};
use crate::event::{EndReason, EventSink};
use crate::tier2::{FlowState, TcpState, UdpState, UserSession};
use std::net::Ipv4Addr;

/// One user session as the control plane shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserSessionInfo {
    pub worker: u16,
    pub session_id: u64,
    pub proto: u8,
    pub terminal: (Ipv4Addr, u16),
    pub destination: (Ipv4Addr, u16),
    pub gateway: (Ipv4Addr, u16),
    pub server: (Ipv4Addr, u16),
    pub service: u32,
    pub user_session_type: u8,
    pub state: &'static str,
    pub packets_up: u64,
    pub bytes_up: u64,
    pub packets_down: u64,
    pub bytes_down: u64,
    pub created_ms: u64,
    pub last_seen_ms: u64,
    /// Access port the terminal was last seen on.
    pub access_port: u16,
}

pub fn state_name(s: FlowState) -> &'static str {
    match s {
        FlowState::Tcp(t) => match t {
            TcpState::SynSent => "syn_sent",
            TcpState::SynRecv => "syn_recv",
            TcpState::Established => "established",
            TcpState::FinWait => "fin_wait",
            TcpState::CloseWait => "close_wait",
            TcpState::LastAck => "last_ack",
            TcpState::TimeWait => "time_wait",
            TcpState::Close => "close",
        },
        FlowState::Udp(UdpState::Unreplied) => "unreplied",
        FlowState::Udp(UdpState::Replied) => "replied",
        FlowState::Icmp(_) => "icmp",
    }
}

/// Which user sessions a request is about.
#[derive(Clone, Copy, Debug, Default)]
pub struct Filter {
    pub session_id: Option<u64>,
    pub server: Option<Ipv4Addr>,
    pub server_index: Option<u32>,
}

impl Filter {
    fn matches(&self, e: &UserSession) -> bool {
        self.session_id.is_none_or(|s| s == e.session_id)
            && self.server.is_none_or(|s| s == e.server_ip)
            && self.server_index.is_none_or(|s| s == e.server_index)
    }
}

impl Worker {
    /// Up to `limit` user sessions matching `filter`.
    pub fn user_sessions(&self, filter: Filter, limit: usize) -> Vec<UserSessionInfo> {
        self.gw
            .table
            .iter()
            .filter(|(_, e)| filter.matches(e))
            .take(limit)
            .map(|(_, e)| UserSessionInfo {
                worker: self.cfg.index,
                session_id: e.session_id,
                proto: e.proto,
                terminal: (e.client_ip, e.client_port),
                destination: (e.orig_dst_ip, e.orig_dst_port),
                gateway: (self.cfg.gateway_addrs[usize::from(e.gw_addr)], e.gw_port),
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
            })
            .collect()
    }

    /// Per mobile session: (session ID, live user sessions, bytes up,
    /// bytes down) over this worker's user sessions.
    pub fn session_totals(&self) -> Vec<(u64, u64, u64, u64)> {
        let mut m: hashbrown::HashMap<u64, (u64, u64, u64)> = hashbrown::HashMap::new();
        for (_, e) in self.gw.table.iter() {
            let t = m.entry(e.session_id).or_default();
            t.0 += 1;
            t.1 += e.to_server.bytes;
            t.2 += e.to_client.bytes;
        }
        m.into_iter().map(|(s, (n, u, d))| (s, n, u, d)).collect()
    }

    /// Ends the user sessions matching `filter` now, with accounting
    /// records carrying `reason`. Returns how many ended.
    pub fn end_user_sessions<E: EventSink>(
        &mut self,
        filter: Filter,
        reason: EndReason,
        now_ms: u64,
        ev: &mut E,
    ) -> usize {
        let ids: Vec<u32> = self
            .gw
            .table
            .iter()
            .filter(|(_, e)| filter.matches(e))
            .map(|(i, _)| i)
            .collect();
        for &idx in &ids {
            expiry::remove(self, idx, Some(reason), now_ms, ev);
        }
        ids.len()
    }
}
