//! The user-session table against a `HashMap` model: both lookups agree with
//! the model after every step, refusals change nothing, and the hash map
//! never reallocates.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use proptest::prelude::*;

use crate::tier2::user_sessions::{FlowKey, InsertError, UserSession, UserSessionTable};

const CAPACITY: u32 = 12;
const N_ADDRS: u8 = 2;

#[derive(Clone, Debug)]
enum Op {
    Insert {
        key: FlowKey,
        gw_addr: u8,
        gw_port: u16,
    },
    Remove {
        pick: usize,
    },
    RemoveSlot {
        idx: u32,
    },
    Touch {
        pick: usize,
        stamp: u64,
    },
}

fn flow_key() -> impl Strategy<Value = FlowKey> {
    (prop_oneof![Just(6u8), Just(17u8)], 0..3u8, 0..6u16, 0..2u8).prop_map(
        |(proto, client, client_port, dst)| FlowKey {
            proto,
            client_ip: Ipv4Addr::new(10, 0, 0, client),
            client_port,
            dst_ip: Ipv4Addr::new(192, 0, 2, dst),
            dst_port: 443,
        },
    )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (flow_key(), 0..=N_ADDRS, 0..10u16)
            .prop_map(|(key, gw_addr, gw_port)| Op::Insert { key, gw_addr, gw_port }),
        3 => any::<usize>().prop_map(|pick| Op::Remove { pick }),
        1 => (0..CAPACITY + 2).prop_map(|idx| Op::RemoveSlot { idx }),
        1 => (any::<usize>(), any::<u64>()).prop_map(|(pick, stamp)| Op::Touch { pick, stamp }),
    ]
}

#[derive(Clone, Copy, Debug)]
struct ModelEntry {
    idx: u32,
    gw_addr: u8,
    gw_port: u16,
    stamp: u64,
}

fn check(t: &UserSessionTable, model: &HashMap<FlowKey, ModelEntry>, keys: &[FlowKey]) {
    assert_eq!(t.len() as usize, model.len());
    assert_eq!(t.iter().count(), model.len());
    for (key, m) in model {
        assert_eq!(t.find_client(key), Some(m.idx));
        assert_eq!(t.find_reply(m.gw_addr, m.gw_port), Some(m.idx));
        let e = t.get(m.idx).unwrap();
        assert_eq!(e.client_key(), *key);
        assert_eq!(t.key(m.idx).as_ref(), Some(key));
        assert_eq!(
            (e.gw_addr, e.gw_port, e.session_id),
            (m.gw_addr, m.gw_port, m.stamp)
        );
    }
    for key in keys {
        if !model.contains_key(key) {
            assert_eq!(t.find_client(key), None);
        }
    }
    for addr in 0..=N_ADDRS {
        for port in 0..10 {
            let holder = model
                .values()
                .find(|m| (m.gw_addr, m.gw_port) == (addr, port));
            assert_eq!(t.find_reply(addr, port), holder.map(|m| m.idx));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn table_matches_model(ops in prop::collection::vec(op(), 1..600)) {
        let mut t = UserSessionTable::with_capacity(CAPACITY, N_ADDRS);
        let mut model: HashMap<FlowKey, ModelEntry> = HashMap::new();
        let mut keys_seen: Vec<FlowKey> = Vec::new();
        for op in ops {
            match op {
                Op::Insert { key, gw_addr, gw_port } => {
                    keys_seen.push(key);
                    let expected = if gw_addr >= N_ADDRS {
                        Err(InsertError::BadGatewayAddr)
                    } else if model.contains_key(&key) {
                        Err(InsertError::DuplicateKey)
                    } else if model.values().any(|m| (m.gw_addr, m.gw_port) == (gw_addr, gw_port)) {
                        Err(InsertError::ReplySlotTaken)
                    } else if model.len() == CAPACITY as usize {
                        Err(InsertError::TableFull)
                    } else {
                        Ok(())
                    };
                    let mut entry = UserSession::new(&key, gw_addr, gw_port, 0);
                    entry.session_id = 7;
                    let got = t.insert(key, entry);
                    match (got, expected) {
                        (Ok(idx), Ok(())) => {
                            prop_assert!(idx < CAPACITY);
                            prop_assert!(model.values().all(|m| m.idx != idx), "slot reused while live");
                            model.insert(key, ModelEntry { idx, gw_addr, gw_port, stamp: 7 });
                        }
                        (Err(e), Err(x)) => {
                            prop_assert_eq!(e, x);
                        }
                        (got, expected) => prop_assert!(false, "got {:?}, expected {:?}", got, expected),
                    }
                }
                Op::Remove { pick } => {
                    if model.is_empty() {
                        continue;
                    }
                    let key = *model.keys().nth(pick % model.len()).unwrap();
                    let m = model.remove(&key).unwrap();
                    let removed = t.remove(m.idx).unwrap();
                    prop_assert_eq!(removed.client_key(), key);
                    prop_assert_eq!(removed.session_id, m.stamp);
                }
                Op::RemoveSlot { idx } => {
                    let live = model.iter().find(|(_, m)| m.idx == idx).map(|(k, _)| *k);
                    match live {
                        Some(key) => {
                            model.remove(&key);
                            prop_assert_eq!(t.remove(idx).map(|e| e.client_key()), Some(key));
                        }
                        None => prop_assert!(t.remove(idx).is_none()),
                    }
                }
                Op::Touch { pick, stamp } => {
                    if model.is_empty() {
                        continue;
                    }
                    let key = *model.keys().nth(pick % model.len()).unwrap();
                    let m = model.get_mut(&key).unwrap();
                    t.get_mut(m.idx).unwrap().session_id = stamp;
                    m.stamp = stamp;
                }
            }
            check(&t, &model, &keys_seen);
        }
    }
}

/// Heavy churn at full load: the flow index keeps finding every live
/// session and refuses only when the slab is full (its fixed size never
/// changes).
#[test]
fn churn_at_full_load_keeps_every_session_findable() {
    let cap = 1000u32;
    let mut t = UserSessionTable::with_capacity(cap, 1);
    let before = t.index_bytes();
    let key = |n: u32| FlowKey {
        proto: 17,
        client_ip: Ipv4Addr::from(0x0a00_0000 + n),
        client_port: 1,
        dst_ip: Ipv4Addr::new(8, 8, 8, 8),
        dst_port: 53,
    };
    let mut live = std::collections::VecDeque::new();
    for n in 0..100_000u32 {
        if live.len() == cap as usize {
            let (idx, port) = live.pop_front().unwrap();
            let e = t.remove(idx).unwrap();
            assert_eq!(e.gw_port, port);
        }
        let port = (n % 60_000) as u16;
        let idx = t
            .insert(key(n), UserSession::new(&key(n), 0, port, 0))
            .unwrap();
        live.push_back((idx, port));
        if live.len() == cap as usize {
            let extra = key(n + 1_000_000);
            assert_eq!(
                t.insert(extra, UserSession::new(&extra, 0, 60_001, 0)),
                Err(InsertError::TableFull)
            );
            assert_eq!(t.find_client(&key(n)), Some(idx));
            assert_eq!(t.find_reply(0, port), Some(idx));
        }
        assert_eq!(t.index_bytes(), before);
    }
    assert_eq!(t.len(), cap);
}
