//! What the control plane may ask a worker about its user sessions (for
//! `tandem ctl user-sessions`) or tell it to end. Runs between bursts on
//! the worker's own core; allocation is fine here, it is not per packet.

use super::scan::{ScanJob, ScanResult};
use super::Worker;
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
    /// A NAT64 user session's IPv6 ends (the terminal's address and the
    /// one it addressed); its `terminal` and `destination` addresses are
    /// then only the flow key's folds and say nothing.
    pub ipv6: Option<crate::event::Ipv6Ends>,
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
    pub(super) fn matches(&self, e: &UserSession) -> bool {
        self.session_id.is_none_or(|s| s == e.session_id)
            && self.server.is_none_or(|s| s == e.server_ip)
            && self.server_index.is_none_or(|s| s == e.server_index)
    }
}

impl Worker {
    /// Ends the user sessions matching `filter` now, with accounting
    /// records carrying `reason`. Returns how many ended.
    pub fn end_user_sessions<E: EventSink>(
        &mut self,
        filter: Filter,
        reason: EndReason,
        now_ms: u64,
        ev: &mut E,
    ) -> usize {
        match self.run_scan(ScanJob::End { filter, reason }, now_ms, ev) {
            ScanResult::Ended(n) => n,
            _ => 0,
        }
    }
}
