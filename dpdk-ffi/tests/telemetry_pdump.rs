//! Telemetry commands registered from Rust answer on DPDK's telemetry socket
//! (queried here the way `dpdk-telemetry.py` does, over SOCK_SEQPACKET with
//! python3), and the pdump server starts and stops.

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use dpdk_ffi::{pdump_init, pdump_uninit, register_command, Eal, Error, TelValue};

const TEST: &str = "telemetry";

/// Connects to the telemetry socket, reads the greeting, sends `command`
/// and prints the JSON reply.
const QUERY_SCRIPT: &str = r#"
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
s.recv(1024)
s.send(sys.argv[2].encode())
print(s.recv(16384).decode())
"#;

fn query(socket: &std::path::Path, command: &str) -> String {
    let output = Command::new("python3")
        .args(["-c", QUERY_SCRIPT])
        .arg(socket)
        .arg(command)
        .output()
        .expect("python3 is needed to query the telemetry socket");
    assert!(
        output.status.success(),
        "query failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

#[test]
fn telemetry_commands_answer_and_pdump_starts() {
    // Registration works before the EAL starts, as DPDK's own libraries do.
    let queries = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&queries);
    register_command("/tandem/test/counters", "Test counters", move || {
        let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
        vec![
            ("queries".to_string(), TelValue::U64(n)),
            ("offset".to_string(), TelValue::I64(-3)),
            ("state".to_string(), TelValue::Str("up".to_string())),
        ]
    })
    .expect("register");
    assert!(matches!(
        register_command("/tandem/test/counters", "again", Vec::new),
        Err(Error::Telemetry { errno: 17, .. })
    ));

    let eal = Eal::init(&common::eal_args(TEST, &[])).expect("EAL init");
    register_command("/tandem/test/panics", "Panics", || panic!("handler bug"))
        .expect("register after init");

    let socket = common::runtime_dir(TEST)
        .expect("EAL runtime dir")
        .join("dpdk_telemetry.v2");
    assert_eq!(
        query(&socket, "/tandem/test/counters"),
        r#"{"/tandem/test/counters":{"queries":1,"offset":-3,"state":"up"}}"#
    );
    assert_eq!(
        query(&socket, "/tandem/test/counters"),
        r#"{"/tandem/test/counters":{"queries":2,"offset":-3,"state":"up"}}"#
    );
    // A panicking handler answers with an error instead of taking the
    // process down.
    assert_eq!(
        query(&socket, "/tandem/test/panics"),
        r#"{"/tandem/test/panics":null}"#
    );
    assert_eq!(queries.load(Ordering::Relaxed), 2);

    pdump_init().expect("pdump init");
    pdump_uninit().expect("pdump uninit");

    eal.cleanup().expect("EAL cleanup");
    assert_eq!(pdump_init(), Err(Error::NotInitialised));
    common::remove_runtime_dir(TEST);
}
