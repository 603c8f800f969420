//! Pieces shared by the cluster tests (`cluster_control.rs`,
//! `cluster_quorum.rs`): free loopback ports for etcd, and what they read
//! from `ctl cluster --json` and `ctl sessions --json`.

use super::ctl::Ctl;
use serde_json::Value;
use std::net::TcpListener;

/// A free loopback TCP port (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The appliance IDs `ctl cluster --json` lists as members.
pub fn member_ids(c: &Value) -> Vec<u64> {
    c["members"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m["appliance_id"].as_u64())
                .collect()
        })
        .unwrap_or_default()
}

/// The gateway a session is pinned to on one appliance, if any.
pub fn pinned_gateway(ctl: &Ctl, session: &str) -> Option<u64> {
    ctl.json(&["sessions"])
        .as_array()?
        .iter()
        .find(|s| s["id"] == session)
        .and_then(|s| s["gateway"].as_u64())
}
