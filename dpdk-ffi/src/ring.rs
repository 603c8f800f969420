//! Single-producer, single-consumer rings of mbufs (`rte_ring` with
//! `RING_F_SP_ENQ | RING_F_SC_DEQ`): how one worker hands frames to another.
//! The two halves are separate types that cannot be cloned, so the
//! single-producer / single-consumer promise made to DPDK always holds.

use std::ffi::{c_void, CString};
use std::ptr::NonNull;
use std::sync::Arc;

use crate::burst::Burst;
use crate::error::{self, Error, Result};
use crate::lifecycle::LiveObject;
use crate::sys;

#[derive(Debug)]
struct RingInner {
    raw: NonNull<sys::rte_ring>,
    _live: LiveObject,
}

// SAFETY: the ring is shared by exactly one producer and one consumer (the
// halves are not Clone and their burst methods take &mut self), which is the
// concurrency an SP/SC rte_ring supports; the remaining shared calls (count,
// capacity) only read its indices.
unsafe impl Send for RingInner {}
// SAFETY: as above.
unsafe impl Sync for RingInner {}

/// The enqueue half of an mbuf ring.
#[derive(Debug)]
pub struct RingProducer {
    ring: Arc<RingInner>,
}

/// The dequeue half of an mbuf ring.
#[derive(Debug)]
pub struct RingConsumer {
    ring: Arc<RingInner>,
}

/// Creates a ring named `name` of `capacity_pow2` slots (a power of two; it
/// holds `capacity_pow2 - 1` mbufs) on NUMA `socket`. Names are unique per
/// process.
pub fn mbuf_ring(
    name: &str,
    capacity_pow2: u32,
    socket: i32,
) -> Result<(RingProducer, RingConsumer)> {
    if !capacity_pow2.is_power_of_two() || capacity_pow2 < 2 {
        return Err(Error::InvalidArgument(format!(
            "ring {name:?}: size {capacity_pow2} is not a power of two of at least 2"
        )));
    }
    let c_name = CString::new(name)
        .map_err(|_| Error::InvalidArgument(format!("ring name {name:?} contains a NUL byte")))?;
    let live = LiveObject::register()?;
    let flags = sys::RING_F_SP_ENQ | sys::RING_F_SC_DEQ;
    // SAFETY: the EAL runs (LiveObject::register checked it); c_name is
    // NUL-terminated and DPDK copies it.
    let raw = unsafe { sys::rte_ring_create(c_name.as_ptr(), capacity_pow2, socket, flags) };
    let Some(raw) = NonNull::new(raw) else {
        let (errno, msg) = error::from_rte_errno();
        return Err(Error::Ring {
            name: name.to_string(),
            op: "rte_ring_create",
            errno,
            msg,
        });
    };
    let ring = Arc::new(RingInner { raw, _live: live });
    Ok((
        RingProducer {
            ring: Arc::clone(&ring),
        },
        RingConsumer { ring },
    ))
}

impl RingInner {
    fn count(&self) -> usize {
        // SAFETY: the ring is alive while self exists; reads its indices.
        let count = unsafe { sys::tandem_ring_count(self.raw.as_ptr()) };
        usize::try_from(count).unwrap_or(usize::MAX)
    }

    fn capacity(&self) -> usize {
        // SAFETY: as for count.
        let capacity = unsafe { sys::tandem_ring_capacity(self.raw.as_ptr()) };
        usize::try_from(capacity).unwrap_or(usize::MAX)
    }
}

impl RingProducer {
    /// Enqueues as many mbufs from the front of `burst` as fit; the number
    /// enqueued. Enqueued mbufs leave the burst; the rest move to its front.
    #[inline]
    pub fn enqueue_burst(&mut self, burst: &mut Burst) -> usize {
        if burst.is_empty() {
            return 0;
        }
        let count = u32::try_from(burst.len()).unwrap_or(0);
        // SAFETY: this is the ring's only producer (&mut self, not Clone);
        // the burst holds `count` mbuf pointers, which have the layout of
        // void pointers.
        let enqueued = unsafe {
            sys::tandem_ring_sp_enqueue_burst(
                self.ring.raw.as_ptr(),
                burst.as_raw_ptr().cast::<*mut c_void>(),
                count,
            )
        };
        let enqueued = usize::try_from(enqueued).unwrap_or(0).min(burst.len());
        // SAFETY: the ring now owns the first `enqueued` mbufs.
        unsafe { burst.forget_front(enqueued) };
        enqueued
    }

    /// Mbufs in the ring.
    pub fn count(&self) -> usize {
        self.ring.count()
    }

    /// The most mbufs the ring holds.
    pub fn capacity(&self) -> usize {
        self.ring.capacity()
    }
}

impl RingConsumer {
    /// Dequeues into the free part of `burst`; the number of mbufs added.
    #[inline]
    pub fn dequeue_burst(&mut self, burst: &mut Burst) -> usize {
        let room = u32::try_from(burst.free_space()).unwrap_or(0);
        if room == 0 {
            return 0;
        }
        // SAFETY: this is the ring's only consumer (&mut self, not Clone);
        // the spare part of the burst has room for `room` pointers.
        let dequeued = unsafe {
            sys::tandem_ring_sc_dequeue_burst(
                self.ring.raw.as_ptr(),
                burst.spare_ptr().cast::<*mut c_void>(),
                room,
            )
        };
        let dequeued = usize::try_from(dequeued)
            .unwrap_or(0)
            .min(burst.free_space());
        // SAFETY: the ring only ever holds owned mbufs from a producer; the
        // `dequeued` pointers after len are now ours.
        unsafe { burst.set_len(burst.len() + dequeued) };
        dequeued
    }

    /// Mbufs in the ring.
    pub fn count(&self) -> usize {
        self.ring.count()
    }

    /// The most mbufs the ring holds.
    pub fn capacity(&self) -> usize {
        self.ring.capacity()
    }
}

impl Drop for RingInner {
    fn drop(&mut self) {
        // Both halves are gone: free what is still queued, then the ring.
        let mut leftovers = Burst::new();
        loop {
            // SAFETY: no producer or consumer exists any more, so this is the
            // only access; the burst is empty and has room for BURST_MAX.
            let dequeued = unsafe {
                sys::tandem_ring_sc_dequeue_burst(
                    self.raw.as_ptr(),
                    leftovers.spare_ptr().cast::<*mut c_void>(),
                    crate::burst::BURST_MAX as u32,
                )
            };
            if dequeued == 0 {
                break;
            }
            // SAFETY: the dequeued pointers are owned mbufs.
            unsafe { leftovers.set_len(usize::try_from(dequeued).unwrap_or(0)) };
            leftovers.clear();
        }
        // SAFETY: the ring is empty and nothing refers to it; the EAL runs
        // because our LiveObject is dropped only after this.
        unsafe { sys::rte_ring_free(self.raw.as_ptr()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_sizes_must_be_powers_of_two() {
        assert!(matches!(
            mbuf_ring("bad-size", 1000, -1),
            Err(Error::InvalidArgument(_))
        ));
    }

    #[test]
    fn rings_cannot_be_made_before_the_eal_runs() {
        assert_eq!(
            mbuf_ring("early", 1024, -1).err(),
            Some(Error::NotInitialised)
        );
    }
}
