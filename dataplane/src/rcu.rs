//! Shared read-mostly snapshots (read-copy-update) built from safe parts.
//!
//! The control plane builds a new immutable value (a steering table, a policy
//! set) and publishes it; every worker switches to it at its next burst
//! boundary. Workers must never block, allocate or free memory on the fast
//! path, and must never see a snapshot that has been freed.
//!
//! # How it works
//!
//! * The [`Publisher`] owns the *current* snapshot as an `Arc<T>` inside a
//!   mutex-protected cell, next to its generation number, and mirrors the
//!   generation in an `AtomicU64` that readers poll. The mutex is the
//!   control plane's: publishing, registering a reader and taking one
//!   offline or dropping it (all off the fast path) take it; a worker's
//!   [`Reader::refresh`] never does.
//! * Each reader slot has a *mailbox*: a lock-free queue of capacity one
//!   (`crossbeam_queue::ArrayQueue`) holding the newest `(generation, Arc)`
//!   the publisher has given that reader and it has not taken yet.
//! * Each [`Reader`] (one per worker) keeps its own `Arc<T>` clone and the
//!   generation of that clone. [`Reader::get`] is a plain field access: no
//!   atomics, no locks.
//! * [`Reader::refresh`], called once per burst, is the reader's quiescent
//!   point. It does one acquire load of the published generation. Only when
//!   that moved (once per publish, not per packet) does it pop its mailbox
//!   (a few atomic operations on a queue only it and the publisher touch),
//!   drop its old clone and then store the new generation into its own slot
//!   with a release store.
//! * [`Publisher::publish`], under the cell's lock, puts the new `Arc` into
//!   the mailbox of every online reader (`force_push`: a snapshot the
//!   reader never took is handed back and dropped by the publisher), swaps
//!   it into the cell, then bumps the generation (release) and moves the
//!   previous `Arc` onto a *retire list* tagged with its generation.
//! * [`Publisher::reclaim`] reads every online reader's slot (acquire) and
//!   drops the retired snapshots whose generation is older than the oldest
//!   generation any online reader still reports.
//!
//! # Why no worker frees a snapshot
//!
//! Safe Rust already rules out use-after-free: a reader holds an `Arc`, so the
//! value it reads stays alive. What the design adds is *where* the last
//! reference goes away. A reader whose slot says generation `g` holds the
//! snapshot of generation `g`; the publisher keeps that snapshot too, either
//! as the current one or on the retire list, because `reclaim` only drops
//! entries strictly older than every online slot. When a reader moves from
//! `g` to a newer one it first drops its clone of `g` (the publisher's copy
//! keeps the count above zero, so that is just a decrement) and only then
//! stores the new generation with release ordering. The publisher's acquire
//! load of that slot therefore happens after the reader's decrement, so the
//! publisher's drop in `reclaim` is the last one and the memory is released on
//! the control plane.
//!
//! A mailbox never holds the last reference either. It holds at most one
//! snapshot, the newest pushed, whose generation is at least the one its
//! reader's slot names, so the publisher still keeps it (current or
//! retired). When the reader pops it, the mailbox's reference becomes the
//! reader's. Offline and free slots get nothing: the mailbox is emptied (its
//! snapshot is still the publisher's too, so that is a decrement) under the
//! cell's lock before the slot is marked offline or free, and `publish`
//! checks the slot under the same lock.
//!
//! A newly registered (or re-onlined) reader takes its clone and stores its
//! generation while holding the cell's lock, so a concurrent publish cannot
//! retire that snapshot before the slot names it.
//!
//! Going offline ([`Reader::offline`]) or dropping the reader first drops the
//! reader's `Arc` and then marks the slot offline or free, so a stopped worker
//! neither blocks reclamation nor ends up holding the last reference.
//!
//! The guarantee needs the publisher to outlive the readers: if the
//! `Publisher` is dropped first, its retire list goes with it and whichever
//! reader drops last frees the remaining snapshots (acceptable at shutdown
//! only, so stop the workers before dropping the publisher).

use crossbeam_queue::ArrayQueue;
use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Slot value of an unclaimed reader slot.
const SLOT_FREE: u64 = u64::MAX;
/// Slot value of a registered reader that holds no snapshot.
const SLOT_OFFLINE: u64 = u64::MAX - 1;
/// Generation of the snapshot given to [`Publisher::new`].
const INITIAL_GENERATION: u64 = 1;

/// Why a reader could not be registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RcuError {
    /// All `max_readers` slots are taken by live readers.
    ReaderSlotsFull { max_readers: usize },
}

impl fmt::Display for RcuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RcuError::ReaderSlotsFull { max_readers } => write!(
                f,
                "all {max_readers} snapshot reader slots are in use; \
                 create the publisher with room for one reader per worker"
            ),
        }
    }
}

impl std::error::Error for RcuError {}

/// One reader's report, the generation it holds or `SLOT_FREE` /
/// `SLOT_OFFLINE`, and its mailbox. Padded to a cache line so readers do not
/// share lines.
#[repr(align(64))]
struct ReaderSlot<T> {
    seen: AtomicU64,
    /// The newest snapshot published for this reader and not yet taken.
    mailbox: ArrayQueue<(u64, Arc<T>)>,
}

impl<T> ReaderSlot<T> {
    fn is_online(&self) -> bool {
        self.seen.load(Ordering::Acquire) < SLOT_OFFLINE
    }
}

/// The current snapshot with its generation, read and written under a lock.
struct Current<T> {
    generation: u64,
    snapshot: Arc<T>,
}

/// State shared by the publisher and all readers.
struct Shared<T> {
    /// Mirror of `current.generation`, polled by readers without the lock.
    generation: AtomicU64,
    current: Mutex<Current<T>>,
    slots: Box<[ReaderSlot<T>]>,
}

/// A snapshot that is no longer current, kept until every online reader has
/// moved past its generation.
struct Retired<T> {
    generation: u64,
    /// Never read: holding it is the point (the publisher's reference).
    _snapshot: Arc<T>,
}

/// Locks a mutex whose data cannot be left inconsistent (every critical
/// section here is a few moves of `Arc`s and integers), so a poisoned lock is
/// still safe to use.
fn lock<U>(mutex: &Mutex<U>) -> MutexGuard<'_, U> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The control plane's side: publishes snapshots and frees retired ones.
pub struct Publisher<T> {
    shared: Arc<Shared<T>>,
    retired: Mutex<Vec<Retired<T>>>,
}

impl<T> Publisher<T> {
    /// Starts with `initial` as generation 1 and room for `max_readers`
    /// registered readers.
    pub fn new(initial: T, max_readers: usize) -> Self {
        let slots = (0..max_readers)
            .map(|_| ReaderSlot {
                seen: AtomicU64::new(SLOT_FREE),
                mailbox: ArrayQueue::new(1),
            })
            .collect();
        Publisher {
            shared: Arc::new(Shared {
                generation: AtomicU64::new(INITIAL_GENERATION),
                current: Mutex::new(Current {
                    generation: INITIAL_GENERATION,
                    snapshot: Arc::new(initial),
                }),
                slots,
            }),
            retired: Mutex::new(Vec::new()),
        }
    }

    /// Registers a new reader holding the current snapshot.
    pub fn reader(&self) -> Result<Reader<T>, RcuError> {
        let current = lock(&self.shared.current);
        for (index, slot) in self.shared.slots.iter().enumerate() {
            let claimed = slot.seen.compare_exchange(
                SLOT_FREE,
                current.generation,
                Ordering::AcqRel,
                Ordering::Relaxed,
            );
            if claimed.is_ok() {
                return Ok(Reader {
                    snapshot: Arc::clone(&current.snapshot),
                    seen: current.generation,
                    registration: Registration {
                        shared: Arc::clone(&self.shared),
                        slot: index,
                    },
                    not_sync: PhantomData,
                });
            }
        }
        Err(RcuError::ReaderSlotsFull {
            max_readers: self.shared.slots.len(),
        })
    }

    /// Makes `value` the current snapshot and returns its generation. The
    /// previous snapshot goes onto the retire list until [`reclaim`] frees it.
    ///
    /// [`reclaim`]: Publisher::reclaim
    pub fn publish(&self, value: T) -> u64 {
        let fresh = Arc::new(value);
        let retired = {
            let mut current = lock(&self.shared.current);
            let generation = current.generation + 1;
            // Mail first, then bump the generation: a reader that sees the
            // new generation finds its snapshot waiting. What it never took
            // is handed back and dropped here, on the control plane.
            for slot in self.shared.slots.iter().filter(|slot| slot.is_online()) {
                drop(slot.mailbox.force_push((generation, Arc::clone(&fresh))));
            }
            let previous = Retired {
                generation: current.generation,
                _snapshot: std::mem::replace(&mut current.snapshot, fresh),
            };
            current.generation = generation;
            self.shared.generation.store(generation, Ordering::Release);
            previous
        };
        let generation = retired.generation + 1;
        lock(&self.retired).push(retired);
        generation
    }

    /// Frees the retired snapshots that every online reader has moved past
    /// and returns how many were released. With no reader online, every
    /// retired snapshot is released.
    pub fn reclaim(&self) -> usize {
        let releasable = {
            let mut retired = lock(&self.retired);
            let oldest = self.oldest_reader_generation().unwrap_or(u64::MAX);
            let (keep, release): (Vec<_>, Vec<_>) = retired
                .drain(..)
                .partition(|entry| entry.generation >= oldest);
            *retired = keep;
            release
        };
        let released = releasable.len();
        // Dropped outside the lock: freeing a large table must not delay a
        // concurrent publish.
        drop(releasable);
        released
    }

    /// The oldest generation any online reader still holds, or `None` when
    /// no reader is online.
    pub fn oldest_reader_generation(&self) -> Option<u64> {
        self.shared
            .slots
            .iter()
            .map(|slot| slot.seen.load(Ordering::Acquire))
            .filter(|seen| *seen < SLOT_OFFLINE)
            .min()
    }

    /// The generation of the current snapshot.
    pub fn generation(&self) -> u64 {
        self.shared.generation.load(Ordering::Acquire)
    }

    /// A clone of the current snapshot, for the control plane to derive the
    /// next one from.
    pub fn current(&self) -> Arc<T> {
        Arc::clone(&lock(&self.shared.current).snapshot)
    }

    /// How many retired snapshots are waiting for readers to move on.
    pub fn retired_len(&self) -> usize {
        lock(&self.retired).len()
    }

    /// How many registered readers are online.
    pub fn online_readers(&self) -> usize {
        self.shared
            .slots
            .iter()
            .filter(|slot| slot.is_online())
            .count()
    }
}

/// A reader's claim on one slot; releasing the claim marks the slot free.
struct Registration<T> {
    shared: Arc<Shared<T>>,
    slot: usize,
}

impl<T> Registration<T> {
    fn store(&self, seen: u64) {
        if let Some(slot) = self.shared.slots.get(self.slot) {
            slot.seen.store(seen, Ordering::Release);
        }
    }

    /// Takes the newest snapshot mailed to this reader, if any.
    fn take_mail(&self) -> Option<(u64, Arc<T>)> {
        self.shared.slots.get(self.slot)?.mailbox.pop()
    }

    /// Empties the mailbox and reports `state` (offline or free), under the
    /// cell's lock so no publish mails this slot in between. The mailed
    /// snapshot is newer than the one the slot names, so the publisher
    /// still holds it and this drop is only a decrement.
    fn leave(&self, state: u64) {
        let _current = lock(&self.shared.current);
        drop(self.take_mail());
        self.store(state);
    }

    /// Takes the current snapshot and reports its generation, both under the
    /// cell's lock, so no publish can retire it before the slot names it.
    fn attach(self) -> Reader<T> {
        let (generation, snapshot) = {
            let current = lock(&self.shared.current);
            self.store(current.generation);
            (current.generation, Arc::clone(&current.snapshot))
        };
        Reader {
            snapshot,
            seen: generation,
            registration: self,
            not_sync: PhantomData,
        }
    }
}

impl<T> Drop for Registration<T> {
    fn drop(&mut self) {
        self.leave(SLOT_FREE);
    }
}

/// A worker's view of the published snapshot. `Send` (it can be moved to its
/// worker thread) but neither `Sync` nor `Clone`: one reader, one worker.
pub struct Reader<T> {
    // Field order matters: `snapshot` is dropped before `registration`
    // releases the slot, so the publisher still holds this snapshot when the
    // reader's reference goes away (see the module documentation).
    snapshot: Arc<T>,
    seen: u64,
    registration: Registration<T>,
    not_sync: PhantomData<Cell<()>>,
}

impl<T> Reader<T> {
    /// The quiescent point: call once per burst. Switches to the newest
    /// snapshot if one was published since the last call and reports whether
    /// it did. Costs one atomic load when nothing changed, and a pop from
    /// this reader's own mailbox when something did; never a lock.
    pub fn refresh(&mut self) -> bool {
        if self.registration.shared.generation.load(Ordering::Acquire) == self.seen {
            return false;
        }
        let Some((generation, snapshot)) = self.registration.take_mail() else {
            // The publisher mails before it bumps the generation, so an
            // empty mailbox means this reader already took the newest one.
            return false;
        };
        // The publisher still holds the old snapshot (our slot names it), so
        // this only decrements its count.
        drop(std::mem::replace(&mut self.snapshot, snapshot));
        self.seen = generation;
        self.registration.store(generation);
        true
    }

    /// The snapshot as of the last [`refresh`](Reader::refresh).
    #[inline]
    pub fn get(&self) -> &T {
        &self.snapshot
    }

    /// A counted reference to the current snapshot, for work that must
    /// hold it while also borrowing the reader's owner mutably (one atomic
    /// increment: call it per timer round, not per packet).
    pub fn arc(&self) -> Arc<T> {
        Arc::clone(&self.snapshot)
    }

    /// The generation of the snapshot [`get`](Reader::get) returns.
    #[inline]
    pub fn generation(&self) -> u64 {
        self.seen
    }

    /// Stops reporting (a worker that stops polling): the reader drops its
    /// snapshot and no longer holds back reclamation. It keeps its slot.
    pub fn offline(self) -> OfflineReader<T> {
        let Reader {
            snapshot,
            registration,
            ..
        } = self;
        drop(snapshot);
        registration.leave(SLOT_OFFLINE);
        OfflineReader { registration }
    }
}

/// A registered reader that holds no snapshot and does not hold back
/// reclamation. Dropping it frees the slot.
pub struct OfflineReader<T> {
    registration: Registration<T>,
}

impl<T> OfflineReader<T> {
    /// Comes back online holding the current snapshot.
    pub fn online(self) -> Reader<T> {
        self.registration.attach()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize};
    use std::thread;

    thread_local! {
        /// Set on threads that play the control plane in a test.
        static ON_CONTROL_PLANE: Cell<bool> = const { Cell::new(false) };
    }

    /// Counters shared by every snapshot of one test.
    #[derive(Default)]
    struct DropLog {
        drops: AtomicUsize,
        drops_on_a_worker: AtomicUsize,
    }

    /// A snapshot whose contents can be checked for integrity and whose drop
    /// is recorded: the flag lives in its own `Arc`, so it can be read even
    /// by someone who no longer holds the snapshot.
    struct Snapshot {
        generation: u64,
        values: Vec<u64>,
        checksum: u64,
        dropped: Arc<AtomicBool>,
        log: Arc<DropLog>,
    }

    impl Snapshot {
        fn new(generation: u64, log: &Arc<DropLog>) -> Self {
            let values: Vec<u64> = (0..16).map(|i| generation.wrapping_mul(31) + i).collect();
            let checksum = values.iter().fold(0u64, |sum, v| sum.wrapping_add(*v));
            Snapshot {
                generation,
                values,
                checksum,
                dropped: Arc::new(AtomicBool::new(false)),
                log: Arc::clone(log),
            }
        }

        fn is_intact(&self) -> bool {
            let sum = self.values.iter().fold(0u64, |sum, v| sum.wrapping_add(*v));
            sum == self.checksum
                && self.values.first() == Some(&self.generation.wrapping_mul(31))
                && !self.dropped.load(Ordering::SeqCst)
        }
    }

    impl Drop for Snapshot {
        fn drop(&mut self) {
            self.dropped.store(true, Ordering::SeqCst);
            self.log.drops.fetch_add(1, Ordering::SeqCst);
            if !ON_CONTROL_PLANE.with(Cell::get) {
                self.log.drops_on_a_worker.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    fn drops(log: &DropLog) -> usize {
        log.drops.load(Ordering::SeqCst)
    }

    #[test]
    fn refresh_switches_once_per_publish() {
        let publisher = Publisher::new(10u32, 2);
        let mut reader = publisher.reader().unwrap();
        assert_eq!((*reader.get(), reader.generation()), (10, 1));
        assert!(!reader.refresh());

        assert_eq!(publisher.publish(20), 2);
        assert_eq!(*reader.get(), 10, "no switch before the quiescent point");
        assert!(reader.refresh());
        assert_eq!((*reader.get(), reader.generation()), (20, 2));
        assert!(!reader.refresh());

        publisher.publish(30);
        publisher.publish(40);
        assert!(reader.refresh());
        assert_eq!((*reader.get(), reader.generation()), (40, 4));
        assert_eq!(publisher.generation(), 4);
        assert_eq!(*publisher.current(), 40);
    }

    #[test]
    fn reclaim_waits_for_every_online_reader() {
        ON_CONTROL_PLANE.with(|c| c.set(true));
        let log = Arc::new(DropLog::default());
        let publisher = Publisher::new(Snapshot::new(1, &log), 4);
        let mut fast = publisher.reader().unwrap();
        let mut slow = publisher.reader().unwrap();

        publisher.publish(Snapshot::new(2, &log));
        assert_eq!(publisher.retired_len(), 1);
        assert_eq!(publisher.reclaim(), 0, "both readers still hold gen 1");

        fast.refresh();
        assert_eq!(publisher.oldest_reader_generation(), Some(1));
        assert_eq!(publisher.reclaim(), 0, "the slow reader still holds gen 1");
        assert_eq!(drops(&log), 0);

        slow.refresh();
        assert_eq!(publisher.oldest_reader_generation(), Some(2));
        assert_eq!(publisher.reclaim(), 1);
        assert_eq!(drops(&log), 1);
        assert_eq!(publisher.retired_len(), 0);
        assert!(fast.get().is_intact() && slow.get().is_intact());
    }

    #[test]
    fn a_reader_never_frees_a_snapshot() {
        // This thread is *not* marked as control plane: any drop the reader
        // side performs would be counted.
        let log = Arc::new(DropLog::default());
        let publisher = Publisher::new(Snapshot::new(1, &log), 1);
        let mut reader = publisher.reader().unwrap();
        publisher.publish(Snapshot::new(2, &log));
        assert!(reader.refresh());
        assert_eq!(drops(&log), 0, "the publisher still holds generation 1");
        drop(reader);
        assert_eq!(drops(&log), 0);
        ON_CONTROL_PLANE.with(|c| c.set(true));
        assert_eq!(publisher.reclaim(), 1);
        assert_eq!(drops(&log), 1);
        assert_eq!(log.drops_on_a_worker.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn offline_readers_do_not_hold_back_reclamation() {
        ON_CONTROL_PLANE.with(|c| c.set(true));
        let log = Arc::new(DropLog::default());
        let publisher = Publisher::new(Snapshot::new(1, &log), 2);
        let mut active = publisher.reader().unwrap();
        let stopped = publisher.reader().unwrap().offline();
        assert_eq!(publisher.online_readers(), 1);

        publisher.publish(Snapshot::new(2, &log));
        active.refresh();
        assert_eq!(publisher.reclaim(), 1);

        let mut back = stopped.online();
        assert_eq!(back.get().generation, 2, "comes back on the current one");
        assert!(!back.refresh());
        publisher.publish(Snapshot::new(3, &log));
        active.refresh();
        assert_eq!(publisher.reclaim(), 0, "the re-onlined reader holds gen 2");
        back.refresh();
        assert_eq!(publisher.reclaim(), 1);

        drop(active);
        drop(back);
        assert_eq!(publisher.oldest_reader_generation(), None);
        publisher.publish(Snapshot::new(4, &log));
        assert_eq!(publisher.reclaim(), 1, "nobody online: all retired go");
        assert_eq!(drops(&log), 3);
    }

    #[test]
    fn reader_slots_are_bounded_and_reused() {
        let publisher = Publisher::new((), 2);
        let first = publisher.reader().unwrap();
        let second = publisher.reader().unwrap();
        let refused = publisher.reader();
        assert_eq!(
            refused.err(),
            Some(RcuError::ReaderSlotsFull { max_readers: 2 })
        );
        drop(first);
        let offline = second.offline();
        let third = publisher.reader();
        assert!(third.is_ok(), "a dropped reader's slot is reused");
        assert!(
            publisher.reader().is_err(),
            "an offline reader keeps its slot"
        );
        drop(offline);
        assert!(publisher.reader().is_ok());
    }

    #[test]
    fn reader_can_move_to_a_worker_thread() {
        fn assert_send<S: Send>(_: &S) {}
        let publisher = Publisher::new(vec![1u8], 1);
        let reader = publisher.reader().unwrap();
        assert_send(&reader);
        let seen = thread::spawn(move || reader.get().clone()).join().unwrap();
        assert_eq!(seen, vec![1u8]);
    }

    #[test]
    fn refresh_takes_no_lock() {
        let publisher = Publisher::new(1u32, 1);
        let mut reader = publisher.reader().unwrap();
        publisher.publish(2);
        // Hold the publisher's lock while a worker refreshes: a refresh that
        // locked would never answer.
        let held = lock(&publisher.shared.current);
        let (done, answer) = std::sync::mpsc::channel();
        let worker = thread::spawn(move || {
            let switched = reader.refresh();
            let _ = done.send((switched, *reader.get()));
            reader
        });
        let got = answer.recv_timeout(std::time::Duration::from_secs(10));
        drop(held);
        assert_eq!(
            got,
            Ok((true, 2)),
            "refresh blocked on the publisher's lock"
        );
        drop(worker.join().unwrap());
    }

    #[test]
    fn snapshots_a_reader_skipped_are_freed_on_the_control_plane() {
        ON_CONTROL_PLANE.with(|c| c.set(true));
        let log = Arc::new(DropLog::default());
        let publisher = Publisher::new(Snapshot::new(1, &log), 2);
        let mut reader = publisher.reader().unwrap();
        let idle = publisher.reader().unwrap().offline();
        // Generation 2 is mailed, then displaced by 3 before the reader looks.
        publisher.publish(Snapshot::new(2, &log));
        publisher.publish(Snapshot::new(3, &log));
        assert_eq!(publisher.reclaim(), 0, "the reader still holds gen 1");
        let (seen, reader) = thread::spawn(move || {
            // A worker thread: any free here is counted.
            assert!(reader.refresh());
            assert!(!reader.refresh());
            (reader.get().generation, reader)
        })
        .join()
        .unwrap();
        assert_eq!(seen, 3, "the reader jumps to the newest");
        assert_eq!(publisher.reclaim(), 2);
        assert_eq!(drops(&log), 2);
        assert_eq!(log.drops_on_a_worker.load(Ordering::SeqCst), 0);
        // The offline reader was mailed nothing and holds nothing.
        let slot = &publisher.shared.slots[idle.registration.slot];
        assert!(slot.mailbox.is_empty());
        let back = idle.online();
        assert_eq!(back.get().generation, 3);
        drop((reader, back));
    }

    /// Several workers refresh and read while the control plane publishes and
    /// reclaims thousands of snapshots: every snapshot a worker reads is
    /// intact and not dropped, generations never go backwards, every free
    /// happens on the control plane, and once the workers are gone everything
    /// but the current snapshot is reclaimed.
    #[test]
    fn stress_publish_and_reclaim_under_concurrent_readers() {
        #[cfg(not(miri))]
        let (readers, publishes) = (4usize, 3000u64);
        #[cfg(miri)]
        let (readers, publishes) = (2usize, 40u64);

        ON_CONTROL_PLANE.with(|c| c.set(true));
        let log = Arc::new(DropLog::default());
        let publisher = Arc::new(Publisher::new(Snapshot::new(1, &log), readers));
        let done = Arc::new(AtomicBool::new(false));

        let workers: Vec<_> = (0..readers)
            .map(|index| {
                let mut reader = publisher.reader().unwrap();
                let done = Arc::clone(&done);
                thread::spawn(move || {
                    let mut last_generation = 0;
                    let mut switches = 0u64;
                    let mut rounds = 0u64;
                    while !done.load(Ordering::SeqCst) {
                        if reader.refresh() {
                            switches += 1;
                        }
                        let snapshot = reader.get();
                        assert!(snapshot.is_intact(), "worker {index} read a bad snapshot");
                        assert_eq!(snapshot.generation, reader.generation());
                        assert!(snapshot.generation >= last_generation);
                        last_generation = snapshot.generation;
                        rounds += 1;
                        // Worker 0 stops and restarts now and then.
                        if index == 0 && rounds & 63 == 0 {
                            reader = reader.offline().online();
                        }
                        thread::yield_now();
                    }
                    // Half the workers go offline before exiting, half just drop.
                    if index & 1 == 0 {
                        drop(reader.offline());
                    }
                    switches
                })
            })
            .collect();

        let control = {
            let publisher = Arc::clone(&publisher);
            let log = Arc::clone(&log);
            let done = Arc::clone(&done);
            thread::spawn(move || {
                ON_CONTROL_PLANE.with(|c| c.set(true));
                for generation in 2..=publishes + 1 {
                    assert_eq!(
                        publisher.publish(Snapshot::new(generation, &log)),
                        generation
                    );
                    if generation & 15 == 0 {
                        publisher.reclaim();
                    }
                    if generation & 63 == 0 {
                        thread::yield_now();
                    }
                }
                done.store(true, Ordering::SeqCst);
            })
        };

        control.join().unwrap();
        let switches: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
        assert!(switches > 0, "workers saw no publish at all");

        assert_eq!(publisher.online_readers(), 0);
        publisher.reclaim();
        assert_eq!(publisher.retired_len(), 0);
        assert_eq!(
            drops(&log) as u64,
            publishes,
            "all but the current one freed"
        );
        assert!(publisher.current().is_intact());
        drop(publisher);
        assert_eq!(drops(&log) as u64, publishes + 1);
        assert_eq!(log.drops_on_a_worker.load(Ordering::SeqCst), 0);
    }
}
