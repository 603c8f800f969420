//! A terminal's packet whose TTL runs out at the gateway: answered with an
//! ICMP time exceeded (type 11, code 0), so traceroute shows Tandem as a
//! hop, instead of vanishing.
//!
//! The answer comes from the address of the access port the packet came in
//! on (the gateway address when that port has none), goes back the way
//! the packet came (VLAN, GTP-U tunnel), and shares the rate limit of the
//! other replies Tandem generates (`reply_rate_per_s`). A packet whose IPv4
//! header checksum is wrong is not answered (RFC 1812 5.2.2). The frame is
//! counted under `ttl_expired` whether or not it is answered.

use super::l2::ClientPath;
use super::{Verdict, Worker};
use crate::counters::DropReason;
use crate::frame::Frame;
use crate::wire::checksum::checksum;
use crate::wire::{ETHERNET_HEADER_LEN, ICMP_TIME_EXCEEDED};
use std::net::Ipv4Addr;

const IP: usize = ETHERNET_HEADER_LEN;

/// ICMP time exceeded code: TTL exceeded in transit.
const TTL_EXCEEDED_IN_TRANSIT: u8 = 0;

impl Worker {
    /// Answers the plain (normalised) frame `f` from `path` with a time
    /// exceeded error, or drops it with `ttl_expired` when it may not be
    /// answered (an ICMP error itself, a broadcast, ...) or the reply rate
    /// is reached. An answered frame is counted under `ttl_expired` too,
    /// and under `ttl_exceeded_sent` (so `rx = tx + dropped` is off by
    /// that count, as for refusals).
    pub(super) fn ttl_exceeded<F: Frame, E: crate::event::EventSink>(
        &mut self,
        f: &mut F,
        path: &ClientPath,
        now_ms: u64,
        ev: &mut E,
    ) -> Verdict {
        // RFC 1812 4.3.2.2 / 5.2.2: no ICMP error about a header that
        // may be corrupt; only this rare path pays for checking it.
        let b = f.bytes();
        let ihl = usize::from(b[IP] & 0x0f) * 4;
        if b.get(IP..IP + ihl).is_none_or(|h| checksum(h) != 0) {
            return Verdict::Drop(DropReason::TtlExpired);
        }
        let rate = self.snaps.policy.get().reply_rate_per_s;
        if !self.limiter.allow(now_ms, rate) {
            return Verdict::Drop(DropReason::TtlExpired);
        }
        let src = self
            .topo
            .port_address(path.port)
            .or_else(|| self.cfg.gateway_addrs.first().copied())
            .unwrap_or(Ipv4Addr::UNSPECIFIED);
        let mut out = [0u8; 192];
        let Ok(n) = crate::wire::write_icmp_error(
            f.bytes(),
            &mut out,
            ICMP_TIME_EXCEEDED,
            TTL_EXCEEDED_IN_TRANSIT,
            src,
        ) else {
            return Verdict::Drop(DropReason::TtlExpired);
        };
        if !super::own_addresses::replace_contents(f, &out[..n]) {
            return Verdict::Drop(DropReason::TtlExpired);
        }
        let verdict = self.send_to_client(f, path, now_ms, ev);
        if matches!(verdict, Verdict::Forward(_)) {
            self.counters.count_drop(DropReason::TtlExpired);
            self.counters.ttl_exceeded_sent.inc();
            self.counters.icmp_errors_sent.inc();
        }
        verdict
    }
}
