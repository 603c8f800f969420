//! A handoff ring that carries each frame's record with it.
//!
//! A worker hands a frame to another worker (tier 1 steers it there) after
//! its prefetch pass has read the frame's headers into a
//! [`FrameRecord`]; the receiving worker would read them again. So each
//! mbuf ring between two workers has a ring of records beside it, in the
//! same order: the sender pushes a frame's record before the frame, so the
//! receiver always finds the records of the frames it dequeues, and its
//! pipeline uses them instead of parsing
//! ([`Worker::prefetch_carried`](dataplane::pipeline::Worker::prefetch_carried)).
//!
//! Both rings have one producer and one consumer. The sender only enqueues
//! as many frames as both rings have room for, and room only grows until it
//! enqueues again (the consumer only takes), so every frame sent goes in
//! with its record and the two rings never fall out of step.

use dataplane::pipeline::FrameRecord;
use dpdk_ffi::{Burst, RingConsumer, RingProducer};

/// The sending half: frames and their records to one other worker.
pub struct HandoffOut {
    ring: RingProducer,
    records: rtrb::Producer<FrameRecord>,
}

/// The receiving half: frames and their records from one other worker.
pub struct HandoffIn {
    ring: RingConsumer,
    records: rtrb::Consumer<FrameRecord>,
}

/// Pairs an mbuf ring with a ring of records of the same capacity.
pub fn carrying_records((ring, from): (RingProducer, RingConsumer)) -> (HandoffOut, HandoffIn) {
    let (producer, consumer) = rtrb::RingBuffer::new(ring.capacity().max(1));
    (
        HandoffOut {
            ring,
            records: producer,
        },
        HandoffIn {
            ring: from,
            records: consumer,
        },
    )
}

impl HandoffOut {
    /// Sends the frames of `burst`, `records[i]` the record of the i-th
    /// ([`FrameRecord::carried`]); the frames that did not fit stay in
    /// `burst` (the caller drops and counts them). Returns how many were
    /// sent.
    pub fn send(&mut self, burst: &mut Burst, records: &[FrameRecord]) -> usize {
        let room = self
            .ring
            .capacity()
            .saturating_sub(self.ring.count())
            .min(self.records.slots())
            .min(records.len());
        let mut rest = Burst::new();
        while burst.len() > room {
            if let Some(m) = burst.pop() {
                // Cannot fail: `rest` has room for a whole burst.
                drop(rest.push(m));
            }
        }
        for record in &records[..burst.len()] {
            // Cannot fail: `room` slots are free.
            let _ = self.records.push(*record);
        }
        let sent = self.ring.enqueue_burst(burst);
        for m in rest.drain(..) {
            drop(burst.push(m));
        }
        sent
    }
}

impl HandoffIn {
    /// Dequeues frames into the free part of `burst` and their records
    /// into `records` from the same index on (a frame without one, which
    /// the protocol above rules out, gets [`FrameRecord::UNREAD`] and is
    /// parsed). Returns how many frames were added.
    pub fn receive(&mut self, burst: &mut Burst, records: &mut [FrameRecord]) -> usize {
        let start = burst.len();
        let n = self.ring.dequeue_burst(burst);
        for i in start..start + n {
            let record = self.records.pop().unwrap_or(FrameRecord::UNREAD);
            if let Some(slot) = records.get_mut(i) {
                *slot = record;
            }
        }
        n
    }

    /// Frames in the ring.
    pub fn count(&self) -> usize {
        self.ring.count()
    }

    /// The most frames the ring holds.
    pub fn capacity(&self) -> usize {
        self.ring.capacity()
    }
}
