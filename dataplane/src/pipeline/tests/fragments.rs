//! IPv4 fragments as the pipeline treats them today (issue 14, item 5:
//! documented, not yet followed): every piece of a fragmented datagram is
//! dropped as `ip_fragment` before any state is touched, whichever port it
//! arrives on, whoever it is addressed to, in a tunnel or not; a packet
//! that only carries DF is not a fragment. docs/operations.md says the same.

use super::*;
use crate::wire::frames::gtpu_encap;

/// Splits the IPv4 packet of `frame` (plain Ethernet, no options) into
/// fragments of at most `chunk` payload bytes (a multiple of 8), each with
/// a correct header checksum, as a sender's kernel would.
fn fragments(frame: &[u8], chunk: usize, ident: u16) -> Vec<Vec<u8>> {
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

#[test]
fn a_udp_datagram_in_three_fragments_is_dropped_in_any_order() {
    let datagram = udp(UE, 40000, DNS_VIP, 53, &[7u8; 40], (UE_MAC, port_mac(ACC)));
    let pieces = fragments(&datagram, 16, 0x4242);
    assert_eq!(pieces.len(), 3);
    let mut lab = Lab::new(1);
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
    // The same datagram whole goes through.
    assert_eq!(lab.up(ACC, &datagram).0, Verdict::Forward(SRV));
}

#[test]
fn fragments_from_servers_to_a_live_user_session_are_dropped() {
    let mut lab = Lab::new(1);
    let (v, out) = lab.up(
        ACC,
        &udp(UE, 40001, DNS_VIP, 53, b"q", (UE_MAC, port_mac(ACC))),
    );
    assert_eq!(v, Verdict::Forward(SRV));
    let gw_port = decode(&out).sport;
    let answer = udp(
        SERVERS[0],
        5353,
        GW,
        gw_port,
        &[9u8; 40],
        (server_mac(SERVERS[0]), port_mac(SRV)),
    );
    for piece in fragments(&answer, 16, 7) {
        assert_eq!(lab.up(SRV, &piece).0, Verdict::Drop(DropReason::Fragment));
    }
    assert_eq!(lab.up(SRV, &answer).0, Verdict::Forward(ACC));
}

#[test]
fn fragmented_pings_to_own_addresses_and_in_tunnels_are_dropped() {
    let mut lab = Lab::new(1);
    let ping = echo(UE, Ipv4Addr::new(10, 1, 0, 1), 5, (UE_MAC, port_mac(ACC)));
    for piece in fragments(&ping, 8, 9) {
        assert_eq!(lab.up(ACC, &piece).0, Verdict::Drop(DropReason::Fragment));
    }
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
    let datagram = udp(UE, 40002, DNS_VIP, 53, &[1u8; 40], (UE_MAC, port_mac(ACC)));
    let first = &fragments(&datagram, 16, 3)[0];
    let tunnelled = gtpu_encap(&outer, 0x99, &first[14..]).unwrap();
    assert_eq!(
        gtp.up(ACC, &tunnelled).0,
        Verdict::Drop(DropReason::Fragment)
    );
}

#[test]
fn dont_fragment_alone_is_not_a_fragment() {
    let mut lab = Lab::new(1);
    let mut df = udp(UE, 40003, DNS_VIP, 53, b"q", (UE_MAC, port_mac(ACC)));
    df[20] = 0x40;
    df[24..26].copy_from_slice(&[0, 0]);
    let c = checksum(&df[14..34]);
    df[24..26].copy_from_slice(&c.to_be_bytes());
    assert_eq!(lab.up(ACC, &df).0, Verdict::Forward(SRV));
}
