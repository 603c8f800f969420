//! `ctl sessions` and `ctl user-sessions` on workers that answer a little
//! per loop iteration (issue 11 item 5, `dataplane::pipeline::scan`): with
//! 20 000 live user sessions on two workers (tables of 131 072 slots, 32
//! steps a walk), several clients asking at once each get complete
//! answers, including one that arrives while another's walk is running.
//!
//! Traffic: UDP datagrams from 500 terminals, 40 source ports each, to the
//! DNS VIP, replayed from pcap files into the access port's two rx queues
//! (one per worker); nothing ends a user session during the test.

mod common;

use common::golden::{neighbours, spec, DNS_VIP, SERVERS, WEB_VIP};
use common::tandem::{assert_clean_exit, Tandem};
use common::{ctl::live_user_sessions, ctl::Ctl, file_prefix, pcap, wait_until, Scratch};
use dataplane::wire::frames::udp_frame;
use serde_json::Value;
use std::net::Ipv4Addr;
use std::time::Duration;

const TERMINALS: u32 = 500;
const PORTS_EACH: u16 = 40;

fn terminal(i: u32) -> Ipv4Addr {
    Ipv4Addr::new(10, 1, 1 + (i / 250) as u8, 1 + (i % 250) as u8)
}

#[test]
fn concurrent_walks_each_get_the_whole_answer() {
    let test = "ctlwalk";
    let scratch = Scratch::new(test);
    let prefix = file_prefix(test);
    let total = u64::from(TERMINALS) * u64::from(PORTS_EACH);

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
    timeouts: (udp_s: 600, udp_replied_s: 600),
    services: [
        (name: "web", vip: "{WEB_VIP}", proto: Tcp, port: 80,
         servers: [(addr: "{web}", port: 8080)]),
        (name: "dns", vip: "{DNS_VIP}", proto: Udp, port: 53,
         servers: [(addr: "{dns}", port: 5353)]),
    ],
)"#,
        neighbours = neighbours(),
        socket = socket.display(),
        web = SERVERS[0].0,
        dns = SERVERS[1].0,
    );
    let mut tandem = Tandem::start(&scratch.dir, &prefix, &config);
    tandem.wait_running();
    let ctl = Ctl::new(&socket);
    // The replay ends; a few first datagrams may be dropped while their
    // terminal's pin is made, so count what is live once it stops moving.
    let mut last = (0u64, std::time::Instant::now());
    let settled = wait_until(Duration::from_secs(60), || {
        let n = live_user_sessions(&ctl.json(&["status"]));
        if n != last.0 {
            last = (n, std::time::Instant::now());
        }
        n >= total || (n > 0 && last.1.elapsed() > Duration::from_secs(2))
    });
    assert!(
        settled,
        "status: {}",
        ctl.run(&["--json", "status"]).describe()
    );
    let live = last.0;
    assert!(
        live >= total * 9 / 10,
        "only {live} of {total} user sessions"
    );
    let one = terminal(7).to_string();
    let one_has = ctl
        .json(&["user-sessions", "--session", &one, "--limit", "1000"])
        .as_array()
        .map_or(0, Vec::len);
    assert!(one_has > 0, "terminal {one} has user sessions");

    // Four clients at once, each asking for whole-table walks several
    // times: the control plane takes one request at a time, so requests
    // arrive while the workers are in the middle of another's walk.
    let answers: Vec<(u64, usize, usize)> = std::thread::scope(|s| {
        let clients: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let mut got = Vec::new();
                    for _ in 0..3 {
                        let sessions = ctl.json(&["sessions"]);
                        let rows = sessions.as_array().cloned().unwrap_or_default();
                        let per_session: u64 = rows
                            .iter()
                            .map(|r| r["user_sessions"].as_u64().unwrap_or(0))
                            .sum();
                        let mine =
                            ctl.json(&["user-sessions", "--session", &one, "--limit", "1000"]);
                        let listed = ctl.json(&["user-sessions", "--limit", "100000"]);
                        got.push((
                            per_session,
                            mine.as_array().map_or(0, Vec::len),
                            listed.as_array().map_or(0, Vec::len),
                        ));
                    }
                    got
                })
            })
            .collect();
        clients
            .into_iter()
            .flat_map(|c| c.join().expect("client thread"))
            .collect()
    });
    assert_eq!(answers.len(), 12);
    for (per_session, mine, listed) in answers {
        assert_eq!(
            per_session, live,
            "ctl sessions: user sessions of all sessions"
        );
        assert_eq!(mine, one_has, "one terminal's user sessions");
        assert_eq!(listed as u64, live, "every user session listed");
    }
    let rows: Vec<Value> = ctl
        .json(&["sessions"])
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        rows.len(),
        TERMINALS as usize,
        "one mobile session per terminal"
    );

    let exit = tandem.stop_with("TERM", Duration::from_secs(60));
    assert_clean_exit(&exit);
}
