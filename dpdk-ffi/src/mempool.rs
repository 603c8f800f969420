//! Packet-buffer pools (`rte_pktmbuf_pool_create`): where every mbuf comes
//! from and returns to.

use std::ffi::CString;
use std::ptr::NonNull;
use std::sync::Arc;

use crate::error::{self, Error, Result};
use crate::lifecycle::LiveObject;
use crate::sys;

/// Lets DPDK pick the NUMA socket.
pub const SOCKET_ID_ANY: i32 = sys::SOCKET_ID_ANY;

/// A pool of packet buffers. Cloning shares the pool; it is freed when the
/// last clone (including the ones ports keep for their receive queues) is
/// dropped — unless mbufs from it are still in use somewhere (in a ring, a
/// NIC queue, a leaked `Mbuf`), in which case it is deliberately leaked so
/// that no mbuf can outlive its memory.
#[derive(Clone, Debug)]
pub struct Mempool {
    inner: Arc<PoolInner>,
}

#[derive(Debug)]
struct PoolInner {
    raw: NonNull<sys::rte_mempool>,
    name: String,
    live: Option<LiveObject>,
}

// SAFETY: the pool is created with DPDK's default multi-producer,
// multi-consumer ring operations, so alloc/free from any thread is safe; the
// pointer itself is never written through by this crate.
unsafe impl Send for PoolInner {}
// SAFETY: as above; every operation on a shared &PoolInner is thread-safe.
unsafe impl Sync for PoolInner {}

impl Mempool {
    /// Creates a pool of `n_mbufs` mbufs with `data_room` bytes each
    /// (headroom included; `RTE_MBUF_DEFAULT_BUF_SIZE` is 2176) and a
    /// per-lcore cache of `cache_size`, on NUMA `socket` (or
    /// [`SOCKET_ID_ANY`]). Names are unique per process.
    pub fn create(
        name: &str,
        n_mbufs: u32,
        cache_size: u32,
        data_room: u16,
        socket: i32,
    ) -> Result<Mempool> {
        let c_name = CString::new(name).map_err(|_| {
            Error::InvalidArgument(format!("mempool name {name:?} contains a NUL byte"))
        })?;
        let live = LiveObject::register()?;
        // SAFETY: the EAL runs (LiveObject::register checked it), c_name is a
        // NUL-terminated string that outlives the call (DPDK copies it).
        let raw = unsafe {
            sys::rte_pktmbuf_pool_create(c_name.as_ptr(), n_mbufs, cache_size, 0, data_room, socket)
        };
        let Some(raw) = NonNull::new(raw) else {
            let (errno, msg) = error::from_rte_errno();
            return Err(Error::Mempool {
                name: name.to_string(),
                op: "rte_pktmbuf_pool_create",
                errno,
                msg,
            });
        };
        Ok(Mempool {
            inner: Arc::new(PoolInner {
                raw,
                name: name.to_string(),
                live: Some(live),
            }),
        })
    }

    /// The name the pool was created with.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Mbufs currently allocated from the pool (anywhere in the process).
    pub fn in_use(&self) -> u32 {
        // SAFETY: the pool is alive while self exists; the count only reads
        // the ring and per-lcore cache sizes.
        unsafe { sys::rte_mempool_in_use_count(self.inner.raw.as_ptr()) }
    }

    /// Mbufs free in the pool, per-lcore caches included.
    pub fn available(&self) -> u32 {
        // SAFETY: as for in_use.
        unsafe { sys::rte_mempool_avail_count(self.inner.raw.as_ptr()) }
    }

    pub(crate) fn as_ptr(&self) -> *mut sys::rte_mempool {
        self.inner.raw.as_ptr()
    }
}

impl Drop for PoolInner {
    fn drop(&mut self) {
        // SAFETY: this is the last handle to the pool; see Mempool::in_use.
        let in_use = unsafe { sys::rte_mempool_in_use_count(self.raw.as_ptr()) };
        if in_use > 0 {
            // Mbufs from this pool are still out there and will be freed into
            // it later: leak the pool, and keep its live-object token so the
            // EAL is never cleaned up under those mbufs.
            std::mem::forget(self.live.take());
            return;
        }
        // SAFETY: no handle, port queue or mbuf refers to the pool any more
        // (no clone left, nothing in use), and the EAL still runs because our
        // LiveObject token blocks cleanup until after this call.
        unsafe { sys::rte_mempool_free(self.raw.as_ptr()) };
    }
}
