//! IPv6 answers built without allocating: an ICMPv6 echo reply made in
//! place from the request, the Neighbor Advertisement that answers a
//! solicitation for one of our addresses (IPv6's ARP reply), and the
//! Packet Too Big that tells a sender its packet does not fit (IPv6 routers
//! never fragment, RFC 8200 section 5); [`write_icmpv6_error`] writes
//! any ICMPv6 error as a bare IPv6 packet, for a caller that frames it
//! itself (NAT64's time exceeded, sent along the terminal's path).
//!
//! As in `replies`, whether the appliance should answer (is the address
//! ours, rate limits) is the caller's decision; these functions enforce
//! what the RFCs require of any answer. The pipeline answers ND and echo
//! for a port's IPv6 addresses with the first two (`own_addresses_v6`);
//! Packet Too Big waits for the IPv6 forwarding paths.

use super::checksum;
use super::icmpv6::{
    check_nd_hop_limit, is_error_type_v6, multicast_mac, Icmpv6Error, Icmpv6Packet, Icmpv6Repr,
    ICMPV6_ECHO_REPLY, ICMPV6_ECHO_REQUEST, ICMPV6_HEADER_LEN, ICMPV6_NEIGHBOR_SOLICIT,
    NA_FLAG_OVERRIDE, NA_FLAG_SOLICITED, ND_HOP_LIMIT,
};
use super::ipv6::{is_unicast_v6, DEFAULT_HOP_LIMIT, IPV6_MIN_MTU, PROTO_ICMPV6};
use super::{
    EthernetFrame, Ipv6Packet, Ipv6Repr, MacAddr, TcpFlags, TcpRepr, TcpSegment, ETHERTYPE_IPV6,
    IPV6_HEADER_LEN, PROTO_TCP, TCP_HEADER_LEN,
};
use std::net::Ipv6Addr;

/// All-nodes multicast: where an NA answering duplicate address
/// detection goes (RFC 4861 7.2.4).
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// The L2 header length and the IPv6 packet of an Ethernet frame.
fn ipv6_frame(frame: &[u8]) -> Result<(usize, Ipv6Packet<&[u8]>), Icmpv6Error> {
    let eth = EthernetFrame::new_checked(frame).map_err(|_| Icmpv6Error::NotPlainIpv6)?;
    if eth.ethertype() != ETHERTYPE_IPV6 {
        return Err(Icmpv6Error::NotPlainIpv6);
    }
    let l3 = eth.payload_offset();
    let ip = Ipv6Packet::new_checked(&frame[l3..]).map_err(|_| Icmpv6Error::NotPlainIpv6)?;
    Ok((l3, ip))
}

/// Rewrites the ICMPv6 echo request in `frame` into its reply, in place:
/// MACs and addresses swapped, hop limit 64, type 129, checksum patched
/// incrementally (the pseudo header's sum does not change when source and
/// destination swap). The VLAN tag and the payload are kept.
///
/// Refuses a request with extension headers (`NotPlainIpv6`: the reply
/// must not echo a routing header back), one whose checksum is wrong
/// (`BadChecksum`), and one to or from a multicast/unspecified address
/// (`NonUnicastAddress`; answering a multicast echo from a unicast source
/// is the caller's choice and needs a different source address).
pub fn turn_into_echo_reply_v6(frame: &mut [u8]) -> Result<(), Icmpv6Error> {
    let l3 = {
        let (l3, ip) = ipv6_frame(frame)?;
        if ip.next_header() != PROTO_ICMPV6 {
            return Err(Icmpv6Error::NotPlainIpv6);
        }
        if !is_unicast_v6(ip.src()) || !is_unicast_v6(ip.dst()) {
            return Err(Icmpv6Error::NonUnicastAddress);
        }
        let icmp = Icmpv6Packet::new_checked(ip.payload())?;
        if icmp.msg_type() != ICMPV6_ECHO_REQUEST {
            return Err(Icmpv6Error::NotEchoRequest);
        }
        if !icmp.verify_checksum(ip.src(), ip.dst()) {
            return Err(Icmpv6Error::BadChecksum);
        }
        l3
    };
    let (l2, l3_bytes) = frame.split_at_mut(l3);
    EthernetFrame::new_unchecked(l2).swap_addresses();
    let mut ip = Ipv6Packet::new_unchecked(l3_bytes);
    let (src, dst) = (ip.src(), ip.dst());
    ip.set_src(dst);
    ip.set_dst(src);
    ip.set_hop_limit(DEFAULT_HOP_LIMIT);
    let mut icmp = Icmpv6Packet::new_unchecked(ip.payload_mut());
    let code = u16::from(icmp.code());
    let old_word = (u16::from(ICMPV6_ECHO_REQUEST) << 8) | code;
    let new_word = (u16::from(ICMPV6_ECHO_REPLY) << 8) | code;
    icmp.set_checksum(checksum::update16(icmp.checksum(), old_word, new_word));
    icmp.set_msg_type(ICMPV6_ECHO_REPLY);
    Ok(())
}

/// Writes into `out` the Neighbor Advertisement answering the Neighbor
/// Solicitation in `in_frame`, saying `our_mac` owns its target: source =
/// the target, override flag set, target link-layer option = `our_mac`,
/// hop limit 255. To a solicitation from an address the NA goes back to
/// it with the solicited flag; to one from the unspecified address
/// (duplicate address detection) it goes to all-nodes without it
/// (RFC 4861 7.2.4). The VLAN tag is kept. Returns the frame length.
///
/// Refuses what RFC 4861 7.1.1 says to discard (`BadNeighborDiscovery`:
/// hop limit not 255, code not 0, multicast target, bad options, a source
/// link-layer option from the unspecified address), a wrong checksum,
/// and anything but an NS. Whether the target is ours is the caller's check.
pub fn write_neighbor_advertisement(
    in_frame: &[u8],
    out: &mut [u8],
    our_mac: MacAddr,
) -> Result<usize, Icmpv6Error> {
    let (l3, ip) = ipv6_frame(in_frame)?;
    if ip.next_header() != PROTO_ICMPV6 {
        return Err(Icmpv6Error::NotPlainIpv6);
    }
    let icmp = Icmpv6Packet::new_checked(ip.payload())?;
    if icmp.msg_type() != ICMPV6_NEIGHBOR_SOLICIT {
        return Err(Icmpv6Error::NotNeighborSolicit);
    }
    check_nd_hop_limit(ip.hop_limit())?;
    let Icmpv6Repr::NeighborSolicit {
        target,
        source_lladdr,
    } = Icmpv6Repr::parse(&icmp, ip.src(), ip.dst())?
    else {
        return Err(Icmpv6Error::NotNeighborSolicit);
    };
    let eth = EthernetFrame::new_unchecked(in_frame);
    let (dst_ip, flags, dst_mac) = if ip.src().is_unspecified() {
        (ALL_NODES, NA_FLAG_OVERRIDE, multicast_mac(ALL_NODES))
    } else {
        if ip.src().is_multicast() {
            return Err(Icmpv6Error::NonUnicastAddress);
        }
        let mac = source_lladdr.unwrap_or_else(|| eth.src());
        (ip.src(), NA_FLAG_OVERRIDE | NA_FLAG_SOLICITED, mac)
    };
    let advert = Icmpv6Repr::NeighborAdvert {
        flags,
        target,
        target_lladdr: Some(our_mac),
    };
    let icmp_len = advert.header_len();
    let frame_len = l3 + IPV6_HEADER_LEN + icmp_len;
    if out.len() < frame_len {
        return Err(Icmpv6Error::BufferTooSmall);
    }
    let out = &mut out[..frame_len];
    out[..l3].copy_from_slice(&in_frame[..l3]);
    let mut out_eth = EthernetFrame::new_unchecked(&mut out[..l3]);
    out_eth.set_dst(dst_mac);
    out_eth.set_src(our_mac);
    let mut repr = Ipv6Repr::new(target, dst_ip, PROTO_ICMPV6, icmp_len);
    repr.hop_limit = ND_HOP_LIMIT;
    repr.emit(&mut out[l3..])
        .map_err(|_| Icmpv6Error::BufferTooSmall)?;
    advert.emit(&mut out[l3 + IPV6_HEADER_LEN..], target, dst_ip)?;
    Ok(frame_len)
}

/// Writes into `out` a Packet Too Big with `mtu` about the IPv6 packet in
/// `in_frame`, from `src_ip` (our address on the link) back to the
/// packet's source, quoting as much of the packet as keeps the ICMPv6
/// packet within 1280 bytes (RFC 4443 2.4 c) and fits in `out`. MACs swapped, VLAN kept,
/// hop limit 64. Returns the frame length.
///
/// Refuses a packet from a multicast or unspecified source
/// (`NonUnicastAddress`) and an ICMPv6 error (`ErrorAboutError`). A
/// multicast destination is allowed: RFC 4443 2.4 (e.3) makes Packet Too
/// Big the exception, so path MTU discovery works for multicast.
pub fn write_packet_too_big(
    in_frame: &[u8],
    out: &mut [u8],
    src_ip: Ipv6Addr,
    mtu: u32,
) -> Result<usize, Icmpv6Error> {
    write_error_v6(in_frame, out, src_ip, Icmpv6Repr::PacketTooBig { mtu })
}

/// Writes into `out` an ICMPv6 Destination Unreachable with `code` (1:
/// communication administratively prohibited, RFC 4443 3.1) about the
/// IPv6 packet in `in_frame`, sent from `src_ip` back to its source,
/// quoting as much of the packet as fits in `out` and in 1280 bytes. MACs
/// swapped, VLAN kept, hop limit 64. Returns the frame length.
///
/// Refuses (RFC 4443 2.4 e) a packet from a multicast or unspecified
/// source or to a multicast address or MAC (`NonUnicastAddress`) and an
/// ICMPv6 error (`ErrorAboutError`).
pub fn write_dest_unreachable_v6(
    in_frame: &[u8],
    out: &mut [u8],
    src_ip: Ipv6Addr,
    code: u8,
) -> Result<usize, Icmpv6Error> {
    let (_, ip) = ipv6_frame(in_frame)?;
    let eth = EthernetFrame::new_checked(in_frame).map_err(|_| Icmpv6Error::NotPlainIpv6)?;
    if eth.dst().is_multicast() || !is_unicast_v6(ip.dst()) {
        return Err(Icmpv6Error::NonUnicastAddress);
    }
    write_error_v6(in_frame, out, src_ip, Icmpv6Repr::DestUnreachable { code })
}

/// An ICMPv6 error `repr` about the packet in `in_frame`: the L2 header
/// copied with its addresses swapped, then [`write_icmpv6_error`]
/// (whether a multicast destination may be answered is the caller's
/// check).
fn write_error_v6(
    in_frame: &[u8],
    out: &mut [u8],
    src_ip: Ipv6Addr,
    repr: Icmpv6Repr,
) -> Result<usize, Icmpv6Error> {
    let (l3, _) = ipv6_frame(in_frame)?;
    let Some((out_l2, out_l3)) = out.split_at_mut_checked(l3) else {
        return Err(Icmpv6Error::BufferTooSmall);
    };
    let n = write_icmpv6_error(&in_frame[l3..], out_l3, src_ip, repr)?;
    out_l2.copy_from_slice(&in_frame[..l3]);
    EthernetFrame::new_unchecked(out_l2).swap_addresses();
    Ok(l3 + n)
}

/// Writes into `out` an IPv6 packet (no L2 header: the caller frames it,
/// e.g. in a GTP-U tunnel) carrying the ICMPv6 error `repr` about the
/// IPv6 packet `packet`, from `src_ip` back to the packet's source, hop
/// limit 64, quoting as much of the packet as keeps the ICMPv6 packet
/// within 1280 bytes (RFC 4443 2.4 c) and fits in `out`. Returns its
/// length.
///
/// Refuses a packet from a multicast or unspecified source
/// (`NonUnicastAddress`) and an ICMPv6 error (`ErrorAboutError`);
/// `NotPlainIpv6` if `packet` is no IPv6 packet.
pub fn write_icmpv6_error(
    packet: &[u8],
    out: &mut [u8],
    src_ip: Ipv6Addr,
    repr: Icmpv6Repr,
) -> Result<usize, Icmpv6Error> {
    let ip = Ipv6Packet::new_checked(packet).map_err(|_| Icmpv6Error::NotPlainIpv6)?;
    if !is_unicast_v6(ip.src()) {
        return Err(Icmpv6Error::NonUnicastAddress);
    }
    if let Ok(upper) = ip.upper_layer() {
        let is_first = upper.fragment.is_none_or(|f| f.is_first());
        let packet = ip.packet();
        if upper.protocol == PROTO_ICMPV6 && is_first {
            // An error, or a message cut off before its type: no answer.
            match packet.get(upper.offset) {
                Some(&t) if !is_error_type_v6(t) => {}
                _ => return Err(Icmpv6Error::ErrorAboutError),
            }
        }
    }
    let quoted = ip.packet();
    let room = (IPV6_MIN_MTU - IPV6_HEADER_LEN - ICMPV6_HEADER_LEN).min(
        out.len()
            .saturating_sub(IPV6_HEADER_LEN + ICMPV6_HEADER_LEN),
    );
    let quoted = &quoted[..quoted.len().min(room)];
    let icmp_len = ICMPV6_HEADER_LEN + quoted.len();
    let len = IPV6_HEADER_LEN + icmp_len;
    if out.len() < len {
        return Err(Icmpv6Error::BufferTooSmall);
    }
    let out = &mut out[..len];
    let dst_ip = ip.src();
    Ipv6Repr::new(src_ip, dst_ip, PROTO_ICMPV6, icmp_len)
        .emit(out)
        .map_err(|_| Icmpv6Error::BufferTooSmall)?;
    let message = &mut out[IPV6_HEADER_LEN..];
    message[ICMPV6_HEADER_LEN..].copy_from_slice(quoted);
    repr.emit(message, src_ip, dst_ip)?;
    Ok(len)
}

/// Writes into `out` the TCP RST that refuses the IPv6 TCP segment in
/// `in_frame` (RFC 9293 3.10.7.1, as `replies::write_tcp_rst_reply` does
/// for IPv4): from its destination back to its source, ports swapped; to
/// an ACK, `seq` = its ack and RST alone; otherwise `ack` = its sequence
/// plus its length and RST|ACK. MACs swapped, VLAN kept, hop limit 64, the
/// checksum over the IPv6 pseudo header. Extension headers before TCP are
/// stepped over and not echoed. Returns the frame length.
///
/// Refuses a segment that is not TCP or is not a whole packet
/// (`UnsupportedType`), one to or from a non-unicast address or to a
/// multicast MAC (`NonUnicastAddress`), a RST, and a segment too short for
/// its header (`Truncated`).
pub fn write_tcp_rst_reply_v6(in_frame: &[u8], out: &mut [u8]) -> Result<usize, Icmpv6Error> {
    let (l3, ip) = ipv6_frame(in_frame)?;
    let eth = EthernetFrame::new_checked(in_frame).map_err(|_| Icmpv6Error::NotPlainIpv6)?;
    let upper = ip.upper_layer().map_err(|_| Icmpv6Error::NotPlainIpv6)?;
    if upper.protocol != PROTO_TCP || upper.fragment.is_some() {
        return Err(Icmpv6Error::UnsupportedType);
    }
    if eth.dst().is_multicast() || !is_unicast_v6(ip.src()) || !is_unicast_v6(ip.dst()) {
        return Err(Icmpv6Error::NonUnicastAddress);
    }
    let segment = ip
        .packet()
        .get(upper.offset..)
        .ok_or(Icmpv6Error::Truncated)?;
    let tcp = TcpSegment::new_checked(segment).map_err(|_| Icmpv6Error::Truncated)?;
    let in_flags = tcp.flags();
    if in_flags.contains(TcpFlags::RST) {
        return Err(Icmpv6Error::UnsupportedType);
    }
    let (seq, ack, flags) = if in_flags.contains(TcpFlags::ACK) {
        (tcp.ack_number(), 0, TcpFlags::RST)
    } else {
        let seg_len = tcp.segment_len() as u32;
        (
            0,
            tcp.seq_number().wrapping_add(seg_len),
            TcpFlags::RST | TcpFlags::ACK,
        )
    };
    let frame_len = l3 + IPV6_HEADER_LEN + TCP_HEADER_LEN;
    if out.len() < frame_len {
        return Err(Icmpv6Error::BufferTooSmall);
    }
    let out = &mut out[..frame_len];
    out[..l3].copy_from_slice(&in_frame[..l3]);
    EthernetFrame::new_unchecked(&mut out[..l3]).swap_addresses();
    let (src, dst) = (ip.dst(), ip.src());
    Ipv6Repr::new(src, dst, PROTO_TCP, TCP_HEADER_LEN)
        .emit(&mut out[l3..])
        .map_err(|_| Icmpv6Error::BufferTooSmall)?;
    let rst = TcpRepr {
        src_port: tcp.dst_port(),
        dst_port: tcp.src_port(),
        seq,
        ack,
        flags,
        window: 0,
    };
    let l4 = &mut out[l3 + IPV6_HEADER_LEN..];
    // The IPv4 checksum `emit` fills is replaced by the IPv6 one.
    rst.emit(
        l4,
        std::net::Ipv4Addr::UNSPECIFIED,
        std::net::Ipv4Addr::UNSPECIFIED,
    )
    .map_err(|_| Icmpv6Error::BufferTooSmall)?;
    TcpSegment::new_unchecked(&mut *l4).set_checksum(0);
    let csum = checksum::l4_checksum_v6(src, dst, PROTO_TCP, &l4[..TCP_HEADER_LEN]);
    TcpSegment::new_unchecked(&mut *l4).set_checksum(csum);
    Ok(frame_len)
}

#[cfg(test)]
#[path = "replies_v6_tests.rs"]
mod tests;
