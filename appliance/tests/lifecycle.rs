//! Start and stop of the real binary on net_null ports: SIGTERM and SIGINT
//! end it with status 0, every mbuf back in the pool and "stopped
//! cleanly", also while frames pour in on both workers; SIGHUP does not
//! stop it.

mod common;

use common::tandem::{assert_clean_exit, Tandem};
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
