//! Shared fixtures for the accounting tests: a name resolver with
//! predictable names and records that differ in every field.

use std::net::Ipv4Addr;

use dataplane::event::{AccountingEvent, EndReason, RecordKind};

use super::record::{AccountingRecord, NameResolver};

/// Names derived from the indexes: `svcN`, `typeN`, `sub-HEX`.
pub struct FixedNames;

impl NameResolver for FixedNames {
    fn service_name(&self, idx: u32) -> String {
        format!("svc{idx}")
    }
    fn type_name(&self, idx: u8) -> String {
        format!("type{idx}")
    }
    fn subscriber(&self, session_id: u64) -> String {
        format!("sub-{session_id:x}")
    }
}

/// The `n`th sample event: every field depends on `n`, so two records never
/// agree on a field by accident.
pub fn sample_event(n: u32) -> AccountingEvent {
    let b = (n % 200) as u8;
    let reasons = [
        EndReason::Fin,
        EndReason::Rst,
        EndReason::Timeout,
        EndReason::NotEntitled,
        EndReason::Admin,
    ];
    AccountingEvent {
        kind: if n % 6 == 5 {
            RecordKind::Interim
        } else {
            RecordKind::Final
        },
        end_reason: reasons[(n % 5) as usize],
        proto: [6, 17, 1][(n % 3) as usize],
        user_session_type: (n % 7) as u8,
        worker: (n % 4) as u16,
        session_id: 0x1000_0000_0000 + u64::from(n) * 0x1_0001,
        terminal_ip: Ipv4Addr::new(10, 20, b, b.wrapping_add(1)),
        terminal_port: 30_000 + n as u16,
        gateway_ip: Ipv4Addr::new(192, 0, 2, b.wrapping_add(2)),
        gateway_port: 1024 + n as u16 * 3,
        dest_ip: Ipv4Addr::new(198, 51, 100, b.wrapping_add(3)),
        dest_port: 80 + n as u16,
        server_ip: Ipv4Addr::new(203, 0, 113, b.wrapping_add(4)),
        server_port: 8000 + n as u16,
        service: if n % 4 == 3 {
            dataplane::event::EXTERNAL_SERVICE
        } else {
            n * 5
        },
        packets_up: 10 + u64::from(n),
        bytes_up: 5_000_000_000 + u64::from(n) * 1_000,
        packets_down: 20 + u64::from(n) * 2,
        bytes_down: 9_000_000_000 + u64::from(n) * 7_777,
        start_ms: 1_700_000_000_000 + u64::from(n) * 1_001,
        end_ms: 1_700_000_060_000 + u64::from(n) * 2_003,
        ipv6: None,
    }
}

/// `sample_event(n)` resolved with `FixedNames`.
pub fn sample_record(n: u32) -> AccountingRecord {
    AccountingRecord::from_event(&sample_event(n), &FixedNames)
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "tandem-acct-{tag}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
