//! Fragments through NAT64 (`pipeline/nat64_fragments.rs`): an IPv6
//! terminal's UDP datagram in three fragments reaches the IPv4 server as
//! three IPv4 fragments whose reassembly is the datagram translated, and
//! the server's fragmented answer reaches the terminal as IPv6 fragments
//! whose reassembly is the answer translated; checksums from scratch.

use super::super::fragments::fragments as v4_fragments;
use super::*;

const FRAGMENT: u8 = 44;

/// Splits the IPv6 packet of `frame` (plain Ethernet, no extension
/// header) into fragments of at most `chunk` payload bytes (a multiple of
/// 8), as a sender's kernel would.
fn v6_fragments(frame: &[u8], chunk: usize, ident: u32) -> Vec<Vec<u8>> {
    let (head, payload) = frame.split_at(14 + 40);
    let next = head[14 + 6];
    let mut out = Vec::new();
    let mut at = 0;
    while at < payload.len() {
        let end = (at + chunk).min(payload.len());
        let mut f = head.to_vec();
        f[14 + 4..14 + 6].copy_from_slice(&((8 + end - at) as u16).to_be_bytes());
        f[14 + 6] = FRAGMENT;
        let more = u16::from(end < payload.len());
        f.extend_from_slice(&[next, 0]);
        f.extend_from_slice(&(((at / 8) as u16) << 3 | more).to_be_bytes());
        f.extend_from_slice(&ident.to_be_bytes());
        f.extend_from_slice(&payload[at..end]);
        out.push(f);
        at = end;
    }
    out
}

fn data(n: usize, k: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(k)).collect()
}

#[test]
fn a_fragmented_datagram_crosses_nat64_in_fragments_both_ways() {
    let mut lab = nat64_lab(1, None);
    let question = data(2000, 7);
    let q = summed6(udp_l4(5353, 53, &question), 6, TERMINAL, DNS_VIP6, 17);
    let whole = frame6(up_macs(), TERMINAL, DNS_VIP6, 17, HOP, 0, &q);
    let pieces = v6_fragments(&whole, 800, 0xabcd_1234);
    assert_eq!(pieces.len(), 3);
    let mut up = Vec::new();
    for (i, p) in pieces.iter().enumerate() {
        let (v, o) = lab.up(ACC, p);
        assert_eq!(v, Verdict::Forward(SRV), "piece {i}");
        up.push(o);
    }
    // (`decode` would check the UDP checksum of the piece.)
    let sport = u16::from_be_bytes([up[0][34], up[0][35]]);
    assert_eq!(&up[0][36..38], &5353u16.to_be_bytes());
    let mut reassembled = Vec::new();
    for (i, p) in up.iter().enumerate() {
        let ip = &p[14..];
        assert_eq!(&p[12..14], &[0x08, 0x00], "piece {i}: IPv4");
        assert_eq!(slow_checksum(&ip[..20]), 0, "piece {i}: header checksum");
        assert_eq!(
            &ip[4..6],
            &0x1234u16.to_be_bytes(),
            "piece {i}: low 16 bits of the ID"
        );
        let field = u16::from_be_bytes([ip[6], ip[7]]);
        let more = if i < 2 { 0x2000 } else { 0 };
        assert_eq!(
            field,
            more | (i as u16 * 100),
            "piece {i}: MF and offset, no DF"
        );
        assert_eq!(ip[8], HOP - 1, "piece {i}: TTL");
        assert_eq!(
            (&ip[12..16], &ip[16..20]),
            (&GW.octets()[..], &SERVERS[0].octets()[..])
        );
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        assert_eq!(total, ip.len());
        reassembled.extend_from_slice(&ip[20..]);
    }
    let want = summed4(udp_l4(sport, 5353, &question), 6, GW, SERVERS[0], 17);
    assert_eq!(
        reassembled, want,
        "the datagram, translated, checksum from scratch"
    );
    assert_eq!(lab.live(), 1);

    // The answer, fragmented by the server.
    let answer = data(1500, 13);
    let l4 = summed4(udp_l4(5353, sport, &answer), 6, SERVERS[0], GW, 17);
    let reply = frame4(
        (server_mac(SERVERS[0]), port_mac(SRV)),
        SERVERS[0],
        GW,
        17,
        64,
        0,
        [0, 0, 0, 0],
        &l4,
    );
    let pieces = v4_fragments(&reply, 600, 0x4242);
    assert_eq!(pieces.len(), 3);
    let mut reassembled = Vec::new();
    for (i, p) in pieces.iter().enumerate() {
        let (v, back) = lab.up(SRV, p);
        assert_eq!(v, Verdict::Forward(ACC), "piece {i}");
        assert_eq!(&back[0..6], &UE_MAC);
        assert_eq!(&back[12..14], &[0x86, 0xdd], "piece {i}: IPv6");
        let ip = &back[14..];
        assert_eq!(ip[6], FRAGMENT, "piece {i}: a fragment header");
        assert_eq!(ip[7], 63, "piece {i}: hop limit");
        assert_eq!(&ip[8..24], &DNS_VIP6.octets(), "from the address addressed");
        assert_eq!(&ip[24..40], &TERMINAL.octets());
        let frag = &ip[40..48];
        assert_eq!(frag[0], 17);
        let more = u16::from(i < 2);
        assert_eq!(
            u16::from_be_bytes([frag[2], frag[3]]),
            ((i as u16 * 75) << 3) | more,
            "piece {i}: offset and M"
        );
        assert_eq!(
            &frag[4..8],
            &0x4242u32.to_be_bytes(),
            "piece {i}: the IPv4 ID"
        );
        let payload_len = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
        assert_eq!(payload_len, ip.len() - 40);
        reassembled.extend_from_slice(&ip[48..]);
    }
    let want = summed6(udp_l4(53, 5353, &answer), 6, DNS_VIP6, TERMINAL, 17);
    assert_eq!(
        reassembled, want,
        "the answer, translated, checksum from scratch"
    );
    assert_eq!(lab.live(), 1);
}

#[test]
fn a_later_fragment_without_its_first_is_dropped_and_counted() {
    let mut lab = nat64_lab(1, None);
    let q = summed6(udp_l4(5353, 53, &data(2000, 3)), 6, TERMINAL, DNS_VIP6, 17);
    let whole = frame6(up_macs(), TERMINAL, DNS_VIP6, 17, HOP, 0, &q);
    let pieces = v6_fragments(&whole, 800, 7);
    let (v, _) = lab.up(ACC, &pieces[1]);
    assert_eq!(v, Verdict::Drop(DropReason::FragmentNoFirst));
    // Another datagram's first does not open this one.
    let other = v6_fragments(&whole, 800, 8);
    assert_eq!(lab.up(ACC, &other[0]).0, Verdict::Forward(SRV));
    assert_eq!(
        lab.up(ACC, &pieces[2]).0,
        Verdict::Drop(DropReason::FragmentNoFirst)
    );
    assert_eq!(lab.up(ACC, &other[2]).0, Verdict::Forward(SRV));
    assert_eq!(lab.drops(DropReason::FragmentNoFirst), 2);
}
