//! Ending a failed server's user sessions while the workers forward
//! (`health.on_down: Reset`, issue 11 item 5): each worker ends them as a
//! budgeted walk that pauses while its event ring is three quarters full,
//! and the control plane drains the rings while it waits, so with 20 000
//! user sessions and rings of 4096 events every final record is written
//! (`end_reason: admin`) and no event is lost meanwhile.
//!
//! Traffic: a TCP SYN from each of 500 terminals x 40 source ports to the
//! web VIP, replayed from pcap files into the access port's two rx queues
//! (one per worker); the SYN timeout is long, so the user sessions stay
//! open. The web server never answers (net_pcap), so the active probes
//! take it down a few seconds after start, once the replay is over.

mod common;

use common::golden::{neighbours, spec, DNS_VIP, SERVERS, WEB_VIP};
use common::tandem::{assert_clean_exit, Tandem};
use common::{ctl::live_user_sessions, ctl::Ctl, file_prefix, pcap, wait_until, Scratch};
use dataplane::wire::frames::tcp_frame;
use dataplane::wire::TcpFlags;
use serde_json::Value;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

const TERMINALS: u32 = 500;
const PORTS_EACH: u16 = 40;

fn terminal(i: u32) -> Ipv4Addr {
    Ipv4Addr::new(10, 1, 1 + (i / 250) as u8, 1 + (i % 250) as u8)
}

fn events_lost(status: &Value) -> u64 {
    status["workers"]
        .as_array()
        .map(|ws| {
            ws.iter()
                .map(|w| w["events_lost"].as_u64().unwrap_or(0))
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn on_down_reset_writes_a_final_record_for_every_user_session_it_ends() {
    let test = "resetrec";
    let scratch = Scratch::new(test);
    let prefix = file_prefix(test);
    let total = u64::from(TERMINALS) * u64::from(PORTS_EACH);

    let mut inputs: [Vec<Vec<u8>>; 2] = [Vec::new(), Vec::new()];
    for p in 0..PORTS_EACH {
        for t in 0..TERMINALS {
            let frame = tcp_frame(
                &spec(terminal(t), 20_000 + p, WEB_VIP, 80),
                1000,
                0,
                TcpFlags::SYN,
                65535,
                &[],
            )
            .expect("SYN frame");
            inputs[(t % 2) as usize].push(frame);
        }
    }
    let mut acc_vdev = String::from("net_pcap0");
    for (q, frames) in inputs.iter().enumerate() {
        let f = scratch.path(&format!("acc-in-{q}.pcap"));
        pcap::write(&f, frames);
        acc_vdev.push_str(&format!(",rx_pcap={}", f.display()));
    }
    for q in 0..3 {
        acc_vdev.push_str(&format!(
            ",tx_pcap={}",
            scratch.path(&format!("acc-out-{q}.pcap")).display()
        ));
    }
    let srv_in = scratch.path("srv-in.pcap");
    pcap::write(&srv_in, &[]);
    let mut srv_vdev = format!("net_pcap1,rx_pcap={}", srv_in.display());
    for q in 0..3 {
        srv_vdev.push_str(&format!(
            ",tx_pcap={}",
            scratch.path(&format!("srv-out-{q}.pcap")).display()
        ));
    }
    let json = scratch.path("accounting.jsonl");
    let socket = scratch.path("api.sock");
    let config = format!(
        r#"(
    eal: (lcores: "0@0,1@0,2@1", no_huge: true, memory_mb: 256, file_prefix: "{prefix}",
        vdevs: ["{acc_vdev}", "{srv_vdev}"]),
    ports: [
        (name: "acc0", device: "net_pcap0", role: Access, addresses: ["10.1.0.1/16"], rx_queues: 2),
        (name: "srv0", device: "net_pcap1", role: Server, addresses: ["10.2.0.1/24"],
         neighbours: [{neighbours}]),
    ],
    workers: [
        (lcore: 1, poll: [(port: "acc0", queue: 0), (port: "srv0")]),
        (lcore: 2, poll: [(port: "acc0", queue: 1)]),
    ],
    mempool: (mbufs: 32767, cache: 64),
    rings: (rx_desc: 256, tx_desc: 256, handoff: 4096, events: 4096),
    api: (socket: "{socket}"),
    gateway: (addresses: ["10.2.0.10", "10.2.0.11"],
        port_range: (1024, 65535), user_sessions_per_worker: 131072),
    timeouts: (tcp_syn_s: 600),
    health: (passive: false, on_down: Reset,
        active: Some((interval_ms: 4000, timeout_ms: 1000, rise: 1, fall: 2))),
    services: [
        (name: "web", vip: "{WEB_VIP}", proto: Tcp, port: 80,
         servers: [(addr: "{web}", port: 8080)]),
        (name: "dns", vip: "{DNS_VIP}", proto: Udp, port: 53,
         servers: [(addr: "{dns}", port: 5353)]),
    ],
    accounting: (interim_s: 0, json: (path: "{json}")),
)"#,
        neighbours = neighbours(),
        socket = socket.display(),
        json = json.display(),
        web = SERVERS[0].0,
        dns = SERVERS[1].0,
    );
    let started = Instant::now();
    let mut tandem = Tandem::start(&scratch.dir, &prefix, &config);
    tandem.wait_running();
    let ctl = Ctl::new(&socket);
    // The replay ends well before the second unanswered probe (8 s): count
    // what is live once it stops moving.
    let mut last = (0u64, Instant::now());
    let settled = wait_until(Duration::from_secs(6), || {
        let n = live_user_sessions(&ctl.json(&["status"]));
        if n != last.0 {
            last = (n, Instant::now());
        }
        n >= total || (n > 0 && last.1.elapsed() > Duration::from_secs(1))
    });
    let live = last.0;
    assert!(
        settled && live >= total * 9 / 10,
        "{live} of {total} user sessions after {:?}",
        started.elapsed()
    );
    // Events lost so far: opening 20 000 user sessions at once overflows
    // the rings with their activity events, before the reset.
    let lost_before = events_lost(&ctl.json(&["status"]));
    // The server goes down and its user sessions end.
    let ended = wait_until(Duration::from_secs(60), || {
        live_user_sessions(&ctl.json(&["status"])) == 0
    });
    assert!(
        ended,
        "status: {}",
        ctl.run(&["--json", "status"]).describe()
    );
    let lost = events_lost(&ctl.json(&["status"]));
    let exit = tandem.stop_with("TERM", Duration::from_secs(60));
    assert_clean_exit(&exit);
    assert!(
        exit.log.contains("on_down: Reset"),
        "no reset in the log:\n{}",
        exit.log
    );
    let text = std::fs::read_to_string(&json).expect("JSON accounting file");
    let finals = text
        .lines()
        .filter(|l| {
            serde_json::from_str::<Value>(l)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))
                .get("end_reason")
                .is_some_and(|r| r == "admin")
        })
        .count() as u64;
    assert_eq!(finals, live, "final records written vs user sessions ended");
    assert_eq!(lost, lost_before, "events lost while ending user sessions");
}
