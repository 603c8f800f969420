//! What an appliance knows of the cluster, read from etcd, and the pure
//! functions that turn it into this appliance's steering inputs.
//!
//! Same inputs, same table: every appliance lists the same gateways (by
//! cluster-wide ID) and the same API pins, so every Maglev table is the
//! same; only the target differs (its own workers are `LocalWorker`, the
//! others `Remote` on the fabric). The digest hashes the inputs as every
//! appliance names them (fabric address and port, never "local"), so equal
//! digests mean equal tables.

use super::keys::{self, Claim, Digest, Drain, GatewayRec, Key, Member, Params, Pin};
use crate::config::cluster::GATEWAYS_PER_APPLIANCE;
use dataplane::tier1::{Gateway, GatewayId, GatewayTarget, SessionId};
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

/// One key-value pair as read from etcd.
#[derive(Debug, Clone)]
pub struct Kv {
    pub key: String,
    pub value: Vec<u8>,
    pub mod_revision: i64,
}

/// Everything under the cluster's prefix, parsed. Values that do not parse
/// are skipped and counted in `bad_values` (another version wrote them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct View {
    pub params: Option<Params>,
    pub members: BTreeMap<u32, Member>,
    pub gateways: BTreeMap<u32, GatewayRec>,
    pub claims: BTreeMap<Ipv4Addr, Claim>,
    pub digests: BTreeMap<u32, Digest>,
    pub pins: BTreeMap<SessionId, u32>,
    /// Gateways draining (`ctl gateway drain`).
    pub drains: BTreeSet<u32>,
    /// The highest mod revision among the table's inputs (params, gateways,
    /// pins, drains): the generation of the table built from this view.
    pub generation: i64,
    pub bad_values: usize,
}

impl View {
    pub fn from_kvs(cluster: &str, kvs: &[Kv]) -> View {
        let mut v = View::default();
        for kv in kvs {
            let Some(key) = keys::classify(cluster, &kv.key) else {
                continue;
            };
            let ok = match key {
                Key::Params => parse(&kv.value).map(|p| v.params = Some(p)).is_some(),
                Key::Member(n) => insert(&mut v.members, n.parse().ok(), parse(&kv.value)),
                // A gateway's ID names its appliance: anything else is
                // refused, so no record can pass for another's worker.
                Key::Gateway(n) => insert(
                    &mut v.gateways,
                    n.parse().ok(),
                    parse::<GatewayRec>(&kv.value).filter(|r| {
                        n.parse::<u32>()
                            .is_ok_and(|id| id / GATEWAYS_PER_APPLIANCE == r.appliance_id)
                    }),
                ),
                Key::Claim(n) => insert(&mut v.claims, n.parse().ok(), parse(&kv.value)),
                Key::Digest(n) => insert(&mut v.digests, n.parse().ok(), parse(&kv.value)),
                Key::Pin(n) => insert(
                    &mut v.pins,
                    n.parse().ok(),
                    parse::<Pin>(&kv.value).map(|p| p.gateway),
                ),
                Key::Drain(n) => match (n.parse(), parse::<Drain>(&kv.value)) {
                    (Ok(g), Some(_)) => {
                        v.drains.insert(g);
                        true
                    }
                    _ => false,
                },
            };
            if !ok {
                v.bad_values += 1;
            } else if matches!(
                key,
                Key::Params | Key::Gateway(_) | Key::Pin(_) | Key::Drain(_)
            ) {
                v.generation = v.generation.max(kv.mod_revision);
            }
        }
        v
    }

    /// Whether `other` holds the same steering inputs (params, gateways,
    /// pins, drains): then the table built from it is the same, and only
    /// members, claims or digests changed.
    pub fn same_inputs(&self, other: &View) -> bool {
        self.params == other.params
            && self.gateways == other.gateways
            && self.pins == other.pins
            && self.drains == other.drains
    }

    /// Whether the members' digests differ (by hash). Only members'
    /// digests count: a digest outlives nothing but its lease.
    pub fn digest_mismatch(&self) -> bool {
        let mut hashes = self
            .digests
            .iter()
            .filter(|(id, _)| self.members.contains_key(id))
            .map(|(_, d)| d.hash.as_str());
        match hashes.next() {
            Some(first) => hashes.any(|h| h != first),
            None => false,
        }
    }
}

fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    serde_json::from_slice(bytes).ok()
}

fn insert<K: Ord, V>(map: &mut BTreeMap<K, V>, key: Option<K>, value: Option<V>) -> bool {
    match (key, value) {
        (Some(k), Some(v)) => {
            map.insert(k, v);
            true
        }
        _ => false,
    }
}

/// The cluster-wide ID of worker `worker` of appliance `appliance`.
pub fn gateway_id(appliance: u32, worker: u16) -> GatewayId {
    GatewayId(appliance * GATEWAYS_PER_APPLIANCE + u32::from(worker))
}

/// The gateway records an appliance publishes: one per worker.
pub fn own_gateways(
    appliance: u32,
    workers: u16,
    fabric_addr: Ipv4Addr,
    base_port: u16,
) -> Vec<(GatewayId, GatewayRec)> {
    (0..workers)
        .map(|w| {
            (
                gateway_id(appliance, w),
                GatewayRec {
                    appliance_id: appliance,
                    addr: fabric_addr,
                    port: base_port.saturating_add(w),
                },
            )
        })
        .collect()
}

/// The steering table's gateways as appliance `me` sees them: its own as
/// local workers, the others remote on the fabric. Sorted by ID.
pub fn table_gateways(view: &View, me: u32) -> Vec<Gateway> {
    view.gateways
        .iter()
        .map(|(&id, rec)| Gateway {
            id: GatewayId(id),
            target: if rec.appliance_id == me {
                GatewayTarget::LocalWorker((id % GATEWAYS_PER_APPLIANCE) as u16)
            } else {
                GatewayTarget::Remote {
                    addr: rec.addr,
                    port: rec.port,
                }
            },
        })
        .collect()
}

/// Live gateways that are draining: no new sessions for them.
pub fn draining(view: &View) -> Vec<GatewayId> {
    view.drains
        .iter()
        .filter(|g| view.gateways.contains_key(g))
        .map(|&g| GatewayId(g))
        .collect()
}

/// The API pins to apply: those whose gateway is live now (a pin to a
/// gateway that is gone waits in etcd and applies if it comes back).
pub fn live_pins(view: &View) -> Vec<(SessionId, GatewayId)> {
    view.pins
        .iter()
        .filter(|(_, g)| view.gateways.contains_key(g))
        .map(|(&s, &g)| (s, GatewayId(g)))
        .collect()
}

/// FNV-1a over a canonical text of the table inputs: the Maglev size basis,
/// every gateway as (ID, fabric address, port), the draining ones, every
/// API pin (as applied: a pin to a draining gateway is applied to its
/// Maglev choice). `gateways`
/// names each gateway as the cluster does (a local worker by its fabric
/// address and port), so every appliance hashes the same bytes.
pub fn digest(
    max_gateways: usize,
    seed: u64,
    gateways: &[(GatewayId, Ipv4Addr, u16)],
    draining: &[GatewayId],
    pins: &[(SessionId, GatewayId)],
) -> u64 {
    let mut h = Fnv::new();
    h.write(format!("max={max_gateways};seed={seed};").as_bytes());
    let mut gateways = gateways.to_vec();
    gateways.sort();
    for (id, addr, port) in gateways {
        h.write(format!("g{}={addr}:{port};", id.0).as_bytes());
    }
    let mut draining = draining.to_vec();
    draining.sort();
    for id in draining {
        h.write(format!("d{};", id.0).as_bytes());
    }
    let mut pins = pins.to_vec();
    pins.sort();
    for (s, g) in pins {
        h.write(format!("p{s}={};", g.0).as_bytes());
    }
    h.0
}

/// The gateways of a built table as the digest names them.
pub fn digest_gateways(
    gateways: &[Gateway],
    me_addr: Ipv4Addr,
    me_base_port: u16,
) -> Vec<(GatewayId, Ipv4Addr, u16)> {
    gateways
        .iter()
        .map(|g| match g.target {
            GatewayTarget::LocalWorker(w) => (g.id, me_addr, me_base_port.saturating_add(w)),
            GatewayTarget::Remote { addr, port } => (g.id, addr, port),
        })
        .collect()
}

struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::tier1::SteeringTable;

    fn kv(key: String, value: &str, rev: i64) -> Kv {
        Kv {
            key,
            value: value.as_bytes().to_vec(),
            mod_revision: rev,
        }
    }

    /// Two gateway appliances (1 with two workers, 2 with one) and a pin.
    fn cluster_kvs() -> Vec<Kv> {
        let c = "lab";
        let mut kvs = vec![kv(keys::params(c), r#"{"max_gateways":64,"seed":7}"#, 2)];
        for (id, rec) in own_gateways(1, 2, Ipv4Addr::new(10, 9, 0, 1), 6081)
            .into_iter()
            .chain(own_gateways(2, 1, Ipv4Addr::new(10, 9, 0, 2), 6081))
        {
            kvs.push(kv(
                keys::gateway(c, id.0),
                &serde_json::to_string(&rec).unwrap(),
                5,
            ));
        }
        kvs.push(kv(keys::pin(c, "10.8.0.5"), r#"{"gateway":200}"#, 9));
        kvs.push(kv(keys::pin(c, "10.8.0.6"), r#"{"gateway":999}"#, 3));
        kvs.push(kv("/tandem/lab/pins/garbage".into(), "{}", 11));
        // Gateway 150 is not appliance 2's: refused.
        kvs.push(kv(
            keys::gateway(c, 150),
            r#"{"appliance_id":2,"addr":"10.9.0.2","port":6081}"#,
            12,
        ));
        kvs
    }

    #[test]
    fn a_view_parses_inputs_and_counts_what_it_cannot_read() {
        let v = View::from_kvs("lab", &cluster_kvs());
        assert_eq!(
            v.params,
            Some(Params {
                max_gateways: 64,
                seed: 7
            })
        );
        assert_eq!(
            v.gateways.keys().copied().collect::<Vec<_>>(),
            [100, 101, 200]
        );
        assert_eq!(v.gateways[&101].port, 6082);
        assert_eq!(v.pins.len(), 2);
        assert_eq!(v.bad_values, 2);
        // The unreadable pin (revision 11) does not count.
        assert_eq!(v.generation, 9);
        // Only pins to live gateways apply.
        assert_eq!(
            live_pins(&v),
            vec![("10.8.0.5".parse().unwrap(), GatewayId(200))]
        );
    }

    #[test]
    fn each_appliance_sees_its_own_workers_local_and_the_rest_remote() {
        let v = View::from_kvs("lab", &cluster_kvs());
        let on_1 = table_gateways(&v, 1);
        assert_eq!(on_1[0].target, GatewayTarget::LocalWorker(0));
        assert_eq!(on_1[1].target, GatewayTarget::LocalWorker(1));
        assert_eq!(
            on_1[2].target,
            GatewayTarget::Remote {
                addr: Ipv4Addr::new(10, 9, 0, 2),
                port: 6081
            }
        );
        // A tier-1-only appliance (3) sees every gateway remote.
        let on_3 = table_gateways(&v, 3);
        assert!(on_3
            .iter()
            .all(|g| matches!(g.target, GatewayTarget::Remote { .. })));
    }

    #[test]
    fn identical_inputs_give_identical_steering_and_digests() {
        let v = View::from_kvs("lab", &cluster_kvs());
        let mut answers = Vec::new();
        let mut digests = Vec::new();
        for (me, addr) in [(1, [10, 9, 0, 1]), (2, [10, 9, 0, 2]), (3, [10, 9, 0, 3])] {
            let gws = table_gateways(&v, me);
            let t = SteeringTable::with_params(64, 7)
                .with_gateways(&gws)
                .unwrap();
            let owners: Vec<GatewayId> = (0..2000u64)
                .map(|s| t.lookup(SessionId(s)).unwrap().gateway)
                .collect();
            answers.push(owners);
            digests.push(digest(
                64,
                0,
                &digest_gateways(&gws, Ipv4Addr::from(addr), 6081),
                &[],
                &live_pins(&v),
            ));
        }
        assert_eq!(answers[0], answers[1]);
        assert_eq!(answers[1], answers[2]);
        assert_eq!(digests[0], digests[1]);
        assert_eq!(digests[1], digests[2]);
    }

    #[test]
    fn the_digest_changes_with_any_input() {
        let v = View::from_kvs("lab", &cluster_kvs());
        let gws = digest_gateways(&table_gateways(&v, 3), Ipv4Addr::new(10, 9, 0, 3), 6081);
        let pins = live_pins(&v);
        let base = digest(64, 0, &gws, &[], &pins);
        assert_ne!(base, digest(65, 0, &gws, &[], &pins));
        assert_ne!(base, digest(64, 1, &gws, &[], &pins));
        assert_ne!(base, digest(64, 0, &gws[1..], &[], &pins));
        assert_ne!(base, digest(64, 0, &gws, &[], &[]));
        assert_ne!(base, digest(64, 0, &gws, &[GatewayId(101)], &pins));
        let mut moved = gws.clone();
        moved[0].2 += 1;
        assert_ne!(base, digest(64, 0, &moved, &[], &pins));
        // Order does not matter.
        let mut reversed = gws.clone();
        reversed.reverse();
        assert_eq!(base, digest(64, 0, &reversed, &[], &pins));
    }

    #[test]
    fn digests_and_members_are_not_steering_inputs() {
        let c = "lab";
        let base = View::from_kvs(c, &cluster_kvs());
        let mut kvs = cluster_kvs();
        kvs.push(kv(
            keys::digest(c, 1),
            r#"{"generation":9,"hash":"aa"}"#,
            20,
        ));
        assert!(base.same_inputs(&View::from_kvs(c, &kvs)));
        kvs.push(kv(keys::drain(c, 101), r#"{"requested_by":1}"#, 21));
        assert!(!base.same_inputs(&View::from_kvs(c, &kvs)));
    }

    #[test]
    fn a_mismatch_is_seen_only_between_members() {
        let c = "lab";
        let member = |id: u32| Member {
            appliance_id: id,
            fabric_addr: Ipv4Addr::new(10, 9, 0, id as u8),
            fabric_base_port: 6081,
            tier1: true,
            gateways: 0,
            lease: 1,
            lease_ttl_s: 3,
        };
        let mut kvs = Vec::new();
        for id in 1..=2 {
            kvs.push(kv(
                keys::member(c, id),
                &serde_json::to_string(&member(id)).unwrap(),
                1,
            ));
        }
        kvs.push(kv(keys::digest(c, 1), r#"{"generation":4,"hash":"aa"}"#, 1));
        kvs.push(kv(keys::digest(c, 2), r#"{"generation":4,"hash":"aa"}"#, 1));
        assert!(!View::from_kvs(c, &kvs).digest_mismatch());
        // A digest left by a non-member does not count...
        kvs.push(kv(keys::digest(c, 3), r#"{"generation":2,"hash":"bb"}"#, 1));
        assert!(!View::from_kvs(c, &kvs).digest_mismatch());
        // ...a member's does.
        kvs.push(kv(
            keys::member(c, 3),
            &serde_json::to_string(&member(3)).unwrap(),
            1,
        ));
        assert!(View::from_kvs(c, &kvs).digest_mismatch());
    }
}
