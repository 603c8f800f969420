//! Answers built on the fast path, without allocating: a TCP RST for a
//! segment nobody owns, ICMP errors quoting the offending packet, and echo
//! and ARP replies made by rewriting the request in place.
//!
//! These functions only check what they must to build a well-formed answer
//! and to obey the "never answer" rules of RFC 793 and RFC 1122; whether
//! the appliance should answer at all (is the target address ours, was the
//! input checksum right, rate limits) is the caller's decision.

use super::checksum;
use super::icmp::is_error_type;
use super::{
    is_unicast, ArpOp, ArpPacket, ArpRepr, EthernetFrame, IcmpPacket, Ipv4Packet, Ipv4Repr,
    MacAddr, TcpFlags, TcpRepr, TcpSegment, WireError, DEFAULT_TTL, ETHERTYPE_ARP, ETHERTYPE_IPV4,
    ICMP_DEST_UNREACHABLE, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, ICMP_HEADER_LEN,
    ICMP_PARAMETER_PROBLEM, ICMP_TIME_EXCEEDED, IPV4_HEADER_LEN, PROTO_ICMP, PROTO_TCP,
    TCP_HEADER_LEN, UNREACH_FRAG_NEEDED,
};
use std::net::Ipv4Addr;

/// Bytes of the offending packet's payload an ICMP error quotes.
const QUOTED_PAYLOAD_LEN: usize = 8;

/// An input frame's Ethernet view and the IPv4 packet it carries.
type Ipv4Frame<'a> = (EthernetFrame<&'a [u8]>, Ipv4Packet<&'a [u8]>);

/// Parses the Ethernet header of `frame` and checks it carries IPv4.
fn ipv4_frame(frame: &[u8]) -> Result<Ipv4Frame<'_>, WireError> {
    let eth = EthernetFrame::new_checked(frame)?;
    if eth.ethertype() != ETHERTYPE_IPV4 {
        return Err(WireError::UnsupportedEtherType);
    }
    let ip = Ipv4Packet::new_checked(&frame[eth.payload_offset()..])?;
    Ok((eth, ip))
}

/// Copies the L2 header of `in_eth` (tag included) into `out` with the
/// MAC addresses swapped; returns its length.
fn write_swapped_l2(in_eth: &EthernetFrame<&[u8]>, out: &mut [u8]) -> usize {
    let l2_len = in_eth.header_len();
    out[..l2_len].copy_from_slice(&in_eth.as_bytes()[..l2_len]);
    EthernetFrame::new_unchecked(&mut out[..l2_len]).swap_addresses();
    l2_len
}

/// Writes into `out` the RST that answers the TCP segment in `in_frame`
/// (RFC 793, "Reset Generation" for a connection that does not exist):
/// if the segment has ACK, the RST has `seq = SEG.ACK` and no ACK;
/// otherwise `seq = 0`, `ack = SEG.SEQ + SEG.LEN` (SYN and FIN count one
/// each) and ACK set. Addresses, ports and MACs are swapped; the VLAN tag
/// is kept. Returns the frame length.
///
/// Refuses (no answer is due) a segment that is itself a RST
/// (`IncomingRst`), a fragment (`Fragment`), or to/from a non-unicast
/// address (`NonUnicastAddress`).
pub fn write_tcp_rst_reply(in_frame: &[u8], out: &mut [u8]) -> Result<usize, WireError> {
    let (eth, ip) = ipv4_frame(in_frame)?;
    if ip.protocol() != PROTO_TCP {
        return Err(WireError::UnsupportedProtocol);
    }
    if ip.is_fragment() {
        return Err(WireError::Fragment);
    }
    if eth.dst().is_multicast() || !is_unicast(ip.src()) || !is_unicast(ip.dst()) {
        return Err(WireError::NonUnicastAddress);
    }
    let tcp = TcpSegment::new_checked(ip.payload())?;
    let in_flags = tcp.flags();
    if in_flags.contains(TcpFlags::RST) {
        return Err(WireError::IncomingRst);
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

    let frame_len = eth.header_len() + IPV4_HEADER_LEN + TCP_HEADER_LEN;
    if out.len() < frame_len {
        return Err(WireError::BufferTooSmall);
    }
    let out = &mut out[..frame_len];
    let l3 = write_swapped_l2(&eth, out);
    let l4 =
        l3 + Ipv4Repr::new(ip.dst(), ip.src(), PROTO_TCP, TCP_HEADER_LEN).emit(&mut out[l3..])?;
    let rst = TcpRepr {
        src_port: tcp.dst_port(),
        dst_port: tcp.src_port(),
        seq,
        ack,
        flags,
        window: 0,
    };
    rst.emit(&mut out[l4..], ip.dst(), ip.src())?;
    Ok(frame_len)
}

/// Writes into `out` an ICMP error of `icmp_type`/`code` (destination
/// unreachable, time exceeded or parameter problem) about the IPv4 packet
/// in `in_frame`, sent from `src_ip` back to the packet's source. It quotes
/// the packet's IPv4 header (options included) and the first 8 bytes of its
/// payload. MACs are swapped; the VLAN tag is kept. Returns the frame
/// length.
///
/// Refuses, per RFC 1122 3.2.2: a packet to a link-layer or IP broadcast /
/// multicast address or from a non-unicast source (`NonUnicastAddress`), a
/// non-first fragment (`Fragment`), an ICMP error message
/// (`IcmpErrorAboutError`). Other ICMP types give `UnsupportedIcmpType`.
pub fn write_icmp_error(
    in_frame: &[u8],
    out: &mut [u8],
    icmp_type: u8,
    code: u8,
    src_ip: Ipv4Addr,
) -> Result<usize, WireError> {
    write_icmp_error_with_rest(in_frame, out, icmp_type, code, 0, src_ip)
}

/// [`write_icmp_error`] for "fragmentation needed and DF set" (type 3,
/// code 4), carrying the next-hop MTU (RFC 1191).
pub fn write_icmp_frag_needed(
    in_frame: &[u8],
    out: &mut [u8],
    next_hop_mtu: u16,
    src_ip: Ipv4Addr,
) -> Result<usize, WireError> {
    write_icmp_error_with_rest(
        in_frame,
        out,
        ICMP_DEST_UNREACHABLE,
        UNREACH_FRAG_NEEDED,
        u32::from(next_hop_mtu),
        src_ip,
    )
}

fn write_icmp_error_with_rest(
    in_frame: &[u8],
    out: &mut [u8],
    icmp_type: u8,
    code: u8,
    rest_of_header: u32,
    src_ip: Ipv4Addr,
) -> Result<usize, WireError> {
    if !matches!(
        icmp_type,
        ICMP_DEST_UNREACHABLE | ICMP_TIME_EXCEEDED | ICMP_PARAMETER_PROBLEM
    ) {
        return Err(WireError::UnsupportedIcmpType);
    }
    let (eth, ip) = ipv4_frame(in_frame)?;
    if eth.dst().is_multicast() || !is_unicast(ip.src()) || !is_unicast(ip.dst()) {
        return Err(WireError::NonUnicastAddress);
    }
    if ip.fragment_offset() != 0 {
        return Err(WireError::Fragment);
    }
    if ip.protocol() == PROTO_ICMP {
        match ip.payload().first() {
            Some(&inner_type) if is_error_type(inner_type) => {
                return Err(WireError::IcmpErrorAboutError)
            }
            Some(_) => {}
            // Too short to tell what it is; do not risk answering an error.
            None => return Err(WireError::Truncated),
        }
    }

    let quoted_len = ip.header_len() + ip.payload().len().min(QUOTED_PAYLOAD_LEN);
    let icmp_len = ICMP_HEADER_LEN + quoted_len;
    let frame_len = eth.header_len() + IPV4_HEADER_LEN + icmp_len;
    if out.len() < frame_len {
        return Err(WireError::BufferTooSmall);
    }
    let out = &mut out[..frame_len];
    let l3 = write_swapped_l2(&eth, out);
    let l4 = l3 + Ipv4Repr::new(src_ip, ip.src(), PROTO_ICMP, icmp_len).emit(&mut out[l3..])?;
    let mut icmp = IcmpPacket::new_unchecked(&mut out[l4..]);
    icmp.set_msg_type(icmp_type);
    icmp.set_code(code);
    icmp.set_rest_of_header(rest_of_header);
    icmp.data_mut()
        .copy_from_slice(&ip.as_bytes()[..quoted_len]);
    icmp.fill_checksum();
    Ok(frame_len)
}

/// Rewrites the ICMP echo request in `frame` into its echo reply, in
/// place: MACs and IPv4 addresses swapped, TTL set to 64, type 0; both
/// checksums patched incrementally (the ICMP checksum stays right only if
/// it was right). Options and payload are kept.
pub fn turn_into_echo_reply(frame: &mut [u8]) -> Result<(), WireError> {
    let l3 = {
        let (eth, ip) = ipv4_frame(frame)?;
        if ip.protocol() != PROTO_ICMP {
            return Err(WireError::UnsupportedProtocol);
        }
        if ip.is_fragment() {
            return Err(WireError::Fragment);
        }
        let icmp = IcmpPacket::new_checked(ip.payload())?;
        if icmp.msg_type() != ICMP_ECHO_REQUEST {
            return Err(WireError::NotEchoRequest);
        }
        eth.payload_offset()
    };

    let (l2, l3_bytes) = frame.split_at_mut(l3);
    EthernetFrame::new_unchecked(l2).swap_addresses();
    let mut ip = Ipv4Packet::new_unchecked(l3_bytes);
    let (src, dst) = (ip.src(), ip.dst());
    // Exchanging two words of the header leaves its sum unchanged.
    ip.set_src(dst);
    ip.set_dst(src);
    let protocol = u16::from(ip.protocol());
    let old_word = (u16::from(ip.ttl()) << 8) | protocol;
    let new_word = (u16::from(DEFAULT_TTL) << 8) | protocol;
    ip.set_checksum(checksum::update16(ip.checksum(), old_word, new_word));
    ip.set_ttl(DEFAULT_TTL);

    let mut icmp = IcmpPacket::new_unchecked(ip.payload_mut());
    let code = u16::from(icmp.code());
    let old_word = (u16::from(ICMP_ECHO_REQUEST) << 8) | code;
    let new_word = (u16::from(ICMP_ECHO_REPLY) << 8) | code;
    icmp.set_checksum(checksum::update16(icmp.checksum(), old_word, new_word));
    icmp.set_msg_type(ICMP_ECHO_REPLY);
    Ok(())
}

/// Rewrites the ARP request in `frame` into the reply that `our_mac` owns
/// the requested address, in place: sender becomes (`our_mac`, requested
/// IP), target becomes the requester; Ethernet destination becomes the
/// request's source and the source `our_mac`. The VLAN tag is kept.
/// Whether the requested address is really ours is the caller's check.
pub fn turn_into_arp_reply(frame: &mut [u8], our_mac: MacAddr) -> Result<(), WireError> {
    let mut eth = EthernetFrame::new_checked(frame)?;
    if eth.ethertype() != ETHERTYPE_ARP {
        return Err(WireError::UnsupportedEtherType);
    }
    let request = ArpRepr::parse(&ArpPacket::new_checked(eth.payload())?)?;
    if request.op != ArpOp::Request {
        return Err(WireError::NotArpRequest);
    }
    let reply = ArpRepr {
        op: ArpOp::Reply,
        sender_mac: our_mac,
        sender_ip: request.target_ip,
        target_mac: request.sender_mac,
        target_ip: request.sender_ip,
    };
    reply.emit(eth.payload_mut())?;
    let requester = eth.src();
    eth.set_dst(requester);
    eth.set_src(our_mac);
    Ok(())
}

#[cfg(test)]
mod tests;
