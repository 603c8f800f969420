//! The cluster's key layout in etcd and the JSON values stored there.
//!
//! Everything lives under `/tandem/<cluster>/`:
//!
//! | key | value | lifetime |
//! |---|---|---|
//! | `params` | [`Params`]: seed, maximum gateways | created once (create-only transaction), never changed |
//! | `members/<appliance>` | [`Member`] | the appliance's lease |
//! | `gateways/<gateway>` | [`GatewayRec`] | the appliance's lease |
//! | `claims/<address>` | [`Claim`] | the appliance's lease; created only if absent |
//! | `digests/<appliance>` | [`Digest`] | the appliance's lease |
//! | `pins/<session>` | [`Pin`] | until `ctl session delete` |
//! | `drains/<gateway>` | [`Drain`] | until the gateway leaves (its appliance deletes both) |
//!
//! Only rare changes live here: never per-flow state, never a write per new
//! mobile session (traffic-learned pins stay on the tier-1 unit).

use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

/// The cluster's root prefix, with its trailing slash.
pub fn root(cluster: &str) -> String {
    format!("/tandem/{cluster}/")
}

pub fn params(cluster: &str) -> String {
    format!("{}params", root(cluster))
}

pub fn member(cluster: &str, appliance: u32) -> String {
    format!("{}members/{appliance}", root(cluster))
}

pub fn gateway(cluster: &str, gateway: u32) -> String {
    format!("{}gateways/{gateway}", root(cluster))
}

pub fn claim(cluster: &str, addr: Ipv4Addr) -> String {
    format!("{}claims/{addr}", root(cluster))
}

pub fn digest(cluster: &str, appliance: u32) -> String {
    format!("{}digests/{appliance}", root(cluster))
}

/// The pin key of a session, by its text form (`10.8.0.5`, `teid:0x10`).
pub fn pin(cluster: &str, session: &str) -> String {
    format!("{}pins/{session}", root(cluster))
}

pub fn drain(cluster: &str, gateway: u32) -> String {
    format!("{}drains/{gateway}", root(cluster))
}

/// A key below the root, split into its kind and name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key<'a> {
    Params,
    Member(&'a str),
    Gateway(&'a str),
    Claim(&'a str),
    Digest(&'a str),
    Pin(&'a str),
    Drain(&'a str),
}

/// Which key `full` is, if it is one of this cluster's; `None` for keys
/// of other clusters or unknown kinds (ignored, never an error).
pub fn classify<'a>(cluster: &str, full: &'a str) -> Option<Key<'a>> {
    let rest = full.strip_prefix("/tandem/")?.strip_prefix(cluster)?;
    let rest = rest.strip_prefix('/')?;
    if rest == "params" {
        return Some(Key::Params);
    }
    let (kind, name) = rest.split_once('/')?;
    if name.is_empty() {
        return None;
    }
    Some(match kind {
        "members" => Key::Member(name),
        "gateways" => Key::Gateway(name),
        "claims" => Key::Claim(name),
        "digests" => Key::Digest(name),
        "pins" => Key::Pin(name),
        "drains" => Key::Drain(name),
        _ => return None,
    })
}

/// What makes every Maglev table identical (see docs/cluster.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Params {
    pub max_gateways: u32,
    /// Seeds the Maglev permutations; drawn at random by the appliance
    /// that creates the parameters.
    pub seed: u64,
}

/// One appliance of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub appliance_id: u32,
    /// Its address on the fabric.
    pub fabric_addr: Ipv4Addr,
    pub fabric_base_port: u16,
    /// Has access ports (steers sessions).
    pub tier1: bool,
    /// Gateways it offers (its workers when it has server ports, else 0).
    pub gateways: u32,
    /// The lease its keys live under (for `ctl cluster`).
    pub lease: i64,
    pub lease_ttl_s: u64,
}

/// One gateway: one worker of a gateway appliance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayRec {
    pub appliance_id: u32,
    /// Where it is reached on the fabric: the appliance's fabric address
    /// and `fabric_base_port + worker`.
    pub addr: Ipv4Addr,
    pub port: u16,
}

/// Who translates to a gateway (SNAT) address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub appliance_id: u32,
}

/// The digest of the table an appliance built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest {
    /// The highest etcd revision among the inputs it was built from.
    pub generation: i64,
    /// FNV-1a of the inputs as built (see `view::digest`), in hex.
    pub hash: String,
}

/// `ctl gateway drain`: no new sessions for the gateway; it leaves after
/// `steering.move_drain_s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drain {
    /// The appliance whose `ctl` asked for it.
    pub requested_by: u32,
}

/// An API pin: the session is steered to this gateway everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pin {
    pub gateway: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_classify() {
        let c = "lab";
        assert_eq!(classify(c, &params(c)), Some(Key::Params));
        assert_eq!(classify(c, &member(c, 7)), Some(Key::Member("7")));
        assert_eq!(classify(c, &gateway(c, 701)), Some(Key::Gateway("701")));
        let a = Ipv4Addr::new(10, 2, 0, 1);
        assert_eq!(classify(c, &claim(c, a)), Some(Key::Claim("10.2.0.1")));
        assert_eq!(classify(c, &digest(c, 7)), Some(Key::Digest("7")));
        assert_eq!(classify(c, &drain(c, 701)), Some(Key::Drain("701")));
        assert_eq!(
            classify(c, &pin(c, "10.8.0.5@vlan100")),
            Some(Key::Pin("10.8.0.5@vlan100"))
        );
    }

    #[test]
    fn other_clusters_and_unknown_keys_are_ignored() {
        // "lab2" shares the prefix "lab" but is another cluster.
        assert_eq!(classify("lab", "/tandem/lab2/params"), None);
        assert_eq!(classify("lab", "/tandem/lab/whatever/1"), None);
        assert_eq!(classify("lab", "/tandem/lab/pins/"), None);
        assert_eq!(classify("lab", "/other/lab/params"), None);
    }
}
