//! `tandem ctl ports` shows the real link state of a net_tap port whose
//! interface was moved into another network namespace (issue 13): DPDK's
//! own answer there is always `down` (its ioctl looks in Tandem's
//! namespace, where the interface no longer is), so every such port said
//! down while traffic flowed. The test moves the interface into a named
//! namespace, then sets it up and down there, and reads `ctl ports`.
//!
//! Needs root and /dev/net/tun.

mod common;

use common::ctl::Ctl;
use common::tandem::{assert_clean_exit, Tandem};
use common::{file_prefix, tap, wait_until, Scratch, SMALL_SIZES};
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

/// A named network namespace, deleted when dropped (also on failure).
struct Netns(String);

impl Netns {
    fn add(name: &str) -> Netns {
        let _ = Command::new("ip").args(["netns", "del", name]).status();
        ip(&["netns", "add", name]);
        Netns(name.to_string())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn ip(args: &[&str]) {
    let status = Command::new("ip").args(args).status().expect("run ip");
    assert!(status.success(), "ip {args:?}");
}

/// (link_up, link_source) of port `name` in `ctl --json ports`.
fn link(ctl: &Ctl, name: &str) -> (bool, String) {
    let ports = ctl.json(&["ports"]);
    let p = ports
        .as_array()
        .and_then(|a| a.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("no port {name} in {ports:#}"))
        .clone();
    (
        p["link_up"].as_bool().unwrap_or_else(|| panic!("{p:#}")),
        p["link_source"].as_str().unwrap_or_default().to_string(),
    )
}

#[test]
fn a_tap_moved_into_a_namespace_shows_its_link_state_there() {
    assert!(
        tap::available(),
        "/dev/net/tun is missing: this test needs tap interfaces (run as root)"
    );
    let test = "link";
    let scratch = Scratch::new(test);
    let prefix = file_prefix(test);
    let socket = scratch.path("ctl.sock");
    let pid = std::process::id();
    let iface = format!("h2l{pid}");
    let ns_name = format!("h2ln{pid}");
    let config = format!(
        r#"(
    eal: (lcores: "0-1", no_huge: true, memory_mb: 256, file_prefix: "{prefix}",
        vdevs: ["net_tap0,iface={iface}", "net_null1,no-rx=1"]),
    ports: [
        (name: "acc0", device: "net_tap0", role: Access, addresses: ["10.1.0.1/24"]),
        (name: "srv0", device: "net_null1", role: Server, addresses: ["10.2.0.1/24"]),
    ],
    workers: [(lcore: 1, poll: [(port: "acc0"), (port: "srv0")])],
    {SMALL_SIZES}
    gateway: (addresses: ["10.2.0.10"], user_sessions_per_worker: 1024),
    api: (socket: "{socket}"),
)"#,
        socket = socket.display()
    );
    let mut tandem = Tandem::start(&scratch.dir, &prefix, &config);
    tandem.wait_running();
    let ctl = Ctl::new(&socket);
    // In Tandem's namespace, DPDK answers (it set the tap up at start).
    assert_eq!(link(&ctl, "acc0"), (true, String::new()));

    let ns = Netns::add(&ns_name);
    ip(&["link", "set", &iface, "netns", &ns.0]);
    let there = format!("netns {}", ns.0);
    // Moved, and down there (moving takes an interface down).
    assert_eq!(link(&ctl, "acc0"), (false, there.clone()));
    ip(&["-n", &ns.0, "link", "set", &iface, "up"]);
    assert!(
        wait_until(Duration::from_secs(5), || link(&ctl, "acc0")
            == (true, there.clone())),
        "up in {}: {:?}",
        ns.0,
        link(&ctl, "acc0")
    );
    let table = ctl.run(&["ports"]);
    let row = table
        .stdout
        .lines()
        .find(|l| l.starts_with("acc0"))
        .unwrap_or_else(|| panic!("{}", table.describe()));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cells[4..6],
        ["up", format!("netns:{}", ns.0).as_str()],
        "{row}"
    );
    ip(&["-n", &ns.0, "link", "set", &iface, "down"]);
    assert_eq!(link(&ctl, "acc0"), (false, there));
    // Other ports keep DPDK's answer.
    assert_eq!(link(&ctl, "srv0"), (true, String::new()));
    let status: Value = ctl.json(&["status"]);
    assert!(status["ports"].is_array());
    drop(ns);
    assert_clean_exit(&tandem.stop());
}
