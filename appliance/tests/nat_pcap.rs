//! Golden tests of the terminal → server direction through the real binary:
//! frames are replayed into the access port from a pcap file (net_pcap
//! `rx_pcap`) and what tandem transmits is recorded per tx queue
//! (`tx_pcap`, one file per queue: worker `w` sends on queue `w`, the
//! control plane on the last one). Every field of every translated frame
//! is checked, checksums with this crate's own from-scratch code.
//!
//! net_pcap reads its input once, at start, so a run cannot answer what it
//! sent: replies coming back are tested through net_tap in `nat_tap.rs`.

mod common;

use common::golden::*;
use common::packet::{Frame, PROTO_ICMP, PROTO_TCP, PROTO_UDP};
use common::tandem::{assert_clean_exit, port_mac, stats, Tandem};
use common::{file_prefix, pcap, wait_until, Scratch};
use dataplane::wire::frames::{arp_frame, icmp_echo_frame, tcp_frame, udp_frame};
use dataplane::wire::{ArpOp, ArpRepr, MacAddr, TcpFlags};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::time::Duration;
#[test]
fn access_traffic_is_translated_spread_and_answered() {
    let test = "golden";
    let scratch = Scratch::new(test);
    let prefix = file_prefix(test);

    // Six TCP flows: three terminals, two flows each.
    let flows: Vec<(Ipv4Addr, u16)> = (0..6u16)
        .map(|i| (Ipv4Addr::new(10, 1, 0, 100 + (i / 2) as u8), 30_000 + i))
        .collect();
    let mut input: Vec<Vec<u8>> = flows
        .iter()
        .enumerate()
        .map(|(i, &(t, p))| syn(t, p, WEB_VIP, 80, 1000 * i as u32))
        .collect();
    let (t0, p0) = flows[0];
    // 6: the first flow's next segment, with data.
    input.push(
        tcp_frame(
            &spec(t0, p0, WEB_VIP, 80),
            1,
            77,
            TcpFlags::ACK | TcpFlags::PSH,
            64_240,
            b"GET / HTTP/1.0\r\n\r\n",
        )
        .expect("data frame"),
    );
    // 7: a UDP query to the DNS service.
    input.push(udp_frame(&spec(t0, 5000, DNS_VIP, 53), b"query").expect("UDP frame"));
    // Dropped: no service on port 81; a flow that does not start with SYN;
    // TTL 1 (counted as a drop and answered with ICMP time exceeded).
    input.push(syn(t0, 30_100, WEB_VIP, 81, 5));
    input.push(
        tcp_frame(
            &spec(t0, 30_101, WEB_VIP, 80),
            9,
            9,
            TcpFlags::ACK,
            64_240,
            b"late",
        )
        .expect("ACK frame"),
    );
    let mut ttl1 = spec(t0, 30_102, WEB_VIP, 80);
    ttl1.ttl = 1;
    input.push(tcp_frame(&ttl1, 1, 0, TcpFlags::SYN, 1000, b"").expect("TTL 1 frame"));
    // Answered on the access port: ARP for its address, ping to the VIP.
    let who_has = ArpRepr {
        op: ArpOp::Request,
        sender_mac: terminal_mac(t0),
        sender_ip: t0,
        target_mac: MacAddr::ZERO,
        target_ip: ACCESS_ADDR,
    };
    input.push(arp_frame(&who_has, terminal_mac(t0), MacAddr::BROADCAST, None).expect("ARP"));
    input
        .push(icmp_echo_frame(&spec(t0, 0, WEB_VIP, 0), 0x4242, 7, b"ping payload").expect("echo"));

    let (acc_vdev, acc_out) = pcap_vdev(&scratch, 0, &input, 2);
    let (srv_vdev, srv_out) = pcap_vdev(&scratch, 1, &[], 2);
    let config = pcap_config(
        &prefix,
        "0-1",
        &[&acc_vdev, &srv_vdev],
        &access_and_server_ports(),
        ONE_WORKER,
        "",
    );
    let mut tandem = Tandem::start(&scratch.dir, &prefix, &config);
    tandem.wait_running();
    wait_frames(&[(&srv_out[0], 8), (&acc_out[0], 3)]);
    let exit = tandem.stop();
    assert_clean_exit(&exit);
    let acc_mac = port_mac(&exit.log, "acc0");
    let srv_mac = port_mac(&exit.log, "srv0");
    assert_ne!(acc_mac, srv_mac);
    // Thirteen frames in: eleven sent (eight translated, three answers),
    // three dropped (the TTL-1 frame is both: dropped ttl_expired and
    // answered); seven user sessions (six TCP, one UDP).
    let s = stats(&exit.log);
    let counted = (s["rx"], s["tx"], s["dropped"], s["created"]);
    assert_eq!(counted, (13, 11, 3, 7), "{s:?}");

    // Towards the servers: exactly the eight frames that had a service.
    let to_servers = pcap::read(&srv_out[0]);
    assert_eq!(to_servers.len(), 8, "frames sent to servers");
    let mut per_server: BTreeMap<Ipv4Addr, usize> = BTreeMap::new();
    let mut gw_ports = BTreeSet::new();
    let mut first_flow = None;
    for (i, (out, &(t, p))) in to_servers.iter().zip(&flows).enumerate() {
        let payload = format!("syn {t}:{p}");
        let (server, gw_port) = check_translated(out, srv_mac, PROTO_TCP, 8080, payload.as_bytes());
        let ip = Frame::new(out).ipv4();
        assert_eq!(ip.tcp_flags(), 0x02, "still a bare SYN");
        assert_eq!(ip.tcp_seq(), 1000 * i as u32, "sequence number unchanged");
        *per_server.entry(server).or_default() += 1;
        assert!(
            gw_ports.insert(gw_port),
            "gateway port {gw_port} used twice"
        );
        if i == 0 {
            first_flow = Some((server, gw_port));
        }
    }
    let expected: BTreeMap<Ipv4Addr, usize> = SERVERS.iter().map(|(a, _)| (*a, 2)).collect();
    assert_eq!(per_server, expected, "least load: two flows per server");

    // The first flow's data segment follows its SYN's translation.
    let (server, gw_port) = check_translated(
        &to_servers[6],
        srv_mac,
        PROTO_TCP,
        8080,
        b"GET / HTTP/1.0\r\n\r\n",
    );
    assert_eq!(Some((server, gw_port)), first_flow, "same user session");
    let ip = Frame::new(&to_servers[6]).ipv4();
    assert_eq!((ip.tcp_flags(), ip.tcp_seq()), (0x18, 1));

    // The UDP query: its own gateway port, the DNS server's port.
    let (server, gw_port) = check_translated(&to_servers[7], srv_mac, PROTO_UDP, 5353, b"query");
    assert_eq!(server, SERVERS[0].0);
    assert!(gw_ports.insert(gw_port), "UDP got a port already in use");

    // On the access port: the time exceeded, the ARP reply, then the echo
    // reply.
    let to_terminals = pcap::read(&acc_out[0]);
    assert_eq!(to_terminals.len(), 3, "frames sent to terminals");
    let f = Frame::new(&to_terminals[0]);
    assert_eq!((f.dst_mac(), f.src_mac()), (terminal_mac(t0).0, acc_mac));
    let ip = f.ipv4();
    assert_eq!(
        (ip.src(), ip.dst(), ip.proto()),
        (ACCESS_ADDR, t0, PROTO_ICMP)
    );
    assert!(ip.l4_checksum_ok(), "ICMP checksum");
    let icmp = ip.l4();
    assert_eq!((icmp[0], icmp[1]), (11, 0), "time exceeded in transit");
    // It quotes the expired SYN: its addresses and ports.
    let quoted = &icmp[8..];
    assert_eq!(&quoted[12..16], &t0.octets());
    assert_eq!(&quoted[16..20], &WEB_VIP.octets());
    assert_eq!(&quoted[20..24], &[117, 150, 0, 80], "ports 30102 -> 80");
    let to_terminals = &to_terminals[1..];
    let f = Frame::new(&to_terminals[0]);
    assert_eq!((f.dst_mac(), f.src_mac()), (terminal_mac(t0).0, acc_mac));
    let arp = f.arp();
    assert_eq!(arp.op(), 2, "ARP reply");
    assert_eq!((arp.sender_ip(), arp.sender_mac()), (ACCESS_ADDR, acc_mac));
    assert_eq!(
        (arp.target_ip(), arp.target_mac()),
        (t0, terminal_mac(t0).0)
    );

    let f = Frame::new(&to_terminals[1]);
    assert_eq!((f.dst_mac(), f.src_mac()), (terminal_mac(t0).0, acc_mac));
    let ip = f.ipv4();
    assert_eq!((ip.src(), ip.dst(), ip.proto()), (WEB_VIP, t0, PROTO_ICMP));
    assert!(ip.l4_checksum_ok(), "ICMP checksum");
    let icmp = ip.l4();
    assert_eq!((icmp[0], icmp[1]), (0, 0), "echo reply");
    assert_eq!(&icmp[4..8], &[0x42, 0x42, 0, 7], "identifier and sequence");
    assert_eq!(ip.payload(), b"ping payload");

    // The control plane's own queue: gratuitous ARP for the gateway
    // address and the port address, from the server port.
    let announced: BTreeSet<Ipv4Addr> = pcap::read(&srv_out[1])
        .iter()
        .map(|b| Frame::new(b))
        .filter(|f| f.ethertype() == common::packet::ETHERTYPE_ARP)
        .map(|f| {
            assert_eq!(f.src_mac(), srv_mac);
            let a = f.arp();
            assert_eq!(a.sender_ip(), a.target_ip(), "gratuitous");
            a.sender_ip()
        })
        .collect();
    assert!(
        announced.contains(&GATEWAY) && announced.contains(&Ipv4Addr::new(10, 2, 0, 1)),
        "announced {announced:?}"
    );
}

/// Two workers on two CPUs. Worker 0 alone polls the access port and
/// worker 1 alone the server port, so every user session that steering
/// gives worker 1 reaches it only through the handoff ring. A gateway port
/// names its owner (`(port - first) % workers`) and each worker sends on
/// its own tx queue, so the files show who translated what.
#[test]
fn sessions_of_the_other_worker_are_handed_off_and_translated() {
    let test = "handoff";
    let scratch = Scratch::new(test);
    let prefix = file_prefix(test);
    let terminals: Vec<Ipv4Addr> = (0..16u8).map(|i| Ipv4Addr::new(10, 1, 0, 10 + i)).collect();
    // Two flows per terminal.
    let mut input = Vec::new();
    let mut flows = Vec::new();
    for round in 0..2u16 {
        for (i, &t) in terminals.iter().enumerate() {
            let sport = 20_000 + round * 100 + i as u16;
            input.push(syn(t, sport, WEB_VIP, 80, u32::from(sport)));
            flows.push((t, sport));
        }
    }
    let (acc_vdev, _acc_out) = pcap_vdev(&scratch, 0, &input, 3);
    let (srv_vdev, srv_out) = pcap_vdev(&scratch, 1, &[], 3);
    let workers = r#"(lcore: 1, poll: [(port: "acc0")]), (lcore: 2, poll: [(port: "srv0")])"#;
    let config = pcap_config(
        &prefix,
        "0@0,1@0,2@1",
        &[&acc_vdev, &srv_vdev],
        &access_and_server_ports(),
        workers,
        "",
    );
    let mut tandem = Tandem::start(&scratch.dir, &prefix, &config);
    tandem.wait_running();
    let all_out = wait_until(Duration::from_secs(10), || {
        pcap::count_so_far(&srv_out[0]) + pcap::count_so_far(&srv_out[1]) >= flows.len()
    });
    let exit = tandem.stop();
    assert_clean_exit(&exit);
    assert!(all_out, "not every flow was sent; log:\n{}", exit.log);
    let srv_mac = port_mac(&exit.log, "srv0");

    let by_flow: HashMap<(Ipv4Addr, u16), (Ipv4Addr, u16)> =
        flows.iter().map(|&(t, p)| ((t, p), (t, p))).collect();
    let mut worker_of_terminal: HashMap<Ipv4Addr, usize> = HashMap::new();
    let mut gw_ports = BTreeSet::new();
    let mut per_worker = [0usize; 2];
    for (worker, file) in srv_out[..2].iter().enumerate() {
        for out in pcap::read(file) {
            // The payload names the flow it was sent by.
            let ip = Frame::new(&out).ipv4();
            let text = String::from_utf8(ip.payload().to_vec()).expect("text payload");
            let (t, p) = text
                .strip_prefix("syn ")
                .and_then(|s| s.split_once(':'))
                .map(|(t, p)| (t.parse().expect("ip"), p.parse().expect("port")))
                .expect("payload names the flow");
            assert!(by_flow.contains_key(&(t, p)), "unknown flow {t}:{p}");
            let (_, gw_port) = check_translated(&out, srv_mac, PROTO_TCP, 8080, text.as_bytes());
            assert_eq!(ip.tcp_seq(), u32::from(p));
            assert!(
                gw_ports.insert(gw_port),
                "gateway port {gw_port} used twice"
            );
            assert_eq!(
                usize::from((gw_port - PORT_LO) % 2),
                worker,
                "a port of worker {worker}'s share was sent by the other"
            );
            let first = *worker_of_terminal.entry(t).or_insert(worker);
            assert_eq!(first, worker, "flows of terminal {t} on two workers");
            per_worker[worker] += 1;
        }
    }
    assert_eq!(gw_ports.len(), flows.len(), "every flow translated once");
    assert!(
        per_worker[1] > 0,
        "no session was steered to worker 1, so nothing was handed off: {per_worker:?}"
    );
    assert!(
        per_worker[0] > 0,
        "worker 0 translated nothing: {per_worker:?}"
    );
}

/// The pcap helper itself: what it writes it reads back, and a record cut
/// short is an error, or not yet counted when reading a growing file.
#[test]
fn pcap_helper_round_trips_and_notices_truncation() {
    let scratch = Scratch::new("pcap-helper");
    let path = scratch.path("x.pcap");
    let frames = vec![vec![1u8; 60], vec![2u8; 61], Vec::new(), vec![3u8; 1514]];
    pcap::write(&path, &frames);
    assert_eq!(pcap::read(&path), frames);
    let bytes = std::fs::read(&path).expect("read");
    let cut = &bytes[..bytes.len() - 1];
    assert!(pcap::parse(cut, false).is_err());
    assert_eq!(pcap::parse(cut, true).expect("lenient").len(), 3);
    assert!(pcap::parse(&bytes[..10], true).is_err());
}
