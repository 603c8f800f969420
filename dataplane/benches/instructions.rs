//! A fixed amount of work for `scripts/instructions.sh` to count under
//! callgrind (not a timing benchmark): the established path at N live user
//! sessions, a given number of 32-frame bursts through the prefetch pass and
//! the pipeline, exactly as `pipeline.rs`'s `established/pipeline/N` runs
//! them.
//!
//! Usage: `instructions SESSIONS BURSTS [bitrate|bitrate_type|type_only|proxy_on|proxy_off|encapsulate|decap_tier2|nat64|nat64_down|nat66|nat66_down]`
//! (`bitrate`: every subscriber has a bitrate limit that drops nothing, see
//! `Lab::limit_bitrate`; `bitrate_type`: and the traffic's user-session
//! type has one of its own, `Lab::limit_type_bitrate`; `proxy_on`: the service sends PROXY protocol
//! headers, each server has acknowledged its header, and the data segments
//! are past the first byte, as `proxy_v2/proxied/N` in `pipeline.rs`;
//! `proxy_off`: the same traffic to a service without the option;
//! `encapsulate` and `decap_tier2`: the two ends of the cluster fabric, as
//! `pipeline.rs`'s `fabric/*/N`; `nat64`: IPv6 terminals, one /64 each,
//! to the web VIP through the NAT64 prefix (`64:ff9b::10.9.0.1`), the same
//! data segments in IPv6, translated to IPv4 toward the servers;
//! `nat64_down`: the servers' data segments to those user sessions,
//! translated into IPv6 toward the terminals; `nat66` and `nat66_down`:
//! the same with IPv6 servers, IPv6 → IPv6 full NAT both ways). The script
//! runs it twice (B and 2B
//! bursts) and subtracts, so the set-up cancels out; callgrind's
//! `--toggle-collect` on [`measured_burst`] and on `Worker::process` splits
//! the figure into the pipeline and the prefetch pass plus burst loop.

mod lab;

use dataplane::pipeline::Verdict;
use dataplane::wire::TcpFlags;
use lab::nat66::{check_rewritten, server_segment6, write_data66};
use lab::{
    check_translated, server_segment, write_data, write_data6, write_data_at, FabricPair,
    FramePool, Lab, Rng, Setup, ACC, BURST, SRV,
};
use std::hint::black_box;

/// Flows per terminal, as in `pipeline.rs`.
const FLOWS_PER_TERMINAL: u64 = 8;

/// One burst's prefetch pass and pipeline (not the copy into the burst
/// buffers): the unit callgrind counts.
#[inline(never)]
fn measured_burst(lab: &mut Lab) -> usize {
    lab.process_burst()
}

/// `bursts` bursts of frames from `pool` through `lab`, the measured part;
/// a fast wrong answer must not count: every frame forwarded, none
/// dropped (the caller checks what they became).
fn run_bursts(lab: &mut Lab, pool: &FramePool, bursts: u64) {
    let mut cursor = 0;
    let dropped = lab.dropped();
    let mut forwarded = 0u64;
    for _ in 0..bursts {
        lab.copy_burst(pool, &mut cursor);
        forwarded += measured_burst(black_box(&mut *lab)) as u64;
    }
    assert_eq!(forwarded, bursts * BURST as u64, "every frame forwarded");
    assert_eq!(lab.dropped(), dropped, "no drops");
}

/// One end of the fabric: `bursts` bursts through the tier-1 unit
/// (`encapsulate`) or the gateway.
fn fabric(setup: &Setup, n: u64, bursts: u64, encapsulate: bool) {
    let picks = Rng(n).permutation(n);
    let FabricPair {
        tier1,
        gateway,
        plain,
        wrapped,
    } = FabricPair::new(setup, n, FLOWS_PER_TERMINAL, &picks);
    let (mut lab, pool) = if encapsulate {
        (tier1, plain)
    } else {
        (gateway, wrapped)
    };
    run_bursts(&mut lab, &pool, bursts);
    if !encapsulate {
        for f in &lab.frames {
            check_translated(dataplane::frame::Frame::bytes(f), setup.gateway_addrs);
        }
    }
    println!("packets {}", bursts * BURST as u64);
}

fn arg(i: usize, what: &str) -> u64 {
    std::env::args()
        .nth(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("usage: instructions SESSIONS BURSTS ({what} missing)"))
}

/// The NAT64 downlink: IPv6 terminals' user sessions as `nat64` opens
/// them, each answered once (SYN-ACK, not counted), then the servers' data
/// segments, translated into IPv6 toward the terminals, in bursts.
fn nat64_down(setup: &Setup, n: u64, bursts: u64) {
    let mut lab = Lab::nat64(setup);
    lab.pin_terminals6(n.div_ceil(FLOWS_PER_TERMINAL));
    lab.open6(0, n, FLOWS_PER_TERMINAL);
    let sessions: Vec<_> = lab.worker.table().iter().map(|(_, e)| *e).collect();
    assert_eq!(sessions.len() as u64, n);
    lab.in_port = SRV;
    for (i, e) in sessions.iter().enumerate() {
        if i % 4096 == 0 {
            lab.worker.begin_burst();
        }
        let syn_ack = server_segment(e, (5000, 1001, TcpFlags::SYN | TcpFlags::ACK), false);
        assert_eq!(lab.process(&syn_ack), Verdict::Forward(ACC), "SYN-ACK {i}");
    }
    let picks = Rng(n).permutation(n);
    let frames: Vec<Vec<u8>> = picks
        .iter()
        .map(|&i| {
            server_segment(
                &sessions[i as usize],
                (5001, 1001, TcpFlags::ACK | TcpFlags::PSH),
                true,
            )
        })
        .collect();
    let pool = FramePool::from_frames(&frames);
    run_bursts(&mut lab, &pool, bursts);
    for f in &lab.frames {
        let b = dataplane::frame::Frame::bytes(f);
        assert_eq!(&b[12..14], &[0x86, 0xdd], "IPv6 toward the terminal");
        let src = std::net::Ipv6Addr::from(<[u8; 16]>::try_from(&b[22..38]).expect("16 bytes"));
        let dst = std::net::Ipv6Addr::from(<[u8; 16]>::try_from(&b[38..54]).expect("16 bytes"));
        assert!(
            dataplane::wire::checksum::l4_verifies_v6(src, dst, 6, &b[54..]),
            "TCP checksum over IPv6"
        );
    }
    println!("packets {}", bursts * BURST as u64);
}

/// IPv6 → IPv6 full NAT (issue 14): IPv6 terminals, one /64 each, to the
/// IPv6 VIP of "web66" whose servers are IPv6; the same data segments
/// rewritten toward the servers (`nat66`), or the servers' data segments
/// rewritten back toward the terminals (`nat66_down`).
fn nat66(setup: &Setup, n: u64, bursts: u64, down: bool) {
    let mut lab = Lab::nat66(setup);
    let ends = lab.open66(n, FLOWS_PER_TERMINAL);
    let picks = Rng(n).permutation(n);
    let pool = if down {
        lab.in_port = SRV;
        let frames: Vec<Vec<u8>> = picks
            .iter()
            .map(|&i| {
                let (server, gw) = ends[i as usize];
                server_segment6(server, gw, 0x18, true)
            })
            .collect();
        FramePool::from_frames(&frames)
    } else {
        FramePool::new(picks.iter().copied(), |s, out| {
            write_data66(s, FLOWS_PER_TERMINAL, out)
        })
    };
    run_bursts(&mut lab, &pool, bursts);
    // From the VIP to the terminal, or from a gateway address.
    let gateways: Vec<_> = ends.iter().map(|e| e.1 .0).collect();
    for f in &lab.frames {
        check_rewritten(dataplane::frame::Frame::bytes(f), |a| {
            if down {
                a == lab::nat66::VIP66
            } else {
                gateways.contains(&a)
            }
        });
    }
    println!("packets {}", bursts * BURST as u64);
}

fn main() {
    // `cargo bench` passes `--bench`: run nothing then.
    if std::env::args().any(|a| a.starts_with("--")) {
        return;
    }
    let n = arg(1, "SESSIONS");
    let bursts = arg(2, "BURSTS");
    let setup = Setup::for_sessions(n);
    let mode = std::env::args().nth(3);
    if let Some(end @ ("encapsulate" | "decap_tier2")) = mode.as_deref() {
        fabric(&setup, n, bursts, end == "encapsulate");
        return;
    }
    if let Some(m @ ("nat66" | "nat66_down")) = mode.as_deref() {
        nat66(&setup, n, bursts, m == "nat66_down");
        return;
    }
    if mode.as_deref() == Some("nat64_down") {
        nat64_down(&setup, n, bursts);
        return;
    }
    let mode = std::env::args().nth(3).unwrap_or_default();
    let nat64 = mode == "nat64";
    let mut lab = if nat64 {
        Lab::nat64(&setup)
    } else {
        Lab::new(&setup)
    };
    match mode.as_str() {
        "bitrate" => lab.limit_bitrate(),
        "bitrate_type" => lab.limit_type_bitrate(),
        "type_only" => lab.limit_type_bitrate_only(),
        "proxy_on" => lab.proxy_protocol(),
        _ => {}
    }
    if nat64 {
        lab.pin_terminals6(n.div_ceil(FLOWS_PER_TERMINAL));
        lab.open6(0, n, FLOWS_PER_TERMINAL);
    } else {
        lab.pin_terminals(n.div_ceil(FLOWS_PER_TERMINAL));
        lab.open(0, n, FLOWS_PER_TERMINAL);
    }
    assert_eq!(u64::from(lab.worker.table().len()), n);
    let proxy_traffic = mode.starts_with("proxy_");
    if proxy_traffic {
        lab.acknowledge_headers(n, FLOWS_PER_TERMINAL);
    }
    let picks = Rng(n).permutation(n);
    let pool = FramePool::new(picks.iter().copied(), |s, out| {
        if proxy_traffic {
            write_data_at(s, FLOWS_PER_TERMINAL, 1101, out)
        } else if nat64 {
            write_data6(s, FLOWS_PER_TERMINAL, out)
        } else {
            write_data(s, FLOWS_PER_TERMINAL, out)
        }
    });
    run_bursts(&mut lab, &pool, bursts);
    for f in &lab.frames {
        check_translated(dataplane::frame::Frame::bytes(f), setup.gateway_addrs);
    }
    println!("packets {}", bursts * BURST as u64);
}
