//! Gateway ports of one worker core: which ports it owns, which are free,
//! and which wait in quarantine after release.
//!
//! The port range `[lo, hi]` of every gateway address is dealt out across the
//! worker cores (`owner_core`), so the destination port of a reply names the
//! core that owns the user session. Each core hands out only its own ports.
//! A released port is not reused at once: the server may still hold the old
//! connection (TCP TIME_WAIT) or stray datagrams may still arrive, so it sits
//! in a quarantine FIFO until its ready time. Durations are fixed per
//! quarantine class, so each class's FIFO is ordered by ready time and only
//! its head ever needs checking.
//!
//! All storage is allocated at construction; `alloc` and `release` are O(1).

use std::fmt;

/// Default first gateway port (the well-known ports stay out).
pub const DEFAULT_PORT_LO: u16 = 1024;
/// Default last gateway port.
pub const DEFAULT_PORT_HI: u16 = 65535;

/// How many ripe ports one `alloc` moves from quarantine to the free list
/// at most. More than one, so quarantine drains faster than allocation.
const RIPEN_PER_ALLOC: usize = 4;

/// The worker core that owns `port` of the range starting at `lo` when the
/// range is dealt out across `n_cores` cores.
///
/// `port` must be in the range (see [`try_owner_core`]); for a port below
/// `lo` or `n_cores == 0` the answer is meaningless but this never panics.
#[inline]
pub fn owner_core(port: u16, lo: u16, n_cores: u16) -> u16 {
    if n_cores == 0 {
        return 0;
    }
    port.wrapping_sub(lo) % n_cores
}

/// Like [`owner_core`], but `None` when `port` is outside `[lo, hi]`.
#[inline]
pub fn try_owner_core(port: u16, lo: u16, hi: u16, n_cores: u16) -> Option<u16> {
    if port < lo || port > hi || n_cores == 0 {
        return None;
    }
    Some((port - lo) % n_cores)
}

/// Which quarantine a released port goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QuarantineClass {
    /// TCP: the server may keep the old connection in TIME_WAIT.
    Tcp,
    /// UDP, ICMP and the rest: only stray packets to wait out.
    Other,
}

impl QuarantineClass {
    /// The class for an IP protocol number.
    #[inline]
    pub fn for_proto(proto: u8) -> QuarantineClass {
        if proto == crate::tier2::flow_state::PROTO_TCP {
            QuarantineClass::Tcp
        } else {
            QuarantineClass::Other
        }
    }

    #[inline]
    fn index(self) -> usize {
        match self {
            QuarantineClass::Tcp => 0,
            QuarantineClass::Other => 1,
        }
    }
}

/// Quarantine durations in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quarantine {
    pub tcp_ms: u64,
    pub other_ms: u64,
}

impl Default for Quarantine {
    fn default() -> Self {
        Quarantine {
            tcp_ms: 60_000,
            other_ms: 1_000,
        }
    }
}

/// A port range or core layout that cannot work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortRangeError {
    /// `lo` is 0 or above `hi`.
    BadRange { lo: u16, hi: u16 },
    /// No cores, or the core index is not below the core count.
    BadCore { core_index: u16, n_cores: u16 },
}

impl fmt::Display for PortRangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PortRangeError::BadRange { lo, hi } => {
                write!(f, "gateway port range {lo}..={hi} is empty or starts at 0")
            }
            PortRangeError::BadCore {
                core_index,
                n_cores,
            } => write!(
                f,
                "core index {core_index} is not below core count {n_cores}"
            ),
        }
    }
}

impl std::error::Error for PortRangeError {}

/// Fixed-capacity FIFO of ports; never allocates after construction.
#[derive(Debug)]
struct PortRing {
    buf: Box<[u16]>,
    head: usize,
    len: usize,
}

impl PortRing {
    fn with_capacity(capacity: usize) -> PortRing {
        PortRing {
            buf: vec![0; capacity].into_boxed_slice(),
            head: 0,
            len: 0,
        }
    }

    #[inline]
    fn len(&self) -> usize {
        self.len
    }

    /// False (and nothing stored) when full.
    #[inline]
    fn push_back(&mut self, port: u16) -> bool {
        let cap = self.buf.len();
        if self.len == cap {
            return false;
        }
        let mut tail = self.head + self.len;
        if tail >= cap {
            tail -= cap;
        }
        self.buf[tail] = port;
        self.len += 1;
        true
    }

    #[inline]
    fn front(&self) -> Option<u16> {
        if self.len == 0 {
            None
        } else {
            Some(self.buf[self.head])
        }
    }

    #[inline]
    fn pop_front(&mut self) -> Option<u16> {
        let port = self.front()?;
        self.head += 1;
        if self.head == self.buf.len() {
            self.head = 0;
        }
        self.len -= 1;
        Some(port)
    }
}

/// Where one owned port is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PortState {
    Free,
    InUse,
    Quarantined,
}

/// Counters of one port pool.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortPoolStats {
    /// Ports of this address owned by this core.
    pub capacity: u32,
    /// Ready to hand out now.
    pub free: u32,
    /// Released, waiting out their quarantine.
    pub quarantined: u32,
    /// Handed out and not released.
    pub in_use: u32,
    /// Releases ignored because the port was not owned or not in use.
    pub rejected_releases: u64,
}

/// The ports of one gateway address owned by one core.
///
/// The owned ports are `lo + core_index + k * n_cores` for `k = 0, 1, ...`
/// up to `hi`; `k` is the port's slot in the per-port arrays.
#[derive(Debug)]
pub struct PortPool {
    lo: u16,
    core_index: u16,
    n_cores: u16,
    free: PortRing,
    /// One FIFO per `QuarantineClass`, each ordered by ready time.
    quarantine: [PortRing; 2],
    quarantine_ms: [u64; 2],
    /// Per slot: when a quarantined port may be handed out again.
    ready_ms: Box<[u64]>,
    state: Box<[PortState]>,
    in_use: u32,
    rejected_releases: u64,
}

impl PortPool {
    /// All ports of `[lo, hi]` owned by `core_index` of `n_cores`, all free,
    /// handed out in ascending order at first.
    pub fn new(
        lo: u16,
        hi: u16,
        core_index: u16,
        n_cores: u16,
        quarantine: Quarantine,
    ) -> Result<PortPool, PortRangeError> {
        if lo == 0 || lo > hi {
            return Err(PortRangeError::BadRange { lo, hi });
        }
        if n_cores == 0 || core_index >= n_cores {
            return Err(PortRangeError::BadCore {
                core_index,
                n_cores,
            });
        }
        let span = usize::from(hi - lo);
        let (core, step) = (usize::from(core_index), usize::from(n_cores));
        let capacity = if core > span {
            0
        } else {
            (span - core) / step + 1
        };
        let mut free = PortRing::with_capacity(capacity);
        for slot in 0..capacity {
            // In range by construction: lo + core + slot * step <= hi.
            let port = lo as usize + core + slot * step;
            free.push_back(port as u16);
        }
        Ok(PortPool {
            lo,
            core_index,
            n_cores,
            free,
            quarantine: [
                PortRing::with_capacity(capacity),
                PortRing::with_capacity(capacity),
            ],
            quarantine_ms: [quarantine.tcp_ms, quarantine.other_ms],
            ready_ms: vec![0; capacity].into_boxed_slice(),
            state: vec![PortState::Free; capacity].into_boxed_slice(),
            in_use: 0,
            rejected_releases: 0,
        })
    }

    /// The slot of `port` if this pool owns it.
    #[inline]
    fn slot_of(&self, port: u16) -> Option<usize> {
        let offset = port.checked_sub(self.lo)?;
        if offset % self.n_cores != self.core_index {
            return None;
        }
        let slot = usize::from(offset / self.n_cores);
        (slot < self.state.len()).then_some(slot)
    }

    /// The state cells `release` of `port` will write (to prefetch).
    #[inline]
    pub fn release_memory(&self, port: u16) -> Option<(&impl Sized, &impl Sized)> {
        let slot = self.slot_of(port)?;
        Some((&self.state[slot], &self.ready_ms[slot]))
    }

    /// Hands out a free port, first moving a few ports whose quarantine has
    /// ended back to the free list. `None` when no port is free or ripe.
    #[inline]
    pub fn alloc(&mut self, now_ms: u64) -> Option<u16> {
        self.reclaim(now_ms, RIPEN_PER_ALLOC);
        let port = self.free.pop_front()?;
        if let Some(slot) = self.slot_of(port) {
            debug_assert_eq!(
                self.state[slot],
                PortState::Free,
                "port {port} handed out twice"
            );
            self.state[slot] = PortState::InUse;
        }
        self.in_use += 1;
        Some(port)
    }

    /// Puts a port back, into the quarantine of `class`. Returns false, and
    /// counts a rejected release, when this pool does not own the port or it
    /// is not in use (double release): nothing else changes then.
    #[inline]
    pub fn release(&mut self, port: u16, class: QuarantineClass, now_ms: u64) -> bool {
        let Some(slot) = self.slot_of(port) else {
            self.rejected_releases += 1;
            return false;
        };
        if self.state[slot] != PortState::InUse {
            self.rejected_releases += 1;
            return false;
        }
        let q = class.index();
        // Cannot be full: it has room for every owned port.
        if !self.quarantine[q].push_back(port) {
            debug_assert!(false, "quarantine ring full");
            self.rejected_releases += 1;
            return false;
        }
        self.ready_ms[slot] = now_ms.saturating_add(self.quarantine_ms[q]);
        self.state[slot] = PortState::Quarantined;
        self.in_use -= 1;
        true
    }

    /// Puts back a port that never carried traffic (the packet it was taken
    /// for was refused, e.g. the table was full): straight to the free
    /// list, no quarantine, since no peer can hold state for it. Same
    /// refusals as [`release`](Self::release).
    #[inline]
    pub fn unalloc(&mut self, port: u16) -> bool {
        let Some(slot) = self.slot_of(port) else {
            self.rejected_releases += 1;
            return false;
        };
        if self.state[slot] != PortState::InUse || !self.free.push_back(port) {
            self.rejected_releases += 1;
            return false;
        }
        self.state[slot] = PortState::Free;
        self.in_use -= 1;
        true
    }

    /// Moves up to `max` ports whose quarantine ended by `now_ms` to the free
    /// list, earliest first. Returns how many moved. Looks only at the heads
    /// of the quarantine FIFOs.
    #[inline]
    pub fn reclaim(&mut self, now_ms: u64, max: usize) -> usize {
        let mut moved = 0;
        while moved < max {
            let ripe_tcp = self.ripe_head(0, now_ms);
            let ripe_other = self.ripe_head(1, now_ms);
            let q = match (ripe_tcp, ripe_other) {
                (Some(a), Some(b)) => usize::from(b < a),
                (Some(_), None) => 0,
                (None, Some(_)) => 1,
                (None, None) => break,
            };
            let Some(port) = self.quarantine[q].pop_front() else {
                break;
            };
            if let Some(slot) = self.slot_of(port) {
                self.state[slot] = PortState::Free;
            }
            self.free.push_back(port);
            moved += 1;
        }
        moved
    }

    /// Ready time of the head of quarantine `q` if it has passed.
    #[inline]
    fn ripe_head(&self, q: usize, now_ms: u64) -> Option<u64> {
        let port = self.quarantine[q].front()?;
        let ready = self.ready_ms[self.slot_of(port)?];
        (ready <= now_ms).then_some(ready)
    }

    /// Whether `port` is owned by this pool and currently handed out.
    pub fn is_in_use(&self, port: u16) -> bool {
        self.slot_of(port)
            .is_some_and(|slot| self.state[slot] == PortState::InUse)
    }

    pub fn capacity(&self) -> u32 {
        self.state.len() as u32
    }

    pub fn free(&self) -> u32 {
        self.free.len() as u32
    }

    pub fn quarantined(&self) -> u32 {
        (self.quarantine[0].len() + self.quarantine[1].len()) as u32
    }

    pub fn in_use(&self) -> u32 {
        self.in_use
    }

    pub fn rejected_releases(&self) -> u64 {
        self.rejected_releases
    }

    pub fn stats(&self) -> PortPoolStats {
        PortPoolStats {
            capacity: self.capacity(),
            free: self.free(),
            quarantined: self.quarantined(),
            in_use: self.in_use,
            rejected_releases: self.rejected_releases,
        }
    }
}

/// A free port of `pools` (address indexes from `first`), trying the
/// pool at `cursor` first and leaving the cursor after the one that gave.
#[inline]
fn alloc_among(
    pools: &mut [PortPool],
    first: usize,
    cursor: &mut usize,
    now_ms: u64,
) -> Option<(u8, u16)> {
    let n = pools.len();
    for step in 0..n {
        let mut addr = *cursor + step;
        while addr >= n {
            addr -= n;
        }
        if let Some(port) = pools[addr].alloc(now_ms) {
            *cursor = if addr + 1 == n { 0 } else { addr + 1 };
            // At most u8::MAX + 1 pools in all: indexes fit u8.
            return Some(((first + addr) as u8, port));
        }
    }
    None
}

/// The ports of every gateway address owned by one core.
#[derive(Debug)]
pub struct PortAllocator {
    pools: Vec<PortPool>,
    /// Address to try first on the next `alloc` (round robin).
    next_addr: usize,
    /// Addresses `0..ipv4` are IPv4 gateway addresses (`alloc`), the rest
    /// IPv6 ones (`alloc_v6`, IPv6 → IPv6 user sessions).
    ipv4: usize,
    /// Address to try first on the next `alloc_v6`.
    next_addr_v6: usize,
    /// Releases naming an address index that does not exist.
    rejected_releases: u64,
}

impl PortAllocator {
    /// An upper bound of the bytes [`new`](Self::new) allocates for
    /// `n_addrs` addresses (one core owning every port of each).
    pub fn preallocated_bytes(n_addrs: u8) -> u64 {
        let per_port = 3 * std::mem::size_of::<u16>()
            + std::mem::size_of::<u64>()
            + std::mem::size_of::<PortState>();
        u64::from(n_addrs) * 65_536 * per_port as u64
    }

    /// Pools for gateway addresses `0..n_addrs`, each over `[lo, hi]`, for
    /// core `core_index` of `n_cores`.
    pub fn new(
        n_addrs: u8,
        lo: u16,
        hi: u16,
        core_index: u16,
        n_cores: u16,
        quarantine: Quarantine,
    ) -> Result<PortAllocator, PortRangeError> {
        let pools = (0..n_addrs)
            .map(|_| PortPool::new(lo, hi, core_index, n_cores, quarantine))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PortAllocator {
            ipv4: pools.len(),
            pools,
            next_addr: 0,
            next_addr_v6: 0,
            rejected_releases: 0,
        })
    }

    /// Makes addresses `ipv4..` IPv6 gateway addresses: `alloc` takes
    /// only the first `ipv4`, `alloc_v6` only the rest.
    pub fn split_ipv6(&mut self, ipv4: usize) {
        self.ipv4 = ipv4.min(self.pools.len());
    }

    /// A free (address index, port) of an IPv4 gateway address, taking
    /// addresses in turn and skipping exhausted ones. `None` only when
    /// every such address is exhausted.
    #[inline]
    pub fn alloc(&mut self, now_ms: u64) -> Option<(u8, u16)> {
        let mut cursor = self.next_addr;
        let got = alloc_among(&mut self.pools[..self.ipv4], 0, &mut cursor, now_ms);
        self.next_addr = cursor;
        got
    }

    /// The same among the IPv6 gateway addresses (indexes after the IPv4
    /// ones).
    pub fn alloc_v6(&mut self, now_ms: u64) -> Option<(u8, u16)> {
        let mut cursor = self.next_addr_v6;
        let first = self.ipv4;
        let got = alloc_among(&mut self.pools[first..], first, &mut cursor, now_ms);
        self.next_addr_v6 = cursor;
        got
    }

    /// The memory `release(addr, port, ..)` will write (to prefetch).
    #[inline]
    pub fn release_memory(&self, addr: u8, port: u16) -> Option<(&impl Sized, &impl Sized)> {
        self.pools.get(usize::from(addr))?.release_memory(port)
    }

    /// Puts a port back; false (counted, no other effect) for an unknown
    /// address, a port this core does not own, or a port not in use.
    #[inline]
    pub fn release(&mut self, addr: u8, port: u16, class: QuarantineClass, now_ms: u64) -> bool {
        match self.pools.get_mut(usize::from(addr)) {
            Some(pool) => pool.release(port, class, now_ms),
            None => {
                self.rejected_releases += 1;
                false
            }
        }
    }

    /// [`PortPool::unalloc`] on address `addr`: a port that never carried
    /// traffic goes straight back to the free list.
    #[inline]
    pub fn unalloc(&mut self, addr: u8, port: u16) -> bool {
        match self.pools.get_mut(usize::from(addr)) {
            Some(pool) => pool.unalloc(port),
            None => {
                self.rejected_releases += 1;
                false
            }
        }
    }

    /// Moves ripe quarantined ports back to the free lists, up to `max` per
    /// address (bounded timer work). Returns how many moved.
    pub fn reclaim(&mut self, now_ms: u64, max_per_addr: usize) -> usize {
        self.pools
            .iter_mut()
            .map(|pool| pool.reclaim(now_ms, max_per_addr))
            .sum()
    }

    pub fn n_addrs(&self) -> u8 {
        self.pools.len() as u8
    }

    pub fn pool(&self, addr: u8) -> Option<&PortPool> {
        self.pools.get(usize::from(addr))
    }

    /// Counters of one address.
    pub fn stats(&self, addr: u8) -> Option<PortPoolStats> {
        self.pool(addr).map(PortPool::stats)
    }

    /// Releases naming an address index that does not exist (the per-pool
    /// counters hold the other rejected releases).
    pub fn rejected_releases(&self) -> u64 {
        self.rejected_releases
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: Quarantine = Quarantine {
        tcp_ms: 1000,
        other_ms: 100,
    };

    #[test]
    fn owner_core_deals_ports_round_robin() {
        assert_eq!(owner_core(1024, 1024, 4), 0);
        assert_eq!(owner_core(1025, 1024, 4), 1);
        assert_eq!(owner_core(1031, 1024, 4), 3);
        assert_eq!(owner_core(65535, 1024, 1), 0);
        assert_eq!(owner_core(5000, 1024, 0), 0);
        assert_eq!(try_owner_core(1023, 1024, 2000, 4), None);
        assert_eq!(try_owner_core(2001, 1024, 2000, 4), None);
        assert_eq!(try_owner_core(1030, 1024, 2000, 4), Some(2));
    }

    #[test]
    fn an_unused_port_skips_quarantine() {
        let mut pool = PortPool::new(1000, 1001, 0, 1, Q).unwrap();
        let a = pool.alloc(0).unwrap();
        let b = pool.alloc(0).unwrap();
        assert_eq!(pool.alloc(0), None);
        assert!(pool.unalloc(a));
        assert_eq!(pool.stats().quarantined, 0);
        assert_eq!(pool.stats().in_use, 1);
        // Reusable at once, not after the TCP quarantine.
        assert_eq!(pool.alloc(1), Some(a));
        // Not in use any more: refused like a double release.
        assert!(pool.release(b, QuarantineClass::Tcp, 1));
        assert!(!pool.unalloc(b));
        assert!(!pool.unalloc(999));
        assert_eq!(pool.rejected_releases(), 2);
    }

    #[test]
    fn pool_owns_exactly_its_share() {
        let mut total = 0;
        for core in 0..3 {
            let mut pool = PortPool::new(1000, 1009, core, 3, Q).unwrap();
            let mut ports = Vec::new();
            while let Some(p) = pool.alloc(0) {
                assert_eq!(owner_core(p, 1000, 3), core);
                ports.push(p);
            }
            assert_eq!(ports.len() as u32, pool.capacity());
            total += ports.len();
        }
        // 1000..=1009: core 0 gets 1000,1003,1006,1009; the others 3 each.
        assert_eq!(total, 10);
        let pool = PortPool::new(1000, 1009, 0, 3, Q).unwrap();
        assert_eq!(pool.capacity(), 4);
        // More cores than ports: the extra cores own nothing.
        let mut empty = PortPool::new(1000, 1001, 5, 8, Q).unwrap();
        assert_eq!(empty.capacity(), 0);
        assert_eq!(empty.alloc(0), None);
    }

    #[test]
    fn bad_config_is_an_error() {
        assert!(PortPool::new(0, 10, 0, 1, Q).is_err());
        assert!(PortPool::new(20, 10, 0, 1, Q).is_err());
        assert!(PortPool::new(10, 20, 2, 2, Q).is_err());
        assert!(PortAllocator::new(2, 10, 20, 0, 0, Q).is_err());
        // Full range works.
        let pool = PortPool::new(DEFAULT_PORT_LO, DEFAULT_PORT_HI, 0, 1, Q).unwrap();
        assert_eq!(pool.capacity(), 64512);
    }

    #[test]
    fn released_port_waits_its_quarantine() {
        let mut pool = PortPool::new(2000, 2001, 0, 1, Q).unwrap();
        let a = pool.alloc(0).unwrap();
        let b = pool.alloc(0).unwrap();
        assert_eq!(pool.alloc(0), None);
        assert!(pool.release(a, QuarantineClass::Tcp, 10));
        assert!(pool.release(b, QuarantineClass::Other, 20));
        assert_eq!(pool.quarantined(), 2);
        // Other quarantine (100 ms) ends first even though released later.
        assert_eq!(pool.alloc(119), None);
        assert_eq!(pool.alloc(120), Some(b));
        assert_eq!(pool.alloc(1009), None);
        assert_eq!(pool.alloc(1010), Some(a));
        assert_eq!(pool.in_use(), 2);
    }

    #[test]
    fn bad_releases_are_counted_no_ops() {
        let mut pool = PortPool::new(3000, 3009, 1, 2, Q).unwrap();
        let p = pool.alloc(0).unwrap();
        assert_eq!(p, 3001);
        let before = pool.stats();
        assert!(!pool.release(3000, QuarantineClass::Tcp, 0)); // other core's
        assert!(!pool.release(2999, QuarantineClass::Tcp, 0)); // below range
        assert!(!pool.release(3011, QuarantineClass::Tcp, 0)); // above range
        assert!(!pool.release(3003, QuarantineClass::Tcp, 0)); // free, not in use
        let after = pool.stats();
        assert_eq!(after.rejected_releases, 4);
        assert_eq!(
            (after.free, after.in_use, after.quarantined),
            (before.free, before.in_use, 0)
        );
        assert!(pool.release(p, QuarantineClass::Tcp, 0));
        assert!(!pool.release(p, QuarantineClass::Tcp, 0)); // double release
        assert_eq!(pool.rejected_releases(), 5);
        assert_eq!(pool.quarantined(), 1);
    }

    #[test]
    fn allocator_round_robins_and_skips_exhausted_addresses() {
        let mut alloc = PortAllocator::new(3, 4000, 4001, 0, 1, Q).unwrap();
        let got: Vec<_> = (0..6).map(|_| alloc.alloc(0).unwrap()).collect();
        assert_eq!(
            got,
            vec![
                (0, 4000),
                (1, 4000),
                (2, 4000),
                (0, 4001),
                (1, 4001),
                (2, 4001)
            ]
        );
        assert_eq!(alloc.alloc(0), None);
        // Free one port on address 1: only that one comes back.
        assert!(alloc.release(1, 4000, QuarantineClass::Other, 0));
        assert_eq!(alloc.alloc(50), None);
        assert_eq!(alloc.alloc(100), Some((1, 4000)));
        assert_eq!(alloc.alloc(100), None);
        assert!(!alloc.release(3, 4000, QuarantineClass::Other, 0));
        assert_eq!(alloc.rejected_releases(), 1);
        assert_eq!(alloc.stats(1).unwrap().in_use, 2);
        assert_eq!(alloc.stats(3), None);
    }

    #[test]
    fn exhaustion_recovers_after_quarantine() {
        let mut alloc = PortAllocator::new(1, 5000, 5099, 0, 1, Q).unwrap();
        let mut held = Vec::new();
        while let Some(p) = alloc.alloc(0) {
            held.push(p);
        }
        assert_eq!(held.len(), 100);
        for &(a, p) in &held {
            assert!(alloc.release(a, p, QuarantineClass::Tcp, 5));
        }
        assert_eq!(alloc.alloc(1004), None);
        let again: Vec<_> = (0..100).map_while(|_| alloc.alloc(1005)).collect();
        assert_eq!(again.len(), 100);
        let s = alloc.stats(0).unwrap();
        assert_eq!((s.free, s.quarantined, s.in_use), (0, 0, 100));
    }

    #[test]
    fn reclaim_moves_only_ripe_ports_and_respects_max() {
        let mut pool = PortPool::new(6000, 6009, 0, 1, Q).unwrap();
        let ports: Vec<_> = (0..10).map(|_| pool.alloc(0).unwrap()).collect();
        for (i, &p) in ports.iter().enumerate() {
            assert!(pool.release(p, QuarantineClass::Other, i as u64 * 10));
        }
        // Ready at 100, 110, ..., 190.
        assert_eq!(pool.reclaim(145, 100), 5);
        assert_eq!(pool.reclaim(1000, 2), 2);
        assert_eq!(pool.reclaim(1000, usize::MAX), 3);
        assert_eq!(pool.free(), pool.capacity());
    }

    #[test]
    fn ipv4_and_ipv6_gateway_addresses_are_dealt_apart() {
        let mut a = PortAllocator::new(3, 7000, 7001, 0, 1, Q).unwrap();
        a.split_ipv6(1);
        // IPv4: only address 0, until its two ports are gone.
        assert_eq!(a.alloc(0).map(|x| x.0), Some(0));
        assert_eq!(a.alloc(0).map(|x| x.0), Some(0));
        assert_eq!(a.alloc(0), None);
        // IPv6: addresses 1 and 2 in turn.
        let six: Vec<u8> = (0..4).filter_map(|_| a.alloc_v6(0)).map(|x| x.0).collect();
        assert_eq!(six, vec![1, 2, 1, 2]);
        assert_eq!(a.alloc_v6(0), None);
        // Without IPv6 addresses `alloc_v6` has nothing to give.
        let mut b = PortAllocator::new(1, 7000, 7001, 0, 1, Q).unwrap();
        assert_eq!(b.alloc_v6(0), None);
        assert!(b.alloc(0).is_some());
    }
}
