//! Per-worker counters that the control plane can read while the worker runs.
//!
//! Each counter has exactly one writer (its worker), so an increment is a
//! relaxed load and a relaxed store of an `AtomicU64`: on x86 that is a
//! plain `mov`, no locked read-modify-write. The control plane sums the
//! workers' counters when it reports them.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A counter written by one thread and read by any.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    #[inline]
    pub fn add(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }

    /// Sets a gauge value.
    #[inline]
    pub fn set(&self, v: u64) {
        self.0.store(v, Relaxed);
    }

    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

macro_rules! drop_reasons {
    ($($(#[$m:meta])* $name:ident => $label:literal,)*) => {
        /// Why a packet was dropped. Every drop in Tandem has one.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum DropReason {
            $($(#[$m])* $name,)*
        }

        impl DropReason {
            /// Every reason, in declaration order.
            pub const ALL: &'static [DropReason] = &[$(DropReason::$name,)*];

            /// The snake_case label used in metrics and `tandem ctl`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(DropReason::$name => $label,)*
                }
            }
        }
    };
}

drop_reasons! {
    /// Shorter than the headers it claims to have.
    Truncated => "truncated",
    /// Not IPv4, IPv6 or ARP.
    UnsupportedEthertype => "unsupported_ethertype",
    /// IPv4 header invalid: version, IHL or total length.
    BadIpHeader => "bad_ip_header",
    /// IPv4 fragment Tandem does not follow: any, with
    /// `gateway.fragments.max_datagrams: 0`; else one that is not for a
    /// user session (to Tandem's own addresses or a VIP's ping, a
    /// fragmented GTP-U or fabric packet, an ICMP error, a PROXY protocol
    /// connection). Nothing is reassembled.
    Fragment => "ip_fragment",
    /// A later IPv4 fragment (offset > 0) whose datagram's first fragment
    /// did not pass here (not yet, or its entry was ended: last fragment
    /// seen, user session gone).
    FragmentNoFirst => "fragment_no_first",
    /// A first IPv4 fragment when the worker's fragment table
    /// (`gateway.fragments.max_datagrams`) has no room for its datagram.
    FragmentTableFull => "fragment_table_full",
    /// A later IPv4 fragment that came more than
    /// `gateway.fragments.timeout_ms` after its datagram's first.
    FragmentTimeout => "fragment_timeout",
    /// A first IPv4 fragment too short to hold its TCP, UDP or ICMP header.
    FragmentShortFirst => "fragment_short_first",
    /// Not TCP, UDP or ICMP.
    UnsupportedProtocol => "unsupported_protocol",
    /// TCP/UDP/ICMP header invalid.
    BadL4Header => "bad_l4_header",
    /// TTL would reach zero.
    TtlExpired => "ttl_expired",
    /// No session ID could be taken from an access packet.
    NoSessionKey => "no_session_key",
    /// Malformed GTP-U, or a GTP-U message that is not a G-PDU.
    BadGtp => "bad_gtp",
    /// No live gateway for the session.
    NoGateway => "no_gateway",
    /// Destination is neither a VIP nor an allowed external destination.
    NoService => "no_service",
    /// The subscriber may not use the service.
    NotEntitled => "not_entitled",
    /// The service group has no eligible server.
    NoServer => "no_server",
    /// Every port of every gateway address of this worker is taken.
    PortExhausted => "port_exhausted",
    /// The user-session table of this worker is full.
    TableFull => "table_full",
    /// A reply from a source other than the server recorded for its port.
    ReplyMismatch => "reply_mismatch",
    /// A packet to a gateway port with no user session.
    NoUserSession => "no_user_session",
    /// Addressed to nobody Tandem serves on that port.
    NotForUs => "not_for_us",
    /// A TCP segment that cannot open a user session (not a SYN).
    NotSyn => "tcp_not_syn",
    /// A TCP RST or FIN whose sequence or acknowledgement number is outside
    /// the connection's window (a blind spoof, or too stale to matter).
    TcpOutOfWindow => "tcp_out_of_window",
    /// The ring to the owning worker was full.
    HandoffRingFull => "handoff_ring_full",
    /// The transmit queue did not take the packet.
    TxFull => "tx_full",
    /// The mbuf pool was empty when a packet needed a second frame (the
    /// second IPv6 fragment of a NAT64 answer, `pipeline/nat64_split.rs`);
    /// the first left, this one did not.
    NoMbuf => "no_mbuf",
    /// No route to the destination.
    NoRoute => "no_route",
    /// The next hop's MAC address is not known (yet).
    NeighbourMiss => "neighbour_miss",
    /// An ICMP error that quotes nothing Tandem translated.
    IcmpUnmatched => "icmp_unmatched",
    /// ICMP that Tandem does not handle (e.g. echo to an unknown address).
    IcmpIgnored => "icmp_ignored",
    /// ARP not for us, conflicting or malformed.
    ArpIgnored => "arp_ignored",
    /// Rate limit on generated replies (ICMP errors) reached.
    RateLimited => "rate_limited",
    /// The frame does not fit in the buffer after re-encapsulation.
    NoRoom => "no_room",
    /// A frame in several buffers (jumbo frames are not supported).
    MultiSegment => "multi_segment",
    /// Still in a handoff ring or waiting for ARP when the workers stopped.
    Shutdown => "shutdown",
    /// A new user session over its subscriber's limits (live user sessions
    /// or new ones per second); answered by RST / ICMP when the reply rate
    /// allows.
    SubscriberLimit => "subscriber_limit",
    /// From a source address outside the prefixes allowed on its access
    /// port (anti-spoofing).
    SourceNotAllowed => "source_not_allowed",
    /// ARP that neither answers nor asks Tandem yet claims a new MAC for a
    /// known neighbour (gratuitous or poisoning): not learned from; the
    /// control plane asks the address to confirm.
    ArpUnsolicited => "arp_unsolicited",
    /// SYN proxy: an ACK for no user session whose cookie is not one this
    /// worker issued in the last two key epochs (forged, or too old).
    SynCookieInvalid => "syn_cookie_invalid",
    /// SYN proxy: a segment of a proxied connection before the server has
    /// answered (the terminal retransmits it).
    SynProxyPending => "syn_proxy_pending",
    /// Over its session ID's bitrate limit, up or down (token bucket per
    /// direction; `pipeline::rate_limit`).
    BitrateLimited => "bitrate_limited",
    /// IPv6: shorter than the 40-byte header (`wire::Ipv6Error` labels).
    Ipv6Truncated => "ipv6_truncated",
    /// IPv6 ethertype (or inner packet of a G-PDU) whose version is not 6.
    Ipv6BadVersion => "ipv6_bad_version",
    /// IPv6 payload length runs past the frame.
    Ipv6BadPayloadLength => "ipv6_bad_payload_length",
    /// More than `wire::MAX_EXTENSION_HEADERS` IPv6 extension headers.
    Ipv6ExtensionChainTooLong => "ipv6_extension_chain_too_long",
    /// An IPv6 extension header past the payload, a hop-by-hop header not
    /// first, or a fragment header with reserved bits set.
    Ipv6BadExtensionHeader => "ipv6_bad_extension_header",
    /// Well-formed IPv6 that Tandem does not serve yet: anything but
    /// Neighbor Discovery and echo requests for a port's IPv6 address
    /// (no IPv6 NAT, VIPs or forwarding in this version).
    Ipv6NotServed => "ipv6_not_served",
    /// Neighbor Discovery Tandem does not answer: router solicitations
    /// and advertisements, redirects, advertisements (no IPv6 neighbour
    /// cache yet) and solicitations for addresses that are not ours.
    NdIgnored => "nd_ignored",
    /// ICMPv6 to a port address shorter than its type needs.
    Icmpv6Truncated => "icmpv6_truncated",
    /// ICMPv6 to a port address whose checksum does not verify.
    Icmpv6BadChecksum => "icmpv6_bad_checksum",
    /// ICMPv6 to a port address of a type Tandem does not answer.
    Icmpv6UnsupportedType => "icmpv6_unsupported_type",
    /// Neighbor Discovery that breaks RFC 4861 7.1 (hop limit not 255,
    /// code not 0, multicast target, bad options).
    Icmpv6BadNeighborDiscovery => "icmpv6_bad_neighbor_discovery",
    /// An echo request from a multicast or unspecified source.
    Icmpv6NonUnicastAddress => "icmpv6_non_unicast_address",
    /// An echo request with extension headers (a reply must not echo a
    /// routing header back).
    Icmpv6NotPlainIpv6 => "icmpv6_not_plain_ipv6",
    /// PROXY protocol: a terminal segment that must carry the header but
    /// whose buffer has no tailroom for it (the terminal retransmits it).
    ProxyNoRoom => "proxy_no_room",
    /// A packet of a subscriber whose usage quota is used up with
    /// `on_exhausted: Block`: a new user session refused, or a TCP segment
    /// of one the quota ended (answered by RST / ICMP while the reply rate
    /// allows).
    QuotaExhausted => "quota_exhausted",
    /// Fabric (Geneve, `wire::geneve::GeneveError`): a header or what it
    /// declares runs past the frame.
    GeneveTruncated => "geneve_truncated",
    /// Fabric: not IPv4/UDP to a fabric port, a bad outer IPv4 header or
    /// checksum, an outer fragment, or a payload other than Ethernet.
    GeneveNotGeneve => "geneve_not_geneve",
    /// Fabric: Geneve version other than 0.
    GeneveBadVersion => "geneve_bad_version",
    /// Fabric: a Geneve control (OAM) message.
    GeneveControlMessage => "geneve_control_message",
    /// Fabric: a non-zero UDP checksum that does not verify.
    GeneveBadChecksum => "geneve_bad_checksum",
    /// Fabric: malformed options, or the Tandem option twice or of the
    /// wrong length.
    GeneveBadOption => "geneve_bad_option",
    /// Fabric: a critical option other than Tandem's.
    GeneveUnknownCriticalOption => "geneve_unknown_critical_option",
    /// Fabric: no Tandem option.
    GeneveMissingTandemOption => "geneve_missing_tandem_option",
    /// Fabric: hop count over 1 (a forwarding loop).
    GeneveHopCountExceeded => "geneve_hop_count_exceeded",
    /// Fabric: the outer source is not the fabric address of a current
    /// cluster member.
    FabricStranger => "fabric_stranger",
    /// Fabric: the Tandem option's appliance ID is not the sender's (or,
    /// after a second-chance forward, not a member's).
    FabricWrongAppliance => "fabric_wrong_appliance",
    /// Fabric downlink: the option's I/O point is not an access port of
    /// this appliance.
    FabricBadIoPoint => "fabric_bad_io_point",
    /// Fabric: the encapsulated frame would exceed `cluster.fabric_mtu`
    /// (the outer packet is never fragmented).
    FabricTooBig => "fabric_too_big",
    /// Fabric downlink: the tier-1 unit the user session came through is
    /// no longer a member of the cluster.
    FabricPeerGone => "fabric_peer_gone",
    /// NAT64 (`wire::Nat64Error` labels): a malformed packet, or a quoted
    /// packet inside an ICMP error that is.
    Nat64BadPacket => "nat64_bad_packet",
    /// NAT64: a checksum that must verify to translate does not (ICMP,
    /// ICMPv6, IPv4 header), or an IPv6 UDP datagram with checksum 0.
    Nat64BadChecksum => "nat64_bad_checksum",
    /// NAT64: not TCP, UDP or ICMP/ICMPv6.
    Nat64UnsupportedProtocol => "nat64_unsupported_protocol",
    /// NAT64: an ICMP type or code RFC 7915 does not translate, or an
    /// ICMP error about a NAT64 user session whose quote is too short or
    /// is not the user session's packet (`pipeline::nat64_icmp`).
    Nat64UntranslatableIcmp => "nat64_untranslatable_icmp",
    /// NAT64: a routing header with segments left.
    Nat64RoutingHeader => "nat64_routing_header",
    /// NAT64: an ICMP message in fragments.
    Nat64FragmentedIcmp => "nat64_fragmented_icmp",
    /// NAT64: a fragmented IPv4 UDP datagram without checksum.
    Nat64UdpZeroChecksumFragment => "nat64_udp_zero_checksum_fragment",
    /// NAT64: the translated packet does not fit the worker's buffer.
    Nat64BufferTooSmall => "nat64_buffer_too_small",
    /// NAT64: a new IPv6 flow whose folded flow-index key and alternate
    /// key are both held by other flows' user sessions.
    Nat64KeyCollision => "nat64_key_collision",
    /// NAT64: the translated packet would exceed the MTU of the port it
    /// leaves on (`pipeline/nat64_mtu.rs`); answered with ICMP
    /// "fragmentation needed" or ICMPv6 Packet Too Big where its sender
    /// can learn from it; nothing is fragmented.
    Nat64TooBig => "nat64_too_big",
}

impl From<crate::wire::Nat64Error> for DropReason {
    fn from(e: crate::wire::Nat64Error) -> DropReason {
        use crate::wire::Nat64Error as E;
        match e {
            E::BadPacket => DropReason::Nat64BadPacket,
            E::BadChecksum => DropReason::Nat64BadChecksum,
            E::UnsupportedProtocol => DropReason::Nat64UnsupportedProtocol,
            E::UntranslatableIcmp => DropReason::Nat64UntranslatableIcmp,
            E::RoutingHeader => DropReason::Nat64RoutingHeader,
            E::FragmentedIcmp => DropReason::Nat64FragmentedIcmp,
            E::UdpZeroChecksumFragment => DropReason::Nat64UdpZeroChecksumFragment,
            E::BufferTooSmall => DropReason::Nat64BufferTooSmall,
        }
    }
}

impl From<crate::wire::Ipv6Error> for DropReason {
    fn from(e: crate::wire::Ipv6Error) -> DropReason {
        use crate::wire::Ipv6Error as E;
        match e {
            E::Truncated => DropReason::Ipv6Truncated,
            E::BadVersion => DropReason::Ipv6BadVersion,
            E::BadPayloadLength => DropReason::Ipv6BadPayloadLength,
            E::ExtensionChainTooLong => DropReason::Ipv6ExtensionChainTooLong,
            E::BadExtensionHeader => DropReason::Ipv6BadExtensionHeader,
        }
    }
}

impl From<crate::wire::Icmpv6Error> for DropReason {
    /// The answers the pipeline asks `wire` for never meet the other type
    /// errors (it checks the type first) or a short buffer (an NA fits in
    /// 128 bytes); they are folded into the nearest reason.
    fn from(e: crate::wire::Icmpv6Error) -> DropReason {
        use crate::wire::Icmpv6Error as E;
        match e {
            E::Truncated => DropReason::Icmpv6Truncated,
            E::BadChecksum => DropReason::Icmpv6BadChecksum,
            E::UnsupportedType | E::NotEchoRequest | E::NotNeighborSolicit | E::ErrorAboutError => {
                DropReason::Icmpv6UnsupportedType
            }
            E::BadNeighborDiscovery => DropReason::Icmpv6BadNeighborDiscovery,
            E::NonUnicastAddress => DropReason::Icmpv6NonUnicastAddress,
            E::NotPlainIpv6 => DropReason::Icmpv6NotPlainIpv6,
            E::BufferTooSmall => DropReason::NoRoom,
        }
    }
}

impl From<crate::wire::GeneveError> for DropReason {
    fn from(e: crate::wire::GeneveError) -> DropReason {
        use crate::wire::GeneveError as G;
        match e {
            G::Truncated => DropReason::GeneveTruncated,
            G::NotGeneve => DropReason::GeneveNotGeneve,
            G::BadVersion => DropReason::GeneveBadVersion,
            G::ControlMessage => DropReason::GeneveControlMessage,
            G::BadChecksum => DropReason::GeneveBadChecksum,
            G::BadOption => DropReason::GeneveBadOption,
            G::UnknownCriticalOption => DropReason::GeneveUnknownCriticalOption,
            G::MissingTandemOption => DropReason::GeneveMissingTandemOption,
            G::HopCountExceeded => DropReason::GeneveHopCountExceeded,
            G::BufferTooSmall => DropReason::NoRoom,
        }
    }
}

/// Number of drop reasons.
pub const N_DROP_REASONS: usize = DropReason::ALL.len();

/// Counters of one worker.
#[derive(Debug, Default)]
pub struct WorkerCounters {
    pub rx_packets: Counter,
    pub rx_bytes: Counter,
    pub tx_packets: Counter,
    pub tx_bytes: Counter,
    pub handoff_out: Counter,
    pub handoff_in: Counter,
    pub punted: Counter,
    pub user_sessions_created: Counter,
    pub user_sessions_expired: Counter,
    pub user_sessions_live: Counter,
    pub arp_replies: Counter,
    pub icmp_replies: Counter,
    /// Neighbor Advertisements sent for a port's IPv6 address (IPv6's ARP
    /// replies; ICMPv6 echo replies count in `icmp_replies`).
    pub nd_replies: Counter,
    /// New user sessions refused (subscriber not entitled); the refused
    /// packet becomes the RST or ICMP answer, or is dropped `rate_limited`.
    pub refused: Counter,
    pub rst_sent: Counter,
    pub icmp_errors_sent: Counter,
    /// NAT64: servers' packets without DF too big for the terminal's port
    /// once translated, sent in two IPv6 fragments (`nat64_split.rs`).
    pub nat64_fragmented: Counter,
    pub events_lost: Counter,
    /// User sessions whose client path (access port, MAC, VLAN, GTP-U
    /// peer) moved to where a terminal packet came from.
    pub client_path_moved: Counter,
    /// Terminal packets from another path that did not move the client
    /// path (no evidence the sender is the terminal; the packet itself may
    /// still be forwarded).
    pub client_path_refused: Counter,
    /// ICMP time exceeded sent for terminal packets whose TTL ran out
    /// (each such frame is also counted under the `ttl_expired` drop).
    pub ttl_exceeded_sent: Counter,
    /// SYN proxy: cookie SYN-ACKs sent.
    pub syn_cookies_sent: Counter,
    /// SYN proxy: terminal ACKs whose cookie was valid (user session made).
    pub syn_cookies_valid: Counter,
    /// SYN proxy: server handshakes completed and spliced.
    pub syn_proxy_opened: Counter,
    /// SYN and SYN-ACK segments whose MSS option was lowered to the
    /// `mss_clamp` of their access port (SYN proxy segments included).
    pub mss_clamped: Counter,
    /// PROXY protocol v2 headers put in front of a terminal's first byte
    /// (re-sends of an unacknowledged header included).
    pub proxy_headers_inserted: Counter,
    /// Packets over their session ID's bitrate limit forwarded re-marked
    /// to their type's `over_limit_dscp` instead of dropped.
    pub bitrate_remarked: Counter,
    /// Frames sent encapsulated on the fabric (to a gateway, back to a
    /// tier-1 unit, or a second-chance forward); also counted in `tx`.
    pub fabric_tx: Counter,
    /// Fabric frames decapsulated and accepted (from a current member).
    pub fabric_rx: Counter,
    /// Packets a gateway forwarded once (hop count 1) to the gateway a
    /// session is draining from (second chance); also in `fabric_tx`.
    pub second_chance: Counter,
    pub snapshot_generation: Counter,
    pub busy_polls: Counter,
    pub idle_polls: Counter,
    /// Frames waiting in the handoff rings aimed at this worker (gauge).
    pub ring_occupancy: Counter,
    /// Total slots of those rings (gauge).
    pub ring_capacity: Counter,
    /// How long the worker's loop iterations take.
    pub loop_times: crate::loop_times::LoopTimes,
    drops: DropCounters,
}

/// One counter per drop reason (more than `Default` derives for arrays).
#[derive(Debug)]
struct DropCounters([Counter; N_DROP_REASONS]);

impl Default for DropCounters {
    fn default() -> Self {
        DropCounters(std::array::from_fn(|_| Counter::default()))
    }
}

impl WorkerCounters {
    #[inline]
    pub fn count_drop(&self, r: DropReason) {
        self.drops.0[r as usize].inc();
    }

    #[inline]
    pub fn drop_n(&self, r: DropReason, n: u64) {
        self.drops.0[r as usize].add(n);
    }

    pub fn dropped(&self, r: DropReason) -> u64 {
        self.drops.0[r as usize].get()
    }

    pub fn dropped_total(&self) -> u64 {
        self.drops.0.iter().map(Counter::get).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for r in DropReason::ALL {
            let l = r.as_str();
            assert!(seen.insert(l), "duplicate label {l}");
            assert!(l
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit()));
        }
    }

    #[test]
    fn ipv6_reasons_carry_the_wire_labels() {
        for e in crate::wire::Ipv6Error::ALL {
            assert_eq!(DropReason::from(e).as_str(), e.reason());
        }
        for e in crate::wire::Icmpv6Error::ALL {
            let r = DropReason::from(e);
            if r.as_str().starts_with("icmpv6_") && r != DropReason::Icmpv6UnsupportedType {
                assert_eq!(r.as_str(), e.reason());
            }
        }
    }

    #[test]
    fn every_geneve_error_has_the_drop_reason_of_its_label() {
        for e in crate::wire::GeneveError::ALL {
            let r = DropReason::from(e);
            if e == crate::wire::GeneveError::BufferTooSmall {
                assert_eq!(r, DropReason::NoRoom);
            } else {
                assert_eq!(r.as_str(), e.reason());
            }
        }
    }

    #[test]
    fn counters_count() {
        let c = WorkerCounters::default();
        c.count_drop(DropReason::TableFull);
        c.drop_n(DropReason::TableFull, 2);
        c.count_drop(DropReason::Fragment);
        assert_eq!(c.dropped(DropReason::TableFull), 3);
        assert_eq!(c.dropped_total(), 4);
        c.rx_packets.add(5);
        assert_eq!(c.rx_packets.get(), 5);
    }
}
