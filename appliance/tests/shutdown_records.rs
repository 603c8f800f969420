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

use common::golden::{spec, DNS_VIP};
use common::replay::{ReplayConfig, ReplayVdevs, TERMINALS};
use common::tandem::{assert_clean_exit, Tandem};
use common::{ctl::Ctl, file_prefix, pcap, wait_until, Scratch};
use dataplane::wire::frames::udp_frame;
use serde_json::Value;
use std::time::Duration;

const PORTS_EACH: u16 = 160;

#[test]
fn sigterm_writes_a_final_record_for_every_live_user_session() {
    let test = "shutrec";
    let scratch = Scratch::new(test);
    let prefix = file_prefix(test);
    let total = (TERMINALS * u32::from(PORTS_EACH)) as usize;

    // Two input files, one per rx queue: half the terminals in each.
    let vdevs = ReplayVdevs::write(&scratch, PORTS_EACH, |t, port| {
        udp_frame(&spec(t, port, DNS_VIP, 53), b"q").expect("UDP frame")
    });
    let srv_out = &vdevs.server_out;
    let json = scratch.path("accounting.jsonl");
    let socket = scratch.path("api.sock");
    let config = ReplayConfig {
        gateway_addresses: r#""10.2.0.10", "10.2.0.11", "10.2.0.12", "10.2.0.13""#,
        timeouts: "udp_s: 600, udp_replied_s: 600",
        extra: &format!(
            r#"accounting: (interim_s: 0, json: (path: "{}")),"#,
            json.display()
        ),
    }
    .render(&prefix, &vdevs, &socket);
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
