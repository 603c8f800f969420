//! Start and stop of the real binary: SIGTERM and SIGINT end it with
//! status 0, every mbuf back in the pool and "stopped cleanly", also while
//! frames pour in on both workers (net_null) and while frames cross the
//! handoff rings (net_pcap replaying without end); SIGHUP does not stop it.
//! The counters of the "stats" line tandem logs at the end show the
//! traffic really flowed.

mod common;

use common::tandem::{assert_clean_exit, stats, Exit, Tandem};
use common::{file_prefix, Scratch, SMALL_SIZES};
use std::time::Duration;

/// How long a stop may take before the test calls it hung. The design
/// target is well under 2 s; this bound only catches a stop that hangs.
const STOP_LIMIT: Duration = Duration::from_secs(5);

/// Two net_null ports; `null_args` is appended to each vdev (`,no-rx=1`
/// for silence, empty for an endless stream of received frames).
fn config(prefix: &str, null_args: &str, two_workers: bool) -> String {
    let (lcores, workers) = if two_workers {
        (
            "0@0,1@0,2@1",
            r#"(lcore: 1, poll: [(port: "acc0")]), (lcore: 2, poll: [(port: "srv0")])"#,
        )
    } else {
        (
            "0-1",
            r#"(lcore: 1, poll: [(port: "acc0"), (port: "srv0")])"#,
        )
    };
    format!(
        r#"(
    eal: (lcores: "{lcores}", no_huge: true, memory_mb: 256, file_prefix: "{prefix}",
        vdevs: ["net_null0{null_args}", "net_null1{null_args}"]),
    ports: [
        (name: "acc0", device: "net_null0", role: Access, addresses: ["10.1.0.1/24"]),
        (name: "srv0", device: "net_null1", role: Server, addresses: ["10.2.0.1/24"]),
    ],
    workers: [{workers}],
    {SMALL_SIZES}
    gateway: (addresses: ["10.2.0.10"], user_sessions_per_worker: 1024),
    services: [(name: "web", vip: "10.9.0.1", proto: Tcp, port: 80,
                servers: [(addr: "10.2.0.21", port: 8080)])],
)"#
    )
}

#[test]
fn sigterm_stops_an_idle_appliance_cleanly() {
    let test = "idle-term";
    let scratch = Scratch::new(test);
    let prefix = file_prefix(test);
    let mut tandem = Tandem::start(&scratch.dir, &prefix, &config(&prefix, ",no-rx=1", false));
    tandem.wait_running();
    let exit = tandem.stop_with("TERM", STOP_LIMIT);
    assert_clean_exit(&exit);
    assert!(exit.log.contains("stopping"), "{}", exit.log);
}

/// net_null without `no-rx` hands the workers a frame on every poll: the
/// pipeline drops them all (they are not IPv4 or ARP), and at SIGINT none
/// may be missing from the pool.
#[test]
fn sigint_stops_two_busy_workers_with_every_mbuf_back() {
    let test = "busy-int";
    let scratch = Scratch::new(test);
    let prefix = file_prefix(test);
    let mut tandem = Tandem::start(&scratch.dir, &prefix, &config(&prefix, "", true));
    tandem.wait_running();
    assert!(tandem.log().contains("workers=2"), "{}", tandem.log());
    // Let frames flow for a while; nothing is measured.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        tandem.exited().is_none(),
        "died under load:\n{}",
        tandem.log()
    );
    let exit = tandem.stop_with("INT", STOP_LIMIT);
    assert_clean_exit(&exit);
}

#[test]
fn sighup_is_logged_and_does_not_stop_it() {
    let test = "hup";
    let scratch = Scratch::new(test);
    let prefix = file_prefix(test);
    let mut tandem = Tandem::start(&scratch.dir, &prefix, &config(&prefix, ",no-rx=1", false));
    tandem.wait_running();
    tandem.signal("HUP");
    assert!(
        tandem.wait_for_log("SIGHUP", Duration::from_secs(5)),
        "no SIGHUP line:\n{}",
        tandem.log()
    );
    assert!(
        tandem.exited().is_none(),
        "SIGHUP stopped it:\n{}",
        tandem.log()
    );
    assert_clean_exit(&tandem.stop_with("TERM", STOP_LIMIT));
}

/// Frames handed between workers while the stop comes: net_pcap with
/// `infinite_rx` replays SYNs from sixteen terminals without end into the
/// access port, which worker 0 alone polls, so the sessions steering gives
/// worker 1 cross the handoff ring all the time (and are dropped there:
/// no server MAC is known, so nothing is written out). At SIGTERM frames
/// are in flight in the rings; every one must be back in the pool.
fn stop_during_handoffs(test: &str) -> Exit {
    use dataplane::wire::frames::tcp_frame;
    use dataplane::wire::{FrameSpec, MacAddr, TcpFlags};
    use std::net::Ipv4Addr;

    let scratch = Scratch::new(test);
    let prefix = file_prefix(test);
    let frames: Vec<Vec<u8>> = (0..16u8)
        .map(|i| {
            let spec = FrameSpec {
                src_mac: MacAddr([2, 0, 0, 0, 1, i]),
                dst_mac: MacAddr([2, 0, 0, 0, 0, 1]),
                src_ip: Ipv4Addr::new(10, 1, 0, 10 + i),
                dst_ip: Ipv4Addr::new(10, 9, 0, 1),
                src_port: 30_000,
                dst_port: 80,
                ..FrameSpec::default()
            };
            tcp_frame(&spec, 1, 0, TcpFlags::SYN, 1000, b"").expect("SYN")
        })
        .collect();
    let rx = scratch.path("in.pcap");
    common::pcap::write(&rx, &frames);
    let tx = |name: &str| scratch.path(name).display().to_string();
    let acc = format!(
        "net_pcap0,rx_pcap={},infinite_rx=1,tx_pcap={},tx_pcap={},tx_pcap={}",
        rx.display(),
        tx("a0"),
        tx("a1"),
        tx("a2")
    );
    let config = format!(
        r#"(
    eal: (lcores: "0@0,1@0,2@1", no_huge: true, memory_mb: 256, file_prefix: "{prefix}",
        vdevs: ["{acc}", "net_null1,no-rx=1"]),
    ports: [
        (name: "acc0", device: "net_pcap0", role: Access, addresses: ["10.1.0.1/24"]),
        (name: "srv0", device: "net_null1", role: Server, addresses: ["10.2.0.1/24"]),
    ],
    workers: [(lcore: 1, poll: [(port: "acc0")]), (lcore: 2, poll: [(port: "srv0")])],
    {SMALL_SIZES}
    gateway: (addresses: ["10.2.0.10"], user_sessions_per_worker: 1024),
    services: [(name: "web", vip: "10.9.0.1", proto: Tcp, port: 80,
                servers: [(addr: "10.2.0.21", port: 8080)])],
)"#
    );
    let mut tandem = Tandem::start(&scratch.dir, &prefix, &config);
    tandem.wait_running();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        tandem.exited().is_none(),
        "died under load:\n{}",
        tandem.log()
    );
    let exit = tandem.stop_with("TERM", STOP_LIMIT);
    assert_clean_exit(&exit);
    exit
}

#[test]
fn stop_with_frames_in_the_handoff_rings_loses_no_mbuf() {
    let exit = stop_during_handoffs("handoff-stop");
    let s = stats(&exit.log);
    assert!(s["handoffs"] > 0, "nothing was handed off: {s:?}");
    // The same sixteen SYNs over and over: one user session each.
    assert_eq!(s["created"], 16, "{s:?}");
}

/// Every received frame is sent, or dropped with a reason, also the ones
/// still in a handoff ring when the workers stop.
#[test]
fn frames_in_flight_at_stop_are_counted_as_dropped() {
    let exit = stop_during_handoffs("handoff-count");
    let s = stats(&exit.log);
    assert_eq!(s["rx"], s["tx"] + s["dropped"], "{s:?}");
}
