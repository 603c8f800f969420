//! Fixed-size events that workers hand to the control plane.
//!
//! Workers never allocate or block: they push these `Copy` values into a
//! bounded lockless queue and count the ones that did not fit. The control
//! plane turns them into session pins, accounting records, ARP requests.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Why a user session's accounting record was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum EndReason {
    /// TCP closed with FIN in both directions.
    Fin,
    /// TCP reset by either side.
    Rst,
    /// Idle longer than its timeout.
    Timeout,
    /// Refused at creation: the subscriber may not use the service.
    NotEntitled,
    /// Ended by the operator (session deleted, server removed with reset).
    Admin,
    /// Refused at creation: over the subscriber's limits.
    SubscriberLimit,
    /// Refused at creation, or ended, because the subscriber's usage quota
    /// is used up (`on_exhausted: Block`); also the reason of the
    /// subscriber's own record written when that happens.
    QuotaExhausted,
    /// Not a user session's end: the subscriber's record written when its
    /// usage crossed a quota threshold (the percentage is in the record).
    QuotaThreshold,
}

impl EndReason {
    pub const fn as_str(self) -> &'static str {
        match self {
            EndReason::Fin => "fin",
            EndReason::Rst => "rst",
            EndReason::Timeout => "timeout",
            EndReason::NotEntitled => "not_entitled",
            EndReason::Admin => "admin",
            EndReason::SubscriberLimit => "subscriber_limit",
            EndReason::QuotaExhausted => "quota_exhausted",
            EndReason::QuotaThreshold => "quota_threshold",
        }
    }
}

/// Whether a record closes a user session or reports on a live one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RecordKind {
    /// The user session ended (see `end_reason`).
    Final,
    /// The user session goes on; counters are totals so far.
    Interim,
}

impl RecordKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            RecordKind::Final => "final",
            RecordKind::Interim => "interim",
        }
    }
}

/// The IPv6 ends of an IPv6 terminal's user session (its record's
/// `terminal_ip` and `dest_ip` are then unspecified: the IPv4 fields
/// cannot hold them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Ends {
    /// The terminal's IPv6 address.
    pub terminal: Ipv6Addr,
    /// What it addressed: an IPv6 VIP or a NAT64-prefix address.
    pub dest: Ipv6Addr,
    /// IPv6 → IPv6 full NAT (`pipeline/nat66.rs`): the gateway IPv6
    /// address and the IPv6 server, after translation (the record's
    /// `gateway_ip` and `server_ip` are then unspecified); `None` for
    /// NAT64, whose post-NAT addresses are IPv4.
    pub post_nat: Option<PostNat6>,
}

/// The post-NAT IPv6 addresses of an IPv6 → IPv6 user session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PostNat6 {
    /// Gateway IPv6 address (the source the server sees).
    pub gateway: Ipv6Addr,
    /// The server chosen.
    pub server: Ipv6Addr,
}

/// Accounting for one user session, as a worker reports it. Names (service,
/// type) are indexes into the policy snapshot; the control plane resolves
/// them. Times are milliseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountingEvent {
    pub kind: RecordKind,
    pub end_reason: EndReason,
    /// IP protocol number (6, 17, 1).
    pub proto: u8,
    /// User-session type index (policy).
    pub user_session_type: u8,
    /// Worker (gateway) that owned the user session.
    pub worker: u16,
    /// Mobile session ID.
    pub session_id: u64,
    pub terminal_ip: Ipv4Addr,
    pub terminal_port: u16,
    /// User-session ID: gateway address and unique port.
    pub gateway_ip: Ipv4Addr,
    pub gateway_port: u16,
    /// What the terminal addressed: a VIP or an external destination.
    pub dest_ip: Ipv4Addr,
    pub dest_port: u16,
    /// The server chosen (for external destinations: the destination).
    pub server_ip: Ipv4Addr,
    pub server_port: u16,
    /// Service index, or `u32::MAX` for an external destination.
    pub service: u32,
    pub packets_up: u64,
    pub bytes_up: u64,
    pub packets_down: u64,
    pub bytes_down: u64,
    pub start_ms: u64,
    pub end_ms: u64,
    /// NAT64 user sessions: the terminal's and the destination's IPv6
    /// addresses; `None` for IPv4.
    pub ipv6: Option<Ipv6Ends>,
}

/// What one user session of a subscriber with a usage quota has carried so
/// far (`SessionFlags::QUOTA`), reported at most every
/// `pipeline::USAGE_REPORT_MS` while it lives and once when it ends. The
/// control plane keeps the ledger: it adds the difference to the totals it
/// saw last for the same user session (worker, gateway address and port,
/// creation time), so a lost report costs nothing but delay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UsageReport {
    pub session_id: u64,
    /// The terminal (to find the subscriber entry of a prefix).
    pub terminal_ip: Ipv4Addr,
    pub worker: u16,
    pub gateway_ip: Ipv4Addr,
    pub gateway_port: u16,
    pub created_ms: u64,
    /// IP bytes so far, terminal to server and back.
    pub bytes_up: u64,
    pub bytes_down: u64,
    /// The user session has ended (its last report).
    pub ended: bool,
}

/// What kind of ARP told of a neighbour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ArpKind {
    /// A reply addressed to one of Tandem's addresses (an answer to our
    /// request, or an unsolicited reply: only the control plane knows
    /// whether it asked).
    ReplyToUs,
    /// A request for one of Tandem's addresses: the sender announces its
    /// own address.
    RequestForUs,
    /// Neither (gratuitous ARP, or ARP between others) that claims a new
    /// MAC for a known neighbour.
    Unsolicited,
}

/// Service index used for external destinations in records.
pub const EXTERNAL_SERVICE: u32 = u32::MAX;

/// Everything a worker tells the control plane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// First packet of an unpinned session: pin it to this gateway.
    Pin { session_id: u64, gateway: u32 },
    /// Traffic seen for a session (at most once a second per user session).
    SessionActive { session_id: u64 },
    /// An accounting record.
    Accounting(AccountingEvent),
    /// Usage of a user session counted against its subscriber's quota.
    Usage(UsageReport),
    /// A neighbour announced itself (ARP request or reply seen on a port);
    /// `kind` says how, so the control plane can tell an answer to its own
    /// request from an unasked claim.
    NeighbourSeen {
        port: u16,
        ip: Ipv4Addr,
        mac: [u8; 6],
        kind: ArpKind,
    },
    /// A packet needed a neighbour that is not known: resolve it.
    NeighbourMiss { port: u16, ip: Ipv4Addr },
    /// An IPv6 neighbour told of its MAC (Neighbor Discovery, seen on a
    /// port): a Neighbor Advertisement sent to one of Tandem's addresses
    /// (`ReplyToUs`: only the control plane knows whether it asked), a
    /// Neighbor Solicitation for one of them with a source link-layer
    /// address (`RequestForUs`), or an unsolicited advertisement
    /// (`Unsolicited`, to all nodes). The same rules as ARP apply.
    NeighbourSeenV6 {
        port: u16,
        ip: Ipv6Addr,
        mac: [u8; 6],
        kind: ArpKind,
    },
    /// A packet needed an IPv6 neighbour that is not known: solicit it.
    NeighbourMissV6 { port: u16, ip: Ipv6Addr },
    /// Passive health check: a server left a SYN unanswered or reset it.
    ServerFailure { server: u32 },
    /// Active health check: the answer to a probe SYN sent from one of the
    /// reserved probe ports. `ok` = SYN-ACK (listening); RST = not.
    ProbeReply {
        server: std::net::IpAddr,
        port: u16,
        probe_port: u16,
        ok: bool,
        /// The answer's acknowledgement number (to reset the half-open
        /// connection).
        ack: u32,
        seq: u32,
    },
}

/// Where a worker's events go. `push` returns false when the queue is full;
/// the caller counts that as a lost event.
pub trait EventSink {
    fn push(&mut self, e: Event) -> bool;

    /// How many more events may be pushed before a control-plane walk
    /// should pause (`pipeline::scan` ends user sessions only while there
    /// is room for their records, and resumes on a later loop iteration).
    /// A sink that never fills, or that waits for room itself, has no
    /// limit.
    fn room(&self) -> usize {
        usize::MAX
    }
}

impl EventSink for Vec<Event> {
    fn push(&mut self, e: Event) -> bool {
        Vec::push(self, e);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_stay_small() {
        // Pushed per user session end through a bounded queue: keep them
        // within three cache lines. (Two until IPv6 → IPv6 records: their
        // four IPv6 addresses alone take one; 160 bytes today: 2.5 MiB
        // per worker for the default 16 384-entry ring, was 2 MiB.)
        assert!(
            std::mem::size_of::<Event>() <= 192,
            "{}",
            std::mem::size_of::<Event>()
        );
    }
}
