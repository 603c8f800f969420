//! The Neighbor Solicitation Tandem sends to resolve an IPv6 neighbour
//! (RFC 4861 4.3, 7.2.2): IPv6's ARP request, built by the control plane
//! when a server or next hop has no known MAC, to refresh one it has, and
//! to confirm a claimed MAC change. `replies_v6` only answers
//! solicitations; this file asks them.
//!
//! Control plane only: the frame is returned as a `Vec`.

use super::icmpv6::{multicast_mac, solicited_node_multicast, Icmpv6Error, Icmpv6Repr};
use super::PROTO_ICMPV6;
use super::{EthernetRepr, Ipv6Repr, MacAddr, ETHERTYPE_IPV6, IPV6_HEADER_LEN, ND_HOP_LIMIT};
use std::net::Ipv6Addr;

/// A Neighbor Solicitation for `target` from `src_ip` at `src_mac`, with
/// the Source Link-Layer Address option (so the neighbour can answer
/// without resolving us), hop limit 255 and the checksum over the pseudo
/// header. `dst_mac` `None` sends it to the target's solicited-node group
/// (address resolution: IPv6 destination ff02::1:ffXX:XXXX, Ethernet
/// 33:33:ff:XX:XX:XX); `Some(mac)` sends it to the target itself at `mac`
/// (a refresh, or asking a MAC that claims the address to confirm it).
/// Untagged. `BufferTooSmall` cannot happen (the frame is sized here);
/// it is returned rather than panicking, like `frames::arp_frame`.
pub fn neighbor_solicitation(
    src_mac: MacAddr,
    dst_mac: Option<MacAddr>,
    src_ip: Ipv6Addr,
    target: Ipv6Addr,
) -> Result<Vec<u8>, Icmpv6Error> {
    let (dst_ip, dst_mac) = match dst_mac {
        Some(mac) => (target, mac),
        None => {
            let group = solicited_node_multicast(target);
            (group, multicast_mac(group))
        }
    };
    let eth = EthernetRepr {
        dst: dst_mac,
        src: src_mac,
        vlan: None,
        ethertype: ETHERTYPE_IPV6,
    };
    let ns = Icmpv6Repr::NeighborSolicit {
        target,
        source_lladdr: Some(src_mac),
    };
    let icmp_len = ns.header_len();
    let l3 = eth.header_len();
    let mut frame = vec![0u8; l3 + IPV6_HEADER_LEN + icmp_len];
    eth.emit(&mut frame)
        .map_err(|_| Icmpv6Error::BufferTooSmall)?;
    let mut ip = Ipv6Repr::new(src_ip, dst_ip, PROTO_ICMPV6, icmp_len);
    ip.hop_limit = ND_HOP_LIMIT;
    ip.emit(&mut frame[l3..])
        .map_err(|_| Icmpv6Error::BufferTooSmall)?;
    ns.emit(&mut frame[l3 + IPV6_HEADER_LEN..], src_ip, dst_ip)?;
    Ok(frame)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testutil_v6::slow_l4_checksum_v6;
    use crate::wire::{
        EthernetFrame, Icmpv6Packet, Ipv6Packet, NdOptions, ETHERNET_HEADER_LEN,
        ICMPV6_NEIGHBOR_SOLICIT, ND_LLADDR_OPT_LEN, ND_MESSAGE_LEN,
    };

    const OURS: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x11]);
    const THEIRS: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x22]);

    fn a(s: &str) -> Ipv6Addr {
        s.parse().expect("test address")
    }

    /// Reads `frame` back with the views and checks everything a
    /// solicitation from `src` for `target` to `dst` at `dst_mac` must be.
    fn check(frame: &[u8], dst_mac: MacAddr, src: Ipv6Addr, dst: Ipv6Addr, target: Ipv6Addr) {
        let eth = EthernetFrame::new_checked(frame).expect("ethernet");
        assert_eq!(eth.dst(), dst_mac);
        assert_eq!(eth.src(), OURS);
        assert_eq!(eth.ethertype(), ETHERTYPE_IPV6);
        assert_eq!(eth.vlan(), None);
        let ip = Ipv6Packet::new_checked(eth.payload()).expect("ipv6");
        assert_eq!(ip.version(), 6);
        assert_eq!(ip.next_header(), PROTO_ICMPV6);
        assert_eq!(ip.hop_limit(), 255);
        assert_eq!((ip.src(), ip.dst()), (src, dst));
        assert_eq!(ip.payload_len(), ND_MESSAGE_LEN + ND_LLADDR_OPT_LEN);
        assert_eq!(
            frame.len(),
            ETHERNET_HEADER_LEN + IPV6_HEADER_LEN + ND_MESSAGE_LEN + ND_LLADDR_OPT_LEN
        );
        let icmp = Icmpv6Packet::new_checked(ip.payload()).expect("icmpv6");
        assert_eq!(icmp.msg_type(), ICMPV6_NEIGHBOR_SOLICIT);
        assert_eq!(icmp.code(), 0);
        assert_eq!(icmp.body_word(), 0, "reserved");
        assert_eq!(icmp.nd_target(), Some(target));
        assert!(icmp.verify_checksum(src, dst));
        // Against the checksum written out from RFC 8200 8.1.
        let mut zeroed = ip.payload().to_vec();
        zeroed[2..4].copy_from_slice(&[0, 0]);
        assert_eq!(
            icmp.checksum(),
            slow_l4_checksum_v6(src, dst, PROTO_ICMPV6, &zeroed)
        );
        let options = NdOptions::parse(&ip.payload()[ND_MESSAGE_LEN..]).expect("options");
        assert_eq!(options.source_lladdr, Some(OURS));
        assert_eq!(options.target_lladdr, None);
        // And what the answering side accepts.
        assert_eq!(
            Icmpv6Repr::parse(&icmp, src, dst),
            Ok(Icmpv6Repr::NeighborSolicit {
                target,
                source_lladdr: Some(OURS)
            })
        );
    }

    #[test]
    fn resolution_goes_to_the_solicited_node_group() {
        let (src, target) = (a("2001:db8:2::1"), a("2001:db8:2::ab:cdef"));
        let frame = neighbor_solicitation(OURS, None, src, target).expect("frame");
        let group = a("ff02::1:ffab:cdef");
        check(
            &frame,
            MacAddr([0x33, 0x33, 0xff, 0xab, 0xcd, 0xef]),
            src,
            group,
            target,
        );
    }

    #[test]
    fn a_refresh_goes_to_the_target_itself() {
        let (src, target) = (a("fe80::1"), a("fe80::2"));
        let frame = neighbor_solicitation(OURS, Some(THEIRS), src, target).expect("frame");
        check(&frame, THEIRS, src, target, target);
    }
}
