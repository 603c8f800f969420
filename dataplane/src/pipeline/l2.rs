//! Layer 2 and tunnels at the edges of the pipeline.
//!
//! On the way in, a terminal's frame is brought to one plain form: an
//! Ethernet header without VLAN tag followed by the (inner) IPv4 packet.
//! What was stripped — VLAN, GTP-U tunnel, the sender's MAC, the input port —
//! is kept in the user session so replies go back the same way. On the way
//! out, [`to_client`] puts it back.

use crate::frame::Frame;
use crate::wire::checksum::checksum;
use crate::wire::{ETHERNET_HEADER_LEN, ETHERTYPE_IPV4, ETHERTYPE_VLAN, GTPU_PORT};
use std::net::Ipv4Addr;

/// Offsets found in an ingress frame.
#[derive(Clone, Copy, Debug)]
pub struct L2 {
    /// Start of the IPv4 packet (after Ethernet and an optional VLAN tag).
    pub ip_off: u16,
    pub vlan: Option<u16>,
    pub src_mac: [u8; 6],
}

pub use crate::tier2::ClientPath;

/// Outer IPv4 + UDP + GTP-U header bytes added when tunnelling.
pub const GTP_ENCAP_LEN: usize = 20 + 8 + 8;

#[inline]
pub fn rd16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// The big-endian u32 at `at` (checked by the caller, as [`rd16`]).
#[inline]
pub fn rd32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Moves the IPv4 packet at `ip_off` (of `total` bytes, its checked total
/// length) to sit right after a 14-byte Ethernet header, dropping whatever
/// was in between (VLAN tag, outer GTP-U headers). Trailing Ethernet
/// padding beyond the IPv4 total length is trimmed.
#[inline(always)]
pub fn normalize<F: Frame>(f: &mut F, ip_off: usize, total: u16) -> bool {
    let b = f.bytes();
    if b.len() < ip_off + 20 {
        return false;
    }
    let want = ip_off + usize::from(total);
    if want < b.len() && !f.trim(b.len() - want) {
        return false;
    }
    if ip_off > ETHERNET_HEADER_LEN {
        let cut = ip_off - ETHERNET_HEADER_LEN;
        let b = f.bytes_mut();
        // Slide the MAC addresses forward; the ethertype is rewritten below.
        b.copy_within(0..12, cut);
        if !f.adj(cut) {
            return false;
        }
    }
    let b = f.bytes_mut();
    b[12..14].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    true
}

/// Writes the Ethernet addresses of an outgoing plain frame.
#[inline(always)]
pub fn set_macs(b: &mut [u8], dst: [u8; 6], src: [u8; 6]) {
    // One length check, then two fixed-size stores (every frame here has
    // an Ethernet header: nothing shorter gets this far).
    if let Some((macs, _)) = b.split_first_chunk_mut::<12>() {
        macs[..6].copy_from_slice(&dst);
        macs[6..].copy_from_slice(&src);
    }
}

/// Turns a plain frame (Ethernet + IPv4) into what the terminal's side
/// expects: its MAC, VLAN tag and GTP-U tunnel. `our_mac` is the output
/// port's address, `our_ip` its IPv4 address (GTP-U outer source).
#[inline]
pub fn to_client<F: Frame>(
    f: &mut F,
    path: &ClientPath,
    our_mac: [u8; 6],
    our_ip: Ipv4Addr,
) -> bool {
    let tunnel = !path.tunnel.is_none();
    let vlan_len = if path.vlan != 0 { 4 } else { 0 };
    let extra = vlan_len + if tunnel { GTP_ENCAP_LEN } else { 0 };
    if extra > 0 {
        let inner_len = f.len().saturating_sub(ETHERNET_HEADER_LEN);
        // The packet's own ethertype (IPv4, or IPv6 from NAT64) follows a
        // VLAN tag; a tunnel's outer header is IPv4.
        let inner_type = f.bytes().get(12..14).map_or([8, 0], |t| [t[0], t[1]]);
        if !f.prepend(extra) {
            return false;
        }
        let b = f.bytes_mut();
        let mut at = 12;
        if vlan_len > 0 {
            b[12..14].copy_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
            b[14..16].copy_from_slice(&(path.vlan & 0x0fff).to_be_bytes());
            at = 16;
        }
        if tunnel {
            b[at..at + 2].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        } else {
            b[at..at + 2].copy_from_slice(&inner_type);
        }
        if tunnel {
            let o = at + 2;
            let total = (GTP_ENCAP_LEN + inner_len) as u16;
            let ip = &mut b[o..o + 20];
            ip.fill(0);
            ip[0] = 0x45;
            ip[2..4].copy_from_slice(&total.to_be_bytes());
            ip[6] = 0x40; // DF
            ip[8] = 64;
            ip[9] = 17;
            ip[12..16].copy_from_slice(&our_ip.octets());
            ip[16..20].copy_from_slice(&path.tunnel.peer_ip.octets());
            let c = checksum(ip);
            ip[10..12].copy_from_slice(&c.to_be_bytes());
            let udp = &mut b[o + 20..o + 28];
            udp[0..2].copy_from_slice(&GTPU_PORT.to_be_bytes());
            udp[2..4].copy_from_slice(&GTPU_PORT.to_be_bytes());
            udp[4..6].copy_from_slice(&(total - 20).to_be_bytes());
            udp[6..8].copy_from_slice(&[0, 0]); // checksum optional over IPv4
            let gtp = &mut b[o + 28..o + 36];
            gtp[0] = 0x30; // version 1, PT=1, no optional fields
            gtp[1] = 0xff; // G-PDU
            gtp[2..4].copy_from_slice(&(inner_len as u16).to_be_bytes());
            gtp[4..8].copy_from_slice(&path.tunnel.teid.to_be_bytes());
        }
    }
    set_macs(f.bytes_mut(), path.mac, our_mac);
    true
}
