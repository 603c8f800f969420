//! Marks tier 2 writes on the packets of a user session it forwards
//! (issue 15): the TCP MSS clamp and the DSCP.
//!
//! - **MSS clamp.** A SYN (terminal → server) or SYN-ACK (server →
//!   terminal) announcing a larger MSS than the `mss_clamp` of the
//!   terminal's port is lowered to it, so a GTP-U or other encapsulated
//!   path never needs fragmentation. The SYN proxy's own handshake segments
//!   ask [`Worker::clamped_mss`] for the value they announce.
//! - **DSCP.** The user session's type, else its service, may name a
//!   DSCP: it is set on the (inner) IPv4 or IPv6 header both ways and,
//!   toward a terminal behind GTP-U, on the outer header too. ECN bits
//!   are kept.
//!
//! Both are rewrites in place with incremental checksums; neither drops a
//! packet. The DSCP is read from the policy per packet (the user session
//! has no spare byte) when the policy marks any, so a reload re-marks
//! live user sessions; without marks the established path pays one test.

use super::l2::ClientPath;
use super::parse::L4Info;
use super::Worker;
use crate::frame::Frame;
use crate::policy::Policy;
use crate::tier2::UserSession;
use crate::wire::dscp::{set_dscp, set_dscp_v6};
use crate::wire::{tcp_options, ETHERNET_HEADER_LEN, PROTO_TCP};

const IP: usize = ETHERNET_HEADER_LEN;

/// The DSCP for user session `e`'s packets; `on`: whether the policy marks
/// any (`Worker::dscp_marks`, which a type's `over_limit_dscp` also turns
/// on), so that without marks this is one test. A packet the bitrate hook
/// found over the limit of a type that re-marks (`remark`: the worker's
/// note of it and this user session's slab index) gets that DSCP.
#[inline(always)]
pub(super) fn dscp(
    on: bool,
    policy: &Policy,
    e: &UserSession,
    remark: (&mut Option<(u32, u8)>, u32),
) -> Option<u8> {
    if on {
        super::rate_limit::take_remark(remark.0, remark.1)
            .or_else(|| policy.dscp_for(e.session_type, e.group_index))
    } else {
        None
    }
}

impl Worker {
    /// Marks a translated plain frame (Ethernet + IPv4, L4 as `l4`
    /// describes it) of a user session whose terminal is reached through
    /// `client_port`: clamps the MSS of a SYN or SYN-ACK and sets `dscp`.
    /// Unmarked established packets cost one test here.
    #[inline(always)]
    pub(super) fn mark(&self, b: &mut [u8], l4: &L4Info, client_port: u16, dscp: Option<u8>) {
        self.mark_at(b, IP + l4.ihl(), l4, client_port, dscp);
    }

    /// [`mark`](Self::mark) for a frame whose L4 header lies at `l4_off`
    /// (an IPv6 packet: after its extension headers, if any).
    #[inline(always)]
    pub(super) fn mark_at(
        &self,
        b: &mut [u8],
        l4_off: usize,
        l4: &L4Info,
        client_port: u16,
        dscp: Option<u8>,
    ) {
        let syn = l4.proto == PROTO_TCP && l4.flags.syn();
        if syn || dscp.is_some() {
            self.mark_now(b, syn, l4_off, client_port, dscp);
        }
    }

    #[inline(never)]
    fn mark_now(
        &self,
        b: &mut [u8],
        syn: bool,
        tcp_off: usize,
        client_port: u16,
        dscp: Option<u8>,
    ) {
        if syn {
            self.clamp_syn(b, tcp_off, client_port);
        }
        if let Some(d) = dscp {
            if let Some(ip) = b.get_mut(IP..) {
                if ip.first().is_some_and(|v| v >> 4 == 6) {
                    set_dscp_v6(ip, d);
                } else {
                    set_dscp(ip, d);
                }
            }
        }
    }

    /// Lowers the MSS option of the TCP header at `tcp_off` to the clamp
    /// of `client_port`, counting it when it changed.
    #[cold]
    fn clamp_syn(&self, b: &mut [u8], tcp_off: usize, client_port: u16) {
        let Some(max) = self.topo.mss_clamp(client_port) else {
            return;
        };
        if let Some(tcp) = b.get_mut(tcp_off..) {
            if tcp_options::clamp_mss(tcp, max).is_some() {
                self.counters.mss_clamped.inc();
            }
        }
    }

    /// The MSS a handshake segment the gateway writes itself (SYN proxy)
    /// announces for a terminal reached through `client_port`: `mss`, or
    /// the port's clamp if lower (counted).
    pub(super) fn clamped_mss(&self, mss: u16, client_port: u16) -> u16 {
        match self.topo.mss_clamp(client_port) {
            Some(max) if max < mss => {
                self.counters.mss_clamped.inc();
                max
            }
            _ => mss,
        }
    }

    /// After [`send_to_client`](Self::send_to_client) gave `verdict` for
    /// a frame marked `dscp`: a frame forwarded in a GTP-U tunnel gets the
    /// DSCP on its outer header too (not one sent over the cluster
    /// fabric, whose tier-1 unit tunnels it). Returns `verdict`.
    #[inline(always)]
    pub(super) fn mark_tunnel_of<F: Frame>(
        &self,
        f: &mut F,
        path: &ClientPath,
        dscp: Option<u8>,
        verdict: super::Verdict,
    ) -> super::Verdict {
        if dscp.is_some() && matches!(verdict, super::Verdict::Forward(_)) {
            let fabric = self.cfg.fabric.is_some_and(|fab| fab.port == path.port);
            if !fabric {
                Self::mark_tunnel(f, path, dscp);
            }
        }
        verdict
    }

    /// After [`send_to_client`](Self::send_to_client) has tunnelled a
    /// marked frame to a GTP-U terminal: the outer IPv4 header gets the
    /// same DSCP.
    #[inline]
    pub(super) fn mark_tunnel<F: Frame>(f: &mut F, path: &ClientPath, dscp: Option<u8>) {
        if let Some(d) = dscp {
            if !path.tunnel.is_none() {
                let at = outer_ip_offset(path);
                if let Some(ip) = f.bytes_mut().get_mut(at..) {
                    set_dscp(ip, d);
                }
            }
        }
    }
}

/// Offset of the outer IPv4 header in a frame `to_client` tunnelled (after
/// the Ethernet header and the VLAN tag it wrote, if any).
#[inline]
fn outer_ip_offset(path: &ClientPath) -> usize {
    IP + if path.vlan != 0 { 4 } else { 0 }
}
