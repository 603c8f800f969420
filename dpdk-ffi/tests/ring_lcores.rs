//! Mbufs handed between two lcores over an SP/SC ring, and closures launched
//! on a worker lcore: return values, panics, and refusals.

mod common;

use dpdk_ffi::{
    launch_on_lcore, mbuf_ring, Burst, Eal, Error, Mbuf, Mempool, BURST_MAX, SOCKET_ID_ANY,
};

const TEST: &str = "ring";
const FRAMES: u32 = 5_000;
const RING_SLOTS: u32 = 64;

#[test]
fn ring_moves_mbufs_between_lcores_and_launch_reports_panics() {
    let eal = Eal::init(&common::eal_args(TEST, &["-l", "0-1"])).expect("EAL init");
    let workers = eal.worker_lcores();
    assert_eq!(workers, vec![1]);
    let worker = workers[0];

    launch_returns_the_closure_value(worker);
    launch_reports_a_panic(worker);
    launch_refuses_bad_lcores(&eal, worker);

    let pool = Mempool::create("ring-pool", 1023, 32, 2176, SOCKET_ID_ANY).expect("mempool");
    ring_carries_frames_in_order(&pool, worker);
    dropped_ring_frees_queued_mbufs(&pool);
    assert!(matches!(
        mbuf_ring("ring-bad-size", 100, SOCKET_ID_ANY),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(pool.in_use(), 0);

    drop(pool);
    eal.cleanup().expect("EAL cleanup");
    common::remove_runtime_dir(TEST);
}

fn launch_returns_the_closure_value(worker: u32) {
    let handle = launch_on_lcore(worker, || {
        // The closure runs on the worker lcore, not on this thread.
        Eal::lcore_id().map_or(-1, |id| id as i32 + 40)
    })
    .expect("launch");
    assert_eq!(handle.lcore(), worker);
    assert_eq!(handle.wait(), Ok(worker as i32 + 40));
}

fn launch_reports_a_panic(worker: u32) {
    let handle = launch_on_lcore(worker, || panic!("worker exploded on purpose")).expect("launch");
    assert_eq!(
        handle.wait(),
        Err(Error::WorkerPanicked(
            "worker exploded on purpose".to_string()
        ))
    );
    // The lcore is usable again after a panic.
    let handle = launch_on_lcore(worker, || 7).expect("launch after panic");
    assert_eq!(handle.wait(), Ok(7));
}

fn launch_refuses_bad_lcores(eal: &Eal, worker: u32) {
    let on_main = launch_on_lcore(eal.main_lcore(), || 0);
    assert!(matches!(on_main, Err(Error::Launch { errno: 22, .. })));
    let disabled = launch_on_lcore(5, || 0);
    assert!(matches!(disabled, Err(Error::Launch { errno: 22, .. })));
    let beyond = launch_on_lcore(u32::MAX, || 0);
    assert!(matches!(beyond, Err(Error::Launch { errno: 22, .. })));

    // One closure at a time per lcore, until its handle is waited or dropped.
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let busy = launch_on_lcore(worker, move || {
        let _ = release_rx.recv();
        3
    })
    .expect("launch");
    let second = launch_on_lcore(worker, || 0);
    assert!(matches!(second, Err(Error::Launch { errno: 16, .. })));
    release_tx.send(()).expect("release the worker");
    assert_eq!(busy.wait(), Ok(3));
}

fn ring_carries_frames_in_order(pool: &Mempool, worker: u32) {
    let (mut producer, mut consumer) =
        mbuf_ring("handoff-0-1", RING_SLOTS, SOCKET_ID_ANY).expect("ring");
    assert_eq!(producer.capacity(), RING_SLOTS as usize - 1);
    assert_eq!(consumer.capacity(), RING_SLOTS as usize - 1);

    // The worker checks every frame's sequence number and frees it; it
    // returns how many arrived in order.
    let receiver = launch_on_lcore(worker, move || {
        let mut burst = Burst::new();
        let mut expected = 0_u32;
        while expected < FRAMES {
            if consumer.dequeue_burst(&mut burst) == 0 {
                std::thread::yield_now();
                continue;
            }
            for mbuf in burst.drain(..) {
                let seq = u32::from_le_bytes(mbuf.data()[..4].try_into().unwrap_or([0xff; 4]));
                if seq != expected {
                    return -(expected as i32) - 1;
                }
                expected += 1;
            }
        }
        expected as i32
    })
    .expect("launch receiver");

    let mut burst = Burst::new();
    let mut next = 0_u32;
    while next < FRAMES || !burst.is_empty() {
        while next < FRAMES && !burst.is_full() {
            let mut mbuf = Mbuf::alloc(pool).expect("pool has room");
            assert!(mbuf.append(4));
            mbuf.data_mut().copy_from_slice(&next.to_le_bytes());
            assert!(burst.push(mbuf).is_ok());
            next += 1;
        }
        let before = burst.len();
        let enqueued = producer.enqueue_burst(&mut burst);
        assert_eq!(burst.len(), before - enqueued);
        assert!(burst.len() <= BURST_MAX);
        if enqueued == 0 {
            std::thread::yield_now();
        }
    }
    assert_eq!(receiver.wait(), Ok(FRAMES as i32));
    assert_eq!(producer.count(), 0);
    assert_eq!(pool.in_use(), 0);
}

fn dropped_ring_frees_queued_mbufs(pool: &Mempool) {
    let (mut producer, consumer) = mbuf_ring("leftovers", 16, SOCKET_ID_ANY).expect("ring");
    let mut burst = Burst::new();
    assert!(burst.alloc_from(pool, 20));
    // 15 fit; the rest stay in the burst, moved to its front.
    assert_eq!(producer.enqueue_burst(&mut burst), 15);
    assert_eq!(burst.len(), 5);
    assert_eq!(consumer.count(), 15);
    assert_eq!(pool.in_use(), 20);
    drop(burst);
    assert_eq!(pool.in_use(), 15);
    drop(producer);
    assert_eq!(pool.in_use(), 15, "the consumer still holds the ring");
    drop(consumer);
    assert_eq!(pool.in_use(), 0);
}
