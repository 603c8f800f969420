//! Traffic addressed to Tandem itself: ARP for its addresses (answered, and
//! learned from), and pings to VIPs, gateway and port addresses.

use super::l2::{set_macs, L2};
use super::parse::Ip;
use super::{Verdict, Worker};
use crate::counters::DropReason;
use crate::event::{ArpKind, Event, EventSink};
use crate::frame::Frame;
use crate::topology::Role;
use crate::wire::{
    turn_into_arp_reply, turn_into_echo_reply, ArpPacket, EthernetFrame, IcmpPacket, MacAddr,
    ETHERTYPE_IPV4, ICMP_ECHO_REQUEST, PROTO_ICMP,
};
use std::net::Ipv4Addr;

/// Replaces a frame's bytes with `data`, growing or shrinking it.
pub(super) fn replace_contents<F: Frame>(f: &mut F, data: &[u8]) -> bool {
    let len = f.len();
    let ok = if data.len() > len {
        f.append(data.len() - len)
    } else {
        f.trim(len - data.len())
    };
    if ok {
        f.bytes_mut().copy_from_slice(data);
    }
    ok
}

/// Whether `ip` is answered for on `port`: one of our addresses there, or
/// a VIP on an access port.
pub(super) fn is_ours(w: &Worker, port: u16, ip: Ipv4Addr) -> bool {
    w.topo.local(port, ip).is_some()
        || (w.topo.role(port) == Some(Role::Access) && w.snaps.policy.get().services.is_vip(ip))
}

/// ARP: answer requests for our addresses; tell the control plane about
/// neighbours, saying whether the ARP answered or asked us (it decides what
/// to learn: see `runtime/control.rs`); other ARP teaches nothing. A claim
/// of a new MAC for a known neighbour by ARP not aimed at us is reported
/// (the control plane confirms it by asking) and counted `arp_unsolicited`.
pub(super) fn arp<F: Frame, E: EventSink>(
    w: &mut Worker,
    f: &mut F,
    port: u16,
    l2: L2,
    now_ms: u64,
    ev: &mut E,
) -> Verdict {
    let Some(arp) = f.bytes().get(usize::from(l2.ip_off)..) else {
        return Verdict::Drop(DropReason::Truncated);
    };
    let Ok(arp) = ArpPacket::new_checked(arp) else {
        return Verdict::Drop(DropReason::Truncated);
    };
    // Ethernet/IPv4 ARP only.
    if arp.hardware_type() != 1
        || arp.protocol_type() != ETHERTYPE_IPV4
        || arp.hardware_len() != 6
        || arp.protocol_len() != 4
    {
        return Verdict::Drop(DropReason::ArpIgnored);
    }
    let op = arp.operation();
    let (sha, spa, tpa) = (arp.sender_mac().0, arp.sender_ip(), arp.target_ip());
    let our_mac = w.topo.mac(port);

    if w.topo.local(port, spa).is_some() && sha != our_mac {
        // Someone else claims one of our addresses: never learn from it.
        return Verdict::Drop(DropReason::ArpIgnored);
    }
    let for_us = is_ours(w, port, tpa);
    let kind = match op {
        2 if for_us => ArpKind::ReplyToUs,
        1 if for_us => ArpKind::RequestForUs,
        _ => ArpKind::Unsolicited,
    };
    let mut reported = false;
    if !spa.is_unspecified() && sha[0] & 1 == 0 && w.topo.is_connected(port, spa) {
        let known = w.snaps.neighbours.get().get(port, spa);
        // Replies to us always go up (they may confirm the MAC we have);
        // others only when they would change what we know.
        let worth = match kind {
            ArpKind::ReplyToUs => true,
            ArpKind::RequestForUs => known != Some(sha),
            ArpKind::Unsolicited => known.is_some_and(|m| m != sha),
        };
        // What confirms the MAC we have is only filtered per (address,
        // MAC); claims of other MACs also share a budget, so a flood of
        // random MACs cannot crowd the event queue.
        if worth
            && !w.arp_recently_reported(spa, sha, now_ms)
            && (known == Some(sha) || w.arp_claim_budget(now_ms))
        {
            w.emit(
                ev,
                Event::NeighbourSeen {
                    port,
                    ip: spa,
                    mac: sha,
                    kind,
                },
            );
            reported = true;
        }
        if kind == ArpKind::Unsolicited && known.is_some_and(|m| m != sha) {
            return Verdict::Drop(DropReason::ArpUnsolicited);
        }
    }
    if op == 1 && for_us && !spa.is_unspecified() {
        if turn_into_arp_reply(f.bytes_mut(), MacAddr(our_mac)).is_err() {
            return Verdict::Drop(DropReason::ArpIgnored);
        }
        // To the MAC the request names as its sender.
        set_macs(f.bytes_mut(), sha, our_mac);
        w.counters.arp_replies.inc();
        w.counters.tx_packets.inc();
        w.counters.tx_bytes.add(f.len() as u64);
        return Verdict::Forward(port);
    }
    if reported || (op == 2 && for_us) {
        w.counters.punted.inc();
        return Verdict::Consumed;
    }
    Verdict::Drop(DropReason::ArpIgnored)
}

/// ARP events (and ND ones, `nd_learning.rs`) claiming a MAC other than
/// the one known, per worker and 100 ms.
const ARP_CLAIMS_PER_100MS: u32 = 32;

impl Worker {
    /// Takes one from this 100 ms window's budget of ARP claims.
    #[inline]
    pub(super) fn arp_claim_budget(&mut self, now_ms: u64) -> bool {
        let (start, used) = &mut self.arp_budget;
        if now_ms.saturating_sub(*start) >= 100 {
            *start = now_ms;
            *used = 0;
        }
        if *used >= ARP_CLAIMS_PER_100MS {
            return false;
        }
        *used += 1;
        true
    }

    /// Whether (address, MAC) was reported in the last 100 ms (and notes it
    /// now if not): a flood of ARP cannot flood the event queue, and one
    /// MAC's flood cannot hide another MAC's answer.
    #[inline]
    pub(super) fn arp_recently_reported(
        &mut self,
        ip: Ipv4Addr,
        mac: [u8; 6],
        now_ms: u64,
    ) -> bool {
        let mut m = [0u8; 8];
        m[..6].copy_from_slice(&mac);
        let h = crate::hash::hash_u64(u64::from(u32::from(ip)) ^ u64::from_le_bytes(m), 0x6172);
        let slot = (h as usize) % self.arp_seen.len();
        let (sip, smac, at) = self.arp_seen[slot];
        if sip == ip && smac == mac && now_ms.saturating_sub(at) < 100 {
            return true;
        }
        self.arp_seen[slot] = (ip, mac, now_ms);
        false
    }
}

/// Answers an ICMP echo request addressed to one of our addresses (or a
/// VIP, on an access port) in place. None if the frame is not one.
#[inline]
pub(super) fn maybe_echo<F: Frame>(
    w: &mut Worker,
    f: &mut F,
    port: u16,
    ip: &Ip,
) -> Option<Verdict> {
    if ip.proto != PROTO_ICMP {
        return None;
    }
    echo(w, f, port, ip)
}

/// [`maybe_echo`] for an ICMP packet (rarely on the established path).
#[inline(never)]
fn echo<F: Frame>(w: &mut Worker, f: &mut F, port: u16, ip: &Ip) -> Option<Verdict> {
    let b = f.bytes();
    let icmp = IcmpPacket::new_checked(b.get(ip.l4_off()..ip.end())?).ok()?;
    if icmp.msg_type() != ICMP_ECHO_REQUEST || icmp.code() != 0 || !is_ours(w, port, ip.dst) {
        return None;
    }
    let requester = EthernetFrame::new_unchecked(b).src().0;
    // Swaps addresses, type 8 -> 0, TTL 64, checksums patched.
    turn_into_echo_reply(f.bytes_mut()).ok()?;
    // Back to whoever sent it, from this port's own MAC (not from the
    // address it was sent to, which may have been a broadcast).
    set_macs(f.bytes_mut(), requester, w.topo.mac(port));
    w.counters.icmp_replies.inc();
    w.counters.tx_packets.inc();
    w.counters.tx_bytes.add(f.len() as u64);
    Some(Verdict::Forward(port))
}
