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

use common::golden::{spec, DNS_VIP};
use common::replay::{terminal, ReplayConfig, ReplayVdevs, TERMINALS};
use common::tandem::{assert_clean_exit, Tandem};
use common::{ctl::live_user_sessions, ctl::Ctl, file_prefix, wait_until, Scratch};
use dataplane::wire::frames::udp_frame;
use serde_json::Value;
use std::time::Duration;

const PORTS_EACH: u16 = 40;

#[test]
fn concurrent_walks_each_get_the_whole_answer() {
    let test = "ctlwalk";
    let scratch = Scratch::new(test);
    let prefix = file_prefix(test);
    let total = u64::from(TERMINALS) * u64::from(PORTS_EACH);

    let vdevs = ReplayVdevs::write(&scratch, PORTS_EACH, |t, port| {
        udp_frame(&spec(t, port, DNS_VIP, 53), b"q").expect("UDP frame")
    });
    let socket = scratch.path("api.sock");
    let config = ReplayConfig {
        gateway_addresses: r#""10.2.0.10", "10.2.0.11""#,
        timeouts: "udp_s: 600, udp_replied_s: 600",
        extra: "",
    }
    .render(&prefix, &vdevs, &socket);
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
