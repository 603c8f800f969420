//! IPv4 fragments follow their user session (issue 14, item 5;
//! `pipeline/fragments.rs`): a datagram's first fragment opens or finds the
//! user session and is translated, the later ones get the same address
//! rewrite, both ways; each piece leaves with a header checksum that
//! verifies from scratch and the reassembled datagram's UDP checksum
//! verifies end to end. What is not followed is dropped with its reason;
//! with `max_datagrams: 0` every piece is dropped `ip_fragment`, as before
//! fragments were followed. docs/operations.md says the same.

use super::*;
use crate::tier2::FragmentLimits;
use crate::wire::checksum::l4_verifies;
use crate::wire::frames::gtpu_encap;
use proptest::prelude::*;

/// Splits the IPv4 packet of `frame` (plain Ethernet, no options) into
/// fragments of at most `chunk` payload bytes (a multiple of 8), each with
/// a correct header checksum, as a sender's kernel would.
pub(super) fn fragments(frame: &[u8], chunk: usize, ident: u16) -> Vec<Vec<u8>> {
    let (l2, ip) = frame.split_at(14);
    let payload = &ip[20..];
    let mut out = Vec::new();
    let mut at = 0;
    while at < payload.len() {
        let end = (at + chunk).min(payload.len());
        let mut f = l2.to_vec();
        let mut h = ip[..20].to_vec();
        h[2..4].copy_from_slice(&((20 + end - at) as u16).to_be_bytes());
        h[4..6].copy_from_slice(&ident.to_be_bytes());
        let more = if end < payload.len() { 0x2000 } else { 0 };
        h[6..8].copy_from_slice(&((more | (at / 8)) as u16).to_be_bytes());
        h[10..12].copy_from_slice(&[0, 0]);
        let c = checksum(&h);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        f.extend_from_slice(&h);
        f.extend_from_slice(&payload[at..end]);
        out.push(f);
        at = end;
    }
    out
}

/// What left Tandem, checked piece by piece: plain Ethernet, the header
/// checksum computed from scratch equal to the one sent, the same ID, from
/// `src` to `dst`. Returns the reassembled IPv4 payload.
fn reassemble(pieces: &[Vec<u8>], src: Ipv4Addr, dst: Ipv4Addr, ident: u16) -> Vec<u8> {
    let mut payload = Vec::new();
    for (i, p) in pieces.iter().enumerate() {
        assert_eq!(&p[12..14], &[0x08, 0x00], "piece {i}: plain IPv4");
        let ip = &p[14..];
        let mut h = ip[..20].to_vec();
        h[10..12].copy_from_slice(&[0, 0]);
        assert_eq!(
            checksum(&h).to_be_bytes(),
            [ip[10], ip[11]],
            "piece {i}: header checksum from scratch"
        );
        assert_eq!(
            Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]),
            src,
            "piece {i}"
        );
        assert_eq!(
            Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]),
            dst,
            "piece {i}"
        );
        assert_eq!(
            u16::from_be_bytes([ip[4], ip[5]]),
            ident,
            "piece {i}: ID kept"
        );
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        assert_eq!(total, ip.len(), "piece {i}: no padding left");
        let offset = usize::from(u16::from_be_bytes([ip[6], ip[7]]) & 0x1fff) * 8;
        if payload.len() < offset + total - 20 {
            payload.resize(offset + total - 20, 0);
        }
        payload[offset..offset + total - 20].copy_from_slice(&ip[20..total]);
    }
    payload
}

fn ports(udp: &[u8]) -> (u16, u16) {
    (
        u16::from_be_bytes([udp[0], udp[1]]),
        u16::from_be_bytes([udp[2], udp[3]]),
    )
}

/// 40 bytes of DNS-ish payload the datagrams carry (3 pieces of 16 bytes).
fn question() -> Vec<u8> {
    (0..40u8).map(|i| i.wrapping_mul(37) ^ 0x5a).collect()
}

/// The terminal's datagram to the DNS VIP from `sport`, and its pieces.
fn uplink_datagram(sport: u16, ident: u16) -> (Vec<u8>, Vec<Vec<u8>>) {
    let d = udp(UE, sport, DNS_VIP, 53, &question(), (UE_MAC, port_mac(ACC)));
    let pieces = fragments(&d, 16, ident);
    assert_eq!(pieces.len(), 3);
    (d, pieces)
}

/// Sends the pieces of the terminal's datagram in order; each must go to
/// the servers. Returns (server, server port, gateway port, pieces out).
fn send_up(lab: &mut Lab, pieces: &[Vec<u8>]) -> (Ipv4Addr, u16, u16, Vec<Vec<u8>>) {
    let mut out = Vec::new();
    for (i, p) in pieces.iter().enumerate() {
        let (v, o) = lab.up(ACC, p);
        assert_eq!(v, Verdict::Forward(SRV), "piece {i}");
        out.push(o);
    }
    let server = Ipv4Addr::new(out[0][30], out[0][31], out[0][32], out[0][33]);
    let (gw_port, server_port) = ports(&out[0][34..]);
    (server, server_port, gw_port, out)
}

#[test]
fn a_udp_datagram_in_three_fragments_reaches_the_server_translated() {
    let mut lab = Lab::new(1);
    let (_, pieces) = uplink_datagram(40000, 0x4242);
    let (server, server_port, gw_port, out) = send_up(&mut lab, &pieces);
    assert!(SERVERS.contains(&server));
    let udp = reassemble(&out, GW, server, 0x4242);
    assert_eq!(ports(&udp), (gw_port, server_port));
    assert_eq!(&udp[8..], &question()[..], "payload unchanged");
    assert!(l4_verifies(GW, server, 17, &udp), "UDP checksum end to end");
    assert_eq!(lab.live(), 1, "one user session for the datagram");
    assert!(lab.workers[0].gw.fragments.is_empty(), "last piece ends it");
    // The accounting saw every piece, at its IPv4 length.
    let (_, e) = lab.workers[0].table().iter().next().unwrap();
    assert_eq!(e.to_server.packets, 3);
    assert_eq!(e.to_server.bytes, 3 * 20 + 48);
}

#[test]
fn a_three_fragment_reply_reaches_the_terminal_translated_back() {
    let mut lab = Lab::new(1);
    let (_, pieces) = uplink_datagram(40001, 1);
    let (server, server_port, gw_port, _) = send_up(&mut lab, &pieces);
    let answer = udp(
        server,
        server_port,
        GW,
        gw_port,
        &question(),
        (server_mac(server), port_mac(SRV)),
    );
    let mut out = Vec::new();
    for (i, p) in fragments(&answer, 16, 0x0777).iter().enumerate() {
        let (v, o) = lab.up(SRV, p);
        assert_eq!(v, Verdict::Forward(ACC), "piece {i}");
        assert_eq!(&o[..6], &UE_MAC, "piece {i} to the terminal");
        out.push(o);
    }
    let udp = reassemble(&out, DNS_VIP, UE, 0x0777);
    assert_eq!(ports(&udp), (53, 40001));
    assert!(
        l4_verifies(DNS_VIP, UE, 17, &udp),
        "UDP checksum end to end"
    );
    assert!(lab.workers[0].gw.fragments.is_empty());
}

#[test]
fn reply_fragments_received_by_another_worker_follow_the_first_to_the_owner() {
    let mut lab = Lab::new(2);
    let owner = lab.owner_of(UE);
    let other = 1 - owner;
    let (_, pieces) = uplink_datagram(40002, 2);
    let (server, server_port, gw_port, _) = send_up(&mut lab, &pieces);
    let answer = udp(
        server,
        server_port,
        GW,
        gw_port,
        &question(),
        (server_mac(server), port_mac(SRV)),
    );
    let mut out = Vec::new();
    for (i, p) in fragments(&answer, 16, 9).iter().enumerate() {
        let (v, o, at) = lab.run(other, SRV, p);
        assert_eq!((v, at), (Verdict::Forward(ACC), owner), "piece {i}");
        out.push(o);
    }
    let udp = reassemble(&out, DNS_VIP, UE, 9);
    assert!(l4_verifies(DNS_VIP, UE, 17, &udp));
    assert!(lab.workers.iter().all(|w| w.gw.fragments.is_empty()));
}

#[test]
fn a_later_fragment_before_its_first_is_dropped_and_the_rest_pass() {
    let mut lab = Lab::new(1);
    let (_, pieces) = uplink_datagram(40003, 3);
    assert_eq!(
        lab.up(ACC, &pieces[2]).0,
        Verdict::Drop(DropReason::FragmentNoFirst)
    );
    assert_eq!(lab.live(), 0, "a later piece opens nothing");
    assert_eq!(lab.up(ACC, &pieces[0]).0, Verdict::Forward(SRV));
    assert_eq!(lab.up(ACC, &pieces[1]).0, Verdict::Forward(SRV));
    assert_eq!(lab.drops(DropReason::FragmentNoFirst), 1);
    // The dropped last piece is what the server would need: the entry
    // waits for it until its deadline.
    assert_eq!(lab.workers[0].gw.fragments.len(), 1);
    assert_eq!(lab.up(ACC, &pieces[2]).0, Verdict::Forward(SRV));
    assert!(lab.workers[0].gw.fragments.is_empty());
}

#[test]
fn a_later_fragment_past_the_timeout_is_dropped() {
    let limits = FragmentLimits {
        max_datagrams: 16,
        timeout_ms: 500,
    };
    let mut lab = Lab::with_fragments(1, limits);
    let (_, pieces) = uplink_datagram(40004, 4);
    assert_eq!(lab.up(ACC, &pieces[0]).0, Verdict::Forward(SRV));
    lab.tick(400);
    assert_eq!(lab.up(ACC, &pieces[1]).0, Verdict::Forward(SRV));
    lab.tick(200);
    assert_eq!(
        lab.up(ACC, &pieces[2]).0,
        Verdict::Drop(DropReason::FragmentTimeout)
    );
    assert_eq!(lab.drops(DropReason::FragmentTimeout), 1);
    // Once: the entry is gone.
    assert_eq!(
        lab.up(ACC, &pieces[2]).0,
        Verdict::Drop(DropReason::FragmentNoFirst)
    );
    assert_eq!(lab.live(), 1, "the user session lives on");
}

#[test]
fn a_full_table_drops_first_fragments_until_a_datagram_ends() {
    let limits = FragmentLimits {
        max_datagrams: 2,
        timeout_ms: 2000,
    };
    let mut lab = Lab::with_fragments(1, limits);
    let datagrams: Vec<_> = (0..3)
        .map(|i| uplink_datagram(40010 + i, 10 + i).1)
        .collect();
    assert_eq!(lab.up(ACC, &datagrams[0][0]).0, Verdict::Forward(SRV));
    assert_eq!(lab.up(ACC, &datagrams[1][0]).0, Verdict::Forward(SRV));
    assert_eq!(
        lab.up(ACC, &datagrams[2][0]).0,
        Verdict::Drop(DropReason::FragmentTableFull)
    );
    assert_eq!(
        lab.up(ACC, &datagrams[2][1]).0,
        Verdict::Drop(DropReason::FragmentNoFirst)
    );
    // Datagram 0 ends with its last piece: room for datagram 2.
    assert_eq!(lab.up(ACC, &datagrams[0][1]).0, Verdict::Forward(SRV));
    assert_eq!(lab.up(ACC, &datagrams[0][2]).0, Verdict::Forward(SRV));
    for p in &datagrams[2] {
        assert_eq!(lab.up(ACC, p).0, Verdict::Forward(SRV));
    }
    assert_eq!(lab.drops(DropReason::FragmentTableFull), 1);
}

#[test]
fn a_first_fragment_too_short_for_its_udp_header_is_dropped() {
    let mut lab = Lab::new(1);
    let (d, _) = uplink_datagram(40005, 5);
    let mut short = d[..14 + 20 + 4].to_vec();
    short[16..18].copy_from_slice(&24u16.to_be_bytes());
    short[20] = 0x20; // MF, offset 0
    short[24..26].copy_from_slice(&[0, 0]);
    let c = checksum(&short[14..34]);
    short[24..26].copy_from_slice(&c.to_be_bytes());
    assert_eq!(
        lab.up(ACC, &short).0,
        Verdict::Drop(DropReason::FragmentShortFirst)
    );
    assert_eq!(lab.live(), 0);
}

#[test]
fn later_fragments_of_an_ended_user_session_are_dropped() {
    let mut lab = Lab::new(1);
    let (_, pieces) = uplink_datagram(40006, 6);
    assert_eq!(lab.up(ACC, &pieces[0]).0, Verdict::Forward(SRV));
    let now = lab.now;
    assert_eq!(lab.workers[0].end_all(now, &mut lab.events), 1);
    assert_eq!(
        lab.up(ACC, &pieces[1]).0,
        Verdict::Drop(DropReason::FragmentNoFirst)
    );
}

#[test]
fn fragments_inside_gtp_u_follow_their_first() {
    let mut lab = Lab::with(1, 1024, SessionKeyMode::GtpTeid, PORT_RANGE);
    let outer = FrameSpec {
        src_mac: MacAddr(UE_MAC),
        dst_mac: MacAddr(port_mac(ACC)),
        vlan: None,
        src_ip: Ipv4Addr::new(10, 1, 0, 50),
        dst_ip: Ipv4Addr::new(10, 1, 0, 1),
        src_port: 2152,
        dst_port: 2152,
        ttl: 64,
    };
    let (_, pieces) = uplink_datagram(40007, 7);
    let mut out = Vec::new();
    for p in &pieces {
        let tunnelled = gtpu_encap(&outer, 0x99, &p[14..]).unwrap();
        let (v, o) = lab.up(ACC, &tunnelled);
        assert_eq!(v, Verdict::Forward(SRV));
        out.push(o);
    }
    let server = Ipv4Addr::new(out[0][30], out[0][31], out[0][32], out[0][33]);
    let udp = reassemble(&out, GW, server, 7);
    assert!(l4_verifies(GW, server, 17, &udp));
}

#[test]
fn fragments_not_for_a_user_session_are_dropped_as_ip_fragment() {
    let mut lab = Lab::new(1);
    // A ping to the access port's address and one to a VIP (answered
    // whole or not at all).
    for dst in [Ipv4Addr::new(10, 1, 0, 1), VIP] {
        let ping = echo(UE, dst, 5, (UE_MAC, port_mac(ACC)));
        for piece in fragments(&ping, 8, 9) {
            assert_eq!(lab.up(ACC, &piece).0, Verdict::Drop(DropReason::Fragment));
        }
    }
    // A fragmented GTP-U packet (the outer one) is not unwrapped.
    let mut gtp = Lab::with(1, 1024, SessionKeyMode::GtpTeid, PORT_RANGE);
    let outer = FrameSpec {
        src_mac: MacAddr(UE_MAC),
        dst_mac: MacAddr(port_mac(ACC)),
        vlan: None,
        src_ip: Ipv4Addr::new(10, 1, 0, 50),
        dst_ip: Ipv4Addr::new(10, 1, 0, 1),
        src_port: 2152,
        dst_port: 2152,
        ttl: 64,
    };
    let (d, _) = uplink_datagram(40008, 8);
    let tunnelled = gtpu_encap(&outer, 0x99, &d[14..]).unwrap();
    for piece in fragments(&tunnelled, 32, 3) {
        assert_eq!(gtp.up(ACC, &piece).0, Verdict::Drop(DropReason::Fragment));
    }
    assert_eq!(gtp.live(), 0);
}

/// `max_datagrams: 0`: every piece dropped `ip_fragment` before any state
/// is touched, whichever way it comes, as before fragments were followed.
#[test]
fn with_max_datagrams_zero_every_fragment_is_dropped_in_any_order() {
    let mut lab = Lab::with_fragments(1, FragmentLimits::OFF);
    let (datagram, pieces) = uplink_datagram(40000, 0x4242);
    for order in [[0, 1, 2], [2, 1, 0], [1, 0, 2]] {
        for i in order {
            assert_eq!(
                lab.up(ACC, &pieces[i]).0,
                Verdict::Drop(DropReason::Fragment),
                "fragment {i} of order {order:?}"
            );
        }
    }
    assert_eq!(lab.drops(DropReason::Fragment), 9);
    assert_eq!(lab.live(), 0, "the first fragment opens no user session");
    // The same datagram whole goes through; the server's fragmented
    // answer does not.
    let (v, out) = lab.up(ACC, &datagram);
    assert_eq!(v, Verdict::Forward(SRV));
    let o = decode(&out);
    let answer = udp(
        o.dst,
        o.dport,
        GW,
        o.sport,
        &[9u8; 40],
        (server_mac(o.dst), port_mac(SRV)),
    );
    for piece in fragments(&answer, 16, 7) {
        assert_eq!(lab.up(SRV, &piece).0, Verdict::Drop(DropReason::Fragment));
    }
    assert_eq!(lab.up(SRV, &answer).0, Verdict::Forward(ACC));
    // In a tunnel too.
    let mut gtp = Lab::with(1, 1024, SessionKeyMode::GtpTeid, PORT_RANGE);
    gtp.workers[0].gw.fragments = crate::tier2::FragmentTable::new(FragmentLimits::OFF);
    let outer = FrameSpec {
        src_mac: MacAddr(UE_MAC),
        dst_mac: MacAddr(port_mac(ACC)),
        vlan: None,
        src_ip: Ipv4Addr::new(10, 1, 0, 50),
        dst_ip: Ipv4Addr::new(10, 1, 0, 1),
        src_port: 2152,
        dst_port: 2152,
        ttl: 64,
    };
    let tunnelled = gtpu_encap(&outer, 0x99, &pieces[0][14..]).unwrap();
    assert_eq!(
        gtp.up(ACC, &tunnelled).0,
        Verdict::Drop(DropReason::Fragment)
    );
}

#[test]
fn dont_fragment_alone_is_not_a_fragment() {
    let mut lab = Lab::with_fragments(1, FragmentLimits::OFF);
    let mut df = udp(UE, 40003, DNS_VIP, 53, b"q", (UE_MAC, port_mac(ACC)));
    df[20] = 0x40;
    df[24..26].copy_from_slice(&[0, 0]);
    let c = checksum(&df[14..34]);
    df[24..26].copy_from_slice(&c.to_be_bytes());
    assert_eq!(lab.up(ACC, &df).0, Verdict::Forward(SRV));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Fragmenting then translating gives what translating then
    /// fragmenting would: any payload, any piece size, both ways, the
    /// reassembled datagram equal to the whole one translated.
    #[test]
    fn fragments_translate_like_the_whole_datagram(
        payload in proptest::collection::vec(any::<u8>(), 9..300),
        chunk8 in 1usize..6,
        ident in any::<u16>(),
    ) {
        let chunk = chunk8 * 8;
        let whole = udp(UE, 41000, DNS_VIP, 53, &payload, (UE_MAC, port_mac(ACC)));
        let mut a = Lab::new(1);
        let (v, translated) = a.up(ACC, &whole);
        prop_assert_eq!(v, Verdict::Forward(SRV));
        let mut b = Lab::new(1);
        let mut out = Vec::new();
        for p in fragments(&whole, chunk, ident) {
            let (v, o) = b.up(ACC, &p);
            prop_assert_eq!(v, Verdict::Forward(SRV));
            out.push(o);
        }
        let o = decode(&translated);
        let up = reassemble(&out, GW, o.dst, ident);
        prop_assert_eq!(&up[..], &translated[34..]);
        // And the server's answer, the same size, back.
        let answer = udp(o.dst, o.dport, GW, o.sport, &payload, (server_mac(o.dst), port_mac(SRV)));
        let (v, back) = a.up(SRV, &answer);
        prop_assert_eq!(v, Verdict::Forward(ACC));
        let mut out = Vec::new();
        for p in fragments(&answer, chunk, ident) {
            let (v, o) = b.up(SRV, &p);
            prop_assert_eq!(v, Verdict::Forward(ACC));
            out.push(o);
        }
        let down = reassemble(&out, DNS_VIP, UE, ident);
        prop_assert_eq!(&down[..], &back[34..]);
        prop_assert!(b.workers[0].gw.fragments.is_empty());
    }
}

#[test]
fn a_first_fragment_that_is_dropped_leaves_nothing_to_follow() {
    let mut lab = Lab::new(1);
    // UDP to the web VIP, a TCP service: no service.
    let d = udp(UE, 40009, VIP, 80, &question(), (UE_MAC, port_mac(ACC)));
    let pieces = fragments(&d, 16, 11);
    assert_eq!(
        lab.up(ACC, &pieces[0]).0,
        Verdict::Drop(DropReason::NoService)
    );
    assert_eq!(lab.live(), 0);
    assert!(lab.workers[0].gw.fragments.is_empty());
    for p in &pieces[1..] {
        assert_eq!(lab.up(ACC, p).0, Verdict::Drop(DropReason::FragmentNoFirst));
    }
}
