//! A burst: up to [`BURST_MAX`] owned mbufs in a fixed array, the unit every
//! receive, transmit, ring enqueue and dequeue works on. No allocation.

use std::mem::MaybeUninit;
use std::ops::{Bound, RangeBounds};
use std::ptr;

use crate::mbuf::Mbuf;
use crate::mempool::Mempool;
use crate::sys;

/// The most mbufs one burst holds.
pub const BURST_MAX: usize = 32;

/// Up to [`BURST_MAX`] mbufs, owned; dropping or clearing the burst frees the
/// ones it still holds.
pub struct Burst {
    // Invariant: slots[..len] are initialised, owned Mbufs; the rest are not.
    slots: [MaybeUninit<Mbuf>; BURST_MAX],
    len: usize,
}

impl Default for Burst {
    fn default() -> Self {
        Burst::new()
    }
}

impl std::fmt::Debug for Burst {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Burst").field("len", &self.len).finish()
    }
}

impl Burst {
    /// An empty burst.
    pub const fn new() -> Burst {
        const EMPTY: MaybeUninit<Mbuf> = MaybeUninit::uninit();
        Burst {
            slots: [EMPTY; BURST_MAX],
            len: 0,
        }
    }

    /// Mbufs held.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the burst holds no mbuf.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the burst holds [`BURST_MAX`] mbufs.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.len == BURST_MAX
    }

    /// Room left, in mbufs.
    #[inline]
    pub fn free_space(&self) -> usize {
        BURST_MAX - self.len
    }

    /// Adds an mbuf at the end; gives it back if the burst is full.
    #[inline]
    pub fn push(&mut self, mbuf: Mbuf) -> Result<(), Mbuf> {
        match self.slots.get_mut(self.len) {
            Some(slot) => {
                slot.write(mbuf);
                self.len += 1;
                Ok(())
            }
            None => Err(mbuf),
        }
    }

    /// Removes the last mbuf.
    #[inline]
    pub fn pop(&mut self) -> Option<Mbuf> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        // SAFETY: slot len was initialised (it was below the old len) and is
        // now outside the initialised prefix, so it is read exactly once.
        Some(unsafe { self.slots[self.len].assume_init_read() })
    }

    /// The mbufs held, in order.
    #[inline]
    pub fn as_slice(&self) -> &[Mbuf] {
        // SAFETY: slots[..len] are initialised and MaybeUninit<Mbuf> has the
        // layout of Mbuf.
        unsafe { std::slice::from_raw_parts(self.slots.as_ptr().cast::<Mbuf>(), self.len) }
    }

    /// The mbufs held, in order, writable.
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [Mbuf] {
        // SAFETY: as in as_slice, with exclusive access through &mut self.
        unsafe { std::slice::from_raw_parts_mut(self.slots.as_mut_ptr().cast::<Mbuf>(), self.len) }
    }

    /// Iterates over the mbufs held.
    #[inline]
    pub fn iter(&self) -> std::slice::Iter<'_, Mbuf> {
        self.as_slice().iter()
    }

    /// Iterates over the mbufs held, writable.
    #[inline]
    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, Mbuf> {
        self.as_mut_slice().iter_mut()
    }

    /// Takes the mbufs in `range` (clamped to the burst) out, in order; the
    /// ones after it move up. Mbufs in the range that the iterator does not
    /// yield are freed when it is dropped.
    #[inline]
    pub fn drain<R: RangeBounds<usize>>(&mut self, range: R) -> Drain<'_> {
        let len = self.len;
        let start = match range.start_bound() {
            Bound::Included(&i) => i,
            Bound::Excluded(&i) => i.saturating_add(1),
            Bound::Unbounded => 0,
        }
        .min(len);
        let end = match range.end_bound() {
            Bound::Included(&i) => i.saturating_add(1),
            Bound::Excluded(&i) => i,
            Bound::Unbounded => len,
        }
        .clamp(start, len);
        // Until the Drain is dropped, only slots[..start] count as held, so
        // leaking the Drain leaks mbufs but never frees one twice.
        self.len = start;
        Drain {
            burst: self,
            next: start,
            end,
            tail_start: end,
            tail_len: len - end,
        }
    }

    /// Frees every mbuf held.
    #[inline]
    pub fn clear(&mut self) {
        let held = self.len;
        self.len = 0;
        for slot in &mut self.slots[..held] {
            // SAFETY: the slot was in the initialised prefix, which is now
            // empty, so each mbuf is dropped exactly once.
            unsafe { slot.assume_init_drop() };
        }
    }

    /// Fills the free part of the burst with `n` fresh mbufs from `pool`, all
    /// or nothing (`rte_pktmbuf_alloc_bulk`). False if `n` does not fit or
    /// the pool has fewer than `n` free mbufs.
    pub fn alloc_from(&mut self, pool: &Mempool, n: usize) -> bool {
        let Ok(count) = u32::try_from(n) else {
            return false;
        };
        if n > self.free_space() {
            return false;
        }
        // SAFETY: the pool is alive; spare_ptr has room for free_space >= n
        // pointers, which DPDK fills all or none of.
        let rc = unsafe { sys::tandem_pktmbuf_alloc_bulk(pool.as_ptr(), self.spare_ptr(), count) };
        if rc != 0 {
            return false;
        }
        // SAFETY: the n slots after len now hold fresh, owned mbufs.
        unsafe { self.set_len(self.len + n) };
        true
    }

    /// Where the free part of the burst starts, as DPDK's `struct rte_mbuf
    /// **`; `free_space()` slots are writable from there.
    #[inline]
    pub(crate) fn spare_ptr(&mut self) -> *mut *mut sys::rte_mbuf {
        // MaybeUninit<Mbuf> has the layout of Mbuf, a NonNull<rte_mbuf>.
        self.slots[self.len..]
            .as_mut_ptr()
            .cast::<*mut sys::rte_mbuf>()
    }

    /// The held mbufs as DPDK's `struct rte_mbuf **`; `len()` entries.
    #[inline]
    pub(crate) fn as_raw_ptr(&mut self) -> *mut *mut sys::rte_mbuf {
        self.slots.as_mut_ptr().cast::<*mut sys::rte_mbuf>()
    }

    /// Declares the first `len` slots initialised.
    ///
    /// # Safety
    /// `len <= BURST_MAX` and every slot below `len` holds a valid, owned,
    /// non-null mbuf pointer.
    #[inline]
    pub(crate) unsafe fn set_len(&mut self, len: usize) {
        debug_assert!(len <= BURST_MAX);
        self.len = len;
    }

    /// Forgets the first `n` mbufs (their ownership went to DPDK) and moves
    /// the rest to the front.
    ///
    /// # Safety
    /// DPDK must have taken ownership of the first `n` mbufs, `n <= len()`.
    #[inline]
    pub(crate) unsafe fn forget_front(&mut self, n: usize) {
        debug_assert!(n <= self.len);
        let n = n.min(self.len);
        let rest = self.len - n;
        let base = self.slots.as_mut_ptr();
        // SAFETY: both ranges lie within slots (n + rest == len <= BURST_MAX);
        // ptr::copy allows overlap. The first n slots are no longer owned, so
        // overwriting them leaks nothing.
        unsafe { ptr::copy(base.add(n), base, rest) };
        self.len = rest;
    }
}

impl Drop for Burst {
    fn drop(&mut self) {
        self.clear();
    }
}

/// Iterator returned by [`Burst::drain`].
pub struct Drain<'a> {
    burst: &'a mut Burst,
    next: usize,
    end: usize,
    tail_start: usize,
    tail_len: usize,
}

impl Iterator for Drain<'_> {
    type Item = Mbuf;

    #[inline]
    fn next(&mut self) -> Option<Mbuf> {
        if self.next >= self.end {
            return None;
        }
        let index = self.next;
        self.next += 1;
        // SAFETY: slots[next..end] were initialised when drain started and
        // each is read once, as next only moves forward.
        Some(unsafe { self.burst.slots[index].assume_init_read() })
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.end - self.next;
        (left, Some(left))
    }
}

impl ExactSizeIterator for Drain<'_> {}

impl Drop for Drain<'_> {
    fn drop(&mut self) {
        for slot in &mut self.burst.slots[self.next..self.end] {
            // SAFETY: the slots not yet yielded are initialised and owned;
            // each is dropped once.
            unsafe { slot.assume_init_drop() };
        }
        self.next = self.end;
        let start = self.burst.len;
        let base = self.burst.slots.as_mut_ptr();
        // SAFETY: the tail lies within slots; moving it down to `start`
        // (overlap allowed) makes slots[..start + tail_len] the initialised
        // prefix again.
        unsafe { ptr::copy(base.add(self.tail_start), base.add(start), self.tail_len) };
        self.burst.len = start + self.tail_len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_burst_has_all_room_and_nothing_to_take() {
        let mut burst = Burst::new();
        assert!(burst.is_empty());
        assert!(!burst.is_full());
        assert_eq!(burst.free_space(), BURST_MAX);
        assert!(burst.pop().is_none());
        assert_eq!(burst.drain(..).count(), 0);
        assert_eq!(burst.drain(5..100).count(), 0);
        assert!(burst.as_slice().is_empty());
        burst.clear();
        assert_eq!(burst.len(), 0);
    }
}
