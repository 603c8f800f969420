//! Who may move a user session's way back to its terminal.
//!
//! Replies go to the terminal along the client path (access port, neighbour
//! MAC, VLAN, GTP-U peer) of the session. A terminal that moves between I/O
//! points must take its replies with it, but any host on an access segment
//! can send a packet with the terminal's 5-tuple: if every such packet moved
//! the path, a neighbour could steal a download by sending spoofed ACKs. So
//! the path moves only on evidence that the sender is the terminal:
//!
//! * TCP: the segment is in window ([`TcpWindow`]): a blind sender cannot
//!   know the sequence and acknowledgement numbers.
//! * UDP and ICMP carry no such proof. The path moves when the current path
//!   has been silent for [`PATH_QUIET_MS`]: a terminal that has really
//!   moved stops sending on its old path, while a spoofer cannot take the
//!   replies of a terminal that keeps sending. The trade-off: a terminal
//!   that moves loses up to that long of replies, and a terminal that sends
//!   nothing for that long (a pure UDP download) can still be hijacked by
//!   a neighbour on its access segment until it sends again.
//!
//! A refused move does not drop the packet: it is still forwarded to the
//! server (it could have been sent there directly), only the replies keep
//! going where they went.

use crate::tier2::flow_state::{Direction, PROTO_TCP};
use crate::tier2::window::{Segment, TcpWindow, PACKED_LEN};

/// How long the current client path of a UDP or ICMP user session must
/// have been silent before a packet from another path moves it.
pub const PATH_QUIET_MS: u64 = 1_000;

/// Per-protocol evidence kept for the client path, in 10 bytes so that a
/// user session stays within two cache lines (an enum would need a tag
/// byte and alignment, 12 or 16 bytes). The session's protocol says which
/// view is stored:
///
/// * TCP: the packed [`TcpWindow`] of both sides;
/// * UDP and ICMP: in the first four bytes, when (ms after the session was
///   created, saturating) the current path last sent a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathGuard([u8; PACKED_LEN]);

/// What a terminal packet from some path did to the session's path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathChange {
    /// It came from the current path.
    Same,
    /// It came from another path, which replaces the current one.
    Moved,
    /// It came from another path, without the evidence to move it.
    Refused,
}

impl PathGuard {
    /// The guard of a new session: nothing seen yet (for datagrams: the
    /// path last sent at creation).
    #[inline]
    pub fn new() -> PathGuard {
        PathGuard(TcpWindow::UNSEEN.pack())
    }

    /// The TCP view.
    #[inline]
    pub fn tcp(&self) -> TcpWindow {
        TcpWindow::unpack(&self.0)
    }

    #[inline]
    pub fn set_tcp(&mut self, w: &TcpWindow) {
        self.0 = w.pack();
    }

    /// Checks a TCP segment against the window and records it if it is in
    /// window (see [`TcpWindow::track`]).
    #[inline(always)]
    pub fn track_tcp(&mut self, dir: Direction, seg: &Segment) -> bool {
        let mut w = self.tcp();
        let ok = w.track(dir, seg);
        if ok {
            self.set_tcp(&w);
        }
        ok
    }

    #[inline]
    fn path_seen_ms(&self) -> u32 {
        u32::from_ne_bytes([self.0[0], self.0[1], self.0[2], self.0[3]])
    }

    #[inline]
    fn set_path_seen_ms(&mut self, ms: u32) {
        self.0[0..4].copy_from_slice(&ms.to_ne_bytes());
    }

    /// Decides for a terminal packet of a session of IP protocol `proto`:
    /// `same_path` is whether it came from the current path, `in_window`
    /// the TCP tracker's verdict (ignored for datagrams), `age_ms` the time
    /// since the session was created.
    #[inline]
    pub fn decide(
        &mut self,
        proto: u8,
        same_path: bool,
        in_window: bool,
        age_ms: u64,
    ) -> PathChange {
        if proto == PROTO_TCP {
            return match (same_path, in_window) {
                (true, _) => PathChange::Same,
                (false, true) => PathChange::Moved,
                (false, false) => PathChange::Refused,
            };
        }
        let now = u32::try_from(age_ms).unwrap_or(u32::MAX);
        if same_path {
            self.set_path_seen_ms(now);
            PathChange::Same
        } else if u64::from(now.saturating_sub(self.path_seen_ms())) >= PATH_QUIET_MS {
            self.set_path_seen_ms(now);
            PathChange::Moved
        } else {
            PathChange::Refused
        }
    }
}

impl Default for PathGuard {
    fn default() -> Self {
        PathGuard::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tier2::flow_state::PROTO_UDP;

    #[test]
    fn is_ten_bytes() {
        assert_eq!(std::mem::size_of::<PathGuard>(), 10);
    }

    #[test]
    fn tcp_moves_only_in_window() {
        let mut g = PathGuard::new();
        assert_eq!(g.decide(PROTO_TCP, true, false, 0), PathChange::Same);
        assert_eq!(g.decide(PROTO_TCP, false, false, 0), PathChange::Refused);
        assert_eq!(g.decide(PROTO_TCP, false, true, 0), PathChange::Moved);
    }

    #[test]
    fn datagrams_move_after_the_current_path_is_quiet() {
        let mut g = PathGuard::new();
        assert_eq!(g.decide(PROTO_UDP, true, false, 100), PathChange::Same);
        // A neighbour while the terminal keeps sending: refused.
        assert_eq!(g.decide(PROTO_UDP, false, false, 600), PathChange::Refused);
        assert_eq!(g.decide(PROTO_UDP, true, false, 900), PathChange::Same);
        assert_eq!(
            g.decide(PROTO_UDP, false, false, 1_800),
            PathChange::Refused
        );
        // The terminal went quiet on its old path (it moved): accepted.
        assert_eq!(g.decide(PROTO_UDP, false, false, 1_900), PathChange::Moved);
        // The new path is now the current one.
        assert_eq!(g.decide(PROTO_UDP, true, false, 1_950), PathChange::Same);
        assert_eq!(
            g.decide(PROTO_UDP, false, false, 2_000),
            PathChange::Refused
        );
    }
}
