//! A server's answer to an active health probe (the control plane's TCP
//! SYN from a gateway address and one of the reserved probe ports,
//! `appliance/src/runtime/health.rs`), IPv4 (`steer.rs`) or IPv6
//! (`nat66.rs`): handed to the control plane as an event when it comes
//! from a configured server, else dropped `not_for_us`, so nobody else can
//! make a server look healthy or not.

use super::{Verdict, Worker};
use crate::counters::DropReason;
use crate::event::{Event, EventSink};
use std::net::IpAddr;

/// The TCP segment a server sent to a probe port.
#[derive(Clone, Copy, Debug)]
pub(super) struct ProbeAnswer {
    /// The server's port and the probe port it answered.
    pub port: u16,
    pub probe_port: u16,
    /// SYN-ACK: listening; anything else (a reset): not.
    pub ok: bool,
    pub seq: u32,
    pub ack: u32,
}

impl Worker {
    /// See the module docs: `server` is the answer's source address.
    #[cold]
    #[inline(never)]
    pub(super) fn probe_reply<E: EventSink>(
        &mut self,
        server: IpAddr,
        a: ProbeAnswer,
        ev: &mut E,
    ) -> Verdict {
        let known = self
            .snaps
            .policy
            .get()
            .services
            .servers
            .iter()
            .any(|s| s.has_addr(server));
        if !known {
            return Verdict::Drop(DropReason::NotForUs);
        }
        self.counters.punted.inc();
        self.emit(
            ev,
            Event::ProbeReply {
                server,
                port: a.port,
                probe_port: a.probe_port,
                ok: a.ok,
                seq: a.seq,
                ack: a.ack,
            },
        );
        Verdict::Consumed
    }
}
