//! NAT64 and port MTUs (`pipeline/nat64_mtu.rs`): a server's packet that
//! would not fit the access port once translated gets the server an ICMP
//! "fragmentation needed" (DF) or is dropped (no DF); a terminal's packet
//! that would not fit the server port once translated gets the terminal an
//! ICMPv6 Packet Too Big. Checksums from scratch.

use super::*;

/// Every worker's topology with `port`'s MTU set to `mtu`.
fn with_mtu(mut lab: Lab, port: u16, mtu: u16) -> Lab {
    for w in &mut lab.workers {
        let mut t = (*w.topo).clone();
        t.set_mtu(port, Some(mtu));
        w.topo = Arc::new(t);
    }
    lab
}

/// Opens a NAT64 UDP flow from the terminal's port 5353 to the DNS VIP;
/// returns the gateway port the server sees.
fn open_udp(lab: &mut Lab) -> u16 {
    let q = summed6(udp_l4(5353, 53, b"query"), 6, TERMINAL, DNS_VIP6, 17);
    let (v, out) = lab.up(ACC, &frame6(up_macs(), TERMINAL, DNS_VIP6, 17, HOP, 0, &q));
    assert_eq!(v, Verdict::Forward(SRV));
    decode(&out).sport
}

/// The server's UDP answer of `len` bytes of IPv4, DF as `df`.
fn answer(gw_port: u16, len: usize, df: bool) -> Vec<u8> {
    let payload = vec![0x5a; len - 28];
    let l4 = summed4(udp_l4(5353, gw_port, &payload), 6, SERVERS[0], GW, 17);
    let flags = if df { 0x40 } else { 0 };
    frame4(
        (server_mac(SERVERS[0]), port_mac(SRV)),
        SERVERS[0],
        GW,
        17,
        64,
        0,
        [0, 9, flags, 0],
        &l4,
    )
}

#[test]
fn a_server_packet_too_big_for_the_access_port_once_translated_gets_fragmentation_needed() {
    let mut lab = with_mtu(nat64_lab(1, None), ACC, 1400);
    let gw_port = open_udp(&mut lab);
    // 1380 bytes of IPv4 are 1400 of IPv6: they fit.
    let (v, back) = lab.up(SRV, &answer(gw_port, 1380, true));
    assert_eq!(v, Verdict::Forward(ACC));
    assert_eq!(back.len(), 14 + 1400);
    // 1381 do not: the server hears of it, from the address it sent to.
    let big = answer(gw_port, 1381, true);
    let (v, err) = lab.up(SRV, &big);
    assert_eq!(v, Verdict::Forward(SRV));
    assert_eq!(&err[..6], &server_mac(SERVERS[0]), "back to the server");
    assert_eq!(&err[6..12], &port_mac(SRV));
    let ip = &err[14..];
    assert_eq!(slow_checksum(&ip[..20]), 0, "IPv4 header checksum");
    assert_eq!(
        (ip[9], &ip[12..16], &ip[16..20]),
        (1, &GW.octets()[..], &SERVERS[0].octets()[..])
    );
    let icmp = &ip[20..];
    assert_eq!(slow_checksum(icmp), 0, "ICMP checksum");
    assert_eq!((icmp[0], icmp[1]), (3, 4), "fragmentation needed");
    assert_eq!(
        u16::from_be_bytes([icmp[6], icmp[7]]),
        1372,
        "next-hop MTU: what fits even as a fragment (1400 - 40 - 8 + 20)"
    );
    // It quotes the server's packet as sent: header and 8 bytes.
    assert_eq!(&icmp[8..8 + 28], &big[14..14 + 28]);
    assert_eq!(lab.drops(DropReason::Nat64TooBig), 1);
}

/// The fragment header of the IPv6 frame `f` (plain Ethernet):
/// (next header, offset in bytes, more, identification), and its data.
fn fragment_of(f: &[u8]) -> ((u8, usize, bool, u32), &[u8]) {
    let ip = &f[14..];
    assert_eq!(ip[6], 44, "a fragment header: {f:02x?}");
    let len = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
    assert_eq!(ip.len(), 40 + len, "payload length");
    let h = &ip[40..48];
    let field = u16::from_be_bytes([h[2], h[3]]);
    let ident = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
    (
        (h[0], usize::from(field >> 3) * 8, field & 1 == 1, ident),
        &ip[48..],
    )
}

#[test]
fn a_server_packet_without_df_too_big_once_translated_leaves_in_two_ipv6_fragments() {
    let mut lab = with_mtu(nat64_lab(1, None), ACC, 1400);
    let gw_port = open_udp(&mut lab);
    let sent = answer(gw_port, 1900, false);
    let (v, first) = lab.up(SRV, &sent);
    assert_eq!(v, Verdict::Forward(ACC));
    assert_eq!(lab.extras.len(), 1, "a second frame");
    let (port, second) = lab.extras.remove(0);
    assert_eq!(port, ACC);
    for f in [&first, &second] {
        assert!(f.len() - 14 <= 1400, "fits the port: {}", f.len() - 14);
        assert_eq!((&f[..6], &f[12..14]), (&UE_MAC[..], &[0x86, 0xdd][..]));
        let ip = &f[14..];
        assert_eq!(
            (&ip[8..24], &ip[24..40]),
            (&DNS_VIP6.octets()[..], &TERMINAL.octets()[..])
        );
        assert_eq!(ip[7], 63, "hop limit one less");
    }
    let ((next1, off1, more1, id1), data1) = fragment_of(&first);
    let ((next2, off2, more2, id2), data2) = fragment_of(&second);
    assert_eq!(
        (next1, off1, more1, id1),
        (17, 0, true, 9),
        "the IPv4 ID names them"
    );
    assert_eq!((next2, off2, more2, id2), (17, data1.len(), false, 9));
    assert_eq!(data1.len() % 8, 0);
    // Reassembled: the server's datagram, ports the terminal's, its UDP
    // checksum right over IPv6 (computed from scratch here).
    let whole = [data1, data2].concat();
    let payload = vec![0x5a; 1900 - 28];
    let want = summed6(udp_l4(53, 5353, &payload), 6, DNS_VIP6, TERMINAL, 17);
    assert_eq!(whole, want);
    assert_eq!(lab.drops(DropReason::Nat64TooBig), 0);
    assert_eq!(lab.workers[0].counters().nat64_fragmented.get(), 1);
}

/// A server datagram (DF clear) more than twice too big for the
/// terminal's port once translated (a jumbo server port) leaves in as many
/// fragments as it needs, each fitting, offsets following on, and the
/// pieces put together are the translated datagram.
#[test]
fn a_packet_needing_more_than_two_pieces_leaves_in_all_of_them() {
    let mut lab = with_mtu(nat64_lab(1, None), ACC, 1400);
    let gw_port = open_udp(&mut lab);
    let (v, first) = lab.up(SRV, &answer(gw_port, 4000, false));
    assert_eq!(v, Verdict::Forward(ACC));
    assert_eq!(lab.extras.len(), 2, "two more frames");
    let mut frames = vec![first];
    frames.extend(lab.extras.drain(..).map(|(port, f)| {
        assert_eq!(port, ACC);
        f
    }));
    let mut whole = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        assert!(f.len() - 14 <= 1400, "fits the port: {}", f.len() - 14);
        let ((next, offset, more, ident), data) = fragment_of(f);
        assert_eq!((next, offset, more, ident), (17, whole.len(), i < 2, 9));
        whole.extend_from_slice(data);
    }
    let payload = vec![0x5a; 4000 - 28];
    let want = summed6(udp_l4(53, 5353, &payload), 6, DNS_VIP6, TERMINAL, 17);
    assert_eq!(whole, want);
    assert_eq!(lab.workers[0].counters().nat64_fragmented.get(), 1);
    assert_eq!(lab.drops(DropReason::Nat64TooBig), 0);
}

#[test]
fn split_v6_cuts_a_fragment_keeping_its_identification_offset_and_last_flag() {
    use crate::pipeline::nat64_split::split_v6;
    // An IPv6 fragment at offset 800 of datagram 0x0102_0304, more to come,
    // with 1000 bytes of data.
    let mut buf = vec![0u8; 4096];
    buf[0] = 0x60;
    buf[4..6].copy_from_slice(&1008u16.to_be_bytes());
    buf[6] = 44;
    buf[7] = 63;
    buf[40] = 17;
    buf[42..44].copy_from_slice(&((800u16 / 8) << 3 | 1).to_be_bytes());
    buf[44..48].copy_from_slice(&0x0102_0304u32.to_be_bytes());
    for (i, b) in buf[48..1048].iter_mut().enumerate() {
        *b = i as u8;
    }
    let original = buf[48..1048].to_vec();
    let mut later = Vec::new();
    let (n1, k) = split_v6(&mut buf, 1048, (600, 2), 7, |h, d| {
        later.push([&h[..], d].concat())
    })
    .expect("two pieces");
    assert_eq!(k, 1);
    let second = later.remove(0);
    let n2 = second.len();
    assert_eq!(n1, 48 + 552);
    assert_eq!(n2, 48 + 448);
    let field = |p: &[u8]| u16::from_be_bytes([p[42], p[43]]);
    assert_eq!(field(&buf), (800 / 8) << 3 | 1);
    assert_eq!(
        field(&second),
        ((800 + 552) / 8) << 3 | 1,
        "still more to come"
    );
    for p in [&buf[..n1], &second[..n2]] {
        assert_eq!(&p[44..48], &0x0102_0304u32.to_be_bytes());
        assert_eq!(usize::from(u16::from_be_bytes([p[4], p[5]])), p.len() - 40);
        assert_eq!((p[6], p[7], p[40]), (44, 63, 17));
    }
    assert_eq!([&buf[48..n1], &second[48..n2]].concat(), original);
    // Five pieces of 248 bytes would be needed: refused at four, nothing
    // written; made at five, offsets following on, the last keeping M.
    let before = buf.clone();
    assert_eq!(
        split_v6(&mut buf, 1048, (300, 4), 7, |_, _| panic!("written")),
        None
    );
    assert_eq!(buf, before);
    let mut later = Vec::new();
    let (n1, k) = split_v6(&mut buf, 1048, (300, 5), 7, |h, d| {
        later.push([&h[..], d].concat())
    })
    .expect("five pieces");
    assert_eq!((n1, k), (48 + 248, 4));
    let mut at = 800 + 248;
    for (i, p) in later.iter().enumerate() {
        // M set on every piece: the last keeps the original's, which was.
        assert_eq!(field(p), (at as u16 / 8) << 3 | 1, "piece {}", i + 1);
        assert_eq!(&p[44..48], &0x0102_0304u32.to_be_bytes());
        at += p.len() - 48;
    }
    assert_eq!(at, 800 + 552 + 448);
}

#[test]
fn a_terminal_packet_too_big_for_the_server_port_once_translated_gets_packet_too_big() {
    let mut lab = with_mtu(nat64_lab(1, None), SRV, 1300);
    let send = |lab: &mut Lab, len: usize| {
        let payload = vec![0xa5; len - 48];
        let q = summed6(udp_l4(5353, 53, &payload), 6, TERMINAL, DNS_VIP6, 17);
        let f = frame6(up_macs(), TERMINAL, DNS_VIP6, 17, HOP, 0, &q);
        let (v, out) = lab.up(ACC, &f);
        (v, out, f)
    };
    // 1320 bytes of IPv6 are 1300 of IPv4: they fit.
    let (v, out, _) = send(&mut lab, 1320);
    assert_eq!(v, Verdict::Forward(SRV));
    assert_eq!(out.len(), 14 + 1300);
    let (v, err, sent) = send(&mut lab, 1321);
    assert_eq!(v, Verdict::Forward(ACC));
    assert_eq!(&err[..6], &UE_MAC);
    assert_eq!(&err[12..14], &[0x86, 0xdd]);
    let ip = &err[14..];
    assert_eq!(ip[6], 58, "ICMPv6");
    let src = Ipv6Addr::from(<[u8; 16]>::try_from(&ip[8..24]).unwrap());
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&ip[24..40]).unwrap());
    assert_eq!(
        (src, dst),
        (DNS_VIP6, TERMINAL),
        "from the address it sent to"
    );
    let msg = &ip[40..];
    assert_eq!((msg[0], msg[1]), (2, 0), "Packet Too Big");
    assert_eq!(
        u32::from_be_bytes([msg[4], msg[5], msg[6], msg[7]]),
        1320,
        "the largest IPv6 packet that fits once translated"
    );
    let mut zeroed = msg.to_vec();
    zeroed[2..4].copy_from_slice(&[0, 0]);
    assert_eq!(
        slow_l4_checksum_v6(src, dst, 58, &zeroed).to_be_bytes(),
        [msg[2], msg[3]],
        "ICMPv6 checksum"
    );
    // It quotes the start of the terminal's packet; no more than 1280 in all.
    assert!(ip.len() <= 1280);
    assert_eq!(&msg[8..], &sent[14..14 + ip.len() - 48]);
    assert_eq!(lab.drops(DropReason::Nat64TooBig), 1);
}

#[test]
fn packet_too_big_never_says_less_than_1280() {
    let mut lab = with_mtu(nat64_lab(1, None), SRV, 1200);
    let payload = vec![0xa5; 1300 - 48];
    let q = summed6(udp_l4(5353, 53, &payload), 6, TERMINAL, DNS_VIP6, 17);
    let (v, err) = lab.up(ACC, &frame6(up_macs(), TERMINAL, DNS_VIP6, 17, HOP, 0, &q));
    assert_eq!(v, Verdict::Forward(ACC));
    let msg = &err[14 + 40..];
    assert_eq!(u32::from_be_bytes([msg[4], msg[5], msg[6], msg[7]]), 1280);
}
