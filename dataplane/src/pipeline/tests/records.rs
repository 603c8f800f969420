//! The prefetch pass's frame records: a frame processed with the record the
//! pass made of it ends exactly as one the pipeline parses itself (same
//! verdict, same bytes, same drop reason), for well-formed and mangled
//! frames, handed off (with the record carried, not parsed again) or not; a
//! record of another frame is not used.

use super::*;
use crate::prefetch::NoPrefetch;
use crate::wire::frames::gtpu_encap;
use proptest::prelude::*;

/// [`Lab::run`] through `prefetch_records` and `process_recorded`, and how
/// many times the frame was handed off (with its record).
fn run_recorded(
    lab: &mut Lab,
    w: usize,
    port: u16,
    frame: &[u8],
) -> ((Verdict, Vec<u8>, usize), usize) {
    for wk in &mut lab.workers {
        wk.begin_burst();
    }
    let mut records = [FrameRecord::UNREAD; 1];
    let read = lab.workers[w].prefetch_records([(frame, port)], &NoPrefetch, &mut records);
    assert_eq!(read, 1);
    let mut f = VecFrame::new(frame);
    let (now, ev) = (lab.now, &mut lab.events);
    let mut v = lab.workers[w].process_recorded(&mut f, &records[0], Ingress::Port, port, now, ev);
    let mut at = w;
    let mut handoffs = 0;
    while let Verdict::Handoff(t) = v {
        at = usize::from(t);
        // The record travels with the frame: the receiving worker's
        // prefetch pass does not read the frame, and its pipeline uses the
        // record instead of parsing.
        records[0] = records[0].carried();
        lab.workers[at].prefetch_carried(&mut records, &NoPrefetch);
        assert!(
            records[0].describes(f.len(), port),
            "a handed-off frame without its record"
        );
        handoffs += 1;
        let (now, ev) = (lab.now, &mut lab.events);
        v = lab.workers[at].process_recorded(&mut f, &records[0], Ingress::Handoff, port, now, ev);
    }
    ((v, f.bytes().to_vec(), at), handoffs)
}

/// Frames of every kind the pipeline tells apart, on the ports they
/// arrive on, after a SYN has opened a user session.
fn corpus() -> Vec<(u16, Vec<u8>)> {
    let mut vlan = tcp(
        UE,
        40000,
        VIP,
        80,
        TcpFlags::ACK,
        b"v",
        (UE_MAC, port_mac(ACC)),
    );
    vlan.splice(12..12, [0x81, 0x00, 0x00, 0x07]);
    vec![
        (ACC, syn(UE, 40000, VIP, 80)),
        (
            ACC,
            tcp(
                UE,
                40000,
                VIP,
                80,
                TcpFlags::ACK,
                b"data",
                (UE_MAC, port_mac(ACC)),
            ),
        ),
        (
            ACC,
            udp(UE, 5353, DNS_VIP, 53, b"q", (UE_MAC, port_mac(ACC))),
        ),
        (ACC, echo(UE, VIP, 7, (UE_MAC, port_mac(ACC)))),
        (ACC, vlan),
        (
            SRV,
            echo(SERVERS[0], GW, 9, (server_mac(SERVERS[0]), port_mac(SRV))),
        ),
        (
            SRV,
            tcp(
                SERVERS[0],
                8080,
                GW,
                1024,
                TcpFlags::ACK,
                b"r",
                (server_mac(SERVERS[0]), port_mac(SRV)),
            ),
        ),
    ]
}

/// The same frames in GTP-U tunnels from an eNodeB (TEID mode), plus a
/// UDP datagram to port 2152 that is no G-PDU.
fn gtp_corpus() -> Vec<(u16, Vec<u8>)> {
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
    let mut frames: Vec<(u16, Vec<u8>)> = corpus()
        .into_iter()
        .filter(|(port, _)| *port == ACC)
        .filter_map(|(_, f)| Some((ACC, gtpu_encap(&outer, 0x1234_5678, &f[14..]).ok()?)))
        .collect();
    frames.push((
        ACC,
        udp(
            Ipv4Addr::new(10, 1, 0, 50),
            2152,
            Ipv4Addr::new(10, 1, 0, 1),
            2152,
            b"not gtp",
            (UE_MAC, port_mac(ACC)),
        ),
    ));
    frames.extend(corpus().into_iter().filter(|(port, _)| *port == SRV));
    frames
}

/// Both ways, on two labs built alike: (verdict, bytes) and drop counts;
/// how many hand-offs the recorded way made.
fn both_ways(frames: &[(u16, Vec<u8>)], workers: u16) -> usize {
    both_ways_in(frames, || Lab::new(workers))
}

/// [`both_ways`] in labs `lab` builds.
fn both_ways_in(frames: &[(u16, Vec<u8>)], lab: impl Fn() -> Lab) -> usize {
    let mut parsed = lab();
    let mut recorded = lab();
    let mut handoffs = 0;
    for (port, frame) in frames {
        let w = if *port == ACC { parsed.owner_of(UE) } else { 0 };
        let a = parsed.run(w, *port, frame);
        let (b, n) = run_recorded(&mut recorded, w, *port, frame);
        assert_eq!(a, b, "port {port}, frame {frame:02x?}");
        handoffs += n;
    }
    for r in DropReason::ALL {
        assert_eq!(parsed.drops(*r), recorded.drops(*r), "{r:?}");
    }
    handoffs
}

#[test]
fn recorded_frames_end_like_parsed_ones() {
    let mut lab = Lab::new(1);
    assert_eq!(lab.up(ACC, &corpus()[0].1).0, Verdict::Forward(SRV));
    assert_eq!(both_ways(&corpus(), 1), 0);
    // Replies to a gateway port another worker owns are handed off.
    both_ways(&corpus(), 2);
}

/// A frame handed to another worker carries its record there: it is not
/// parsed again (`describes`: the receiving pipeline uses the record) and
/// ends byte for byte as when the receiving worker parses it.
#[test]
fn handed_off_frames_carry_their_record() {
    // Terminals whose sessions other workers own: their frames arrive on
    // the worker that owns UE and are handed off (the data segments find
    // their user session there only with the receiving worker's own flow
    // index hash); replies to gateway ports all over the range, received
    // by worker 0, go to the worker that owns the port.
    let mut frames = Vec::new();
    for i in 1..=8u8 {
        let ue = Ipv4Addr::new(10, 8, 0, 100 + i);
        let macs = (UE_MAC, port_mac(ACC));
        frames.push((ACC, syn(ue, 40000, VIP, 80)));
        frames.push((ACC, tcp(ue, 40000, VIP, 80, TcpFlags::ACK, b"data", macs)));
        frames.push((ACC, udp(ue, 5353, DNS_VIP, 53, b"q", macs)));
    }
    for k in 0..8u16 {
        let macs = (server_mac(SERVERS[0]), port_mac(SRV));
        let port = PORT_RANGE.0 + k * 8000;
        frames.push((
            SRV,
            tcp(SERVERS[0], 8080, GW, port, TcpFlags::ACK, b"r", macs),
        ));
    }
    assert!(both_ways(&frames, 2) > 0, "nothing was handed off");
    assert!(both_ways(&frames, 4) > 0, "nothing was handed off");
}

/// The slot the pass noted for a terminal's flow is only a guess: one
/// naming another session's slot, or no slot at all, still finds the
/// frame's own user session (the same bytes as without a record).
#[test]
fn a_wrong_candidate_slot_is_not_used() {
    let data = |sport| {
        tcp(
            UE,
            sport,
            VIP,
            80,
            TcpFlags::ACK,
            b"data",
            (UE_MAC, port_mac(ACC)),
        )
    };
    let mut parsed = Lab::new(1);
    let mut recorded = Lab::new(1);
    for lab in [&mut parsed, &mut recorded] {
        for sport in [40000, 40001] {
            assert_eq!(
                lab.up(ACC, &syn(UE, sport, VIP, 80)).0,
                Verdict::Forward(SRV)
            );
        }
    }
    let expected = parsed.run(0, ACC, &data(40000));
    let frame = data(40000);
    let mut records = [FrameRecord::UNREAD; 2];
    let other = data(40001);
    let w = &mut recorded.workers[0];
    w.begin_burst();
    w.prefetch_records(
        [(&frame[..], ACC), (&other[..], ACC)],
        &NoPrefetch,
        &mut records,
    );
    let own = records[0].parsed.client_candidate;
    let theirs = records[1].parsed.client_candidate;
    assert!(own.is_some() && theirs.is_some() && own != theirs);
    for wrong in [theirs, Some(u32::MAX)] {
        let mut record = records[0];
        record.parsed.client_candidate = wrong;
        let mut f = VecFrame::new(&frame);
        let (now, ev) = (recorded.now, &mut recorded.events);
        let v = recorded.workers[0].process_recorded(&mut f, &record, Ingress::Port, ACC, now, ev);
        assert_eq!((v, f.bytes().to_vec(), 0), expected);
    }
}

#[test]
fn a_record_of_another_frame_is_not_used() {
    let mut lab = Lab::new(1);
    lab.workers[0].begin_burst();
    let syn_frame = syn(UE, 40000, VIP, 80);
    let data = tcp(
        UE,
        40000,
        VIP,
        80,
        TcpFlags::ACK,
        b"longer payload",
        (UE_MAC, port_mac(ACC)),
    );
    let mut records = [FrameRecord::UNREAD; 1];
    lab.workers[0].prefetch_records([(&data[..], ACC)], &NoPrefetch, &mut records);
    // The SYN with the data segment's record: still opens its session.
    let mut f = VecFrame::new(&syn_frame);
    let (now, ev) = (lab.now, &mut lab.events);
    let v = lab.workers[0].process_recorded(&mut f, &records[0], Ingress::Port, ACC, now, ev);
    assert_eq!(v, Verdict::Forward(SRV));
    assert_eq!(decode(f.bytes()).tcp_flags, 0x02);
}

/// IPv6 frames (answered ND and echo, in a VLAN, not served) next to an
/// IPv4 SYN: the record decides as parsing does.
fn ipv6_corpus() -> Vec<(u16, Vec<u8>)> {
    use super::ipv6::{echo_request, ns, solicited_node};
    vec![
        (ACC, syn(UE, 40000, VIP, 80)),
        (ACC, ns(UE_V6, solicited_node(ACC_V6), ACC_V6, 255, None)),
        (ACC, ns(UE_V6, solicited_node(ACC_V6), ACC_V6, 255, Some(9))),
        (ACC, ns(UE_V6, solicited_node(ACC_V6), ACC_V6, 64, None)),
        (ACC, echo_request(UE_V6, ACC_V6, None)),
        (ACC, echo_request(UE_V6, SRV_V6, None)),
        (SRV, echo_request(UE_V6, SRV_V6, Some(3))),
    ]
}

#[test]
fn recorded_ipv6_frames_end_like_parsed_ones() {
    assert_eq!(both_ways(&ipv6_corpus(), 1), 0);
    assert_eq!(both_ways(&ipv6_corpus(), 2), 0, "IPv6 is never handed off");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// IPv6 frames with some bytes changed or cut short, on any port.
    #[test]
    fn mangled_ipv6_frames_end_alike(
        pick in 1usize..7,
        edits in prop::collection::vec((0usize..100, any::<u8>()), 0..6),
        cut in prop::option::of(0usize..100),
        port in 0u16..5,
    ) {
        let mut frames = ipv6_corpus();
        let mut frame = frames[pick].1.clone();
        for (at, byte) in edits {
            if let Some(b) = frame.get_mut(at) {
                *b = byte;
            }
        }
        if let Some(n) = cut {
            frame.truncate(n);
        }
        frames.truncate(1);
        frames.push((port, frame));
        both_ways(&frames, 1);
    }

    /// Any corpus frame with some bytes changed (or cut short), on any
    /// port: the record changes nothing the pipeline decides.
    #[test]
    fn mangled_frames_end_alike(
        pick in 0usize..7,
        edits in prop::collection::vec((0usize..80, any::<u8>()), 0..6),
        cut in prop::option::of(0usize..80),
        port in 0u16..5,
    ) {
        let mut frames = corpus();
        let mut frame = frames[pick].1.clone();
        for (at, byte) in edits {
            if let Some(b) = frame.get_mut(at) {
                *b = byte;
            }
        }
        if let Some(n) = cut {
            frame.truncate(n);
        }
        frames.truncate(1); // the SYN first: a session to find
        frames.push((port, frame));
        both_ways(&frames, 1);
    }

    /// The same for tunnelled frames in TEID mode (the tunnel headers
    /// mangled too).
    #[test]
    fn mangled_tunnelled_frames_end_alike(
        pick in 0usize..8,
        edits in prop::collection::vec((0usize..110, any::<u8>()), 0..6),
        cut in prop::option::of(0usize..110),
    ) {
        let mut frames = gtp_corpus();
        let pick = pick % frames.len();
        let mut frame = frames[pick].1.clone();
        for (at, byte) in edits {
            if let Some(b) = frame.get_mut(at) {
                *b = byte;
            }
        }
        if let Some(n) = cut {
            frame.truncate(n);
        }
        let port = frames[pick].0;
        frames.truncate(1);
        frames.push((port, frame));
        both_ways_in(&frames, || Lab::with(1, 1024, SessionKeyMode::GtpTeid, PORT_RANGE));
    }
}

/// The record is small and fixed: each handoff ring holds one per frame
/// beside the mbuf (docs/configuration.md gives the memory this costs).
#[test]
fn a_frame_record_stays_small() {
    assert!(std::mem::size_of::<FrameRecord>() <= 144);
}
