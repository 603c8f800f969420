//! MSS clamping and DSCP marking (`pipeline/marks.rs`) on byte buffers:
//! the SYN and the SYN-ACK both ways, plain and GTP-U, with every checksum
//! verified from scratch (`decode`).

use super::*;
use crate::wire::checksum::l4_checksum;
use crate::wire::frames::{gtpu_encap, tcp_frame};

const TCP: usize = 34;

/// A TCP frame announcing MSS `mss`, its IPv4 TOS byte `tos`, with valid
/// checksums.
#[allow(clippy::too_many_arguments)]
fn with_mss(
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
    flags: TcpFlags,
    mss: u16,
    tos: u8,
    macs: ([u8; 6], [u8; 6]),
) -> Vec<u8> {
    let [hi, lo] = mss.to_be_bytes();
    let mut f = tcp_frame(
        &spec(src, sport, dst, dport, macs.0, macs.1),
        SYN_ISN,
        if flags.contains(TcpFlags::ACK) {
            SYN_ISN + 1
        } else {
            0
        },
        flags,
        65535,
        // NOP, NOP, SACK permitted, MSS: the MSS is not the first option.
        &[1, 1, 4, 2, 2, 4, hi, lo],
    )
    .unwrap();
    f[TCP + 12] = 7 << 4;
    f[TCP + 16..TCP + 18].copy_from_slice(&[0, 0]);
    let c = l4_checksum(src, dst, 6, &f[TCP..]);
    f[TCP + 16..TCP + 18].copy_from_slice(&c.to_be_bytes());
    f[15] = tos;
    f[24..26].copy_from_slice(&[0, 0]);
    let c = checksum(&f[14..34]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    f
}

fn mss_of(ip_and_on: &[u8]) -> Option<u16> {
    let ihl = usize::from(ip_and_on[0] & 0x0f) * 4;
    crate::wire::tcp_options::mss(&ip_and_on[ihl..])
}

fn clamped(key: SessionKeyMode, clamp: Option<u16>) -> Lab {
    let mut topo = topology();
    topo.set_mss_clamp(ACC, clamp);
    Lab::with_topology(1, 1024, key, PORT_RANGE, topo)
}

/// The policy with DSCP `service` on the web service and `ty` on the
/// (only) user-session type.
fn marked(lab: &Lab, service: Option<u8>, ty: Option<u8>) {
    let mut p = policy();
    p.services.services[0].dscp = service;
    p.classifier.types[0].dscp = ty;
    lab.policy.publish(p);
}

fn clamps(lab: &Lab) -> u64 {
    lab.workers[0].counters().mss_clamped.get()
}

#[test]
fn syn_and_syn_ack_leave_with_the_clamped_mss_and_valid_checksums() {
    let mut lab = clamped(SessionKeyMode::SourceIp, Some(1400));
    let syn = with_mss(
        UE,
        40000,
        VIP,
        80,
        TcpFlags::SYN,
        1460,
        0,
        (UE_MAC, port_mac(ACC)),
    );
    let (v, out) = lab.up(ACC, &syn);
    assert_eq!(v, Verdict::Forward(SRV));
    let o = decode(&out);
    assert_eq!((o.src, o.dport, o.tcp_flags), (GW, 8080, 0x02));
    assert_eq!(mss_of(&out[14..]), Some(1400), "SYN toward the server");
    assert_eq!(out[TCP + 20..TCP + 24], [1, 1, 4, 2], "other options kept");
    assert_eq!(clamps(&lab), 1);

    let syn_ack = with_mss(
        o.dst,
        8080,
        GW,
        o.sport,
        TcpFlags::SYN | TcpFlags::ACK,
        1460,
        0,
        (server_mac(o.dst), port_mac(SRV)),
    );
    let (v, back) = lab.up(SRV, &syn_ack);
    assert_eq!(v, Verdict::Forward(ACC));
    let b = decode(&back);
    assert_eq!((b.src, b.dst, b.dport, b.tcp_flags), (VIP, UE, 40000, 0x12));
    assert_eq!(
        mss_of(&back[14..]),
        Some(1400),
        "SYN-ACK toward the terminal"
    );
    assert_eq!(clamps(&lab), 2);

    // Already below the clamp: unchanged, not counted.
    let small = with_mss(
        UE,
        40001,
        VIP,
        80,
        TcpFlags::SYN,
        1300,
        0,
        (UE_MAC, port_mac(ACC)),
    );
    let (_, out) = lab.up(ACC, &small);
    decode(&out);
    assert_eq!(mss_of(&out[14..]), Some(1300));
    assert_eq!(clamps(&lab), 2);
}

#[test]
fn without_a_clamp_the_mss_passes_unchanged() {
    let mut lab = clamped(SessionKeyMode::SourceIp, None);
    let syn = with_mss(
        UE,
        40000,
        VIP,
        80,
        TcpFlags::SYN,
        1460,
        0,
        (UE_MAC, port_mac(ACC)),
    );
    let (_, out) = lab.up(ACC, &syn);
    decode(&out);
    assert_eq!(mss_of(&out[14..]), Some(1460));
    // A clamp on another access port does not apply here.
    let mut topo = topology();
    topo.set_mss_clamp(ACC2, Some(1200));
    let mut lab = Lab::with_topology(1, 1024, SessionKeyMode::SourceIp, PORT_RANGE, topo);
    let (_, out) = lab.up(ACC, &syn);
    assert_eq!(mss_of(&out[14..]), Some(1460));
    assert_eq!(clamps(&lab), 0);
}

#[test]
fn dscp_is_set_both_ways_keeping_ecn_and_the_type_wins_over_the_service() {
    let mut lab = Lab::new(1);
    marked(&lab, Some(10), None);
    // TOS 0x03: DSCP 0, ECN CE.
    let syn = with_mss(
        UE,
        40000,
        VIP,
        80,
        TcpFlags::SYN,
        1460,
        0x03,
        (UE_MAC, port_mac(ACC)),
    );
    let (_, out) = lab.up(ACC, &syn);
    let o = decode(&out);
    assert_eq!(out[15], 10 << 2 | 0x03, "service DSCP toward the server");
    let reply = with_mss(
        o.dst,
        8080,
        GW,
        o.sport,
        TcpFlags::SYN | TcpFlags::ACK,
        1460,
        0x01,
        (server_mac(o.dst), port_mac(SRV)),
    );
    let (_, back) = lab.up(SRV, &reply);
    decode(&back);
    assert_eq!(back[15], 10 << 2 | 0x01, "service DSCP toward the terminal");

    // The type's DSCP wins; a reload re-marks the live user session.
    marked(&lab, Some(10), Some(46));
    let data = tcp(
        UE,
        40000,
        VIP,
        80,
        TcpFlags::ACK,
        b"x",
        (UE_MAC, port_mac(ACC)),
    );
    let (_, out) = lab.up(ACC, &data);
    decode(&out);
    assert_eq!(out[15] >> 2, 46);

    // No DSCP configured: the TOS byte is left as sent.
    marked(&lab, None, None);
    let syn2 = with_mss(
        UE,
        40001,
        VIP,
        80,
        TcpFlags::SYN,
        1460,
        0xb9,
        (UE_MAC, port_mac(ACC)),
    );
    let (_, out) = lab.up(ACC, &syn2);
    decode(&out);
    assert_eq!(out[15], 0xb9);
}

#[test]
fn gtpu_inner_syn_is_clamped_and_the_outer_header_gets_the_dscp() {
    let mut lab = clamped(SessionKeyMode::GtpTeid, Some(1400));
    marked(&lab, Some(34), None);
    let inner = with_mss(
        UE,
        45000,
        VIP,
        80,
        TcpFlags::SYN,
        1460,
        0,
        (UE_MAC, port_mac(ACC)),
    );
    let enb = Ipv4Addr::new(10, 1, 0, 50);
    let outer = FrameSpec {
        src_mac: MacAddr(UE_MAC),
        dst_mac: MacAddr(port_mac(ACC)),
        vlan: None,
        src_ip: enb,
        dst_ip: Ipv4Addr::new(10, 1, 0, 1),
        src_port: 2152,
        dst_port: 2152,
        ttl: 64,
    };
    let frame = gtpu_encap(&outer, 0x1234_5678, &inner[14..]).unwrap();
    let (v, out) = lab.up(ACC, &frame);
    assert_eq!(v, Verdict::Forward(SRV));
    let o = decode(&out);
    assert_eq!(mss_of(&out[14..]), Some(1400), "inner SYN clamped");
    assert_eq!(out[15] >> 2, 34, "DSCP toward the server");

    let syn_ack = with_mss(
        o.dst,
        8080,
        GW,
        o.sport,
        TcpFlags::SYN | TcpFlags::ACK,
        1460,
        0,
        (server_mac(o.dst), port_mac(SRV)),
    );
    let (v, back) = lab.up(SRV, &syn_ack);
    assert_eq!(v, Verdict::Forward(ACC));
    let outer_ip = &back[14..34];
    assert_eq!(checksum(outer_ip), 0, "outer IPv4 checksum");
    assert_eq!(outer_ip[1] >> 2, 34, "outer DSCP");
    assert_eq!(&outer_ip[16..20], &enb.octets());
    let mut plain = back[..12].to_vec();
    plain.extend_from_slice(&[0x08, 0x00]);
    plain.extend_from_slice(&back[50..]);
    let b = decode(&plain);
    assert_eq!((b.src, b.dst, b.tcp_flags), (VIP, UE, 0x12));
    assert_eq!(plain[15] >> 2, 34, "inner DSCP");
    assert_eq!(mss_of(&plain[14..]), Some(1400), "inner SYN-ACK clamped");
    assert_eq!(clamps(&lab), 2);
}
