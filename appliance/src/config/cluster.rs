//! The `cluster:` section: an appliance's membership in a cluster of
//! appliances that share their steering inputs through etcd, and the rules
//! that tie it to the ports.
//!
//! An appliance's ports say what it does in the cluster: access ports make
//! it a tier-1 unit, server/external ports make it a packet gateway, the
//! `Fabric` port is its address on the second network joining them. Any mix
//! is valid; without `cluster:` the old rule (one access and one server
//! port) holds and nothing about the appliance changes. Kept apart from
//! `validate.rs`; called at its end.

use super::locate::Seg;
use super::schema::{Config, Role, SessionKey};
use super::validate::Violation;
use serde::{Deserialize, Serialize};
use std::net::{Ipv4Addr, SocketAddr};

/// Largest appliance ID: gateway IDs are `appliance × 100 + worker`.
pub const MAX_APPLIANCE_ID: u32 = 42_000_000;
/// Gateway IDs per appliance (more than the 64 workers allowed).
pub const GATEWAYS_PER_APPLIANCE: u32 = 100;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    /// The cluster's name: every key lives under `/tandem/<name>/`.
    pub name: String,
    /// This appliance's ID, unique in the cluster (1..=42000000).
    pub appliance_id: u32,
    /// etcd client URLs, e.g. `["http://127.0.0.1:2379"]`.
    pub etcd: Vec<String>,
    /// Lease time to live: a member whose keepalives stop is gone after
    /// this long.
    #[serde(default = "default_lease_ttl")]
    pub lease_ttl_s: u64,
    /// How long one etcd request may take before etcd counts as
    /// unreachable.
    #[serde(default = "default_etcd_timeout")]
    pub etcd_timeout_ms: u64,
    /// Gateway i of this appliance listens on the fabric at
    /// `fabric_base_port + i` (UDP, Geneve).
    #[serde(default = "default_fabric_base_port")]
    pub fabric_base_port: u16,
    /// The fabric network's MTU (outer packets are never fragmented).
    #[serde(default = "default_fabric_mtu")]
    pub fabric_mtu: u16,
    /// The gateway count every Maglev table is sized for. Written to etcd
    /// by the first appliance; one whose value differs refuses to start.
    #[serde(default = "default_max_gateways")]
    pub max_gateways: u32,
}

fn default_lease_ttl() -> u64 {
    3
}
fn default_etcd_timeout() -> u64 {
    1000
}
fn default_fabric_base_port() -> u16 {
    6081
}
fn default_fabric_mtu() -> u16 {
    1500
}
fn default_max_gateways() -> u32 {
    dataplane::tier1::DEFAULT_MAX_GATEWAYS as u32
}

/// What an appliance does, from its ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    /// Has an access port: steers sessions (tier 1).
    pub tier1: bool,
    /// Has a server or external port: its workers are gateways (tier 2).
    pub gateway: bool,
}

pub fn roles(c: &Config) -> Roles {
    Roles {
        tier1: c.ports.iter().any(|p| p.role == Role::Access),
        gateway: c
            .ports
            .iter()
            .any(|p| matches!(p.role, Role::Server | Role::External)),
    }
}

/// The fabric port's first address (the address other appliances reach
/// this one's gateways at); `None` without a fabric port or address.
pub fn fabric_addr(c: &Config) -> Option<Ipv4Addr> {
    c.ports
        .iter()
        .find(|p| p.role == Role::Fabric)
        .and_then(|p| p.addresses.first())
        .map(|a| a.addr)
}

fn field(name: &'static str) -> Seg<'static> {
    Seg::Field(name)
}

/// Bytes the fabric adds in front of a terminal's IPv4 packet: outer IPv4,
/// UDP, Geneve, the Tandem option and the inner Ethernet header.
const FABRIC_ENCAP: u16 = 20 + 8 + 8 + 20 + 14;

fn at(f: &'static str) -> Vec<Seg<'static>> {
    vec![field("cluster"), field(f)]
}

/// The cluster rules; without a `cluster:` section only "no fabric port".
pub fn validate(c: &Config) -> Result<(), Violation> {
    let fabric_ports: Vec<usize> = c
        .ports
        .iter()
        .enumerate()
        .filter(|(_, p)| p.role == Role::Fabric)
        .map(|(i, _)| i)
        .collect();
    let Some(cl) = &c.cluster else {
        if let Some(&i) = fabric_ports.first() {
            return Err(Violation {
                path: vec![field("ports"), Seg::Index(i), field("role")],
                message: "a Fabric port joins a cluster; add a cluster: section (see docs/cluster.md) or give the port another role".into(),
            });
        }
        return Ok(());
    };
    if cl.name.is_empty()
        || !cl
            .name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
    {
        return Err(Violation {
            path: at("name"),
            message: format!(
                "cluster name \"{}\" must be letters, digits, '-' or '_' (it is a key prefix in etcd)",
                cl.name
            ),
        });
    }
    if cl.appliance_id == 0 || cl.appliance_id > MAX_APPLIANCE_ID {
        return Err(Violation {
            path: at("appliance_id"),
            message: format!("appliance_id must be 1..={MAX_APPLIANCE_ID}"),
        });
    }
    if cl.etcd.is_empty() {
        return Err(Violation {
            path: at("etcd"),
            message: "give at least one etcd endpoint, e.g. [\"http://127.0.0.1:2379\"]".into(),
        });
    }
    for (i, url) in cl.etcd.iter().enumerate() {
        let hostport = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
            .unwrap_or(url);
        if hostport.parse::<SocketAddr>().is_err() {
            return Err(Violation {
                path: vec![field("cluster"), field("etcd"), Seg::Index(i)],
                message: format!(
                    "etcd endpoint \"{url}\" is not http://ADDRESS:PORT (e.g. \"http://127.0.0.1:2379\")"
                ),
            });
        }
    }
    if cl.lease_ttl_s == 0 || cl.lease_ttl_s > 60 {
        return Err(Violation {
            path: at("lease_ttl_s"),
            message: "lease_ttl_s must be 1..=60 (a failed member is noticed this late)".into(),
        });
    }
    if cl.etcd_timeout_ms == 0 || cl.etcd_timeout_ms > 10_000 {
        return Err(Violation {
            path: at("etcd_timeout_ms"),
            message: "etcd_timeout_ms must be 1..=10000".into(),
        });
    }
    if cl.max_gateways == 0 || cl.max_gateways > 10_000 {
        return Err(Violation {
            path: at("max_gateways"),
            message: "max_gateways must be 1..=10000".into(),
        });
    }
    // Geneve: outer IPv4 (20) + UDP (8) + Geneve (8) + the Tandem option
    // (20) + inner Ethernet (14) must leave room for a 576-byte packet.
    if cl.fabric_mtu < 576 + FABRIC_ENCAP || cl.fabric_mtu > 9216 {
        return Err(Violation {
            path: at("fabric_mtu"),
            message: format!(
                "fabric_mtu {} must be {}..=9216 (the encapsulation adds {FABRIC_ENCAP} bytes to a packet of at least 576)",
                cl.fabric_mtu,
                576 + FABRIC_ENCAP
            ),
        });
    }
    // A fabric frame (outer Ethernet included) must fit one mbuf after
    // DPDK's 128 bytes of headroom.
    let room = usize::from(c.mempool.data_room).saturating_sub(128);
    if usize::from(cl.fabric_mtu) + 14 > room {
        return Err(Violation {
            path: at("fabric_mtu"),
            message: format!(
                "fabric_mtu {} does not fit an mbuf of mempool.data_room {} (frames up to {room} bytes); \
                 raise data_room to at least {} or lower fabric_mtu",
                cl.fabric_mtu,
                c.mempool.data_room,
                usize::from(cl.fabric_mtu) + 14 + 128
            ),
        });
    }
    if c.steering.key == SessionKey::GtpTeid {
        return Err(Violation {
            path: vec![field("steering"), field("key")],
            message:
                "session key GtpTeid is not supported in a cluster: GTP-U tunnels do not cross \
                      the fabric (a gateway on another appliance could not send the downlink back \
                      through the tunnel); use SourceIp or SourceIpVlan, or run stand-alone"
                    .into(),
        });
    }
    let workers = c.workers.len() as u32;
    if u32::from(cl.fabric_base_port) == 0
        || u32::from(cl.fabric_base_port) + workers > u32::from(u16::MAX) + 1
    {
        return Err(Violation {
            path: at("fabric_base_port"),
            message: format!(
                "fabric_base_port {} leaves no room for {workers} gateway ports (base + worker index)",
                cl.fabric_base_port
            ),
        });
    }
    match fabric_ports.as_slice() {
        [] => {
            return Err(Violation {
                path: vec![field("ports")],
                message: "a cluster member needs one port with role Fabric (the network joining the appliances)".into(),
            })
        }
        [i] => {
            if c.ports[*i].addresses.is_empty() {
                return Err(Violation {
                    path: vec![field("ports"), Seg::Index(*i), field("role")],
                    message: format!(
                        "fabric port \"{}\" needs an address: the other appliances reach its gateways there",
                        c.ports[*i].name
                    ),
                });
            }
        }
        [_, second, ..] => {
            return Err(Violation {
                path: vec![field("ports"), Seg::Index(*second), field("role")],
                message: "only one port may have role Fabric".into(),
            })
        }
    }
    let r = roles(c);
    if !r.tier1 && !r.gateway {
        return Err(Violation {
            path: vec![field("ports")],
            message: "this appliance has neither an Access port (tier-1 unit) nor a Server or External port (gateway); give it at least one".into(),
        });
    }
    Ok(())
}
