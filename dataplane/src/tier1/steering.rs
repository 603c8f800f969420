//! The steering table: which gateway owns a session.
//!
//! This is the snapshot the control plane publishes to every worker through
//! [`crate::rcu`]. It holds the live gateways, the Maglev table built over
//! them and the pinned sessions. A lookup checks the pinned map first (an
//! entry counts only while its gateway is live) and otherwise asks Maglev,
//! so every tier-1 stage that holds the same table gives the same answer.
//! Deriving a new table after a pin change shares the Maglev table and the
//! untouched parts of the pinned map with the old one.
//!
//! Maglev only moves few sessions on a gateway change if the table size
//! stays the same, so the size is derived from a configured maximum number
//! of gateways ([`SteeringTable::with_max_gateways`]), not from the current
//! count: `Maglev::size_for(max(max_gateways, live gateways))`. Every
//! appliance must use the same maximum to agree on unpinned sessions;
//! exceeding it grows the table once, which reshuffles unpinned sessions.

use std::fmt;
use std::net::Ipv4Addr;
use std::sync::Arc;

use hashbrown::HashMap;

use super::fabric_peers::FabricPeers;
use super::maglev::Maglev;
use super::pinned::PinnedMap;
use super::session_id::SessionId;

/// The identity of one tier-2 gateway; stable across appliances.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GatewayId(pub u32);

impl fmt::Display for GatewayId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Where a gateway's packets go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GatewayTarget {
    /// A worker core of this appliance, by worker index.
    LocalWorker(u16),
    /// A gateway in another appliance, reached by Geneve encapsulation to
    /// this fabric address and UDP port (`pipeline/fabric.rs`).
    Remote { addr: Ipv4Addr, port: u16 },
}

/// One live gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Gateway {
    pub id: GatewayId,
    pub target: GatewayTarget,
}

/// The answer of a lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Steer {
    pub gateway: GatewayId,
    pub target: GatewayTarget,
    /// `true` when the answer came from a pinned entry; `false` means Maglev
    /// chose it and the session is not pinned yet.
    pub pinned: bool,
}

/// Why a gateway list was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SteeringError {
    /// The same gateway id was given two different targets.
    ConflictingGateway {
        id: GatewayId,
        first: GatewayTarget,
        second: GatewayTarget,
    },
}

impl fmt::Display for SteeringError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SteeringError::ConflictingGateway { id, first, second } => write!(
                f,
                "gateway {id} is listed twice with different targets ({first:?} and {second:?}); \
                 give every gateway a unique id"
            ),
        }
    }
}

impl std::error::Error for SteeringError {}

/// The gateway count the Maglev table is sized for unless configured
/// otherwise.
pub const DEFAULT_MAX_GATEWAYS: usize = 64;

/// Gateways, Maglev table and pinned sessions: one immutable snapshot.
#[derive(Clone, Debug)]
pub struct SteeringTable {
    /// Live gateways sorted by id.
    gateways: Arc<[Gateway]>,
    maglev: Arc<Maglev>,
    pinned: PinnedMap,
    /// Moved sessions still draining: session -> the gateway it left, whose
    /// existing user sessions keep running there (see `draining_from`).
    /// Few entries, read only when a gateway misses a flow.
    draining: Arc<HashMap<SessionId, GatewayId>>,
    /// The gateway count the Maglev table size is derived from.
    max_gateways: usize,
    /// The Maglev permutations' seed (0 unless a cluster shares another).
    seed: u64,
    /// The cluster members on the fabric and the table generation (empty
    /// on a stand-alone appliance).
    fabric: Arc<FabricPeers>,
}

impl Default for SteeringTable {
    fn default() -> Self {
        SteeringTable::with_max_gateways(DEFAULT_MAX_GATEWAYS)
    }
}

impl SteeringTable {
    /// A table over `gateways` with no pinned sessions, sized for
    /// [`DEFAULT_MAX_GATEWAYS`].
    pub fn new(gateways: &[Gateway]) -> Result<SteeringTable, SteeringError> {
        SteeringTable::default().with_gateways(gateways)
    }

    /// An empty table (no gateways, no pins) whose Maglev table will be
    /// sized for `max_gateways`; tables derived from it keep that size.
    pub fn with_max_gateways(max_gateways: usize) -> SteeringTable {
        SteeringTable::with_params(max_gateways, 0)
    }

    /// Like [`with_max_gateways`](SteeringTable::with_max_gateways), with
    /// Maglev permutations drawn from `seed`: every appliance of a cluster
    /// uses the cluster's maximum and seed, so their tables are identical.
    pub fn with_params(max_gateways: usize, seed: u64) -> SteeringTable {
        SteeringTable {
            gateways: Arc::from(Vec::new()),
            maglev: Arc::new(Maglev::new(&[], 0)),
            pinned: PinnedMap::new(),
            draining: Arc::default(),
            max_gateways,
            seed,
            fabric: Arc::default(),
        }
    }

    /// A new table over `gateways` (order does not matter; exact duplicates
    /// are merged) keeping this table's pinned sessions. Pins to gateways
    /// that are no longer listed stay in the map but are ignored by lookups.
    pub fn with_gateways(&self, gateways: &[Gateway]) -> Result<SteeringTable, SteeringError> {
        self.with_gateways_excluding(gateways, &[])
    }

    /// Like [`with_gateways`](SteeringTable::with_gateways), but the
    /// gateways in `not_for_new` (draining) get no unpinned session: they
    /// stay live for their pins and drains, Maglev spreads the rest over
    /// the others. The table size still counts them, so it does not change
    /// when a drain starts or ends.
    pub fn with_gateways_excluding(
        &self,
        gateways: &[Gateway],
        not_for_new: &[GatewayId],
    ) -> Result<SteeringTable, SteeringError> {
        let mut sorted = gateways.to_vec();
        sorted.sort_by_key(|gateway| gateway.id);
        sorted.dedup();
        if let Some(pair) = sorted.windows(2).find(|pair| pair[0].id == pair[1].id) {
            return Err(SteeringError::ConflictingGateway {
                id: pair[0].id,
                first: pair[0].target,
                second: pair[1].target,
            });
        }
        let ids: Vec<u32> = sorted
            .iter()
            .map(|gateway| gateway.id)
            .filter(|id| !not_for_new.contains(id))
            .map(|id| id.0)
            .collect();
        let size = Maglev::size_for(self.max_gateways.max(sorted.len()));
        Ok(SteeringTable {
            maglev: Arc::new(Maglev::with_seed(&ids, size, self.seed)),
            gateways: Arc::from(sorted),
            pinned: self.pinned.clone(),
            draining: Arc::clone(&self.draining),
            max_gateways: self.max_gateways,
            seed: self.seed,
            fabric: Arc::clone(&self.fabric),
        })
    }

    /// A new table with pin `changes` applied (`Some` pins, `None` unpins),
    /// sharing the gateways, the Maglev table and the untouched parts of the
    /// pinned map.
    pub fn with_pins(&self, changes: &[(SessionId, Option<GatewayId>)]) -> SteeringTable {
        SteeringTable {
            gateways: Arc::clone(&self.gateways),
            maglev: Arc::clone(&self.maglev),
            pinned: self.pinned.apply(changes),
            draining: Arc::clone(&self.draining),
            max_gateways: self.max_gateways,
            seed: self.seed,
            fabric: Arc::clone(&self.fabric),
        }
    }

    /// A new table with these fabric members and generation, sharing
    /// everything else.
    pub fn with_fabric(&self, peers: FabricPeers) -> SteeringTable {
        SteeringTable {
            fabric: Arc::new(peers),
            ..self.clone()
        }
    }

    /// The cluster members on the fabric and the table generation.
    #[inline]
    pub fn fabric(&self) -> &FabricPeers {
        &self.fabric
    }

    /// A new table with drain `changes` applied: `Some(previous)` marks a
    /// session as draining from `previous`, `None` ends its drain.
    pub fn with_draining(&self, changes: &[(SessionId, Option<GatewayId>)]) -> SteeringTable {
        let mut draining = HashMap::clone(&self.draining);
        for (id, previous) in changes {
            match previous {
                Some(gateway) => draining.insert(*id, *gateway),
                None => draining.remove(id),
            };
        }
        SteeringTable {
            draining: Arc::new(draining),
            ..self.clone()
        }
    }

    /// The live gateway a moved session is draining from: its user sessions
    /// that existed before the move still run there. `None` when the
    /// session is not draining or that gateway is gone.
    #[inline]
    pub fn draining_from(&self, id: SessionId) -> Option<&Gateway> {
        if self.draining.is_empty() {
            return None;
        }
        self.gateway(*self.draining.get(&id)?)
    }

    /// The gateway that owns `id`: its pinned gateway if that one is live,
    /// else the Maglev choice; `None` only without live gateways.
    /// Never allocates.
    #[inline]
    pub fn lookup(&self, id: SessionId) -> Option<Steer> {
        if let Some(pinned) = self.pinned.get(id) {
            if let Some(gateway) = self.gateway(pinned) {
                return Some(Steer {
                    gateway: gateway.id,
                    target: gateway.target,
                    pinned: true,
                });
            }
        }
        let gateway = self.gateway(self.maglev_choice(id)?)?;
        Some(Steer {
            gateway: gateway.id,
            target: gateway.target,
            pinned: false,
        })
    }

    /// The gateway Maglev gives `id`, ignoring pins.
    #[inline]
    pub fn maglev_choice(&self, id: SessionId) -> Option<GatewayId> {
        self.maglev.lookup(id.steering_hash()).map(GatewayId)
    }

    /// The live gateway with this id.
    #[inline]
    pub fn gateway(&self, id: GatewayId) -> Option<&Gateway> {
        let position = self
            .gateways
            .binary_search_by_key(&id, |gateway| gateway.id)
            .ok()?;
        self.gateways.get(position)
    }

    /// The live gateways, sorted by id.
    pub fn gateways(&self) -> &[Gateway] {
        &self.gateways
    }

    /// The gateway count the Maglev table is sized for.
    pub fn max_gateways(&self) -> usize {
        self.max_gateways
    }

    /// Slots in the Maglev table (0 without gateways).
    pub fn maglev_table_size(&self) -> usize {
        self.maglev.table_size()
    }

    /// The pinned sessions (including pins to gateways no longer live).
    pub fn pinned(&self) -> &PinnedMap {
        &self.pinned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gateway_excluded_for_new_sessions_keeps_its_pins() {
        let gateways: Vec<Gateway> = (0..3)
            .map(|i| Gateway {
                id: GatewayId(i),
                target: GatewayTarget::LocalWorker(i as u16),
            })
            .collect();
        let all = SteeringTable::new(&gateways).unwrap();
        let pinned = SessionId(1_000_000);
        let t = all
            .with_gateways_excluding(&gateways, &[GatewayId(1)])
            .unwrap()
            .with_pins(&[(pinned, Some(GatewayId(1)))]);
        assert_eq!(t.maglev_table_size(), all.maglev_table_size());
        assert!(t.gateway(GatewayId(1)).is_some());
        assert_eq!(t.lookup(pinned).unwrap().gateway, GatewayId(1));
        let (mut moved, mut others_moved) = (0, 0);
        for s in 0..3000u64 {
            let before = all.lookup(SessionId(s)).unwrap().gateway;
            let after = t.lookup(SessionId(s)).unwrap().gateway;
            assert_ne!(after, GatewayId(1));
            if before == GatewayId(1) {
                moved += 1;
            } else if before != after {
                others_moved += 1;
            }
        }
        assert!(moved > 500, "{moved}");
        // The seed deals the slots out differently, the same for everyone.
        let seeded = |seed| {
            let t = SteeringTable::with_params(64, seed)
                .with_gateways(&gateways)
                .unwrap();
            (0..3000u64)
                .map(|s| t.lookup(SessionId(s)).unwrap().gateway)
                .collect::<Vec<_>>()
        };
        assert_eq!(seeded(7), seeded(7));
        assert_ne!(seeded(7), seeded(8));
        assert_eq!(
            seeded(0),
            (0..3000u64)
                .map(|s| all.lookup(SessionId(s)).unwrap().gateway)
                .collect::<Vec<_>>()
        );
        // Maglev: the excluded gateway's sessions move, few others do.
        assert!(others_moved * 20 < 3000 - moved, "{others_moved}");
    }

    fn local(id: u32, worker: u16) -> Gateway {
        Gateway {
            id: GatewayId(id),
            target: GatewayTarget::LocalWorker(worker),
        }
    }

    #[test]
    fn no_gateways_no_answer() {
        let table = SteeringTable::default();
        assert_eq!(table.lookup(SessionId(1)), None);
        let pinned = table.with_pins(&[(SessionId(1), Some(GatewayId(3)))]);
        assert_eq!(
            pinned.lookup(SessionId(1)),
            None,
            "a pin to a dead gateway is ignored"
        );
    }

    #[test]
    fn pinned_entry_wins_over_maglev() {
        let table = SteeringTable::new(&[local(1, 0), local(2, 1)]).unwrap();
        let id = SessionId(42);
        let chosen = table.lookup(id).unwrap();
        assert!(!chosen.pinned);
        assert_eq!(Some(chosen.gateway), table.maglev_choice(id));

        let other = if chosen.gateway == GatewayId(1) { 2 } else { 1 };
        let pinned = table.with_pins(&[(id, Some(GatewayId(other)))]);
        let steer = pinned.lookup(id).unwrap();
        assert_eq!(steer.gateway, GatewayId(other));
        assert!(steer.pinned);
        assert_eq!(steer.target, GatewayTarget::LocalWorker(other as u16 - 1));

        let unpinned = pinned.with_pins(&[(id, None)]);
        assert_eq!(unpinned.lookup(id), Some(chosen));
    }

    #[test]
    fn pin_to_a_departed_gateway_falls_back_to_maglev() {
        let table = SteeringTable::new(&[local(1, 0), local(2, 1)])
            .unwrap()
            .with_pins(&[(SessionId(7), Some(GatewayId(2)))]);
        let shrunk = table.with_gateways(&[local(1, 0)]).unwrap();
        assert_eq!(
            shrunk.lookup(SessionId(7)),
            Some(Steer {
                gateway: GatewayId(1),
                target: GatewayTarget::LocalWorker(0),
                pinned: false,
            })
        );
        let back = shrunk.with_gateways(&[local(1, 0), local(2, 1)]).unwrap();
        assert_eq!(
            back.lookup(SessionId(7)).map(|s| (s.gateway, s.pinned)),
            Some((GatewayId(2), true))
        );
    }

    #[test]
    fn remote_targets_are_carried() {
        let remote = Gateway {
            id: GatewayId(9),
            target: GatewayTarget::Remote {
                addr: Ipv4Addr::new(192, 0, 2, 1),
                port: 4789,
            },
        };
        let table = SteeringTable::new(&[remote]).unwrap();
        assert_eq!(
            table.lookup(SessionId(5)).map(|s| s.target),
            Some(remote.target)
        );
    }

    #[test]
    fn conflicting_gateway_ids_are_refused() {
        let error = SteeringTable::new(&[local(1, 0), local(1, 1)]).unwrap_err();
        assert!(matches!(
            error,
            SteeringError::ConflictingGateway {
                id: GatewayId(1),
                ..
            }
        ));
        assert!(error.to_string().contains("unique id"));
        let merged = SteeringTable::new(&[local(1, 0), local(1, 0), local(2, 1)]).unwrap();
        assert_eq!(merged.gateways().len(), 2);
    }

    #[test]
    fn maglev_size_follows_the_configured_maximum() {
        let table = SteeringTable::with_max_gateways(8)
            .with_gateways(&[local(1, 0)])
            .unwrap();
        assert_eq!(table.maglev_table_size(), Maglev::size_for(8));
        let grown = table
            .with_gateways(&(0..9).map(|i| local(i, i as u16)).collect::<Vec<_>>())
            .unwrap();
        assert_eq!(
            grown.maglev_table_size(),
            Maglev::size_for(9),
            "grows past the maximum"
        );
        assert_eq!(grown.max_gateways(), 8);
        assert_eq!(
            SteeringTable::default()
                .with_gateways(&[local(1, 0)])
                .unwrap()
                .maglev_table_size(),
            Maglev::size_for(DEFAULT_MAX_GATEWAYS)
        );
    }

    #[test]
    fn pin_updates_share_the_maglev_table() {
        let table = SteeringTable::new(&[local(1, 0), local(2, 1)]).unwrap();
        let pinned = table.with_pins(&[(SessionId(1), Some(GatewayId(1)))]);
        assert!(Arc::ptr_eq(&table.maglev, &pinned.maglev));
        assert!(Arc::ptr_eq(&table.gateways, &pinned.gateways));
    }
}
