//! The PROXY protocol on byte buffers: the header on the handshake ACK,
//! shifted numbers both ways, re-sends of an unacknowledged header, SACK,
//! the MSS a terminal is offered, and a frame that cannot grow; every
//! output frame's checksums verified from scratch (`testkit::decode`).

use super::{segment, HEADER_LEN};
use crate::counters::DropReason;
use crate::frame::{Frame, VecFrame};
use crate::pipeline::Verdict;
use crate::testkit::*;
use crate::tier1::SessionKeyMode;
use crate::wire::checksum::{checksum, l4_checksum};
use crate::wire::frames::tcp_frame;
use crate::wire::proxy_v2::ProxyHeader;
use crate::wire::TcpFlags;
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr};

const TCP: usize = 34;
const ISN: u32 = 0xffff_fff0; // wraps within the first bytes
const SERVER_ISN: u32 = 7_000_000;

fn rd32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn seq_of(f: &[u8]) -> u32 {
    rd32(f, TCP + 4)
}
fn ack_of(f: &[u8]) -> u32 {
    rd32(f, TCP + 8)
}
fn payload_of(f: &[u8]) -> &[u8] {
    let total = usize::from(u16::from_be_bytes([f[16], f[17]]));
    let doff = usize::from(f[TCP + 12] >> 4) * 4;
    &f[TCP + doff..14 + total]
}
/// The SACK blocks of a segment's options.
fn sack_of(f: &[u8]) -> Vec<(u32, u32)> {
    let tcp = &f[TCP..];
    crate::wire::tcp_options::TcpOptions::new(tcp)
        .filter(|o| o.kind == crate::wire::tcp_options::OPT_SACK)
        .flat_map(|o| {
            (0..(o.len - 2) / 8).map(move |i| {
                let at = o.at + 2 + 8 * i;
                (rd32(tcp, at), rd32(tcp, at + 4))
            })
        })
        .collect()
}

/// A TCP frame with these option bytes (a multiple of 4) before the
/// payload, with a correct checksum.
fn with_options(mut f: Vec<u8>, options: &[u8]) -> Vec<u8> {
    assert_eq!(options.len() % 4, 0);
    let (src, dst) = (
        Ipv4Addr::new(f[26], f[27], f[28], f[29]),
        Ipv4Addr::new(f[30], f[31], f[32], f[33]),
    );
    let n = options.len();
    let tail = f.split_off(TCP + 20);
    f.extend_from_slice(options);
    f.extend_from_slice(&tail);
    f[TCP + 12] = (((20 + n) / 4) as u8) << 4;
    let total = u16::from_be_bytes([f[16], f[17]]) + n as u16;
    f[16..18].copy_from_slice(&total.to_be_bytes());
    f[24..26].copy_from_slice(&[0, 0]);
    let c = checksum(&f[14..34]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    f[TCP + 16..TCP + 18].copy_from_slice(&[0, 0]);
    let c = l4_checksum(src, dst, 6, &f[TCP..]);
    f[TCP + 16..TCP + 18].copy_from_slice(&c.to_be_bytes());
    f
}

fn sack_option(blocks: &[(u32, u32)]) -> Vec<u8> {
    let mut o = vec![1, 1, 5, (2 + 8 * blocks.len()) as u8];
    for (l, r) in blocks {
        o.extend_from_slice(&l.to_be_bytes());
        o.extend_from_slice(&r.to_be_bytes());
    }
    o
}

fn from_ue(seq: u32, ack: u32, flags: TcpFlags, payload: &[u8]) -> Vec<u8> {
    tcp_frame(
        &spec(UE, 40000, VIP, 80, UE_MAC, port_mac(ACC)),
        seq,
        ack,
        flags,
        65535,
        payload,
    )
    .unwrap()
}

fn from_server(c: &Conn, seq: u32, ack: u32, flags: TcpFlags, payload: &[u8]) -> Vec<u8> {
    tcp_frame(
        &spec(
            c.server,
            8080,
            GW,
            c.gw_port,
            server_mac(c.server),
            port_mac(SRV),
        ),
        seq,
        ack,
        flags,
        65535,
        payload,
    )
    .unwrap()
}

/// The lab with the web service's `proxy_v2` as given.
fn lab(proxy_v2: bool) -> Lab {
    let lab = Lab::with(1, 64, SessionKeyMode::SourceIp, PORT_RANGE);
    let mut p = policy();
    p.services.services[0].proxy_v2 = proxy_v2;
    lab.policy.publish(p);
    lab
}

struct Conn {
    server: Ipv4Addr,
    gw_port: u16,
}

/// SYN (MSS 1460) → server, SYN-ACK (MSS 1460) → terminal; returns the
/// connection and the MSS the terminal was offered.
fn handshake(lab: &mut Lab) -> (Conn, Option<u16>) {
    let syn = with_options(from_ue(ISN, 0, TcpFlags::SYN, &[]), &[2, 4, 0x05, 0xb4]);
    let (v, out) = lab.up(ACC, &syn);
    assert_eq!(v, Verdict::Forward(SRV));
    let o = decode(&out);
    assert_eq!(seq_of(&out), ISN, "the SYN is not shifted");
    assert_eq!(payload_of(&out), b"", "nor does it carry the header");
    let c = Conn {
        server: o.dst,
        gw_port: o.sport,
    };
    let sa = with_options(
        from_server(
            &c,
            SERVER_ISN,
            ISN.wrapping_add(1),
            TcpFlags::SYN | TcpFlags::ACK,
            &[],
        ),
        &[2, 4, 0x05, 0xb4],
    );
    let (v, out) = lab.up(SRV, &sa);
    assert_eq!(v, Verdict::Forward(ACC));
    decode(&out);
    assert_eq!(ack_of(&out), ISN.wrapping_add(1));
    (c, crate::wire::tcp_options::mss(&out[TCP..]))
}

/// The terminal's segment as the server gets it.
fn up(lab: &mut Lab, seq: u32, flags: TcpFlags, payload: &[u8]) -> Vec<u8> {
    let f = from_ue(seq, SERVER_ISN.wrapping_add(1), flags, payload);
    let (v, out) = lab.up(ACC, &f);
    assert_eq!(v, Verdict::Forward(SRV));
    decode(&out);
    out
}

/// The server's segment as the terminal gets it.
fn down(lab: &mut Lab, c: &Conn, ack: u32, options: &[u8]) -> Vec<u8> {
    let f = with_options(
        from_server(c, SERVER_ISN.wrapping_add(1), ack, TcpFlags::ACK, &[]),
        options,
    );
    let (v, out) = lab.up(SRV, &f);
    assert_eq!(v, Verdict::Forward(ACC));
    decode(&out);
    out
}

fn inserted(lab: &Lab) -> u64 {
    lab.workers[0].counters().proxy_headers_inserted.get()
}

fn expected_header() -> ProxyHeader {
    ProxyHeader {
        src: IpAddr::V4(UE),
        src_port: 40000,
        dst: IpAddr::V4(VIP),
        dst_port: 80,
        session_id: Some(
            crate::tier1::session_id(SessionKeyMode::SourceIp, UE, None, None)
                .unwrap()
                .0,
        ),
    }
}

#[test]
fn the_header_rides_on_the_handshake_ack_and_data_follows_it() {
    let mut lab = lab(true);
    let (c, mss) = handshake(&mut lab);
    assert_eq!(
        mss,
        Some(1460 - 39),
        "room for the header in a full segment"
    );

    let first = ISN.wrapping_add(1);
    let out = up(&mut lab, first, TcpFlags::ACK, &[]);
    assert_eq!(seq_of(&out), first);
    assert_eq!(
        ProxyHeader::parse(payload_of(&out)),
        Ok((expected_header(), HEADER_LEN as usize))
    );
    assert_eq!(inserted(&lab), 1);

    // The server acknowledges the header: the terminal hears of no data.
    let back = down(&mut lab, &c, first.wrapping_add(HEADER_LEN), &[]);
    assert_eq!(ack_of(&back), first);

    // The request follows the header in the server's numbers.
    let out = up(&mut lab, first, TcpFlags::ACK | TcpFlags::PSH, b"GET /");
    assert_eq!(seq_of(&out), first.wrapping_add(HEADER_LEN));
    assert_eq!(payload_of(&out), b"GET /");
    let back = down(&mut lab, &c, first.wrapping_add(HEADER_LEN + 5), &[]);
    assert_eq!(ack_of(&back), first.wrapping_add(5));
    // A FIN after it: shifted too.
    let out = up(
        &mut lab,
        first.wrapping_add(5),
        TcpFlags::ACK | TcpFlags::FIN,
        &[],
    );
    assert_eq!(seq_of(&out), first.wrapping_add(5 + HEADER_LEN));
    assert_eq!(inserted(&lab), 1, "one header");
}

#[test]
fn an_unacknowledged_header_is_resent_with_a_retransmitted_first_segment() {
    let mut lab = lab(true);
    let (c, _) = handshake(&mut lab);
    let first = ISN.wrapping_add(1);
    // The handshake ACK carries the header; the request's first
    // transmission follows it, shifted.
    up(&mut lab, first, TcpFlags::ACK, &[]);
    let out = up(&mut lab, first, TcpFlags::ACK | TcpFlags::PSH, b"GET /");
    assert_eq!(seq_of(&out), first.wrapping_add(HEADER_LEN));
    assert_eq!(payload_of(&out), b"GET /");
    assert_eq!(inserted(&lab), 1);
    // The header was lost: the server holds the request out of order and
    // acknowledges nothing; the terminal retransmits the request, which
    // now carries the header in front, each time until it is acknowledged.
    let back = down(&mut lab, &c, first, &[]);
    assert_eq!(ack_of(&back), first);
    for round in 2..=3 {
        let out = up(&mut lab, first, TcpFlags::ACK | TcpFlags::PSH, b"GET /");
        assert_eq!(seq_of(&out), first);
        let p = payload_of(&out);
        assert_eq!(p.len(), HEADER_LEN as usize + 5);
        assert_eq!(
            ProxyHeader::parse(p),
            Ok((expected_header(), HEADER_LEN as usize))
        );
        assert_eq!(&p[HEADER_LEN as usize..], b"GET /");
        assert_eq!(inserted(&lab), round);
    }
    // A repeated handshake ACK (the server repeated its SYN-ACK) too.
    let out = up(&mut lab, first, TcpFlags::ACK, &[]);
    assert_eq!(payload_of(&out).len(), HEADER_LEN as usize);
    assert_eq!(inserted(&lab), 4);
    // An acknowledgement inside the header acknowledges nothing.
    let back = down(&mut lab, &c, first.wrapping_add(20), &[]);
    assert_eq!(ack_of(&back), first);
    // Once the server has all of it, a retransmission is only shifted.
    let back = down(&mut lab, &c, first.wrapping_add(HEADER_LEN + 5), &[]);
    assert_eq!(ack_of(&back), first.wrapping_add(5));
    let out = up(&mut lab, first, TcpFlags::ACK | TcpFlags::PSH, b"GET /");
    assert_eq!(seq_of(&out), first.wrapping_add(HEADER_LEN));
    assert_eq!(payload_of(&out), b"GET /");
    let out = up(&mut lab, first, TcpFlags::ACK, &[]);
    assert_eq!(seq_of(&out), first.wrapping_add(HEADER_LEN));
    assert_eq!(payload_of(&out), b"");
    assert_eq!(inserted(&lab), 4);
}

#[test]
fn data_on_the_handshake_ack_carries_the_header_itself() {
    // A stack that sends its request with the ACK completing the handshake.
    let mut lab = lab(true);
    handshake(&mut lab);
    let first = ISN.wrapping_add(1);
    let out = up(&mut lab, first, TcpFlags::ACK | TcpFlags::PSH, b"HELO");
    assert_eq!(seq_of(&out), first);
    let p = payload_of(&out);
    assert_eq!(
        ProxyHeader::parse(p),
        Ok((expected_header(), HEADER_LEN as usize))
    );
    assert_eq!(&p[HEADER_LEN as usize..], b"HELO");
    assert_eq!(inserted(&lab), 1);
}

#[test]
fn sack_blocks_from_the_server_move_into_the_terminals_numbers() {
    let mut lab = lab(true);
    let (c, _) = handshake(&mut lab);
    let first = ISN.wrapping_add(1);
    up(&mut lab, first, TcpFlags::ACK, &[]);
    let h = HEADER_LEN;
    // The server has the header and bytes 1000..2000 and 3000..3500.
    let blocks = [
        (first.wrapping_add(h + 1000), first.wrapping_add(h + 2000)),
        (first.wrapping_add(h + 3000), first.wrapping_add(h + 3500)),
    ];
    let back = down(&mut lab, &c, first.wrapping_add(h), &sack_option(&blocks));
    assert_eq!(ack_of(&back), first);
    assert_eq!(
        sack_of(&back),
        [
            (first.wrapping_add(1000), first.wrapping_add(2000)),
            (first.wrapping_add(3000), first.wrapping_add(3500)),
        ]
    );
    // The terminal's own SACK blocks name the server's bytes: unchanged.
    let theirs = [(SERVER_ISN + 100, SERVER_ISN + 200)];
    let f = with_options(
        from_ue(first, SERVER_ISN.wrapping_add(1), TcpFlags::ACK, &[]),
        &sack_option(&theirs),
    );
    let (v, out) = lab.up(ACC, &f);
    assert_eq!(v, Verdict::Forward(SRV));
    decode(&out);
    assert_eq!(sack_of(&out), theirs);
    assert_eq!(seq_of(&out), first.wrapping_add(h));
}

#[test]
fn a_service_without_the_option_is_untouched() {
    let mut lab = lab(false);
    let (c, mss) = handshake(&mut lab);
    assert_eq!(mss, Some(1460));
    let first = ISN.wrapping_add(1);
    let out = up(&mut lab, first, TcpFlags::ACK, &[]);
    assert_eq!((seq_of(&out), payload_of(&out)), (first, &b""[..]));
    let out = up(&mut lab, first, TcpFlags::ACK | TcpFlags::PSH, b"GET /");
    assert_eq!((seq_of(&out), payload_of(&out)), (first, &b"GET /"[..]));
    let back = down(&mut lab, &c, first.wrapping_add(5), &[]);
    assert_eq!(ack_of(&back), first.wrapping_add(5));
    assert_eq!(inserted(&lab), 0);
}

/// A type pool: the option of the service whose servers serve the
/// connection counts, not the one the terminal addressed.
#[test]
fn the_serving_pools_option_decides() {
    for (addressed, pool, want) in [(false, true, true), (true, false, false)] {
        let mut lab = Lab::with(1, 64, SessionKeyMode::SourceIp, PORT_RANGE);
        let mut p = policy();
        let mut pooled = p.services.services[0].clone();
        pooled.name = "pool".into();
        pooled.vip = None;
        pooled.proxy_v2 = pool;
        p.services.services.push(pooled);
        p.services.services[0].proxy_v2 = addressed;
        // Type 0 (every terminal's here) is served by the pool.
        p.services.services[0].by_type = vec![(0, 2)];
        lab.policy.publish(p);
        let (_, mss) = handshake(&mut lab);
        let header = up(&mut lab, ISN.wrapping_add(1), TcpFlags::ACK, &[]);
        assert_eq!(
            (mss == Some(1460 - 39), !payload_of(&header).is_empty()),
            (want, want),
            "addressed service {addressed}, pool {pool}"
        );
    }
}

#[test]
fn a_first_segment_that_cannot_grow_is_dropped_and_named() {
    let mut lab = lab(true);
    handshake(&mut lab);
    // A frame filling the whole test buffer: no tailroom.
    let big = vec![0x61; VecFrame::CAPACITY - 54];
    let f = from_ue(ISN.wrapping_add(1), SERVER_ISN + 1, TcpFlags::ACK, &big);
    assert_eq!(f.len(), VecFrame::CAPACITY);
    assert_eq!(lab.up(ACC, &f).0, Verdict::Drop(DropReason::ProxyNoRoom));
    assert_eq!(lab.drops(DropReason::ProxyNoRoom), 1);
    assert_eq!(inserted(&lab), 0);
}

#[test]
fn an_icmp_error_quotes_the_terminals_own_sequence_number() {
    let mut lab = lab(true);
    let (c, _) = handshake(&mut lab);
    let first = ISN.wrapping_add(1);
    up(&mut lab, first, TcpFlags::ACK, &[]);
    down(&mut lab, &c, first.wrapping_add(HEADER_LEN), &[]);
    let out = up(
        &mut lab,
        first.wrapping_add(100),
        TcpFlags::ACK,
        &[0x55; 1000],
    );
    assert_eq!(seq_of(&out), first.wrapping_add(100 + HEADER_LEN));
    // A router on the server side: fragmentation needed, quoting it.
    let quoted = &out[14..14 + 28];
    let err = crate::wire::frames::icmp_frame(
        &spec(c.server, 0, GW, 0, server_mac(c.server), port_mac(SRV)),
        &crate::wire::IcmpRepr::DestUnreachable {
            code: 4,
            next_hop_mtu: 1400,
        },
        quoted,
    )
    .unwrap();
    let (v, back) = lab.up(SRV, &err);
    assert_eq!(v, Verdict::Forward(ACC));
    let b = decode(&back);
    assert_eq!((b.src, b.dst), (VIP, UE));
    let inner = &back[14 + 20 + 8..];
    assert_eq!(&inner[12..16], &UE.octets());
    assert_eq!(
        rd32(inner, 24),
        first.wrapping_add(100),
        "terminal's numbers"
    );
}

/// `insert` on a bare frame: the header lands between TCP header and
/// payload, lengths grow, both checksums equal from-scratch ones.
#[test]
fn insertion_keeps_both_checksums_exact() {
    for payload_len in [0usize, 1, 2, 5, 1400] {
        let payload: Vec<u8> = (0..payload_len).map(|i| (i * 7 + 3) as u8).collect();
        let frame = with_options(
            from_ue(5, 6, TcpFlags::ACK | TcpFlags::PSH, &payload),
            &sack_option(&[(1, 2)]),
        );
        let mut f = VecFrame::new(&frame);
        let header: Vec<u8> = (0..39).map(|i| 0x80 | i as u8).collect();
        assert!(segment::insert(&mut f, 14, &header));
        let out = f.bytes().to_vec();
        decode(&out);
        assert_eq!(out.len(), frame.len() + 39);
        let mut want = frame.clone();
        want.splice(TCP + 32..TCP + 32, header.iter().copied());
        let total = u16::from_be_bytes([want[16], want[17]]) + 39;
        want[16..18].copy_from_slice(&total.to_be_bytes());
        // Checksums from scratch.
        want[24..26].copy_from_slice(&[0, 0]);
        let c = checksum(&want[14..34]);
        want[24..26].copy_from_slice(&c.to_be_bytes());
        want[TCP + 16..TCP + 18].copy_from_slice(&[0, 0]);
        let c = l4_checksum(UE, VIP, 6, &want[TCP..]);
        want[TCP + 16..TCP + 18].copy_from_slice(&c.to_be_bytes());
        assert_eq!(out, want, "payload of {payload_len}");
    }
}

#[test]
fn the_header_length_is_what_emit_writes() {
    assert_eq!(
        expected_header().wire_len(),
        Some(HEADER_LEN as usize),
        "IPv4 with the session ID TLV"
    );
}

proptest! {
    /// Issue 15's sequence-shifting property, through the pipeline: any
    /// terminal segment after the handshake, translated toward the server,
    /// and the server's acknowledgement and SACK of exactly what it got,
    /// translated back, name exactly the terminal's bytes; every frame's
    /// checksums verify from scratch.
    #[test]
    fn any_segment_translated_and_back_is_exact(
        isn in any::<u32>(),
        segs in proptest::collection::vec((0u32..60_000, 0usize..1400, any::<bool>()), 1..12),
    ) {
        let mut lab = lab(true);
        let syn = with_options(from_ue(isn, 0, TcpFlags::SYN, &[]), &[2, 4, 0x05, 0xb4]);
        let (_, out) = lab.up(ACC, &syn);
        let c = Conn { server: decode(&out).dst, gw_port: decode(&out).sport };
        let sa = from_server(&c, SERVER_ISN, isn.wrapping_add(1), TcpFlags::SYN | TcpFlags::ACK, &[]);
        lab.up(SRV, &sa);
        let first = isn.wrapping_add(1);
        for (off, len, fin) in segs {
            let payload = vec![0x5a; len];
            let seq = first.wrapping_add(off);
            let flags = if fin { TcpFlags::ACK | TcpFlags::FIN } else { TcpFlags::ACK };
            let f = from_ue(seq, SERVER_ISN.wrapping_add(1), flags, &payload);
            let (v, out) = lab.up(ACC, &f);
            prop_assert_eq!(v, Verdict::Forward(SRV));
            decode(&out);
            let got = payload_of(&out).len() as u32;
            let carries = got > len as u32;
            if carries {
                prop_assert_eq!(seq_of(&out), first);
                prop_assert_eq!(got, len as u32 + HEADER_LEN);
            } else {
                prop_assert_eq!(seq_of(&out), seq.wrapping_add(HEADER_LEN));
            }
            prop_assert_eq!(&payload_of(&out)[got as usize - len..], &payload[..]);
            // The server acknowledges and SACKs exactly the bytes it got.
            let end = seq_of(&out).wrapping_add(got);
            let back = down(&mut lab, &c, end, &sack_option(&[(seq_of(&out), end)]));
            let start = if carries { first } else { seq };
            prop_assert_eq!(ack_of(&back), seq.wrapping_add(len as u32));
            prop_assert_eq!(sack_of(&back), vec![(start, seq.wrapping_add(len as u32))]);
        }
    }

    /// Shifting a terminal segment toward the server and back restores it
    /// byte for byte, checksum included.
    #[test]
    fn a_shift_and_its_inverse_restore_the_segment(seq in any::<u32>(), ack in any::<u32>(),
                                                   len in 0usize..200, by in any::<u32>()) {
        let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let f = from_ue(seq, ack, TcpFlags::ACK, &payload);
        let mut g = f.clone();
        segment::shift_to_server(&mut g[TCP..], by);
        decode(&g);
        prop_assert_eq!(seq_of(&g), seq.wrapping_add(by));
        segment::shift_to_server(&mut g[TCP..], 0u32.wrapping_sub(by));
        prop_assert_eq!(g, f);
    }
}
