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

use common::golden::{spec, WEB_VIP};
use common::replay::{ReplayConfig, ReplayVdevs, TERMINALS};
use common::tandem::{assert_clean_exit, Tandem};
use common::{ctl::live_user_sessions, ctl::Ctl, file_prefix, wait_until, Scratch};
use dataplane::wire::frames::tcp_frame;
use dataplane::wire::TcpFlags;
use serde_json::Value;
use std::time::{Duration, Instant};

const PORTS_EACH: u16 = 40;

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

    let vdevs = ReplayVdevs::write(&scratch, PORTS_EACH, |t, port| {
        tcp_frame(
            &spec(t, port, WEB_VIP, 80),
            1000,
            0,
            TcpFlags::SYN,
            65535,
            &[],
        )
        .expect("SYN frame")
    });
    let json = scratch.path("accounting.jsonl");
    let socket = scratch.path("api.sock");
    let config = ReplayConfig {
        gateway_addresses: r#""10.2.0.10", "10.2.0.11""#,
        timeouts: "tcp_syn_s: 600",
        extra: &format!(
            r#"health: (passive: false, on_down: Reset,
        active: Some((interval_ms: 4000, timeout_ms: 1000, rise: 1, fall: 2))),
    accounting: (interim_s: 0, json: (path: "{}")),"#,
            json.display()
        ),
    }
    .render(&prefix, &vdevs, &socket);
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
