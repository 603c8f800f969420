//! Mempool accounting, mbuf editing and burst ownership against a running
//! EAL (no ports needed), plus the once-per-process and cleanup rules.

mod common;

use dpdk_ffi::{Burst, Eal, Error, Mbuf, Mempool, BURST_MAX, SOCKET_ID_ANY};

const TEST: &str = "mempool";
const POOL_SIZE: u32 = 255;
const DATA_ROOM: u16 = 2048 + 128;

#[test]
fn mempool_mbuf_and_burst_behave() {
    let eal = Eal::init(&common::eal_args(TEST, &[])).expect("EAL init");
    assert_eq!(
        Eal::init(&common::eal_args(TEST, &[])).err(),
        Some(Error::AlreadyInitialised)
    );
    assert_eq!(Eal::lcore_id(), Some(eal.main_lcore()));
    assert!(Eal::tsc_hz() > 0);

    let pool =
        Mempool::create("mbuf-test", POOL_SIZE, 32, DATA_ROOM, SOCKET_ID_ANY).expect("mempool");
    assert_eq!(pool.name(), "mbuf-test");
    assert_eq!(pool.in_use(), 0);
    assert_eq!(pool.available(), POOL_SIZE);
    assert!(matches!(
        Mempool::create("mbuf-test", 63, 0, DATA_ROOM, SOCKET_ID_ANY),
        Err(Error::Mempool { errno: 17, .. })
    ));

    mbuf_edits_move_the_data_window(&pool);
    bursts_own_their_mbufs(&pool);
    drain_takes_a_range_and_keeps_the_rest(&pool);
    exhausted_pool_gives_none_and_recovers(&pool);
    assert_eq!(pool.in_use(), 0);

    // Cleanup must wait for the pool (it unmaps the pool's memory), and
    // hands the EAL back when it refuses.
    let clone = pool.clone();
    drop(pool);
    assert_eq!(eal.live_objects(), 1, "clones share one pool");
    let refused = eal.cleanup().expect_err("a pool is alive");
    assert_eq!(refused.error, Error::ObjectsAlive(1));
    let eal = refused.eal.expect("a refused cleanup returns the EAL");
    assert!(Mbuf::alloc(&clone).is_some(), "the pool still works");
    drop(clone);
    assert_eq!(eal.live_objects(), 0);
    eal.cleanup().expect("EAL cleanup");
    assert_eq!(
        Mempool::create("after-cleanup", 63, 0, DATA_ROOM, SOCKET_ID_ANY).err(),
        Some(Error::NotInitialised)
    );
    common::remove_runtime_dir(TEST);
}

fn mbuf_edits_move_the_data_window(pool: &Mempool) {
    let mut mbuf = Mbuf::alloc(pool).expect("alloc");
    assert_eq!(pool.in_use(), 1);
    assert!(mbuf.is_empty());
    assert!(mbuf.is_contiguous());
    assert_eq!(mbuf.headroom(), 128);
    assert_eq!(mbuf.tailroom(), DATA_ROOM - 128);

    assert!(mbuf.append(4));
    mbuf.data_mut().copy_from_slice(&[1, 2, 3, 4]);
    assert_eq!(mbuf.data(), &[1, 2, 3, 4]);
    assert_eq!(mbuf.pkt_len(), 4);

    assert!(mbuf.prepend(2));
    mbuf.data_mut()[..2].copy_from_slice(&[0xaa, 0xbb]);
    assert_eq!(mbuf.data(), &[0xaa, 0xbb, 1, 2, 3, 4]);
    assert_eq!(mbuf.headroom(), 126);

    assert!(mbuf.adj(3));
    assert_eq!(mbuf.data(), &[2, 3, 4]);
    assert!(mbuf.trim(1));
    assert_eq!(mbuf.data(), &[2, 3]);
    assert_eq!(mbuf.len(), 2);

    // Refusals leave the mbuf as it was.
    assert!(!mbuf.adj(3));
    assert!(!mbuf.trim(3));
    assert!(!mbuf.prepend(mbuf.headroom() + 1));
    assert!(!mbuf.append(mbuf.tailroom() + 1));
    assert_eq!(mbuf.data(), &[2, 3]);

    mbuf.set_port(7);
    assert_eq!(mbuf.port(), 7);
    drop(mbuf);
    assert_eq!(pool.in_use(), 0);
}

fn tagged(pool: &Mempool, tag: u8) -> Mbuf {
    let mut mbuf = Mbuf::alloc(pool).expect("alloc");
    assert!(mbuf.append(1));
    mbuf.data_mut()[0] = tag;
    mbuf
}

fn tags(burst: &Burst) -> Vec<u8> {
    burst.iter().map(|m| m.data()[0]).collect()
}

fn bursts_own_their_mbufs(pool: &Mempool) {
    let mut burst = Burst::new();
    for tag in 0..BURST_MAX as u8 {
        assert!(burst.push(tagged(pool, tag)).is_ok());
    }
    assert!(burst.is_full());
    assert_eq!(pool.in_use(), BURST_MAX as u32);
    let refused = burst.push(tagged(pool, 99)).expect_err("burst is full");
    assert_eq!(refused.data(), &[99]);
    drop(refused);

    let last = burst.pop().expect("pop");
    assert_eq!(last.data(), &[BURST_MAX as u8 - 1]);
    drop(last);
    assert_eq!(burst.len(), BURST_MAX - 1);
    assert_eq!(pool.in_use(), BURST_MAX as u32 - 1);

    for mbuf in burst.iter_mut() {
        mbuf.data_mut()[0] += 100;
    }
    assert_eq!(burst.as_slice()[0].data(), &[100]);

    burst.clear();
    assert!(burst.is_empty());
    assert_eq!(pool.in_use(), 0);

    // Bulk allocation is all or nothing, and dropping a burst frees it.
    let mut bulk = Burst::new();
    assert!(bulk.alloc_from(pool, 20));
    assert!(!bulk.alloc_from(pool, 13), "only 12 slots are left");
    assert_eq!(bulk.len(), 20);
    assert_eq!(pool.in_use(), 20);
    drop(bulk);
    assert_eq!(pool.in_use(), 0);
}

fn drain_takes_a_range_and_keeps_the_rest(pool: &Mempool) {
    let mut burst = Burst::new();
    for tag in 0..10 {
        assert!(burst.push(tagged(pool, tag)).is_ok());
    }
    let taken: Vec<u8> = burst.drain(2..5).map(|m| m.data()[0]).collect();
    assert_eq!(taken, vec![2, 3, 4]);
    assert_eq!(tags(&burst), vec![0, 1, 5, 6, 7, 8, 9]);
    assert_eq!(pool.in_use(), 7);

    // Unconsumed mbufs in the range are freed when the drain is dropped.
    let mut drain = burst.drain(1..=3);
    assert_eq!(drain.len(), 3);
    assert_eq!(drain.next().map(|m| m.data()[0]), Some(1));
    drop(drain);
    assert_eq!(tags(&burst), vec![0, 7, 8, 9]);
    assert_eq!(pool.in_use(), 4);

    // Out-of-range bounds are clamped.
    assert_eq!(burst.drain(3..100).count(), 1);
    assert_eq!(tags(&burst), vec![0, 7, 8]);
    let all: Vec<u8> = burst.drain(..).map(|m| m.data()[0]).collect();
    assert_eq!(all, vec![0, 7, 8]);
    assert!(burst.is_empty());
    assert_eq!(pool.in_use(), 0);
}

fn exhausted_pool_gives_none_and_recovers(pool: &Mempool) {
    let mut held = Vec::new();
    while let Some(mbuf) = Mbuf::alloc(pool) {
        held.push(mbuf);
    }
    assert_eq!(held.len(), POOL_SIZE as usize);
    assert_eq!(pool.available(), 0);
    held.clear();
    assert_eq!(pool.in_use(), 0);
    assert!(Mbuf::alloc(pool).is_some());
}
