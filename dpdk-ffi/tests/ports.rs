//! Frames through real DPDK ports: a net_pcap port replays a pcap file and
//! writes what is transmitted to another, and a net_ring port loops
//! transmitted frames back to its receive side.

mod common;

use common::pcap;
use dpdk_ffi::{
    Burst, Eal, Error, Mbuf, Mempool, PortId, PortQueues, QueueId, RxQueue, TxQueue, BURST_MAX,
    SOCKET_ID_ANY,
};

const TEST: &str = "ports";
/// Polls allowed for frames that are already waiting; a bound, not a time.
const MAX_POLLS: usize = 10_000;

fn test_frames() -> Vec<Vec<u8>> {
    (0..40_u8)
        .map(|i| {
            let len = 60 + usize::from(i) * 7;
            let mut frame = vec![i; len];
            frame[..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 1]); // destination
            frame[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 2]); // source
            frame[12..14].copy_from_slice(&[0x08, 0x00]); // IPv4
            frame
        })
        .collect()
}

#[test]
fn frames_travel_through_pcap_and_ring_ports() {
    let scratch = common::scratch_dir(TEST);
    let rx_pcap = scratch.join("in.pcap");
    let tx_pcap = scratch.join("out.pcap");
    let frames = test_frames();
    pcap::write(&rx_pcap, &frames);
    let pcap_vdev = format!(
        "net_pcap0,rx_pcap={},tx_pcap={}",
        rx_pcap.display(),
        tx_pcap.display()
    );
    let args = common::eal_args(TEST, &["--vdev", &pcap_vdev, "--vdev", "net_ring0"]);
    let eal = Eal::init(&args).expect("EAL init");

    assert_eq!(PortId::count_avail(), 2);
    assert_eq!(PortId::all().len(), 2);
    assert_eq!(
        PortId::by_name("net_nosuch0"),
        Err(Error::NoSuchPort("net_nosuch0".to_string()))
    );
    let pool = Mempool::create("port-pool", 4095, 32, 2176, SOCKET_ID_ANY).expect("mempool");

    pcap_port_replays_and_records(&pool, &frames, &tx_pcap);
    ring_port_loops_back(&pool);
    assert_eq!(pool.in_use(), 0);

    drop(pool);
    eal.cleanup().expect("EAL cleanup");
    common::remove_runtime_dir(TEST);
    let _ = std::fs::remove_dir_all(scratch);
}

fn rx_until(queue: &mut RxQueue, want: usize, into: &mut Vec<Mbuf>) {
    let mut burst = Burst::new();
    for _ in 0..MAX_POLLS {
        if into.len() >= want {
            return;
        }
        queue.rx_burst(&mut burst);
        into.extend(burst.drain(..));
    }
}

fn pcap_port_replays_and_records(pool: &Mempool, frames: &[Vec<u8>], tx_pcap: &std::path::Path) {
    let port = PortId::by_name("net_pcap0").expect("pcap port");
    assert_eq!(PortId::from_index(port.index()), Some(port));
    assert_eq!(port.name().expect("name"), "net_pcap0");
    // There is no way to burst before the port is configured: the queue
    // handles come from configure, one per queue.
    let PortQueues { rx, tx } = port.configure(1, 1, 256, 256, pool).expect("configure");
    let (mut rxq, mut txq) = match (<[RxQueue; 1]>::try_from(rx), <[TxQueue; 1]>::try_from(tx)) {
        (Ok([rxq]), Ok([txq])) => (rxq, txq),
        _ => panic!("one rx and one tx queue"),
    };
    let queue_0 = QueueId { port, queue: 0 };
    assert_eq!((rxq.id(), txq.id()), (queue_0, queue_0));
    port.start().expect("start");
    assert!(port.mac_addr().is_ok());
    assert!(port.link().is_ok());
    let mut burst = Burst::new();

    let mut received = Vec::new();
    rx_until(&mut rxq, frames.len(), &mut received);
    assert_eq!(received.len(), frames.len());
    for (mbuf, frame) in received.iter().zip(frames) {
        assert!(mbuf.is_contiguous());
        assert_eq!(mbuf.data(), frame.as_slice());
        assert_eq!(mbuf.port(), port.index());
    }

    // Send every frame back out, with the first byte of the payload
    // changed so the output proves it came from these mbufs.
    let mut sent = 0;
    while !received.is_empty() {
        let mut out = Burst::new();
        let take = received.len().min(BURST_MAX);
        for mut mbuf in received.drain(..take) {
            mbuf.data_mut()[14] ^= 0xff;
            assert!(out.push(mbuf).is_ok());
        }
        sent += txq.tx_burst(&mut out);
        assert!(out.is_empty(), "the pcap port writes every frame");
    }
    assert_eq!(sent, frames.len());

    let stats = port.stats().expect("stats");
    assert_eq!(stats.ipackets, frames.len() as u64);
    assert_eq!(stats.opackets, frames.len() as u64);
    let total: u64 = frames.iter().map(|f| f.len() as u64).sum();
    assert_eq!(stats.ibytes, total);
    assert_eq!(stats.obytes, total);
    let xstats = port.xstats().expect("xstats");
    assert!(xstats.contains(&("rx_good_packets".to_string(), frames.len() as u64)));
    assert!(xstats.contains(&("tx_good_packets".to_string(), frames.len() as u64)));

    port.stop().expect("stop");
    port.close().expect("close");
    assert_eq!(rxq.rx_burst(&mut burst), 0, "closed ports give nothing");
    assert!(matches!(port.stats(), Err(Error::Port { .. })));

    let written = pcap::read(tx_pcap);
    assert_eq!(written.len(), frames.len());
    for (out, frame) in written.iter().zip(frames) {
        let mut expected = frame.clone();
        expected[14] ^= 0xff;
        assert_eq!(out, &expected);
    }
}

fn tag_of(mbuf: &Mbuf) -> u32 {
    u32::from_le_bytes(mbuf.data()[..4].try_into().expect("tag"))
}

fn ring_port_loops_back(pool: &Mempool) {
    let port = PortId::by_name("net_ring0").expect("ring port");
    let PortQueues { rx, tx } = port.configure(1, 1, 128, 128, pool).expect("configure");
    let (mut rxq, mut txq) = match (<[RxQueue; 1]>::try_from(rx), <[TxQueue; 1]>::try_from(tx)) {
        (Ok([rxq]), Ok([txq])) => (rxq, txq),
        _ => panic!("one rx and one tx queue"),
    };
    port.promiscuous_enable().ok(); // the ring PMD may not support it
    port.start().expect("start");
    assert!(port.link().expect("link").up);

    // Transmit tagged frames until the port's ring is full: the frames it
    // did not take stay at the front of the burst, in order.
    let mut next_tag = 0_u32;
    let mut total_sent = 0_usize;
    let mut leftover;
    loop {
        let mut burst = Burst::new();
        while !burst.is_full() {
            let mut mbuf = Mbuf::alloc(pool).expect("pool has room");
            assert!(mbuf.append(64));
            mbuf.data_mut()[..4].copy_from_slice(&next_tag.to_le_bytes());
            next_tag += 1;
            assert!(burst.push(mbuf).is_ok());
        }
        let sent = txq.tx_burst(&mut burst);
        total_sent += sent;
        if sent < BURST_MAX {
            assert_eq!(burst.len(), BURST_MAX - sent);
            leftover = burst;
            break;
        }
        assert!(total_sent < 4000, "the ring port never filled up");
    }
    let first_unsent = total_sent as u32;
    let unsent_tags: Vec<u32> = leftover.iter().map(tag_of).collect();
    assert_eq!(
        unsent_tags,
        (first_unsent..first_unsent + leftover.len() as u32).collect::<Vec<_>>()
    );
    leftover.clear();

    // Everything sent comes back, in order, filling only the free part of
    // a partly used burst.
    let mut back = Burst::new();
    assert!(back.alloc_from(pool, 30));
    assert_eq!(rxq.rx_burst(&mut back), 2);
    assert!(back.is_full());
    let firsts: Vec<u32> = back.drain(30..).map(|m| tag_of(&m)).collect();
    assert_eq!(firsts, vec![0, 1]);
    back.clear();
    let mut received = 2_usize;
    let mut polls = 0;
    while received < total_sent && polls < MAX_POLLS {
        let mut burst = Burst::new();
        rxq.rx_burst(&mut burst);
        for mbuf in burst.drain(..) {
            assert_eq!(tag_of(&mbuf), received as u32);
            received += 1;
        }
        polls += 1;
    }
    assert_eq!(received, total_sent);
    let stats = port.stats().expect("stats");
    assert_eq!(stats.opackets, total_sent as u64);
    assert_eq!(stats.ipackets, total_sent as u64);

    // Configuring the port again retires the handles it gave before: only
    // the new ones burst.
    port.stop().expect("stop");
    let PortQueues { mut rx, mut tx } = port.configure(1, 1, 128, 128, pool).expect("again");
    port.start().expect("start again");
    let mut one = Burst::new();
    assert!(one.alloc_from(pool, 1));
    assert!(one.as_mut_slice()[0].append(64));
    assert_eq!(
        txq.tx_burst(&mut one),
        0,
        "a retired tx handle sends nothing"
    );
    assert_eq!(tx[0].tx_burst(&mut one), 1);
    let mut back = Burst::new();
    assert_eq!(
        rxq.rx_burst(&mut back),
        0,
        "a retired rx handle gets nothing"
    );
    let mut polls = 0;
    while back.is_empty() && polls < MAX_POLLS {
        rx[0].rx_burst(&mut back);
        polls += 1;
    }
    assert_eq!(back.len(), 1, "the new handles loop the frame back");
    back.clear();

    port.stop().expect("stop");
    port.close().expect("close");
}
