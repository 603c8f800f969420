//! An owned packet buffer (`rte_mbuf`): its bytes, its length, and the
//! headroom/tailroom operations that add and strip headers in place.

use std::ptr::NonNull;

use crate::mempool::Mempool;
use crate::sys;

/// One packet buffer, owned: dropping it returns it (all segments) to its
/// pool. Multi-segment packets are only seen through their first segment by
/// [`data`](Mbuf::data); check [`is_contiguous`](Mbuf::is_contiguous).
#[repr(transparent)]
#[derive(Debug)]
pub struct Mbuf {
    // Invariant: points to a valid mbuf that nothing else references (a
    // direct mbuf with refcnt 1, as DPDK hands out from alloc and rx), whose
    // pool stays mapped while it lives (see Mempool's drop).
    raw: NonNull<sys::rte_mbuf>,
}

// SAFETY: an Mbuf is the only reference to its buffer, so moving it to
// another thread moves exclusive access; freeing from any thread is safe for
// the multi-producer pools this crate creates.
unsafe impl Send for Mbuf {}

impl Mbuf {
    /// Takes a fresh mbuf from `pool` (empty, default headroom), or `None`
    /// when the pool is exhausted.
    #[inline]
    pub fn alloc(pool: &Mempool) -> Option<Mbuf> {
        // SAFETY: the pool is alive (borrowed) and thread-safe.
        let raw = unsafe { sys::tandem_pktmbuf_alloc(pool.as_ptr()) };
        NonNull::new(raw).map(|raw| Mbuf { raw })
    }

    /// A fresh mbuf from `pool` holding a copy of `bytes`; `None` when the
    /// pool is exhausted or `bytes` does not fit one segment.
    pub fn from_bytes(pool: &Mempool, bytes: &[u8]) -> Option<Mbuf> {
        let n = u16::try_from(bytes.len()).ok()?;
        let mut m = Mbuf::alloc(pool)?;
        if !m.append(n) {
            return None;
        }
        m.data_mut().copy_from_slice(bytes);
        Some(m)
    }

    #[inline]
    fn header(&self) -> &sys::rte_mbuf {
        // SAFETY: by the invariant the pointer is valid, and &self keeps
        // anything from changing the header meanwhile.
        unsafe { self.raw.as_ref() }
    }

    /// The bytes of the first segment.
    #[inline]
    pub fn data(&self) -> &[u8] {
        let header = self.header();
        // SAFETY: buf_addr + data_off is the start of the first segment's
        // data (what rte_pktmbuf_mtod computes) and data_len bytes from there
        // lie inside the buffer; &self keeps them from being written.
        unsafe {
            let start = header
                .buf_addr
                .cast::<u8>()
                .add(usize::from(header.data_off));
            std::slice::from_raw_parts(start, usize::from(header.data_len))
        }
    }

    /// The bytes of the first segment, writable.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        let header = self.header();
        let (offset, len) = (usize::from(header.data_off), usize::from(header.data_len));
        let buf_addr = header.buf_addr.cast::<u8>();
        // SAFETY: as in data(); &mut self and sole ownership of the mbuf make
        // this the only access to those bytes.
        unsafe { std::slice::from_raw_parts_mut(buf_addr.add(offset), len) }
    }

    /// Length of the first segment (the length of [`data`](Mbuf::data)).
    #[inline]
    pub fn len(&self) -> usize {
        usize::from(self.header().data_len)
    }

    /// Whether the first segment holds no bytes.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Length of the whole packet, all segments.
    #[inline]
    pub fn pkt_len(&self) -> u32 {
        self.header().pkt_len
    }

    /// Whether the packet is one segment, i.e. [`data`](Mbuf::data) is all
    /// of it.
    #[inline]
    pub fn is_contiguous(&self) -> bool {
        self.header().nb_segs == 1
    }

    /// The port the packet arrived on.
    #[inline]
    pub fn port(&self) -> u16 {
        self.header().port
    }

    /// Records a port in the mbuf (metadata only).
    #[inline]
    pub fn set_port(&mut self, port: u16) {
        // SAFETY: sole owner through &mut self; writes one header field.
        unsafe { (*self.raw.as_ptr()).port = port };
    }

    /// Free bytes in front of the data.
    #[inline]
    pub fn headroom(&self) -> u16 {
        self.header().data_off
    }

    /// Free bytes after the data of the first segment.
    #[inline]
    pub fn tailroom(&self) -> u16 {
        let header = self.header();
        header
            .buf_len
            .saturating_sub(header.data_off)
            .saturating_sub(header.data_len)
    }

    /// Grows the packet by `n` bytes at the front (for a new header); false,
    /// and unchanged, if the headroom is too small. The new bytes are
    /// uninitialised garbage from earlier use: write them.
    #[inline]
    pub fn prepend(&mut self, n: u16) -> bool {
        // SAFETY: sole owner through &mut self; DPDK checks the headroom.
        !unsafe { sys::tandem_pktmbuf_prepend(self.raw.as_ptr(), n) }.is_null()
    }

    /// Strips `n` bytes from the front; false, and unchanged, if the first
    /// segment is shorter.
    #[inline]
    pub fn adj(&mut self, n: u16) -> bool {
        // SAFETY: sole owner through &mut self; DPDK checks the length.
        !unsafe { sys::tandem_pktmbuf_adj(self.raw.as_ptr(), n) }.is_null()
    }

    /// Strips `n` bytes from the end; false, and unchanged, if the last
    /// segment is shorter.
    #[inline]
    pub fn trim(&mut self, n: u16) -> bool {
        // SAFETY: sole owner through &mut self; DPDK checks the length.
        unsafe { sys::tandem_pktmbuf_trim(self.raw.as_ptr(), n) == 0 }
    }

    /// Grows the packet by `n` bytes at the end of the last segment; false,
    /// and unchanged, if its tailroom is too small. The new bytes are
    /// garbage: write them.
    #[inline]
    pub fn append(&mut self, n: u16) -> bool {
        // SAFETY: sole owner through &mut self; DPDK checks the tailroom.
        !unsafe { sys::tandem_pktmbuf_append(self.raw.as_ptr(), n) }.is_null()
    }
}

impl Drop for Mbuf {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: sole owner; the mbuf is not used after this, and its pool
        // is still mapped (see the invariant).
        unsafe { sys::tandem_pktmbuf_free(self.raw.as_ptr()) };
    }
}
