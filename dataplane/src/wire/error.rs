//! Why a frame could not be parsed or answered. Each variant doubles as a
//! drop reason, so its `reason()` is the label counters are exported under.

use std::fmt;

/// A malformed, unsupported or unanswerable frame, or an output buffer that
/// is too small. `Copy` and allocation-free so the fast path can return it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WireError {
    /// The buffer ends before a header (or a part it declares) does.
    Truncated,
    /// IPv4 version field is not 4.
    BadVersion,
    /// IPv4 IHL is below 5 (header shorter than 20 bytes).
    BadIhl,
    /// IPv4 total length is below the header length or beyond the buffer,
    /// or a packet to be built would exceed 65535 bytes.
    BadTotalLength,
    /// A checksum does not verify.
    BadChecksum,
    /// An IPv4 fragment (MF set or offset non-zero) where a whole packet is needed.
    Fragment,
    /// Inner ethertype is not one this code handles here.
    UnsupportedEtherType,
    /// IPv4 protocol is not one this code handles here.
    UnsupportedProtocol,
    /// TCP data offset below 5 or beyond the segment.
    BadTcpOffset,
    /// UDP length below 8 or beyond the datagram.
    BadUdpLength,
    /// GTP-U header is not version 1 with PT=1, or its extension headers are malformed.
    BadGtp,
    /// GTP-U message type is not the one needed here (a G-PDU).
    UnsupportedGtpMessage,
    /// ARP is not Ethernet/IPv4 (hardware type 1, protocol 0x0800, lengths 6 and 4).
    BadArp,
    /// ARP operation is neither request nor reply.
    UnsupportedArpOp,
    /// An ARP reply was asked to answer something that is not a request.
    NotArpRequest,
    /// ICMP type not handled here.
    UnsupportedIcmpType,
    /// An echo reply was asked for something that is not an echo request.
    NotEchoRequest,
    /// TTL would reach zero on forwarding.
    TtlExpired,
    /// A RST is never answered with a RST (RFC 793).
    IncomingRst,
    /// Never answer a packet to or from a broadcast/multicast/unspecified
    /// address (RFC 1122 3.2.2, 4.2.2.12).
    NonUnicastAddress,
    /// Never send an ICMP error about an ICMP error (RFC 1122 3.2.2).
    IcmpErrorAboutError,
    /// The output buffer cannot hold what is to be written.
    BufferTooSmall,
}

impl WireError {
    /// Every variant, for registering one counter per reason up front.
    pub const ALL: [WireError; 22] = [
        WireError::Truncated,
        WireError::BadVersion,
        WireError::BadIhl,
        WireError::BadTotalLength,
        WireError::BadChecksum,
        WireError::Fragment,
        WireError::UnsupportedEtherType,
        WireError::UnsupportedProtocol,
        WireError::BadTcpOffset,
        WireError::BadUdpLength,
        WireError::BadGtp,
        WireError::UnsupportedGtpMessage,
        WireError::BadArp,
        WireError::UnsupportedArpOp,
        WireError::NotArpRequest,
        WireError::UnsupportedIcmpType,
        WireError::NotEchoRequest,
        WireError::TtlExpired,
        WireError::IncomingRst,
        WireError::NonUnicastAddress,
        WireError::IcmpErrorAboutError,
        WireError::BufferTooSmall,
    ];

    /// The snake_case drop-reason label.
    pub const fn reason(&self) -> &'static str {
        match self {
            WireError::Truncated => "truncated",
            WireError::BadVersion => "bad_ip_version",
            WireError::BadIhl => "bad_ihl",
            WireError::BadTotalLength => "bad_total_length",
            WireError::BadChecksum => "bad_checksum",
            WireError::Fragment => "fragment",
            WireError::UnsupportedEtherType => "unsupported_ethertype",
            WireError::UnsupportedProtocol => "unsupported_protocol",
            WireError::BadTcpOffset => "bad_tcp_offset",
            WireError::BadUdpLength => "bad_udp_length",
            WireError::BadGtp => "bad_gtp",
            WireError::UnsupportedGtpMessage => "unsupported_gtp_message",
            WireError::BadArp => "bad_arp",
            WireError::UnsupportedArpOp => "unsupported_arp_op",
            WireError::NotArpRequest => "not_arp_request",
            WireError::UnsupportedIcmpType => "unsupported_icmp_type",
            WireError::NotEchoRequest => "not_echo_request",
            WireError::TtlExpired => "ttl_expired",
            WireError::IncomingRst => "incoming_rst",
            WireError::NonUnicastAddress => "non_unicast_address",
            WireError::IcmpErrorAboutError => "icmp_error_about_error",
            WireError::BufferTooSmall => "buffer_too_small",
        }
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for WireError {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn reasons_are_unique_snake_case_labels() {
        let mut seen = HashSet::new();
        for err in WireError::ALL {
            let reason = err.reason();
            assert!(!reason.is_empty());
            assert!(
                reason.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{reason} is not snake_case"
            );
            assert!(seen.insert(reason), "{reason} used twice");
            assert_eq!(err.to_string(), reason);
        }
    }
}
