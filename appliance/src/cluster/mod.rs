//! Tandem as a cluster of appliances (docs/cluster.md): tier-1 units and
//! packet gateways on different machines agree on one steering table
//! through etcd.
//!
//! `agent` talks to etcd on its own thread; `view` and `keys` are the pure
//! layout and table-building rules; this file is the control loop's side:
//! it applies a view to the session manager (gateways, API pins) and
//! computes the digest of what it built. Workers see the result only
//! through the steering snapshots, as always.

pub mod agent;
pub mod keys;
pub mod view;

use dataplane::tier1::{
    FabricPeer, FabricPeers, GatewayId, SessionId, SessionManager, SessionOrigin, SteeringError,
};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use view::View;

/// Who this appliance is in its cluster, from a checked config; `None`
/// for a stand-alone appliance.
pub fn me(cfg: &crate::config::Config) -> Option<agent::Me> {
    let cl = cfg.cluster.as_ref()?;
    let roles = crate::config::cluster::roles(cfg);
    Some(agent::Me {
        cluster: cl.name.clone(),
        appliance_id: cl.appliance_id,
        etcd: cl.etcd.clone(),
        lease_ttl_s: cl.lease_ttl_s,
        timeout: std::time::Duration::from_millis(cl.etcd_timeout_ms),
        fabric_addr: crate::config::cluster::fabric_addr(cfg)?,
        fabric_base_port: cl.fabric_base_port,
        tier1: roles.tier1,
        gateways: if roles.gateway {
            cfg.workers.len() as u16
        } else {
            0
        },
        gateway_addresses: if roles.gateway {
            cfg.gateway.addresses.iter().map(|a| a.0).collect()
        } else {
            Vec::new()
        },
        max_gateways: cl.max_gateways,
        drain_s: cfg.steering.move_drain_s,
    })
}

/// What the control loop holds of the cluster.
pub struct Link {
    pub handle: agent::Handle,
    pub me: agent::Me,
    /// The view last applied.
    pub view: View,
    pub reachable: bool,
    /// The digest last reported to the agent.
    pub digest: Option<keys::Digest>,
    /// Gateways left out of Maglev now (draining).
    pub draining: Vec<GatewayId>,
}

impl Link {
    pub fn new(handle: agent::Handle, me: agent::Me) -> Link {
        Link {
            view: handle.initial.clone(),
            handle,
            me,
            reachable: true,
            digest: None,
            draining: Vec::new(),
        }
    }

    /// Tells the agent the digest of the table now built, if it changed.
    pub fn report_digest(&mut self, manager: &SessionManager) {
        let hash = table_digest(
            manager,
            self.handle.params.max_gateways as usize,
            self.handle.params.seed,
            self.me.fabric_addr,
            self.me.fabric_base_port,
            &self.draining,
        );
        let d = keys::Digest {
            generation: self.view.generation,
            hash: format!("{hash:016x}"),
        };
        if self.digest.as_ref() != Some(&d) {
            self.digest = Some(d.clone());
            let _ = self.handle.commands.send(agent::Command::Digest(d));
        }
    }
}

/// Makes `manager` follow `view`: its gateways become the cluster's (own
/// workers local, the rest remote; draining ones out of Maglev), its API
/// pins become exactly the view's pins to live gateways (moved ones drain
/// as with a local move). Sessions pinned to a draining gateway, learned
/// or not, move to their Maglev choice and drain from it, so its open user
/// sessions finish there. Traffic-learned pins are otherwise left alone
/// unless their gateway is gone. `draining` is the set in force, updated.
/// Returns whether the gateway set changed (the caller publishes it).
pub fn apply_view(
    manager: &mut SessionManager,
    view: &View,
    me: u32,
    now_ms: u64,
    draining: &mut Vec<GatewayId>,
) -> Result<bool, SteeringError> {
    let gateways = view::table_gateways(view, me);
    let now_draining = view::draining(view);
    let changed = manager.gateways() != gateways.as_slice() || *draining != now_draining;
    if changed {
        manager.set_gateways_excluding(&gateways, &now_draining)?;
        *draining = now_draining;
    }
    let away = |g: GatewayId| draining.contains(&g);
    let desired: BTreeMap<SessionId, GatewayId> = view::live_pins(view)
        .into_iter()
        .filter_map(|(s, g)| {
            if away(g) {
                manager.maglev_choice(s).map(|m| (s, m))
            } else {
                Some((s, g))
            }
        })
        .collect();
    if changed && !draining.is_empty() {
        let leaving: Vec<(SessionId, GatewayId)> = manager
            .list()
            .into_iter()
            .filter(|i| away(i.gateway))
            .filter_map(|i| manager.maglev_choice(i.id).map(|m| (i.id, m)))
            .collect();
        for (session, target) in leaving {
            let _ = manager.move_to(session, target);
        }
    }
    for (&session, &gateway) in &desired {
        let current = manager.get(session);
        if current.is_some_and(|i| i.origin == SessionOrigin::Api && i.gateway == gateway) {
            continue;
        }
        // Only an unknown gateway fails, and live_pins lists live ones.
        let _ = manager.pin_api(session, gateway, now_ms);
    }
    let stale: Vec<SessionId> = manager
        .list()
        .into_iter()
        .filter(|i| i.origin == SessionOrigin::Api && !desired.contains_key(&i.id))
        .map(|i| i.id)
        .collect();
    for session in stale {
        let _ = manager.delete(session);
    }
    Ok(changed)
}

/// The members' fabric addresses and the table generation of `view`, for
/// the workers (`dataplane::pipeline::fabric`): a fabric packet is believed
/// only from a member, and names it.
pub fn fabric_peers(view: &View) -> FabricPeers {
    FabricPeers::new(
        u64::try_from(view.generation).unwrap_or(0),
        view.members
            .values()
            .map(|m| FabricPeer {
                appliance_id: m.appliance_id,
                addr: m.fabric_addr,
                base_port: m.fabric_base_port,
            })
            .collect(),
    )
}

/// The digest of the table `manager` holds: its gateways as the cluster
/// names them and its API pins (traffic-learned pins are each tier-1
/// unit's own and not part of it).
pub fn table_digest(
    manager: &SessionManager,
    max_gateways: usize,
    seed: u64,
    fabric_addr: Ipv4Addr,
    fabric_base_port: u16,
    draining: &[GatewayId],
) -> u64 {
    let gateways = view::digest_gateways(manager.gateways(), fabric_addr, fabric_base_port);
    let pins: Vec<(SessionId, GatewayId)> = manager
        .list()
        .into_iter()
        .filter(|i| i.origin == SessionOrigin::Api)
        .map(|i| (i.id, i.gateway))
        .collect();
    view::digest(max_gateways, seed, &gateways, draining, &pins)
}

#[cfg(test)]
mod tests {
    use super::*;
    use view::Kv;

    fn view_with(gateway_appliances: &[u32], pins: &[(&str, u32)]) -> View {
        let c = "t";
        let mut kvs = Vec::new();
        for &a in gateway_appliances {
            for (id, rec) in view::own_gateways(a, 2, Ipv4Addr::new(10, 9, 0, a as u8), 6081) {
                kvs.push(Kv {
                    key: keys::gateway(c, id.0),
                    value: serde_json::to_vec(&rec).unwrap(),
                    mod_revision: 1,
                });
            }
        }
        for (s, g) in pins {
            kvs.push(Kv {
                key: keys::pin(c, s),
                value: serde_json::to_vec(&keys::Pin { gateway: *g }).unwrap(),
                mod_revision: 2,
            });
        }
        View::from_kvs(c, &kvs)
    }

    fn manager() -> SessionManager {
        let mut m = SessionManager::with_max_gateways(60_000, 64);
        m.set_drain_ms(5000);
        m
    }

    #[test]
    fn a_view_sets_gateways_and_api_pins_and_keeps_learned_pins() {
        let mut m = manager();
        let v = view_with(&[1, 2], &[("10.8.0.1", 201)]);
        assert!(apply_view(&mut m, &v, 3, 0, &mut Vec::new()).unwrap());
        assert_eq!(m.gateways().len(), 4);
        let pinned = m.get("10.8.0.1".parse().unwrap()).unwrap();
        assert_eq!(
            (pinned.gateway, pinned.origin),
            (GatewayId(201), SessionOrigin::Api)
        );
        // A learned pin, then the same view again: nothing changes.
        let learned: SessionId = "10.8.0.2".parse().unwrap();
        m.pin_request(learned, GatewayId(100), 0).unwrap();
        m.take_changes();
        assert!(!apply_view(&mut m, &v, 3, 10, &mut Vec::new()).unwrap());
        assert!(m.take_changes().is_empty());
        assert!(m.get(learned).is_some());
    }

    #[test]
    fn a_moved_pin_drains_and_a_removed_pin_is_deleted() {
        let mut m = manager();
        apply_view(
            &mut m,
            &view_with(&[1, 2], &[("10.8.0.1", 201)]),
            3,
            0,
            &mut Vec::new(),
        )
        .unwrap();
        let s: SessionId = "10.8.0.1".parse().unwrap();
        apply_view(
            &mut m,
            &view_with(&[1, 2], &[("10.8.0.1", 100)]),
            3,
            5,
            &mut Vec::new(),
        )
        .unwrap();
        assert_eq!(m.get(s).unwrap().gateway, GatewayId(100));
        assert_eq!(m.draining_from(s), Some(GatewayId(201)));
        apply_view(&mut m, &view_with(&[1, 2], &[]), 3, 9, &mut Vec::new()).unwrap();
        assert!(m.get(s).is_none());
    }

    #[test]
    fn a_lost_member_takes_its_gateways_and_their_pins_with_it() {
        let mut m = manager();
        apply_view(
            &mut m,
            &view_with(&[1, 2], &[("10.8.0.1", 201)]),
            3,
            0,
            &mut Vec::new(),
        )
        .unwrap();
        let learned: SessionId = "10.8.0.2".parse().unwrap();
        m.pin_request(learned, GatewayId(200), 0).unwrap();
        // Appliance 2's lease expired: its gateways are gone.
        let v = view_with(&[1], &[("10.8.0.1", 201)]);
        assert!(apply_view(&mut m, &v, 3, 10, &mut Vec::new()).unwrap());
        assert_eq!(m.gateways().len(), 2);
        assert!(m.get(learned).is_none());
        assert!(m.get("10.8.0.1".parse().unwrap()).is_none());
        // It comes back: the API pin in etcd applies again.
        apply_view(
            &mut m,
            &view_with(&[1, 2], &[("10.8.0.1", 201)]),
            3,
            20,
            &mut Vec::new(),
        )
        .unwrap();
        assert_eq!(
            m.get("10.8.0.1".parse().unwrap()).unwrap().gateway,
            GatewayId(201)
        );
    }

    #[test]
    fn a_draining_gateway_gets_no_new_sessions_and_its_pins_drain_elsewhere() {
        let mut m = manager();
        let mut draining = Vec::new();
        let v = view_with(&[1, 2], &[("10.8.0.1", 201)]);
        apply_view(&mut m, &v, 3, 0, &mut draining).unwrap();
        // A learned pin on 201 too.
        let learned = (0..1000u64)
            .map(SessionId)
            .find(|s| m.maglev_choice(*s) == Some(GatewayId(201)))
            .unwrap();
        m.pin_request(learned, GatewayId(201), 0).unwrap();
        // ctl gateway drain 201.
        let mut kvs_view = v.clone();
        kvs_view.drains.insert(201);
        assert!(apply_view(&mut m, &kvs_view, 3, 10, &mut draining).unwrap());
        assert_eq!(draining, [GatewayId(201)]);
        for s in ["10.8.0.1".parse().unwrap(), learned] {
            let info = m.get(s).unwrap();
            assert_ne!(info.gateway, GatewayId(201));
            assert_eq!(m.draining_from(s), Some(GatewayId(201)), "{s}");
        }
        assert!((0..2000u64).all(|s| m.maglev_choice(SessionId(s)) != Some(GatewayId(201))));
        // Applying the same view again changes nothing.
        m.take_changes();
        assert!(!apply_view(&mut m, &kvs_view, 3, 20, &mut draining).unwrap());
        assert!(m.take_changes().is_empty());
        // It leaves: the moved pins stay where they went.
        let mut gone = kvs_view.clone();
        gone.gateways.remove(&201);
        gone.drains.remove(&201);
        assert!(apply_view(&mut m, &gone, 3, 30, &mut draining).unwrap());
        assert!(draining.is_empty());
        assert!(m.get(learned).is_some());
        // The API pin to 201 waits in etcd; 201 is gone, so it is not applied.
        assert!(m.get("10.8.0.1".parse().unwrap()).is_none());
    }

    #[test]
    fn appliances_that_applied_the_same_view_report_the_same_digest() {
        let v = view_with(&[1, 2], &[("10.8.0.1", 201), ("teid:0x10", 100)]);
        let digests: Vec<u64> = [1u32, 2, 3]
            .iter()
            .map(|&me| {
                let mut m = manager();
                apply_view(&mut m, &v, me, 0, &mut Vec::new()).unwrap();
                // Learned pins differ per tier-1 unit and do not count.
                m.pin_request(SessionId(u64::from(me)), GatewayId(100), 0)
                    .unwrap();
                table_digest(&m, 64, 0, Ipv4Addr::new(10, 9, 0, me as u8), 6081, &[])
            })
            .collect();
        assert_eq!(digests[0], digests[1]);
        assert_eq!(digests[1], digests[2]);
        let mut m = manager();
        apply_view(&mut m, &view_with(&[1], &[]), 3, 0, &mut Vec::new()).unwrap();
        assert_ne!(
            table_digest(&m, 64, 0, Ipv4Addr::new(10, 9, 0, 3), 6081, &[]),
            digests[0]
        );
    }
}
