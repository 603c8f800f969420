//! Property tests of tier-1 steering as a whole: agreement between
//! independently built tables, bounded movement on gateway changes, and
//! stability of pinned sessions.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use proptest::prelude::*;

use super::*;

/// Sessions per case: sequential terminal addresses from a random base.
const SESSIONS: u32 = 3000;
/// Fraction of all sessions that may move between gateways that stay, on
/// top of the ones that must move: Maglev's collateral churn (bounded by
/// `MAX_COLLATERAL_SHARE` in `maglev.rs`, measured worst 18.7% of slots)
/// plus sampling noise, five standard deviations of a 3000-session sample
/// (at most 0.046).
const CHURN_SLACK: f64 = 0.25 + 0.046;

fn gateway_list(ids: &BTreeSet<u32>) -> Vec<Gateway> {
    ids.iter()
        .enumerate()
        .map(|(index, id)| Gateway {
            id: GatewayId(*id),
            target: GatewayTarget::LocalWorker(index as u16),
        })
        .collect()
}

fn sessions(base: u32) -> Vec<SessionId> {
    (0..SESSIONS)
        .map(|offset| SessionId::from_source_ip(Ipv4Addr::from(base.wrapping_add(offset))))
        .collect()
}

fn owners(table: &SteeringTable, sessions: &[SessionId]) -> Vec<GatewayId> {
    sessions
        .iter()
        .map(|id| {
            table
                .lookup(*id)
                .map(|steer| steer.gateway)
                .unwrap_or(GatewayId(u32::MAX))
        })
        .collect()
}

fn fraction(count: usize) -> f64 {
    count as f64 / f64::from(SESSIONS)
}

/// A gateway set and the same gateways in another order.
fn gateways_and_shuffle(max: usize) -> impl Strategy<Value = (Vec<Gateway>, Vec<Gateway>)> {
    prop::collection::btree_set(any::<u32>(), 1..=max).prop_flat_map(|ids| {
        let list = gateway_list(&ids);
        (Just(list.clone()), Just(list).prop_shuffle())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Cores that build their table from the same gateways (in any order, or
    /// by a different history of gateway changes) and the same pins steer
    /// every session identically.
    #[test]
    fn every_core_gives_the_same_answer(
        (listed, shuffled) in gateways_and_shuffle(24),
        raw_ids in prop::collection::vec(any::<u64>(), 1..300),
        pin_every in 2usize..6,
    ) {
        let ids: Vec<SessionId> = raw_ids.into_iter().map(SessionId).collect();
        let pins: Vec<(SessionId, Option<GatewayId>)> = ids
            .iter()
            .step_by(pin_every)
            .zip(listed.iter().cycle())
            .map(|(id, gateway)| (*id, Some(gateway.id)))
            .collect();
        let core_a = SteeringTable::new(&listed).unwrap().with_pins(&pins);
        let core_b = SteeringTable::new(&shuffled).unwrap().with_pins(&pins);
        let core_c = SteeringTable::new(&shuffled[..1])
            .unwrap()
            .with_pins(&pins)
            .with_gateways(&shuffled)
            .unwrap();
        for id in &ids {
            let answer = core_a.lookup(*id);
            prop_assert!(answer.is_some());
            prop_assert_eq!(answer, core_b.lookup(*id));
            prop_assert_eq!(answer, core_c.lookup(*id));
        }
    }

    /// Adding a gateway moves about 1/(n+1) of the sessions, nearly all of
    /// them to the new gateway.
    #[test]
    fn adding_a_gateway_moves_about_one_nth(
        ids in prop::collection::btree_set(any::<u32>(), 1..=32),
        added in any::<u32>(),
        base in any::<u32>(),
    ) {
        prop_assume!(!ids.contains(&added));
        let before = SteeringTable::new(&gateway_list(&ids)).unwrap();
        let mut grown_ids = ids.clone();
        grown_ids.insert(added);
        let after = before.with_gateways(&gateway_list(&grown_ids)).unwrap();

        let sessions = sessions(base);
        let (old, new) = (owners(&before, &sessions), owners(&after, &sessions));
        let moved = old.iter().zip(&new).filter(|(a, b)| a != b).count();
        let moved_elsewhere = old
            .iter()
            .zip(&new)
            .filter(|(a, b)| a != b && **b != GatewayId(added))
            .count();
        let fair_share = 1.0 / (ids.len() as f64 + 1.0);
        prop_assert!(fraction(moved) <= fair_share + CHURN_SLACK, "moved {}", fraction(moved));
        prop_assert!(fraction(moved_elsewhere) <= CHURN_SLACK, "elsewhere {}", fraction(moved_elsewhere));
    }

    /// Removing a gateway moves its sessions and few others.
    #[test]
    fn removing_a_gateway_moves_its_sessions_and_few_others(
        ids in prop::collection::btree_set(any::<u32>(), 2..=33),
        removed_index in any::<prop::sample::Index>(),
        base in any::<u32>(),
    ) {
        let removed = *removed_index.get(&ids.iter().copied().collect::<Vec<_>>());
        let before = SteeringTable::new(&gateway_list(&ids)).unwrap();
        let mut shrunk_ids = ids.clone();
        shrunk_ids.remove(&removed);
        let after = before.with_gateways(&gateway_list(&shrunk_ids)).unwrap();

        let sessions = sessions(base);
        let (old, new) = (owners(&before, &sessions), owners(&after, &sessions));
        let mut survivors_moved = 0;
        for (was, is) in old.iter().zip(&new) {
            prop_assert!(shrunk_ids.contains(&is.0), "steered to a gateway that left");
            if *was != GatewayId(removed) && was != is {
                survivors_moved += 1;
            }
        }
        prop_assert!(fraction(survivors_moved) <= CHURN_SLACK, "others moved {}", fraction(survivors_moved));
    }

    /// Pinned sessions keep their gateway through gateway additions and
    /// removals as long as that gateway lives; pins to a removed gateway
    /// fall back to a live one.
    #[test]
    fn pinned_sessions_never_move_while_their_gateway_lives(
        ids in prop::collection::btree_set(any::<u32>(), 2..=24),
        added in any::<u32>(),
        raw_ids in prop::collection::btree_set(any::<u64>(), 1..200),
    ) {
        prop_assume!(!ids.contains(&added));
        let ordered: Vec<u32> = ids.iter().copied().collect();
        let (leaving, staying) = (ordered[0], &ordered[1..]);
        let pins: Vec<(SessionId, Option<GatewayId>)> = raw_ids
            .iter()
            .zip(ordered.iter().cycle())
            .map(|(id, gateway)| (SessionId(*id), Some(GatewayId(*gateway))))
            .collect();

        let start = SteeringTable::new(&gateway_list(&ids)).unwrap().with_pins(&pins);
        let mut next_ids = ids.clone();
        next_ids.insert(added);
        let grown = start.with_gateways(&gateway_list(&next_ids)).unwrap();
        next_ids.remove(&leaving);
        let shrunk = grown.with_gateways(&gateway_list(&next_ids)).unwrap();

        for (id, gateway) in &pins {
            let gateway = gateway.unwrap_or(GatewayId(u32::MAX));
            for table in [&start, &grown] {
                let steer = table.lookup(*id).unwrap();
                prop_assert_eq!((steer.gateway, steer.pinned), (gateway, true));
            }
            let steer = shrunk.lookup(*id).unwrap();
            if staying.contains(&gateway.0) {
                prop_assert_eq!((steer.gateway, steer.pinned), (gateway, true));
            } else {
                prop_assert!(!steer.pinned && next_ids.contains(&steer.gateway.0));
            }
        }
    }
}
