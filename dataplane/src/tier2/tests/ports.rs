//! Port allocators of several cores over a few addresses, against a model of
//! which (address, port) pairs are live and when released ones ripen.

use std::collections::HashMap;

use proptest::prelude::*;

use crate::tier2::ports::{owner_core, PortAllocator, Quarantine, QuarantineClass};

const LO: u16 = 40_000;
const Q: Quarantine = Quarantine {
    tcp_ms: 500,
    other_ms: 100,
};

#[derive(Clone, Debug)]
enum Op {
    Alloc {
        core: usize,
    },
    Release {
        pick: usize,
        tcp: bool,
    },
    /// A release the allocator must refuse (not this core's, or not live).
    BadRelease {
        core: usize,
        addr: u8,
        offset: u16,
    },
    Wait {
        ms: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..4usize).prop_map(|core| Op::Alloc { core }),
        3 => (any::<usize>(), any::<bool>()).prop_map(|(pick, tcp)| Op::Release { pick, tcp }),
        1 => (0..4usize, 0..4u8, 0..40u16)
            .prop_map(|(core, addr, offset)| Op::BadRelease { core, addr, offset }),
        2 => (0..200u64).prop_map(|ms| Op::Wait { ms }),
    ]
}

struct Model {
    n_cores: usize,
    n_addrs: u8,
    hi: u16,
    now: u64,
    /// (addr, port) -> owning core, for handed-out ports.
    live: HashMap<(u8, u16), usize>,
    /// (addr, port) -> earliest time it may be handed out again.
    ready_at: HashMap<(u8, u16), u64>,
}

impl Model {
    /// Never released, or its quarantine is over.
    fn ripe(&self, addr: u8, port: u16) -> bool {
        match self.ready_at.get(&(addr, port)) {
            Some(&ready) => ready <= self.now,
            None => true,
        }
    }

    /// Ports `core` could hand out right now.
    fn available(&self, core: usize) -> usize {
        let mut n = 0;
        for addr in 0..self.n_addrs {
            for port in LO..=self.hi {
                if usize::from(owner_core(port, LO, self.n_cores as u16)) == core
                    && !self.live.contains_key(&(addr, port))
                    && self.ripe(addr, port)
                {
                    n += 1;
                }
            }
        }
        n
    }
}

fn check_counters(allocs: &[PortAllocator], model: &Model) {
    for (core, alloc) in allocs.iter().enumerate() {
        for addr in 0..model.n_addrs {
            let s = alloc.stats(addr).unwrap();
            assert_eq!(s.capacity, s.free + s.quarantined + s.in_use);
            let live = model
                .live
                .iter()
                .filter(|(&(a, _), &c)| a == addr && c == core)
                .count();
            assert_eq!(s.in_use as usize, live);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn ports_are_unique_owned_quarantined_and_all_come_back(
        n_cores in 1..=4usize,
        n_addrs in 1..=3u8,
        span in 1..=40u16,
        ops in prop::collection::vec(op(), 1..2000),
    ) {
        let hi = LO + span - 1;
        let mut allocs: Vec<PortAllocator> = (0..n_cores)
            .map(|c| PortAllocator::new(n_addrs, LO, hi, c as u16, n_cores as u16, Q).unwrap())
            .collect();
        for addr in 0..n_addrs {
            let total: u32 = allocs.iter().map(|a| a.stats(addr).unwrap().capacity).sum();
            prop_assert_eq!(total, u32::from(span));
        }
        let mut m = Model {
            n_cores,
            n_addrs,
            hi,
            now: 0,
            live: HashMap::new(),
            ready_at: HashMap::new(),
        };
        let mut live_list: Vec<(usize, u8, u16)> = Vec::new();
        for op in ops {
            match op {
                Op::Alloc { core } => {
                    let core = core % n_cores;
                    let available = m.available(core);
                    match allocs[core].alloc(m.now) {
                        Some((addr, port)) => {
                            prop_assert!(addr < n_addrs);
                            prop_assert!((LO..=hi).contains(&port));
                            prop_assert_eq!(usize::from(owner_core(port, LO, n_cores as u16)), core);
                            prop_assert!(!m.live.contains_key(&(addr, port)), "port handed out twice");
                            if let Some(&ready) = m.ready_at.get(&(addr, port)) {
                                prop_assert!(ready <= m.now, "reused before quarantine ended");
                            }
                            prop_assert!(allocs[core].pool(addr).unwrap().is_in_use(port));
                            m.live.insert((addr, port), core);
                            live_list.push((core, addr, port));
                        }
                        None => prop_assert_eq!(available, 0, "None while ports were available"),
                    }
                }
                Op::Release { pick, tcp } => {
                    if live_list.is_empty() {
                        continue;
                    }
                    let (core, addr, port) = live_list.swap_remove(pick % live_list.len());
                    let class = if tcp { QuarantineClass::Tcp } else { QuarantineClass::Other };
                    prop_assert!(allocs[core].release(addr, port, class, m.now));
                    m.live.remove(&(addr, port));
                    let q = if tcp { Q.tcp_ms } else { Q.other_ms };
                    m.ready_at.insert((addr, port), m.now + q);
                }
                Op::BadRelease { core, addr, offset } => {
                    let core = core % n_cores;
                    let port = LO.wrapping_add(offset);
                    if m.live.get(&(addr, port)) == Some(&core) {
                        continue; // that would be a good release
                    }
                    let pool_before = allocs[core].stats(addr);
                    let core_before = allocs[core].rejected_releases();
                    prop_assert!(!allocs[core].release(addr, port, QuarantineClass::Tcp, m.now));
                    match pool_before {
                        Some(before) => {
                            let after = allocs[core].stats(addr).unwrap();
                            prop_assert_eq!(after.rejected_releases, before.rejected_releases + 1);
                            prop_assert_eq!(
                                (after.free, after.quarantined, after.in_use),
                                (before.free, before.quarantined, before.in_use)
                            );
                        }
                        None => prop_assert_eq!(allocs[core].rejected_releases(), core_before + 1),
                    }
                }
                Op::Wait { ms } => m.now += ms,
            }
            check_counters(&allocs, &m);
        }

        // Release everything, wait out every quarantine: all ports are free.
        for (core, addr, port) in live_list.drain(..) {
            prop_assert!(allocs[core].release(addr, port, QuarantineClass::Tcp, m.now));
        }
        m.live.clear();
        m.now += Q.tcp_ms;
        for alloc in &mut allocs {
            alloc.reclaim(m.now, usize::MAX);
            for addr in 0..n_addrs {
                let s = alloc.stats(addr).unwrap();
                prop_assert_eq!(s.quarantined, 0);
                prop_assert_eq!(s.in_use, 0);
                prop_assert_eq!(s.free, s.capacity);
            }
        }
        // And each core can hand out its whole share again.
        for (core, alloc) in allocs.iter_mut().enumerate() {
            let cap: u32 = (0..n_addrs).map(|a| alloc.stats(a).unwrap().capacity).sum();
            let mut got = 0;
            while let Some((_, port)) = alloc.alloc(m.now) {
                prop_assert_eq!(usize::from(owner_core(port, LO, n_cores as u16)), core);
                got += 1;
            }
            prop_assert_eq!(got, cap);
        }
    }
}
