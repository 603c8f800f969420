//! Final accounting at shutdown through the real binary (issue 13): with
//! tens of thousands of live user sessions on two workers, SIGTERM must
//! write one final record (`end_reason: admin`) per live user session to
//! the JSON file before tandem exits, and report none lost. The event
//! rings are small (4096 events), so the workers must wait for the control
//! plane to drain them instead of dropping what does not fit.
//!
//! Traffic: UDP datagrams from 500 terminals, 160 source ports each, to
//! the DNS VIP, replayed from pcap files into the access port's two rx
//! queues (net_pcap `rx_pcap`, one per worker); each datagram opens a user
//! session and nothing ends one before SIGTERM (UDP timeout 600 s).

mod common;

use common::golden::{neighbours, spec, DNS_VIP, SERVERS, WEB_VIP};
use common::tandem::{assert_clean_exit, Tandem};
use common::{ctl::Ctl, file_prefix, pcap, wait_until, Scratch};
use dataplane::wire::frames::udp_frame;
use serde_json::Value;
use std::net::Ipv4Addr;
use std::time::Duration;

const TERMINALS: u32 = 500;
const PORTS_EACH: u16 = 160;

fn terminal(i: u32) -> Ipv4Addr {
    Ipv4Addr::new(10, 1, 1 + (i / 250) as u8, 1 + (i % 250) as u8)
}

#[test]
fn sigterm_writes_a_final_record_for_every_live_user_session() {
    let test = "shutrec";
    let scratch = Scratch::new(test);
    let prefix = file_prefix(test);
    let total = (TERMINALS * u32::from(PORTS_EACH)) as usize;

    // Two input files, one per rx queue: half the terminals in each.
    let mut inputs: [Vec<Vec<u8>>; 2] = [Vec::new(), Vec::new()];
    for p in 0..PORTS_EACH {
        for t in 0..TERMINALS {
            let frame =
                udp_frame(&spec(terminal(t), 20_000 + p, DNS_VIP, 53), b"q").expect("UDP frame");
            inputs[(t % 2) as usize].push(frame);
        }
    }
    let mut acc_vdev = String::from("net_pcap0");
    for (q, frames) in inputs.iter().enumerate() {
        let f = scratch.path(&format!("acc-in-{q}.pcap"));
        pcap::write(&f, frames);
        acc_vdev.push_str(&format!(",rx_pcap={}", f.display()));
    }
    // Three tx queues per port (two workers and the control plane).
    for q in 0..3 {
        acc_vdev.push_str(&format!(
            ",tx_pcap={}",
            scratch.path(&format!("acc-out-{q}.pcap")).display()
        ));
    }
    let srv_in = scratch.path("srv-in.pcap");
    pcap::write(&srv_in, &[]);
    let srv_out: Vec<_> = (0..3)
        .map(|q| scratch.path(&format!("srv-out-{q}.pcap")))
        .collect();
    let mut srv_vdev = format!("net_pcap1,rx_pcap={}", srv_in.display());
    for f in &srv_out {
        srv_vdev.push_str(&format!(",tx_pcap={}", f.display()));
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
    gateway: (addresses: ["10.2.0.10", "10.2.0.11", "10.2.0.12", "10.2.0.13"],
        port_range: (1024, 65535), user_sessions_per_worker: 131072),
    timeouts: (udp_s: 600, udp_replied_s: 600),
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
    let mut tandem = Tandem::start(&scratch.dir, &prefix, &config);
    tandem.wait_running();

    // Every datagram that made a user session went on to the server.
    let ctl = Ctl::new(&socket);
    let live = |ctl: &Ctl| -> Option<u64> {
        let run = ctl.run(&["--json", "status"]);
        let v: Value = serde_json::from_str(&run.stdout).ok()?;
        let workers = v["workers"].as_array()?;
        Some(
            workers
                .iter()
                .map(|w| w["user_sessions_live"].as_u64().unwrap_or(0))
                .sum(),
        )
    };
    let mut last = (0usize, std::time::Instant::now());
    let settled = wait_until(Duration::from_secs(90), || {
        let n: usize = srv_out.iter().map(|f| pcap::count_so_far(f)).sum();
        if n != last.0 {
            last = (n, std::time::Instant::now());
        }
        n >= total || last.1.elapsed() > Duration::from_secs(3)
    });
    assert!(settled, "the replay never finished");
    let status = ctl.run(&["--json", "status"]);
    let live_sessions = live(&ctl).unwrap_or_else(|| panic!("status: {}", status.describe()));
    assert!(
        live_sessions >= 50_000,
        "only {live_sessions} live user sessions of {total} datagrams"
    );
    let per_worker: Vec<u64> = serde_json::from_str::<Value>(&status.stdout)
        .ok()
        .and_then(|v| {
            v["workers"].as_array().map(|ws| {
                ws.iter()
                    .map(|w| w["user_sessions_live"].as_u64().unwrap_or(0))
                    .collect()
            })
        })
        .unwrap_or_default();
    assert!(
        per_worker.len() == 2 && per_worker.iter().all(|&n| n > 10_000),
        "user sessions on both workers: {per_worker:?}"
    );

    let stopping = std::time::Instant::now();
    let exit = tandem.stop_with("TERM", Duration::from_secs(90));
    eprintln!(
        "SIGTERM to exit with {live_sessions} live user sessions: {:?}",
        stopping.elapsed()
    );
    assert_clean_exit(&exit);
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
    assert_eq!(
        finals, live_sessions,
        "final records written at SIGTERM vs live user sessions"
    );
    assert!(
        exit.log
            .contains("final accounting: every final record written"),
        "log:\n{}",
        exit.log
    );
}
