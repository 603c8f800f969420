//! The generator's files read back byte by byte: record count and sizes,
//! checksums recomputed from scratch, one distinct 5-tuple per flow, the
//! TCP sequence of each flow, GTP-U framing and refused arguments.

use super::pcap::{FILE_HEADER_LEN, LINKTYPE_ETHERNET, PCAP_MAGIC, RECORD_HEADER_LEN};
use super::workload::{
    Gtpu, Workload, WorkloadError, FIRST_SOURCE_PORT, SERVER_ISN, SOURCE_MAC, START_US,
};
use super::{write_workload, GenArgs, Summary};
use clap::Parser;
use dataplane::wire::checksum::{checksum, l4_checksum};
use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;

fn workload() -> Workload {
    Workload {
        terminals: 7,
        flows_per_terminal: 5,
        udp_percent: 40,
        frame_size: 100,
        vip: Ipv4Addr::new(10, 9, 0, 1),
        vip_port: 80,
        terminal_base: Ipv4Addr::new(10, 8, 0, 0),
        gtpu: None,
        churn: false,
        packets: 105,
        seed: 7,
    }
}

/// (timestamp µs, frame) of every record, after checking the file header.
fn read_pcap(file: &[u8]) -> Vec<(u64, Vec<u8>)> {
    let le32 = |b: &[u8], at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    assert_eq!(le32(file, 0), PCAP_MAGIC);
    assert_eq!(&file[4..8], &[2, 0, 4, 0], "version 2.4");
    assert_eq!(le32(file, 20), LINKTYPE_ETHERNET);
    let mut at = FILE_HEADER_LEN;
    let mut out = Vec::new();
    while at < file.len() {
        let secs = u64::from(le32(file, at));
        let micros = u64::from(le32(file, at + 4));
        let incl = le32(file, at + 8) as usize;
        assert_eq!(incl, le32(file, at + 12) as usize, "captured whole");
        at += RECORD_HEADER_LEN;
        out.push((secs * 1_000_000 + micros, file[at..at + incl].to_vec()));
        at += incl;
    }
    assert_eq!(at, file.len(), "no trailing bytes");
    out
}

fn generate(w: &Workload) -> (Summary, Vec<(u64, Vec<u8>)>) {
    let (s, bytes) = write_workload(w, Vec::new()).unwrap();
    (s, read_pcap(&bytes))
}

/// The decoded inner packet of a frame, every checksum verified.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Decoded {
    teid: Option<u32>,
    proto: u8,
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
    flags: u8,
    seq: u32,
    ack: u32,
    payload: Vec<u8>,
    padding: Vec<u8>,
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Checks an IPv4 packet's header and L4 checksums; returns (header
/// length, total length).
fn check_ip(ip: &[u8]) -> (usize, usize) {
    assert_eq!(ip[0], 0x45, "IPv4 without options");
    let total = usize::from(be16(ip, 2));
    assert!(total <= ip.len());
    assert_eq!(checksum(&ip[..20]), 0, "IPv4 header checksum");
    let src = Ipv4Addr::from(be32(ip, 12));
    let dst = Ipv4Addr::from(be32(ip, 16));
    let l4 = &ip[20..total];
    match ip[9] {
        6 => assert_eq!(l4_checksum(src, dst, 6, l4), 0, "TCP checksum"),
        17 => {
            assert_ne!(be16(l4, 6), 0, "UDP checksum present");
            assert_eq!(l4_checksum(src, dst, 17, l4), 0, "UDP checksum");
            assert_eq!(usize::from(be16(l4, 4)), l4.len(), "UDP length");
        }
        p => panic!("protocol {p}"),
    }
    (20, total)
}

fn decode(frame: &[u8]) -> Decoded {
    assert_eq!(&frame[6..12], &SOURCE_MAC.0);
    assert_eq!(be16(frame, 12), 0x0800);
    let mut ip = &frame[14..];
    let (_, outer_total) = check_ip(ip);
    let mut end = 14 + outer_total;
    let mut teid = None;
    if ip[9] == 17 && be16(ip, 22) == 2152 {
        let gtp = &ip[28..outer_total];
        assert_eq!((gtp[0], gtp[1]), (0x30, 0xff), "plain G-PDU");
        assert_eq!(usize::from(be16(gtp, 2)), gtp.len() - 8, "GTP-U length");
        teid = Some(be32(gtp, 4));
        ip = &gtp[8..];
        let (_, inner_total) = check_ip(ip);
        assert_eq!(inner_total, ip.len(), "inner packet fills the tunnel");
    }
    let (ihl, total) = (20, usize::from(be16(ip, 2)));
    let l4 = &ip[ihl..total];
    let proto = ip[9];
    let (flags, seq, ack, payload) = if proto == 6 {
        assert_eq!(l4[12] >> 4, 5, "no TCP options");
        (l4[13], be32(l4, 4), be32(l4, 8), l4[20..].to_vec())
    } else {
        (0, 0, 0, l4[8..].to_vec())
    };
    if teid.is_none() {
        end = 14 + total;
    }
    Decoded {
        teid,
        proto,
        src: Ipv4Addr::from(be32(ip, 12)),
        sport: be16(l4, 0),
        dst: Ipv4Addr::from(be32(ip, 16)),
        dport: be16(l4, 2),
        flags,
        seq,
        ack,
        payload,
        padding: frame[end..].to_vec(),
    }
}

#[test]
fn file_has_one_record_per_packet_each_of_the_frame_size() {
    for size in [64, 100, 1500] {
        let w = Workload {
            frame_size: size,
            ..workload()
        };
        let (s, frames) = generate(&w);
        assert_eq!(frames.len(), 105);
        assert_eq!(s.frames, 105);
        assert_eq!(s.bytes, 105 * size as u64);
        for (n, (ts, f)) in frames.iter().enumerate() {
            assert_eq!(f.len(), size, "frame {n}");
            assert_eq!(*ts, START_US + n as u64);
        }
    }
}

#[test]
fn every_checksum_is_right() {
    let (_, frames) = generate(&workload());
    let protos: HashSet<u8> = frames.iter().map(|(_, f)| decode(f).proto).collect();
    assert_eq!(protos, HashSet::from([6, 17]), "both protocols checked");
}

#[test]
fn each_flow_is_one_distinct_five_tuple_opened_then_continued() {
    let w = workload();
    let (s, frames) = generate(&w);
    let payload_tcp = w.payload_len(false);
    // 5-tuple -> frames of that flow, in order.
    let mut flows: HashMap<(u8, Ipv4Addr, u16, Ipv4Addr, u16), Vec<Decoded>> = HashMap::new();
    for (_, f) in &frames {
        let d = decode(f);
        assert_eq!((d.dst, d.dport), (w.vip, w.vip_port));
        flows
            .entry((d.proto, d.src, d.sport, d.dst, d.dport))
            .or_default()
            .push(d);
    }
    assert_eq!(flows.len(), 35, "7 terminals x 5 flows");
    let terminals: HashSet<Ipv4Addr> = flows.keys().map(|k| k.1).collect();
    assert_eq!(terminals.len(), 7);
    assert!(terminals.iter().all(|t| {
        let o = t.octets();
        o[..3] == [10, 8, 0] && (1..=7).contains(&o[3])
    }));
    let udp = flows.keys().filter(|k| k.0 == 17).count();
    assert_eq!(udp, 14, "40% of 35 flows are UDP");
    assert_eq!(s.udp_frames, 14 * 3);
    assert_eq!(s.openings, 35);
    for (key, pkts) in &flows {
        assert_eq!(pkts.len(), 3, "flow {key:?}: three rounds");
        assert!(key.2 >= FIRST_SOURCE_PORT && key.2 < FIRST_SOURCE_PORT + 5);
        if key.0 == 6 {
            let syn = &pkts[0];
            assert_eq!(syn.flags, 0x02, "a bare SYN opens the flow");
            assert!(syn.payload.is_empty());
            assert!(syn.padding.iter().all(|&b| b == 0), "SYN padded with zeros");
            assert_eq!(syn.padding.len(), 100 - 54);
            for (r, p) in pkts.iter().enumerate().skip(1) {
                assert_eq!(p.flags, 0x18, "ACK|PSH");
                assert_eq!(p.ack, SERVER_ISN + 1);
                assert_eq!(
                    p.seq,
                    syn.seq
                        .wrapping_add(1)
                        .wrapping_add(((r - 1) * payload_tcp) as u32),
                    "sequence advances by the data sent"
                );
                assert_eq!(p.payload.len(), payload_tcp);
                assert!(p.padding.is_empty());
            }
        } else {
            assert!(pkts.iter().all(|p| p.payload.len() == 100 - 42));
        }
    }
}

#[test]
fn consecutive_packets_belong_to_different_terminals() {
    let (_, frames) = generate(&workload());
    for pair in frames.windows(2) {
        assert_ne!(decode(&pair[0].1).src, decode(&pair[1].1).src);
    }
}

#[test]
fn churn_opens_a_new_flow_with_every_packet() {
    let w = Workload {
        churn: true,
        packets: 35,
        ..workload()
    };
    let (s, frames) = generate(&w);
    assert_eq!(s.openings, 35);
    let mut seen = HashSet::new();
    for (_, f) in &frames {
        let d = decode(f);
        assert!(d.proto == 17 || d.flags == 0x02, "SYN or datagram");
        assert!(seen.insert((d.proto, d.src, d.sport)), "fresh 5-tuple");
    }
    // Past the distinct flows they repeat, still as openings.
    let w = Workload { packets: 40, ..w };
    let (s, frames) = generate(&w);
    assert_eq!(s.openings, 40);
    assert_eq!(decode(&frames[35].1), decode(&frames[0].1));
}

#[test]
fn gtpu_gives_each_terminal_its_own_teid() {
    let w = Workload {
        gtpu: Some(Gtpu {
            peer: Ipv4Addr::new(10, 1, 0, 2),
            endpoint: Ipv4Addr::new(10, 1, 0, 1),
            teid_base: 0x1000,
        }),
        frame_size: 128,
        ..workload()
    };
    let (_, frames) = generate(&w);
    for (_, f) in &frames {
        assert_eq!(f.len(), 128);
        assert_eq!(&f[26..34], &[10, 1, 0, 2, 10, 1, 0, 1], "outer addresses");
        let d = decode(f);
        let terminal = u32::from(d.src) - u32::from(w.terminal_base) - 1;
        assert_eq!(d.teid, Some(0x1000 + terminal));
    }
}

#[test]
fn the_seed_changes_sequence_numbers_not_flows() {
    let a = write_workload(&workload(), Vec::new()).unwrap().1;
    let b = write_workload(&workload(), Vec::new()).unwrap().1;
    assert_eq!(a, b, "same arguments, same file");
    let c = write_workload(
        &Workload {
            seed: 8,
            ..workload()
        },
        Vec::new(),
    )
    .unwrap()
    .1;
    assert_ne!(a, c);
    let (fa, fc) = (read_pcap(&a), read_pcap(&c));
    let (da, dc) = (decode(&fa[0].1), decode(&fc[0].1));
    assert_eq!((da.src, da.sport), (dc.src, dc.sport));
    assert_ne!(da.seq, dc.seq);
}

#[test]
fn impossible_workloads_are_refused() {
    let refused = |w: Workload| w.validate().unwrap_err();
    let base = workload();
    assert_eq!(
        refused(Workload {
            terminals: 0,
            ..base.clone()
        }),
        WorkloadError::NoTerminals
    );
    for flows in [0, 64_513] {
        assert_eq!(
            refused(Workload {
                flows_per_terminal: flows,
                ..base.clone()
            }),
            WorkloadError::FlowsPerTerminal
        );
    }
    assert_eq!(
        refused(Workload {
            udp_percent: 101,
            ..base.clone()
        }),
        WorkloadError::UdpPercent
    );
    for size in [63, 1501] {
        assert_eq!(
            refused(Workload {
                frame_size: size,
                ..base.clone()
            }),
            WorkloadError::FrameSizeRange
        );
    }
    let tunnelled = Workload {
        frame_size: 64,
        gtpu: Some(Gtpu {
            peer: Ipv4Addr::new(10, 1, 0, 2),
            endpoint: Ipv4Addr::new(10, 1, 0, 1),
            teid_base: 1,
        }),
        ..base.clone()
    };
    assert_eq!(
        refused(tunnelled.clone()),
        WorkloadError::FrameSizeHeaders {
            size: 64,
            needed: 90
        }
    );
    assert!(Workload {
        frame_size: 90,
        ..tunnelled
    }
    .validate()
    .is_ok());
    assert!(matches!(
        refused(Workload {
            terminal_base: Ipv4Addr::new(255, 255, 255, 250),
            ..base.clone()
        }),
        WorkloadError::TerminalRange { .. }
    ));
    assert_eq!(
        refused(Workload { packets: 0, ..base }),
        WorkloadError::NoPackets
    );
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: GenArgs,
}

#[test]
fn arguments_default_to_two_packets_per_flow_or_one_when_churning() {
    let parse = |extra: &[&str]| {
        let mut argv = vec!["gen", "--out", "/tmp/x.pcap", "--terminals", "3"];
        argv.extend_from_slice(extra);
        Cli::try_parse_from(argv).unwrap().args.workload()
    };
    let w = parse(&[]);
    assert_eq!((w.flows(), w.packets, w.churn), (30, 60, false));
    assert_eq!(
        (w.vip, w.vip_port, w.frame_size),
        (Ipv4Addr::new(10, 9, 0, 1), 80, 64)
    );
    assert!(w.gtpu.is_none());
    let w = parse(&["--churn", "--gtpu", "--frame-size", "128"]);
    assert_eq!((w.packets, w.churn), (30, true));
    assert_eq!(w.gtpu.map(|g| g.teid_base), Some(0x1000));
    let w = parse(&["--packets", "7"]);
    assert_eq!(w.packets, 7);
    assert!(
        Cli::try_parse_from(["gen", "--terminals", "3"]).is_err(),
        "--out is required"
    );
}

#[test]
fn run_writes_the_file_and_refuses_bad_arguments() {
    let dir = std::env::temp_dir().join(format!("tandem-gen-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("flows.pcap");
    let mut args = Cli::try_parse_from([
        "gen",
        "--out",
        out.to_str().unwrap(),
        "--terminals",
        "4",
        "--flows-per-terminal",
        "2",
    ])
    .unwrap()
    .args;
    assert_eq!(super::run(&args), std::process::ExitCode::SUCCESS);
    let frames = read_pcap(&std::fs::read(&out).unwrap());
    assert_eq!(frames.len(), 16);
    args.frame_size = 10;
    assert_eq!(super::run(&args), std::process::ExitCode::from(2));
    args.frame_size = 64;
    args.out = dir.join("no-such-dir").join("x.pcap");
    assert_eq!(super::run(&args), std::process::ExitCode::from(1));
    std::fs::remove_dir_all(&dir).unwrap();
}
