//! Packet formats on the wire: checked views over byte buffers, and the
//! builders that write whole frames.
//!
//! Every header has a view type (`EthernetFrame`, `Ipv4Packet`, ...) that
//! wraps a buffer (`&[u8]`, `&mut [u8]`, `Vec<u8>`). A view's `new_checked`
//! validates the lengths once; after that its accessors read fixed offsets and
//! cannot panic. Views never allocate, so the fast path uses them directly.
//! Where a header has a plain-value form (`Ipv4Repr`, `TcpRepr`, ...) its
//! `parse` reads a view and its `emit` writes the header back.
//!
//! `frames` builds complete frames for tests, the pcap generator and the
//! control plane; `replies` rewrites or answers frames in place on the fast
//! path (TCP RST, ICMP errors, echo replies, ARP replies).

mod arp;
mod bytes;
pub mod checksum;
pub mod dscp;
mod error;
mod ethernet;
pub mod frames;
mod geneve;
mod gtpu;
mod icmp;
mod icmpv6;
mod ipv4;
mod ipv6;
mod mac;
mod nat64;
mod nat64_in_place;
mod nd_solicit;
pub mod proxy_v2;
pub mod replies;
mod replies_v6;
mod tcp;
pub mod tcp_options;
mod udp;

#[cfg(test)]
pub(crate) mod testutil;
#[cfg(test)]
pub(crate) mod testutil_v6;

pub use arp::{ArpOp, ArpPacket, ArpRepr, ARP_LEN};
pub use error::WireError;
pub use ethernet::{
    EthernetFrame, EthernetRepr, ETHERNET_HEADER_LEN, ETHERTYPE_ARP, ETHERTYPE_IPV4,
    ETHERTYPE_IPV6, ETHERTYPE_VLAN, VLAN_TAG_LEN,
};
pub use frames::FrameSpec;
pub use geneve::{
    decapsulate, decapsulate_after_ipv4, encapsulate, find_tandem_option, outer_src_port,
    Decapsulated, GeneveEncap, GeneveError, GenevePacket, GeneveRepr, GeneveTemplate, OuterIpv4,
    TandemOption, GENEVE_ENCAP_LEN, GENEVE_HEADER_LEN, GENEVE_PORT, GENEVE_PROTO_ETHERNET,
    MAX_GENEVE_OPTIONS, MAX_HOP_COUNT, TANDEM_FLAG_TO_TIER1, TANDEM_OPTION_CLASS,
    TANDEM_OPTION_DATA_LEN, TANDEM_OPTION_LEN, TANDEM_OPTION_TYPE,
};
pub use gtpu::{
    GtpuExtHeaders, GtpuPacket, GtpuRepr, GTPU_EXT_PDU_SESSION_CONTAINER, GTPU_HEADER_LEN,
    GTPU_MSG_ECHO_REQUEST, GTPU_MSG_ECHO_RESPONSE, GTPU_MSG_END_MARKER, GTPU_MSG_ERROR_INDICATION,
    GTPU_MSG_G_PDU, GTPU_OPTIONAL_LEN, GTPU_PORT,
};
pub use icmp::{
    IcmpPacket, IcmpRepr, ICMP_DEST_UNREACHABLE, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST,
    ICMP_HEADER_LEN, ICMP_PARAMETER_PROBLEM, ICMP_TIME_EXCEEDED, TIME_EXCEEDED_REASSEMBLY,
    TIME_EXCEEDED_TTL, UNREACH_ADMIN_PROHIBITED, UNREACH_FRAG_NEEDED, UNREACH_HOST, UNREACH_NET,
    UNREACH_PORT, UNREACH_PROTOCOL,
};
pub use icmpv6::{
    check_nd_hop_limit, is_error_type_v6, is_solicited_node_multicast, multicast_mac,
    solicited_node_multicast, Icmpv6Error, Icmpv6Packet, Icmpv6Repr, NdOptions,
    ICMPV6_DEST_UNREACHABLE, ICMPV6_ECHO_REPLY, ICMPV6_ECHO_REQUEST, ICMPV6_HEADER_LEN,
    ICMPV6_NEIGHBOR_ADVERT, ICMPV6_NEIGHBOR_SOLICIT, ICMPV6_PACKET_TOO_BIG,
    ICMPV6_PARAMETER_PROBLEM, ICMPV6_TIME_EXCEEDED, MAX_ND_OPTIONS, NA_FLAG_OVERRIDE,
    NA_FLAG_ROUTER, NA_FLAG_SOLICITED, ND_HOP_LIMIT, ND_LLADDR_OPT_LEN, ND_MESSAGE_LEN,
    ND_OPT_SOURCE_LLADDR, ND_OPT_TARGET_LLADDR, PARAM6_HEADER_FIELD, PARAM6_NEXT_HEADER,
    UNREACH6_ADDRESS, UNREACH6_ADMIN_PROHIBITED, UNREACH6_BEYOND_SCOPE, UNREACH6_NO_ROUTE,
    UNREACH6_PORT,
};
pub use ipv4::{
    is_unicast, Ipv4Packet, Ipv4Repr, DEFAULT_TTL, IPV4_HEADER_LEN, IPV4_MAX_HEADER_LEN,
    PROTO_ICMP, PROTO_TCP, PROTO_UDP,
};
pub use ipv6::{
    is_unicast_v6, prefix64_key, prefix_key, walk_extension_headers, Ipv6EmitError, Ipv6Error,
    Ipv6Fragment, Ipv6Packet, Ipv6Repr, Ipv6Upper, DEFAULT_HOP_LIMIT, DEFAULT_SESSION_PREFIX_LEN,
    FRAGMENT_HEADER_LEN, IPV6_HEADER_LEN, IPV6_MIN_MTU, MAX_EXTENSION_HEADERS, NEXT_DEST_OPTIONS,
    NEXT_FRAGMENT, NEXT_HOP_BY_HOP, NEXT_NONE, NEXT_ROUTING, PROTO_ICMPV6,
};
pub use mac::{MacAddr, MacParseError};
pub use nat64::{
    translate_4to6, translate_6to4, Nat64Error, Nat64Prefix, To4, To6, V4Addrs, V6Addrs,
    DF_THRESHOLD, NAT64_WELL_KNOWN_PREFIX,
};
pub use nat64_in_place::{
    translate_4to6_in_place, translate_6to4_in_place, SHRINK as NAT64_SHRINK,
};
pub use nd_solicit::neighbor_solicitation;
pub use replies::{
    turn_into_arp_reply, turn_into_echo_reply, write_icmp_error, write_icmp_frag_needed,
    write_tcp_rst_reply,
};
pub use replies_v6::{
    turn_into_echo_reply_v6, write_dest_unreachable_v6, write_icmpv6_error,
    write_neighbor_advertisement, write_packet_too_big, write_tcp_rst_reply_v6,
};
pub use tcp::{TcpFlags, TcpRepr, TcpSegment, TCP_HEADER_LEN};
pub use udp::{UdpDatagram, UdpRepr, UDP_HEADER_LEN};
