//! Per-flow protocol state of a user session and the idle timeout each state
//! allows.
//!
//! The gateway is a full NAT sitting between terminal and server, so it sees
//! both halves of a TCP connection and can follow the handshake and the close
//! well enough to pick a timeout: short while opening or closing, long while
//! established. UDP and ICMP have no handshake; "has the far side answered"
//! is all that matters for them. The state machines here never reject a
//! packet: they only decide how long an idle session may live.

/// Which way a packet travels through the gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the terminal (client side) towards the server.
    ToServer,
    /// From the server back towards the terminal.
    ToClient,
}

/// The TCP header flags the state machine looks at (the wire's type; the
/// state machine reads SYN, ACK, FIN and RST).
pub use crate::wire::TcpFlags;

/// TCP connection state as seen by a full NAT in the middle.
///
/// `FinWait` means the terminal closed first, `CloseWait` that the server
/// did; `LastAck` that both FINs have been seen; `TimeWait` that the last FIN
/// was acknowledged; `Close` that a RST ended the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TcpState {
    SynSent,
    SynRecv,
    Established,
    FinWait,
    CloseWait,
    LastAck,
    TimeWait,
    Close,
}

impl TcpState {
    /// The state after one packet travelling `dir` with `flags`.
    #[inline]
    pub fn next(self, dir: Direction, flags: TcpFlags) -> TcpState {
        use Direction::{ToClient, ToServer};
        use TcpState::*;
        if flags.rst() {
            return Close;
        }
        let fresh_syn = flags.syn() && !flags.ack();
        match (self, dir) {
            // SYN-ACK (or a bare SYN: simultaneous open) from the server.
            (SynSent, ToClient) if flags.syn() => SynRecv,
            (SynSent, ToServer) if flags.fin() => FinWait,
            (SynSent, _) => SynSent,
            (SynRecv, ToServer) if flags.fin() => FinWait,
            (SynRecv, ToClient) if flags.fin() => CloseWait,
            (SynRecv, ToServer) if flags.ack() && !flags.syn() => Established,
            (SynRecv, _) => SynRecv,
            (Established, ToServer) if flags.fin() => FinWait,
            (Established, ToClient) if flags.fin() => CloseWait,
            (Established, _) => Established,
            (FinWait, ToClient) if flags.fin() => LastAck,
            (FinWait, _) => FinWait,
            (CloseWait, ToServer) if flags.fin() => LastAck,
            (CloseWait, _) => CloseWait,
            (LastAck, _) if flags.fin() => LastAck,
            (LastAck, _) if flags.ack() => TimeWait,
            (LastAck, _) => LastAck,
            // A new SYN from the terminal reopens the same 5-tuple.
            (TimeWait | Close, ToServer) if fresh_syn => SynSent,
            (TimeWait, _) => TimeWait,
            (Close, _) => Close,
        }
    }
}

/// UDP (and any other datagram protocol): has the server answered yet?
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UdpState {
    Unreplied,
    Replied,
}

impl UdpState {
    #[inline]
    pub fn next(self, dir: Direction) -> UdpState {
        match dir {
            Direction::ToClient => UdpState::Replied,
            Direction::ToServer => self,
        }
    }
}

/// ICMP echo: has an echo reply come back yet?
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IcmpState {
    EchoSent,
    Replied,
}

impl IcmpState {
    #[inline]
    pub fn next(self, dir: Direction) -> IcmpState {
        match dir {
            Direction::ToClient => IcmpState::Replied,
            Direction::ToServer => self,
        }
    }
}

/// IP protocol numbers the gateway tracks (defined once, in `wire`).
pub use crate::wire::{PROTO_ICMP, PROTO_TCP, PROTO_UDP};

/// The state of one user session, whatever its protocol (two bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FlowState {
    Tcp(TcpState),
    Udp(UdpState),
    Icmp(IcmpState),
}

impl FlowState {
    /// State of a session created by its first packet (terminal to server).
    /// Protocols other than TCP and ICMP are tracked like UDP.
    #[inline]
    pub fn initial(proto: u8) -> FlowState {
        match proto {
            PROTO_TCP => FlowState::Tcp(TcpState::SynSent),
            PROTO_ICMP => FlowState::Icmp(IcmpState::EchoSent),
            _ => FlowState::Udp(UdpState::Unreplied),
        }
    }

    /// The state after one packet; `flags` is ignored for UDP and ICMP.
    #[inline]
    pub fn next(self, dir: Direction, flags: TcpFlags) -> FlowState {
        match self {
            FlowState::Tcp(s) => FlowState::Tcp(s.next(dir, flags)),
            FlowState::Udp(s) => FlowState::Udp(s.next(dir)),
            FlowState::Icmp(s) => FlowState::Icmp(s.next(dir)),
        }
    }

    /// Why a session in this state ends when its idle timer runs out.
    pub fn end_reason_on_expiry(self) -> EndReason {
        match self {
            FlowState::Tcp(TcpState::Close) => EndReason::Rst,
            FlowState::Tcp(
                TcpState::FinWait | TcpState::CloseWait | TcpState::LastAck | TcpState::TimeWait,
            ) => EndReason::Fin,
            _ => EndReason::Timeout,
        }
    }
}

/// Idle timeouts per state, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// `SynSent` and `SynRecv`.
    pub tcp_syn_ms: u64,
    pub tcp_established_ms: u64,
    /// `FinWait`, `CloseWait` and `LastAck`.
    pub tcp_fin_ms: u64,
    pub tcp_time_wait_ms: u64,
    pub tcp_close_ms: u64,
    pub udp_unreplied_ms: u64,
    pub udp_replied_ms: u64,
    pub icmp_ms: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            tcp_syn_ms: 10_000,
            tcp_established_ms: 900_000,
            tcp_fin_ms: 10_000,
            tcp_time_wait_ms: 10_000,
            tcp_close_ms: 10_000,
            udp_unreplied_ms: 30_000,
            udp_replied_ms: 120_000,
            icmp_ms: 30_000,
        }
    }
}

impl Timeouts {
    /// How long a session in `state` may stay idle.
    #[inline]
    pub fn timeout_ms(&self, state: FlowState) -> u64 {
        match state {
            FlowState::Tcp(TcpState::SynSent | TcpState::SynRecv) => self.tcp_syn_ms,
            FlowState::Tcp(TcpState::Established) => self.tcp_established_ms,
            FlowState::Tcp(TcpState::FinWait | TcpState::CloseWait | TcpState::LastAck) => {
                self.tcp_fin_ms
            }
            FlowState::Tcp(TcpState::TimeWait) => self.tcp_time_wait_ms,
            FlowState::Tcp(TcpState::Close) => self.tcp_close_ms,
            FlowState::Udp(UdpState::Unreplied) => self.udp_unreplied_ms,
            FlowState::Udp(UdpState::Replied) => self.udp_replied_ms,
            FlowState::Icmp(_) => self.icmp_ms,
        }
    }
}

/// Why a user session ended: one type for the tier-2 state machine and
/// the accounting events.
pub use crate::event::EndReason;

#[cfg(test)]
mod tests {
    use super::Direction::{ToClient, ToServer};
    use super::*;

    const SYN: TcpFlags = TcpFlags::of(true, false, false, false);
    const SYN_ACK: TcpFlags = TcpFlags::of(true, true, false, false);
    const ACK: TcpFlags = TcpFlags::of(false, true, false, false);
    const FIN_ACK: TcpFlags = TcpFlags::of(false, true, true, false);
    const RST: TcpFlags = TcpFlags::of(false, false, false, true);

    fn walk(start: TcpState, steps: &[(Direction, TcpFlags)]) -> Vec<TcpState> {
        let mut s = start;
        steps
            .iter()
            .map(|&(d, f)| {
                s = s.next(d, f);
                s
            })
            .collect()
    }

    #[test]
    fn three_way_handshake_then_client_close() {
        use TcpState::*;
        let states = walk(
            SynSent,
            &[
                (ToServer, SYN),
                (ToClient, SYN_ACK),
                (ToServer, ACK),
                (ToServer, ACK),
                (ToClient, ACK),
                (ToServer, FIN_ACK),
                (ToClient, ACK),
                (ToClient, FIN_ACK),
                (ToServer, ACK),
            ],
        );
        assert_eq!(
            states,
            vec![
                SynSent,
                SynRecv,
                Established,
                Established,
                Established,
                FinWait,
                FinWait,
                LastAck,
                TimeWait
            ]
        );
    }

    #[test]
    fn server_closes_first() {
        use TcpState::*;
        let states = walk(
            Established,
            &[
                (ToClient, FIN_ACK),
                (ToServer, ACK),
                (ToServer, FIN_ACK),
                (ToClient, ACK),
            ],
        );
        assert_eq!(states, vec![CloseWait, CloseWait, LastAck, TimeWait]);
    }

    #[test]
    fn simultaneous_close() {
        use TcpState::*;
        let states = walk(
            Established,
            &[
                (ToServer, FIN_ACK),
                (ToClient, FIN_ACK),
                (ToServer, ACK),
                (ToClient, ACK),
            ],
        );
        assert_eq!(states, vec![FinWait, LastAck, TimeWait, TimeWait]);
    }

    #[test]
    fn rst_from_either_side_closes_from_any_state() {
        use TcpState::*;
        for s in [
            SynSent,
            SynRecv,
            Established,
            FinWait,
            CloseWait,
            LastAck,
            TimeWait,
            Close,
        ] {
            assert_eq!(s.next(ToServer, RST), Close, "{s:?}");
            assert_eq!(s.next(ToClient, RST), Close, "{s:?}");
        }
    }

    #[test]
    fn handshake_needs_the_server_answer() {
        use TcpState::*;
        // The terminal's ACK alone does not establish anything.
        assert_eq!(SynSent.next(ToServer, ACK), SynSent);
        // A SYN-ACK from the terminal side is not the server answering.
        assert_eq!(SynSent.next(ToServer, SYN_ACK), SynSent);
        // Retransmitted SYN-ACK keeps SynRecv; the server's ACK does not
        // complete the handshake, the terminal's does.
        assert_eq!(SynRecv.next(ToClient, SYN_ACK), SynRecv);
        assert_eq!(SynRecv.next(ToClient, ACK), SynRecv);
        assert_eq!(SynRecv.next(ToServer, ACK), Established);
    }

    #[test]
    fn new_syn_reopens_after_close_but_not_while_established() {
        use TcpState::*;
        assert_eq!(TimeWait.next(ToServer, SYN), SynSent);
        assert_eq!(Close.next(ToServer, SYN), SynSent);
        assert_eq!(Close.next(ToClient, SYN), Close);
        assert_eq!(Established.next(ToServer, SYN), Established);
    }

    #[test]
    fn flags_byte_decodes() {
        let f = TcpFlags::from_header_byte(0x12);
        assert_eq!(f, SYN_ACK);
        let f = TcpFlags::from_header_byte(0x11);
        assert_eq!(f, FIN_ACK);
        assert!(TcpFlags::from_header_byte(0x04).rst());
    }

    #[test]
    fn udp_and_icmp_become_replied_on_the_way_back() {
        let s = FlowState::initial(PROTO_UDP);
        assert_eq!(s, FlowState::Udp(UdpState::Unreplied));
        let s = s.next(ToServer, TcpFlags::NONE);
        assert_eq!(s, FlowState::Udp(UdpState::Unreplied));
        let s = s.next(ToClient, TcpFlags::NONE);
        assert_eq!(s, FlowState::Udp(UdpState::Replied));
        assert_eq!(s.next(ToServer, TcpFlags::NONE), s);
        let i = FlowState::initial(PROTO_ICMP).next(ToClient, TcpFlags::NONE);
        assert_eq!(i, FlowState::Icmp(IcmpState::Replied));
        assert_eq!(FlowState::initial(47), FlowState::Udp(UdpState::Unreplied));
        assert_eq!(
            FlowState::initial(PROTO_TCP),
            FlowState::Tcp(TcpState::SynSent)
        );
    }

    #[test]
    fn timeouts_follow_state() {
        let t = Timeouts::default();
        assert_eq!(t.timeout_ms(FlowState::Tcp(TcpState::SynSent)), 10_000);
        assert_eq!(t.timeout_ms(FlowState::Tcp(TcpState::Established)), 900_000);
        assert_eq!(t.timeout_ms(FlowState::Tcp(TcpState::LastAck)), 10_000);
        assert_eq!(t.timeout_ms(FlowState::Udp(UdpState::Unreplied)), 30_000);
        assert_eq!(t.timeout_ms(FlowState::Udp(UdpState::Replied)), 120_000);
        assert_eq!(t.timeout_ms(FlowState::Icmp(IcmpState::Replied)), 30_000);
        let custom = Timeouts {
            tcp_time_wait_ms: 7,
            ..t
        };
        assert_eq!(custom.timeout_ms(FlowState::Tcp(TcpState::TimeWait)), 7);
    }

    #[test]
    fn end_reasons() {
        assert_eq!(
            FlowState::Tcp(TcpState::Close).end_reason_on_expiry(),
            EndReason::Rst
        );
        assert_eq!(
            FlowState::Tcp(TcpState::TimeWait).end_reason_on_expiry(),
            EndReason::Fin
        );
        assert_eq!(
            FlowState::Tcp(TcpState::Established).end_reason_on_expiry(),
            EndReason::Timeout
        );
        assert_eq!(EndReason::NotEntitled.as_str(), "not_entitled");
        assert_eq!(EndReason::Admin.as_str(), "admin");
        assert_eq!(std::mem::size_of::<FlowState>(), 2);
    }
}
