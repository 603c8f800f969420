//! One read of a received frame's headers: the parsed-frame record.
//!
//! [`Parsed::read`] walks a frame once with the checked `wire` views
//! (Ethernet and VLAN, IPv4, the GTP-U tunnel of an access port in TEID
//! mode, then TCP, UDP or ICMP of the packet the pipeline works on) and
//! keeps what tier 1 and tier 2 need in a small `Copy` record: offsets,
//! addresses, ports, flags. The rest of the pipeline reads the record
//! instead of parsing again.
//!
//! IPv6 (plain, in a VLAN, or inside a G-PDU) is read as far as this
//! version serves it: the fixed header and the bounded extension-header
//! walk ([`Ip6`]); a malformed packet gets its `ipv6_*` reason, a
//! well-formed one `ipv6_not_served` unless `own_addresses_v6` answers it
//! (Neighbor Discovery and echo for a port's IPv6 address). IPv4 frames
//! never reach the IPv6 code: it sits behind the ethertype test.
//!
//! Parsing is eager but judging is not: each layer keeps its outcome as a
//! `Result`, and the pipeline looks at it exactly where it used to check
//! that layer, so a bad frame is dropped with the same reason, after the
//! same earlier decisions (anti-spoofing, echo answers, steering), as when
//! every stage parsed for itself.

use super::l2::L2;
use crate::counters::DropReason;
use crate::tier2::flow_index::KeyHash;
use crate::tier2::{Segment, TcpFlags};
use crate::wire::{
    EthernetFrame, GtpuPacket, IcmpPacket, Ipv4Packet, Ipv6Packet, TcpSegment, UdpDatagram,
    WireError, ETHERNET_HEADER_LEN, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_VLAN, GTPU_MSG_G_PDU,
    GTPU_PORT, ICMPV6_ECHO_REQUEST, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP, VLAN_TAG_LEN,
};
use std::net::Ipv4Addr;

/// MF in the IPv4 flags-and-offset word.
const FRAG_MF: u16 = 0x2000;
/// The fragment offset (8-byte units) in the IPv4 flags-and-offset word.
const FRAG_OFFSET_MASK: u16 = 0x1fff;

/// An IPv4 header that passed the pipeline's checks (version, IHL, total
/// length within the frame). A fragment passes too, marked in `frag`: the
/// pipeline follows it (`fragments.rs`) or drops it as `ip_fragment`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Ip {
    /// Offset of the header in the frame (see [`Ip::start`]).
    off: u32,
    /// Header length in bytes (see [`Ip::header_len`]).
    ihl: u8,
    /// The total length field (header and payload).
    pub total: u16,
    /// The flags-and-offset word less DF: MF (0x2000) and the fragment
    /// offset in 8-byte units; 0 for a packet that is not a fragment. (It
    /// fits in the record's padding: the record stays as large as it was.)
    pub frag: u16,
    pub proto: u8,
    pub ttl: u8,
    pub dscp: u8,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
}

impl Ip {
    /// Offset of the header in the frame.
    #[inline]
    pub fn start(&self) -> usize {
        self.off as usize
    }

    /// Header length in bytes.
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.ihl)
    }

    /// Offset of the L4 header in the frame.
    #[inline]
    pub fn l4_off(&self) -> usize {
        self.start() + self.header_len()
    }

    /// Offset of the end of the packet (its total length) in the frame.
    #[inline]
    pub fn end(&self) -> usize {
        self.start() + usize::from(self.total)
    }

    /// Whether this packet is a piece of a fragmented datagram.
    #[inline(always)]
    pub fn is_fragment(&self) -> bool {
        self.frag != 0
    }

    /// Whether this is a fragment other than the first (offset > 0): it
    /// carries no L4 header.
    #[inline]
    pub fn is_later_fragment(&self) -> bool {
        self.frag & FRAG_OFFSET_MASK != 0
    }

    /// Whether more fragments follow this one (MF).
    #[inline]
    pub fn more_fragments(&self) -> bool {
        self.frag & FRAG_MF != 0
    }

    /// This header, `by` bytes further into a frame (or, negative, nearer
    /// its start): where it lies once headers before it come or go.
    #[inline]
    fn moved(self, by: isize) -> Ip {
        Ip {
            off: self.off.wrapping_add_signed(by as i32),
            ..self
        }
    }
}

/// An IPv6 packet that passed the `wire` checks: fixed header, payload
/// length within the frame, extension headers walked within
/// `MAX_EXTENSION_HEADERS`. Addresses and hop limit stay in the frame
/// (read where they are needed, which is rarely: this version only
/// answers Neighbor Discovery and echo), so the record stays small.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Ip6 {
    /// Offset of the IPv6 header in the frame.
    pub off: u16,
    /// Offset of the upper-layer header in the frame (for a fragment that
    /// is not the first, of its data).
    pub upper: u16,
    /// Offset of the end of the packet (40 + payload length) in the frame.
    pub end: u16,
    /// The upper-layer protocol the walk ended at.
    pub proto: u8,
    /// Whether a fragment header was among them.
    pub fragment: bool,
}

/// What a frame's outer layer is when it is not an IPv4 packet the
/// pipeline works on. (The IPv6 packet sits here rather than in a field of
/// its own: the record stays as small as it was.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum NotIpv4 {
    /// To be dropped with this reason (malformed IPv4 or IPv6, another
    /// ethertype, a short frame).
    Drop(DropReason),
    /// A well-formed IPv6 packet: only Tandem's own addresses answer it
    /// (`own_addresses_v6`), the rest is `Ipv6NotServed`.
    Ipv6(Ip6),
}

impl NotIpv4 {
    /// The reason to drop the frame if nothing answers it.
    #[inline(always)]
    pub fn reason(self) -> DropReason {
        match self {
            NotIpv4::Drop(r) => r,
            NotIpv4::Ipv6(_) => DropReason::Ipv6NotServed,
        }
    }
}

/// What the first packet of a flow looks like at L4.
#[derive(Clone, Copy, Debug)]
pub(super) struct L4Info {
    pub proto: u8,
    /// The IPv4 header's length, bytes (see [`L4Info::ihl`]).
    pub ip_header_len: u8,
    /// TCP and UDP: the ports; ICMP: the echo identifier and 0.
    pub src_port: u16,
    pub dst_port: u16,
    /// ICMP only: the message type (0 otherwise).
    pub icmp_type: u8,
    pub flags: TcpFlags,
    /// TCP only: sequence, acknowledgement, window and payload length (all
    /// zero for UDP and ICMP).
    pub seg: Segment,
}

impl L4Info {
    /// Length of the IPv4 header before this L4 header, bytes.
    #[inline]
    pub fn ihl(&self) -> usize {
        usize::from(self.ip_header_len)
    }
}

/// A received frame, read once.
#[derive(Clone, Copy, Debug)]
pub(super) struct Parsed {
    pub l2: L2,
    /// The ethertype after an optional VLAN tag.
    pub ethertype: u16,
    /// The (outer) IPv4 header, or what the frame is instead: a
    /// well-formed IPv6 packet, or the reason to drop it (an ethertype
    /// other than IPv4 or IPv6 gives `UnsupportedEthertype`, a malformed
    /// IPv6 packet its `ipv6_*` reason).
    pub outer: Result<Ip, NotIpv4>,
    /// GTP-U G-PDU on an access port in TEID mode: (outer source, TEID).
    pub tunnel: Option<(Ipv4Addr, u32)>,
    /// The packet the pipeline works on: the inner one of a G-PDU, else
    /// the outer one.
    pub inner: Result<Ip, DropReason>,
    /// Its L4 header, or why it is not acceptable.
    pub l4: Result<L4Info, DropReason>,
    /// The flow index hash of a terminal's flow key, when the prefetch pass
    /// computed it (same worker, same key).
    pub client_hash: Option<KeyHash>,
    /// The slab slot the flow index's home bucket named for that hash when
    /// the prefetch pass looked (unconfirmed: the pipeline checks the slot
    /// holds the key before it uses it).
    pub client_candidate: Option<u32>,
}

/// A frame's headers as [`Worker::prefetch_records`] read them, for
/// [`Worker::process_recorded`]: the frame is parsed once per burst, not
/// once by the prefetch pass and again by the pipeline.
///
/// [`Worker::prefetch_records`]: super::Worker::prefetch_records
/// [`Worker::process_recorded`]: super::Worker::process_recorded
#[derive(Clone, Copy, Debug)]
pub struct FrameRecord {
    /// The frame's length and receiving port when read: a record given
    /// with another frame is ignored (the pipeline parses that frame).
    pub(super) len: usize,
    pub(super) port: u16,
    /// False: the port is not one of ours or the frame is shorter than an
    /// Ethernet header (the pipeline decides what that means).
    pub(super) read: bool,
    pub(super) parsed: Parsed,
}

impl FrameRecord {
    /// A record of no frame: the pipeline parses the frame it is given.
    pub const UNREAD: FrameRecord = FrameRecord {
        len: usize::MAX,
        port: u16::MAX,
        read: false,
        parsed: Parsed::NOTHING,
    };
}

impl FrameRecord {
    /// Whether [`Worker::process_recorded`](super::Worker::process_recorded)
    /// uses this record for a frame of `len` bytes from `in_port` instead
    /// of parsing the frame (a record of another frame is not used).
    #[inline]
    pub fn describes(&self, len: usize, in_port: u16) -> bool {
        self.read && self.len == len && self.port == in_port
    }

    /// This record as it travels with its frame to another worker: what
    /// is only true on this worker (the flow index hash, under this
    /// worker's seed, and the slot it names) is left out; the receiving worker's
    /// [`prefetch_carried`](super::Worker::prefetch_carried) computes its
    /// own. The frame must not change on the way (tier 1 hands frames off
    /// before rewriting them).
    #[inline]
    pub fn carried(&self) -> FrameRecord {
        let mut record = *self;
        record.parsed.client_hash = None;
        record.parsed.client_candidate = None;
        // A fabric frame's record with its inner frame read in
        // ([`Parsed::read_fabric`]) describes a frame that may be
        // wrapped again on the way (a second chance): the receiver reads
        // it afresh.
        if let (Ok(outer), Ok(inner)) = (record.parsed.outer, record.parsed.inner) {
            if inner.start() != outer.start() && record.parsed.tunnel.is_none() {
                record.read = false;
            }
        }
        record
    }
}

impl Default for FrameRecord {
    fn default() -> Self {
        FrameRecord::UNREAD
    }
}

impl Parsed {
    /// A fabric frame's record in which the prefetch pass replaced the
    /// outer frame's L2, L4 and packet with those of the terminal's frame
    /// inside (`prefetch_pass::locate_fabric`; `outer` stays the outer IPv4
    /// header): that packet's IPv4 header, moved to where it lies once the
    /// `inner_offset` bytes of outer headers are gone. `None` for any other
    /// record (its packet is its outer one: same offset), or if the inner
    /// frame was read at another offset than `inner_offset`.
    #[inline(always)]
    pub fn fabric_inner(&self, inner_offset: usize) -> Option<Ip> {
        let (Ok(outer), Ok(inner)) = (self.outer, self.inner) else {
            return None;
        };
        (self.tunnel.is_none()
            && inner.start() != outer.start()
            && inner.start() == inner_offset + usize::from(self.l2.ip_off))
        .then(|| inner.moved(-(inner_offset as isize)))
    }

    /// The prefetch pass's read of a fabric frame for the gateway port `to`
    /// (this worker's fabric address and UDP port,
    /// `prefetch_pass::locate_fabric`): the outer frame only as far as the
    /// fabric needs (Ethernet, the IPv4 header, the UDP header's ports and
    /// length; not the full record of a frame; the shape every Tandem
    /// sends at fixed offsets, `fixed_fabric_outer`, any other through the
    /// checked views, `fabric_outer`), then the terminal's frame
    /// inside, up to the UDP length, read over this record with the same
    /// `read_into` the pipeline would use once the outer headers are gone:
    /// its L2, ethertype, L4 and packet are the inner frame's, its packet's
    /// offset counted from the outer frame's start, and `outer` is the
    /// outer IPv4 header. Nothing of the Geneve header is checked here
    /// (`fabric.rs` checks it before it uses any of this).
    ///
    /// False if the frame is not for `to` or holds no IPv4 packet: the
    /// record is then of no frame in particular, to be read again as the
    /// outer frame. Out of line: inlined in `locate`, it made the access
    /// ports' reads (the local path) a few instructions dearer.
    #[inline(never)]
    pub fn read_fabric(&mut self, b: &[u8], to: (Ipv4Addr, u16)) -> bool {
        let Some((outer, udp_at, udp_len)) =
            fixed_fabric_outer(b, to).or_else(|| fabric_outer(b, to))
        else {
            return false;
        };
        let Some(&ver_optlen) = b.get(udp_at + 8) else {
            return false;
        };
        let inner_at = udp_at + 16 + 4 * usize::from(ver_optlen & 0x3f);
        let Some(inner) = b.get(inner_at..udp_at + udp_len) else {
            return false;
        };
        if self.read_into(inner, false).is_err() {
            return false;
        }
        let Ok(ip) = self.inner else {
            return false;
        };
        self.inner = Ok(ip.moved(inner_at as isize));
        self.outer = Ok(outer);
        true
    }

    /// [`read_into`](Self::read_into) without G-PDUs, out of line: for the
    /// frames on the fabric port that `read_fabric` does not take. True if
    /// the frame was read. (Inlined in the prefetch pass's `locate`, the
    /// access ports' reads, the local path, were a few instructions dearer.)
    #[inline(never)]
    pub fn read_other(&mut self, b: &[u8]) -> bool {
        self.read_into(b, false).is_ok()
    }

    /// A record of nothing (every layer `Truncated`).
    const NOTHING: Parsed = Parsed {
        l2: L2 {
            ip_off: 0,
            vlan: None,
            src_mac: [0; 6],
        },
        ethertype: 0,
        outer: Err(NotIpv4::Drop(DropReason::Truncated)),
        tunnel: None,
        inner: Err(DropReason::Truncated),
        l4: Err(DropReason::Truncated),
        client_hash: None,
        client_candidate: None,
    };

    /// Reads `b`; `gtp` says whether a G-PDU is to be unwrapped (access
    /// ports in GTP-TEID mode). Only a frame too short for its Ethernet
    /// header fails here.
    #[inline(always)]
    pub fn read(b: &[u8], gtp: bool) -> Result<Parsed, DropReason> {
        let mut p = Parsed::NOTHING;
        p.read_into(b, gtp)?;
        Ok(p)
    }

    /// [`read`](Self::read) into `self`, field by field where it lies (a
    /// record in a burst's array is not built elsewhere and copied).
    #[inline(always)]
    pub fn read_into(&mut self, b: &[u8], gtp: bool) -> Result<(), DropReason> {
        self.read_as::<false>(b, gtp)
    }

    /// [`read_into`](Self::read_into), reading fragments (`FRAGMENTS`) or
    /// stopping at one: the established path reads with `false`, so a
    /// packet that is not a fragment pays nothing for them, and a fragment
    /// (outer, or inside a G-PDU) is read again, out of line, with `true`.
    #[inline(always)]
    fn read_as<const FRAGMENTS: bool>(&mut self, b: &[u8], gtp: bool) -> Result<(), DropReason> {
        if !FRAGMENTS && !gtp && self.read_fixed(b) {
            return Ok(());
        }
        self.read_checked::<FRAGMENTS>(b, gtp)
    }

    /// The shape nearly every data packet has, read at fixed offsets:
    /// Ethernet untagged or with one 802.1Q tag, a 20-byte IPv4 header that
    /// is not a fragment, and a TCP segment other than a SYN or a UDP
    /// datagram, all within the frame. False for any other frame, which
    /// [`read_checked`](Self::read_checked) reads; what this accepts, that
    /// reads into the same record (the test `fixed_read_agrees` walks every
    /// header byte through every value). About half the instructions of
    /// the checked views' walk: a few compares and direct stores instead of
    /// a `Result` per layer built and copied.
    #[inline(always)]
    fn read_fixed(&mut self, b: &[u8]) -> bool {
        const IPV4_HEADER: usize = 20;
        let Some(eth) = b.first_chunk::<{ ETHERNET_HEADER_LEN + VLAN_TAG_LEN }>() else {
            return false;
        };
        let tagged = [eth[12], eth[13]] == ETHERTYPE_VLAN.to_be_bytes();
        let (ethertype, ip_at, vlan) = if tagged {
            let tci = u16::from_be_bytes([eth[14], eth[15]]);
            let ethertype = u16::from_be_bytes([eth[16], eth[17]]);
            (
                ethertype,
                ETHERNET_HEADER_LEN + VLAN_TAG_LEN,
                Some(tci & 0x0fff),
            )
        } else {
            (
                u16::from_be_bytes([eth[12], eth[13]]),
                ETHERNET_HEADER_LEN,
                None,
            )
        };
        if ethertype == ETHERTYPE_IPV6 {
            return self.read_fixed_v6(b, ip_at, vlan);
        }
        if ethertype != ETHERTYPE_IPV4 {
            return false;
        }
        let Some(h) = b
            .get(ip_at..)
            .and_then(|rest| rest.first_chunk::<IPV4_HEADER>())
        else {
            return false;
        };
        let word = |at: usize| u16::from_be_bytes([h[at], h[at + 1]]);
        let total = usize::from(word(2));
        if h[0] != 0x45 || word(6) & (FRAG_MF | FRAG_OFFSET_MASK) != 0 || total < IPV4_HEADER {
            return false;
        }
        let Some(l4) = b.get(ip_at + IPV4_HEADER..ip_at + total) else {
            return false;
        };
        let proto = h[9];
        if !matches!(proto, PROTO_TCP | PROTO_UDP) {
            return false;
        }
        // The checked L4 read the other path uses; a SYN is left to that
        // path whole (its window scale option).
        let info = match l4_fields(l4, proto, IPV4_HEADER as u8) {
            Ok(info) if !info.flags.syn() => info,
            _ => return false,
        };
        let ip = Ip {
            off: ip_at as u32,
            ihl: IPV4_HEADER as u8,
            total: total as u16,
            frag: 0,
            proto,
            ttl: h[8],
            dscp: h[1] >> 2,
            src: Ipv4Addr::new(h[12], h[13], h[14], h[15]),
            dst: Ipv4Addr::new(h[16], h[17], h[18], h[19]),
        };
        self.set_fixed_l2(b, vlan, ip_at, ETHERTYPE_IPV4);
        self.outer = Ok(ip);
        self.inner = Ok(ip);
        self.l4 = Ok(info);
        true
    }

    /// The layer-2 part of a fixed read of frame `b` (at least an Ethernet
    /// header long): sender's MAC, VLAN, where the IP packet starts and its
    /// ethertype; no tunnel, no lookups yet.
    #[inline(always)]
    fn set_fixed_l2(&mut self, b: &[u8], vlan: Option<u16>, ip_at: usize, ethertype: u16) {
        if let Some(mac) = b.get(6..12) {
            self.l2.src_mac.copy_from_slice(mac);
        }
        self.l2.vlan = vlan;
        self.l2.ip_off = ip_at as u16;
        self.ethertype = ethertype;
        self.client_hash = None;
        self.client_candidate = None;
        self.tunnel = None;
    }

    /// [`read_fixed`](Self::read_fixed) of an IPv6 packet at `ip_at`: a
    /// TCP or UDP header right after the fixed header (no extension
    /// headers), the payload within the frame. The record is the one the
    /// checked walk gives: the packet in `outer`, `ipv6_not_served` for
    /// the IPv4 layers (the NAT64/NAT66 paths read it from `outer`).
    #[inline(always)]
    fn read_fixed_v6(&mut self, b: &[u8], ip_at: usize, vlan: Option<u16>) -> bool {
        const IPV6_HEADER: usize = 40;
        let Some(h) = b
            .get(ip_at..)
            .and_then(|rest| rest.first_chunk::<IPV6_HEADER>())
        else {
            return false;
        };
        let end = ip_at + IPV6_HEADER + usize::from(u16::from_be_bytes([h[4], h[5]]));
        let proto = h[6];
        if h[0] >> 4 != 6
            || !matches!(proto, PROTO_TCP | PROTO_UDP)
            || end > b.len()
            || end > usize::from(u16::MAX)
        {
            return false;
        }
        self.set_fixed_l2(b, vlan, ip_at, ETHERTYPE_IPV6);
        self.outer = Err(NotIpv4::Ipv6(Ip6 {
            off: ip_at as u16,
            upper: (ip_at + IPV6_HEADER) as u16,
            end: end as u16,
            proto,
            fragment: false,
        }));
        self.inner = Err(DropReason::Ipv6NotServed);
        self.l4 = Err(DropReason::Ipv6NotServed);
        true
    }

    /// [`read_as`](Self::read_as) through the checked `wire` views, layer
    /// by layer: every shape, and the reason a frame is refused.
    #[inline(always)]
    fn read_checked<const FRAGMENTS: bool>(
        &mut self,
        b: &[u8],
        gtp: bool,
    ) -> Result<(), DropReason> {
        let eth = EthernetFrame::new_checked(b).map_err(|_| DropReason::Truncated)?;
        self.l2.src_mac.copy_from_slice(&b[6..12]);
        self.l2.vlan = eth.vlan();
        self.l2.ip_off = eth.payload_offset() as u16;
        self.ethertype = eth.ethertype();
        self.client_hash = None;
        self.client_candidate = None;
        self.tunnel = None;
        self.outer = if self.ethertype == ETHERTYPE_IPV4 {
            ipv4_at::<FRAGMENTS>(b, eth.payload_offset()).map_err(NotIpv4::Drop)
        } else {
            not_ipv4(self.ethertype, b, eth.payload_offset())
        };
        self.inner = self.outer.map_err(NotIpv4::reason);
        if gtp {
            if let Some((teid, peer, off)) = self.outer.ok().and_then(|ip| gtp_inner(b, &ip)) {
                self.tunnel = Some((peer, teid));
                self.inner = inner_at::<FRAGMENTS>(b, off);
            }
        }
        self.l4 = match self.inner {
            Ok(ip) if FRAGMENTS && ip.is_fragment() => b
                .get(ip.l4_off()..ip.end())
                .ok_or(DropReason::Truncated)
                .and_then(|l4| first_fragment_l4(l4, &ip)),
            Ok(ip) => l4_info(b, &ip),
            Err(DropReason::Fragment) if !FRAGMENTS => return self.read_fragmented(b, gtp),
            Err(r) => Err(r),
        };
        Ok(())
    }

    /// A frame with a fragment in it, read again with fragments (see
    /// [`read_as`](Self::read_as)).
    #[inline(never)]
    #[cold]
    fn read_fragmented(&mut self, b: &[u8], gtp: bool) -> Result<(), DropReason> {
        self.read_as::<true>(b, gtp)
    }
}

/// The outer headers of a fabric frame for `(addr, port)` as the checked
/// views read them (`read_fabric`): Ethernet (VLAN or not), an IPv4
/// header to `addr` that is not a fragment, a UDP header inside the
/// packet to `port` whose length is within the packet. The IPv4 header,
/// the UDP header's offset and its length; `None` for any other frame.
#[inline(always)]
fn fabric_outer(b: &[u8], (addr, port): (Ipv4Addr, u16)) -> Option<(Ip, usize, usize)> {
    let eth = EthernetFrame::new_checked(b).ok()?;
    if eth.ethertype() != ETHERTYPE_IPV4 {
        return None;
    }
    let outer = ipv4_at::<false>(b, eth.payload_offset()).ok()?;
    if outer.dst != addr || outer.proto != PROTO_UDP {
        return None;
    }
    let udp_at = outer.l4_off();
    let udp = UdpDatagram::new_checked(b.get(udp_at..outer.end())?).ok()?;
    if udp.dst_port() != port {
        return None;
    }
    Some((outer, udp_at, udp.length()))
}

/// [`fabric_outer`] for the shape every Tandem sends (`wire::encapsulate`:
/// untagged Ethernet, a 20-byte IPv4 header), recognised by a few
/// compares at fixed offsets and read there; `None` for any other shape,
/// which `fabric_outer` reads. Whatever it accepts, `fabric_outer` accepts
/// with the same result (the test `fixed_fabric_outer_agrees` walks every
/// byte of the headers through every value).
#[inline(always)]
fn fixed_fabric_outer(b: &[u8], (addr, port): (Ipv4Addr, u16)) -> Option<(Ip, usize, usize)> {
    const IP: usize = 14;
    const UDP: usize = IP + 20;
    let h = b.first_chunk::<{ UDP + 8 }>()?;
    let word = |at: usize| u16::from_be_bytes([h[at], h[at + 1]]);
    let shape = [h[12], h[13], h[IP], h[IP + 9]] == [0x08, 0x00, 0x45, PROTO_UDP]
        && word(IP + 6) & (FRAG_MF | FRAG_OFFSET_MASK) == 0
        && h[IP + 16..IP + 20] == addr.octets()
        && word(UDP + 2) == port;
    let total = usize::from(word(IP + 2));
    let udp_len = usize::from(word(UDP + 4));
    if !shape || total < 28 || IP + total > b.len() || udp_len < 8 || udp_len > total - 20 {
        return None;
    }
    let outer = Ip {
        off: IP as u32,
        ihl: 20,
        total: total as u16,
        frag: 0,
        proto: PROTO_UDP,
        ttl: h[IP + 8],
        dscp: h[IP + 1] >> 2,
        src: Ipv4Addr::new(h[IP + 12], h[IP + 13], h[IP + 14], h[IP + 15]),
        dst: addr,
    };
    Some((outer, UDP, udp_len))
}

/// The outer layer of a frame whose ethertype is not IPv4: IPv6 is read,
/// anything else is `UnsupportedEthertype`. Out of line: IPv4 frames never
/// come here.
#[inline(never)]
fn not_ipv4(ethertype: u16, b: &[u8], off: usize) -> Result<Ip, NotIpv4> {
    if ethertype != ETHERTYPE_IPV6 {
        return Err(NotIpv4::Drop(DropReason::UnsupportedEthertype));
    }
    match ipv6_at(b, off) {
        Ok(ip6) => Err(NotIpv4::Ipv6(ip6)),
        Err(r) => Err(NotIpv4::Drop(r)),
    }
}

/// The packet inside a G-PDU at `off`: IPv4 as the outer one, IPv6 read
/// and refused (`ipv6_not_served`, or why it is malformed): a terminal's
/// IPv6 is not served yet, whatever carries it.
#[inline(always)]
fn inner_at<const FRAGMENTS: bool>(b: &[u8], off: usize) -> Result<Ip, DropReason> {
    if b.get(off).is_some_and(|v| v >> 4 == 6) {
        ipv6_at(b, off)?;
        return Err(DropReason::Ipv6NotServed);
    }
    ipv4_at::<FRAGMENTS>(b, off)
}

/// The IPv6 packet at `off`, checked by `wire::Ipv6Packet` and its bounded
/// extension-header walk; each failure is its `ipv6_*` reason.
#[inline(never)]
pub(super) fn ipv6_at(b: &[u8], off: usize) -> Result<Ip6, DropReason> {
    let bytes = b.get(off..).ok_or(DropReason::Ipv6Truncated)?;
    let ip = Ipv6Packet::new_checked(bytes)?;
    let upper = ip.upper_layer()?;
    // A frame is one mbuf segment: every offset in it fits in 16 bits.
    let at = |o: usize| u16::try_from(off + o).unwrap_or(u16::MAX);
    Ok(Ip6 {
        off: at(0),
        upper: at(upper.offset),
        end: at(ip.packet_end()),
        proto: upper.protocol,
        fragment: upper.fragment.is_some(),
    })
}

/// The IPv4 header at `off`, checked: `Truncated` under 20 bytes,
/// `BadIpHeader` for a wrong version, IHL or total length. A fragment is
/// `Fragment`, or with `FRAGMENTS` read with its flags and offset in `frag`.
#[inline(always)]
fn ipv4_at<const FRAGMENTS: bool>(b: &[u8], off: usize) -> Result<Ip, DropReason> {
    let bytes = b.get(off..).ok_or(DropReason::Truncated)?;
    let ip = match Ipv4Packet::new_checked(bytes) {
        Ok(ip) => ip,
        Err(WireError::Truncated) if bytes.len() < 20 => return Err(DropReason::Truncated),
        Err(_) => return Err(DropReason::BadIpHeader),
    };
    // MF and offset, DF left out.
    let frag = if FRAGMENTS {
        ip.flags_frag() & (FRAG_MF | FRAG_OFFSET_MASK)
    } else if ip.is_fragment() {
        return Err(DropReason::Fragment);
    } else {
        0
    };
    Ok(Ip {
        off: off as u32,
        ihl: ip.header_len() as u8,
        total: ip.total_len() as u16,
        frag,
        proto: ip.protocol(),
        ttl: ip.ttl(),
        dscp: ip.dscp(),
        src: ip.src(),
        dst: ip.dst(),
    })
}

/// The G-PDU in the UDP payload of `ip` (port 2152): (TEID, outer source,
/// offset of the inner IPv4 packet), or None if it is not one.
#[inline]
pub(super) fn gtp_inner(b: &[u8], ip: &Ip) -> Option<(u32, Ipv4Addr, usize)> {
    // A fragmented tunnel packet is not unwrapped (tier 1 drops it).
    if ip.proto != PROTO_UDP || ip.is_fragment() {
        return None;
    }
    // The UDP header as far as the frame goes (not cut at the length
    // fields: what counts is whether the tunnel header is there).
    let udp = b.get(ip.l4_off()..)?;
    if udp.len() < 8 || UdpDatagram::new_unchecked(udp).dst_port() != GTPU_PORT {
        return None;
    }
    let g = GtpuPacket::new_checked(&udp[8..]).ok()?;
    if g.message_type() != GTPU_MSG_G_PDU {
        return None;
    }
    Some((g.teid(), ip.src, ip.l4_off() + 8 + g.payload_offset()))
}

/// Ports (or the echo identifier), ICMP type and TCP flags and sequence
/// numbers of the L4 header of `ip` (cut at its total length). A
/// fragment's is read by [`first_fragment_l4`].
#[inline(always)]
fn l4_info(b: &[u8], ip: &Ip) -> Result<L4Info, DropReason> {
    let l4 = b.get(ip.l4_off()..ip.end()).ok_or(DropReason::Truncated)?;
    l4_fields(l4, ip.proto, ip.ihl)
}

/// The L4 header of an IPv6 terminal's packet `ip6` as NAT64 sees it: TCP
/// and UDP as over IPv4, an ICMPv6 echo request as the ICMP echo request
/// it becomes (any other ICMPv6 opens nothing: `icmp_ignored`, as ICMP
/// from a terminal); `ip_header_len` is the translated IPv4 header's, 20.
#[inline(never)]
pub(super) fn l4_info_v6(b: &[u8], ip6: &Ip6) -> Result<L4Info, DropReason> {
    let l4 = b
        .get(usize::from(ip6.upper)..usize::from(ip6.end))
        .ok_or(DropReason::Truncated)?;
    match ip6.proto {
        // A first fragment's lengths are the whole datagram's.
        PROTO_TCP | PROTO_UDP if ip6.fragment => first_fragment_fields(l4, ip6.proto, 20),
        PROTO_TCP | PROTO_UDP => l4_fields(l4, ip6.proto, 20),
        PROTO_ICMPV6 => {
            if l4.len() < 8 {
                return Err(DropReason::BadL4Header);
            }
            if l4[0] != ICMPV6_ECHO_REQUEST {
                return Err(DropReason::IcmpIgnored);
            }
            Ok(L4Info {
                proto: PROTO_ICMP,
                ip_header_len: 20,
                src_port: u16::from_be_bytes([l4[4], l4[5]]),
                dst_port: 0,
                icmp_type: crate::wire::ICMP_ECHO_REQUEST,
                flags: TcpFlags::NONE,
                seg: Segment::default(),
            })
        }
        _ => Err(DropReason::UnsupportedProtocol),
    }
}

/// [`L4Info`] of the L4 header `l4` (cut at its packet's end) of protocol
/// `proto` after an IP header of `ihl` bytes.
#[inline(always)]
fn l4_fields(l4: &[u8], proto: u8, ihl: u8) -> Result<L4Info, DropReason> {
    match proto {
        PROTO_TCP => {
            let tcp = TcpSegment::new_checked(l4).map_err(|_| DropReason::BadL4Header)?;
            let fl = tcp.flags();
            let flags = TcpFlags::from_header_byte(fl.bits());
            let doff = tcp.header_len();
            Ok(L4Info {
                proto,
                ip_header_len: ihl,
                src_port: tcp.src_port(),
                dst_port: tcp.dst_port(),
                icmp_type: 0,
                flags,
                seg: Segment {
                    seq: tcp.seq_number(),
                    ack: tcp.ack_number(),
                    window: tcp.window(),
                    payload: (l4.len() - doff) as u32,
                    flags,
                    window_scale: if flags.syn() {
                        crate::wire::tcp_options::window_scale(&l4[..doff])
                    } else {
                        None
                    },
                },
            })
        }
        PROTO_UDP => {
            let udp = UdpDatagram::new_checked(l4).map_err(|_| DropReason::BadL4Header)?;
            Ok(L4Info {
                proto,
                ip_header_len: ihl,
                src_port: udp.src_port(),
                dst_port: udp.dst_port(),
                icmp_type: 0,
                flags: TcpFlags::NONE,
                seg: Segment::default(),
            })
        }
        PROTO_ICMP => {
            let icmp = IcmpPacket::new_checked(l4).map_err(|_| DropReason::BadL4Header)?;
            Ok(L4Info {
                proto,
                ip_header_len: ihl,
                src_port: icmp.echo_ident(),
                dst_port: 0,
                icmp_type: icmp.msg_type(),
                flags: TcpFlags::NONE,
                seg: Segment::default(),
            })
        }
        _ => Err(DropReason::UnsupportedProtocol),
    }
}

/// The L4 header of a fragment: only the first (offset 0) has one, and its
/// length fields describe the whole datagram, not this piece, so only the
/// header itself must be there (`FragmentShortFirst` if it is not).
fn first_fragment_l4(l4: &[u8], ip: &Ip) -> Result<L4Info, DropReason> {
    if ip.is_later_fragment() {
        return Err(DropReason::Fragment);
    }
    first_fragment_fields(l4, ip.proto, ip.ihl)
}

/// [`first_fragment_l4`] of protocol `proto` after `ihl` bytes of IP
/// header (an IPv6 terminal's first fragment: 20, the IPv4 header it
/// becomes).
fn first_fragment_fields(l4: &[u8], proto: u8, ihl: u8) -> Result<L4Info, DropReason> {
    let short = DropReason::FragmentShortFirst;
    let mut info = L4Info {
        proto,
        ip_header_len: ihl,
        src_port: 0,
        dst_port: 0,
        icmp_type: 0,
        flags: TcpFlags::NONE,
        seg: Segment::default(),
    };
    match proto {
        PROTO_TCP => {
            let tcp = TcpSegment::new_unchecked(l4);
            let doff = l4.get(12).map_or(0, |b| usize::from(b >> 4) * 4);
            if doff < 20 || l4.len() < doff {
                return Err(if l4.len() < 20 {
                    short
                } else {
                    DropReason::BadL4Header
                });
            }
            let flags = TcpFlags::from_header_byte(tcp.flags().bits());
            info.src_port = tcp.src_port();
            info.dst_port = tcp.dst_port();
            info.flags = flags;
            info.seg = Segment {
                seq: tcp.seq_number(),
                ack: tcp.ack_number(),
                window: tcp.window(),
                // This piece's payload only: the window tracker sees less
                // than was sent, never more.
                payload: (l4.len() - doff) as u32,
                flags,
                window_scale: if flags.syn() {
                    crate::wire::tcp_options::window_scale(&l4[..doff])
                } else {
                    None
                },
            };
        }
        PROTO_UDP => {
            if l4.len() < 8 {
                return Err(short);
            }
            let udp = UdpDatagram::new_unchecked(l4);
            info.src_port = udp.src_port();
            info.dst_port = udp.dst_port();
        }
        PROTO_ICMP => {
            if l4.len() < 8 {
                return Err(short);
            }
            let icmp = IcmpPacket::new_unchecked(l4);
            info.src_port = icmp.echo_ident();
            info.icmp_type = icmp.msg_type();
        }
        _ => return Err(DropReason::UnsupportedProtocol),
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{
        encapsulate, FrameSpec, GeneveEncap, MacAddr, TandemOption, GENEVE_ENCAP_LEN,
    };

    const ADDR: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
    const PORT: u16 = 6081;

    /// A fabric frame as `wire::encapsulate` writes it, to `ADDR:PORT`.
    fn fabric_frame() -> Vec<u8> {
        let spec = FrameSpec {
            src_mac: MacAddr([2, 0, 0, 0, 0, 0x0a]),
            dst_mac: MacAddr([2, 0, 0, 0, 0, 0x0b]),
            vlan: None,
            src_ip: Ipv4Addr::new(10, 8, 0, 100),
            dst_ip: Ipv4Addr::new(10, 9, 0, 1),
            src_port: 40000,
            dst_port: 80,
            ttl: 64,
        };
        let inner = crate::wire::frames::udp_frame(&spec, b"inner payload").unwrap();
        let mut frame = vec![0u8; GENEVE_ENCAP_LEN];
        frame.extend_from_slice(&inner);
        let params = GeneveEncap {
            src_mac: MacAddr([2, 0, 0, 0, 0, 1]),
            dst_mac: MacAddr([2, 0, 0, 0, 0, 2]),
            src_ip: Ipv4Addr::new(10, 77, 0, 1),
            dst_ip: ADDR,
            dst_port: PORT,
            flow_hash: 0x1234_5678,
            vni: 0,
            option: TandemOption {
                appliance_id: 7,
                io_point: 0,
                hop_count: 0,
                flags: 0,
                generation: 3,
                draining_from: 0,
            },
        };
        let start = encapsulate(&mut frame, GENEVE_ENCAP_LEN, &params).unwrap();
        assert_eq!(start, 0);
        frame
    }

    /// The fixed-offset read of the outer headers says what the checked
    /// views say whenever it says anything: every byte of the Ethernet,
    /// IPv4 and UDP headers set to every value (10,752 frames), and every
    /// truncation. It does take what Tandem sends.
    #[test]
    fn fixed_fabric_outer_agrees() {
        let frame = fabric_frame();
        let to = (ADDR, PORT);
        let taken = fixed_fabric_outer(&frame, to);
        assert!(taken.is_some());
        assert_eq!(taken, fabric_outer(&frame, to));
        for at in 0..42 {
            for value in 0..=u8::MAX {
                let mut f = frame.clone();
                f[at] = value;
                if let Some(fixed) = fixed_fabric_outer(&f, to) {
                    assert_eq!(Some(fixed), fabric_outer(&f, to), "byte {at} = {value}");
                }
            }
        }
        for len in 0..frame.len() {
            if let Some(fixed) = fixed_fabric_outer(&frame[..len], to) {
                assert_eq!(Some(fixed), fabric_outer(&frame[..len], to), "length {len}");
            }
        }
    }

    /// The frames the fixed read is for: TCP data and UDP over IPv4 and
    /// IPv6, untagged and in VLAN 7.
    fn plain_frames() -> Vec<Vec<u8>> {
        let mut frames = Vec::new();
        for vlan in [None, Some(7)] {
            let spec = FrameSpec {
                src_mac: MacAddr([2, 0, 0, 0, 0, 0x0a]),
                dst_mac: MacAddr([2, 0, 0, 0, 0, 0x0b]),
                vlan,
                src_ip: Ipv4Addr::new(10, 8, 0, 100),
                dst_ip: Ipv4Addr::new(10, 9, 0, 1),
                src_port: 40000,
                dst_port: 80,
                ttl: 64,
            };
            let data = b"GET / HTTP/1.1";
            frames.push(crate::wire::frames::udp_frame(&spec, data).unwrap());
            let ack = TcpFlags::ACK;
            frames.push(crate::wire::frames::tcp_frame(&spec, 7, 9, ack, 512, data).unwrap());
        }
        let spec6 = crate::wire::frames::FrameSpecV6 {
            src_mac: MacAddr([2, 0, 0, 0, 0, 0x0a]),
            dst_mac: MacAddr([2, 0, 0, 0, 0, 0x0b]),
            src_ip: "2001:db8:1::100".parse().unwrap(),
            dst_ip: "2001:db8:9::66".parse().unwrap(),
            src_port: 40000,
            dst_port: 80,
        };
        let mut tcp6 = crate::wire::frames::tcp_frame_v6(&spec6, 7, TcpFlags::ACK, 512).unwrap();
        tcp6.extend_from_slice(b"data");
        tcp6[14 + 5] += 4;
        let mut udp6 = tcp6.clone();
        udp6[14 + 6] = PROTO_UDP;
        for frame in [tcp6, udp6] {
            let mut tagged = frame[..12].to_vec();
            tagged.extend_from_slice(&[0x81, 0x00, 0x20, 0x07]);
            tagged.extend_from_slice(&frame[12..]);
            frames.push(frame);
            frames.push(tagged);
        }
        frames
    }

    /// The fixed read and the checked views' read of `b`, when the fixed
    /// read takes it.
    fn both_reads(b: &[u8]) -> Option<(String, String)> {
        let mut fixed = Parsed::NOTHING;
        if !fixed.read_fixed(b) {
            return None;
        }
        let mut checked = Parsed::NOTHING;
        let result = checked.read_checked::<false>(b, false);
        Some((format!("{fixed:?}"), format!("{result:?} {checked:?}")))
    }

    /// The fixed read of a plain frame gives the record the checked views
    /// give whenever it takes the frame: every byte of the Ethernet, VLAN,
    /// IP and the first 20 bytes of L4 set to every value (about 150,000
    /// frames), and every truncation. It takes the plain frames themselves
    /// and most of their variations (so the comparison is not vacuous).
    #[test]
    fn fixed_read_agrees() {
        for frame in plain_frames() {
            let (fixed, checked) =
                both_reads(&frame).expect("a plain frame is read at fixed offsets");
            assert_eq!(format!("Ok(()) {fixed}"), checked);
            let mut taken = 0;
            for at in 0..frame.len().min(18 + 40 + 20) {
                for value in 0..=u8::MAX {
                    let mut f = frame.clone();
                    f[at] = value;
                    if let Some((fixed, checked)) = both_reads(&f) {
                        assert_eq!(format!("Ok(()) {fixed}"), checked, "byte {at} = {value}");
                        taken += 1;
                    }
                }
            }
            assert!(
                taken > 8000,
                "only {taken} variations read at fixed offsets"
            );
            for len in 0..frame.len() {
                if let Some((fixed, checked)) = both_reads(&frame[..len]) {
                    assert_eq!(format!("Ok(()) {fixed}"), checked, "length {len}");
                }
            }
        }
    }

    /// Shapes the fixed read leaves to the checked views: a SYN (its
    /// window scale option), IPv4 options, a fragment, ICMP, an IPv6
    /// extension header.
    #[test]
    fn the_fixed_read_leaves_other_shapes() {
        let frames = plain_frames();
        let [udp, tcp, _, _, tcp6, ..] = &frames[..] else {
            panic!("no frames");
        };
        let mut extension_header = tcp6.clone();
        extension_header[14 + 6] = 0;
        let mut syn = tcp.clone();
        syn[14 + 20 + 13] |= 0x02;
        let mut fragment = udp.clone();
        fragment[14 + 6] = 0x20;
        let mut icmp = udp.clone();
        icmp[14 + 9] = PROTO_ICMP;
        let mut options = udp.clone();
        options[14] = 0x46;
        for frame in [syn, fragment, icmp, options, extension_header] {
            assert!(both_reads(&frame).is_none());
        }
    }

    /// What the fixed read leaves (a VLAN tag, IPv4 options) the checked
    /// views read, so `read_fabric` takes it too.
    #[test]
    fn other_shapes_are_read_by_the_checked_views() {
        let frame = fabric_frame();
        let mut tagged = frame[..12].to_vec();
        tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x07]);
        tagged.extend_from_slice(&frame[12..]);
        let to = (ADDR, PORT);
        assert_eq!(fixed_fabric_outer(&tagged, to), None);
        let outer = fabric_outer(&tagged, to).expect("a tagged fabric frame is read");
        assert_eq!(outer.0.start(), 18);
        let mut p = Parsed::NOTHING;
        assert!(p.read_fabric(&tagged, to));
        let mut q = Parsed::NOTHING;
        assert!(q.read_fabric(&frame, to));
        assert_eq!(format!("{:?}", p.l4), format!("{:?}", q.l4));
        assert_eq!(p.inner.map(|ip| ip.src), q.inner.map(|ip| ip.src));
        // Not for us: another port or address.
        let mut r = Parsed::NOTHING;
        assert!(!r.read_fabric(&frame, (ADDR, PORT + 1)));
        assert!(!r.read_fabric(&frame, (Ipv4Addr::new(10, 77, 0, 3), PORT)));
    }
}
